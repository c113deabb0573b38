"""Every profile renders with the real helm for each supported Kubernetes version, with the optional CRD
groups on and off, and every object passes the real schemas: Kubernetes (strict), the KubeRay CRDs
(+ CEL rules) and Ray Serve's ServeDeploySchema for serveConfigV2."""

from __future__ import annotations

import pytest

from chartkit import KUBE_VERSIONS, PROFILE_IDS, PROFILES, render
from llmstack import helm
from llmstack.check import check_manifests
from llmstack.paths import GATEWAY_CHART, STACK_CHART

pytestmark = pytest.mark.chart

# custom kinds with no schema available offline here; rendered only with the optional CRD groups on
KINDS_WITHOUT_SCHEMA = {"PodMonitor", "ServiceMonitor", "PrometheusRule", "HTTPRoute", "ScaledObject"}


def test_there_are_the_five_profiles():
    assert {"cpu-tiny", "l4-8b", "a100-70b-tp4", "h100-405b-multinode", "multi-model"} <= set(PROFILE_IDS)


@pytest.mark.parametrize("with_crds", [False, True], ids=["plain-cluster", "with-crds"])
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_profile_renders_and_validates(profile, kube_version, with_crds, crds):
    objs = list(render(profile, kube_version, with_crds))
    report = check_manifests(objs, kube_version, crds)
    assert report.ok, "\n".join(report.problems)
    assert report.checked.get("kubernetes", 0) >= 4
    unchecked_kinds = {name.split("/")[0] for name in report.unchecked}
    assert unchecked_kinds <= KINDS_WITHOUT_SCHEMA, f"custom kinds nobody validated: {unchecked_kinds}"
    if not with_crds:
        assert not unchecked_kinds, "optional CRD kinds must not render on a plain cluster"
    if report.unchecked:
        print(f"not schema-checked (no offline schema for these CRDs): {report.unchecked}")
    rayservices = [o for o in objs if o["kind"] == "RayService"]
    assert report.checked.get("ray-serve", 0) == len(rayservices)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_chart_defaults_render_and_validate(kube_version, crds):
    report = check_manifests(list(render(None, kube_version)), kube_version, crds)
    assert report.ok, "\n".join(report.problems)


def test_gateway_subchart_renders_and_validates_when_enabled(crds):
    objs = list(render(PROFILES[0], "1.35.0", True, ("gateway.enabled=true", "gateway.keys.existingSecret=k")))
    gateway = [o for o in objs if o["metadata"]["labels"].get("app.kubernetes.io/component") == "gateway"]
    assert {o["kind"] for o in gateway} == {"ConfigMap", "Deployment", "Service", "ServiceAccount",
                                            "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
                                            "ServiceMonitor"}
    report = check_manifests(objs, "1.35.0", crds)
    assert report.ok, "\n".join(report.problems)


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
def test_helm_lint_strict_passes(profile):
    report = helm.lint([profile], kube_version="1.35.0")
    assert "0 chart(s) failed" in report


def test_helm_lint_strict_passes_for_the_gateway_chart(tmp_path):
    values = tmp_path / "gateway.yaml"
    values.write_text("keys: {existingSecret: k}\nconfig: {routes: [{model: m, backends: [{url: 'http://m:8000'}]}]}\n")
    assert "0 chart(s) failed" in helm.lint([values], chart=GATEWAY_CHART)


def test_chart_metadata():
    import yaml

    chart = yaml.safe_load((STACK_CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    major, minor, patch = chart["version"].split(".")
    assert all(part.isdigit() for part in (major, minor, patch))
    assert chart["appVersion"] != "latest"
