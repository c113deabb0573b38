"""One typed config per model: the object the chart writes to /etc/llm-stack/model.json and into the
RayService's serveConfigV2 `args.models[]`. Validated with errors that name the key and the fix."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from llm_serving import contract

SOURCE = re.compile(contract.SOURCE_PATTERN)


class ConfigError(ValueError):
    """A config problem; the message starts with the key path."""


@dataclass(frozen=True)
class Source:
    scheme: str
    location: str        # org/name, bucket/prefix, claim/path or /absolute/path
    revision: str = ""   # hf:// only

    @classmethod
    def parse(cls, uri: str, key: str = "source") -> Source:
        """A source of the contract's grammar; the common mistakes get their own message first."""
        scheme, sep, rest = (uri or "").partition("://")
        location, _, revision = rest.partition("@")
        if not sep or scheme not in contract.SOURCE_SCHEMES:
            raise ConfigError(f"{key}: {uri!r} is not a supported model source: use {contract.SOURCE_EXAMPLES}")
        if any(part in (".", "..") for part in location.split("/") + revision.split("/")):
            raise ConfigError(f"{key}: {uri!r} has a '.' or '..' path segment: name the path without them (the "
                              "cache folder is made from it, and must stay inside the cache)")
        if "@" in rest and scheme != "hf":
            raise ConfigError(f"{key}: @revision is only meaningful for hf:// sources")
        if scheme == "file" and not location.startswith("/"):
            raise ConfigError(f"{key}: file:// needs an absolute path (file:///models/x), got {uri!r}")
        if scheme == "hf" and location.count("/") != 1:
            raise ConfigError(f"{key}: hf:// needs org/model, got {uri!r}")
        if not SOURCE.match(uri):
            raise ConfigError(f"{key}: {uri!r} is not a supported model source: use {contract.SOURCE_EXAMPLES}")
        return cls(scheme, location, revision)

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.scheme}://{self.location}{rev}"


@dataclass(frozen=True)
class Adapter:
    name: str
    source: Source


_LORA = contract.LORA_DEFAULTS
_VLLM = contract.VLLM_DEFAULTS
_TOP = contract.DEFAULTS


@dataclass(frozen=True)
class ModelConfig:
    """model.json, typed. Its keys, defaults and bounds are the model contract's (llm_serving.contract)."""

    name: str
    source: Source
    tensor_parallel_size: int = _TOP["tensorParallelSize"]
    pipeline_parallel_size: int = _TOP["pipelineParallelSize"]
    gpus: float = 1   # whole GPUs, or a share of one (engine ray: 1/N, several replicas on one GPU)
    vllm: dict = field(default_factory=dict)
    lora_enabled: bool = _LORA["enabled"]
    max_loras: int = _LORA["maxLoras"]
    max_lora_rank: int = _LORA["maxLoraRank"]
    adapters: tuple[Adapter, ...] = ()
    cache_dir: Path = Path(_TOP["cacheDir"])
    deployment_config: dict = field(default_factory=dict)
    drain_seconds: int = _TOP["drainSeconds"]  # on SIGTERM, finish in-flight requests for up to this long
    verify_cache: bool = _TOP["verifyCache"]   # re-hash a cached copy against its marker before trusting it

    @classmethod
    def from_dict(cls, data: dict, key: str = "") -> ModelConfig:
        where = f"{key}." if key else ""
        if not isinstance(data, dict):
            raise ConfigError(f"{key or '<config>'}: must be a mapping")
        _known(data, contract.TOP_KEYS, where, f" (allowed: {', '.join(sorted(contract.TOP_KEYS))})")
        for required in contract.REQUIRED:
            if not data.get(required):
                raise ConfigError(f"{where}{required}: required")
        vllm = data.get("vllm") or {}
        _known(vllm, contract.VLLM_KEYS, f"{where}vllm.", " (put other engine arguments in vllm.extraArgs)")
        lora = {**_LORA, **(data.get("lora") or {})}
        _known(lora, contract.LORA_KEYS, f"{where}lora.", "")
        tp = _int(data, "tensorParallelSize", where)
        pp = _int(data, "pipelineParallelSize", where)
        gpus = tp * pp if data.get("gpus") is None else _gpus(data["gpus"], tp * pp, where)
        if gpus >= 1 and gpus != tp * pp:
            raise ConfigError(f"{where}gpus ({gpus}) contradicts tensorParallelSize ({tp}) × pipelineParallelSize "
                              f"({pp}) = {tp * pp}: set gpus: {tp * pp}, or remove gpus to derive it")
        adapters = tuple(Adapter(str(a.get("name")), Source.parse(a.get("source", ""), f"{where}lora.adapters[{i}]"
                                                                   ".source"))
                         for i, a in enumerate(lora["adapters"] or []))
        return cls(name=str(data["name"]), source=Source.parse(data["source"], f"{where}source"),
                   tensor_parallel_size=tp, pipeline_parallel_size=pp, gpus=gpus, vllm=dict(vllm),
                   lora_enabled=bool(lora["enabled"]), max_loras=int(lora["maxLoras"]),
                   max_lora_rank=int(lora["maxLoraRank"]), adapters=adapters,
                   cache_dir=Path(data.get("cacheDir") or _TOP["cacheDir"]),
                   deployment_config=dict(data.get("deploymentConfig") or {}),
                   drain_seconds=_int(data, "drainSeconds", where, minimum=1),
                   verify_cache=bool(data.get("verifyCache", _TOP["verifyCache"])))

    @property
    def gpu_share(self) -> float | None:
        """The share of one GPU a replica takes (engine ray, several replicas per GPU), else None."""
        return self.gpus if 0 < self.gpus < 1 else None

    def engine_args(self, model_path: str | Path) -> dict:
        """vLLM engine arguments (snake_case, as EngineArgs and Ray Serve LLM's engine_kwargs take them)."""
        v = self.vllm
        args = {"model": str(model_path), "served_model_name": [self.name],
                "tensor_parallel_size": self.tensor_parallel_size,
                "pipeline_parallel_size": self.pipeline_parallel_size,
                "dtype": v.get("dtype", _VLLM["dtype"]),
                "enable_prefix_caching": bool(v.get("enablePrefixCaching", _VLLM["enablePrefixCaching"])),
                "enforce_eager": bool(v.get("enforceEager", _VLLM["enforceEager"])),
                # vLLM's default (0) aborts in-flight requests on SIGTERM; >0 drains them first
                "shutdown_timeout": self.drain_seconds}
        if self.gpus:
            # vLLM takes its fraction of the whole GPU's memory: a replica on a share takes that share of it
            utilization = float(v.get("gpuMemoryUtilization", _VLLM["gpuMemoryUtilization"]))
            args["gpu_memory_utilization"] = round(utilization * min(1.0, self.gpus), 4)
        for key, arg in (("maxModelLen", "max_model_len"), ("quantization", "quantization"),
                         ("maxNumSeqs", "max_num_seqs")):
            if v.get(key) is not None:
                args[arg] = v[key]
        if self.lora_enabled:
            args.update(enable_lora=True, max_loras=self.max_loras, max_lora_rank=self.max_lora_rank)
        for key, value in (v.get("extraArgs") or {}).items():
            args[key.replace("-", "_")] = value
        return args

    def server_argv(self, model_path: str | Path, host: str, port: int,
                    adapter_paths: dict[str, Path] | None = None) -> list[str]:
        """Command-line arguments of vLLM's OpenAI server for the same engine arguments."""
        argv = ["--host", host, "--port", str(port)]
        for key, value in self.engine_args(model_path).items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else "--no-" + flag[2:])
            elif isinstance(value, list):
                argv += [flag, *map(str, value)]
            else:
                argv += [flag, str(value)]
        for name, path in (adapter_paths or {}).items():
            argv += ["--lora-modules", f"{name}={path}"]
        return argv


def _known(data: dict, allowed: frozenset, where: str, hint: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}{sorted(unknown)[0]}: unknown key{hint}")


def _gpus(value, derived: int, where: str) -> float:
    """gpus: a whole number, or a share 1/N of one GPU for a replica of TP×PP = 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}gpus: {value!r} must be a number ≥ 0")
    if value >= 1 or value == 0:
        if value != int(value):
            raise ConfigError(f"{where}gpus: {value!r} is neither a whole number of GPUs nor a share below 1")
        return int(value)
    per_gpu = round(1 / value)
    if per_gpu < 2 or abs(per_gpu * value - 1) > 1e-3:
        raise ConfigError(f"{where}gpus: {value!r} is not a share one GPU divides into: use 1/N (0.5, 0.25, ...)")
    if derived != 1:
        raise ConfigError(f"{where}gpus: a share of a GPU ({value}) holds one whole replica, but tensorParallelSize × "
                          f"pipelineParallelSize = {derived}")
    return float(value)


def _int(data: dict, key: str, where: str, minimum: int | None = None) -> int:
    """An integer key of model.json: its default and lower bound are the contract's."""
    value = data.get(key, _TOP[key])
    low = contract.MINIMUMS.get(key, 1) if minimum is None else minimum
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where}{key}: {value!r} must be an integer ≥ {low}")
    return value


def load(path: str | Path) -> ModelConfig:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the model config: {err.strerror}") from err
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from err
    return ModelConfig.from_dict(data)
