"""`llmstack validate`: every problem in a set of values files, each naming the key, what is wrong and the fix.

Three passes, in the order a user should fix things:
1. the files themselves (missing, not YAML, not a mapping);
2. the chart's JSON schema over the merged values (every violation, not only helm's first);
3. the chart's own semantic checks, by rendering it with the real helm (one source of truth: the same
   messages `helm install` prints), then llmstack's sizing: cache smaller than the weights (error),
   a model that cannot load on its GPUs, a rollout or upgrade that needs twice the GPUs (warnings).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jsonschema
import yaml

from llmstack import helm, sizing
from llmstack.paths import STACK_CHART

ERROR, WARNING = "error", "warning"


@dataclass
class Finding:
    level: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper()} {self.key}: {self.message}"


@dataclass
class Report:
    files: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def as_dict(self) -> dict:
        return {"valid": not self.errors, "files": self.files,
                "errors": [asdict(f) for f in self.errors], "warnings": [asdict(f) for f in self.warnings]}


def key_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def merge(base: dict, over: dict) -> dict:
    """Helm's coalescing of values files: maps merge key by key, null deletes, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_files(paths: list[Path], report: Report) -> tuple[dict | None, list[dict]]:
    """The chart's defaults with the files merged over them as helm does (None when a file is unusable; the
    report says why), and the files' own mappings."""
    merged = yaml.safe_load((STACK_CHART / "values.yaml").read_text())
    docs: list[dict] = []
    ok = True
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            report.findings.append(Finding(ERROR, str(path), "file not found: check the path"))
            ok = False
            continue
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            report.findings.append(Finding(ERROR, str(path), f"not valid YAML{where}: {problem}: fix the syntax"))
            ok = False
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            report.findings.append(Finding(ERROR, str(path), f"holds a {type(data).__name__}, not a mapping of "
                                                             "values: start the file with keys such as models:"))
            ok = False
            continue
        docs.append(data)
        merged = merge(merged, data)
    return (merged if ok else None), docs


def _schema_fix(err: jsonschema.ValidationError) -> str:
    """What to do about one schema violation, in the user's words."""
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed] if isinstance(err.instance, dict) else []
        hints = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"unknown key {key!r}" + (f": did you mean {close[0]!r}?" if close else
                                                    f": remove it (allowed: {', '.join(allowed)})"))
        return "; ".join(hints)
    if v == "enum":
        return f"{err.instance!r} is not allowed: use one of {', '.join(map(repr, err.validator_value))}"
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return f"{err.instance!r} is a {type(err.instance).__name__}: use a value of type {want}"
    if v == "required":
        return f"{err.message}: add it"
    if v in ("minimum", "exclusiveMinimum"):
        return f"{err.instance!r} is below the minimum {err.validator_value}: use at least {err.validator_value}"
    if v in ("maximum", "exclusiveMaximum"):
        return f"{err.instance!r} is above the maximum {err.validator_value}: use at most {err.validator_value}"
    if v == "pattern":
        return f"{err.instance!r} does not match {err.validator_value}: fix the value"
    if v == "minItems":
        return f"the list needs at least {err.validator_value} item(s): add one"
    return f"{err.message}: fix the value"


def check_schema(values: dict, report: Report) -> bool:
    schema = json.loads((STACK_CHART / "values.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
    for err in errors:
        report.findings.append(Finding(ERROR, key_path(err.absolute_path), _schema_fix(err)))
    return not errors


_PROBLEM_LINE = re.compile(r"^\s+- (.*)$")
_EXECUTION = re.compile(r"execution error at \([^)]*\): (.*)$", re.S)


def _split_key(message: str) -> Finding:
    """`models[0].gpus (3) contradicts …: set …` → key models[0].gpus and the rest."""
    message = message.split("\n\nUse --debug", 1)[0]  # helm's hint, not ours
    match = re.match(r"^([A-Za-z][\w./\[\]-]*)(?::\s*| (?=\())(.*)$", message, re.S)
    if match:
        return Finding(ERROR, match.group(1), match.group(2).strip())
    return Finding(ERROR, "(chart)", message.strip())


def check_chart(paths: list[Path], kube_version: str | None, report: Report) -> bool:
    try:
        helm.template(paths, kube_version=kube_version)
    except helm.HelmError as err:
        text = str(err)
        problems = [m.group(1) for line in text.splitlines() if (m := _PROBLEM_LINE.match(line))]
        if "problem(s) in the values" in text and problems:
            report.findings += [_split_key(p) for p in problems]
        elif m := _EXECUTION.search(text):
            report.findings.append(_split_key(m.group(1).strip()))
        else:
            report.findings.append(Finding(ERROR, "(helm)", text.replace("Error: ", "", 1)))
        return False
    return True


def _quantity_gib(text: str | None) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?", str(text or ""))
    if not match:
        return None
    unit = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            None: 1}[match.group(2)]
    return float(match.group(1)) * unit / sizing.GIB


def model_estimate(model: dict) -> tuple[str, sizing.Estimate] | None:
    """Sizing of one merged model entry, when llmstack knows both the model and the GPU it runs on."""
    known = sizing.known_model(str(model.get("source", ""))) or sizing.known_model(str(model.get("name", "")))
    label = (model.get("nodeSelector") or {}).get("nvidia.com/gpu.product") or \
        (model.get("nodeSelector") or {}).get("amd.com/gpu.product")
    gpu = sizing.gpu_for_label(str(label)) if label else None
    tp, pp = int(model.get("tensorParallelSize") or 1), int(model.get("pipelineParallelSize") or 1)
    if not known or not gpu or model.get("gpus") == 0:
        return None
    vllm = model.get("vllm") or {}
    est = sizing.estimate(gpu=gpu, max_model_len=int(vllm.get("maxModelLen") or 8192), arch=known[1],
                          dtype=vllm.get("dtype"), quantization=vllm.get("quantization"),
                          tensor_parallel=tp, pipeline_parallel=pp,
                          gpu_memory_utilization=float(vllm.get("gpuMemoryUtilization") or 0.9))
    return known[0], est


def check_sizing(values: dict, report: Report, chosen_upgrade_strategy: bool = False) -> None:
    models = [merge(values.get("modelDefaults") or {}, m) for m in values.get("models") or []]
    weights, surge_gpus = 0.0, 0
    for i, model in enumerate(models):
        key = f"models[{i}]"
        sized = model_estimate(model)
        if sized:
            name, est = sized
            weights += est.weights_gib
            if not est.fits:
                report.findings.append(Finding(WARNING, key, f"{name} on {est.gpu}: {est.reason}"))
        gpus = model.get("gpus")
        gpus = int(model.get("tensorParallelSize", 1)) * int(model.get("pipelineParallelSize", 1)) \
            if gpus is None else int(gpus)
        rollout = model.get("rollout") or {}
        if model.get("engine") == "vllm" and gpus and rollout.get("strategy") == "RollingUpdate" and \
                str(rollout.get("maxSurge", 0)) not in ("0", "0%"):
            report.findings.append(Finding(WARNING, f"{key}.rollout.maxSurge", (
                f"{rollout['maxSurge']} extra pod(s) of {gpus} GPU(s) each during a rollout: the cluster needs "
                "that many free GPUs or the rollout stalls; set maxSurge: 0 (the default) to replace pods in place")))
        if model.get("engine") == "ray" and (model.get("ray") or {}).get("upgradeStrategy") == "NewCluster":
            surge_gpus += gpus * int((model.get("autoscaling") or {}).get("minReplicas") or 1)
    if surge_gpus and not chosen_upgrade_strategy:
        report.findings.append(Finding(WARNING, "modelDefaults.ray.upgradeStrategy", (
            f"NewCluster (the default) brings up a second RayCluster during an upgrade: {surge_gpus} more GPU(s) "
            "must be free or the upgrade waits; set it explicitly to NewCluster to keep zero-downtime upgrades, "
            "or to None to upgrade in place")))
    cache = values.get("modelCache") or {}
    size = None
    if cache.get("type") == "pvc" and not (cache.get("pvc") or {}).get("existingClaim"):
        size, size_key = (cache.get("pvc") or {}).get("size"), "modelCache.pvc.size"
    elif cache.get("type") == "emptyDir":
        size, size_key = (cache.get("emptyDir") or {}).get("sizeLimit"), "modelCache.emptyDir.sizeLimit"
    gib = _quantity_gib(size)
    if weights and gib is not None and gib < weights:
        report.findings.append(Finding(ERROR, size_key, (
            f"{size} is smaller than the weights of the models it caches ({weights:.0f} GiB): the fetch would "
            f"fail with a full disk; set it to at least {math.ceil(weights * 1.1)}Gi")))


def _sets(docs: list[dict], key: str) -> bool:
    """Whether a values file sets `key` anywhere (a choice the user made, not a chart default)."""
    def walk(node) -> bool:
        if isinstance(node, dict):
            return key in node or any(walk(v) for v in node.values())
        return isinstance(node, list) and any(walk(v) for v in node)
    return any(walk(doc) for doc in docs)


def validate(paths: list[Path], kube_version: str | None = None) -> Report:
    report = Report(files=[str(p) for p in paths])
    values, docs = load_files(paths, report)
    if values is None or not check_schema(values, report):
        return report
    check_chart(paths, kube_version, report)
    check_sizing(values, report, chosen_upgrade_strategy=_sets(docs, "upgradeStrategy"))
    return report

