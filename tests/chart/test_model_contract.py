"""The model contract (charts/llm-stack/files/model.yaml) as the one definition of a model entry: the chart and the
serving package read the same keys, defaults and source grammar from it."""

from __future__ import annotations

import json

import pytest
from llm_serving import contract
from llm_serving.config import ConfigError, ModelConfig, Source

from chartkit import model_configs, render
from llmstack import helm, model_contract

# sources at the edges of the grammar: each scheme's shape, revisions, '@' outside hf://, relative and dotted paths
SOURCES = ["hf://Qwen/Qwen2.5-7B@main", "hf://org/model@refs/pr/1", "hf://org", "hf://org/a/b", "hf://-org/model",
           "s3://bucket/models/llama", "s3://b", "s3://Bucket/x", "s3://bucket/x@v1", "gs://bucket/path",
           "gs://my_bucket/p", "pvc://weights/llama/8b", "pvc://Weights/x", "file:///models/x", "file://models/x",
           "file:///models/x@v2", "ftp://mirror/llama", "s3://b/models/../../etc", "hf://org/model@../../x", ""]


def chart_accepts(source: str) -> bool:
    try:
        helm.template(set_values=["models[0].name=m", f"models[0].source={source}"])
    except helm.HelmError as err:
        assert "models[0].source" in str(err) or "/models/0/source" in str(err), err  # the rule's or the schema's
        return False
    return True


def serving_accepts(source: str) -> bool:
    try:
        Source.parse(source)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("source", SOURCES)
def test_the_chart_and_the_serving_package_accept_the_same_sources(source):
    assert chart_accepts(source) == serving_accepts(source)


def test_the_grammar_is_the_contracts():
    assert model_contract.source_pattern() == contract.SOURCE_PATTERN
    assert serving_accepts("s3://bucket/x") and not serving_accepts("s3://bucket/x y")


def test_model_json_holds_the_contracts_keys_and_means_the_chart_defaults():
    """The chart writes exactly the contract's model.json keys; a model.json with only a name and a source (as a
    user might write for `llm-serving serve`) gives vLLM the same arguments as the chart's defaults do."""
    (config,) = model_configs(render(None)).values()
    assert set(config) == contract.TOP_KEYS
    chart_args = ModelConfig.from_dict(config).engine_args("/m")
    bare_args = ModelConfig.from_dict({"name": config["name"], "source": config["source"],
                                       "vllm": {"maxModelLen": config["vllm"]["maxModelLen"]},
                                       "drainSeconds": config["drainSeconds"]}).engine_args("/m")
    assert chart_args == bare_args


def test_the_schema_and_values_defaults_are_the_contracts():
    """values.yaml's modelDefaults is the contract's defaults, and the schema's model entry its keys."""
    import yaml

    values = yaml.safe_load(model_contract.VALUES.read_text())
    assert values["modelDefaults"] == model_contract.defaults()
    schema = json.loads(model_contract.SCHEMA.read_text())["$defs"]
    assert set(schema["model"]["properties"]) == set(model_contract.definition()["keys"])
    assert set(schema["modelDefaults"]["properties"]) == set(schema["model"]["properties"]) - {"name", "source"}
