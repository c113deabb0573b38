"""engine: vllm -- `llm-serving serve` runs real vLLM (CPU) on the tiny model with the chart's config."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time

import pytest

from procs import free_port, http_ok, start
from servingkit import VLLM_ENV, get, model_config, post

pytestmark = [pytest.mark.serving, pytest.mark.slow]


def test_models_lists_the_served_name(vllm_server):
    status, body = get(vllm_server[0], "/v1/models")
    assert status == 200
    assert [m["id"] for m in json.loads(body)["data"]] == ["tiny"]


def test_chat_completion(vllm_server):
    status, body = post(vllm_server[0], "/v1/chat/completions",
                        {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8,
                         "ignore_eos": True})
    assert status == 200, body
    assert body["usage"]["completion_tokens"] == 8
    assert body["choices"][0]["message"]["role"] == "assistant"


def test_completion(vllm_server):
    status, body = post(vllm_server[0], "/v1/completions", {"model": "tiny", "prompt": "once upon", "max_tokens": 5,
                                                      "ignore_eos": True})
    assert status == 200 and body["usage"]["completion_tokens"] == 5


def test_streaming_sends_one_event_per_token(vllm_server):
    conn = http.client.HTTPConnection("127.0.0.1", vllm_server[0], timeout=60)
    conn.request("POST", "/v1/chat/completions", headers={"Content-Type": "application/json"},
                 body=json.dumps({"model": "tiny", "stream": True, "max_tokens": 16, "ignore_eos": True,
                                  "messages": [{"role": "user", "content": "hi"}]}))
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    events = [line for line in resp.read().split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"data: [DONE]"
    assert len(events) >= 17  # role chunk + a chunk per token + [DONE]


def test_metrics_expose_the_queue_depth_gauge(vllm_server):
    status, body = get(vllm_server[0], "/metrics")
    text = body.decode()
    assert status == 200
    for metric in ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:time_to_first_token_seconds"):
        assert metric in text
    assert 'model_name="tiny"' in text


def test_unknown_model_is_a_404_and_the_server_keeps_serving(vllm_server):
    status, _ = post(vllm_server[0], "/v1/completions", {"model": "nope", "prompt": "x", "max_tokens": 1})
    assert status == 404
    assert post(vllm_server[0], "/v1/completions", {"model": "tiny", "prompt": "x", "max_tokens": 1})[0] == 200


def keep_alive_answer(conn: http.client.HTTPConnection) -> tuple[int, str | None]:
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "tiny", "prompt": "hi", "max_tokens": 2}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status, resp.getheader("Connection")


def test_the_pod_leaving_closes_kept_alive_connections_then_sigterm_drains(serving_python, tiny_model, tmp_path,
                                                                            serving_logs):
    """The chart's preStop: the drain file first (every answer, still served, closes its connection, so that
    kept-alive clients reconnect to the pods that stay), then SIGTERM with requests in flight: every one finishes
    with all its tokens, then the server exits."""
    port, drain_file = free_port(), tmp_path / "draining"
    config = model_config(tmp_path, tiny_model, values=["drain.terminationGracePeriodSeconds=75"])  # drains 60 s
    proc = start(f"vllm-drain-{port}", [str(serving_python), "-m", "llm_serving", "serve", "--config",
                                        str(config), "--host", "127.0.0.1", "--port", str(port)],
                 serving_logs, http_ok(port, "/v1/models"), timeout=240,
                 env={**VLLM_ENV, "LLM_SERVING_DRAIN_FILE": str(drain_file)})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    assert keep_alive_answer(conn) == (200, None)
    assert keep_alive_answer(conn) == (200, None) and conn.sock is not None  # the same connection, kept
    drain_file.touch()
    assert keep_alive_answer(conn) == (200, "close") and conn.sock is None  # answered, and the connection ends
    results = []

    def one():
        results.append(post(port, "/v1/completions", {"model": "tiny", "prompt": "once upon", "max_tokens": 600,
                                                      "ignore_eos": True}, timeout=120))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.8)  # the requests are generating
    proc.popen.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(120)
    assert len(results) == 4
    for status, body in results:
        assert status == 200
        assert body["choices"][0]["finish_reason"] == "length", "an in-flight request was aborted"
        assert body["usage"]["completion_tokens"] == 600
    assert proc.popen.wait(90) == 0  # then it exits cleanly


def test_bad_config_is_rejected_with_its_message(serving_python, tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"name": "m", "source": "file:///x", "tensorParallelSize": 2, "gpus": 4}))
    proc = subprocess.run([str(serving_python), "-m", "llm_serving", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "gpus (4) contradicts tensorParallelSize (2) × pipelineParallelSize (1) = 2" in proc.stderr
