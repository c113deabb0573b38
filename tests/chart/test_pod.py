"""Every model pod (_pod.tpl): GPUs and placement, resources, Pod Security, images, tokens, credentials, volumes."""

from __future__ import annotations

import json

import pytest

from chartkit import PROFILE_IDS, by_kind, containers, of_models, pod_specs, profile, render, worker_group
from llmstack.paths import PROFILES as PROFILE_DIR

pytestmark = pytest.mark.chart


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_gpu_limits_equal_requests_and_gpu_pods_tolerate_the_gpu_taint(name):
    for owner, spec in pod_specs(profile(name)):
        for c in spec["containers"]:
            res = c.get("resources", {})
            gpu_limit = res.get("limits", {}).get("nvidia.com/gpu")
            assert gpu_limit == res.get("requests", {}).get("nvidia.com/gpu"), f"{owner}/{c['name']}"
            if gpu_limit:
                keys = {t.get("key") for t in spec.get("tolerations", [])}
                assert "nvidia.com/gpu" in keys, owner


def test_cpu_profile_requests_no_gpu_and_has_no_gpu_toleration():
    for owner, spec in pod_specs(profile("cpu-tiny")):
        for c in containers(spec):
            assert "nvidia.com/gpu" not in json.dumps(c.get("resources", {})), owner
        assert not spec.get("tolerations"), owner


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_container_has_cpu_and_memory_requests(name):
    for owner, spec in pod_specs(profile(name)):
        for c in containers(spec):
            requests = c.get("resources", {}).get("requests", {})
            assert "cpu" in requests and "memory" in requests, f"{owner}/{c['name']}"


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_pod_meets_pod_security_restricted(name):
    for owner, spec in pod_specs(profile(name)):
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", owner
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, f"{owner}/{c['name']}"
            assert sc["capabilities"]["drop"] == ["ALL"], f"{owner}/{c['name']}"
            assert sc["readOnlyRootFilesystem"] is True, f"{owner}/{c['name']}"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert not any("hostPath" in v for v in volumes.values()), owner
    for rs in by_kind(profile(name), "RayService"):
        autoscaler = rs["spec"]["rayClusterConfig"].get("autoscalerOptions")
        if autoscaler:
            assert autoscaler["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_images_are_pinned_and_pulled_if_not_present(name):
    for owner, spec in pod_specs(profile(name)):
        for c in containers(spec):
            assert not c["image"].endswith(":latest") and ":" in c["image"], owner
            assert c["imagePullPolicy"] == "IfNotPresent", owner


def test_global_image_registry_moves_every_image_to_the_mirror():
    """bitnami's convention for air-gapped clusters: one value for every image of the release."""
    objs = render(PROFILE_DIR / "multi-model.yaml", extra=("global.imageRegistry=mirror.corp:5000",
                                                           "gateway.enabled=true", "gateway.keys.existingSecret=k"))
    images = [c["image"] for _, spec in pod_specs(objs) for c in containers(spec)]
    assert len(images) >= 5 and all(i.startswith("mirror.corp:5000/llm-stack/") for i in images), images
    assert any(i.startswith("mirror.corp:5000/llm-stack/gateway:") for i in images)


def test_no_pod_mounts_the_api_token_and_only_the_autoscaler_gets_one():
    for name in PROFILE_IDS:
        objs = profile(name)
        for owner, spec in pod_specs(objs):
            assert spec["automountServiceAccountToken"] is False, owner
            for c in containers(spec):
                assert not any("serviceaccount" in m["mountPath"] for m in c.get("volumeMounts", [])), owner
        for rs in by_kind(objs, "RayService"):
            cluster = rs["spec"]["rayClusterConfig"]
            mounts = (cluster.get("autoscalerOptions") or {}).get("volumeMounts", [])
            volumes = {v["name"]: v for v in cluster["headGroupSpec"]["template"]["spec"]["volumes"]}
            if cluster["enableInTreeAutoscaling"]:
                (mount,) = mounts
                assert mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" and mount["readOnly"]
                sources = volumes[mount["name"]]["projected"]["sources"]
                assert [next(iter(src)) for src in sources] == ["serviceAccountToken", "configMap", "downwardAPI"]
            else:
                assert not mounts and "autoscaler-api-access" not in volumes


def test_vllm_needs_shared_memory_in_ram():
    for owner, spec in pod_specs(profile("multi-model")):
        if owner.endswith("/head") or "gateway" in owner:
            continue
        dshm = next(v for v in spec["volumes"] if v["name"] == "dshm")
        assert dshm["emptyDir"]["medium"] == "Memory", owner
        mounts = {m["mountPath"] for c in spec["containers"] for m in c["volumeMounts"]}
        assert "/dev/shm" in mounts, owner


def test_credentials_are_only_referenced_and_mounted_as_files():
    objs = profile("l4-8b")
    assert not by_kind(objs, "Secret")
    (deploy,) = of_models(objs, "Deployment")
    spec = deploy["spec"]["template"]["spec"]
    token = next(v for v in spec["volumes"] if v["name"] == "hf-token")
    assert token["secret"]["secretName"] == "hf-token"
    env = {e["name"]: e for c in containers(spec) for e in c.get("env", [])}
    assert env["HF_TOKEN_PATH"]["value"] == "/var/run/secrets/llm-stack/hf/token"
    assert "HF_TOKEN" not in env


def test_pvc_source_is_mounted_read_only():
    objs = render(None, extra=("models[0].name=m", "models[0].source=pvc://weights/llama"))
    (rs,) = by_kind(objs, "RayService")
    spec = worker_group(rs)["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "source-weights")
    assert volume["persistentVolumeClaim"] == {"claimName": "weights", "readOnly": True}


def _cache_env(objs) -> dict[str, dict[str, str]]:
    """Each model container's compile-cache variables, by owner/group."""
    names = {"VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "CUDA_CACHE_PATH",
             "VLLM_USE_AOT_COMPILE"}
    return {owner: {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])
                    if e["name"] in names}
            for owner, spec in pod_specs(objs) if "/head" not in owner and "gateway" not in owner}


def test_compile_caches_live_on_the_cache_volume_one_folder_per_image_and_gpu_product():
    """Warm restarts: vLLM's compile cache and the kernel caches under the model cache's .compile/<key>, the key
    naming the GPU product the pods select and the serving image, so neither another vLLM nor another GPU reuses
    them; CPU engines use vLLM's classic compile cache (its AOT artifacts do not load on CPU)."""
    l4 = _cache_env(profile("l4-8b"))
    (env,) = l4.values()
    root = env["VLLM_CACHE_ROOT"]
    assert root.startswith("/models/.compile/NVIDIA-L4-") and root.endswith("/vllm")
    folder = root.removesuffix("/vllm")
    assert {env[k] for k in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "CUDA_CACHE_PATH")} == {
        f"{folder}/inductor", f"{folder}/triton", f"{folder}/cuda"}
    assert "VLLM_USE_AOT_COMPILE" not in env
    (other_image,) = _cache_env(render(PROFILE_DIR / "l4-8b.yaml", extra=("image.tag=0.2.0",))).values()
    (other_gpu,) = _cache_env(render(PROFILE_DIR / "l4-8b.yaml",
                                     extra=("models[0].nodeSelector.nvidia\\.com/gpu\\.product=NVIDIA-A10G",))).values()
    assert len({root, other_image["VLLM_CACHE_ROOT"], other_gpu["VLLM_CACHE_ROOT"]}) == 3
    assert other_gpu["VLLM_CACHE_ROOT"].startswith("/models/.compile/NVIDIA-A10G-")
    heads = [spec for owner, spec in pod_specs(profile("cpu-tiny")) if owner.endswith("/head")]
    assert heads and not any(e["name"] == "VLLM_CACHE_ROOT" for spec in heads for c in spec["containers"]
                             for e in c.get("env", [])), "the head mounts no cache: vLLM's import would write there"
    cpu = list(_cache_env(profile("cpu-tiny")).values())
    assert cpu and all(e["VLLM_CACHE_ROOT"].startswith("/models/.compile/cpu-") and e["VLLM_USE_AOT_COMPILE"] == "0"
                       for e in cpu)
    off = _cache_env(render(PROFILE_DIR / "l4-8b.yaml", extra=("modelCache.compileCache=false",)))
    assert off and not any(off.values())
