"""The local end-to-end demo, no cluster: the cpu-tiny profile's own Ray Serve application (vLLM on CPU, a
tiny random-weights model built offline), the gateway with a demo key in front of it, and a Prometheus
scraping both with the chart's rules; then a short load test through the gateway.

`up` leaves everything running (state in .tools/demo/state.json) unless --foreground, which stops it all on
Ctrl-C; `down` stops exactly the process sessions `up` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from llmstack.local import (
    SERVING_VENV,
    VLLM_CPU_ENV,
    chart,
    free_port,
    http_ok,
    kill_session,
    serve_running,
    session_members,
    start,
    wait_until,
)
from llmstack.local.gateway import start_gateway, write_config, write_keys
from llmstack.local.ray import deploy, head_argv
from llmstack.paths import PROFILES, ROOT

STATE_DIR = Path(os.environ.get("LLMSTACK_DEMO_DIR") or ROOT / ".tools" / "demo")  # tests use their own
STATE = STATE_DIR / "state.json"
TINY_MODEL = ROOT / ".tools" / "models" / "tiny"
DEMO_KEY = "sk-demo-local-0123456789"
PROFILE = PROFILES / "cpu-tiny.yaml"
RAY_WORKER_PORTS = (28000, 28999)  # below Linux's ephemeral range, apart from the test tiers' ranges


def say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def preferred_port(port: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()


def serve_config(cache: Path, http_port: int) -> tuple[dict, dict, str]:
    """The profile's serveConfigV2 and PrometheusRule, as the chart renders them, pointed at the tiny model."""
    objs = chart.render(PROFILE)
    rules = next(o for o in objs if o["kind"] == "PrometheusRule")
    config = chart.serve_config(f"file://{TINY_MODEL}", cache, {"host": "127.0.0.1", "port": http_port}, objs=objs)
    return config, rules, config["applications"][0]["args"]["models"][0]["name"]


def up(foreground: bool = False, loadtest_s: float = 20) -> int:
    if STATE.exists():
        say(f"a demo is already running ({STATE}): `make demo-stop` first")
        return 2
    if not (SERVING_VENV / "bin" / "ray").exists():
        say("the vLLM/Ray venv is missing: run `make setup` first")
        return 2
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state: dict = {"sessions": {}, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        _up(state, loadtest_s)
    except BaseException as err:  # noqa: BLE001  (Ctrl-C included: stop whatever was started, then report)
        say(f"stopping what was started ({type(err).__name__}: {err})")
        _stop(state)
        return 130 if isinstance(err, KeyboardInterrupt) else 2
    if foreground:
        say("running; Ctrl-C stops everything")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as cleanly as Ctrl-C
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        return down()
    say("running in the background; `make demo-stop` stops everything")
    return 0


def _up(state: dict, loadtest_s: float) -> None:
    t0 = time.monotonic()
    python = SERVING_VENV / "bin" / "python"
    say("building the tiny model (random weights, offline; cached)")
    subprocess.run([str(python), str(ROOT / "scripts" / "build_tiny_model.py"), str(TINY_MODEL)], check=True,
                   capture_output=True, timeout=300)
    ports = {"ray_http": free_port(), "ray_metrics": free_port(), "gcs": free_port(), "dashboard": free_port(),
             "gateway": preferred_port(8080), "prometheus": preferred_port(9090)}
    state["ports"] = ports
    config, rules, model = serve_config(STATE_DIR / "cache", ports["ray_http"])
    state["model"] = model
    (STATE_DIR / "serve.yaml").write_text(yaml.safe_dump(config))
    env = {**VLLM_CPU_ENV, "PATH": f"{SERVING_VENV}/bin:/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0",
           "HOME": os.environ.get("HOME", str(STATE_DIR))}
    address = f"http://127.0.0.1:{ports['dashboard']}"
    say(f"starting Ray (head, {ports['gcs']}) and deploying the cpu-tiny profile's Serve app ({model})")
    ray = head_argv(8, ports["gcs"], ports["dashboard"], RAY_WORKER_PORTS, STATE_DIR / "ray", ports["ray_metrics"])
    head = start("ray-head", ray, STATE_DIR, http_ok(ports["dashboard"], "/api/version"), timeout=180, env=env)
    state["sessions"]["ray-head"] = head.popen.pid
    _save(state)
    wait_until(lambda: deploy(STATE_DIR / "serve.yaml", address, env), 120, f"serve deploy (logs in {STATE_DIR})")
    wait_until(lambda: serve_running(address, env), 420, f"the Serve application RUNNING (logs in {STATE_DIR})",
               interval=3)
    say(f"Serve app RUNNING after {time.monotonic() - t0:.0f} s")

    keys = write_keys(STATE_DIR / "keys.yaml", {DEMO_KEY: {"id": "demo", "models": ["*"]}})
    gateway_config = write_config(STATE_DIR / "gateway.yaml", [
        {"model": model, "backends": [{"name": "ray-serve", "url": f"http://127.0.0.1:{ports['ray_http']}"}]}], keys)
    _, gateway = start_gateway("gateway", gateway_config, STATE_DIR, ports["gateway"])
    state["sessions"]["gateway"] = gateway.popen.pid
    _save(state)

    prometheus = shutil.which("prometheus") or "/usr/bin/prometheus"
    if os.path.exists(prometheus):
        (STATE_DIR / "rules.yaml").write_text(yaml.safe_dump({"groups": rules["spec"]["groups"]}))
        jobs = [{"job_name": job, "scrape_interval": "5s",
                 "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": "llm", "pod": pod}}]}
                for job, port, pod in (("ray", ports["ray_metrics"], "ray-head-0"),
                                       ("gateway", ports["gateway"], "gateway-0"))]
        (STATE_DIR / "prometheus.yaml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "rule_files": [str(STATE_DIR / "rules.yaml")], "scrape_configs": jobs}))
        prom = start("prometheus", [prometheus, f"--config.file={STATE_DIR / 'prometheus.yaml'}",
                                    f"--storage.tsdb.path={STATE_DIR / 'tsdb'}",
                                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}"], STATE_DIR,
                     http_ok(ports["prometheus"], "/-/ready"), timeout=60)
        state["sessions"]["prometheus"] = prom.popen.pid
        _save(state)
    else:
        say("prometheus not installed (make setup installs it): skipping metrics")

    url = f"http://127.0.0.1:{ports['gateway']}"
    curl = (f"curl -s {url}/v1/chat/completions -H 'Authorization: Bearer {DEMO_KEY}' "
            f"-H 'Content-Type: application/json' -d '{{\"model\": \"{model}\", "
            f"\"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}], \"max_tokens\": 16}}'")
    state["url"], state["curl"] = url, curl
    _save(state)
    print(f"\nOpenAI-compatible API (through the gateway): {url}/v1   model: {model}   key: {DEMO_KEY}")
    if "prometheus" in state["sessions"]:
        print(f"Prometheus: http://127.0.0.1:{ports['prometheus']}  (try llmstack:ttft_seconds:p95_5m)")
    print(f"Try it:\n  {curl}\n", flush=True)
    if loadtest_s > 0:
        from llmstack.loadtest import report
        from llmstack.loadtest.run import Options, run

        summary, checks, _ = run(Options(url=url, models=[model], key=DEMO_KEY, users=4, duration_s=loadtest_s,
                                         max_tokens="uniform:8-32", out=STATE_DIR / "loadtest",
                                         slos=[report.parse_slo("error_rate=1%")]), progress=say)
        print("load test (4 users, through the gateway):\n" + report.text_summary(summary, checks))
        print(f"report: {STATE_DIR / 'loadtest' / 'report.md'}", flush=True)


def _save(state: dict) -> None:
    STATE.write_text(json.dumps(state, indent=2))


def _stop(state: dict) -> None:
    for name, sid in reversed(list(state.get("sessions", {}).items())):
        with_term = name in ("gateway", "prometheus")  # let them flush; Ray's engines are killed whole
        if with_term:
            try:
                os.kill(sid, signal.SIGTERM)
                time.sleep(0.5)
            except ProcessLookupError:
                pass
        killed = kill_session(sid)
        deadline = time.monotonic() + 15
        while session_members(sid) and time.monotonic() < deadline:  # gone, so their ports are free again
            time.sleep(0.2)
        left = session_members(sid)
        alive = f", {len(left)} still alive" if left else ""
        say(f"stopped {name} (session {sid}, {killed} process(es) killed{alive})")
    STATE.unlink(missing_ok=True)


def down() -> int:
    if not STATE.exists():
        say("no demo is running")
        return 0
    _stop(json.loads(STATE.read_text()))
    return 0
