"""One typed config per model: the object the chart writes to /etc/llm-stack/model.json and into the
RayService's serveConfigV2 `args.models[]`. Validated with errors that name the key and the fix."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = re.compile(
    r"^(?P<scheme>hf|s3|gs|pvc|file)://(?P<location>[^@\s]+?)(@(?P<revision>[A-Za-z0-9._/-]+))?$")


class ConfigError(ValueError):
    """A config problem; the message starts with the key path."""


@dataclass(frozen=True)
class Source:
    scheme: str
    location: str        # org/name, bucket/prefix, claim/path or /absolute/path
    revision: str = ""   # hf:// only

    @classmethod
    def parse(cls, uri: str, key: str = "source") -> Source:
        match = SOURCE.match(uri or "")
        if not match:
            raise ConfigError(f"{key}: {uri!r} is not a supported model source: use hf://org/model[@revision], "
                              "s3://bucket/path, gs://bucket/path, pvc://claim/path or file:///absolute/path")
        scheme, location, revision = match["scheme"], match["location"], match["revision"] or ""
        if any(part in (".", "..") for part in location.split("/") + revision.split("/")):
            raise ConfigError(f"{key}: {uri!r} has a '.' or '..' path segment: name the path without them (the "
                              "cache folder is made from it, and must stay inside the cache)")
        if revision and scheme != "hf":
            raise ConfigError(f"{key}: @revision is only meaningful for hf:// sources")
        if scheme == "file" and not location.startswith("/"):
            raise ConfigError(f"{key}: file:// needs an absolute path (file:///models/x), got {uri!r}")
        if scheme == "hf" and location.count("/") != 1:
            raise ConfigError(f"{key}: hf:// needs org/model, got {uri!r}")
        return cls(scheme, location, revision)

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.scheme}://{self.location}{rev}"


VLLM_KEYS = {"maxModelLen", "gpuMemoryUtilization", "dtype", "quantization", "enablePrefixCaching", "maxNumSeqs",
             "enforceEager", "extraArgs"}
LORA_KEYS = {"enabled", "maxLoras", "maxLoraRank", "adapters"}
TOP_KEYS = {"name", "source", "engine", "tensorParallelSize", "pipelineParallelSize", "gpus", "vllm", "lora",
            "coldStartSeconds", "cacheDir", "deploymentConfig", "drainSeconds", "verifyCache"}


@dataclass(frozen=True)
class Adapter:
    name: str
    source: Source


@dataclass(frozen=True)
class ModelConfig:
    name: str
    source: Source
    engine: str = "vllm"
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    gpus: int = 1
    vllm: dict = field(default_factory=dict)
    lora_enabled: bool = False
    max_loras: int = 4
    max_lora_rank: int = 16
    adapters: tuple[Adapter, ...] = ()
    cold_start_seconds: int = 900
    cache_dir: Path = Path("/models")
    deployment_config: dict = field(default_factory=dict)
    drain_seconds: int = 30  # on SIGTERM, finish in-flight requests for up to this long
    verify_cache: bool = True  # re-hash a cached copy against its marker before trusting it

    @classmethod
    def from_dict(cls, data: dict, key: str = "") -> ModelConfig:
        where = f"{key}." if key else ""
        if not isinstance(data, dict):
            raise ConfigError(f"{key or '<config>'}: must be a mapping")
        unknown = set(data) - TOP_KEYS
        if unknown:
            raise ConfigError(f"{where}{sorted(unknown)[0]}: unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
        for required in ("name", "source"):
            if not data.get(required):
                raise ConfigError(f"{where}{required}: required")
        vllm = data.get("vllm") or {}
        unknown = set(vllm) - VLLM_KEYS
        if unknown:
            raise ConfigError(f"{where}vllm.{sorted(unknown)[0]}: unknown key (put other engine arguments in "
                              "vllm.extraArgs)")
        lora = data.get("lora") or {}
        unknown = set(lora) - LORA_KEYS
        if unknown:
            raise ConfigError(f"{where}lora.{sorted(unknown)[0]}: unknown key")
        tp = _int(data, "tensorParallelSize", 1, where)
        pp = _int(data, "pipelineParallelSize", 1, where)
        gpus = data.get("gpus")
        gpus = tp * pp if gpus is None else _int(data, "gpus", 0, where, minimum=0)
        if gpus and gpus != tp * pp:
            raise ConfigError(f"{where}gpus ({gpus}) contradicts tensorParallelSize ({tp}) × pipelineParallelSize "
                              f"({pp}) = {tp * pp}: set gpus: {tp * pp}, or remove gpus to derive it")
        engine = data.get("engine", "vllm")
        if engine not in ("ray", "vllm"):
            raise ConfigError(f"{where}engine: {engine!r} must be ray or vllm")
        adapters = tuple(Adapter(str(a.get("name")), Source.parse(a.get("source", ""), f"{where}lora.adapters[{i}]"
                                                                   ".source"))
                         for i, a in enumerate(lora.get("adapters") or []))
        return cls(name=str(data["name"]), source=Source.parse(data["source"], f"{where}source"), engine=engine,
                   tensor_parallel_size=tp, pipeline_parallel_size=pp, gpus=gpus, vllm=dict(vllm),
                   lora_enabled=bool(lora.get("enabled", False)), max_loras=int(lora.get("maxLoras", 4)),
                   max_lora_rank=int(lora.get("maxLoraRank", 16)), adapters=adapters,
                   cold_start_seconds=_int(data, "coldStartSeconds", 900, where),
                   cache_dir=Path(data.get("cacheDir") or "/models"),
                   deployment_config=dict(data.get("deploymentConfig") or {}),
                   drain_seconds=_int(data, "drainSeconds", 30, where),
                   verify_cache=bool(data.get("verifyCache", True)))

    def engine_args(self, model_path: str | Path) -> dict:
        """vLLM engine arguments (snake_case, as EngineArgs and Ray Serve LLM's engine_kwargs take them)."""
        v = self.vllm
        args = {"model": str(model_path), "served_model_name": [self.name],
                "tensor_parallel_size": self.tensor_parallel_size,
                "pipeline_parallel_size": self.pipeline_parallel_size,
                "dtype": v.get("dtype", "auto"),
                "enable_prefix_caching": bool(v.get("enablePrefixCaching", True)),
                "enforce_eager": bool(v.get("enforceEager", False)),
                # vLLM's default (0) aborts in-flight requests on SIGTERM; >0 drains them first
                "shutdown_timeout": self.drain_seconds}
        if self.gpus:
            args["gpu_memory_utilization"] = float(v.get("gpuMemoryUtilization", 0.9))
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


def _int(data: dict, key: str, default: int, where: str, minimum: int = 1) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}{key}: {value!r} must be an integer ≥ {minimum}")
    return value


def load(path: str | Path) -> ModelConfig:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the model config: {err.strerror}") from err
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from err
    return ModelConfig.from_dict(data)
