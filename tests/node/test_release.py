"""The chart's own pods on a real kubelet: one release (helm install through pyhelm3, the cpu-tiny profile's shape)
with the tiny model on both engines and the gateway in front, in a namespace that Pod Security admission holds to
"restricted". The real KubeRay operator makes the RayCluster, head and worker start from this project's serving
image, the Serve application comes up; the vLLM Deployment's pod is Ready only once the model answers; requests
reach both through their Services (ClusterIPs served by kube-proxy) and through the gateway, from this host."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from clusterkit import install, restricted_namespace
from nodekit import model_volume, node_values, service_url
from servingkit import get, post

pytestmark = [pytest.mark.node, pytest.mark.slow]
NS, RELEASE, KEY = "llm", "llm", "sk-node-0123456789"
RAY_MODEL, VLLM_MODEL = "tiny-ray", "tiny-vllm"
RAY_SERVICE, VLLM_SERVICE = f"{RELEASE}-llm-stack-{RAY_MODEL}", f"{RELEASE}-llm-stack-{VLLM_MODEL}"


def values() -> dict:
    source = "pvc://tiny-model/"
    return node_values([
        # autoscaling bounds 1..2: the KubeRay autoscaler sidecar runs, with the API token only it gets
        {"name": RAY_MODEL, "source": source, "engine": "ray",
         "autoscaling": {"minReplicas": 1, "maxReplicas": 2, "targetOngoingRequests": 16, "maxOngoingRequests": 32,
                         "scaleDownStabilizationSeconds": 600}},
        {"name": VLLM_MODEL, "source": source, "engine": "vllm"}],
        gateway={"enabled": True, "keys": {"existingSecret": "gateway-keys"}, "autoscaling": {"enabled": False},
                 "replicaCount": 1, "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                                                  "limits": {"memory": "512Mi"}},
                 "nodeSelector": {"llm-stack.io/real-node": "true"},
                 "tolerations": [{"key": "llm-stack.io/real-node", "operator": "Equal", "value": "true",
                                  "effect": "NoSchedule"}]})


def ray_ready(cluster) -> bool:
    rs = json.loads(cluster.kubectl("get", "rayservice", RAY_SERVICE, "-n", NS, "-o", "json", check=False) or "{}")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in rs.get("status", {}).get("conditions", []))


@pytest.fixture(scope="module")
def release(cluster, node, tiny_model, kube_cluster):
    """The release installed and serving; prints how long each part of the cold start took."""
    from llm_gateway.keys import hash_key

    restricted_namespace(cluster, NS)
    model_volume(cluster, NS, "tiny-model", tiny_model)
    cluster.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gateway-keys", "namespace": NS},
                    "stringData": {"keys.yaml": json.dumps({"keys": [{"id": "node-test", "sha256": hash_key(KEY)}]})}}])
    t0 = time.monotonic()
    assert install(cluster, RELEASE, NS, values()) == 1
    wait_for_deployments_to_run(kube_cluster.kube_client, [VLLM_SERVICE, f"{RELEASE}-gateway"], NS, 600)
    vllm_ready = time.monotonic() - t0
    cluster.wait(lambda: ray_ready(cluster), 900, f"RayService {RAY_SERVICE} Ready (the Serve app RUNNING)",
                 interval=5)
    print(f"cold start from a present image: vLLM Deployment and gateway available {vllm_ready:.0f} s, "
          f"RayService ready {time.monotonic() - t0:.0f} s after helm install")
    return {name: service_url(cluster, NS, svc) for name, svc in
            ((RAY_MODEL, RAY_SERVICE), (VLLM_MODEL, VLLM_SERVICE), ("gateway", f"{RELEASE}-gateway"))}


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def chat(url: str, model: str, key: str | None = None, stream: bool = False, max_tokens: int = 8):
    host, port = host_port(url)
    conn = http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    conn.request("POST", "/v1/chat/completions", headers=headers, body=json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": max_tokens,
         "ignore_eos": True, "stream": stream}))
    return conn.getresponse()


@pytest.mark.parametrize("model", [RAY_MODEL, VLLM_MODEL])
def test_each_engine_answers_through_its_service(release, model):
    host, port = host_port(release[model])
    status, body = get(port, "/v1/models", host=host)
    assert status == 200 and model in body.decode(), body
    status, answer = post(port, "/v1/chat/completions", {"model": model, "max_tokens": 6, "ignore_eos": True,
                                                         "messages": [{"role": "user", "content": "hi"}]}, host=host)
    assert status == 200 and answer["usage"]["completion_tokens"] == 6, answer


@pytest.mark.parametrize("model", [RAY_MODEL, VLLM_MODEL])
def test_each_engine_streams_chunk_by_chunk(release, model):
    resp = chat(release[model], model, stream=True, max_tokens=64)
    assert resp.status == 200
    events = 0
    while line := resp.readline():
        events += line.startswith(b"data: {")
    assert events >= 32, f"{events} events for 64 tokens: not streamed token by token"


def test_the_gateway_routes_both_models_by_name_and_refuses_a_missing_key(release):
    for model in (RAY_MODEL, VLLM_MODEL):
        resp = chat(release["gateway"], model, key=KEY)
        body = json.loads(resp.read())
        assert resp.status == 200 and body["usage"]["completion_tokens"] == 8, body
        assert resp.getheader("x-llm-backend")
    resp = chat(release["gateway"], VLLM_MODEL)
    assert resp.status == 401 and json.loads(resp.read())["error"]["code"] == "invalid_api_key"
