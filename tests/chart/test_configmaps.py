"""The ConfigMaps: a model's config (configmap-model.yaml), which both engines read, and the gateway's
routes (configmap-gateway.yaml)."""

from __future__ import annotations

import pytest
import yaml

from chartkit import by_kind, model_configs, of_models, profile, render

pytestmark = pytest.mark.chart


def test_both_engines_read_the_same_config_object():
    objs = profile("multi-model")
    configs = model_configs(objs)
    (rs,) = by_kind(objs, "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    (app,) = serve["applications"]
    assert app["import_path"] == "llm_serving.ray_app:build_app"
    assert app["args"]["models"] == [configs["qwen2.5-7b-instruct"]]
    (deploy,) = of_models(objs, "Deployment")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["llm-serving", "serve"]


def test_gateway_aliases_and_route_weights_make_a_canary_of_two_revisions():
    objs = render(None, extra=("gateway.enabled=true", "gateway.keys.existingSecret=k",
                               "models[0].name=llama-v1", "models[0].source=hf://o/a", "models[0].routeWeight=90",
                               "models[0].aliases[0]=llama", "models[1].name=llama-v2", "models[1].source=hf://o/b",
                               "models[1].routeWeight=10", "models[1].aliases[0]=llama"))
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if "gateway.yaml" in c["data"]]
    routes = {r["model"]: r["backends"] for r in yaml.safe_load(cm["data"]["gateway.yaml"])["routes"]}
    assert [(b["name"], b["weight"], b["model"]) for b in routes["llama"]] == [("llama-v1", 90, "llama-v1"),
                                                                                ("llama-v2", 10, "llama-v2")]
    # each revision keeps its own name, alone: all its traffic, and no rewrite
    assert [(b["weight"], "model" in b) for b in routes["llama-v1"]] == [(1, False)]
