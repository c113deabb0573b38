"""OpenAI-style error responses: {"error": {"message", "type", "code"}} with the right status."""

from __future__ import annotations

import json

from aiohttp import web

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 408: "timeout_error", 413: "invalid_request_error", 429: "rate_limit_error",
         502: "api_error", 503: "api_error", 504: "api_error"}


def error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": TYPES.get(status, "api_error"), "code": code}}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers=headers)


def sse_error_event(message: str, code: str) -> bytes:
    """The last event of a stream the gateway had to cut: clients see why, then a clean [DONE]."""
    body = {"error": {"message": message, "type": "api_error", "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\ndata: [DONE]\n\n"
