"""Auth, allowlists, known routes only, request ids, malformed input: real gateway, fake upstreams."""

from __future__ import annotations

import json
import socket
import time

import pytest

from gatewaykit import KEYS, Client, route, wait_until
from llmstack.local.gateway import write_keys

pytestmark = pytest.mark.gateway


@pytest.fixture
def gw(gateway, upstreams):
    port, proc, config_path, keys_path = gateway([route("model-a", ("a", upstreams["a"], 1)),
                                                  route("model-b", ("b", upstreams["b"], 1))],
                                                 limits={"maxBodyBytes": 65536, "bodyTimeoutSeconds": 1})
    return port, proc, keys_path


def test_good_key_is_proxied(gw):
    status, headers, body = Client(gw[0]).chat()
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"].startswith("tok")
    assert headers["x-llm-backend"] == "a"


def test_x_api_key_header_works_too(gw):
    status, _, _ = Client(gw[0], key=None).request(
        "POST", "/v1/chat/completions", {"model": "model-a", "messages": []},
        headers={"x-api-key": "sk-alpha-0123456789"})
    assert status == 200


@pytest.mark.parametrize("key", [None, "sk-wrong", "Bearer", ""], ids=["missing", "bad", "odd", "empty"])
def test_missing_or_bad_key_is_401_with_an_openai_error(gw, key):
    status, headers, body = Client(gw[0], key=key).chat()
    assert status == 401
    error = json.loads(body)["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    assert headers["WWW-Authenticate"] == "Bearer"


def test_revoked_key_stops_working_after_reload_without_dropping_connections(gw):
    port, _, keys_path = gw
    beta, alpha = Client(port, "sk-beta-0123456789"), Client(port)
    assert beta.chat()[0] == 200 and alpha.chat()[0] == 200
    remaining = {k: v for k, v in KEYS.items() if v["id"] != "beta"}
    write_keys(keys_path, remaining)
    assert wait_until(lambda: beta.chat()[0] == 401, timeout=5), "revoked key still accepted"
    # the same keep-alive connections keep working for a valid key
    assert alpha.chat()[0] == 200
    assert alpha.request("GET", "/v1/models")[0] == 200


def test_disallowed_model_is_403_and_unknown_model_404(gw):
    beta = Client(gw[0], "sk-beta-0123456789")
    status, _, body = beta.chat(model="model-b")
    assert status == 403 and json.loads(body)["error"]["code"] == "model_not_allowed"
    status, _, body = beta.chat(model="no-such-model")
    assert status == 404 and json.loads(body)["error"]["code"] == "model_not_found"


def test_models_list_is_aggregated_and_filtered_by_key(gw):
    status, _, body = Client(gw[0]).request("GET", "/v1/models")
    assert status == 200 and {m["id"] for m in json.loads(body)["data"]} == {"model-a", "model-b"}
    status, _, body = Client(gw[0], "sk-beta-0123456789").request("GET", "/v1/models")
    assert {m["id"] for m in json.loads(body)["data"]} == {"model-a"}


@pytest.mark.parametrize("method, path", [("POST", "/reset_prefix_cache"), ("GET", "/fake/stats"),
                                          ("POST", "/v1/chat/completions/../../reset_prefix_cache"),
                                          ("GET", "/v1/chat/completions"), ("POST", "/v1/audio/speech"),
                                          ("DELETE", "/v1/models")])
def test_only_known_routes_are_served(gw, method, path):
    status, _, body = Client(gw[0]).request(method, path, {"model": "model-a"})
    assert status in (404, 405)
    assert b"engine admin route" not in body


def test_embeddings_and_completions_are_proxied(gw):
    client = Client(gw[0])
    assert client.request("POST", "/v1/embeddings", {"model": "model-a", "input": "x"})[0] == 200
    assert client.request("POST", "/v1/completions", {"model": "model-a", "prompt": "x"})[0] == 200


def test_request_id_is_propagated_or_generated(gw):
    client = Client(gw[0])
    _, headers, _ = client.request(
        "POST", "/v1/chat/completions", {"model": "model-a", "messages": []}, headers={"x-request-id": "abc-123"})
    assert headers["x-request-id"] == "abc-123"
    _, headers, _ = client.chat()
    assert len(headers["x-request-id"]) == 32


@pytest.mark.parametrize("raw, code", [(b"{not json", "invalid_json"), (b"[1, 2]", "missing_model"),
                                       (b'{"model": 5}', "missing_model"), (b"\xff\xfe", "invalid_json"),
                                       (b'{"messages": []}', "missing_model")])
def test_malformed_bodies_are_400(gw, raw, code):
    status, _, body = Client(gw[0]).request("POST", "/v1/chat/completions", raw=raw)
    assert status == 400 and json.loads(body)["error"]["code"] == code


def test_huge_body_is_413_and_the_gateway_keeps_serving(gw):
    big = {"model": "model-a", "messages": [{"role": "user", "content": "x" * 200_000}]}
    status, _, _ = Client(gw[0]).chat(**big)
    assert status == 413
    assert Client(gw[0]).chat()[0] == 200


def test_slow_client_body_times_out_with_408(gw):
    sock = socket.create_connection(("127.0.0.1", gw[0]))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-alpha-0123456789\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"")
    sock.settimeout(5)
    started = time.monotonic()
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 3
    assert Client(gw[0]).chat()[0] == 200


def test_keys_never_appear_in_logs(gw):
    from llm_gateway.keys import hash_key

    port, proc, _ = gw
    for key in ("sk-alpha-0123456789", "sk-wrong-secret-value"):
        Client(port, key).chat()
    Client(port, key=None).request("POST", "/v1/chat/completions", {"model": "model-a"},
                                   headers={"x-api-key": "sk-wrong-secret-value"})
    time.sleep(0.2)
    logs = proc.output()
    assert '"key_id": "alpha"' in logs  # requests are logged, by key id
    for secret in ("sk-alpha-0123456789", "sk-wrong-secret-value", hash_key("sk-alpha-0123456789")):
        assert secret not in logs
    for line in logs.splitlines():
        if line.startswith("{") and '"request_id"' in line:
            json.loads(line)  # every access log line is JSON
