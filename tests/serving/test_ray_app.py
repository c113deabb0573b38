"""engine: ray -- the real `serve deploy` of the serveConfigV2 the chart renders for the cpu-tiny profile
(only the source, cache and HTTP port changed for a laptop), on a local Ray head, serving real vLLM (CPU);
plus one application holding two models."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time

import pytest
import yaml

from chartkit import by_kind, render
from llmstack.local import chart
from llmstack.local.ray import ray_serve
from llmstack.paths import PROFILES
from procs import free_port
from servingkit import SERVING_VENV, VLLM_ENV, get, post

pytestmark = [pytest.mark.serving, pytest.mark.slow]


def chart_serve_config(tiny_model, cache_dir, http_port: int) -> dict:
    serve = chart.serve_config(f"file://{tiny_model}", cache_dir, {"host": "127.0.0.1", "port": http_port},
                               set_values=("models[0].name=tiny",))
    assert serve["applications"][0]["import_path"] == "llm_serving.ray_app:build_app"
    return serve


@pytest.fixture(scope="module")
def ray_app(serving_python, tiny_model, tmp_path_factory):
    """A local Ray head running the chart's app ("/") and a two-model app ("/two"): (http port, metrics port)."""
    tmp = tmp_path_factory.mktemp("ray")
    metrics, http_port = free_port(), free_port()
    # Ray's processes report metrics to the node's exporter every 10 s by default; 1 s keeps the metrics test short
    env = {**VLLM_ENV, "PATH": f"{SERVING_VENV}/bin:/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_metrics_report_interval_ms": "1000"}
    serve = chart_serve_config(tiny_model, tmp / "cache", http_port)
    two = json.loads(json.dumps(serve["applications"][0]))
    first = two["args"]["models"][0]
    two["args"]["models"] = [{**first, "name": "tiny-a"}, {**first, "name": "tiny-b"}]
    two.update(name="two-models", route_prefix="/two")
    serve["applications"].append(two)
    with ray_serve(serve, tmp, env, num_cpus=8, worker_ports=(31000, 31999), metrics_port=metrics):
        yield http_port, metrics


def test_chart_app_serves_chat_and_lists_the_model(ray_app):
    status, body = get(ray_app[0], "/v1/models")
    assert status == 200 and [m["id"] for m in json.loads(body)["data"]] == ["tiny"]
    status, body = post(ray_app[0], "/v1/chat/completions",
                        {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,
                         "ignore_eos": True})
    assert status == 200, body
    assert body["usage"]["completion_tokens"] == 8


def test_chart_app_streams(ray_app):
    conn = http.client.HTTPConnection("127.0.0.1", ray_app[0], timeout=60)
    conn.request("POST", "/v1/completions", headers={"Content-Type": "application/json"},
                 body=json.dumps({"model": "tiny", "prompt": "hi", "max_tokens": 6, "stream": True,
                                  "ignore_eos": True}))
    resp = conn.getresponse()
    events = [ln for ln in resp.read().split(b"\n") if ln.startswith(b"data: ")]
    assert resp.status == 200 and events[-1] == b"data: [DONE]" and len(events) >= 7


def test_two_models_in_one_app(ray_app):
    status, body = get(ray_app[0], "/two/v1/models")
    assert {m["id"] for m in json.loads(body)["data"]} == {"tiny-a", "tiny-b"}
    for model in ("tiny-a", "tiny-b"):
        status, body = post(ray_app[0], "/two/v1/completions", {"model": model, "prompt": "x", "max_tokens": 3})
        assert status == 200 and body["model"] == model


def test_ray_metrics_include_serve_and_vllm_families(ray_app):
    text = ""
    # vLLM records its gauges on engine steps and Ray exports them with a lag that grows under CPU contention:
    # keep the engine stepping while waiting
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        post(ray_app[0], "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 2})
        text = get(ray_app[1], "/metrics")[1].decode()
        if "ray_vllm_num_requests_waiting" in text and "ray_serve_num_ongoing_requests_at_replicas" in text:
            break
        time.sleep(2)
    assert "ray_serve_num_ongoing_requests_at_replicas" in text
    assert "ray_vllm_num_requests_waiting" in text and 'model_name="tiny"' in text


def test_ray_serve_llm_places_a_gpu_share_as_one_bundle_of_that_share(serving_python, tmp_path):
    """The quarter-GPU profile's app args through Ray Serve LLM's own LLMConfig and engine config (the serving
    image's Ray): each replica's placement group is one bundle of 0.24 GPU, vLLM's Ray worker claims the same,
    and vLLM gets 0.225 of the GPU's memory (0.9 × 0.25)."""
    (rs,) = by_kind(render(PROFILES / "a100-7b-quarter.yaml"), "RayService")
    args = tmp_path / "args.json"
    args.write_text(json.dumps(yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"][0]["args"]))
    script = ("import json, sys\n"
              "from llm_serving.ray_app import serving_args\n"
              "from ray.serve.llm import LLMConfig\n"
              "config = LLMConfig(**serving_args(json.load(open(sys.argv[1])))['llm_configs'][0])\n"
              "engine = config.get_engine_config()\n"
              "print(json.dumps({'bundles': engine.placement_bundles, 'env': config.runtime_env['env_vars'],\n"
              "                  'memory': engine.engine_kwargs['gpu_memory_utilization']}))\n")
    proc = subprocess.run([str(serving_python), "-c", script, str(args)], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **VLLM_ENV})
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"bundles": [{"GPU": 0.24}], "memory": 0.225,
                    "env": {"VLLM_RAY_PER_WORKER_GPUS": "0.24", "VLLM_DISABLE_COMPILE_CACHE": "1"}}
