"""Fixtures for the gateway tier: three FakeOpenAIUpstreams, a Redis server, and gateways started from
a config and keys file per test. Everything binds 127.0.0.1 and is stopped by PID."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from gatewaykit import KEYS, upstream_mode
from llmstack.local.gateway import start_gateway, write_config, write_keys
from procs import Proc, free_port, http_ok, start, tcp_open


@pytest.fixture(scope="session")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gateway-logs")


@pytest.fixture(scope="session")
def upstreams(logs):
    """name -> port of three FakeOpenAIUpstream processes."""
    procs: list[Proc] = []
    ports = {}
    try:
        for name in ("a", "b", "c"):
            port = free_port()
            procs.append(start(f"upstream-{name}", [sys.executable, "-m", "llmstack.local.fake_upstream",
                                                    "--port", str(port), "--name", name],
                               logs, http_ok(port, "/fake/stats")))
            ports[name] = port
        yield ports
    finally:
        for p in procs:
            p.stop()


@pytest.fixture(autouse=True)
def _reset_upstream_modes(request):
    yield
    if "upstreams" in request.fixturenames:
        for port in request.getfixturevalue("upstreams").values():
            upstream_mode(port)


@pytest.fixture(scope="session")
def redis_url(logs):
    server = shutil.which("redis-server")
    if not server:
        pytest.fail("redis-server is missing: `make setup` installs it (Debian package redis-server)")
    port = free_port()
    proc = start("redis", [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                 logs, tcp_open(port))
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest.fixture
def gateway(tmp_path, logs):
    """Start a gateway: gateway(routes=[...], keys=KEYS, **config) -> (port, Proc, config_path, keys_path)."""
    started: list[Proc] = []

    def run(routes: list[dict], keys: dict | None = None, **config):
        keys_path = write_keys(tmp_path / "keys.yaml", KEYS if keys is None else keys)
        config_path = write_config(tmp_path / "gateway.yaml", routes, keys_path, **{
            "health": {"failureThreshold": 2, "ejectSeconds": 1}, "retryAfterSeconds": 2, **config})
        port, proc = start_gateway(f"gateway-{len(started)}", config_path, logs)
        started.append(proc)
        return port, proc, config_path, keys_path

    yield run
    for proc in started:
        proc.stop()


