"""The cluster tier's control plane: one per session, with fake GPU and CPU nodes and the KubeRay operator."""

from __future__ import annotations

import pytest

from clusterkit import cpu_node, gpu_node, missing_programs, require_programs, running_cluster
from llmstack.paths import TOOLS_BIN

NODES = [gpu_node("h100-0", "NVIDIA-H100-80GB-HBM3"), gpu_node("h100-1", "NVIDIA-H100-80GB-HBM3"),
         gpu_node("a100-0", "NVIDIA-A100-SXM4-80GB"), gpu_node("a100-1", "NVIDIA-A100-SXM4-80GB"),
         gpu_node("l4-0", "NVIDIA-L4"),
         cpu_node("cpu-0"), cpu_node("cpu-1")]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    require_programs(missing_programs() + ([] if (TOOLS_BIN / "ray-operator").is_file() else ["ray-operator"]),
                     "make cluster-tools")
    with running_cluster(tmp_path_factory.mktemp("k"), NODES) as cp:
        yield cp
