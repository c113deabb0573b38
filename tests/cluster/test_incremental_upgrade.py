"""KubeRay's incremental upgrade (`ray.upgradeStrategy: NewClusterWithIncrementalUpgrade`) on the test control plane:
the real API server takes the chart's RayService with its clusterUpgradeOptions (the CRD's schema), and the real
operator, its feature gate on and the Gateway API's CRDs served, accepts it: it makes the RayCluster and no
InvalidRayServiceSpec event, while the same RayService without the autoscaler, which the chart refuses, is refused
by the operator too. No Gateway controller runs here, so no traffic moves: that needs a real node and a controller."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from clusterkit import install, restricted_namespace
from llmstack import helm, manifests
from llmstack.paths import TOOLS_BIN

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NS = "incremental"
VALUES = {
    "modelDefaults": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
                      "ray": {"headResources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                "limits": {"memory": "1Gi"}}}},
    "models": [{"name": "m", "source": "hf://org/m", "engine": "ray", "gpus": 0,
                "autoscaling": {"minReplicas": 2, "maxReplicas": 4},
                "ray": {"upgradeStrategy": "NewClusterWithIncrementalUpgrade",
                        "incrementalUpgrade": {"gatewayClassName": "test-gateways", "intervalSeconds": 30}}}],
}


def events(cluster, reason: str) -> list[dict]:
    return [e for e in cluster.get("events", NS)["items"] if e.get("reason") == reason]


def test_the_operator_accepts_the_charts_incremental_upgrade_and_refuses_it_without_the_autoscaler(cluster):
    restricted_namespace(cluster, NS)
    install(cluster, "llm", NS, VALUES)
    (rayservice,) = cluster.get("rayservices.ray.io", NS)["items"]
    strategy = rayservice["spec"]["upgradeStrategy"]
    # two worker pods at minReplicas: the new cluster grows one pod (50 %) at a time, traffic likewise
    assert strategy == {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
        "gatewayClassName": "test-gateways", "maxSurgePercent": 50, "stepSizePercent": 50, "intervalSeconds": 30}}
    name = rayservice["metadata"]["name"]
    cluster.wait(lambda: any(o["name"] == name for rc in cluster.get("rayclusters.ray.io", NS)["items"]
                             for o in rc["metadata"].get("ownerReferences", [])), 120,
                 "the operator's RayCluster for the incremental-upgrade RayService")
    assert not events(cluster, "InvalidRayServiceSpec"), events(cluster, "InvalidRayServiceSpec")

    # the same object with a fixed size (no autoscaler), applied past the chart: KubeRay refuses it
    fixed = json.loads(json.dumps(VALUES))
    fixed["models"][0]["autoscaling"]["maxReplicas"] = 2
    with pytest.raises(helm.HelmError, match="needs KubeRay's autoscaler"):
        helm.template([_values_file(cluster, fixed, "fixed-size")])
    fixed["models"][0]["autoscaling"]["maxReplicas"] = 4
    objs = manifests.parse(helm.template([_values_file(cluster, fixed, "autoscaled")], namespace=NS, release="fixed"))
    (bare,) = [o for o in objs if o["kind"] == "RayService"]
    bare["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] = False
    proc = subprocess.run([str(TOOLS_BIN / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", "apply", "-n", NS,
                           "-f", "-"], input=yaml.safe_dump(bare), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    cluster.wait(lambda: any("Ray Autoscaler is required" in e.get("message", "")
                             for e in events(cluster, "InvalidRayServiceSpec")), 60,
                 "KubeRay's InvalidRayServiceSpec event for the RayService without its autoscaler")


def _values_file(cluster, values: dict, name: str):
    path = cluster.root / f"values-{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path
