"""Rendered manifests: parse, index and summarise."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ModelSummary:
    name: str
    engine: str
    gpus_per_replica: int
    pods_per_replica: int
    min_replicas: int
    max_replicas: int


def models(objs: list[dict]) -> list[ModelSummary]:
    """What each model will run, read back from the rendered objects (not from values)."""
    out = []
    for cm in (o for o in objs if o["kind"] == "ConfigMap" and "model.json" in o.get("data", {})):
        cfg = json.loads(cm["data"]["model.json"])
        auto = cfg["deploymentConfig"]["autoscaling_config"]
        pods = 1
        if cfg["engine"] == "ray":
            service = next(o for o in objs if o["kind"] == "RayService"
                           and o["metadata"]["name"] == cm["metadata"]["name"].removesuffix("-config"))
            pods = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].get("numOfHosts", 1)
        out.append(ModelSummary(cfg["name"], cfg["engine"], cfg["gpus"], pods,
                                auto["min_replicas"], auto["max_replicas"]))
    return out


def summary(objs: list[dict]) -> str:
    """A short human report: object counts by kind and what each model needs."""
    kinds = Counter(o["kind"] for o in objs)
    lines = [f"{len(objs)} objects: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))]
    namespaces = sorted({o["metadata"].get("namespace", "<cluster-scoped>") for o in objs})
    lines.append("namespaces: " + ", ".join(namespaces))
    for m in models(objs):
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
