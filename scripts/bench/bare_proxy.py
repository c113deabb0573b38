#!/usr/bin/env python3
"""BareProxy: the floor for the gateway benchmark -- a ~50-line aiohttp pass-through with no auth, limits,
routing or metrics, on the same stack (aiohttp + uvloop) as the gateway."""

from __future__ import annotations

import argparse

import aiohttp
import uvloop
from aiohttp import web


def build(upstream: str) -> web.Application:
    app = web.Application()

    async def start(app):
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024), auto_decompress=False)

    async def stop(app):
        await app["session"].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with app["session"].post(upstream + request.path, data=body,
                                       headers={"Content-Type": "application/json"}) as up:
            if up.content_type == "text/event-stream":
                resp = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
            return web.Response(status=up.status, body=await up.read(), content_type=up.content_type)

    app.router.add_post("/v1/{tail:.*}", proxy)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvloop.install()
    web.run_app(build(args.upstream), host="127.0.0.1", port=args.port, access_log=None, print=None)
