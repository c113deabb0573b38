"""`llmstack validate` asks a real API server: mistakes that only the server knows (label syntax, env entries,
volume names, tolerations...) come back keyed to the values that produced them, from a throwaway local API
server with the KubeRay CRDs, or from the user's own cluster with --kube-context."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from llmstack.paths import PROFILES, ROOT, profiles

pytestmark = pytest.mark.cluster


def validate(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "llmstack.cli", "validate", "--output", "json", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.stem)
def test_every_profile_passes_the_local_api_server(profile):
    code, report = validate("-f", str(profile), "--dry-run", "local", "--strict")
    assert code == 0, report
    assert report["serverCheck"].startswith("a throwaway local API server")


MISTAKES = {
    "models[0].podLabels": {"podLabels": {"team name": "inference"}},
    "models[0].extraEnv": {"extraEnv": [{"name": "HF=1", "value": "x"}]},
    "models[0].extraVolumes": {"extraVolumes": [{"name": "Scratch_Space", "emptyDir": {}}]},
    "models[0].tolerations": {"tolerations": [{"key": "gpu", "operator": "Equal", "effect": "NoExecutee"}]},
    "models[0].nodeSelector": {"nodeSelector": {"pool": "a100 spot"}},
}


@pytest.mark.parametrize("key", MISTAKES)
def test_what_only_the_api_server_refuses_names_the_values_key(tmp_path, key):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"models": [{"name": "m", "source": "hf://org/m", "engine": "vllm",
                                                  **MISTAKES[key]}]}))
    code, report = validate("-f", str(values), "--dry-run", "local")
    assert code == 1, report
    keyed = [e for e in report["errors"] if e["key"] == key]
    assert keyed, report["errors"]
    assert keyed[0]["message"].startswith("the API server refuses Deployment/llm-llm-stack-m: spec.template.")


def test_pods_of_a_rayservice_are_judged_too(tmp_path):
    """A CRD's schema does not validate pod templates: llmstack asks the server about the pods KubeRay would
    make from them."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"models": [{"name": "r", "source": "hf://org/r", "engine": "ray", "gpus": 0,
                                                  "extraEnv": [{"name": "HF=1", "value": "x"}],
                                                  "ray": {"headNodeSelector": {"pool": "system pool"}}}]}))
    code, report = validate("-f", str(values), "--dry-run", "local")
    assert code == 1
    by_key = {e["key"]: e["message"] for e in report["errors"]}
    assert set(by_key) == {"models[0].extraEnv", "models[0].ray.headNodeSelector"}, report["errors"]
    assert by_key["models[0].extraEnv"].startswith(
        "the API server refuses the pod llm-llm-stack-r-head of RayService/llm-llm-stack-r (and 1 more object(s)): "
        "spec.containers[0].env[")


def test_release_level_mistakes_name_their_keys(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"commonLabels": {"cost-center": "ml platform"}}))
    code, report = validate("-f", str(values), "--dry-run", "local")
    assert code == 1
    assert {e["key"] for e in report["errors"]} == {"commonLabels"}, report["errors"]


def test_the_users_cluster_judges_with_kube_context(cluster):
    cluster.kubectl("create", "namespace", "dry-run-target")
    base = ("-f", str(PROFILES / "l4-8b.yaml"), "--kubeconfig", str(cluster.kubeconfig),
            "--kube-context", "llmstack-local")
    code, report = validate(*base, "-n", "dry-run-target")
    assert code == 0 and report["serverCheck"] == "cluster llmstack-local", report
    # nothing was created: it was a dry-run
    assert not json.loads(cluster.kubectl("get", "all", "-n", "dry-run-target", "-o", "json"))["items"]
    code, report = validate(*base, "-n", "not-there")
    assert code == 0 and report["warnings"][0]["key"] == "--namespace", report
