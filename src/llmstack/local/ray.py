"""A local Ray head with the chart's Serve config deployed: the one recipe the demo, the tests and the serving
benchmark share (`head_argv`, `deploy`), and `ray_serve`, a head for the length of a `with` block."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from llmstack.local import SERVING_VENV, free_port, kill_session, serve_running, wait_until
from llmstack.local.netns import Namespace

RAY = str(SERVING_VENV / "bin" / "ray")
SERVE = str(SERVING_VENV / "bin" / "serve")


def head_argv(num_cpus: int, gcs_port: int, dashboard_port: int, worker_ports: tuple[int, int], temp_dir: Path,
              metrics_port: int | None = None, node_ip: str | None = None) -> list[str]:
    """`ray start --head` in the foreground (its caller owns the process), the dashboard on loopback (or on
    node_ip's namespace), worker ports in a range of their own (runs on one machine must not collide)."""
    argv = [RAY, "start", "--head", "--block", f"--num-cpus={num_cpus}", f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", f"--min-worker-port={worker_ports[0]}",
            f"--max-worker-port={worker_ports[1]}", f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    if node_ip:
        argv.append(f"--node-ip-address={node_ip}")
    if metrics_port:
        argv.append(f"--metrics-export-port={metrics_port}")
    return argv


def deploy(config: Path, address: str, env: dict, prefix: tuple[str, ...] = ()) -> bool:
    """One `serve deploy` of a Serve config file; False while the dashboard's REST API, which comes up a little
    after the GCS, does not answer yet (callers retry)."""
    return subprocess.run([*prefix, SERVE, "deploy", str(config), "-a", address], capture_output=True, env=env,
                          timeout=120).returncode == 0


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
    argv = head_argv(num_cpus, gcs, dashboard, worker_ports, tmp / "ray", metrics_port,
                     netns.address if netns else None)
    head = subprocess.Popen(wrap(argv), env=env, stdout=(tmp / "ray-head.log").open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    gcs_address = f"{netns.address if netns else '127.0.0.1'}:{gcs}"
    try:
        wait_until(lambda: subprocess.run(wrap([RAY, "status", f"--address={gcs_address}"]), capture_output=True,
                                          env=env, timeout=60).returncode == 0 or head.poll() is not None, 120,
                   "the Ray head")
        if head.poll() is not None:
            raise RuntimeError(f"Ray head exited:\n{(tmp / 'ray-head.log').read_text()[-3000:]}")
        (tmp / "serve.yaml").write_text(yaml.safe_dump(serve_config))
        wait_until(lambda: deploy(tmp / "serve.yaml", address, env, tuple(wrap([]))), 120, "serve deploy")
        wait_until(lambda: serve_running(address, env, tuple(wrap([]))), timeout, "every Serve application RUNNING")
        yield address
    finally:
        # only what this head started: `ray stop` would stop every Ray on the machine, other users' included
        kill_session(head.pid)
        head.wait(30)
