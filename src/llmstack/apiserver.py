"""A real Kubernetes API server as local processes: etcd and kube-apiserver, with generated certificates and
service-account keys. `llmstack validate` asks a throwaway one to dry-run the rendered objects; the cluster
test tier builds its control plane on it. The programs come from `make cluster-tools` (.tools/bin)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llmstack.local import Proc, free_port, http_ok, start
from llmstack.paths import TOOLS_BIN

PROGRAMS = ("etcd", "kube-apiserver")
# uncommon private ranges: the cluster tier routes them from this host into its network namespace
SERVICE_CIDR = "10.254.0.0/16"
KUBERNETES_SERVICE_IP = "10.254.0.1"


def missing_programs(programs=PROGRAMS) -> list[str]:
    return [p for p in programs if not (TOOLS_BIN / p).is_file()]


# ---------------------------------------------------------------------------------------------- certificates
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def certificate(subject: str, key, issuer: tuple | None = None, *, ca: bool = False, org: str | None = None,
                dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), client: bool = False) -> x509.Certificate:
    """A certificate for `key`, self-signed (a CA) or signed by issuer = (cert, key); valid for two days."""
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


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def issue(pki: Path, name: str, subject: str, **kw) -> None:
    """Write <name>.crt/.key signed by the cluster CA (pki/ca.*)."""
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    key = _key()
    (pki / f"{name}.crt").write_bytes(pem(certificate(subject, key, (ca, ca_key), **kw)))
    _write_key(key, pki / f"{name}.key")


def make_pki(pki: Path, addresses: tuple[str, ...] = ("127.0.0.1",)) -> None:
    """Cluster CA, API server serving cert (for `addresses` and the kubernetes Service), admin client cert
    (system:masters), front-proxy CA and client (aggregated APIs), service-account signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key, fp_key = _key(), _key()
    ca = certificate("llmstack-local-ca", ca_key, ca=True)
    front = certificate("llmstack-front-proxy-ca", fp_key, ca=True)
    for name, cert, key in (("ca", ca, ca_key), ("front-proxy-ca", front, fp_key)):
        (pki / f"{name}.crt").write_bytes(pem(cert))
        _write_key(key, pki / f"{name}.key")
    issue(pki, "apiserver", "kube-apiserver", ips=(*addresses, KUBERNETES_SERVICE_IP),
          dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
               "localhost"))
    issue(pki, "admin", "admin", org="system:masters", client=True)
    issue(pki, "kubelet-client", "kube-apiserver-kubelet-client", org="system:masters", client=True)
    fp_client = _key()
    (pki / "front-proxy-client.crt").write_bytes(pem(certificate("front-proxy-client", fp_client, (front, fp_key),
                                                                 client=True)))
    _write_key(fp_client, pki / "front-proxy-client.key")
    sa = _key()
    _write_key(sa, pki / "sa.key")
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig(path: Path, server: str, pki: Path, user: str = "admin") -> Path:
    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "llmstack-local",
        "clusters": [{"name": "llmstack-local", "cluster": {"server": server,
                                                             "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(f"{user}.crt"),
                                           "client-key-data": b64(f"{user}.key")}}],
        "contexts": [{"name": "llmstack-local", "context": {"cluster": "llmstack-local", "user": user}}]}))
    path.chmod(0o600)
    return path


# ---------------------------------------------------------------------------------------------- the server
@dataclass
class ApiServer:
    """etcd (loopback) and kube-apiserver on `address`, in this host's network or in the network namespace
    `netns` (/run/netns/<name>; only the network is entered, so mounts stay shared with this host)."""

    root: Path
    address: str = "127.0.0.1"
    netns: str | None = None
    procs: list[Proc] = field(default_factory=list)
    server: str = ""
    kubeconfig: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def wrap(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv] if self.netns else argv

    def start(self, name: str, args: list[str], ready, timeout: float = 120, program: Path | None = None) -> Proc:
        t0 = time.monotonic()
        proc = start(name, self.wrap([str(program or TOOLS_BIN / name), *args]), self.root, ready, timeout=timeout)
        self.procs.append(proc)
        self.timings[name] = time.monotonic() - t0
        return proc

    def ready(self, path: str = "/readyz") -> Callable[[], bool]:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")

        def check() -> bool:
            try:
                with urllib.request.urlopen(self.server + path, context=ctx, timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False
        return check

    def up(self, extra_args: tuple[str, ...] = ()) -> ApiServer:
        self.root.mkdir(parents=True, exist_ok=True)
        make_pki(self.pki, (self.address, "127.0.0.1"))
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        self.server = f"https://{self.address}:{api_port}"
        self.kubeconfig = kubeconfig(self.root / "admin.kubeconfig", self.server, self.pki)
        self.start("etcd", [
            "--name=llmstack", f"--data-dir={self.root / 'etcd'}", "--unsafe-no-fsync",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}", f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=llmstack=http://127.0.0.1:{peer_port}", "--log-level=warn"],
            # inside a namespace its loopback is not this host's: the API server's readiness waits for it
            http_ok(etcd_port, "/health") if not self.netns else lambda: True, timeout=60)
        pki = self.pki
        self.start("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}", f"--bind-address={self.address}",
            f"--advertise-address={self.address}",
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
            # logs and exec of pods on a real node: the API server calls its kubelet with this certificate
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}", "--kubelet-preferred-address-types=InternalIP",
            "--enable-aggregator-routing=true", "--profiling=false", *extra_args],
            self.ready(), timeout=180)
        return self

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run([str(TOOLS_BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def down(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(15)
        self.procs.clear()


class Throwaway:
    """An API server for one command, in a temporary folder, removed afterwards."""

    def __enter__(self) -> ApiServer:
        self._dir = tempfile.mkdtemp(prefix="llmstack-apiserver-")
        self.api = ApiServer(Path(self._dir))
        try:
            return self.api.up()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc) -> None:
        self.api.down()
        shutil.rmtree(self._dir, ignore_errors=True)
