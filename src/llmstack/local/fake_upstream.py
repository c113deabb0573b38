"""FakeOpenAIUpstream: a fast stand-in for a model server, for the gateway's tests and benchmarks.

It stands for what is outside the gateway (vLLM), answering OpenAI-shaped responses instantly, so the
gateway's own cost and behaviour can be measured. Behaviour is steered per request by a `fake` object in
the body (the gateway forwards bodies unchanged) or for the whole server through POST /fake/mode:
  status: answer with this HTTP status      delay: seconds before the headers
  chunks: stream events (default 32)        chunk_delay: seconds between stream events
  die_after: stream this many events, then drop the connection
  body_bytes: pad a non-streamed answer to about this many bytes (sent in 1 MiB pieces)
  gzip: answer gzip-compressed (Content-Encoding: gzip)
GET /fake/stats counts requests, completed and cancelled (client went away) ones.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json

from aiohttp import web

STATS = {"requests": 0, "completed": 0, "cancelled": 0, "active": 0}
MODE: dict = {}


def _completion(name: str, model: str, tokens: int) -> dict:
    return {"id": "cmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "system_fingerprint": name,
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": "tok " * tokens}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": tokens, "total_tokens": 7 + tokens}}


def _chunk(name: str, model: str, i: int) -> bytes:
    event = {"id": "cmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
             "system_fingerprint": name, "choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def openai(request: web.Request) -> web.StreamResponse:
    name = request.app["name"]
    STATS["requests"] += 1
    STATS["active"] += 1
    try:
        body = await request.json()
        fake = {**MODE, **(body.get("fake") or {})}
        if fake.get("delay"):
            await asyncio.sleep(fake["delay"])
        if fake.get("status"):
            return web.json_response({"error": {"message": "fake failure"}}, status=fake["status"])
        model = body.get("model", "fake")
        tokens = int(body.get("max_tokens") or fake.get("chunks") or 32)
        if not body.get("stream"):
            STATS["completed"] += 1
            answer = _completion(name, model, tokens)
            if fake.get("body_bytes"):
                return await _large(request, answer, int(fake["body_bytes"]))
            if fake.get("gzip"):
                return web.Response(body=gzip.compress(json.dumps(answer).encode()), content_type="application/json",
                                    headers={"Content-Encoding": "gzip"})
            return web.json_response(answer)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(tokens):
            if fake.get("die_after") is not None and i >= fake["die_after"]:
                request.transport.abort()  # the model server dies mid-stream
                return response
            await response.write(_chunk(name, model, i))
            if fake.get("chunk_delay"):
                await asyncio.sleep(fake["chunk_delay"])
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 7, "completion_tokens": tokens, "total_tokens": 7 + tokens}
            await response.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        STATS["completed"] += 1
        return response
    except (asyncio.CancelledError, ConnectionResetError):
        STATS["cancelled"] += 1
        raise
    finally:
        STATS["active"] -= 1


async def _large(request: web.Request, answer: dict, size: int) -> web.StreamResponse:
    """`answer` with a `padding` field first, streamed out in pieces (the fake itself holds 1 MiB at a time)."""
    head, tail = b'{"padding": "', b'", ' + json.dumps(answer).encode()[1:]
    piece = b"x" * (1 << 20)
    pad = max(0, size - len(head) - len(tail))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(head) + pad + len(tail)
    await response.prepare(request)
    await response.write(head)
    while pad > 0:
        await response.write(piece[:pad])
        pad -= len(piece)
    await response.write(tail)
    await response.write_eof()
    return response


async def stats(request: web.Request) -> web.Response:
    return web.json_response(STATS)


async def set_mode(request: web.Request) -> web.Response:
    MODE.clear()
    MODE.update(await request.json())
    return web.json_response(MODE)


async def admin(request: web.Request) -> web.Response:
    return web.json_response({"secret": "engine admin route"})


def build(name: str) -> web.Application:
    app = web.Application()
    app["name"] = name
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        app.router.add_post(path, openai)
    app.router.add_get("/fake/stats", stats)
    app.router.add_post("/fake/mode", set_mode)
    app.router.add_post("/reset_prefix_cache", admin)  # an engine admin route the gateway must never expose
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default="fake")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    web.run_app(build(args.name), host=args.host, port=args.port, access_log=None, print=None,
                handler_cancellation=True)


if __name__ == "__main__":
    main()
