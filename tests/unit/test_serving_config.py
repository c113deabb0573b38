"""llm_serving.config: the chart's model.json, validated, and translated to vLLM's arguments."""

from __future__ import annotations

import json

import pytest
from llm_serving.config import ConfigError, ModelConfig, Source

from chartkit import by_kind, render
from llmstack.paths import PROFILES


def cfg(**over) -> dict:
    return {"name": "m", "source": "hf://org/model@abc123", **over}


@pytest.mark.parametrize("data, message", [
    (cfg(tensorParallelSize=4, pipelineParallelSize=2, gpus=4), "gpus (4) contradicts tensorParallelSize (4)"),
    (cfg(source="ftp://x"), "source: 'ftp://x' is not a supported model source"),
    (cfg(source="file://relative"), "file:// needs an absolute path"),
    (cfg(source="s3://bucket/x@v1"), "@revision is only meaningful for hf://"),
    (cfg(replicas=2), "replicas: unknown key"),
    (cfg(vllm={"maxModelLength": 10}), "vllm.maxModelLength: unknown key"),
    (cfg(tensorParallelSize=0), "tensorParallelSize: 0 must be an integer"),
    (cfg(engine="ray"), "engine: unknown key"),  # which objects run a model is the chart's choice, not model.json's
    ({"name": "m"}, "source: required"),
    (cfg(gpus=0.3), "gpus: 0.3 is not a share one GPU divides into"),
    (cfg(gpus=1.5), "gpus: 1.5 is neither a whole number"),
    (cfg(gpus=0.5, tensorParallelSize=2), "a share of a GPU (0.5) holds one whole replica"),
    ({"name": "m", "source": "s3://b/models/../../etc"}, "has a '.' or '..' path segment"),
    ({"name": "m", "source": "hf://org/model@../../x"}, "has a '.' or '..' path segment"),
])
def test_bad_configs_are_rejected_with_the_key(data, message):
    with pytest.raises(ConfigError) as err:
        ModelConfig.from_dict(data)
    assert message in str(err.value)


def test_sources_parse():
    assert Source.parse("hf://Qwen/Qwen2.5-7B@main") == Source("hf", "Qwen/Qwen2.5-7B", "main")
    assert Source.parse("pvc://weights/llama/8b") == Source("pvc", "weights/llama/8b")
    assert str(Source.parse("gs://bucket/path")) == "gs://bucket/path"


def test_engine_args_and_server_argv_say_the_same():
    config = ModelConfig.from_dict(cfg(tensorParallelSize=2, drainSeconds=45,
                                       vllm={"maxModelLen": 4096, "enablePrefixCaching": False,
                                             "extraArgs": {"max-num-batched-tokens": 8192, "trust_remote_code": True}}))
    args = config.engine_args("/models/m")
    assert args["tensor_parallel_size"] == 2 and args["max_model_len"] == 4096
    assert args["max_num_batched_tokens"] == 8192 and args["shutdown_timeout"] == 45
    argv = config.server_argv("/models/m", "0.0.0.0", 8000)
    assert argv[argv.index("--served-model-name") + 1] == "m"
    assert "--no-enable-prefix-caching" in argv and "--trust-remote-code" in argv
    assert argv[argv.index("--shutdown-timeout") + 1] == "45"


@pytest.mark.parametrize("profile", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_profile_renders_configs_the_serving_package_accepts(profile):
    """The chart <-> image contract: each model.json the chart renders (and each serveConfigV2 args entry)
    loads without error, with the same GPUs and name."""
    import yaml

    objs = render(profile)
    for cm in by_kind(objs, "ConfigMap"):
        if "model.json" in cm.get("data", {}):
            data = json.loads(cm["data"]["model.json"])
            config = ModelConfig.from_dict(data)
            assert (config.name, config.gpus) == (data["name"], data["gpus"])
    for rs in by_kind(objs, "RayService"):
        for model in yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"][0]["args"]["models"]:
            ModelConfig.from_dict(model)


def test_a_gpu_share_scales_vllms_memory_fraction_to_the_share():
    config = ModelConfig.from_dict(cfg(gpus=0.25, vllm={"gpuMemoryUtilization": 0.8}))
    assert config.gpu_share == 0.25 and config.engine_args("/m")["gpu_memory_utilization"] == 0.2
    whole = ModelConfig.from_dict(cfg(gpus=1))
    assert whole.gpu_share is None and whole.engine_args("/m")["gpu_memory_utilization"] == 0.9
