"""Start and stop real local processes (the demo, the tests): free loopback ports, readiness waits, stop by PID."""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from llmstack.paths import ROOT

# vLLM (CPU) + Ray Serve, from scripts/setup-serving.sh; LLMSTACK_SERVING_VENV points elsewhere (a GPU machine's
# environment with the CUDA build, for the GPU benchmark)
SERVING_VENV = Path(os.environ.get("LLMSTACK_SERVING_VENV") or ROOT / ".tools" / "serving-venv")
# offline, quiet vLLM on CPU with a small KV cache (GiB)
VLLM_CPU_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(os.cpu_count() or 2)}


def kill_session(sid: int) -> int:
    """SIGKILL every process of a session we started (start_new_session=True makes sid == our child's pid).
    Ray gives each worker its own process group and vLLM's engine processes outlive their parents, but all
    stay in the session. Returns how many were killed."""
    killed = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after "(comm)": state, ppid, pgrp, session, ...
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(stat.parent.name), signal.SIGKILL)
                killed += 1
    return killed


def session_members(sid: int) -> list[int]:
    """PIDs of the live (not zombie) processes of a session."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


# Ports handed to servers that start seconds later come from below the kernel's ephemeral range: vLLM and Ray
# open dozens of sockets on automatic ports meanwhile, and one of those once took a port picked with bind(0)
PICKED_PORTS = range(20000, 28000)  # Ray worker ports: 28000-28999 (demo), 29000-31999 (tests)
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free on every interface now, outside the automatic range, and not handed out before by this
    process."""
    if _ephemeral_low() >= PICKED_PORTS.stop:
        for _ in range(500):
            port = random.choice(PICKED_PORTS)
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket() as s:  # no room below the automatic range: let the kernel pick
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM our own process (it may drain), SIGKILL if it lingers, then SIGKILL whatever is left of its
        process group (engine workers that outlive their parent); returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        kill_session(self.popen.pid)
        return self.popen.returncode


def start(name: str, cmd: list[str], log_dir: Path, ready: callable, timeout: float = 30, env=None) -> Proc:
    """Start `cmd` in its own session (so that it and everything it spawns can be stopped by its PID) and
    wait until `ready()` holds; the process keeps running if this one exits."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as handle:
        popen = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **(env or {})}, start_new_session=True)
    proc = Proc(name, popen, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode} before it was ready:\n{proc.output()[-3000:]}")
        if ready():
            return proc
        time.sleep(0.05)
    proc.stop()
    raise RuntimeError(f"{name} not ready after {timeout}s:\n{proc.output()[-3000:]}")


def http_ok(port: int, path: str = "/", host: str = "127.0.0.1") -> callable:
    def check() -> bool:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=1)
            conn.request("GET", path)
            ok = conn.getresponse().status < 500
            conn.close()
            return ok
        except OSError:
            return False
    return check


def tcp_open(port: int) -> callable:
    def check() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    return check


def wait_until(ready, timeout: float, what: str, interval: float = 2.0) -> None:
    """Poll `ready()` until it holds; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not reached after {timeout:.0f} s")
        time.sleep(interval)


def serve_running(address: str, env: dict, prefix: tuple[str, ...] = ()) -> bool:
    """Whether every Ray Serve application at `address` is RUNNING; RuntimeError (with the status) when a
    deployment failed. `prefix`: what runs the command (e.g. inside a network namespace)."""
    status = subprocess.run([*prefix, str(SERVING_VENV / "bin" / "serve"), "status", "-a", address],
                            capture_output=True, text=True, env=env, timeout=60).stdout
    apps = (yaml.safe_load(status) or {}).get("applications", {}) if status else {}
    if any(a["status"] == "DEPLOY_FAILED" for a in apps.values()):
        raise RuntimeError(f"serve deploy failed:\n{status}")
    return bool(apps) and all(a["status"] == "RUNNING" for a in apps.values())
