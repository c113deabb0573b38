"""Weighted canary split, pinning, fallback before the first byte, passive ejection and recovery, and 503 +
Retry-After when no backend is ready."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from gatewaykit import Client, route, upstream_mode, upstream_stats, wait_until
from llmstack.local.netns import network_namespace
from procs import free_port, http_ok, start

pytestmark = pytest.mark.gateway


def test_weighted_split_is_within_tolerance_over_1000_requests(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 90), ("b", upstreams["b"], 10))])
    client = Client(port)
    n = 1000
    served = [client.chat(model="m")[1]["x-llm-backend"] for _ in range(n)]
    canary = served.count("b")
    sigma = math.sqrt(n * 0.1 * 0.9)
    assert abs(canary - 100) < 4 * sigma, f"canary got {canary} of {n}"
    assert served.count("a") + canary == n


def test_each_backend_gets_the_name_it_serves_the_model_under(gateway, upstreams):
    """One public name over two revisions that each serve their own name (the chart's aliases): the gateway
    rewrites `model` per backend, streamed or not, and leaves it alone where a backend needs no rewrite."""
    canary = route("llama", ("a", upstreams["a"], 1), ("b", upstreams["b"], 1))
    canary["backends"][0]["model"] = "llama-v1"
    canary["backends"][1]["model"] = "llama-v2"
    port, *_ = gateway([canary, route("plain", ("c", upstreams["c"], 1))])
    client = Client(port)
    seen = set()
    for _ in range(40):
        status, headers, body = client.chat(model="llama")
        assert status == 200
        seen.add((headers["x-llm-backend"], json.loads(body)["model"]))
    assert seen == {("a", "llama-v1"), ("b", "llama-v2")}
    status, _, body = client.chat(model="llama", stream=True, max_tokens=3)
    assert status == 200 and b'"model": "llama-v' in body
    assert json.loads(client.chat(model="plain")[2])["model"] == "plain"


def test_key_pinning_sends_every_request_to_its_backend(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 99), ("b", upstreams["b"], 1))])
    client = Client(port, "sk-pinned-0123456789")
    assert {client.chat(model="m")[1]["x-llm-backend"] for _ in range(20)} == {"b"}


def test_header_pinning_only_when_allowed(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1), ("b", upstreams["b"], 0))], allowBackendHeader=True)
    client = Client(port)
    assert {client.request("POST", "/v1/chat/completions", {"model": "m"}, headers={"x-llm-backend": "b"})[1]
            ["x-llm-backend"] for _ in range(5)} == {"b"}


def test_dead_backend_falls_back_before_the_first_byte(gateway, upstreams):
    dead = free_port()  # nothing listens there
    port, *_ = gateway([route("m", ("dead", dead, 50), ("b", upstreams["b"], 50))])
    client = Client(port)
    results = [client.chat(model="m") for _ in range(20)]
    assert all(status == 200 for status, _, _ in results)
    assert {headers["x-llm-backend"] for _, headers, _ in results} == {"b"}


def test_failing_backend_is_ejected_then_probed_back_in(gateway, upstreams):
    port, proc, *_ = gateway([route("m", ("a", upstreams["a"], 50), ("b", upstreams["b"], 50))])
    client = Client(port)
    upstream_mode(upstreams["a"], status=503)
    assert all(client.chat(model="m")[0] == 200 for _ in range(10))  # a's 503s retried on b
    before = upstream_stats(upstreams["a"])["requests"]
    assert all(client.chat(model="m")[1]["x-llm-backend"] == "b" for _ in range(20))
    assert upstream_stats(upstreams["a"])["requests"] == before, "an ejected backend still got traffic"
    status, _, metrics = client.request("GET", "/metrics")
    assert 'llm_gateway_backend_up{backend="a",model="m"} 0.0' in metrics.decode()
    upstream_mode(upstreams["a"])  # recovers
    assert wait_until(lambda: client.chat(model="m")[1]["x-llm-backend"] == "a", timeout=5), "never probed back"
    backends = {client.chat(model="m")[1]["x-llm-backend"] for _ in range(40)}
    assert backends == {"a", "b"}


def test_no_ready_backend_is_a_retryable_503(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1), ("b", upstreams["b"], 1))], retryAfterSeconds=7)
    upstream_mode(upstreams["a"], status=503)
    upstream_mode(upstreams["b"], status=503)
    client = Client(port)
    for _ in range(3):
        status, headers, body = client.chat(model="m")
        assert status == 503
        assert headers["Retry-After"] == "7"
        assert json.loads(body)["error"]["code"] == "no_backend_ready"


def test_upstream_client_errors_are_relayed_not_retried(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1), ("b", upstreams["b"], 0))])
    before = upstream_stats(upstreams["b"])["requests"]
    status, headers, _ = Client(port).chat(model="m", fake={"status": 400})
    assert status == 400 and headers["x-llm-backend"] == "a"
    assert upstream_stats(upstreams["b"])["requests"] == before


def test_a_backend_answering_server_errors_is_ejected_and_clients_get_a_retryable_503(gateway, upstreams):
    """vLLM answers 500 to every request once its engine died: relayed, and counted against the backend, which
    after failureThreshold is left alone; clients then get 503 with Retry-After at once."""
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    upstream_mode(upstreams["a"], status=500)
    client = Client(port)
    statuses = [client.chat(model="m")[0] for _ in range(2)]
    status, headers, body = client.chat(model="m")
    assert statuses == [500, 500] and status == 503 and headers["Retry-After"], body
    assert json.loads(body)["error"]["code"] == "no_backend_ready"


def test_a_backend_that_vanishes_without_a_word_is_noticed_in_seconds(gateway, logs):
    """A deleted pod takes its network with it and sends no reset: the gateway's keepalive notices, and the
    client gets an answer in seconds instead of after the read timeout (10 minutes)."""
    with network_namespace("gone") as ns:
        port = free_port()
        upstream = start("vanishing-upstream", ns.wrap([sys.executable, "-m", "llmstack.local.fake_upstream",
                                                        "--port", str(port), "--host", ns.address, "--name", "v"]),
                         logs, http_ok(port, "/fake/stats", ns.address))
        try:
            gw_port, *_ = gateway([{"model": "m", "backends": [{"name": "v", "url": f"http://{ns.address}:{port}"}]}],
                                  upstream={"deadPeerSeconds": 4})
            client = Client(gw_port)
            assert client.chat(model="m")[0] == 200
            # the upstream holds the next request 60 s; 1 s in, everything sent to it is dropped without a word
            subprocess.Popen(["sh", "-c", f"sleep 1; ip netns exec {ns.name} iptables -A INPUT -j DROP"])
            t0 = time.monotonic()
            status, _, body = client.chat(model="m", fake={"delay": 60})
            assert time.monotonic() - t0 < 15 and status in (502, 503), (status, body)
        finally:
            upstream.stop()
