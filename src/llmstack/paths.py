"""Where the repository's charts, profiles and tools are."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
STACK_CHART = CHARTS / "llm-stack"
GATEWAY_CHART = CHARTS / "llm-gateway"
PROFILES = ROOT / "values"
TOOLS_BIN = ROOT / ".tools" / "bin"


def crds_dir() -> Path:
    """The KubeRay CRDs: $LLMSTACK_CRDS, ../shared/crds beside the checkout (CI), or .tools/crds (`make crds`)."""
    candidates = [os.environ.get("LLMSTACK_CRDS"), ROOT.parent / "shared" / "crds", ROOT / ".tools" / "crds"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "ray.io_rayservices.yaml").is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "KubeRay CRDs not found: run `make crds` (fetches the pinned v1.7.0 files into .tools/crds) "
        "or set LLMSTACK_CRDS to a folder holding ray.io_rayservices.yaml"
    )


def helm_binary() -> str:
    """The project's helm (.tools/bin/helm, installed by scripts/setup.sh), else a helm on PATH."""
    local = TOOLS_BIN / "helm"
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    if not found:
        raise FileNotFoundError("helm not found: run `make setup` (installs helm v4 into .tools/bin)")
    return found


def profiles() -> list[Path]:
    """Every ready profile under values/ (add-on values live in values/addons/ and are not profiles)."""
    return sorted(PROFILES.glob("*.yaml"))
