"""Close kept-alive connections once the pod is leaving, so that no client keeps sending to it.

A Service spreads *connections*, not requests: a client that keeps its connection alive (the gateway's pool, an
ingress controller) keeps reaching a pod that left the Service's endpoints, and once vLLM has its SIGTERM it
drains the engine while its HTTP server still takes requests, answering them 500. So the chart's preStop hook
first marks the pod as leaving (`DRAIN_FILE`, in the pod's /tmp), then sleeps: in that window every answer, still
served in full, carries `Connection: close`, and each client's next request opens a new connection, which
kube-proxy sends to a pod that stays. vLLM loads this ASGI middleware with `--middleware`.
"""

from __future__ import annotations

import os

DRAIN_FILE = os.environ.get("LLM_SERVING_DRAIN_FILE", "/tmp/llm-serving-draining")
ASGI_PATH = "llm_serving.drain.CloseWhenDraining"


def draining() -> bool:
    return os.path.exists(DRAIN_FILE)


class CloseWhenDraining:
    """ASGI middleware: while the drain file exists, every HTTP response says `Connection: close`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not draining():
            await self.app(scope, receive, send)
            return

        async def closing(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)
        await self.app(scope, receive, closing)
