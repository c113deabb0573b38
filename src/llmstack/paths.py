"""Where the repository's charts, profiles and tools are."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
STACK_CHART = CHARTS / "llm-stack"
GATEWAY_CHART = CHARTS / "llm-gateway"
PROFILES = ROOT / "values"
TOOLS_BIN = ROOT / ".tools" / "bin"


def crds_dir() -> Path:
    """The verified KubeRay CRDs (llmstack.crds): $LLMSTACK_CRDS or the folder `llmstack crds` fills."""
    from llmstack import crds

    return crds.find()


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
