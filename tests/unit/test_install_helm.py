"""scripts/install_helm.py: binaries are checksum-verified before they are installed."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from llmstack.paths import ROOT, helm_binary


@pytest.fixture(scope="module")
def install_helm():
    spec = importlib.util.spec_from_file_location("install_helm", ROOT / "scripts" / "install_helm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tampered_binary_is_refused(install_helm, tmp_path, monkeypatch):
    monkeypatch.setattr(install_helm, "BIN", tmp_path)
    with pytest.raises(SystemExit, match="sha256 mismatch for helm/helm"):
        install_helm.install({"helm/helm": b"not the real helm"})
    assert not (tmp_path / "helm").exists()


def test_installed_helm_is_v4():
    out = subprocess.run([helm_binary(), "version", "--template", "{{.Version}}"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("v4.")
