"""engine: ray -- the real `serve deploy` of the serveConfigV2 the chart renders for the cpu-tiny profile
(only the source, cache and HTTP port changed for a laptop), on a local Ray head, serving real vLLM (CPU);
plus one application holding two models."""

from __future__ import annotations

import http.client
import json
import subprocess
import time

import pytest
import yaml

from chartkit import by_kind, render
from llmstack.paths import PROFILES
from procs import free_port, kill_session
from servingkit import SERVING_VENV, VLLM_ENV, get, post

pytestmark = [pytest.mark.serving, pytest.mark.slow]
RAY = str(SERVING_VENV / "bin" / "ray")
SERVE = str(SERVING_VENV / "bin" / "serve")


def chart_serve_config(tiny_model, cache_dir, http_port: int) -> dict:
    objs = render(PROFILES / "cpu-tiny.yaml", extra=("models[0].name=tiny", f"models[0].source=file://{tiny_model}"))
    (rs,) = by_kind(objs, "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    assert serve["applications"][0]["import_path"] == "llm_serving.ray_app:build_app"
    serve["applications"][0]["args"]["models"][0]["cacheDir"] = str(cache_dir)
    serve["http_options"] = {"host": "127.0.0.1", "port": http_port}
    return serve


@pytest.fixture(scope="module")
def ray_serve(serving_python, tiny_model, tmp_path_factory):
    """A local Ray head running the chart's app ("/") and a two-model app ("/two"): (http port, metrics port)."""
    tmp = tmp_path_factory.mktemp("ray")
    gcs, dashboard, metrics, http_port = free_port(), free_port(), free_port(), free_port()
    env = {**VLLM_ENV, "PATH": f"{SERVING_VENV}/bin:/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0"}
    start = [RAY, "start", "--head", "--block", "--num-cpus=8", f"--port={gcs}", "--dashboard-host=127.0.0.1",
             f"--dashboard-port={dashboard}", f"--metrics-export-port={metrics}", "--min-worker-port=31000",
             "--max-worker-port=31999", f"--temp-dir={tmp}/ray", "--disable-usage-stats"]
    # its own session: vLLM's engine processes outlive `ray stop`, so teardown kills the whole session
    head = subprocess.Popen(start, env=env, stdout=(tmp / "ray-head.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([RAY, "status", f"--address=127.0.0.1:{gcs}"], capture_output=True, env=env,
                             timeout=60).returncode != 0:
            if time.monotonic() > deadline or head.poll() is not None:
                pytest.fail(f"Ray head did not start:\n{(tmp / 'ray-head.log').read_text()[-3000:]}")
            time.sleep(1)
        serve = chart_serve_config(tiny_model, tmp / "cache", http_port)
        two = json.loads(json.dumps(serve["applications"][0]))
        first = two["args"]["models"][0]
        two["args"]["models"] = [{**first, "name": "tiny-a"}, {**first, "name": "tiny-b"}]
        two.update(name="two-models", route_prefix="/two")
        serve["applications"].append(two)
        (tmp / "serve.yaml").write_text(yaml.safe_dump(serve))
        subprocess.run([SERVE, "deploy", str(tmp / "serve.yaml"), "-a", f"http://127.0.0.1:{dashboard}"],
                       check=True, capture_output=True, env=env, timeout=120)
        deadline = time.monotonic() + 300
        status = ""
        while time.monotonic() < deadline:
            status = subprocess.run([SERVE, "status", "-a", f"http://127.0.0.1:{dashboard}"], capture_output=True,
                                    text=True, env=env, timeout=60).stdout
            apps = yaml.safe_load(status).get("applications", {}) if status else {}
            if apps and all(a["status"] == "RUNNING" for a in apps.values()):
                break
            if any(a["status"] == "DEPLOY_FAILED" for a in apps.values()):
                pytest.fail(f"serve deploy failed:\n{status}")
            time.sleep(3)
        else:
            pytest.fail(f"applications not RUNNING after 300 s:\n{status}")
        yield http_port, metrics
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)
        kill_session(head.pid)
        head.wait(30)


def test_chart_app_serves_chat_and_lists_the_model(ray_serve):
    status, body = get(ray_serve[0], "/v1/models")
    assert status == 200 and [m["id"] for m in json.loads(body)["data"]] == ["tiny"]
    status, body = post(ray_serve[0], "/v1/chat/completions",
                        {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
    assert status == 200, body
    assert body["usage"]["completion_tokens"] == 8


def test_chart_app_streams(ray_serve):
    conn = http.client.HTTPConnection("127.0.0.1", ray_serve[0], timeout=60)
    conn.request("POST", "/v1/completions", headers={"Content-Type": "application/json"},
                 body=json.dumps({"model": "tiny", "prompt": "hi", "max_tokens": 6, "stream": True,
                                  "ignore_eos": True}))
    resp = conn.getresponse()
    events = [ln for ln in resp.read().split(b"\n") if ln.startswith(b"data: ")]
    assert resp.status == 200 and events[-1] == b"data: [DONE]" and len(events) >= 7


def test_two_models_in_one_app(ray_serve):
    status, body = get(ray_serve[0], "/two/v1/models")
    assert {m["id"] for m in json.loads(body)["data"]} == {"tiny-a", "tiny-b"}
    for model in ("tiny-a", "tiny-b"):
        status, body = post(ray_serve[0], "/two/v1/completions", {"model": model, "prompt": "x", "max_tokens": 3})
        assert status == 200 and body["model"] == model


def test_ray_metrics_include_serve_and_vllm_families(ray_serve):
    post(ray_serve[0], "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 2})
    text = ""
    deadline = time.monotonic() + 60  # Ray's metrics agent exports every few seconds
    while time.monotonic() < deadline:
        text = get(ray_serve[1], "/metrics")[1].decode()
        if "ray_vllm_num_requests_waiting" in text and "ray_serve_num_ongoing_requests_at_replicas" in text:
            break
        time.sleep(2)
    assert "ray_serve_num_ongoing_requests_at_replicas" in text
    assert "ray_vllm_num_requests_waiting" in text and 'model_name="tiny"' in text
