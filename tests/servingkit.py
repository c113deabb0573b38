"""Helpers for the serving tier: the serving venv, the tiny model, real vLLM servers on loopback."""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from pathlib import Path

from llmstack.local import SERVING_VENV, VLLM_CPU_ENV, chart
from llmstack.paths import ROOT

SERVING_PYTHON = SERVING_VENV / "bin" / "python"
RAY = str(SERVING_VENV / "bin" / "ray")
SERVE = str(SERVING_VENV / "bin" / "serve")
MODELS = ROOT / ".tools" / "models"
VLLM_ENV = VLLM_CPU_ENV


def model_config(tmp: Path, model_dir: Path, name: str = "tiny", values: Sequence[str] = ()) -> Path:
    """model.json as the chart renders it for the cpu-tiny profile's model run as engine vllm, named `name`, pointed
    at `model_dir`; `values`: further `--set` values, as a user would write them."""
    config = chart.model_json(f"file://{model_dir}", tmp / "cache", set_values=(
        f"models[0].name={name}", "models[0].engine=vllm", "models[0].vllm.maxModelLen=1024", *values))
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def post(port: int, path: str, body: dict, timeout: float = 60, host: str = "127.0.0.1") -> tuple[int, dict]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data.startswith(b"{") else {"raw": data.decode(errors="replace")})


def get(port: int, path: str, timeout: float = 10, host: str = "127.0.0.1") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()
