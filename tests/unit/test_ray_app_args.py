"""llm_serving.ray_app turns the chart's serveConfigV2 args into Ray Serve LLM's arguments."""

from __future__ import annotations

import pytest
import yaml
from llm_serving.config import ConfigError
from llm_serving.ray_app import serving_args

from chartkit import by_kind, render
from llmstack.paths import PROFILES


def app_args(profile: str) -> dict:
    (rs,) = by_kind(render(PROFILES / f"{profile}.yaml"), "RayService")
    return yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"][0]["args"]


def test_gpu_model_maps_parallelism_autoscaling_and_cache_path():
    spec = serving_args(app_args("h100-405b-multinode"))
    (llm,) = spec["llm_configs"]
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 8
    assert llm["engine_kwargs"]["pipeline_parallel_size"] == 2
    assert llm["model_loading_config"] == {"model_id": "llama-3.1-405b-instruct",
                                           "model_source": "/models/hf/meta-llama/Llama-3.1-405B-Instruct"}
    assert llm["deployment_config"]["autoscaling_config"]["max_replicas"] == 1
    assert llm["deployment_config"]["graceful_shutdown_timeout_s"] == 105
    assert "accelerator_config" not in llm


def test_a_gpu_share_follows_ray_serve_llms_fractional_gpu_recipe():
    """gpus: 0.25 -- a placement bundle a hair under the share, vLLM's Ray worker told the same share, no shared
    compile cache, and vLLM's memory fraction scaled to the share (0.9 of the GPU × 0.25)."""
    (llm,) = serving_args(app_args("a100-7b-quarter"))["llm_configs"]
    assert llm["placement_group_config"] == {"bundles": [{"GPU": 0.24}]}
    assert llm["runtime_env"]["env_vars"] == {"VLLM_RAY_PER_WORKER_GPUS": "0.24", "VLLM_DISABLE_COMPILE_CACHE": "1"}
    assert llm["engine_kwargs"]["gpu_memory_utilization"] == 0.225
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 1 and "accelerator_config" not in llm


def test_cpu_model_asks_for_the_cpu_accelerator_and_a_free_ingress():
    spec = serving_args(app_args("cpu-tiny"))
    assert spec["llm_configs"][0]["accelerator_config"] == {"kind": "cpu"}
    assert spec["ingress_deployment_config"]["ray_actor_options"] == {"num_cpus": 0}


@pytest.mark.parametrize("args, message", [({}, "args.models: list at least one"),
                                           ({"models": [{"name": "a", "source": "hf://o/a"},
                                                        {"name": "a", "source": "hf://o/b"}]}, "must be unique"),
                                           ({"models": [{"name": "a", "source": "ftp://x"}]},
                                            "args.models[0].source")])
def test_bad_args_are_refused(args, message):
    with pytest.raises(ConfigError) as err:
        serving_args(args)
    assert message in str(err.value)


def test_direct_streaming_has_no_ingress_deployment():
    spec = serving_args(app_args("cpu-tiny"), direct=True)
    assert set(spec) == {"llm_configs"} and len(spec["llm_configs"]) == 1


TWO_MODELS = {"models": [{"name": "a", "source": "hf://o/a"}, {"name": "b", "source": "hf://o/b"}]}


@pytest.mark.parametrize("extra, message", [(TWO_MODELS, "got models ['a', 'b']"),
                                            ({"ingress": {"num_replicas": 2}}, "and args.ingress")])
def test_direct_streaming_refuses_two_models_or_ingress_options(extra, message):
    args = {**app_args("cpu-tiny"), **extra}
    with pytest.raises(ConfigError) as err:
        serving_args(args, direct=True)
    assert message in str(err.value) and "one application each, or turn direct streaming off" in str(err.value)
