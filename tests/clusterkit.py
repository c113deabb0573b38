"""A real Kubernetes control plane as local processes, for the cluster tier: the API server of llmstack.apiserver
(etcd, kube-apiserver with generated certificates), kube-controller-manager, kube-scheduler, and kwok standing
in for kubelets on fake nodes that advertise GPUs. Built by scripts/build-cluster-tools.sh.

It runs inside a network namespace of its own (`cluster_network`): the API server listens on the namespace's
address, which pods on the real node (tests/nodekit.py) can reach, and this host reaches it, the pods and the
Services over a veth pair and two routes. Nothing inside routes out of the machine."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import yaml

from llmstack.apiserver import SERVICE_CIDR, ApiServer
from llmstack.local import free_port
from llmstack.paths import TOOLS_BIN
from netns import Namespace, network_namespace

PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
POD_CIDR = "10.253.0.0/24"  # the real node's pod bridge (services: llmstack.apiserver.SERVICE_CIDR)


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
