"""A real worker node joined to the cluster tier's control plane, in its network namespace: containerd (runc from
Debian) with the CNI bridge, kubelet and kube-proxy (iptables), running this project's own images
(`make images`), imported into containerd. Its pods get addresses on a bridge inside the namespace; this host
reaches them and their Services through the namespace's veth pair. Built by scripts/build-cluster-tools.sh.

The node is labelled and tainted (LABEL, TAINT): only what a test means for it lands there, and the kwok nodes
keep the placement tests."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clusterkit import CLUSTER_DNS, POD_CIDR, ControlPlane
from llmstack import oci_layout
from llmstack.apiserver import issue, kubeconfig
from llmstack.local import Proc, free_port
from llmstack.paths import ROOT, TOOLS_BIN

NODE = "real-0"
LABEL = {"llm-stack.io/real-node": "true"}
TAINT = {"key": "llm-stack.io/real-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
# what a workload needs to land on the real node (chart values: nodeSelector and tolerations)
PLACEMENT = {"nodeSelector": LABEL, "tolerations": [TAINT]}
IMAGES_DIR = ROOT / ".tools" / "images"
LAYOUT = IMAGES_DIR / "oci"  # the OCI layout `make images` writes
IMAGES = {"pause": "localhost/llm-stack/pause:0.1.0", "serving-cpu": "localhost/llm-stack/serving:0.1.0-cpu",
          "gateway": "localhost/llm-stack/gateway:0.1.0"}
# containerd's image store survives the run: the multi-GB serving image is unpacked once per machine (its
# compressed layers are dropped once unpacked; only the snapshots stay)
CONTAINERD_ROOT = ROOT / ".tools" / "node" / "containerd"
CNI_BIN = ROOT / ".tools" / "cni" / "bin"
PROGRAMS = ("containerd", "containerd-shim-runc-v2", "ctr", "kubelet", "kube-proxy")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# containerd and the kubelet find the shim, runc, iptables and mount on PATH: ours first, then Debian's
NODE_PATH = f"{TOOLS_BIN}:{SYSTEM_PATH}"


def missing() -> list[str]:
    """What the node needs and is not here: programs, images, Debian's runc and iptables."""
    gone = [p for p in PROGRAMS if not (TOOLS_BIN / p).is_file()]
    gone += [f"CNI plugin {p}" for p in ("bridge", "host-local", "loopback", "portmap") if not (CNI_BIN / p).is_file()]
    gone += [f"image {ref} (make images)" for ref in IMAGES.values() if ref not in oci_layout.refs(LAYOUT)]
    gone += [p for p in ("/usr/sbin/runc", "/usr/sbin/iptables") if not Path(p).exists()]
    return gone


@dataclass
class RealNode:
    cp: ControlPlane
    root: Path
    procs: list[Proc] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.cp.network.address

    @property
    def sock(self) -> Path:
        return self.root / "containerd.sock"

    def start(self, name: str, args: list[str], ready, timeout: float = 60, program: Path | None = None,
              env: dict | None = None) -> None:
        from llmstack.local import start

        t0 = time.monotonic()
        argv = self.cp.network.enter([str(program or TOOLS_BIN / name), *args])
        self.procs.append(start(name, argv, self.root, ready, timeout=timeout, env=env))
        self.timings[name] = time.monotonic() - t0

    def ctr_argv(self, *args: str) -> list[str]:
        """`ctr` on this node's containerd, in the namespace the kubelet's CRI uses."""
        return [str(TOOLS_BIN / "ctr"), "--address", str(self.sock), "--namespace", "k8s.io", *args]

    def ctr(self, *args: str, timeout: float = 900) -> str:
        proc = subprocess.run(self.ctr_argv(*args), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    # --------------------------------------------------------------------------------------------- bring-up
    def up(self) -> RealNode:
        self.root.mkdir(parents=True, exist_ok=True)
        self._certificates()
        self._containerd()
        self._import_images()
        self._cni()
        self._kubelet()
        self._kube_proxy()
        self.cp.wait(self._ready, 120, f"node {NODE} Ready")
        return self

    def _certificates(self) -> None:
        pki = self.cp.pki
        issue(pki, "node", f"system:node:{NODE}", org="system:nodes", client=True)
        issue(pki, "kubelet-serving", NODE, ips=(self.address,), dns=(NODE,))
        kubeconfig(self.root / "kubelet.kubeconfig", self.cp.server, pki, user="node")

    def _containerd(self) -> None:
        CONTAINERD_ROOT.mkdir(parents=True, exist_ok=True)
        config = f"""
version = 3
root = "{CONTAINERD_ROOT}"
state = "{self.root / 'containerd-state'}"
[grpc]
  address = "{self.sock}"
[plugins.'io.containerd.cri.v1.runtime']
  # this machine cannot set a negative oom_score_adj (no CAP_SYS_RESOURCE): never ask for one
  restrict_oom_score_adj = true
  # the pods' network namespaces under the state folder, not among this machine's own (/run/netns)
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "/usr/sbin/runc"
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_BIN}"]
    conf_dir = "{self.root / 'cni'}"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{IMAGES['pause']}"
"""
        (self.root / "containerd.toml").write_text(config)
        self.start("containerd", ["--config", str(self.root / "containerd.toml")], lambda: self.sock.exists(),
                   env={"PATH": NODE_PATH})

    def _import_images(self) -> None:
        """Import what changed since the last run, streamed from the layout (no archive on disk), and drop images
        of this project that are no longer built, so their snapshots are collected."""
        t0 = time.monotonic()
        present = set(self.ctr("images", "list", "--quiet").split())
        record = CONTAINERD_ROOT / "imported.json"
        done = json.loads(record.read_text()) if record.is_file() else {}
        stamps = {name: (IMAGES_DIR / f"{name}.stamp").read_text().strip() for name in IMAGES}
        wanted = {ref for name, ref in IMAGES.items() if ref not in present or done.get(name) != stamps[name]}
        if wanted:
            ctr = subprocess.Popen(self.ctr_argv("images", "import", "--local", "--discard-unpacked-layers", "-"),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                oci_layout.stream(LAYOUT, wanted, ctr.stdin)
            finally:
                ctr.stdin.close()
            if ctr.wait(timeout=900) != 0:
                raise RuntimeError(f"ctr images import: {ctr.stderr.read().decode()}")
            record.write_text(json.dumps(stamps))
        stale = [ref for ref in self.ctr("images", "list", "--quiet").split()
                 if ref.startswith("localhost/llm-stack/") and ref not in IMAGES.values()]
        if stale:
            self.ctr("images", "rm", *stale)
        self.timings["images"] = time.monotonic() - t0

    def _cni(self) -> None:
        (self.root / "cni").mkdir(exist_ok=True)
        (self.root / "cni" / "10-llmstack.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "llmstack", "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}],
                          "dataDir": str(self.root / "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}}]}))

    def _kubelet(self) -> None:
        pki = self.cp.pki
        (self.root / "resolv.conf").write_text("")  # pods get the cluster's DNS, never this machine's
        (self.root / "kubelet.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            # this machine: cgroups v1, swap, no systemd
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(pki / "ca.crt")}},
            "authorization": {"mode": "AlwaysAllow"},
            "tlsCertFile": str(pki / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
            "clusterDNS": [CLUSTER_DNS], "clusterDomain": "cluster.local", "resolvConf": str(self.root / "resolv.conf"),
            "podLogsDir": str(self.root / "pod-logs"), "address": self.address, "healthzBindAddress": "127.0.0.1",
            "registerWithTaints": [{k: v for k, v in TAINT.items() if k != "operator"}],
            # a full disk must not evict the test pods, nor image GC drop the multi-GB serving image
            "evictionHard": {"memory.available": "200Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False, "syncFrequency": "10s"}))
        labels = ",".join(f"{k}={v}" for k, v in LABEL.items())
        self.start("kubelet", [f"--config={self.root / 'kubelet.yaml'}",
                               f"--kubeconfig={self.root / 'kubelet.kubeconfig'}", f"--hostname-override={NODE}",
                               f"--node-ip={self.address}", f"--root-dir={self.root / 'kubelet'}",
                               f"--node-labels={labels}", "--v=1"],
                   lambda: True, env={"PATH": NODE_PATH})

    def _kube_proxy(self) -> None:
        (self.root / "kube-proxy.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.cp.kubeconfig)}, "hostnameOverride": NODE,
            "mode": "iptables", "clusterCIDR": POD_CIDR,
            # nf_conntrack_max is this machine's, not the namespace's: leave it
            "conntrack": {"maxPerCore": 0, "min": 0},
            "metricsBindAddress": f"127.0.0.1:{free_port()}", "healthzBindAddress": f"127.0.0.1:{free_port()}"}))
        self.start("kube-proxy", [f"--config={self.root / 'kube-proxy.yaml'}", "--v=1"], lambda: True,
                   env={"PATH": SYSTEM_PATH})

    def _ready(self) -> bool:
        node = json.loads(self.cp.kubectl("get", "node", NODE, "-o", "json", check=False) or "{}")
        return any(c["type"] == "Ready" and c["status"] == "True"
                   for c in node.get("status", {}).get("conditions", []))

    # --------------------------------------------------------------------------------------------- teardown
    def down(self) -> None:
        """Pods first (the kubelet stops their containers), then the programs, then what is left mounted."""
        self.cp.kubectl("delete", "pods", "--all-namespaces", "--field-selector", f"spec.nodeName={NODE}",
                        "--grace-period=5", "--wait=false", check=False, timeout=60)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self._containers():
            time.sleep(2)
        for proc in reversed(self.procs):
            proc.stop(20)
        self.procs.clear()
        self._kill_shims()
        for mount in sorted(self._mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)

    def _containers(self) -> bool:
        """Whether containerd still holds containers (the pods' sandboxes count: their network goes with them)."""
        try:
            return bool(self.ctr("containers", "list", "--quiet", timeout=30).strip())
        except (RuntimeError, subprocess.TimeoutExpired, OSError):
            return False

    def _kill_shims(self) -> None:
        """containerd's shims daemonize out of its session: find ours by the socket they were given."""
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"containerd-shim-runc-v2") and str(self.sock).encode() in args:
                subprocess.run(["kill", "-9", cmdline.parent.name], capture_output=True)

    def _mounts(self) -> list[str]:
        roots = (str(self.root), str(CONTAINERD_ROOT))
        return [m.split()[1] for m in Path("/proc/mounts").read_text().splitlines()
                if re.match(r"\S+ (\S+)", m) and m.split()[1].startswith(roots)]


# ------------------------------------------------------------------------------------------------- for the tests
SMALL = {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "6Gi"}}


def node_values(models: list[dict], **extra) -> dict:
    """Values that put a release on the real node: this project's images (global.imageRegistry: the images are
    imported as localhost/llm-stack/...), the real node's label and taint, requests a 2-core node can hold (no CPU
    limit: the chart's own choice), the cpu-tiny profile's CPU settings."""
    defaults = {**PLACEMENT, "resources": SMALL, "gpus": 0, "coldStartSeconds": 600, "shmSize": "1Gi",
                "vllm": {"dtype": "bfloat16", "maxModelLen": 1024, "enforceEager": True},
                # several engines share this node's two cores: let the OS place their threads (vLLM would pin every
                # engine to the same first core, as the cpu-tiny profile warns)
                "extraEnv": [{"name": "VLLM_CPU_KVCACHE_SPACE", "value": "1"},
                             {"name": "VLLM_CPU_OMP_THREADS_BIND", "value": "nobind"}],
                "ray": {"headResources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "3Gi"}},
                        "headNodeSelector": LABEL, "headTolerations": [TAINT],
                        # Ray counts CPUs from the worker's request (KubeRay rounds 100m up to 1); a CPU replica
                        # of Ray Serve LLM takes two (its actor and its engine's bundle), as cpu-tiny's "2" gives
                        "workerRayStartParams": {"num-cpus": "2"}}}
    return {"global": {"imageRegistry": "localhost"}, "image": {"tag": "0.1.0-cpu"},
            "modelCache": {"type": "emptyDir", "emptyDir": {"sizeLimit": "1Gi"}}, "modelDefaults": defaults,
            "models": models, **extra}


def model_volume(cp: ControlPlane, namespace: str, claim: str, path: Path) -> None:
    """A claim on a volume that holds `path` (the tests' tiny model): what a `pvc://` source names."""
    cp.apply([
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{namespace}-{claim}"},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadOnlyMany"], "storageClassName": "",
                  "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(path), "type": "Directory"},
                  "claimRef": {"namespace": namespace, "name": claim}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": namespace},
         "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "", "volumeName": f"{namespace}-{claim}",
                  "resources": {"requests": {"storage": "1Gi"}}}}])


def service_url(cp: ControlPlane, namespace: str, name: str) -> str:
    """The Service's ClusterIP, which kube-proxy serves and this host routes into the namespace."""
    svc = json.loads(cp.kubectl("get", "service", name, "-n", namespace, "-o", "json"))
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def serving(cp: ControlPlane, namespace: str, name: str) -> bool:
    """Whether the Service has a ready endpoint, so that kube-proxy forwards to it (until then it refuses)."""
    slices = json.loads(cp.kubectl("get", "endpointslices", "-n", namespace, "-l",
                                   f"kubernetes.io/service-name={name}", "-o", "json", check=False) or "{}")
    return any(e.get("conditions", {}).get("ready") for s in slices.get("items", []) for e in s.get("endpoints") or [])


def diagnose(cp: ControlPlane, core=None) -> str:
    """The pods of every namespace with their logs (and the previous container's), and the events."""
    out = [cp.kubectl("get", "pods", "-A", "-o", "wide", check=False)]
    if core is not None:
        for pod in core.list_pod_for_all_namespaces().items:
            if pod.metadata.namespace == "kube-system":
                continue
            for c in (pod.spec.init_containers or []) + pod.spec.containers:
                for previous in (False, True):
                    try:
                        log = core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace, container=c.name,
                                                           previous=previous, tail_lines=60)
                    except Exception:  # noqa: BLE001 -- a container that never ran has no log
                        continue
                    out.append(f"--- {pod.metadata.namespace}/{pod.metadata.name} {c.name}"
                               f"{' (previous)' if previous else ''}\n{log}")
    out.append(cp.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", check=False)[-8000:])
    return "\n".join(out)


class PodMonitorTargets:
    """What prometheus-operator does with a PodMonitor, for Debian's Prometheus, which is built without Kubernetes
    service discovery: a watch on the pods through the API server (the official kubernetes client) that writes
    the PodMonitor's targets to a file Prometheus reads (file_sd) as they come and go -- pods kept by the
    selector's labels and each endpoint's port name, labelled with their namespace, pod and container."""

    def __init__(self, podmonitor: dict, core, folder: Path):
        self.spec, self.namespace = podmonitor["spec"], podmonitor["metadata"]["namespace"]
        self.core, self.folder = core, folder
        self.selector = ",".join(f"{k}={v}" for k, v in self.spec["selector"]["matchLabels"].items())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def scrape_configs(self, interval: str = "1s") -> list[dict]:
        return [{"job_name": f"podMonitor/{self.namespace}/{i}", "scrape_interval": interval,
                 "metrics_path": endpoint.get("path", "/metrics"),
                 "file_sd_configs": [{"files": [str(self.folder / f"endpoint-{i}.json")], "refresh_interval": "1s"}]}
                for i, endpoint in enumerate(self.spec["podMetricsEndpoints"])]

    def write(self, pods: list) -> None:
        for i, endpoint in enumerate(self.spec["podMetricsEndpoints"]):
            groups = []
            for pod in pods:
                gone = pod.metadata.deletion_timestamp or pod.status.phase in ("Failed", "Succeeded")
                if gone or not pod.status.pod_ip:
                    continue
                for c in pod.spec.containers:
                    for port in c.ports or []:
                        if port.name == endpoint["port"]:
                            groups.append({"targets": [f"{pod.status.pod_ip}:{port.container_port}"], "labels": {
                                "namespace": pod.metadata.namespace, "pod": pod.metadata.name, "container": c.name}})
            path = self.folder / f"endpoint-{i}.json"
            path.with_suffix(".tmp").write_text(json.dumps(groups))
            path.with_suffix(".tmp").replace(path)

    def _run(self) -> None:
        from kubernetes import watch

        while not self._stop.is_set():
            pods = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
            self.write(pods.items)
            try:  # any change to those pods: list them again
                for _ in watch.Watch().stream(self.core.list_namespaced_pod, self.namespace,
                                              label_selector=self.selector, timeout_seconds=5,
                                              resource_version=pods.metadata.resource_version):
                    break
            except Exception:  # noqa: BLE001 -- an expired watch: list again
                time.sleep(0.5)

    def __enter__(self) -> PodMonitorTargets:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write([])
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def seconds(stamp: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def pod_timeline(pod: dict) -> dict[str, float]:
    """Seconds from the pod's creation: its init container's fetch, its main container's start, and Ready."""
    status, t0 = pod["status"], seconds(pod["metadata"]["creationTimestamp"])
    out = {}
    for init in status.get("initContainerStatuses") or []:
        done = (init.get("state") or {}).get("terminated") or (init.get("lastState") or {}).get("terminated")
        if done:
            out["fetch started"] = seconds(done["startedAt"]) - t0
            out["fetch done"] = seconds(done["finishedAt"]) - t0
    for c in status.get("containerStatuses") or []:
        running = (c.get("state") or {}).get("running")
        if running:
            out["engine started"] = seconds(running["startedAt"]) - t0
    for cond in status.get("conditions") or []:
        if cond["type"] == "Ready" and cond["status"] == "True":
            out["Ready"] = seconds(cond["lastTransitionTime"]) - t0
    return out
