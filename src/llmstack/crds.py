"""The KubeRay CRDs that rendered RayServices are checked against, pinned by release and sha256.

They come from a package registry, never from outside the repository: the `ray-operator` Go module (the one
the cluster tier builds the operator from) carries them under `config/crd/bases/`, and envtest setups take
CRDs from the module cache the same way. Where Go is missing, the same files can be downloaded from the
release tag on GitHub; either way every file is checked against its sha256 before it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from llmstack.paths import ROOT

KUBERAY_VERSION = "1.6.1"
MODULE = "github.com/ray-project/kuberay/ray-operator"
# sha256 of the unmodified files of ray-operator v1.6.1 (config/crd/bases/); the chart renders RayServices (and
# through them RayClusters), and the operator watches RayJobs and RayCronJobs too: it stops without their CRDs
FILES = {
    "ray.io_rayclusters.yaml": "1d51d8c4ce065b22c2069af0ebd72ae25f4a6968e5c5f93a3106ba6fc35bcc1d",
    "ray.io_rayservices.yaml": "95c639acc20ecc3cfa425d5ad0f8a7c152a336bc16d2e0deec17b62005e67fda",
    "ray.io_rayjobs.yaml": "ecae45d9a5dc1be68f1074ba784c495ef9d439d295253b61e1bd51f7b08522f5",
    "ray.io_raycronjobs.yaml": "6d0ae6c24a2b2a6c0796c6775cd72f3e894831ff3b89379613e93c4d55965cd5",
}
RELEASE_URL = "https://raw.githubusercontent.com/ray-project/kuberay/v{version}/ray-operator/config/crd/bases/{file}"
# the repository's pinning module for the operator build (its go.mod pins the same version)
PIN_MODULE = ROOT / "tools" / "kuberay"
MODULE_CACHE = ROOT / ".tools" / "go" / "crds-modules"  # the ray-operator module alone (a few MB)


@dataclass(frozen=True)
class CrdSet:
    """Pinned CRD files inside a Go module: where they are, and the sha256 of each."""

    module: str
    version: str
    subdir: str
    files: dict[str, str]
    release_url: str


KUBERAY = CrdSet(MODULE, KUBERAY_VERSION, "config/crd/bases", FILES, RELEASE_URL)
# The Gateway API's standard channel at the version ray-operator v1.6.1 builds against (tools/kuberay/go.mod):
# KubeRay's incremental upgrade creates Gateways and HTTPRoutes, so the cluster tier serves these kinds
_GW = "gateway.networking.k8s.io_"
GATEWAY_API = CrdSet("sigs.k8s.io/gateway-api", "1.4.1", "config/crd/standard", {
    f"{_GW}gatewayclasses.yaml": "7d958ad3965ea4a4996616846d9ecaf1fededbf9351b9752b8b85973936ae8c8",
    f"{_GW}gateways.yaml": "a02ea425fc901f197b668c9ddd56375e1f6896994914c6e6b9b4fdb85cf3ba6e",
    f"{_GW}httproutes.yaml": "98c6777c22309d319292e9c288ee632006c9ffdd4272383d6f9dffa3fbccaf14",
    f"{_GW}grpcroutes.yaml": "b72068b42cb32051ca609e5a8dfefb16904d164abe2e71d9f3c776fae41c4dab",
    f"{_GW}referencegrants.yaml": "d74fc2f8e90094f4c4d6dc13a2d720011a40e30e5640b3e2a2051fac820f6584",
}, "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v{version}/config/crd/standard/{file}")


class CrdsMissing(FileNotFoundError):
    """The CRDs are not installed (or do not match their pins); the message says how to get them."""


def default_dir() -> Path:
    """.tools/crds in a checkout; the user's cache for an installed CLI."""
    if PIN_MODULE.is_dir():
        return ROOT / ".tools" / "crds"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "llmstack" / "crds" / KUBERAY_VERSION


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verified(folder: Path, crd_set: CrdSet = KUBERAY) -> bool:
    return all((folder / name).is_file() and sha256(folder / name) == digest for name, digest in crd_set.files.items())


def how_to() -> str:
    urls = " and ".join(RELEASE_URL.format(version=KUBERAY_VERSION, file=f) for f in FILES)
    return (f"the KubeRay v{KUBERAY_VERSION} CRDs are not installed: run `llmstack crds` (or `make crds` in a "
            f"checkout), which takes them from the Go module {MODULE}@v{KUBERAY_VERSION} (needs Go) or, with "
            f"--download, from {urls}, each checked by sha256; or set LLMSTACK_CRDS to a folder holding "
            f"{' and '.join(FILES)}")


def find() -> Path:
    """The folder of verified CRDs: $LLMSTACK_CRDS (taken as given) or the default one."""
    given = os.environ.get("LLMSTACK_CRDS")
    if given:
        if not all((Path(given) / name).is_file() for name in FILES):
            raise CrdsMissing(f"LLMSTACK_CRDS={given} does not hold {' and '.join(FILES)}")
        return Path(given)
    folder = default_dir()
    if not verified(folder):
        raise CrdsMissing(how_to())
    return folder


def _go_env() -> dict[str, str]:
    env = dict(os.environ, GOFLAGS="-modcacherw", GOTOOLCHAIN="local")
    if PIN_MODULE.is_dir() and "GOMODCACHE" not in os.environ:  # in a checkout: a project-local module cache
        env["GOMODCACHE"] = str(MODULE_CACHE)
    return env


def module_dir(crd_set: CrdSet = KUBERAY) -> Path:
    """Download the pinned module (a zip from the Go module proxy) and return its CRD folder."""
    go = shutil.which("go")
    if not go:
        raise CrdsMissing("Go is not installed, so the ray-operator module cannot be downloaded: install Go, "
                          "or run `llmstack crds --download` where GitHub is reachable")
    with tempfile.TemporaryDirectory() as scratch:  # outside any module: the version is the one given
        proc = subprocess.run([go, "mod", "download", "-json", f"{crd_set.module}@v{crd_set.version}"],
                              cwd=scratch, env=_go_env(), capture_output=True, text=True, timeout=600)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise CrdsMissing(f"go mod download {crd_set.module}@v{crd_set.version} failed: "
                          f"{info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"]) / crd_set.subdir


def _install_file(data: bytes, name: str, dest: Path, crd_set: CrdSet = KUBERAY) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != crd_set.files[name]:
        raise CrdsMissing(f"{name}: sha256 {digest} is not the pinned {crd_set.files[name]}: refusing it")
    tmp = dest / (name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest / name)


def install(dest: Path | None = None, download: bool = False, crd_set: CrdSet = KUBERAY) -> Path:
    """Put the verified CRDs into dest (default_dir()), from the Go module or, with download, from GitHub."""
    dest = dest or default_dir()
    if verified(dest, crd_set):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    source = None if download else module_dir(crd_set)
    for name in crd_set.files:
        if source is not None:
            data = (source / name).read_bytes()
        else:
            with urllib.request.urlopen(crd_set.release_url.format(version=crd_set.version, file=name),
                                        timeout=60) as r:
                data = r.read()
        _install_file(data, name, dest, crd_set)
    return dest


def gateway_api() -> Path:
    """The verified Gateway API CRDs (standard channel), fetched on first use into default_dir()/gateway-api."""
    return install(default_dir() / "gateway-api", crd_set=GATEWAY_API)
