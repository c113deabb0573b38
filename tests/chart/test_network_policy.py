"""The rendered NetworkPolicies against a connection matrix: who may reach which pod on which port (the
bridge CNI of the real-node tier does not enforce policies, so their semantics are evaluated here)."""

from __future__ import annotations

import pytest

from chartkit import MULTI_MODEL_PER_HOST, PROFILE_IDS, by_kind, profile, render, worker_group
from llmstack.paths import PROFILES
from netpol import Address, Pod, allowed

pytestmark = pytest.mark.chart
NS = "llm"
GATEWAY = ("gateway.enabled=true", "gateway.keys.existingSecret=keys")


def pods(objs) -> dict[str, Pod]:
    """The release's pods as their templates label them (KubeRay adds ray.io/node-type)."""
    out = {}
    for rs in by_kind(objs, "RayService"):
        model = rs["metadata"]["labels"]["llm-stack.io/model"]
        cluster = rs["spec"]["rayClusterConfig"]
        out[f"{model}/head"] = Pod(NS, {**cluster["headGroupSpec"]["template"]["metadata"]["labels"],
                                        "ray.io/node-type": "head"}, f"{model}/head")
        group = cluster["workerGroupSpecs"][0]
        out[f"{model}/worker"] = Pod(NS, {**group["template"]["metadata"]["labels"], "ray.io/node-type": "worker"},
                                     f"{model}/worker")
    for d in by_kind(objs, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        out[labels.get("llm-stack.io/model", "gateway")] = Pod(NS, labels, d["metadata"]["name"])
    return out


INGRESS_NGINX = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
TRAEFIK = Pod("traefik", {"app.kubernetes.io/name": "traefik"}, "traefik")
OPERATOR = Pod("kuberay-system", {"app.kubernetes.io/name": "kuberay-operator"}, "kuberay-operator")
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"}, "prometheus")
DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, "coredns")
# pods that wear a trusted peer's labels in a namespace anyone may create pods in
FAKE_CONTROLLER = Pod("team-a", {"app.kubernetes.io/name": "ingress-nginx"}, "fake-controller")
FAKE_OPERATOR = Pod("team-a", {"app.kubernetes.io/name": "kuberay-operator"}, "fake-operator")
NEIGHBOUR = Pod(NS, {"app": "notebook"}, "notebook")  # any other pod of the release's namespace
API_SERVER, HUB = Address("172.20.0.1", "api-server"), Address("18.164.174.0", "a model hub")


def test_ray_model_behind_the_gateway():
    objs = render(PROFILES / "cpu-tiny.yaml", extra=GATEWAY)
    policies = by_kind(objs, "NetworkPolicy")
    p = pods(objs)
    head, worker, gateway = p["smollm2-135m-instruct/head"], p["smollm2-135m-instruct/worker"], p["gateway"]
    matrix = [
        # the API: only through the gateway
        (INGRESS_NGINX, gateway, 8080, True), (TRAEFIK, gateway, 8080, True), (gateway, worker, 8000, True),
        (INGRESS_NGINX, worker, 8000, False), (NEIGHBOUR, worker, 8000, False), (FAKE_CONTROLLER, gateway, 8080, False),
        (FAKE_CONTROLLER, worker, 8000, False),
        # engine and Ray admin ports: never from the gateway, the neighbours or anyone wearing labels
        (gateway, head, 8265, False), (gateway, worker, 6379, False), (NEIGHBOUR, head, 8265, False),
        (NEIGHBOUR, head, 10001, False), (FAKE_OPERATOR, head, 8265, False),
        # the operator: the head's dashboard, nothing else
        (OPERATOR, head, 8265, True), (OPERATOR, head, 6379, False), (OPERATOR, worker, 8265, False),
        # Prometheus: metrics ports
        (PROMETHEUS, worker, 8080, True), (PROMETHEUS, head, 8080, True), (PROMETHEUS, head, 8265, False),
        # Ray among its own pods, on Ray's ports only
        (worker, head, 6379, True), (worker, head, 6380, True), (head, worker, 6381, True),
        (worker, head, 15000, True), (worker, head, 52365, True), (worker, head, 22, False),
        (worker, head, 9999, False), (worker, head, 25000, False), (worker, head, 35000, False),
        # egress: DNS, model sources over HTTPS, the API server from the head only
        (worker, HUB, 443, True), (worker, HUB, 80, False), (worker, HUB, 22, False),
        (head, API_SERVER, 6443, True), (worker, API_SERVER, 6443, False), (worker, gateway, 8080, False),
    ]
    wrong = [(s.name, d.name, port, want) for s, d, port, want in matrix if allowed(policies, s, d, port) != want]
    assert not wrong, f"(source, destination, port, expected) that the policies get wrong: {wrong}"
    assert allowed(policies, worker, DNS, 53, "UDP") and allowed(policies, head, DNS, 53, "TCP")


def test_direct_streaming_opens_the_replica_ports_between_ray_pods_and_the_stock_path_does_not():
    objs = render(PROFILES / "cpu-tiny.yaml")  # directStreaming: the default
    p = pods(objs)
    head, worker = p["smollm2-135m-instruct/head"], p["smollm2-135m-instruct/worker"]
    policies = by_kind(objs, "NetworkPolicy")
    assert allowed(policies, head, worker, 30000) and allowed(policies, worker, worker, 40500)
    assert not allowed(policies, NEIGHBOUR, worker, 30000)
    stock = render(PROFILES / "cpu-tiny.yaml", extra=("models[0].ray.directStreaming=false",))
    p = pods(stock)
    head, worker = p["smollm2-135m-instruct/head"], p["smollm2-135m-instruct/worker"]
    policies = by_kind(stock, "NetworkPolicy")
    assert not allowed(policies, head, worker, 30000) and not allowed(policies, worker, worker, 40500)


def test_two_models_do_not_share_a_ray_cluster_network():
    objs = render(PROFILES / "multi-model.yaml", extra=MULTI_MODEL_PER_HOST)
    policies = by_kind(objs, "NetworkPolicy")
    p = pods(objs)
    ray_heads = [k for k in p if k.endswith("/head")]
    vllm = next(pod for k, pod in p.items() if "/" not in k and k != "gateway")
    (head,) = ray_heads
    assert not allowed(policies, vllm, p[head], 6379)
    # without the gateway the ingress controller reaches each model's API port, and only that
    assert allowed(policies, INGRESS_NGINX, vllm, 8000) and not allowed(policies, INGRESS_NGINX, vllm, 8080)
    assert not allowed(policies, NEIGHBOUR, vllm, 8000) and allowed(policies, PROMETHEUS, vllm, 8000)


def test_egress_can_be_left_open():
    objs = render(PROFILES / "cpu-tiny.yaml", extra=("networkPolicy.egress.enabled=false",))
    worker = pods(objs)["smollm2-135m-instruct/worker"]
    assert allowed(by_kind(objs, "NetworkPolicy"), worker, HUB, 22)


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_model_pod_is_under_a_policy_and_ray_listens_where_the_policy_opens(name):
    """Deny by default (tests/chart/test_network_policy.py checks who may reach what); Ray picks four of its
    ports at random unless told, so every Ray pod pins them to the ones the policy opens."""
    objs = profile(name)
    policies = by_kind(objs, "NetworkPolicy")
    for rs in by_kind(objs, "RayService"):
        cluster = rs["spec"]["rayClusterConfig"]
        for params in [cluster["headGroupSpec"]["rayStartParams"], worker_group(rs)["rayStartParams"]]:
            assert {k: params[k] for k in ("node-manager-port", "object-manager-port", "runtime-env-agent-port",
                                           "dashboard-agent-grpc-port")} == \
                {"node-manager-port": "6380", "object-manager-port": "6381", "runtime-env-agent-port": "6382",
                 "dashboard-agent-grpc-port": "6383"}
            assert (params["min-worker-port"], params["max-worker-port"]) == ("10002", "19999")
        pod_labels = worker_group(rs)["template"]["metadata"]["labels"]
        assert any(pol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items() for pol in policies)
    for d in by_kind(objs, "Deployment"):
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(pol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items() for pol in policies)
