"""The llm-gateway chart alone and as llm-stack's subchart: valid objects, restricted pods, and a config
the real gateway accepts, with a route to every model."""

from __future__ import annotations

import pytest
import yaml

from chartkit import KUBE_VERSIONS, by_kind, render
from llmstack import helm, manifests
from llmstack.check import check_manifests
from llmstack.paths import GATEWAY_CHART
from llmstack.paths import PROFILES as PROFILE_DIR
from llmstack.policy import scan

pytestmark = pytest.mark.chart

STANDALONE = ("keys.existingSecret=gw-keys", "config.routes[0].model=m",
              "config.routes[0].backends[0].url=http://m:8000", "config.routes[0].backends[0].weight=90",
              "config.routes[0].backends[1].url=http://m-canary:8000", "config.routes[0].backends[1].weight=10")


def standalone(*extra: str, kube_version: str = "1.35.0") -> list[dict]:
    return manifests.parse(helm.template(chart=GATEWAY_CHART, set_values=STANDALONE + extra,
                                         kube_version=kube_version, api_versions=helm.OPTIONAL_API_VERSIONS))


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_standalone_chart_validates(kube_version, crds):
    report = check_manifests(standalone(kube_version=kube_version), kube_version, crds)
    assert report.ok, "\n".join(report.problems)


def test_standalone_config_is_accepted_by_the_gateway():
    from llm_gateway.config import parse

    (cm,) = by_kind(standalone(), "ConfigMap")
    config = parse(yaml.safe_load(cm["data"]["gateway.yaml"]))
    assert [b.weight for b in config.routes["m"].backends] == [90, 10]
    assert str(config.keys_file) == "/etc/llm-gateway/keys/keys.yaml"


def test_gateway_pods_are_restricted_and_read_only():
    (deploy,) = by_kind(standalone(), "Deployment")
    spec = deploy["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["automountServiceAccountToken"] is False
    keys = next(v for v in spec["volumes"] if v["name"] == "keys")
    assert keys["secret"]["secretName"] == "gw-keys"
    assert "replicas" not in deploy["spec"]  # the CPU HPA owns replicas


def test_standalone_chart_passes_the_policy_scan():
    objs = standalone()
    report = scan(objs)
    assert report.failed == [], "\n".join(report.failed)


def test_llm_stack_writes_a_gateway_config_with_a_route_to_every_model(crds):
    from llm_gateway.config import parse

    objs = list(render(PROFILE_DIR / "multi-model.yaml",
                       extra=("gateway.enabled=true", "gateway.keys.existingSecret=gw-keys",
                              "gateway.config.routes[0].model=canary",
                              "gateway.config.routes[0].backends[0].url=http://x:8000")))
    cm = next(c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"] == "llm-gateway-config")
    config = parse(yaml.safe_load(cm["data"]["gateway.yaml"]))
    assert set(config.routes) == {"qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "canary"}
    assert config.routes["qwen2.5-7b-instruct"].backends[0].url == "http://llm-llm-stack-qwen2-5-7b-instruct.llm.svc:8000"
    deploy = next(d for d in by_kind(objs, "Deployment") if d["metadata"]["name"] == "llm-gateway")
    volume = next(v for v in deploy["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == "llm-gateway-config"
    assert check_manifests(objs, "1.35.0", crds).ok


def test_enabling_the_gateway_without_keys_fails_with_the_fix():
    with pytest.raises(helm.HelmError, match="gateway.keys.existingSecret: required"):
        helm.template([PROFILE_DIR / "cpu-tiny.yaml"], set_values=["gateway.keys.existingSecret="])


def test_redis_credentials_come_from_a_secret_never_the_configmap():
    base = ["keys.existingSecret=k", "config.routes[0].model=m", "config.routes[0].backends[0].url=http://m:8000"]
    with pytest.raises(helm.HelmError, match="config.redisUrl: holds credentials"):
        helm.template(chart=GATEWAY_CHART, set_values=[*base, "config.redisUrl=redis://:hunter2@redis:6379/0"])
    objs = manifests.parse(helm.template(chart=GATEWAY_CHART, set_values=[*base, "redis.existingSecret=redis-url"]))
    (deploy,) = [o for o in objs if o["kind"] == "Deployment"]
    env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LLM_GATEWAY_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis-url", "key": "redis-url"}
    assert "hunter2" not in yaml.safe_dump(objs)


def test_the_gateway_pod_can_read_its_keys():
    """fsGroup makes the kubelet mount the Secret group-owned by the pod's group; 0440 lets that group read."""
    objs = manifests.parse(helm.template(chart=GATEWAY_CHART, set_values=[
        "keys.existingSecret=k", "config.routes[0].model=m", "config.routes[0].backends[0].url=http://m:8000"]))
    (deploy,) = [o for o in objs if o["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert next(v for v in pod["volumes"] if v["name"] == "keys")["secret"]["defaultMode"] == 0o440
