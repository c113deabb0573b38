"""The RayService (rayservice.yaml): worker groups and GPUs, the head, Ray Serve autoscaling, direct streaming, auth."""

from __future__ import annotations

import json

import pytest
import yaml

from chartkit import PROFILE_IDS, by_kind, of_models, profile, render, worker_group
from llmstack.paths import PROFILES as PROFILE_DIR

pytestmark = pytest.mark.chart


def test_405b_multinode_worker_group_is_two_pods_of_eight_gpus():
    (rs,) = by_kind(profile("h100-405b-multinode"), "RayService")
    group = worker_group(rs)
    assert group["numOfHosts"] == 2
    assert group["minReplicas"] == group["maxReplicas"] == 1
    (worker,) = group["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert worker["resources"]["requests"]["nvidia.com/gpu"] == 8
    assert group["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    model = serve["applications"][0]["args"]["models"][0]
    assert (model["tensorParallelSize"], model["pipelineParallelSize"], model["gpus"]) == (8, 2, 16)


def test_tp4_profile_puts_four_gpus_in_one_worker_pod():
    (rs,) = by_kind(profile("a100-70b-tp4"), "RayService")
    group = worker_group(rs)
    assert group["numOfHosts"] == 1
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_a_gpu_share_packs_its_replicas_onto_worker_pods_of_one_whole_gpu(tmp_path):
    """gpus: 0.25 -- Ray Serve replicas of a quarter GPU, four to a worker pod that holds one GPU (tolerating the
    GPU taint), worker counts rounded up, and the disruption budget counted in those pods."""
    objs = profile("a100-7b-quarter")
    (rs,) = by_kind(objs, "RayService")
    group = worker_group(rs)
    assert group["groupName"] == "gpu" and group["numOfHosts"] == 1
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (8, 8, 8)  # 32 replicas / 4
    spec = group["template"]["spec"]
    (worker,) = spec["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == worker["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    (model,) = yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"][0]["args"]["models"]
    assert model["gpus"] == 0.25 and model["vllm"]["gpuMemoryUtilization"] == 0.9  # the image scales it
    (pdb,) = of_models(objs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 7
    values = tmp_path / "v.yaml"
    values.write_text(yaml.safe_dump({"models": [{"name": "m", "source": "hf://o/m", "gpus": 0.5,
                                                  "autoscaling": {"minReplicas": 3, "maxReplicas": 9}}]}))
    group = worker_group(by_kind(render(values), "RayService")[0])
    assert (group["minReplicas"], group["maxReplicas"]) == (2, 5)  # 3 and 9 replicas, two to a pod


def test_incremental_upgrade_renders_kuberays_options_and_routes_the_gateway_through_kuberays_gateway(tmp_path):
    """NewClusterWithIncrementalUpgrade: KubeRay's clusterUpgradeOptions (the surge by default one worker pod of
    minReplicas, the traffic step the same), and the llm-gateway sending the model's traffic to KubeRay's Gateway,
    which follows the upgrade, instead of the model's Service, which does not."""
    values = tmp_path / "v.yaml"
    values.write_text(yaml.safe_dump({
        "gateway": {"enabled": True, "keys": {"existingSecret": "keys"}},
        "models": [{"name": "m", "source": "hf://o/m", "gpus": 1, "autoscaling": {"minReplicas": 3, "maxReplicas": 6},
                    "ray": {"upgradeStrategy": "NewClusterWithIncrementalUpgrade", "incrementalUpgrade": {
                        "gatewayClassName": "istio", "backendUrl": "http://llm-llm-stack-m-gateway-istio.llm.svc"}}}]}))
    objs = render(values)
    (rs,) = by_kind(objs, "RayService")
    assert rs["spec"]["upgradeStrategy"] == {"type": "NewClusterWithIncrementalUpgrade", "clusterUpgradeOptions": {
        "gatewayClassName": "istio", "maxSurgePercent": 34, "stepSizePercent": 34, "intervalSeconds": 60}}
    assert rs["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is True
    config = next(c for c in by_kind(objs, "ConfigMap") if "gateway.yaml" in c["data"])
    (route,) = yaml.safe_load(config["data"]["gateway.yaml"])["routes"]
    assert [b["url"] for b in route["backends"]] == ["http://llm-llm-stack-m-gateway-istio.llm.svc"]
    default = by_kind(profile("a100-70b-tp4"), "RayService")[0]["spec"]["upgradeStrategy"]
    assert default == {"type": "NewCluster"}


def test_ray_head_holds_no_gpu_and_no_replicas():
    for name in PROFILE_IDS:
        for rs in by_kind(profile(name), "RayService"):
            head = rs["spec"]["rayClusterConfig"]["headGroupSpec"]
            assert head["rayStartParams"]["num-cpus"] == "0"
            assert "nvidia.com/gpu" not in json.dumps(head["template"]["spec"]["containers"])


def test_ray_token_authentication_is_on_by_default():
    for name in PROFILE_IDS:
        for rs in by_kind(profile(name), "RayService"):
            assert rs["spec"]["rayClusterConfig"]["authOptions"] == {"mode": "token"}
    objs = render(PROFILE_DIR / "cpu-tiny.yaml", extra=("models[0].ray.authentication=disabled",))
    assert "authOptions" not in by_kind(objs, "RayService")[0]["spec"]["rayClusterConfig"]


def test_ray_serve_autoscaling_and_worker_bounds_follow_the_values():
    (rs,) = by_kind(profile("a100-70b-tp4"), "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    deployment = serve["applications"][0]["args"]["models"][0]["deploymentConfig"]
    assert deployment["max_ongoing_requests"] == 96
    assert deployment["autoscaling_config"] == {
        "min_replicas": 1, "initial_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 32,
        "upscale_delay_s": 30, "downscale_delay_s": 1200}
    cluster = rs["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["autoscalerOptions"]["idleTimeoutSeconds"] == 600
    group = worker_group(rs)
    assert (group["minReplicas"], group["maxReplicas"]) == (1, 3)
    assert rs["spec"]["upgradeStrategy"]["type"] == "NewCluster"


def test_direct_streaming_is_the_default_on_every_ray_pod_and_off_when_asked():
    def ray_env(objs) -> list[dict]:
        (rs,) = by_kind(objs, "RayService")
        cluster = rs["spec"]["rayClusterConfig"]
        pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
        return [{e["name"]: e.get("value") for e in c.get("env", [])}
                for pod in pods for c in pod["template"]["spec"]["containers"] if c["name"].startswith("ray-")]

    flags = {"RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING", "RAY_SERVE_THROUGHPUT_OPTIMIZED"}
    on = ray_env(profile("cpu-tiny"))
    assert len(on) == 2 and all({k: env.get(k) for k in flags} == dict.fromkeys(flags, "1") for env in on)
    off = ray_env(render(PROFILE_DIR / "cpu-tiny.yaml", extra=("modelDefaults.ray.directStreaming=false",)))
    assert len(off) == 2 and not any(flags & set(env) for env in off)


def test_fixed_size_ray_model_runs_without_the_autoscaler():
    (rs,) = by_kind(profile("h100-405b-multinode"), "RayService")
    assert rs["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is False
    assert "autoscalerOptions" not in rs["spec"]["rayClusterConfig"]
    assert rs["spec"]["upgradeStrategy"]["type"] == "None"
