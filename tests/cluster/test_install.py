"""Every profile installed with helm (through pyhelm3) into a real API server: objects accepted (CRD schemas
with their CEL rules, admission defaults), the real KubeRay operator turning RayServices into RayClusters,
the real scheduler placing pods on kwok's fake GPU nodes, Deployments rolling out; upgrade, rollback,
uninstall; a profile too big for the cluster stays Pending with the scheduler's reason."""

from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from clusterkit import install, restricted_namespace
from llmstack.paths import STACK_CHART, TOOLS_BIN, helm_binary, profiles

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
PROFILES = profiles()


def ns_of(profile) -> str:
    return profile.stem.replace(".", "-")


def pods(cluster, namespace: str, selector: str | None = None) -> list[dict]:
    return cluster.get("pods", namespace, selector)["items"]


@pytest.fixture(scope="module")
def installed(cluster):
    """Every profile in its own namespace, release `llm`; (install seconds per profile)."""
    timings = {}
    for profile in PROFILES:
        t0 = time.monotonic()
        restricted_namespace(cluster, ns_of(profile))  # Pod Security admission: only "restricted" pods
        assert install(cluster, "llm", ns_of(profile), yaml.safe_load(profile.read_text())) == 1
        timings[profile.stem] = time.monotonic() - t0
    print("helm install: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return timings


def test_every_rendered_object_is_in_the_cluster(cluster, installed):
    for profile in PROFILES:
        manifest = cluster.kubectl("get", "secret", "-n", ns_of(profile), "-l", "owner=helm,name=llm", "-o", "name")
        assert manifest.strip(), f"{profile.stem}: no helm release record"
        status = cluster.kubectl("get", "all,cm,networkpolicy,pdb,sa,ingress,rayservice", "-n", ns_of(profile),
                                 "-l", "app.kubernetes.io/instance=llm", "-o", "name")
        kinds = {line.split("/")[0] for line in status.split()}
        assert "networkpolicy.networking.k8s.io" in kinds and "serviceaccount" in kinds, (profile.stem, kinds)


def _rayservices(cluster, namespace):
    return cluster.get("rayservices.ray.io", namespace)["items"]


def test_pod_security_admission_holds_the_profiles_namespaces_to_restricted(cluster, installed):
    """Every profile's pods were admitted (the other tests see them run); a pod that is not restricted is not."""
    loose = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loose", "namespace": ns_of(PROFILES[0])},
             "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    proc = subprocess.run([str(TOOLS_BIN / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", "apply",
                           "--dry-run=server", "-f", "-"], input=yaml.safe_dump(loose), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    for profile in PROFILES:
        events = cluster.kubectl("get", "events", "-n", ns_of(profile), "--field-selector", "reason=FailedCreate")
        assert "violates PodSecurity" not in events, (profile.stem, events)


def test_the_operator_makes_a_raycluster_with_head_and_workers_for_each_rayservice(cluster, installed):
    expected = {ns_of(p): [rs["metadata"]["name"] for rs in _rayservices(cluster, ns_of(p))] for p in PROFILES}
    assert any(expected.values()), "no RayService installed"

    def clusters_with_pods() -> bool:
        for namespace, services in expected.items():
            if not services:
                continue
            rcs = cluster.get("rayclusters.ray.io", namespace)["items"]
            owners = {o["name"] for rc in rcs for o in rc["metadata"].get("ownerReferences", [])}
            if not set(services) <= owners:
                return False
            heads = pods(cluster, namespace, "ray.io/node-type=head")
            if len(heads) < len(services):
                return False
        return True
    cluster.wait(clusters_with_pods, 120, "a RayCluster and head pod per RayService")
    # workers: one worker pod per node of each replica (the 405B profile: 2 pods of 8 GPUs)
    workers = pods(cluster, "h100-405b-multinode", "ray.io/node-type=worker")
    assert len(workers) == 2, [p["metadata"]["name"] for p in workers]


def _scheduled(cluster) -> list[dict]:
    """The pods of the profiles' releases."""
    return [p for p in cluster.get("pods")["items"] if p["metadata"]["namespace"] in {ns_of(x) for x in PROFILES}]


def test_the_scheduler_places_every_pod_and_gpu_pods_only_on_gpu_nodes(cluster, installed):
    cluster.wait(lambda: _scheduled(cluster) and all(p["spec"].get("nodeName") for p in _scheduled(cluster)), 120,
                 "every pod scheduled")
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes")["items"]}
    placed = []
    for pod in _scheduled(cluster):
        node = nodes[pod["spec"]["nodeName"]]
        gpus = sum(int(c["resources"].get("limits", {}).get("nvidia.com/gpu", 0)) for c in pod["spec"]["containers"])
        wanted = (pod["spec"].get("nodeSelector") or {}).get("nvidia.com/gpu.product")
        if gpus:
            assert node["metadata"]["labels"].get("nvidia.com/gpu.product") == wanted, pod["metadata"]["name"]
        else:
            assert "nvidia.com/gpu" not in node["status"]["capacity"], f"{pod['metadata']['name']} on a GPU node"
        placed.append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']} -> {node['metadata']['name']}")
    print("\n".join(placed))
    workers = pods(cluster, "h100-405b-multinode", "ray.io/node-type=worker")
    assert {p["spec"]["nodeName"] for p in workers} == {"h100-0", "h100-1"}, "405B spans both 8-GPU nodes"


def test_a_gpu_share_profile_runs_four_replicas_to_a_worker_pod_of_one_gpu(cluster, installed):
    """a100-7b-quarter: 32 Ray Serve replicas of a quarter GPU are 8 worker pods of one A100 each, which the
    scheduler places on A100 nodes without overcommitting a node's GPUs."""
    namespace = "a100-7b-quarter"

    def placed() -> list[dict]:
        workers = pods(cluster, namespace, "ray.io/node-type=worker")
        return workers if len(workers) == 8 and all(p["spec"].get("nodeName") for p in workers) else []
    cluster.wait(placed, 120, "8 worker pods of the quarter-GPU profile scheduled")
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes")["items"]}
    used: dict[str, int] = {}
    for pod in placed():
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "ray-worker"]
        assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == 1, pod["metadata"]["name"]
        node = nodes[pod["spec"]["nodeName"]]
        assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    for pod in _scheduled(cluster):  # every GPU pod of every profile, against each node's GPUs
        gpus = sum(int(c["resources"].get("limits", {}).get("nvidia.com/gpu", 0)) for c in pod["spec"]["containers"])
        used[pod["spec"]["nodeName"]] = used.get(pod["spec"]["nodeName"], 0) + gpus
    for name, count in used.items():
        assert count <= int(nodes[name]["status"]["capacity"].get("nvidia.com/gpu", 0)), (name, count)
    print(f"GPUs in use per node: {used}")


def test_vllm_deployments_roll_out(cluster, installed):
    def rolled() -> bool:
        deps = [d for p in PROFILES for d in cluster.get("deployments", ns_of(p))["items"]]
        return bool(deps) and all(d["status"].get("availableReplicas") == d["spec"]["replicas"] for d in deps)
    cluster.wait(rolled, 120, "every Deployment available (pods Running/Ready through kwok)")


def test_upgrade_rolls_without_gpu_surge_then_rollback_and_uninstall(cluster, installed):
    namespace = "l4-8b"
    values = yaml.safe_load((STACK_CHART.parents[1] / "values" / "l4-8b.yaml").read_text())
    (dep,) = cluster.get("deployments", namespace, "app.kubernetes.io/component=model")["items"]
    old_image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    most = 0
    assert install(cluster, "llm", namespace, {**values, "image": {"tag": "0.1.1"}}) == 2
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        live = [p for p in pods(cluster, namespace) if not p["metadata"].get("deletionTimestamp")]
        gpu_pods = [p for p in live if any("nvidia.com/gpu" in c["resources"].get("limits", {})
                                           for c in p["spec"]["containers"])]
        most = max(most, len(gpu_pods))
        (dep,) = cluster.get("deployments", namespace, "app.kubernetes.io/component=model")["items"]
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        if image.endswith(":0.1.1") and dep["status"].get("updatedReplicas") == dep["spec"]["replicas"] == \
                dep["status"].get("availableReplicas"):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the upgrade did not roll out")
    assert most <= dep["spec"]["replicas"], f"{most} GPU pods at once: maxSurge 0 must not need extra GPUs"
    # rollback restores the previous image
    cluster_helm = [helm_binary(), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace]
    subprocess.run([*cluster_helm, "rollback", "llm", "1"], check=True, capture_output=True, timeout=120)
    def model_image() -> str:
        (dep,) = cluster.get("deployments", namespace, "app.kubernetes.io/component=model")["items"]
        return dep["spec"]["template"]["spec"]["containers"][0]["image"]
    cluster.wait(lambda: model_image() == old_image, 60, "rollback to the first image")
    # uninstall leaves nothing of the release behind
    subprocess.run([*cluster_helm, "uninstall", "llm", "--wait", "--timeout", "120s"], check=True,
                   capture_output=True, timeout=180)
    left = cluster.kubectl("get", "all,cm,secret,networkpolicy,pdb,sa,ingress,hpa", "-n", namespace, "-l",
                           "app.kubernetes.io/instance=llm", "-o", "name").split()
    assert not left, left


def test_a_profile_larger_than_the_cluster_stays_pending_with_the_schedulers_reason(cluster, installed):
    values = yaml.safe_load((STACK_CHART.parents[1] / "values" / "h100-405b-multinode.yaml").read_text())
    values["models"][0]["autoscaling"].update(minReplicas=2, maxReplicas=2)
    install(cluster, "big", "too-big", values)

    def pending_reason() -> str | None:
        for pod in pods(cluster, "too-big"):
            for cond in pod.get("status", {}).get("conditions", []):
                if cond["type"] == "PodScheduled" and cond.get("reason") == "Unschedulable":
                    return cond.get("message", "")
        return None
    cluster.wait(lambda: pending_reason() is not None, 120, "a Pending pod with the scheduler's reason")
    reason = pending_reason()
    print(f"too-big: Pending: {reason}")
    assert "Insufficient nvidia.com/gpu" in reason
