"""Distribution: `make package` output installs from the .tgz (helm install --dry-run=client), Artifact Hub
annotations parse, the chart READMEs carry the generated values tables, and the Terraform example and the
catalog entry agree with the project."""

from __future__ import annotations

import re
import subprocess
import tarfile

import pytest
import yaml

from llmstack import addons, chartdocs
from llmstack.paths import GATEWAY_CHART, PROFILES, ROOT, STACK_CHART, helm_binary

pytestmark = pytest.mark.chart


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(["bash", "scripts/package.sh", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_both_charts_are_packaged_with_their_chart_yaml_versions(packages):
    for chart in (STACK_CHART, GATEWAY_CHART):
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        assert (packages / f"{meta['name']}-{meta['version']}.tgz").is_file()
    with tarfile.open(packages / "llm-stack-0.1.0.tgz") as tgz:
        names = tgz.getnames()
    assert "llm-stack/README.md" in names and "llm-stack/values.schema.json" in names
    assert any(n.startswith("llm-stack/charts/llm-gateway") for n in names), "the gateway subchart is bundled"


@pytest.mark.parametrize("profile", ["cpu-tiny.yaml", "multi-model.yaml"])
def test_the_packaged_chart_installs_with_dry_run_client(packages, profile, tmp_path):
    gateway = ["--set", "gateway.enabled=true", "--set", "gateway.keys.existingSecret=gw-keys"]
    proc = subprocess.run([helm_binary(), "install", "llm", str(packages / "llm-stack-0.1.0.tgz"), "-n", "llm",
                           "--dry-run=client", "-f", str(PROFILES / profile), *gateway], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "STATUS: pending-install" in proc.stdout and "kind: RayService" in proc.stdout
    # the bundled subchart (not the repository's symlink) renders
    assert "# Source: llm-stack/charts/gateway/templates/deployment.yaml" in proc.stdout


@pytest.mark.parametrize("chart", [STACK_CHART, GATEWAY_CHART], ids=["llm-stack", "llm-gateway"])
def test_artifact_hub_annotations_are_yaml_lists(chart):
    annotations = yaml.safe_load((chart / "Chart.yaml").read_text())["annotations"]
    assert annotations["artifacthub.io/license"] == "Apache-2.0"
    for key in ("artifacthub.io/links", "artifacthub.io/images", "artifacthub.io/changes"):
        items = yaml.safe_load(annotations[key])
        assert isinstance(items, list) and items, key
    images = [i["image"] for i in yaml.safe_load(annotations["artifacthub.io/images"])]
    app_version = yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"]
    assert all(i.endswith(":" + app_version) for i in images)


@pytest.mark.parametrize("chart", [STACK_CHART, GATEWAY_CHART], ids=["llm-stack", "llm-gateway"])
def test_readme_values_table_lists_every_param_line(chart):
    readme = (chart / "README.md").read_text()
    assert readme == chartdocs.readme(chart), "README.md is out of date: run `make generate`"
    params = re.findall(r"^\s*## @param (\S+)", (chart / "values.yaml").read_text(), re.M)
    rows = re.findall(r"^\| `([^`]+)` \|", readme, re.M)
    assert rows == params


def test_terraform_example_pins_the_same_add_on_versions_and_its_values_validate(tmp_path):
    main = (ROOT / "examples/terraform/main.tf").read_text()
    pinned = {m.group(1): (m.group(2), m.group(3), m.group(4)) for m in re.finditer(
        r'"([\w-]+)"\s*=\s*\["([^"]+)", "([^"]+)", "([^"]+)", "[^"]+"\]', main)}
    assert pinned == {name: (repo, chart, version) for name, (_, _, repo, chart, version) in addons.CHARTS.items()}
    # the values Terraform passes: the profile, the yamlencode() block, the rendered template
    template = (ROOT / "examples/terraform/gateway.yaml.tftpl").read_text().replace("${keys_secret}", "gw-keys")
    (tmp_path / "gateway.yaml").write_text(template)
    (tmp_path / "inline.yaml").write_text(yaml.safe_dump({"ingress": {"enabled": True, "host": "llm.example.com"},
                                                          "credentials": {"hfToken": {"existingSecret": ""}}}))
    proc = subprocess.run([".venv/bin/llmstack", "validate", "--dry-run", "off", "-f", str(PROFILES / "l4-8b.yaml"),
                           "-f",
                           str(tmp_path / "inline.yaml"), "-f", str(tmp_path / "gateway.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_catalog_entry_names_both_charts():
    entities = list(yaml.safe_load_all((ROOT / "catalog-info.yaml").read_text()))
    components = {e["metadata"]["name"] for e in entities if e["kind"] == "Component"}
    assert components == {"llm-stack", "llm-gateway"}
    assert all(e["apiVersion"] == "backstage.io/v1alpha1" and e["spec"]["owner"] for e in entities)
