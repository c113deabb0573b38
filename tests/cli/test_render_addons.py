"""`llmstack render` and `llmstack addons` on the real profiles, with the real helm (through pyhelm3)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from llmstack import addons, helm, manifests
from llmstack.paths import PROFILES, ROOT, STACK_CHART
from llmstack.values import coalesced

pytestmark = pytest.mark.chart


def llmstack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmstack.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_render_writes_one_file_per_object_equal_to_helms_output(tmp_path):
    profile = PROFILES / "multi-model.yaml"
    proc = llmstack("render", "-f", str(profile), "--kube-version", "1.33.0", "--output-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("*.yaml"))
    assert [str(f) for f in files] == proc.stdout.split()
    written = [yaml.safe_load(f.read_text()) for f in files]
    rendered = [o for o in yaml.safe_load_all(helm.template([profile], kube_version="1.33.0")) if o]
    assert written == rendered
    assert all(len(list(yaml.safe_load_all(f.read_text()))) == 1 for f in files)


def test_addons_for_a_mixed_release_follow_its_models(tmp_path):
    proc = llmstack("addons", "values", "-f", str(PROFILES / "multi-model.yaml"), "--output-dir", str(tmp_path),
                    "--prometheus-url", "http://prom.monitoring.svc")
    assert proc.returncode == 0, proc.stderr
    made = {p.stem: yaml.safe_load(p.read_text()) for p in tmp_path.glob("*.yaml")}
    assert set(made) == {"kuberay-operator", "prometheus-adapter", "ingress-nginx", "grafana"}
    # the adapter's rule is the generated one; only the Prometheus URL is the release's
    assert made["prometheus-adapter"]["rules"] == addons.prometheus_adapter_values()["rules"]
    assert made["prometheus-adapter"]["prometheus"]["url"] == "http://prom.monitoring.svc"
    # Grafana's sidecar watches the label the chart puts on its dashboard ConfigMaps
    chart = yaml.safe_load((STACK_CHART / "values.yaml").read_text())["dashboards"]
    sidecar = made["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == (chart["label"], chart["labelValue"])
    # each file says how to install it, with the pinned chart version
    text = (tmp_path / "kuberay-operator.yaml").read_text()
    assert "--version 1.6.1" in text and "kuberay-operator" in text


def test_keda_replaces_the_adapter_when_models_ask_for_it(tmp_path):
    values = tmp_path / "keda.yaml"
    values.write_text("models:\n  - name: m\n    source: hf://org/m\n    engine: vllm\n    gpus: 1\n"
                      "    coldStartSeconds: 60\n    autoscaling: {provider: keda, minReplicas: 1, maxReplicas: 3, "
                      "scaleDownStabilizationSeconds: 60}\n")
    rendered = manifests.parse(helm.template([values], api_versions=helm.OPTIONAL_API_VERSIONS))
    wanted = addons.for_release(coalesced([values]), manifests.model_facts(rendered))
    assert "keda" in wanted and "prometheus-adapter" not in wanted and "kuberay-operator" not in wanted


def test_the_operators_incremental_upgrade_gate_is_on_only_for_a_release_that_asks_for_it(tmp_path):
    values = tmp_path / "incremental.yaml"
    values.write_text(yaml.safe_dump({"models": [{"name": "m", "source": "hf://org/m", "gpus": 1,
                                                  "autoscaling": {"minReplicas": 1, "maxReplicas": 2},
                                                  "ray": {"upgradeStrategy": "NewClusterWithIncrementalUpgrade",
                                                          "incrementalUpgrade": {"gatewayClassName": "istio"}}}]}))
    for path, gates in ((values, [{"name": "RayServiceIncrementalUpgrade", "enabled": True}]),
                        (PROFILES / "a100-70b-tp4.yaml", None)):
        rendered = manifests.parse(helm.template([path], api_versions=helm.OPTIONAL_API_VERSIONS))
        wanted = addons.for_release(coalesced([path]), manifests.model_facts(rendered))
        assert wanted["kuberay-operator"].get("featureGates") == gates, path.name


def test_addons_install_dry_run_lists_pinned_releases_and_contacts_nothing():
    proc = llmstack("addons", "install", "-f", str(PROFILES / "a100-70b-tp4.yaml"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("kuberay-operator: helm upgrade --install kuberay-operator kuberay-operator --repo "
                               "https://ray-project.github.io/kuberay-helm/ --version 1.6.1")
    assert all("--atomic --wait" in line for line in lines)


def test_help_everywhere():
    for command in ("validate", "size", "render", "check", "addons", "loadtest", "demo", "crds"):
        proc = llmstack(command, "--help")
        assert proc.returncode == 0 and "usage: llmstack " + command in proc.stdout
