"""How models are reached: the Ingress (ingress.yaml), the HTTPRoute (httproute.yaml), the PodMonitor
(podmonitor.yaml), NOTES.txt."""

from __future__ import annotations

import pytest
import yaml

from chartkit import MULTI_MODEL_PER_HOST, PROFILE_IDS, by_kind, of_models, profile, render
from llmstack import helm
from llmstack.paths import PROFILES as PROFILE_DIR

pytestmark = pytest.mark.chart


def ingress_backends(ingress: dict) -> dict[str, str]:
    return {rule.get("host", ""): path["backend"]["service"]["name"]
            for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]}


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_the_ingress_routes_to_the_gateway_which_routes_every_model(name):
    objs = profile(name)
    (ingress,) = by_kind(objs, "Ingress")
    assert set(ingress_backends(ingress).values()) == {"llm-gateway"}
    assert [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]] == ["/"]
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if "gateway.yaml" in c.get("data", {})]
    routed = {b["url"].split("//")[1].split(".")[0] for r in yaml.safe_load(cm["data"]["gateway.yaml"])["routes"]
              for b in r["backends"]}
    services = {m["metadata"]["name"] for m in of_models(objs, "Service")} | {
        rs["spec"]["serveService"]["metadata"]["name"] for rs in by_kind(objs, "RayService")}
    assert routed == services
    assert ingress["spec"]["ingressClassName"] == "nginx"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600


def test_without_the_gateway_each_model_gets_its_host_and_only_its_openai_routes():
    (ingress,) = by_kind(render(PROFILE_DIR / "multi-model.yaml", extra=MULTI_MODEL_PER_HOST), "Ingress")
    assert set(ingress_backends(ingress)) == {"qwen.llm.example.com", "llama.llm.example.com"}
    for rule in ingress["spec"]["rules"]:
        assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [
            ("/v1/chat/completions", "Exact"), ("/v1/completions", "Exact"), ("/v1/embeddings", "Exact"),
            ("/v1/models", "Exact")]


def test_exposing_models_without_the_gateway_takes_a_key_or_an_explicit_yes():
    with pytest.raises(helm.HelmError, match="ingress.enabled: it would expose the models' API without any key"):
        render(PROFILE_DIR / "l4-8b.yaml", extra=("gateway.enabled=false",))
    objs = render(PROFILE_DIR / "l4-8b.yaml", extra=("gateway.enabled=false", "credentials.engineApiKey."
                                                      "existingSecret=engine-key"))
    (deploy,) = of_models(objs, "Deployment")
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "engine-key", "key": "api-key"}
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"  # /v1 now wants the key
    with pytest.raises(helm.HelmError, match=r"models\[0\].engine: ray cannot enforce credentials.engineApiKey"):
        render(PROFILE_DIR / "cpu-tiny.yaml", extra=("gateway.enabled=false", "credentials.engineApiKey."
                                                     "existingSecret=engine-key"))


def test_an_enabled_httproute_renders_whatever_api_versions_are_given():
    """Users preview with `--api-versions gateway.networking.k8s.io/v1` (a group/version, not a kind), or with
    none at all (Terraform, catalogs): enabled means rendered."""
    extra = ("httpRoute.enabled=true", "httpRoute.parentRefs[0].name=public")
    for with_crds in (True, False):
        objs = render(PROFILE_DIR / "multi-model.yaml", with_crds=with_crds, extra=(*extra, *MULTI_MODEL_PER_HOST))
        routes = by_kind(objs, "HTTPRoute")
        assert {r["spec"]["hostnames"][0] for r in routes} == {"qwen.llm.example.com", "llama.llm.example.com"}
        assert all(r["spec"]["rules"][0]["timeouts"]["request"] == "0s" for r in routes)
        assert all(m["path"]["type"] == "Exact" for r in routes for m in r["spec"]["rules"][0]["matches"])
    (route,) = by_kind(render(PROFILE_DIR / "multi-model.yaml", extra=extra), "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "llm-gateway", "port": 8080}]
    text = helm.template([PROFILE_DIR / "multi-model.yaml"], set_values=extra,
                         api_versions=("gateway.networking.k8s.io/v1",))
    assert "kind: HTTPRoute" in text


def test_podmonitor_renders_only_where_prometheus_operator_is_served():
    assert by_kind(profile("cpu-tiny"), "PodMonitor")
    assert not by_kind(render(PROFILE_DIR / "cpu-tiny.yaml", with_crds=False), "PodMonitor")


def test_notes_tell_how_to_reach_and_check_every_model():
    import subprocess

    from llmstack.paths import STACK_CHART, helm_binary

    proc = subprocess.run([helm_binary(), "install", "llm", str(STACK_CHART), "-n", "llm", "--dry-run=client",
                           "-f", str(PROFILE_DIR / "multi-model.yaml")],
                          capture_output=True, text=True, env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin"})
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n llm get rayservice llm-llm-stack-qwen2-5-7b-instruct" in notes
    assert "kubectl -n llm rollout status deployment/llm-llm-stack-llama-3-1-8b-instruct" in notes
    assert "http://llm.example.com/v1/  ->  llm-gateway" in notes
