"""Streaming: chunks pass through unbuffered, a client that leaves cancels the upstream request, an
upstream that dies mid-stream gives the client a clean end, and no retry happens after the first byte."""

from __future__ import annotations

import json
import socket
import time

import pytest

from gatewaykit import route, upstream_stats, wait_until

pytestmark = pytest.mark.gateway


def stream_request(port: int, body: dict) -> socket.socket:
    payload = json.dumps({"stream": True, "messages": [{"role": "user", "content": "hi"}], **body}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-alpha-0123456789\r\n"
                 b"Content-Type: application/json\r\nContent-Length: " + str(len(payload)).encode() +
                 b"\r\n\r\n" + payload)
    return sock


def read_stream(sock: socket.socket, timeout: float = 10) -> tuple[bytes, float, float]:
    """All bytes until the server closes or sends the last chunk; (data, first-data time, total time)."""
    sock.settimeout(timeout)
    started, first, data = time.monotonic(), None, b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if first is None and b"data: " in data:
            first = time.monotonic() - started
        if data.endswith(b"0\r\n\r\n"):
            break
    return data, first, time.monotonic() - started


@pytest.fixture
def port(gateway, upstreams):
    return gateway([route("m", ("a", upstreams["a"], 1), ("b", upstreams["b"], 0))])[0]


def test_chunks_arrive_unbuffered(port):
    data, first, total = read_stream(stream_request(port, {"model": "m", "max_tokens": 20,
                                                           "fake": {"chunk_delay": 0.05}}))
    assert data.count(b"data: ") == 21 and b"data: [DONE]" in data
    assert b"text/event-stream" in data and b"X-Accel-Buffering: no" in data
    assert total > 0.9
    assert first < 0.25, f"first chunk after {first:.3f}s of {total:.3f}s: buffered"


def test_usage_chunk_is_counted_in_metrics(port, upstreams):
    read_stream(stream_request(port, {"model": "m", "max_tokens": 5, "stream_options": {"include_usage": True}}))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    metrics = read_stream(sock)[0].decode()
    assert 'llm_gateway_tokens_total{direction="completion",key_id="alpha",model="m"}' in metrics
    assert 'llm_gateway_time_to_first_token_seconds_count{backend="a",model="m"}' in metrics


def test_client_disconnect_cancels_the_upstream_request(port, upstreams):
    before = upstream_stats(upstreams["a"])
    sock = stream_request(port, {"model": "m", "max_tokens": 100, "fake": {"chunk_delay": 0.05}})
    sock.settimeout(5)
    received = b""
    while b"data: " not in received:
        received += sock.recv(65536)
    sock.close()
    assert wait_until(lambda: upstream_stats(upstreams["a"])["cancelled"] == before["cancelled"] + 1, timeout=3)
    assert upstream_stats(upstreams["a"])["active"] == 0


def test_upstream_dying_mid_stream_ends_the_stream_cleanly_without_retry(port, upstreams):
    before_b = upstream_stats(upstreams["b"])["requests"]
    data, _, _ = read_stream(stream_request(port, {"model": "m", "fake": {"die_after": 3}}))
    assert data.count(b"chat.completion.chunk") == 3
    assert b'"code": "upstream_cut"' in data and data.rstrip().endswith(b"0")  # error event, [DONE], last chunk
    assert b"data: [DONE]" in data
    assert upstream_stats(upstreams["b"])["requests"] == before_b, "retried after the first byte"
    # and the gateway keeps serving
    data, _, _ = read_stream(stream_request(port, {"model": "m", "max_tokens": 3}))
    assert data.count(b"chat.completion.chunk") == 3
