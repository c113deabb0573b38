"""Rendered manifests: parse, index and summarise."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import yaml

# kinds served by Kubernetes itself (group "" or a *.k8s.io / apps / policy / ... group)
BUILTIN_GROUPS = {
    "", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "node.k8s.io", "certificates.k8s.io",
}


def parse(text: str) -> list[dict]:
    """Every non-empty object of a multi-document YAML stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def group_of(obj: dict) -> str:
    api = obj.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


def is_builtin(obj: dict) -> bool:
    return group_of(obj) in BUILTIN_GROUPS


def ref(obj: dict) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('name')}"


# KubeRay's upgrade strategy that shifts traffic through a Gateway (the operator gates it: alpha in 1.6)
INCREMENTAL_UPGRADE = "NewClusterWithIncrementalUpgrade"


@dataclass(frozen=True)
class ModelFacts:
    """What one model will run, read back from the rendered objects: the chart is the only place that merges
    a model over modelDefaults and derives GPUs, pods and the autoscaler, so tools read its output."""

    key: str                  # the values key, models[i] (model ConfigMaps render in models[] order)
    name: str
    source: str
    engine: str
    tensor_parallel: int
    pipeline_parallel: int
    gpus_per_replica: float   # below 1: a share of one GPU (engine ray)
    pods_per_replica: int
    min_replicas: int
    max_replicas: int
    vllm: dict = field(default_factory=dict)
    node_labels: dict = field(default_factory=dict)   # nodeSelector and single-valued required affinity
    autoscaler: str = ""      # "ray", "hpa", "keda", or "" (fixed replicas)
    max_surge: str = ""       # engine vllm: the rollout's maxSurge
    upgrade_strategy: str = ""  # engine ray: the RayService's


def _node_labels(pod_spec: dict) -> dict:
    labels = dict(pod_spec.get("nodeSelector") or {})
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchExpressions") or []:
            if expr.get("operator") == "In" and expr.get("values"):
                labels.setdefault(expr["key"], expr["values"][0])
    return labels


def model_facts(objs: list[dict]) -> list[ModelFacts]:
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    out = []
    configs = [o for o in objs if o["kind"] == "ConfigMap" and "model.json" in o.get("data", {})]
    for i, cm in enumerate(configs):
        cfg = json.loads(cm["data"]["model.json"])
        auto = cfg["deploymentConfig"]["autoscaling_config"]
        name = cm["metadata"]["name"].removesuffix("-config")
        pods, surge, strategy, autoscaler = 1, "", "", ""
        engine = "ray" if ("RayService", name) in by_name else "vllm"
        if engine == "ray":
            spec = by_name[("RayService", name)]["spec"]
            group = spec["rayClusterConfig"]["workerGroupSpecs"][0]
            pods, pod_spec = group.get("numOfHosts", 1), group["template"]["spec"]
            strategy = (spec.get("upgradeStrategy") or {}).get("type", "")
            autoscaler = "ray" if spec["rayClusterConfig"].get("enableInTreeAutoscaling") else ""
        else:
            deployment = by_name[("Deployment", name)]["spec"]
            pod_spec = deployment["template"]["spec"]
            surge = str((deployment.get("strategy") or {}).get("rollingUpdate", {}).get("maxSurge", ""))
            autoscaler = ("hpa" if ("HorizontalPodAutoscaler", name) in by_name
                          else "keda" if ("ScaledObject", name) in by_name else "")
        out.append(ModelFacts(f"models[{i}]", cfg["name"], cfg["source"], engine, cfg["tensorParallelSize"],
                              cfg["pipelineParallelSize"], cfg["gpus"], pods, auto["min_replicas"],
                              auto["max_replicas"], cfg.get("vllm") or {}, _node_labels(pod_spec), autoscaler,
                              surge, strategy))
    return out


def summary(objs: list[dict]) -> str:
    """A short human report: object counts by kind and what each model needs."""
    kinds = Counter(o["kind"] for o in objs)
    lines = [f"{len(objs)} objects: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))]
    namespaces = sorted({o["metadata"].get("namespace", "<cluster-scoped>") for o in objs})
    lines.append("namespaces: " + ", ".join(namespaces))
    for m in model_facts(objs):
        gpus = f"{m.gpus_per_replica} GPU" if m.gpus_per_replica else "CPU only"
        lines.append(
            f"model {m.name}: engine={m.engine}, {gpus} per replica over {m.pods_per_replica} pod(s), "
            f"replicas {m.min_replicas}..{m.max_replicas} "
            f"(peak {m.gpus_per_replica * m.max_replicas} GPUs)"
        )
    return "\n".join(lines)


def write_split(objs: list[dict], folder) -> list:
    """One file per object, `NN-kind-name.yaml` in render order (kubectl apply -f folder/ keeps it)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, obj in enumerate(objs):
        name = f"{i:02d}-{obj.get('kind', 'object').lower()}-{obj.get('metadata', {}).get('name', 'unnamed')}.yaml"
        paths.append(folder / name)
        paths[-1].write_text(yaml.safe_dump(obj, sort_keys=False))
    return paths
