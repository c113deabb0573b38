"""The `llmstack` CLI as a user runs it: real process, real helm, exit codes scripts can trust."""

from __future__ import annotations

import subprocess
import sys

from llmstack.paths import PROFILES, ROOT


def llmstack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmstack.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_check_prints_what_would_be_installed_and_exits_zero():
    proc = llmstack("check", "-f", str(PROFILES / "h100-405b-multinode.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "model llama-3.1-405b-instruct: engine=ray, 16 GPU per replica over 2 pod(s)" in proc.stdout
    assert "1 by ray-serve" in proc.stdout and proc.stdout.rstrip().endswith("OK")


def test_render_summary_counts_objects_by_kind():
    proc = llmstack("render", "--summary", "-f", str(PROFILES / "multi-model.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "2 Deployment" in proc.stdout and "1 RayService" in proc.stdout  # the vllm model and the gateway
    assert "namespaces: llm" in proc.stdout


def test_bad_values_exit_2_with_helms_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image:\n  tag: latest\n")
    proc = llmstack("render", "-f", str(bad))
    assert proc.returncode == 2
    assert "image.tag: `latest` is not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_the_commands():
    proc = llmstack("--help")
    assert proc.returncode == 0
    assert "render" in proc.stdout and "check" in proc.stdout
