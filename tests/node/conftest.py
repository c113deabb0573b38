"""The node tier: the chart's own pods on a real kubelet. The cluster tier's control plane (in its network
namespace) with a real node beside it (tests/nodekit.py), this project's images imported into its containerd,
pytest-helm-charts' existing-cluster fixtures on the test kubeconfig, and the official kubernetes client for the
waits, watches and logs. Every failure prints the pods' logs and the namespaces' events."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from clusterkit import missing_programs, require_programs, running_cluster
from nodekit import RealNode, diagnose
from nodekit import missing as node_missing


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    require_programs(missing_programs() + node_missing(), "make cluster-tools images")
    with running_cluster(tmp_path_factory.mktemp("k"), []) as cp:
        yield cp


@pytest.fixture(scope="session")
def node(cluster, tmp_path_factory):
    real = RealNode(cluster, tmp_path_factory.mktemp("node"))
    try:
        real.up()
        print(f"real node up: {', '.join(f'{k} {v:.1f}s' for k, v in real.timings.items())}")
        yield real
    finally:
        real.down()


@pytest.fixture(scope="session")
def kube_config(cluster) -> str:
    """pytest-helm-charts' option, answered with the test cluster's kubeconfig (its existing-cluster mode)."""
    return str(cluster.kubeconfig)


@pytest.fixture(scope="session")
def core(cluster) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "cluster" in item.funcargs:
        cp = item.funcargs["cluster"]
        report.sections.append(("pods' logs and events", diagnose(cp, item.funcargs.get("core"))))
