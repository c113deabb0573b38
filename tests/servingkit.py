"""Helpers for the serving tier: the serving venv, the tiny model, real vLLM servers on loopback."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

from llmstack.paths import ROOT

SERVING_VENV = ROOT / ".tools" / "serving-venv"
SERVING_PYTHON = SERVING_VENV / "bin" / "python"
MODELS = ROOT / ".tools" / "models"
VLLM_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING",
            "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(os.cpu_count() or 2)}


def model_config(tmp: Path, model_dir: Path, name: str = "tiny", **overrides) -> Path:
    """A model.json as the chart writes it (engine vllm, CPU)."""
    config = {"name": name, "source": f"file://{model_dir}", "engine": "vllm", "gpus": 0,
              "tensorParallelSize": 1, "pipelineParallelSize": 1, "coldStartSeconds": 300,
              "cacheDir": str(tmp / "cache"), "drainSeconds": 30,
              "vllm": {"dtype": "bfloat16", "maxModelLen": 1024, "enforceEager": True}, **overrides}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def post(port: int, path: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data.startswith(b"{") else {"raw": data.decode(errors="replace")})


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()
