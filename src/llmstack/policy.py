"""Policy scan of rendered manifests with checkov (kubernetes framework, on pre-rendered YAML).

checkov's helm mode silently skips a chart whenever helm writes to stderr, so we render ourselves and
scan the files. checkov cannot see inside custom resources, so each pod template of a RayService is
also written out as a Pod that carries its owner's `checkov.io/skip*` annotations: the pods KubeRay
will create are held to the same policies as the Deployment's.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from llmstack.paths import ROOT


@dataclass(frozen=True)
class PolicyReport:
    resource_count: int
    passed: int
    failed: list[str]   # "CHECK_ID resource: name"
    skipped: list[str]  # "CHECK_ID resource: reason"


def pods_of_rayservice(obj: dict) -> list[dict]:
    """The Pods KubeRay would create from a RayService: one per head/worker template."""
    cluster = obj["spec"]["rayClusterConfig"]
    groups = [("head", cluster["headGroupSpec"])] + [
        (g["groupName"], g) for g in cluster.get("workerGroupSpecs", [])]
    annotations = {k: v for k, v in obj["metadata"].get("annotations", {}).items() if k.startswith("checkov.io/")}
    pods = []
    for group, spec in groups:
        template = spec["template"]
        meta = dict(template.get("metadata", {}))
        pods.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {**meta, "name": f"{obj['metadata']['name']}-{group}",
                         "namespace": obj["metadata"].get("namespace"),
                         "annotations": {**meta.get("annotations", {}), **annotations}},
            "spec": template["spec"],
        })
    return pods


def scan(objs: list[dict], checkov: Path | None = None) -> PolicyReport:
    """Run checkov over the objects (plus RayService pods) and return its counts."""
    checkov = checkov or ROOT / ".tools" / "checkov-venv" / "bin" / "checkov"
    extra = [pod for o in objs if o.get("kind") == "RayService" for pod in pods_of_rayservice(o)]
    with tempfile.TemporaryDirectory(prefix="llmstack-policy-") as tmp:
        Path(tmp, "rendered.yaml").write_text(yaml.safe_dump_all(objs + extra, sort_keys=False))
        proc = subprocess.run(
            [str(checkov), "-d", tmp, "--framework", "kubernetes", "--skip-download",
             "-o", "json"],
            capture_output=True, text=True, timeout=300,
        )
    if proc.returncode not in (0, 1):  # 1 = some checks failed; anything else is checkov itself failing
        raise RuntimeError(f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    if isinstance(data, list):
        data = next(d for d in data if d.get("check_type") == "kubernetes")
    if "summary" not in data:  # checkov prints only a summary dict when nothing was scanned
        raise RuntimeError(f"checkov scanned nothing: {proc.stdout[:500]}")
    results = data["results"]
    return PolicyReport(
        resource_count=data["summary"]["resource_count"],
        passed=data["summary"]["passed"],
        failed=[f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results.get("failed_checks", [])],
        skipped=[f"{c['check_id']} {c['resource']}: {c['check_result'].get('suppress_comment', '')}"
                 for c in results.get("skipped_checks", [])],
    )
