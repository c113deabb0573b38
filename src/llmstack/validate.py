"""`llmstack validate`: every problem in a set of values files, each naming the key, what is wrong and the fix.

Three passes, in the order a user should fix things:
1. the files themselves (missing, not YAML, not a mapping);
2. the chart's JSON schema over the merged values (every violation, not only helm's first);
3. the chart's own semantic checks, by rendering it with the real helm (one source of truth: the same
   messages `helm install` prints), then llmstack's sizing: cache smaller than the weights (error),
   a model that cannot load on its GPUs, a rollout or upgrade that needs twice the GPUs (warnings).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import re
from pathlib import Path

import jsonschema

from llmstack import helm, manifests, sizing
from llmstack.paths import STACK_CHART
from llmstack.values import Report, coalesced, key_path, load_files

# the patterns of the schema that users meet most, said in words
_PATTERN_WORDS = {
    r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$":
        "is not a Kubernetes quantity: write a number with an optional suffix, e.g. 32Gi, 512Mi, 2, 500m "
        "(binary Ki Mi Gi Ti, decimal k M G T; not GB or MB)",
    r"^([0-9]+(h|m|s|ms))+$": "is not a duration: write e.g. 30s, 10m, 1h30m",
}


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
    if v == "minimum":
        return f"{err.instance!r} is below the minimum {err.validator_value}: use at least {err.validator_value}"
    if v == "exclusiveMinimum":
        return f"{err.instance!r} must be greater than {err.validator_value}: use a larger value"
    if v == "maximum":
        return f"{err.instance!r} is above the maximum {err.validator_value}: use at most {err.validator_value}"
    if v == "exclusiveMaximum":
        return f"{err.instance!r} must be less than {err.validator_value}: use a smaller value"
    if v == "pattern":
        words = _PATTERN_WORDS.get(err.validator_value)
        return f"{err.instance!r} {words}" if words else \
            f"{err.instance!r} does not match {err.validator_value}: fix the value"
    if v in ("anyOf", "oneOf"):  # e.g. a quantity: a string of some pattern or a number
        patterned = [e for e in err.context if e.validator == "pattern"]
        if patterned:
            return _schema_fix(patterned[0])
    if v == "minItems":
        return f"the list needs at least {err.validator_value} item(s): add one"
    return f"{err.message}: fix the value"


def check_schema(values: dict, report: Report) -> bool:
    schema = json.loads((STACK_CHART / "values.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
    for err in errors:
        report.error(key_path(err.absolute_path), _schema_fix(err))
    return not errors


_PROBLEM_LINE = re.compile(r"^\s+- (.*)$")
_EXECUTION = re.compile(r"execution error at \([^)]*\): (.*)$", re.S)


def _split_key(message: str) -> tuple[str, str]:
    """`models[0].gpus (3) contradicts …: set …` → (models[0].gpus, the rest)."""
    message = message.split("\n\nUse --debug", 1)[0]  # helm's hint, not ours
    match = re.match(r"^([A-Za-z][\w./\[\]-]*)(?::\s*| (?=\())(.*)$", message, re.S)
    if match:
        return match.group(1), match.group(2).strip()
    return "(chart)", message.strip()


def check_chart(paths: list[Path], report: Report, **render) -> list[dict] | None:
    """Render with the real helm: the chart's own rules fail here with every problem at once. The rendered
    objects, or None (the report says why)."""
    try:
        return manifests.parse(helm.template(paths, **render))
    except helm.HelmError as err:
        text = str(err)
        problems = [m.group(1) for line in text.splitlines() if (m := _PROBLEM_LINE.match(line))]
        if "problem(s) in the values" in text and problems:
            for problem in problems:
                report.error(*_split_key(problem))
        elif m := _EXECUTION.search(text):
            report.error(*_split_key(m.group(1).strip()))
        else:
            report.error("(helm)", text.replace("Error: ", "", 1))
        return None


def _quantity_gib(text: str | None) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?", str(text or ""))
    if not match:
        return None
    unit = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            None: 1}[match.group(2)]
    return float(match.group(1)) * unit / sizing.GIB


def model_estimate(model: manifests.ModelFacts, arch: sizing.Architecture | None = None
                   ) -> tuple[str, sizing.Estimate] | None:
    """Sizing of one model as rendered, when llmstack knows both the model (or is given its config.json) and
    the GPU its pods select (GPU Feature Discovery, GKE, EKS and AKS node labels)."""
    known = sizing.known_model(model.source) or sizing.known_model(model.name)
    if arch is None and known:
        arch = known[1]
    gpu = sizing.gpu_for_node(model.node_labels)
    if arch is None or gpu is None or not model.gpus_per_replica:
        return None
    vllm = model.vllm
    est = sizing.estimate(gpu=gpu, max_model_len=int(vllm.get("maxModelLen") or 8192), arch=arch,
                          dtype=vllm.get("dtype"), quantization=vllm.get("quantization"),
                          tensor_parallel=model.tensor_parallel, pipeline_parallel=model.pipeline_parallel,
                          gpu_memory_utilization=float(vllm.get("gpuMemoryUtilization") or 0.9),
                          gpu_share=min(1.0, model.gpus_per_replica))
    return (known[0] if known else model.name), est


def check_parallelism(model: manifests.ModelFacts, arch: sizing.Architecture, label: str, report: Report) -> None:
    """vLLM's own limits: tensor parallelism splits the attention heads (and KV heads) evenly, pipeline
    parallelism the layers."""
    tp, pp = model.tensor_parallel, model.pipeline_parallel
    heads, kv = arch.num_attention_heads, arch.num_key_value_heads
    fitting = [n for n in (1, 2, 4, 8, 16, 32) if heads % n == 0 and (kv % n == 0 if n <= kv else n % kv == 0)]
    if heads % tp:
        report.error(f"{model.key}.tensorParallelSize", (
            f"{tp} does not divide the {heads} attention heads of {label}: vLLM refuses it; use one of "
            f"{', '.join(map(str, fitting))}"))
    elif (kv % tp if tp <= kv else tp % kv):
        report.error(f"{model.key}.tensorParallelSize", (
            f"{tp} does not divide the {kv} KV heads of {label} (nor is it a multiple of them): vLLM refuses it; "
            f"use one of {', '.join(map(str, fitting))}"))
    if pp > arch.num_hidden_layers:
        report.error(f"{model.key}.pipelineParallelSize", (
            f"{pp} stages for the {arch.num_hidden_layers} layers of {label}: use at most {arch.num_hidden_layers}"))


def check_sizing(models: list[manifests.ModelFacts], values: dict, report: Report,
                 chosen_upgrade_strategy: bool = False, configs: dict | None = None) -> None:
    weights, surge_gpus = 0.0, 0
    for model in models:
        given = (configs or {}).get(model.name)
        known = sizing.known_model(model.source) or sizing.known_model(model.name)
        arch = given or (known[1] if known else None)
        if arch:
            check_parallelism(model, arch, known[0] if known and not given else model.name, report)
        sized = model_estimate(model, arch)
        if sized:
            name, est = sized
            weights += est.weights_gib
            if not est.fits:
                report.error(model.key, f"{name} on {est.gpu}: {est.reason}")
            elif est.kv_tokens is not None and est.kv_tokens < 1.25 * est.max_model_len:
                report.warning(model.key, (
                    f"{name} on {est.gpu}: the KV cache holds about {est.kv_tokens} tokens per GPU, within the "
                    f"estimate's margin of one {est.max_model_len}-token sequence: vLLM's own profiling decides "
                    "whether it starts; lower maxModelLen or raise tensorParallelSize to be sure"))
        gpus = model.gpus_per_replica
        if model.engine == "vllm" and gpus and model.max_surge not in ("", "0", "0%"):
            report.warning(f"{model.key}.rollout.maxSurge", (
                f"{model.max_surge} extra pod(s) of {gpus} GPU(s) each during a rollout: the cluster needs "
                "that many free GPUs or the rollout stalls; set maxSurge: 0 (the default) to replace pods in place"))
        if model.upgrade_strategy == manifests.INCREMENTAL_UPGRADE:
            report.warning(f"{model.key}.ray.upgradeStrategy", (
                f"{manifests.INCREMENTAL_UPGRADE} (alpha in KubeRay 1.6) needs, besides these values, the Gateway API "
                "CRDs, a Gateway controller for its gatewayClassName, and the operator's feature gate "
                "RayServiceIncrementalUpgrade (`llmstack addons` turns it on)"))
        if model.engine == "ray" and model.upgrade_strategy == "NewCluster":
            replicas_gpus = gpus * max(1, model.min_replicas)  # with a GPU share, whole worker pods of one GPU
            surge_gpus += math.ceil(replicas_gpus) if gpus < 1 else replicas_gpus
    if surge_gpus and not chosen_upgrade_strategy:
        report.warning("modelDefaults.ray.upgradeStrategy", (
            f"NewCluster (the default) brings up a second RayCluster during an upgrade: {surge_gpus:g} more GPU(s) "
            "must be free or the upgrade waits; set it explicitly to NewCluster to keep zero-downtime upgrades, "
            "or to None to upgrade in place"))
    cache = values.get("modelCache") or {}
    size = None
    if cache.get("type") == "pvc" and not (cache.get("pvc") or {}).get("existingClaim"):
        size, size_key = (cache.get("pvc") or {}).get("size"), "modelCache.pvc.size"
    elif cache.get("type") == "emptyDir":
        size, size_key = (cache.get("emptyDir") or {}).get("sizeLimit"), "modelCache.emptyDir.sizeLimit"
    gib = _quantity_gib(size)
    if weights and gib is not None and gib < weights:
        report.error(size_key, (
            f"{size} is smaller than the weights of the models it caches ({weights:.0f} GiB): the fetch would "
            f"fail with a full disk; set it to at least {math.ceil(weights * 1.1)}Gi"))


def _sets(docs: list[dict], sets: list[str], key: str) -> bool:
    """Whether the user set `key` anywhere (a choice they made, not a chart default)."""
    def walk(node) -> bool:
        if isinstance(node, dict):
            return key in node or any(walk(v) for v in node.values())
        return isinstance(node, list) and any(walk(v) for v in node)
    return any(walk(doc) for doc in docs) or any(key in s for s in sets)


@contextlib.contextmanager
def _api_server(mode: str, namespace: str, report: Report, kube_context: str | None, kubeconfig: Path | None):
    """A dynamic client on the API server that judges the objects, or None (report.server_check says why)."""
    from llmstack import apiserver, crds, dryrun

    if mode == "off":
        report.server_check = "off"
        yield None
    elif mode == "cluster" or (mode == "auto" and (kube_context or kubeconfig)):
        dyn = dryrun.client(kubeconfig, kube_context)
        if dryrun.ensure_namespace(dyn, namespace, create=False):
            report.server_check = f"cluster {kube_context or '(current context)'}"
            yield dyn
        else:
            report.warning("--namespace", f"namespace {namespace!r} does not exist in the cluster: create it "
                                          "(helm install --create-namespace) before installing")
            report.server_check = "cluster: the namespace is missing, objects not checked"
            yield None
    else:
        missing = apiserver.missing_programs()
        try:
            crd_dir = crds.find()
        except crds.CrdsMissing as err:
            missing.append(str(err))
        if missing:
            why = f"no local API server ({', '.join(missing)}): run `make cluster-tools`, or give --kube-context"
            if mode == "local":
                raise FileNotFoundError(f"validate --dry-run local: {why}")
            report.server_check = f"skipped: {why}"
            yield None
            return
        with apiserver.Throwaway() as api:
            dryrun.load_crds(dryrun.client(api.kubeconfig), crd_dir)
            dyn = dryrun.client(api.kubeconfig)  # discovery after the CRDs exist
            dryrun.ensure_namespace(dyn, namespace, create=True)
            report.server_check = "a throwaway local API server (kube-apiserver v1.35.4 with the KubeRay CRDs)"
            yield dyn


def check_server(objs: list[dict], namespace: str, report: Report, mode: str = "auto",
                 kube_context: str | None = None, kubeconfig: Path | None = None) -> None:
    """A server-side dry-run of the rendered objects, each refusal keyed to the values: against the user's
    cluster (mode "cluster", or "auto" with a context), else a throwaway local API server with the KubeRay
    CRDs (mode "local", or "auto" where `make cluster-tools` built one)."""
    from llmstack import dryrun

    with _api_server(mode, namespace, report, kube_context, kubeconfig) as dyn:
        for refusal in dryrun.dry_run(dyn, objs, namespace) if dyn else ():
            report.error(refusal.key, refusal.message)


def validate(paths: list[Path], kube_version: str | None = None, *, set_values: list[str] = (),
             set_string: list[str] = (), release: str = "llm", namespace: str = "llm",
             configs: dict[str, sizing.Architecture] | None = None, server: str = "auto",
             kube_context: str | None = None, kubeconfig: Path | None = None) -> Report:
    """Every problem of a release's values: the files, the schema, the chart's rules (through the real helm,
    with the real release name), vLLM's own limits and sizing, then a real API server's verdict on every
    object (`server`: auto, local, cluster or off). `configs`: config.json per model name."""
    report = Report(files=[str(p) for p in paths])
    docs = load_files(paths, report)
    if docs is None:
        return report
    try:
        values = coalesced(paths, set_values, set_string)
    except helm.HelmError as err:
        report.error("--set", str(err).replace("Error: ", "", 1))
        return report
    if not check_schema(values, report):
        return report
    objs = check_chart(paths, report, kube_version=kube_version, release=release, namespace=namespace,
                       set_values=set_values, set_string=set_string)
    if objs is None:
        return report
    check_sizing(manifests.model_facts(objs), values, report, configs=configs,
                 chosen_upgrade_strategy=_sets(docs, [*set_values, *set_string], "upgradeStrategy"))
    if not report.errors:  # the API server judges objects the chart and llmstack found nothing wrong with
        check_server(objs, namespace, report, server, kube_context, kubeconfig)
    return report
