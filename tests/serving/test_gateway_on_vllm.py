"""The gateway in front of the real vLLM (CPU) server: chat, streaming chunk by chunk, usage accounted in
the gateway's metrics, and the engine's own routes unreachable through it."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from gatewaykit import KEYS, Client, route
from llmstack.local.gateway import start_gateway, write_config, write_keys

pytestmark = [pytest.mark.serving, pytest.mark.gateway]


@pytest.fixture(scope="module")
def gateway_port(vllm_server, tmp_path_factory, serving_logs):
    tmp = tmp_path_factory.mktemp("gateway-on-vllm")
    keys = write_keys(tmp / "keys.yaml", KEYS)
    # the gateway README's canary: one public name over two revisions that serve their own names (here both
    # are the one real vLLM serving "tiny"), and a route that forwards a name the engine does not serve
    canary = {"model": "llama-3.1-8b-instruct", "backends": [
        {"name": "v1", "url": f"http://127.0.0.1:{vllm_server[0]}", "weight": 90, "model": "tiny"},
        {"name": "v2", "url": f"http://127.0.0.1:{vllm_server[0]}", "weight": 10, "model": "tiny"}]}
    config = write_config(tmp / "gateway.yaml", [route("tiny", ("vllm", vllm_server[0], 1)), canary,
                                                 route("unrewritten", ("vllm", vllm_server[0], 1))], keys)
    port, proc = start_gateway("gateway-on-vllm", config, serving_logs)
    yield port
    proc.stop()


def test_chat_through_the_gateway(gateway_port):
    status, headers, body = Client(gateway_port).chat(model="tiny", max_tokens=6, ignore_eos=True)
    assert status == 200, body
    assert json.loads(body)["usage"]["completion_tokens"] == 6
    assert headers["x-llm-backend"] == "vllm"


def test_a_canary_of_revisions_under_one_public_name_reaches_real_vllm(gateway_port):
    client = Client(gateway_port)
    backends = set()
    for _ in range(20):
        status, headers, body = client.chat(model="llama-3.1-8b-instruct", max_tokens=2)
        assert status == 200, body
        backends.add(headers["x-llm-backend"])
    assert backends <= {"v1", "v2"} and "v1" in backends
    # without the rewrite vLLM refuses the public name: the rewrite is what makes the canary work
    status, _, body = client.chat(model="unrewritten", max_tokens=2)
    assert status == 404 and b"does not exist" in body


def test_streaming_through_the_gateway_arrives_chunk_by_chunk(gateway_port):
    conn = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=60)
    conn.request("POST", "/v1/completions", headers={"Content-Type": "application/json",
                                                     "Authorization": "Bearer sk-alpha-0123456789"},
                 # long enough (~1 s on 2 cores) that a scheduling pause of the API server is no false "buffered"
                 body=json.dumps({"model": "tiny", "prompt": "once", "max_tokens": 800, "ignore_eos": True,
                                  "stream": True, "stream_options": {"include_usage": True}}))
    started = time.monotonic()
    resp = conn.getresponse()
    first = None
    data = b""
    while chunk := resp.read1(65536):
        if first is None and b"data: " in chunk:
            first = time.monotonic() - started
        data += chunk
    total = time.monotonic() - started
    assert resp.status == 200 and data.rstrip().endswith(b"data: [DONE]")
    assert first < total / 3, f"first chunk after {first:.2f}s of {total:.2f}s: buffered"
    status, _, metrics = Client(gateway_port).request("GET", "/metrics")
    assert 'llm_gateway_tokens_total{direction="completion",key_id="alpha",model="tiny"}' in metrics.decode()


def test_engine_routes_are_not_reachable_through_the_gateway(gateway_port, vllm_server):
    from servingkit import get

    assert get(vllm_server[0], "/metrics")[0] == 200  # the engine has it...
    for path in ("/metrics/", "/health", "/v1/load_lora_adapter", "/tokenize", "/version"):
        status, _, _ = Client(gateway_port).request("POST" if "lora" in path or "token" in path else "GET", path,
                                                    {"model": "tiny"})
        assert status in (404, 405), path  # ...the gateway does not pass it on
