"""A real Kubernetes control plane as local processes, for the cluster tier: the API server of llmstack.apiserver
(etcd, kube-apiserver with generated certificates), kube-controller-manager, kube-scheduler, and kwok standing
in for kubelets on fake nodes that advertise GPUs. Built by scripts/build-cluster-tools.sh.

It runs inside a network namespace of its own (`cluster_network`): the API server listens on the namespace's
address, which pods on the real node (tests/node/nodekit.py) can reach, and this host reaches it, the pods and the
Services over a veth pair and two routes. Nothing inside routes out of the machine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pyhelm3 import Client

from llmstack.apiserver import SERVICE_CIDR, ApiServer
from llmstack.crds import gateway_api as gateway_api_crds
from llmstack.local import free_port, start
from llmstack.local.netns import Namespace, network_namespace
from llmstack.paths import STACK_CHART, TOOLS_BIN, crds_dir, helm_binary

PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "coredns")
POD_CIDR = "10.253.0.0/24"  # the real node's pod bridge (services: llmstack.apiserver.SERVICE_CIDR)
CLUSTER_DNS = "10.254.0.10"  # the kube-dns Service


def cluster_network():
    """The namespace the test cluster lives in: no route out, forwarding on (this host to pods and Services)."""
    return network_namespace("cluster", subnet=252, default_route=False, forwarding=True,
                             routed=(POD_CIDR, SERVICE_CIDR))


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if not (TOOLS_BIN / p).is_file()]


# ---------------------------------------------------------------------------------------------- fake nodes
# GPU nodes as the clouds sell them: product label, GPUs, vCPUs, memory (p5.48xlarge, p4de.24xlarge, g6.12xlarge)
GPU_SHAPES = {"NVIDIA-H100-80GB-HBM3": (8, "192", "2Ti"), "NVIDIA-A100-SXM4-80GB": (8, "96", "1152Gi"),
              "NVIDIA-L4": (4, "48", "192Gi")}


def gpu_node(name: str, product: str) -> dict:
    """A node as GPU Feature Discovery and the NVIDIA device plugin label and advertise it, GPU-tainted."""
    gpus, cpu, memory = GPU_SHAPES[product]
    return _node(name, {"nvidia.com/gpu.product": product, "nvidia.com/gpu.count": str(gpus),
                        "nvidia.com/gpu.present": "true"},
                 {"cpu": cpu, "memory": memory, "pods": "110", "nvidia.com/gpu": str(gpus),
                  "ephemeral-storage": "2Ti"},
                 [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])


def cpu_node(name: str) -> dict:
    return _node(name, {"node.kubernetes.io/instance-type": "cpu-32"},
                 {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}, [])


def _node(name: str, labels: dict, capacity: dict, taints: list) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok", **labels}},
            "spec": {"taints": taints},
            "status": {"capacity": capacity, "allocatable": capacity,
                       "nodeInfo": {"kubeletVersion": "fake", "architecture": "amd64", "operatingSystem": "linux"}}}


def storage(volumes: int = 12, size: str = "4Ti") -> list[dict]:
    """A default StorageClass and pre-created volumes, standing in for the cloud's volume provisioner (there is
    no storage backend here): each model-cache claim binds to one of them."""
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
          "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}
    pvs = [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{i}"},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                     "storageClassName": "standard", "persistentVolumeReclaimPolicy": "Delete",
                     "hostPath": {"path": f"/fake/pv-{i}"}}} for i in range(volumes)]
    return [sc, *pvs]


# ---------------------------------------------------------------------------------------------- the cluster
@dataclass
class ControlPlane(ApiServer):
    """The API server (llmstack.apiserver) plus controller-manager, scheduler and kwok's fake nodes."""

    network: Namespace | None = None  # the namespace it runs in (its `netns`), with the address this host uses
    resolver: Path | None = None  # /etc/netns/<netns>: the cluster's DNS for programs run with `ip netns exec`

    def up(self, nodes: list[dict]) -> ControlPlane:
        super().up()
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
        pki = self.pki
        self.start("kube-controller-manager", [
            *common, f"--secure-port={free_port()}", f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}", "--use-service-account-credentials=false",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
            # the HPA's evaluation period (default 15 s), shortened so the autoscaling test reads in seconds
            "--horizontal-pod-autoscaler-sync-period=5s"],
            lambda: True, timeout=30)
        self.start("kube-scheduler", [*common, f"--secure-port={free_port()}",
                                       f"--authentication-kubeconfig={self.kubeconfig}",
                                       f"--authorization-kubeconfig={self.kubeconfig}"], lambda: True, timeout=30)
        self.apply(nodes + storage())
        self.start("kwok", [f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=false",
                             "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                             "--node-ip=10.0.0.1", "--cidr=10.244.0.0/16", "--server-address=127.0.0.1:0",
                            # heartbeats through node leases: without them the node lifecycle controller
                            # marks every fake node NotReady after its grace period (50 s)
                            "--node-lease-duration-seconds=40"],
                    lambda: True, timeout=30)
        self.wait(lambda: all(_ready(n) for n in self.get("nodes")["items"]), 60, "every node Ready (kwok)")
        return self

    # ----------------------------------------------------------------------------------------- kubectl
    def serve_dns(self) -> None:
        """CoreDNS on the namespace's address, behind the kube-dns Service: pods and the programs of the
        namespace (the KubeRay operator) resolve Service names as in any cluster."""
        (self.root / "Corefile").write_text(f""".:53 {{
    bind {self.address}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.kubeconfig} llmstack-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
""")
        self.start("coredns", ["-conf", str(self.root / "Corefile")], lambda: True)
        ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        self.apply([
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                                                  "labels": {"k8s-app": "kube-dns"}},
             "spec": {"clusterIP": CLUSTER_DNS, "ports": [{**p, "targetPort": 53} for p in ports]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "kube-dns-coredns", "namespace": "kube-system",
                          "labels": {"kubernetes.io/service-name": "kube-dns",
                                     "endpointslice.kubernetes.io/managed-by": "llmstack-tests"}},
             "addressType": "IPv4", "endpoints": [{"addresses": [self.address], "conditions": {"ready": True}}],
             "ports": ports}])
        # what `ip netns exec` mounts over /etc/resolv.conf for the programs that resolve cluster names
        self.resolver = Path("/etc/netns") / self.netns
        self.resolver.mkdir(parents=True, exist_ok=True)
        (self.resolver / "resolv.conf").write_text(
            f"nameserver {self.address}\nsearch svc.cluster.local cluster.local\noptions ndots:5\n")

    def apply(self, objs: list[dict]) -> str:
        return self.kubectl("apply", "--server-side", "-f", "-", stdin="\n---\n".join(yaml.safe_dump(o) for o in objs))

    def get(self, kind: str, namespace: str | None = None, selector: str | None = None) -> dict:
        args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else ["-A"])
        return json.loads(self.kubectl(*args, *(["-l", selector] if selector else [])))

    def wait(self, cond, timeout: float, what: str, interval: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not reached after {timeout:.0f} s (logs in {self.root})")
            time.sleep(interval)


def _ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def install(cluster: ControlPlane, release: str, namespace: str, values: dict, timeout: float = 600) -> int:
    """helm install (or upgrade) of llm-stack through pyhelm3, as a platform's automation would; the revision."""
    async def go():
        client = Client(executable=helm_binary(), kubeconfig=cluster.kubeconfig)
        chart = await client.get_chart(STACK_CHART)
        rev = await client.install_or_upgrade_release(release, chart, values, namespace=namespace,
                                                      create_namespace=True, timeout=f"{int(timeout)}s")
        return rev.revision
    return asyncio.run(go())


def adapter_argv(cluster: ControlPlane, port: int, prometheus: str, config: Path, cert_dir: Path) -> list[str]:
    """The real prometheus-adapter on the namespace's address, reading `prometheus` with the rules in `config`."""
    kube, address = str(cluster.kubeconfig), cluster.network.address
    return [str(TOOLS_BIN / "adapter"), f"--lister-kubeconfig={kube}", f"--authentication-kubeconfig={kube}",
            f"--authorization-kubeconfig={kube}", f"--bind-address={address}", f"--secure-port={port}",
            f"--cert-dir={cert_dir}", f"--prometheus-url={prometheus}", f"--config={config}",
            "--metrics-relist-interval=2s"]


def register_custom_metrics(cluster: ControlPlane, port: int) -> None:
    """The adapter at the namespace's address:port behind the custom metrics API, as its chart would make it
    (a Service with manual Endpoints, since the adapter is a process here, not a pod)."""
    where = {"name": "prometheus-adapter", "namespace": "monitoring"}
    cluster.apply([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": where,
         "spec": {"ports": [{"port": 443, "targetPort": port, "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": where,
         "subsets": [{"addresses": [{"ip": cluster.network.address}], "ports": [{"port": port}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
         "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                  "groupPriorityMinimum": 100, "versionPriority": 100,
                  "service": {"name": "prometheus-adapter", "namespace": "monitoring", "port": 443}}}])


def restricted_namespace(cluster: ControlPlane, name: str) -> None:
    """A namespace whose pods the API server's Pod Security admission holds to the "restricted" standard."""
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}])


@contextlib.contextmanager
def running_cluster(root: Path, nodes: list[dict]) -> Iterator[ControlPlane]:
    """A control plane in its network namespace, with kwok's `nodes`, cluster DNS, the KubeRay and Gateway API
    CRDs and the operator (which resolves the Ray heads' Service names, as it would in its pod)."""
    with cluster_network() as ns:
        cp = ControlPlane(root, address=ns.address, netns=ns.name, network=ns)
        try:
            cp.up(nodes)
            cp.serve_dns()
            # the KubeRay CRDs this project validates against, then the operator built from the same release
            # and the Gateway API's (its Gateways and HTTPRoutes carry KubeRay's incremental upgrades, whose
            # feature gate is on, as `llmstack addons` sets it for a release that asks for them)
            crds = sorted(crds_dir().glob("*.yaml")) + sorted(gateway_api_crds().glob("*.yaml"))
            cp.kubectl("apply", "--server-side", *(arg for f in crds for arg in ("-f", str(f))))
            cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                       *(f"crd/{'.'.join(f.stem.split('_', 1)[::-1])}" for f in crds))
            argv = ns.wrap([str(TOOLS_BIN / "ray-operator"), f"--kubeconfig={cp.kubeconfig}",
                            "--enable-leader-election=false", "--metrics-addr=127.0.0.1:0",
                            "--health-probe-bind-address=127.0.0.1:0",
                            "--feature-gates=RayServiceIncrementalUpgrade=true"])
            cp.procs.append(start("ray-operator", argv, cp.root, lambda: True, timeout=30))
            print(f"control plane up: {', '.join(f'{k} {v:.1f}s' for k, v in cp.timings.items())}")
            yield cp
        finally:
            cp.down()
            if cp.resolver:
                shutil.rmtree(cp.resolver, ignore_errors=True)


def require_programs(missing: list[str], make: str) -> None:
    """CI builds what a tier needs: there its absence fails; elsewhere the tier is skipped, saying why."""
    import os

    import pytest

    if missing:
        reason = f"not built here: {', '.join(missing)}: run `{make}`"
        if os.environ.get("CI"):
            pytest.fail(reason)
        print(f"SKIP: {reason}")
        pytest.skip(reason)
