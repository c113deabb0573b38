"""engine: ray -- the Ray Serve application named in serveConfigV2 (`llm_serving.ray_app:build_app`).

It wraps Ray Serve LLM (`build_openai_app`: an OpenAI-compatible ingress plus one LLMServer deployment
per model, multi-node TP/PP through Ray placement groups) and feeds it the chart's per-model configs:
  args: {models: [<model.json objects>], ingress: {<Ray Serve deployment options>}}
Direct streaming (the chart's `ray.directStreaming`, i.e. RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING=1 with
HAProxy ingress): Ray Serve LLM makes the LLMServer its own ingress, serving vLLM's FastAPI app inside the
replica behind HAProxy, with no ingress hop; Ray allows one model per application there.
Weights: the app is built on the Ray head, which holds no model cache, so it only names the cache path;
each node that runs part of a replica fetches into its own cache first (a callback Ray Serve LLM calls on
every node), which is a cache hit when the pod's init container already fetched.
"""

from __future__ import annotations

import logging
import os

from llm_serving.config import ConfigError, ModelConfig
from llm_serving.fetch import cache_path, fetch, local_path

log = logging.getLogger("llm_serving.ray_app")
# Ray Serve LLM reads it at import; the chart sets it (with RAY_SERVE_ENABLE_HA_PROXY) on every Ray pod
DIRECT_STREAMING_ENV = "RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING"
# a GPU-share replica reserves this much less than its share (Ray Serve LLM's guide: 0.49 for half a GPU)
GPU_SHARE_HEADROOM = 0.01

try:  # Ray is in the serving image; the config helpers below work without it
    from ray.llm._internal.common.callbacks.base import CallbackBase
except ImportError:  # pragma: no cover - exercised only without Ray installed
    CallbackBase = object


class FetchOnNode(CallbackBase):
    """Ray Serve LLM callback: fetch the model into this node's cache before vLLM loads it."""

    def on_before_download_model_files_distributed(self) -> None:
        config = ModelConfig.from_dict(self.kwargs["model"])
        log.info("fetching %s on this node", config.source)
        fetch(config, verify=False)  # every model pod's init container fetched and verified it already


def model_path(config: ModelConfig) -> str:
    """Where the weights are on a model node: the source itself (file://, pvc://) or its cache folder."""
    in_place = local_path(config.source)
    return str(in_place if in_place is not None else cache_path(config.cache_dir, config.source))


def llm_config(config: ModelConfig, raw: dict) -> dict:
    """The LLMConfig (as a dict) of one model: same engine arguments as the standalone server."""
    path = model_path(config)
    engine_kwargs = config.engine_args(path)
    engine_kwargs.pop("model")
    engine_kwargs.pop("served_model_name")
    engine_kwargs.pop("shutdown_timeout")  # Ray Serve drains replicas itself (graceful_shutdown_timeout_s)
    deployment = dict(config.deployment_config)
    deployment.setdefault("graceful_shutdown_timeout_s", config.drain_seconds)
    result = {
        "model_loading_config": {"model_id": config.name, "model_source": path},
        "engine_kwargs": engine_kwargs,
        "deployment_config": deployment,
        "callback_config": {"callback_class": FetchOnNode, "callback_kwargs": {"model": raw}},
        # vLLM's own metrics (queue depth, TTFT, KV cache) exported as ray_vllm_*: dashboards and alerts need them
        "log_engine_metrics": True,
    }
    if config.gpus == 0:
        result["accelerator_config"] = {"kind": "cpu"}  # else Ray Serve LLM reserves a GPU per worker
    elif config.gpu_share:
        # Ray Serve LLM's fractional-GPU recipe: a bundle of the share (a hair under it, so that N replicas always
        # fit one GPU's 1.0), vLLM's Ray worker told the same share, and no shared torch.compile cache (vLLM
        # replicas compiling into one cache folder at once contend for it)
        share = round(config.gpu_share - GPU_SHARE_HEADROOM, 4)
        result["placement_group_config"] = {"bundles": [{"GPU": share}]}
        result["runtime_env"] = {"env_vars": {"VLLM_RAY_PER_WORKER_GPUS": str(share),
                                              "VLLM_DISABLE_COMPILE_CACHE": "1"}}
    if config.lora_enabled:
        result["lora_config"] = {"max_num_adapters_per_replica": config.max_loras}
    return result


def direct_streaming() -> bool:
    return os.environ.get(DIRECT_STREAMING_ENV) == "1"


def serving_args(args: dict, direct: bool = False) -> dict:
    """Validate serveConfigV2 args and turn them into Ray Serve LLM's LLMServingArgs (as a dict). `direct`:
    the LLMServer is its own ingress (direct streaming), so there is one model and no ingress options."""
    models = (args or {}).get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError("args.models: list at least one model config (the chart writes one per model)")
    configs = [(ModelConfig.from_dict(raw, f"args.models[{i}]"), raw) for i, raw in enumerate(models)]
    names = [c.name for c, _ in configs]
    if len(set(names)) != len(names):
        raise ConfigError(f"args.models: model names must be unique, got {names}")
    llm_configs = [llm_config(c, raw) for c, raw in configs]
    if direct:
        if len(configs) > 1 or args.get("ingress"):
            raise ConfigError(f"args: with {DIRECT_STREAMING_ENV}=1 (ray.directStreaming) each application serves "
                              f"one model through its own LLMServer and has no ingress deployment; got models "
                              f"{names}{' and args.ingress' if args.get('ingress') else ''}: split the models into "
                              f"one application each, or turn direct streaming off")
        return {"llm_configs": llm_configs}
    # the ingress only parses and forwards: it needs no CPU of its own, so it never competes with engines
    ingress = {"ray_actor_options": {"num_cpus": 0}, **(args.get("ingress") or {})}
    return {"llm_configs": llm_configs, "ingress_deployment_config": ingress}


def build_app(args: dict):
    """Ray Serve application builder (serveConfigV2 import_path)."""
    from ray.serve.llm import LLMConfig, LLMServingArgs, build_openai_app

    spec = serving_args(args, direct=direct_streaming())
    spec["llm_configs"] = [LLMConfig(**c) for c in spec["llm_configs"]]
    return build_openai_app(LLMServingArgs(**spec))
