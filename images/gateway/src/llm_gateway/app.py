"""The gateway's HTTP application: auth -> limits -> routing -> proxy (streaming passed through as it comes).

Only the OpenAI routes below are served; everything else is 404, so an engine's admin routes are never
reachable through the gateway. A retry on another backend happens only before the first byte reaches
the client; after that a failing upstream ends the stream with an error event and [DONE].
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from llm_gateway import config as config_mod
from llm_gateway.errors import error_response, sse_error_event
from llm_gateway.keys import ApiKey, KeyStore
from llm_gateway.limits import LocalLimiter, RedisLimiter, estimate_prompt_tokens, requested_output_tokens
from llm_gateway.metrics import Metrics
from llm_gateway.routing import BackendState, Router

log = logging.getLogger("llm_gateway")
PROXIED = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
RETRYABLE_STATUS = {502, 503, 504}
ANONYMOUS = ApiKey("anonymous", "", frozenset({"*"}))


@dataclass
class Gateway:
    config_path: Path | None
    config: config_mod.Config
    keys: KeyStore
    router: Router
    metrics: Metrics = field(default_factory=Metrics)
    limiter: LocalLimiter | RedisLimiter = field(default_factory=LocalLimiter)
    session: aiohttp.ClientSession | None = None
    access_log: bool = True
    _config_stamp: tuple | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self, app: web.Application) -> None:
        cfg = self.config
        connector = aiohttp.TCPConnector(limit=cfg.max_connections, limit_per_host=0, ttl_dns_cache=30,
                                         keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=None, connect=cfg.connect_timeout, sock_read=cfg.read_timeout)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                             skip_auto_headers=("User-Agent",))
        if cfg.redis_url:
            self.limiter = RedisLimiter(cfg.redis_url)
        self._config_stamp = self._stamp(self.config_path)
        self._publish_health()
        app["reloader"] = asyncio.create_task(self._reload_loop())

    async def stop(self, app: web.Application) -> None:
        app["reloader"].cancel()
        if self.session:
            await self.session.close()
        await self.limiter.close()

    @staticmethod
    def _stamp(path: Path | None) -> tuple | None:
        if not path:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    async def _reload_loop(self) -> None:
        """Re-read the keys and config files when they change (Secret/ConfigMap updates), once a second."""
        while True:
            await asyncio.sleep(1.0)
            self.keys.refresh()
            stamp = self._stamp(self.config_path)
            if stamp and stamp != self._config_stamp:
                self._config_stamp = stamp
                try:
                    new = config_mod.load(self.config_path)
                except config_mod.ConfigError as err:
                    log.error("config %s is invalid, keeping the running one: %s", self.config_path, err)
                    continue
                self.config = new
                self.router.update(new)
                log.info("config reloaded: %d route(s)", len(new.routes))
            self._publish_health()

    def _publish_health(self) -> None:
        now = self.router.clock()
        for model, states in self.router.states.items():
            for s in states:
                self.metrics.backend_up.labels(model, s.name).set(1.0 if s.ejected_until <= now else 0.0)

    # --- request helpers ------------------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> ApiKey | None:
        if not self.config.require_keys:
            return ANONYMOUS
        header = request.headers.get("Authorization", "")
        presented = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
        return self.keys.lookup(presented) if presented else None

    def access(self, request: web.Request, rid: str, key: ApiKey | None, model: str, backend: str,
               status: int, started: float, **extra) -> None:
        self.metrics.requests.labels(key.id if key else "-", model or "-", backend or "-", str(status)).inc()
        if self.access_log:
            entry = {"ts": round(time.time(), 3), "request_id": rid, "method": request.method,
                     "path": request.path, "status": status, "key_id": key.id if key else None,
                     "model": model or None, "backend": backend or None,
                     "duration_ms": round((time.perf_counter() - started) * 1000, 2), **extra}
            sys.stdout.write(json.dumps(entry) + "\n")

    def refuse(self, request: web.Request, rid: str, key: ApiKey | None, model: str, status: int, started: float,
               message: str, code: str, headers: dict[str, str], **extra) -> web.Response:
        """Log and count a request the gateway answers itself, with an OpenAI-style error."""
        self.access(request, rid, key, model, "", status, started, **extra)
        return error_response(status, message, code, headers)

    # --- handlers -------------------------------------------------------------------------------------
    async def models(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        key = self.authenticate(request)
        if key is None:
            self.access(request, rid, None, "", "", 401, started)
            return _unauthorized(rid)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "llm-stack"}
                for m in self.router.models() if key.allows(m)]
        self.access(request, rid, key, "", "", 200, started)
        return web.json_response({"object": "list", "data": data}, headers={"x-request-id": rid})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(self, request: web.Request) -> web.Response:
        if self.config.require_keys and not len(self.keys):
            return web.Response(status=503, text="no API keys loaded")
        return web.Response(text="ready")

    async def metrics_handler(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def not_found(self, request: web.Request) -> web.Response:
        return error_response(404, f"{request.method} {request.path} is not served by this gateway", "not_found")

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        self.metrics.in_flight.inc()
        try:
            return await self._proxy(request)
        finally:
            self.metrics.in_flight.dec()

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        headers = {"x-request-id": rid}
        key = self.authenticate(request)
        if key is None:
            self.access(request, rid, None, "", "", 401, started)
            return _unauthorized(rid)
        try:
            raw = await asyncio.wait_for(request.read(), self.config.body_timeout)
        except web.HTTPRequestEntityTooLarge:
            return self.refuse(request, rid, key, "", 413, started,
                               f"request body over {self.config.max_body_bytes} bytes", "body_too_large", headers)
        except TimeoutError:
            return self.refuse(request, rid, key, "", 408, started, "request body not received in time",
                               "body_timeout", headers)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self.refuse(request, rid, key, "", 400, started, "request body is not valid JSON", "invalid_json",
                               headers)
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            return self.refuse(request, rid, key, "", 400, started,
                               "the body must be a JSON object with a string `model`", "missing_model", headers)
        if model not in self.router.states:
            return self.refuse(request, rid, key, model, 404, started, f"The model `{model}` does not exist",
                               "model_not_found", headers)
        if not key.allows(model):
            return self.refuse(request, rid, key, model, 403, started,
                               f"this API key may not use the model `{model}`", "model_not_allowed", headers)

        # limits: one request, and an estimate of the tokens (reconciled with the usage reported)
        estimate = estimate_prompt_tokens(body) + requested_output_tokens(body)
        for kind, per_minute, amount in (("requests", key.requests_per_minute, 1),
                                         ("tokens", key.tokens_per_minute, estimate)):
            decision = await self.limiter.take(key.id, kind, per_minute, amount)
            if not decision.allowed:
                self.metrics.rate_limited.labels(key.id, kind).inc()
                retry = str(max(1, math.ceil(decision.retry_after)))
                return self.refuse(request, rid, key, model, 429, started,
                                   f"rate limit of {per_minute} {kind}/min reached for this key",
                                   f"rate_limit_{kind}", {**headers, "Retry-After": retry}, limit=kind)

        pin = key.backend or (request.headers.get("x-llm-backend", "") if self.config.allow_backend_header else "")
        plan = self.router.plan(model, pin)
        if not plan:
            self.access(request, rid, key, model, "", 503, started)
            return _no_backend(model, self.config.retry_after_seconds, headers)
        stream = body.get("stream") is True
        upstream_headers = {"Content-Type": "application/json", "x-request-id": rid}
        for state in plan:
            url = state.backend.url + request.path
            # a backend that serves this public name under its own (a canary revision) gets its own name
            data = json.dumps({**body, "model": state.backend.model}).encode() if state.backend.model else raw
            try:
                upstream = await self.session.post(url, data=data, headers=upstream_headers)
            except (aiohttp.ClientError, TimeoutError) as err:
                self._failed(state, "connect" if isinstance(err, aiohttp.ClientConnectionError) else "timeout")
                continue
            if upstream.status in RETRYABLE_STATUS:
                upstream.close()
                self._failed(state, f"http_{upstream.status}")
                continue
            headers["x-llm-backend"] = state.name
            if stream and upstream.status == 200:
                return await self._relay_stream(request, upstream, state, key, model, rid, headers, started,
                                                estimate)
            return await self._relay(request, upstream, state, key, model, rid, headers, started, estimate)
        self.access(request, rid, key, model, "", 503, started)
        return _no_backend(model, self.config.retry_after_seconds, headers)

    # --- relaying -------------------------------------------------------------------------------------
    def _failed(self, state: BackendState, reason: str) -> None:
        self.router.failed(state)
        self.metrics.upstream_errors.labels(state.model, state.name, reason).inc()
        if state.ejected_until > self.router.clock():
            self.metrics.backend_up.labels(state.model, state.name).set(0)

    def _succeeded(self, state: BackendState) -> None:
        if state.failures or state.ejected_until:
            self.metrics.backend_up.labels(state.model, state.name).set(1)
        self.router.succeeded(state)

    async def _account(self, key: ApiKey, model: str, estimate: int, usage: dict | None,
                       completion_guess: int = 0) -> None:
        prompt = int(usage.get("prompt_tokens", 0)) if usage else 0
        completion = int(usage.get("completion_tokens", 0)) if usage else completion_guess
        if prompt:
            self.metrics.tokens.labels(key.id, model, "prompt").inc(prompt)
        if completion:
            self.metrics.tokens.labels(key.id, model, "completion").inc(completion)
        actual = prompt + completion if usage else estimate
        await self.limiter.adjust(key.id, "tokens", key.tokens_per_minute, actual - estimate)

    async def _relay(self, request, upstream, state, key, model, rid, headers, started, estimate) -> web.Response:
        try:
            payload = await upstream.read()
        except (aiohttp.ClientError, TimeoutError):
            upstream.close()
            self._failed(state, "read")
            self.access(request, rid, key, model, state.name, 502, started)
            return error_response(502, "the model server failed while answering", "upstream_failed", headers)
        finally:
            upstream.release()
        self._succeeded(state)
        elapsed = time.perf_counter() - started
        self.metrics.ttfb.labels(model, state.name).observe(elapsed)
        self.metrics.latency.labels(model, state.name).observe(elapsed)
        usage = None
        if upstream.status == 200 and b'"usage"' in payload:
            try:
                usage = json.loads(payload).get("usage")
            except ValueError:
                usage = None
        await self._account(key, model, estimate, usage if isinstance(usage, dict) else None)
        self.access(request, rid, key, model, state.name, upstream.status, started)
        return web.Response(status=upstream.status, body=payload, headers=headers,
                            content_type=upstream.content_type or "application/json")

    async def _relay_stream(self, request, upstream, state, key, model, rid, headers, started, estimate):
        response = web.StreamResponse(status=200, headers={**headers, "Cache-Control": "no-cache",
                                                           "X-Accel-Buffering": "no"})
        response.content_type = upstream.content_type or "text/event-stream"
        tail = b""
        events = 0
        outcome = 200
        first = True
        try:
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    if first:
                        self.metrics.ttfb.labels(model, state.name).observe(time.perf_counter() - started)
                        first = False
                    await response.write(chunk)
                    events += chunk.count(b"data: ")
                    tail = (tail + chunk)[-4096:]
            except (aiohttp.ClientError, TimeoutError):
                # the model server died mid-stream: end the client's stream cleanly, say why
                outcome = 502
                self._failed(state, "stream_cut")
                await response.write(sse_error_event("the model server stopped mid-stream", "upstream_cut"))
            await response.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError, asyncio.CancelledError):
            upstream.close()  # the client went away: abort the upstream request too
            self.access(request, rid, key, model, state.name, 499, started, stream=True)
            raise
        upstream.release()
        if outcome == 200:
            self._succeeded(state)
        self.metrics.latency.labels(model, state.name).observe(time.perf_counter() - started)
        await self._account(key, model, estimate, _stream_usage(tail), completion_guess=max(0, events - 2))
        self.access(request, rid, key, model, state.name, outcome, started, stream=True)
        return response


def _stream_usage(tail: bytes) -> dict | None:
    """Usage from the final chunk (sent when the client asked for stream_options.include_usage)."""
    for line in reversed(tail.split(b"\n")):
        if line.startswith(b"data: {") and b'"usage"' in line:
            try:
                usage = json.loads(line[6:]).get("usage")
            except ValueError:
                return None
            return usage if isinstance(usage, dict) else None
    return None


def _unauthorized(rid: str) -> web.Response:
    return error_response(401, "missing or invalid API key: send `Authorization: Bearer <key>` or `x-api-key`",
                          "invalid_api_key", {"x-request-id": rid, "WWW-Authenticate": "Bearer"})


def _no_backend(model: str, retry_after: int, headers: dict) -> web.Response:
    return error_response(503, f"no backend of `{model}` is ready (scaling up or recovering): retry shortly",
                          "no_backend_ready", {**headers, "Retry-After": str(retry_after)})


def build_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=gateway.config.max_body_bytes)
    for path in PROXIED:
        app.router.add_post(path, gateway.proxy)
    app.router.add_get("/v1/models", gateway.models)
    app.router.add_get("/healthz", gateway.healthz)
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_get("/metrics", gateway.metrics_handler)
    app.router.add_route("*", "/{tail:.*}", gateway.not_found)
    app.on_startup.append(gateway.start)
    app.on_cleanup.append(gateway.stop)
    return app


def create(config_path: Path, access_log: bool = True) -> Gateway:
    cfg = config_mod.load(config_path)
    return Gateway(config_path, cfg, KeyStore(cfg.keys_file), Router(cfg), access_log=access_log)


def serve(config_path: Path, host: str, port: int, access_log: bool = True) -> None:
    import uvloop

    gateway = create(config_path, access_log)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='{"ts": "%(asctime)s", "level": "%(levelname)s", "msg": "%(message)s"}')
    uvloop.install()
    # handler_cancellation: a client that disconnects cancels its handler, which drops the upstream request
    web.run_app(build_app(gateway), host=host, port=port, access_log=None, handler_cancellation=True,
                print=lambda *_: log.info("llm-gateway listening on %s:%d", host, port), shutdown_timeout=30)
