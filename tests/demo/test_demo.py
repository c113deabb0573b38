"""The README's local demo, for real: `llmstack demo up` (Ray Serve + vLLM on CPU with the cpu-tiny profile's
own serve config, the gateway with a demo key, Prometheus), a chat completion through the gateway, the
load tests with their report files, then `llmstack demo down` stopping everything it started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from llmstack.local import session_members
from llmstack.paths import ROOT

pytestmark = [pytest.mark.demo, pytest.mark.slow]


def llmstack(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmstack.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=timeout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, serving_python):
    env = {"LLMSTACK_DEMO_DIR": str(tmp_path_factory.mktemp("d"))}
    up = llmstack("demo", "up", "--loadtest", "15", env=env)
    state_file = Path(env["LLMSTACK_DEMO_DIR"]) / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    try:
        assert up.returncode == 0, up.stdout + up.stderr[-4000:]
        yield {"up": up, "state": state, "env": env, "dir": Path(env["LLMSTACK_DEMO_DIR"])}
    finally:
        down = llmstack("demo", "down", env=env, timeout=120)
        assert down.returncode == 0, down.stderr
        # every process of every session it started is gone (zombies aside: they wait for init to reap them)
        assert not [name for name, sid in state.get("sessions", {}).items() if session_members(sid)], down.stderr


def chat(url: str, key: str, model: str) -> tuple[int, dict]:
    req = urllib.request.Request(f"{url}/v1/chat/completions", method="POST", data=json.dumps({
        "model": model, "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 8}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_up_prints_the_endpoint_a_curl_and_the_load_test_summary(demo):
    out, state = demo["up"].stdout, demo["state"]
    assert f"OpenAI-compatible API (through the gateway): {state['url']}/v1" in out
    assert state["curl"] in out and "Authorization: Bearer" in state["curl"]
    assert "load test (4 users, through the gateway):" in out and "SLO error_rate <= 1.00 %" in out


def test_the_printed_curl_gets_a_chat_completion_through_the_gateway(demo):
    state = demo["state"]
    proc = subprocess.run(["bash", "-c", state["curl"]], capture_output=True, text=True, timeout=60)
    body = json.loads(proc.stdout)
    # the curl, as a user would type it, has no ignore_eos: the random-weights model may draw its end-of-sequence
    # token before max_tokens (6 tokens in one CI run), and then the finish reason must say so
    tokens = body["usage"]["completion_tokens"]
    assert body["model"] == state["model"] and 1 <= tokens <= 16
    assert body["choices"][0]["finish_reason"] == ("length" if tokens == 16 else "stop"), body
    status, body = chat(state["url"], "sk-wrong-0123456789", state["model"])
    assert status == 401 and body["error"]["type"]


def test_the_demo_load_test_report_is_plausible(demo):
    report = demo["dir"] / "loadtest"
    for name in ("summary.json", "requests.csv", "windows.csv", "report.md", "latency.png", "throughput.png"):
        assert (report / name).stat().st_size > 0, name
    summary = json.loads((report / "summary.json").read_text())["summary"]
    print(f"demo load test: {summary['requests']} requests, {summary['output_tokens_per_s']:.0f} tokens/s, "
          f"TTFT p50 {summary['ttft_p50'] * 1000:.0f} ms, E2E p50 {summary['e2e_p50'] * 1000:.0f} ms")
    assert summary["requests"] > 20 and summary["failures"] == 0
    assert summary["output_tokens_per_s"] > 0 and summary["streaming_requests"] > 0
    assert 0 < summary["ttft_p50"] < summary["e2e_p50"] or summary["ttft_p50"] <= summary["e2e_p95"]
    assert (report / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loadtest_step_shape_both_apis_and_a_failed_slo_exits_1(demo, tmp_path):
    state = demo["state"]
    proc = llmstack("loadtest", "--url", state["url"], "--model", state["model"], "--key",
                    "sk-demo-local-0123456789", "--api", "both", "--shape", "step:1,1,3,3,9", "--max-tokens",
                    "uniform:4-12", "--slo", "ttft_p95=1ms", "--slo", "error_rate=1%", "--out", str(tmp_path),
                    env=demo["env"], timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SLO ttft_p95 <= 1 ms" in proc.stdout and "-> FAIL" in proc.stdout
    assert "SLO error_rate <= 1.00 %: 0.00 % -> PASS" in proc.stdout
    rows = (tmp_path / "requests.csv").read_text().splitlines()
    apis = {line.split(",")[1] for line in rows[1:]}
    assert apis == {"chat", "completions"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["meta"]["shape"] == "step:1,1,3,3,9" and summary["summary"]["duration_s"] < 30


def test_loadtest_with_a_wrong_key_reports_errors_not_a_crash(demo, tmp_path):
    state = demo["state"]
    proc = llmstack("loadtest", "--url", state["url"], "--model", state["model"], "--key", "sk-wrong-0123456789",
                    "--users", "2", "--duration", "3", "--slo", "error_rate=1%", "--out", str(tmp_path),
                    env=demo["env"], timeout=120)
    assert proc.returncode == 1 and "errors: HTTP 401" in proc.stdout, proc.stdout + proc.stderr
