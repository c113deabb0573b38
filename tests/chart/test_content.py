"""What the rendered objects say, not just that they are valid."""

from __future__ import annotations

import json

import pytest
import yaml

from chartkit import MULTI_MODEL_PER_HOST, PROFILE_IDS, PROFILES, by_kind, of_models, render
from llmstack import helm
from llmstack.paths import PROFILES as PROFILE_DIR

pytestmark = pytest.mark.chart

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}


def profile(name: str):
    return render(PROFILE_DIR / f"{name}.yaml")


def pod_specs(objs) -> list[tuple[str, dict]]:
    """(owner/group, pod spec) of every pod template: Deployments and RayService head/worker groups."""
    specs = []
    for d in by_kind(objs, "Deployment"):
        specs.append((f"Deployment/{d['metadata']['name']}", d["spec"]["template"]["spec"]))
    for rs in by_kind(objs, "RayService"):
        cluster = rs["spec"]["rayClusterConfig"]
        specs.append((f"RayService/{rs['metadata']['name']}/head", cluster["headGroupSpec"]["template"]["spec"]))
        for group in cluster["workerGroupSpecs"]:
            specs.append((f"RayService/{rs['metadata']['name']}/{group['groupName']}", group["template"]["spec"]))
    return specs


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def model_configs(objs) -> dict[str, dict]:
    return {json.loads(cm["data"]["model.json"])["name"]: json.loads(cm["data"]["model.json"])
            for cm in by_kind(objs, "ConfigMap") if "model.json" in cm.get("data", {})}


def worker_group(rayservice: dict) -> dict:
    return rayservice["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]


# --- placement and GPUs ---------------------------------------------------------------------------

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


def test_ray_head_holds_no_gpu_and_no_replicas():
    for name in PROFILE_IDS:
        for rs in by_kind(profile(name), "RayService"):
            head = rs["spec"]["rayClusterConfig"]["headGroupSpec"]
            assert head["rayStartParams"]["num-cpus"] == "0"
            assert "nvidia.com/gpu" not in json.dumps(head["template"]["spec"]["containers"])


# --- every pod: resources, security, image -----------------------------------------------------------

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


def test_ray_token_authentication_is_on_by_default():
    for name in PROFILE_IDS:
        for rs in by_kind(profile(name), "RayService"):
            assert rs["spec"]["rayClusterConfig"]["authOptions"] == {"mode": "token"}
    objs = render(PROFILE_DIR / "cpu-tiny.yaml", extra=("models[0].ray.authentication=disabled",))
    assert "authOptions" not in by_kind(objs, "RayService")[0]["spec"]["rayClusterConfig"]


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


# --- namespaces and labels -------------------------------------------------------------------------

@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_namespaced_object_lands_in_the_release_namespace(name):
    for obj in profile(name):
        if obj["kind"] in CLUSTER_SCOPED:
            continue
        assert obj["metadata"].get("namespace") == "llm", f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_object_carries_the_standard_labels(name):
    for obj in profile(name):
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                    "app.kubernetes.io/version", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"


# --- engines: one config, two runtimes ---------------------------------------------------------------

def test_both_engines_read_the_same_config_object():
    objs = profile("multi-model")
    configs = model_configs(objs)
    (rs,) = by_kind(objs, "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    (app,) = serve["applications"]
    assert app["import_path"] == "llm_serving.ray_app:build_app"
    assert app["args"]["models"] == [configs["qwen2.5-7b-instruct"]]
    (deploy,) = of_models(objs, "Deployment")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["llm-serving", "serve"]


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


def test_direct_streaming_sets_rays_flags_on_every_ray_pod_and_only_when_asked():
    def ray_env(objs) -> list[dict]:
        (rs,) = by_kind(objs, "RayService")
        cluster = rs["spec"]["rayClusterConfig"]
        pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
        return [{e["name"]: e.get("value") for e in c.get("env", [])}
                for pod in pods for c in pod["template"]["spec"]["containers"] if c["name"].startswith("ray-")]

    flags = {"RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING", "RAY_SERVE_THROUGHPUT_OPTIMIZED"}
    on = ray_env(render(PROFILE_DIR / "cpu-tiny.yaml", extra=("modelDefaults.ray.directStreaming=true",)))
    assert len(on) == 2 and all({k: env.get(k) for k in flags} == dict.fromkeys(flags, "1") for env in on)
    assert not any(flags & set(env) for env in ray_env(profile("cpu-tiny")))


def test_fixed_size_ray_model_runs_without_the_autoscaler():
    (rs,) = by_kind(profile("h100-405b-multinode"), "RayService")
    assert rs["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is False
    assert "autoscalerOptions" not in rs["spec"]["rayClusterConfig"]
    assert rs["spec"]["upgradeStrategy"]["type"] == "None"


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


# --- autoscaling objects ----------------------------------------------------------------------------

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


# --- exposure ---------------------------------------------------------------------------------------

def ingress_backends(ingress: dict) -> dict[str, str]:
    return {rule.get("host", ""): path["backend"]["service"]["name"]
            for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]}


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_the_ingress_routes_to_the_gateway_which_routes_every_model(name):
    objs = profile(name)
    (ingress,) = by_kind(objs, "Ingress")
    assert set(ingress_backends(ingress).values()) == {"llm-gateway"}
    assert [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]] == ["/"]
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if "gateway.yaml" in c.get("data", {})]
    routed = {b["url"].split("//")[1].split(".")[0] for r in yaml.safe_load(cm["data"]["gateway.yaml"])["routes"]
              for b in r["backends"]}
    services = {m["metadata"]["name"] for m in of_models(objs, "Service")} | {
        rs["spec"]["serveService"]["metadata"]["name"] for rs in by_kind(objs, "RayService")}
    assert routed == services
    assert ingress["spec"]["ingressClassName"] == "nginx"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600


def test_without_the_gateway_each_model_gets_its_host_and_only_its_openai_routes():
    (ingress,) = by_kind(render(PROFILE_DIR / "multi-model.yaml", extra=MULTI_MODEL_PER_HOST), "Ingress")
    assert set(ingress_backends(ingress)) == {"qwen.llm.example.com", "llama.llm.example.com"}
    for rule in ingress["spec"]["rules"]:
        assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [
            ("/v1/chat/completions", "Exact"), ("/v1/completions", "Exact"), ("/v1/embeddings", "Exact"),
            ("/v1/models", "Exact")]


def test_exposing_models_without_the_gateway_takes_a_key_or_an_explicit_yes():
    with pytest.raises(helm.HelmError, match="ingress.enabled: it would expose the models' API without any key"):
        render(PROFILE_DIR / "l4-8b.yaml", extra=("gateway.enabled=false",))
    objs = render(PROFILE_DIR / "l4-8b.yaml", extra=("gateway.enabled=false", "credentials.engineApiKey."
                                                      "existingSecret=engine-key"))
    (deploy,) = of_models(objs, "Deployment")
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "engine-key", "key": "api-key"}
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"  # /v1 now wants the key
    with pytest.raises(helm.HelmError, match=r"models\[0\].engine: ray cannot enforce credentials.engineApiKey"):
        render(PROFILE_DIR / "cpu-tiny.yaml", extra=("gateway.enabled=false", "credentials.engineApiKey."
                                                     "existingSecret=engine-key"))


def test_an_enabled_httproute_renders_whatever_api_versions_are_given():
    """Users preview with `--api-versions gateway.networking.k8s.io/v1` (a group/version, not a kind), or with
    none at all (Terraform, catalogs): enabled means rendered."""
    extra = ("httpRoute.enabled=true", "httpRoute.parentRefs[0].name=public")
    for with_crds in (True, False):
        objs = render(PROFILE_DIR / "multi-model.yaml", with_crds=with_crds, extra=(*extra, *MULTI_MODEL_PER_HOST))
        routes = by_kind(objs, "HTTPRoute")
        assert {r["spec"]["hostnames"][0] for r in routes} == {"qwen.llm.example.com", "llama.llm.example.com"}
        assert all(r["spec"]["rules"][0]["timeouts"]["request"] == "0s" for r in routes)
        assert all(m["path"]["type"] == "Exact" for r in routes for m in r["spec"]["rules"][0]["matches"])
    (route,) = by_kind(render(PROFILE_DIR / "multi-model.yaml", extra=extra), "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "llm-gateway", "port": 8080}]
    text = helm.template([PROFILE_DIR / "multi-model.yaml"], set_values=extra,
                         api_versions=("gateway.networking.k8s.io/v1",))
    assert "kind: HTTPRoute" in text


def test_gateway_aliases_and_route_weights_make_a_canary_of_two_revisions():
    objs = render(None, extra=("gateway.enabled=true", "gateway.keys.existingSecret=k",
                               "models[0].name=llama-v1", "models[0].source=hf://o/a", "models[0].routeWeight=90",
                               "models[0].aliases[0]=llama", "models[1].name=llama-v2", "models[1].source=hf://o/b",
                               "models[1].routeWeight=10", "models[1].aliases[0]=llama"))
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if "gateway.yaml" in c["data"]]
    routes = {r["model"]: r["backends"] for r in yaml.safe_load(cm["data"]["gateway.yaml"])["routes"]}
    assert [(b["name"], b["weight"], b["model"]) for b in routes["llama"]] == [("llama-v1", 90, "llama-v1"),
                                                                                ("llama-v2", 10, "llama-v2")]
    # each revision keeps its own name, alone: all its traffic, and no rewrite
    assert [(b["weight"], "model" in b) for b in routes["llama-v1"]] == [(1, False)]


def test_podmonitor_renders_only_where_prometheus_operator_is_served():
    assert by_kind(profile("cpu-tiny"), "PodMonitor")
    assert not by_kind(render(PROFILE_DIR / "cpu-tiny.yaml", with_crds=False), "PodMonitor")


@pytest.mark.parametrize("name", PROFILE_IDS)
def test_every_model_pod_is_under_a_policy_and_ray_listens_where_the_policy_opens(name):
    """Deny by default (tests/chart/test_network_policy.py checks who may reach what); Ray picks four of its
    ports at random unless told, so every Ray pod pins them to the ones the policy opens."""
    objs = profile(name)
    policies = by_kind(objs, "NetworkPolicy")
    for rs in by_kind(objs, "RayService"):
        cluster = rs["spec"]["rayClusterConfig"]
        for params in [cluster["headGroupSpec"]["rayStartParams"], worker_group(rs)["rayStartParams"]]:
            assert {k: params[k] for k in ("node-manager-port", "object-manager-port", "runtime-env-agent-port",
                                           "dashboard-agent-grpc-port")} == \
                {"node-manager-port": "6380", "object-manager-port": "6381", "runtime-env-agent-port": "6382",
                 "dashboard-agent-grpc-port": "6383"}
            assert (params["min-worker-port"], params["max-worker-port"]) == ("10002", "19999")
        pod_labels = worker_group(rs)["template"]["metadata"]["labels"]
        assert any(pol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items() for pol in policies)
    for d in by_kind(objs, "Deployment"):
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(pol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items() for pol in policies)


def test_pvc_source_is_mounted_read_only():
    objs = render(None, extra=("models[0].name=m", "models[0].source=pvc://weights/llama"))
    (rs,) = by_kind(objs, "RayService")
    spec = worker_group(rs)["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "source-weights")
    assert volume["persistentVolumeClaim"] == {"claimName": "weights", "readOnly": True}


def test_model_cache_pvc_is_kept_on_uninstall():
    (pvc,) = by_kind(profile("a100-70b-tp4"), "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "300Gi"


def test_every_profile_has_a_disruption_budget_per_model():
    for name in PROFILE_IDS:
        objs = profile(name)
        assert len(of_models(objs, "PodDisruptionBudget")) == len(model_configs(objs)), name


def test_profiles_are_commented():
    for path in PROFILES:
        assert path.read_text().startswith("# "), f"{path.name} should open with a comment saying what it is for"


def test_notes_tell_how_to_reach_and_check_every_model():
    import subprocess

    from llmstack.paths import STACK_CHART, helm_binary

    proc = subprocess.run([helm_binary(), "install", "llm", str(STACK_CHART), "-n", "llm", "--dry-run=client",
                           "-f", str(PROFILE_DIR / "multi-model.yaml")],
                          capture_output=True, text=True, env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin"})
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n llm get rayservice llm-llm-stack-qwen2-5-7b-instruct" in notes
    assert "kubectl -n llm rollout status deployment/llm-llm-stack-llama-3-1-8b-instruct" in notes
    assert "http://llm.example.com/v1/  ->  llm-gateway" in notes
