"""The chart's own serving config, rendered by the real helm and pointed at a model on this machine: what the
demo, the tests and the serving benchmark run, so that none of them writes a model.json or a Serve config by
hand. A test that needs a different engine setting says it in values (`set_values`), as a user would."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from llmstack import helm, manifests
from llmstack.paths import PROFILES

CPU_TINY = PROFILES / "cpu-tiny.yaml"


def render(profile: Path = CPU_TINY, set_values: Sequence[str] = ()) -> list[dict]:
    return manifests.parse(helm.template([profile], set_values=set_values, api_versions=helm.OPTIONAL_API_VERSIONS))


def _pointed(model: dict, source: str, cache: Path) -> dict:
    return {**model, "source": source, "cacheDir": str(cache)}


def model_json(source: str, cache: Path, profile: Path = CPU_TINY, set_values: Sequence[str] = (),
               name: str | None = None, objs: list[dict] | None = None) -> dict:
    """A model's model.json (the first one's, or `name`'s), as the chart's ConfigMap holds it, with its source and
    cache folder here. `objs`: an earlier render to read instead of rendering `profile` with `set_values`."""
    objs = render(profile, set_values) if objs is None else objs
    configs = [json.loads(o["data"]["model.json"]) for o in objs
               if o["kind"] == "ConfigMap" and "model.json" in o.get("data", {})]
    return _pointed(next(c for c in configs if name in (None, c["name"])), source, cache)


def serve_config(source: str, cache: Path, http_options: dict, profile: Path = CPU_TINY,
                 set_values: Sequence[str] = (), objs: list[dict] | None = None) -> dict:
    """The first RayService's serveConfigV2, each model pointed at `source` and `cache`, HTTP on `http_options`."""
    objs = render(profile, set_values) if objs is None else objs
    rayservice = next(o for o in objs if o["kind"] == "RayService")
    config = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    for app in config["applications"]:
        app["args"]["models"] = [_pointed(m, source, cache) for m in app["args"]["models"]]
    config["http_options"] = http_options
    return config
