"""Session fixtures shared by every tier."""

from __future__ import annotations

import subprocess

import pytest

from llmstack.crd_schema import load_crds
from llmstack.paths import ROOT, crds_dir
from servingkit import MODELS, SERVING_PYTHON


@pytest.fixture(scope="session")
def crds():
    """The real KubeRay CRDs (`make crds`: the pinned ray-operator module), every served version."""
    return load_crds(crds_dir())


@pytest.fixture(scope="session")
def serving_python():
    if not SERVING_PYTHON.exists():
        pytest.fail(f"{SERVING_PYTHON} is missing: run `make setup` (scripts/setup-serving.sh builds it)")
    return SERVING_PYTHON


def build_model(serving_python, size: str):
    out = MODELS / size
    subprocess.run([str(serving_python), str(ROOT / "scripts" / "build_tiny_model.py"), str(out), "--size", size],
                   check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def tiny_model(serving_python):
    """A 3.3 M-parameter random Llama + BPE tokenizer with a chat template, built offline (cached)."""
    return build_model(serving_python, "tiny")


@pytest.fixture(scope="session")
def realistic_model(serving_python):
    """The same at ~60 M parameters: several ms of engine compute per token, where a test needs the engine,
    not its Python clients, to be the bottleneck."""
    return build_model(serving_python, "realistic")


