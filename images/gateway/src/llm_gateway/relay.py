"""Moving an upstream answer to the client as it comes, streamed or not, with bounded memory: only the last
TAIL bytes are kept, to read the token usage from. Returns what happened; the caller counts and logs it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from llm_gateway.errors import error_response, sse_error_event

TAIL = 64 * 1024  # the end of a body, where the usage is (vLLM writes it last; in a stream, its last event)
# upstream headers a client needs to read the body as it was sent
PASSED_HEADERS = ("Content-Type", "Content-Encoding")


@dataclass
class Outcome:
    status: int                 # what the client got (499: it went away)
    usage: dict | None = None   # the engine's count of tokens, when the body said
    events: int = 0             # SSE events relayed (an estimate of tokens where no usage came)
    first_byte: float | None = None  # seconds from `started` to the first body byte
    failure: str = ""           # "read" (before any byte), "stream_cut" (after some), "client_gone"


def usage_from(tail: bytes, stream: bool) -> dict | None:
    """The `usage` object near the end of a JSON body, or of the last event that carries one."""
    if stream:
        for line in reversed(tail.split(b"\n")):
            if line.startswith(b"data: {") and b'"usage"' in line:
                try:
                    usage = json.loads(line[6:]).get("usage")
                except (ValueError, RecursionError):
                    return None
                return usage if isinstance(usage, dict) else None
        return None
    text = tail.decode("utf-8", "replace")
    at = text.rfind('"usage"')
    if at < 0:
        return None
    start = text.find("{", at)
    try:
        usage, _ = json.JSONDecoder().raw_decode(text, start) if start >= 0 else (None, 0)
    except (ValueError, RecursionError):
        return None
    return usage if isinstance(usage, dict) else None


async def relay(request: web.Request, upstream: aiohttp.ClientResponse, headers: dict[str, str], stream: bool,
                started: float, outcome: Outcome) -> web.StreamResponse:
    """Copy `upstream` to the client chunk by chunk, recording what happens in `outcome`. A failure before the
    first byte is a clean 502; after it, a stream ends with an error event and [DONE], a plain body with a cut
    connection (its length was sent). A client that goes away (status 499) re-raises, as its handler must."""
    outcome.status = upstream.status
    body = upstream.content
    try:
        first = await body.readany()
    except (aiohttp.ClientError, TimeoutError):
        upstream.close()
        outcome.status, outcome.failure = 502, "read"
        return error_response(502, "the model server failed while answering", "upstream_failed", headers)
    outcome.first_byte = time.perf_counter() - started
    passed = {h: upstream.headers[h] for h in PASSED_HEADERS if h in upstream.headers}
    response = web.StreamResponse(status=upstream.status, headers={**headers, **passed})
    if stream:
        response.headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    elif upstream.content_length is not None:
        response.content_length = upstream.content_length
    tail = bytearray()
    try:
        await response.prepare(request)
        chunk = first
        try:
            while chunk:
                await response.write(chunk)
                outcome.events += chunk.count(b"data: ") if stream else 0
                tail += chunk
                if len(tail) > 2 * TAIL:  # trimmed now and then, not copied on every chunk
                    del tail[:-TAIL]
                chunk = await body.readany()
        except (aiohttp.ClientError, TimeoutError):
            outcome.status, outcome.failure = 502, "stream_cut"
            if not stream:  # the length went out with the headers: the client must see a cut, not a short body
                request.transport.close()
                return response
            # the model server died mid-stream: end the client's stream cleanly, say why
            await response.write(sse_error_event("the model server stopped mid-stream", "upstream_cut"))
        await response.write_eof()
    except (ConnectionResetError, aiohttp.ClientConnectionResetError, asyncio.CancelledError):
        upstream.close()  # the client went away: abort the upstream request too (it frees the engine)
        outcome.status, outcome.failure = 499, "client_gone"
        raise
    finally:
        upstream.release()
    if "Content-Encoding" not in passed:
        outcome.usage = usage_from(bytes(tail[-TAIL:]), stream)
    return response
