"""Helpers for the gateway tests: keys, a keep-alive client, the fake upstreams' control routes. The keys and
config files and the process itself come from llmstack.local.gateway, as for the demo and the benchmark."""

from __future__ import annotations

import http.client
import json
import time

KEYS = {"sk-alpha-0123456789": {"id": "alpha", "models": ["*"]},
        "sk-beta-0123456789": {"id": "beta", "models": ["model-a"]},
        "sk-pinned-0123456789": {"id": "pinned", "models": ["*"], "backend": "b"}}


class Client:
    """A keep-alive HTTP/1.1 client on one connection (so a test can see connections survive reloads)."""

    def __init__(self, port: int, key: str | None = "sk-alpha-0123456789"):
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if self.key:
            hdrs.setdefault("Authorization", f"Bearer {self.key}")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        payload = resp.read()
        return resp.status, dict(resp.getheaders()), payload

    def chat(self, model: str = "model-a", **extra):
        return self.request("POST", "/v1/chat/completions",
                            {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra})

    def close(self):
        self.conn.close()


def upstream_stats(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/fake/stats")
    return json.loads(conn.getresponse().read())


def upstream_mode(port: int, **mode) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/fake/mode", body=json.dumps(mode), headers={"Content-Type": "application/json"})
    conn.getresponse().read()


def route(model: str, *backends: tuple[str, int, int]) -> dict:
    return {"model": model, "backends": [{"name": n, "url": f"http://127.0.0.1:{p}", "weight": w}
                                         for n, p, w in backends]}



def wait_until(check, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False
