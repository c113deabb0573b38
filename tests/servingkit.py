"""Helpers for the serving tier: the serving venv, the tiny model, real vLLM servers on loopback."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from llmstack.local import SERVING_VENV, VLLM_CPU_ENV, serve_running, wait_until
from llmstack.paths import ROOT
from netns import Namespace
from procs import free_port, kill_session

SERVING_PYTHON = SERVING_VENV / "bin" / "python"
RAY = str(SERVING_VENV / "bin" / "ray")
SERVE = str(SERVING_VENV / "bin" / "serve")
MODELS = ROOT / ".tools" / "models"
VLLM_ENV = VLLM_CPU_ENV


def model_config(tmp: Path, model_dir: Path, name: str = "tiny", **overrides) -> Path:
    """A model.json as the chart writes it (engine vllm, CPU)."""
    config = {"name": name, "source": f"file://{model_dir}", "engine": "vllm", "gpus": 0,
              "tensorParallelSize": 1, "pipelineParallelSize": 1, "coldStartSeconds": 300,
              "cacheDir": str(tmp / "cache"), "drainSeconds": 30,
              "vllm": {"dtype": "bfloat16", "maxModelLen": 1024, "enforceEager": True}, **overrides}
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


@contextmanager
def ray_serve(serve_config: dict, tmp: Path, env: dict, num_cpus: int, worker_ports: tuple[int, int],
              metrics_port: int | None = None, timeout: float = 300, netns: Namespace | None = None) -> Iterator[str]:
    """A local Ray head with `serve_config` deployed and every application RUNNING; yields the dashboard
    address. The head runs in its own session, killed whole afterwards: vLLM's engine processes outlive
    `ray stop`. Raises RuntimeError (with the status) when the head or a deployment fails. `netns`: run the
    head (and the commands that talk to it) inside that network namespace, on its address."""
    wrap = netns.wrap if netns else list
    gcs, dashboard = free_port(), free_port()
    address = f"http://127.0.0.1:{dashboard}"
    start = [RAY, "start", "--head", "--block", f"--num-cpus={num_cpus}", f"--port={gcs}",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--min-worker-port={worker_ports[0]}",
             f"--max-worker-port={worker_ports[1]}", f"--temp-dir={tmp}/ray", "--disable-usage-stats"]
    if netns:
        start.append(f"--node-ip-address={netns.address}")
    if metrics_port:
        start.append(f"--metrics-export-port={metrics_port}")
    head = subprocess.Popen(wrap(start), env=env, stdout=(tmp / "ray-head.log").open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    gcs_address = f"{netns.address if netns else '127.0.0.1'}:{gcs}"
    try:
        wait_until(lambda: subprocess.run(wrap([RAY, "status", f"--address={gcs_address}"]), capture_output=True,
                                          env=env, timeout=60).returncode == 0 or head.poll() is not None, 120,
                   "the Ray head")
        if head.poll() is not None:
            raise RuntimeError(f"Ray head exited:\n{(tmp / 'ray-head.log').read_text()[-3000:]}")
        (tmp / "serve.yaml").write_text(yaml.safe_dump(serve_config))
        # the dashboard's REST API comes up a little after the GCS: retry the deploy until it answers
        wait_until(lambda: subprocess.run(wrap([SERVE, "deploy", str(tmp / "serve.yaml"), "-a", address]),
                                          capture_output=True, env=env, timeout=120).returncode == 0, 120,
                   "serve deploy")
        wait_until(lambda: serve_running(address, env, tuple(wrap([]))), timeout, "every Serve application RUNNING")
        yield address
    finally:
        # only what this head started: `ray stop` would stop every Ray on the machine, other users' included
        kill_session(head.pid)
        head.wait(30)
