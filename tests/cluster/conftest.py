"""The cluster tier's control plane: one per session, with fake GPU and CPU nodes and the KubeRay operator."""

from __future__ import annotations

import os

import pytest

from clusterkit import ControlPlane, cluster_network, cpu_node, gpu_node, missing_programs
from llmstack.paths import TOOLS_BIN, crds_dir

NODES = [gpu_node("h100-0", "NVIDIA-H100-80GB-HBM3"), gpu_node("h100-1", "NVIDIA-H100-80GB-HBM3"),
         gpu_node("a100-0", "NVIDIA-A100-SXM4-80GB"), gpu_node("l4-0", "NVIDIA-L4"),
         cpu_node("cpu-0"), cpu_node("cpu-1")]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    missing = missing_programs() + ([] if (TOOLS_BIN / "ray-operator").is_file() else ["ray-operator"])
    if missing:
        reason = f"control-plane programs not built ({', '.join(missing)}): run `make cluster-tools`"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI builds them: their absence there is a failure, never a silent skip
        print(f"SKIP cluster tier: {reason}")
        pytest.skip(reason)
    with cluster_network() as ns:
        cp = ControlPlane(tmp_path_factory.mktemp("k"), address=ns.address, netns=ns.name, network=ns)
        try:
            cp.up(NODES)
            # the KubeRay CRDs this project validates against, then the operator built from the same release
            cp.kubectl("apply", "--server-side", "-f", str(crds_dir() / "ray.io_rayclusters.yaml"),
                       "-f", str(crds_dir() / "ray.io_rayservices.yaml"))
            cp.kubectl("wait", "--for=condition=Established", "crd/rayclusters.ray.io", "crd/rayservices.ray.io",
                       "--timeout=60s")
            cp.start("ray-operator", [f"--kubeconfig={cp.kubeconfig}", "--enable-leader-election=false",
                                      "--metrics-addr=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0"],
                     lambda: True, timeout=30)
            print(f"control plane up: {', '.join(f'{k} {v:.1f}s' for k, v in cp.timings.items())}")
            yield cp
        finally:
            cp.down()
