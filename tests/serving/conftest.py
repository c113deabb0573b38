"""Fixtures for the serving tier: the tiny model (built once, cached), and real vLLM processes."""

from __future__ import annotations

import pytest

from procs import free_port, http_ok, start
from servingkit import VLLM_ENV, model_config


@pytest.fixture(scope="session")
def serving_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("serving-logs")


@pytest.fixture(scope="module")
def vllm_server(serving_python, tiny_model, tmp_path_factory, serving_logs):
    """`llm-serving serve` (engine vllm) on the tiny model: (port, proc)."""
    tmp = tmp_path_factory.mktemp("standalone")
    config = model_config(tmp, tiny_model)
    port = free_port()
    proc = start(f"vllm-{port}", [str(serving_python), "-m", "llm_serving", "serve", "--config", str(config),
                                  "--host", "127.0.0.1", "--port", str(port)],
                 serving_logs, http_ok(port, "/v1/models"), timeout=240, env=VLLM_ENV)
    yield port, proc
    proc.stop(timeout=60)
