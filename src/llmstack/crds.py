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


def verified(folder: Path) -> bool:
    return all((folder / name).is_file() and sha256(folder / name) == digest for name, digest in FILES.items())


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


def module_dir() -> Path:
    """Download the pinned ray-operator module (a zip from the Go module proxy) and return its folder."""
    go = shutil.which("go")
    if not go:
        raise CrdsMissing("Go is not installed, so the ray-operator module cannot be downloaded: install Go, "
                          "or run `llmstack crds --download` where GitHub is reachable")
    with tempfile.TemporaryDirectory() as scratch:  # outside any module: the version is the one given
        proc = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@v{KUBERAY_VERSION}"], cwd=scratch,
                              env=_go_env(), capture_output=True, text=True, timeout=600)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise CrdsMissing(f"go mod download {MODULE}@v{KUBERAY_VERSION} failed: "
                          f"{info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"]) / "config" / "crd" / "bases"


def _install_file(data: bytes, name: str, dest: Path) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != FILES[name]:
        raise CrdsMissing(f"{name}: sha256 {digest} is not the pinned {FILES[name]}: refusing it")
    tmp = dest / (name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest / name)


def install(dest: Path | None = None, download: bool = False) -> Path:
    """Put the verified CRDs into dest (default_dir()), from the Go module or, with download, from GitHub."""
    dest = dest or default_dir()
    if verified(dest):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    source = None if download else module_dir()
    for name in FILES:
        if source is not None:
            data = (source / name).read_bytes()
        else:
            with urllib.request.urlopen(RELEASE_URL.format(version=KUBERAY_VERSION, file=name), timeout=60) as r:
                data = r.read()
        _install_file(data, name, dest)
    return dest
