"""`llmstack validate` as a user runs it (real process, real helm): every profile passes, and each broken
values file of the catalogue (tests/bad_values) produces exactly the error its first line names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chartkit import BAD_VALUES, bad_values_expectations
from llmstack.paths import ROOT, profiles

pytestmark = pytest.mark.chart
BAD = BAD_VALUES


def llmstack(*args: str) -> subprocess.CompletedProcess:
    """The CLI; `validate` without its server-side dry-run, which the cluster tier tests (test_server_dry_run)."""
    if args[:1] == ("validate",) and "--dry-run" not in args:
        args = (*args, "--dry-run", "off")
    return subprocess.run([sys.executable, "-m", "llmstack.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_there_are_at_least_fifteen_broken_files():
    assert len(BAD) >= 15


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.name)
def test_every_profile_is_valid_without_warnings(profile):
    proc = llmstack("validate", "-f", str(profile), "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(f"0 error(s), 0 warning(s) in {profile}")


@pytest.mark.parametrize("bad", BAD, ids=lambda p: p.stem)
def test_a_broken_file_gets_its_exact_error(bad):
    proc = llmstack("validate", "-f", str(bad), "--output", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    key, message, _ = bad_values_expectations(bad)
    assert not report["valid"]
    assert {"level": "error", "key": key, "message": message} in report["errors"], report["errors"]
    assert "Traceback" not in proc.stderr and "template:" not in proc.stdout  # no Go template stack


def test_text_output_names_key_and_fix_and_warnings_are_separate(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("models:\n  - name: llama\n    source: hf://org/llama\n    engine: vllm\n    gpus: 1\n"
                      "    rollout: {maxSurge: 1}\n    tensorParallelSize: 1\n")
    proc = llmstack("validate", "-f", str(values))
    assert proc.returncode == 0, proc.stdout  # a warning alone does not fail
    assert proc.stdout.startswith("WARNING models[0].rollout.maxSurge: 1 extra pod(s) of 1 GPU(s) each")
    assert llmstack("validate", "-f", str(values), "--strict").returncode == 1


def test_later_files_win_like_helm(tmp_path):
    fix = tmp_path / "fix.yaml"
    fix.write_text("models:\n  - name: llama\n    source: hf://org/llama\n    engine: vllm\n")
    assert llmstack("validate", "-f", str(BAD[1]), "-f", str(fix)).returncode == 0


def test_missing_file_and_no_file_are_reported_not_raised(tmp_path):
    proc = llmstack("validate", "-f", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1 and f"ERROR {tmp_path / 'nope.yaml'}: file not found: check the path" in proc.stdout
    proc = llmstack("validate")
    assert proc.returncode == 2 and "give at least one values file with -f" in proc.stderr


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.name)
def test_size_reads_every_profile_and_its_gpu_models_fit(profile):
    proc = llmstack("size", "-f", str(profile), "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and all(r.get("fits", True) for r in rows)
    # the GPU profiles name a known model and a GPU product label, so they are sized for real
    if "tiny" not in profile.name and "multi" not in profile.name:
        assert all(r.get("kv_tokens", 0) >= r.get("max_model_len", 1) for r in rows), rows


def test_set_and_release_are_validated_as_helm_applies_them():
    """Terraform users validate exactly what they apply: --set, --set-string and the real release name."""
    profile = str(ROOT / "values" / "cpu-tiny.yaml")
    proc = llmstack("validate", "-f", profile, "--release", "platform-team-inference-prod", "--output", "json")
    assert proc.returncode == 1, proc.stdout
    (error,) = json.loads(proc.stdout)["errors"]
    assert error["key"] == "models[0].name"
    assert '"platform-team-inference-prod-llm-stack-smollm2-135m-instruct"' in error["message"]
    assert "KubeRay takes at most 40 for a RayService" in error["message"]
    assert error["message"].endswith("use a shorter release name or set fullnameOverride (the model name stays its "
                                     "public id)")
    assert llmstack("validate", "-f", profile, "--release", "platform-team-inference-prod",
                    "--set", "fullnameOverride=llm").returncode == 0
    # --set coalesces like helm's (a number), --set-string keeps the text
    proc = llmstack("validate", "-f", profile, "--set", "ingress.host=https://llm.example.com", "--output", "json")
    assert {"level": "error", "key": "ingress.host", "message": '"https://llm.example.com" is a URL: give the host '
            'name only, e.g. ingress.host: llm.example.com'} in json.loads(proc.stdout)["errors"]
    assert llmstack("validate", "-f", profile, "--set-string", "image.tag=1.10").returncode == 0
    proc = llmstack("validate", "-f", profile, "--set", "models[0].autoscaling.maxReplicas=many", "--output", "json")
    assert json.loads(proc.stdout)["errors"][0]["key"] == "models[0].autoscaling.maxReplicas"
    proc = llmstack("validate", "-f", profile, "--set", "models[x]=1")
    assert proc.returncode == 1 and proc.stdout.startswith("ERROR --set:"), proc.stdout


def test_name_limits_apply_where_they_hold(tmp_path):
    """KubeRay's 40 characters bind RayService names only; a Deployment's Service takes a DNS label (63)."""
    values = tmp_path / "values.yaml"
    values.write_text("models:\n  - name: meta-llama-3-1-8b-instruct\n    source: hf://org/m\n    engine: vllm\n")
    assert llmstack("validate", "-f", str(values), "--release", "inference-prod").returncode == 0
    values.write_text("models:\n  - name: meta-llama-3-1-8b-instruct\n    source: hf://org/m\n    engine: ray\n")
    proc = llmstack("validate", "-f", str(values), "--release", "inference-prod")
    assert proc.returncode == 1 and "KubeRay takes at most 40" in proc.stdout


def test_a_model_config_json_gives_the_engine_checks_for_unknown_models(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 12,
                                  "num_key_value_heads": 4, "intermediate_size": 8192, "vocab_size": 32000}))
    values = tmp_path / "values.yaml"
    values.write_text("models:\n  - name: house-model\n    source: s3://bucket/house\n    tensorParallelSize: 8\n"
                      "    nodeSelector: {node.kubernetes.io/instance-type: p4de.24xlarge}\n")
    proc = llmstack("validate", "-f", str(values), "--model-config", f"house-model={config}", "--output", "json")
    assert proc.returncode == 1
    assert {"level": "error", "key": "models[0].tensorParallelSize",
            "message": "8 does not divide the 12 attention heads of house-model: vLLM refuses it; use one of 1, 2, 4"
            } in json.loads(proc.stdout)["errors"]
    assert llmstack("validate", "-f", str(values), "--set", "models[0].tensorParallelSize=4",
                    "--model-config", f"house-model={config}").returncode == 0
