"""engine: ray with `ray.directStreaming: true` -- HAProxy in front and the model's LLMServer as its own ingress
(Ray Serve LLM's direct streaming), from the chart's own rendering of the cpu-tiny profile, on a real Ray head
inside a network namespace the test creates."""

from __future__ import annotations

import http.client
import json
import subprocess

import pytest
import yaml

from chartkit import by_kind, render
from llmstack.local.netns import NamespaceUnavailable, network_namespace
from llmstack.local.ray import ray_serve
from llmstack.paths import PROFILES
from servingkit import SERVING_VENV, VLLM_ENV, get, post

pytestmark = [pytest.mark.serving, pytest.mark.slow]


@pytest.fixture(scope="module")
def direct_app(serving_python, tiny_model, tmp_path_factory):
    """The chart's app with `ray.directStreaming: true`, its serveConfigV2 unchanged but for the source and
    cache (HTTP on 0.0.0.0:8000, as in the pod) and the Ray pods' environment from the rendered RayService, on
    a Ray head inside a network namespace (HAProxy binds its stats and metrics ports on every interface).
    Yields (address, dashboard address, namespace)."""
    objs = render(PROFILES / "cpu-tiny.yaml", extra=("models[0].name=tiny", f"models[0].source=file://{tiny_model}",
                                                     "models[0].ray.directStreaming=true"))
    (rs,) = by_kind(objs, "RayService")
    head = rs["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    flags = {e["name"]: e["value"] for e in head["env"] if e["name"].startswith("RAY_SERVE")}
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    tmp = tmp_path_factory.mktemp("d")  # short: Ray's socket paths under it must stay < 108 bytes
    serve["applications"][0]["args"]["models"][0]["cacheDir"] = str(tmp / "cache")
    env = {**VLLM_ENV, **flags, "PATH": f"{SERVING_VENV}/bin:/usr/bin:/sbin:/bin", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(tmp / "haproxy")}
    try:
        with network_namespace("ds") as ns, ray_serve(serve, tmp, env, num_cpus=8, worker_ports=(31000, 31999),
                                                      netns=ns) as dashboard:
            yield ns.address, dashboard, ns
    except NamespaceUnavailable as err:
        print(f"SKIP direct streaming: cannot create a network namespace ({err})")
        pytest.skip(f"cannot create a network namespace: {err}")


def test_direct_streaming_serves_chat_json_and_stream_from_the_llm_server(direct_app):
    host = direct_app[0]
    status, body = get(8000, "/v1/models", host=host)
    assert status == 200 and [m["id"] for m in json.loads(body)["data"]] == ["tiny"]
    status, body = post(8000, "/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user",
                                                                                      "content": "hi"}],
                                                      "max_tokens": 8, "ignore_eos": True}, host=host)
    assert status == 200 and body["usage"]["completion_tokens"] == 8, body
    conn = http.client.HTTPConnection(host, 8000, timeout=60)
    conn.request("POST", "/v1/chat/completions", headers={"Content-Type": "application/json"},
                 body=json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6,
                                  "stream": True, "ignore_eos": True}))
    resp = conn.getresponse()
    events = [ln for ln in resp.read().split(b"\n") if ln.startswith(b"data: ")]
    assert resp.status == 200 and events[-1] == b"data: [DONE]" and len(events) >= 7
    # the pod's probes and KubeRay's serve-endpoint check ask the node's ingress (now HAProxy) for these
    assert get(8000, "/-/healthz", host=host)[0] == 200
    assert json.loads(get(8000, "/-/routes", host=host)[1]) == {"/": "tiny"}


def test_direct_streaming_has_no_ingress_deployment(direct_app):
    _, dashboard, ns = direct_app
    status = subprocess.run(ns.wrap([str(SERVING_VENV / "bin" / "serve"), "status", "-a", dashboard]),
                            capture_output=True, text=True, timeout=60).stdout
    deployments = set(yaml.safe_load(status)["applications"]["tiny"]["deployments"])
    assert "OpenAiIngress" not in deployments and {"LLMRouter"} < deployments, deployments
    assert any(d.startswith("LLMServer") for d in deployments), deployments


def test_direct_streaming_refuses_a_malformed_request_and_keeps_serving(direct_app):
    host = direct_app[0]
    status, body = post(8000, "/v1/chat/completions", {"model": "tiny", "messages": "not a list"}, host=host)
    assert status == 400, body
    status, _ = post(8000, "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 2}, host=host)
    assert status == 200
