"""The vLLM Deployment (deployment.yaml), its HPA (hpa.yaml) and disruption budget (pdb.yaml)."""

from __future__ import annotations

import pytest

from chartkit import PROFILE_IDS, model_configs, of_models, profile, render
from llmstack.paths import PROFILES as PROFILE_DIR

pytestmark = pytest.mark.chart


def test_vllm_deployment_rolls_without_extra_gpus_and_waits_for_the_cold_start():
    (deploy,) = of_models(profile("l4-8b"), "Deployment")
    assert deploy["spec"]["strategy"] == {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # coldStartSeconds of the profile
    assert c["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert "replicas" not in deploy["spec"], "the HPA owns replicas"


def test_config_change_rolls_the_deployment():
    base = of_models(profile("l4-8b"), "Deployment")[0]
    changed = of_models(render(PROFILE_DIR / "l4-8b.yaml", extra=("modelDefaults.vllm.dtype=float16",)),
                        "Deployment")[0]
    key = "checksum/config"
    assert base["spec"]["template"]["metadata"]["annotations"][key] != \
        changed["spec"]["template"]["metadata"]["annotations"][key]


def test_hpa_targets_queue_depth_only_for_vllm_engines():
    objs = profile("multi-model")
    (hpa,) = of_models(objs, "HorizontalPodAutoscaler")
    (deploy,) = of_models(objs, "Deployment")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deploy["metadata"]["name"]}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["target"]["averageValue"] == "4"
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900
    for name in ("cpu-tiny", "a100-70b-tp4", "h100-405b-multinode"):
        assert not of_models(profile(name), "HorizontalPodAutoscaler"), name


def test_every_profile_has_a_disruption_budget_per_model():
    for name in PROFILE_IDS:
        objs = profile(name)
        assert len(of_models(objs, "PodDisruptionBudget")) == len(model_configs(objs)), name
