"""Config validation at start, hot reload, /metrics content, health endpoints, and the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from gatewaykit import Client, route, wait_until

pytestmark = pytest.mark.gateway


def run_cli(*args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_gateway", *args], capture_output=True, text=True,
                          input=stdin, timeout=30)


@pytest.mark.parametrize("config, message", [
    ({"routes": []}, "routes: must be a non-empty list"),
    ({"routes": [{"model": "m", "backends": [{"url": "ftp://x"}]}], "requireKeys": False},
     "routes[0].backends[0].url: 'ftp://x' is not an http(s) URL"),
    ({"routes": [{"model": "m", "backends": [{"url": "http://x", "weight": 0}]}], "requireKeys": False},
     "every weight is 0"),
    ({"routes": [{"model": "m", "backends": [{"url": "http://x"}]}]}, "keysFile: required"),
    ({"routes": [{"model": "m", "backends": [{"url": "http://x"}]}], "requireKeys": False, "healthz": {}},
     "unknown key(s) ['healthz']"),
    ({"routes": [{"model": "m", "backends": [{"url": "http://x"}]},
                 {"model": "m", "backends": [{"url": "http://y"}]}], "requireKeys": False},
     "routes[1].model: 'm' is routed twice"),
])
def test_bad_config_is_refused_with_the_key_path(tmp_path, config, message):
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = run_cli("check-config", "--config", str(path))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_hash_key_reads_stdin():
    from llm_gateway.keys import hash_key

    proc = run_cli("hash-key", stdin="sk-secret\n")
    assert proc.returncode == 0 and proc.stdout.strip() == hash_key("sk-secret")


def test_config_reload_adds_a_route_and_an_invalid_one_is_ignored(gateway, upstreams):
    port, proc, config_path, _ = gateway([route("m", ("a", upstreams["a"], 1))])
    client = Client(port)
    assert client.chat(model="new")[0] == 404
    config = yaml.safe_load(config_path.read_text())
    config["routes"].append(route("new", ("b", upstreams["b"], 1)))
    config_path.write_text(yaml.safe_dump(config))
    assert wait_until(lambda: client.chat(model="new")[0] == 200, timeout=5)
    config_path.write_text("routes: [oops")
    assert wait_until(lambda: "keeping the running one" in proc.output(), timeout=5)
    assert client.chat(model="new")[0] == 200 and client.chat(model="m")[0] == 200


def test_metrics_count_requests_by_key_model_backend_and_status(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    client = Client(port)
    for _ in range(3):
        client.chat(model="m")
    Client(port, "sk-wrong").chat(model="m")
    status, _, body = client.request("GET", "/metrics")
    text = body.decode()
    assert status == 200
    assert 'llm_gateway_requests_total{backend="a",key_id="alpha",model="m",status="200"} 3.0' in text
    assert 'llm_gateway_requests_total{backend="-",key_id="-",model="-",status="401"} 1.0' in text
    assert 'llm_gateway_tokens_total{direction="prompt",key_id="alpha",model="m"} 21.0' in text
    assert "llm_gateway_request_duration_seconds_bucket" in text
    assert "llm_gateway_in_flight_requests" in text


def test_health_endpoints_need_no_key(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))])
    client = Client(port, key=None)
    assert client.request("GET", "/healthz")[0] == 200
    assert client.request("GET", "/readyz")[0] == 200
