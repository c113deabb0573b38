"""A real Kubernetes control plane as local processes, for the cluster tier: etcd, kube-apiserver (generated
certificates and service-account keys, loopback only), kube-controller-manager, kube-scheduler, and kwok
standing in for kubelets on fake nodes that advertise GPUs. Built by scripts/build-cluster-tools.sh."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llmstack.local import Proc, free_port, http_ok, start
from llmstack.paths import TOOLS_BIN

PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if not (TOOLS_BIN / p).is_file()]


# ---------------------------------------------------------------------------------------------- certificates
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: str, key, issuer: tuple | None = None, *, ca: bool = False, org: str | None = None,
          dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), client: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]
                     + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []))
    issuer_cert, issuer_key = issuer or (None, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns or ips:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(pki: Path) -> None:
    """Cluster CA, API server serving cert, admin client cert (system:masters), front-proxy CA and client
    (aggregated APIs), service-account signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key, fp_key = _key(), _key()
    ca = _cert("llmstack-local-ca", ca_key, ca=True)
    front = _cert("llmstack-front-proxy-ca", fp_key, ca=True)
    issued = {
        "apiserver": dict(issuer=(ca, ca_key), dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                                    "kubernetes.default.svc.cluster.local", "localhost"),
                          ips=("127.0.0.1", "10.96.0.1")),
        "admin": dict(issuer=(ca, ca_key), org="system:masters", client=True),
        "front-proxy-client": dict(issuer=(front, fp_key), client=True),
    }
    for name, cert, key in (("ca", ca, ca_key), ("front-proxy-ca", front, fp_key)):
        (pki / f"{name}.crt").write_bytes(_pem(cert))
        _write_key(key, pki / f"{name}.key")
    for name, kw in issued.items():
        key = _key()
        (pki / f"{name}.crt").write_bytes(_pem(_cert(name, key, **kw)))
        _write_key(key, pki / f"{name}.key")
    sa = _key()
    _write_key(sa, pki / "sa.key")
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig(path: Path, server: str, pki: Path) -> Path:
    import base64

    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "llmstack-local",
        "clusters": [{"name": "llmstack-local", "cluster": {"server": server,
                                                             "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"),
                                              "client-key-data": b64("admin.key")}}],
        "contexts": [{"name": "llmstack-local", "context": {"cluster": "llmstack-local", "user": "admin"}}]}))
    path.chmod(0o600)
    return path


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
class ControlPlane:
    root: Path
    procs: list[Proc] = field(default_factory=list)
    kubeconfig: Path | None = None
    server: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def _start(self, name: str, args: list[str], ready, timeout: float = 120) -> None:
        t0 = time.monotonic()
        self.procs.append(start(name, [str(TOOLS_BIN / name), *args], self.root, ready, timeout=timeout))
        self.timings[name] = time.monotonic() - t0

    def _api_ready(self, path: str = "/readyz"):
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")

        def check() -> bool:
            try:
                with urllib.request.urlopen(self.server + path, context=ctx, timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False
        return check

    def up(self, nodes: list[dict]) -> ControlPlane:
        make_pki(self.pki)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self.kubeconfig = kubeconfig(self.root / "admin.kubeconfig", self.server, self.pki)
        self._start("etcd", [
            "--name=llmstack", f"--data-dir={self.root / 'etcd'}", "--unsafe-no-fsync",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}", f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=llmstack=http://127.0.0.1:{peer_port}", "--log-level=warn"],
            http_ok(etcd_port, "/health"), timeout=60)
        pki = self.pki
        self._start("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}", f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--allow-privileged=false",
            f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client", "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group", "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            "--enable-aggregator-routing=true", "--profiling=false"],
            self._api_ready(), timeout=180)
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
        self._start("kube-controller-manager", [
            *common, f"--secure-port={free_port()}", f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}", f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}", "--use-service-account-credentials=false",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
            # the HPA's evaluation period (default 15 s), shortened so the autoscaling test reads in seconds
            "--horizontal-pod-autoscaler-sync-period=5s"],
            lambda: True, timeout=30)
        self._start("kube-scheduler", [*common, f"--secure-port={free_port()}",
                                       f"--authentication-kubeconfig={self.kubeconfig}",
                                       f"--authorization-kubeconfig={self.kubeconfig}"], lambda: True, timeout=30)
        self.apply(nodes + storage())
        self._start("kwok", [f"--kubeconfig={self.kubeconfig}", "--manage-all-nodes=false",
                             "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                             "--node-ip=10.0.0.1", "--cidr=10.244.0.0/16", "--server-address=127.0.0.1:0"],
                    lambda: True, timeout=30)
        self.wait(lambda: all(_ready(n) for n in self.get("nodes")["items"]), 60, "every node Ready (kwok)")
        return self

    # ----------------------------------------------------------------------------------------- kubectl
    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run([str(TOOLS_BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc.stdout

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

    def down(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(15)
        self.procs.clear()


def _ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
