"""The gateway's HTTP application: auth -> limits -> routing -> relay (relay.py moves the bytes, reload.py
watches the files); this module decides, and is the one place that counts and logs each request.

Only the OpenAI routes below are served; everything else is 404, so an engine's admin routes are never
reachable through the gateway. A retry on another backend happens only when nothing reached a backend (it
could not be connected to, or refused with 502/503/504 before any byte); a timeout waiting for an answer is a
504, never retried (the generation may still run there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from llm_gateway import config as config_mod
from llm_gateway.errors import error_response
from llm_gateway.keys import ApiKey, KeyStore
from llm_gateway.limits import (
    LimiterUnavailable,
    LocalLimiter,
    RedisLimiter,
    estimate_prompt_tokens,
    requested_output_tokens,
)
from llm_gateway.metrics import Metrics
from llm_gateway.relay import Outcome, relay
from llm_gateway.reload import Reloader
from llm_gateway.routing import BackendState, Router

log = logging.getLogger("llm_gateway")
PROXIED = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
RETRYABLE_STATUS = {502, 503, 504}
ANONYMOUS = ApiKey("anonymous", "", frozenset({"*"}))


@dataclass
class Call:
    """What is known of one request so far; `Gateway.access` logs and counts it exactly once."""

    started: float
    rid: str
    key: ApiKey | None = None
    model: str = ""
    backend: str = ""
    logged: bool = False


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
    _key_failures_seen: int = 0

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self, app: web.Application) -> None:
        cfg = self.config
        connector = aiohttp.TCPConnector(limit=cfg.max_connections, limit_per_host=0, ttl_dns_cache=30,
                                         keepalive_timeout=60, socket_factory=dead_peer_detecting(cfg.dead_peer))
        timeout = aiohttp.ClientTimeout(total=None, connect=cfg.connect_timeout, sock_read=cfg.read_timeout)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                             skip_auto_headers=("User-Agent",))
        if cfg.redis_url:
            self.limiter = RedisLimiter(cfg.redis_url)
        reloader = Reloader(self.config_path, self.keys, self._apply_config, self._publish_health)
        self._publish_health()
        app["reloader"] = asyncio.create_task(reloader.run())

    async def stop(self, app: web.Application) -> None:
        app["reloader"].cancel()
        if self.session:
            await self.session.close()
        await self.limiter.close()

    def _apply_config(self, new: config_mod.Config) -> None:
        self.config = new
        self.router.update(new)
        self.keys.max_stale_seconds = new.keys_max_stale_seconds

    def _publish_health(self) -> None:
        now = self.router.clock()
        for model, states in self.router.states.items():
            for s in states:
                self.metrics.backend_up.labels(model, s.name).set(1.0 if s.ejected_until <= now else 0.0)
        self.metrics.keys_loaded.set(len(self.keys))
        self.metrics.keys_file_valid.set(0.0 if self.keys.problem else 1.0)
        self.metrics.keys_file_errors.inc(self.keys.failures - self._key_failures_seen)
        self._key_failures_seen = self.keys.failures

    # --- the one place that counts and logs -----------------------------------------------------------
    def label(self, model: str) -> str:
        """A metric label: routed models only, so made-up names cannot grow the series."""
        return model if model in self.router.states else "-"

    def access(self, request: web.Request, req: Call, status: int, **extra) -> None:
        req.logged = True
        key_id = req.key.id if req.key else "-"
        self.metrics.requests.labels(key_id, self.label(req.model), req.backend or "-", str(status)).inc()
        if self.access_log:
            entry = {"ts": round(time.time(), 3), "request_id": req.rid, "method": request.method,
                     "path": request.path, "status": status, "key_id": req.key.id if req.key else None,
                     "model": req.model or None, "backend": req.backend or None,
                     "duration_ms": round((time.perf_counter() - req.started) * 1000, 2), **extra}
            sys.stdout.write(json.dumps(entry) + "\n")

    def refuse(self, request: web.Request, req: Call, status: int, message: str, code: str,
               headers: dict[str, str] | None = None, **extra) -> web.Response:
        """Log and count a request the gateway answers itself, with an OpenAI-style error."""
        self.access(request, req, status, **extra)
        return error_response(status, message, code, {"x-request-id": req.rid, **(headers or {})})

    # --- request helpers ------------------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> ApiKey | None:
        if not self.config.require_keys:
            return ANONYMOUS
        header = request.headers.get("Authorization", "")
        presented = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
        return self.keys.lookup(presented) if presented else None

    @staticmethod
    def _begin(request: web.Request) -> Call:
        return Call(time.perf_counter(), request.headers.get("x-request-id") or uuid.uuid4().hex)

    # --- handlers -------------------------------------------------------------------------------------
    async def models(self, request: web.Request) -> web.Response:
        req = self._begin(request)
        req.key = self.authenticate(request)
        if req.key is None:
            return self.refuse(request, req, 401, *UNAUTHORIZED)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "llm-stack"}
                for m in self.router.models() if req.key.allows(m)]
        self.access(request, req, 200)
        return web.json_response({"object": "list", "data": data}, headers={"x-request-id": req.rid})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(self, request: web.Request) -> web.Response:
        if self.config.require_keys:
            if self.keys.failed_closed:
                return web.Response(status=503, text=f"refusing every key: {self.keys.problem}")
            if self.keys.problem:
                return web.Response(status=503, text=f"serving the last good keys: {self.keys.problem}")
            if not len(self.keys):
                return web.Response(status=503, text="no API keys loaded")
        return web.Response(text="ready")

    async def metrics_handler(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def not_found(self, request: web.Request) -> web.Response:
        return error_response(404, f"{request.method} {request.path} is not served by this gateway", "not_found")

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        req = self._begin(request)
        self.metrics.in_flight.inc()
        try:
            return await self._proxy(request, req)
        except (asyncio.CancelledError, ConnectionResetError):
            if not req.logged:  # the client left before any answer: still a request, logged as such
                self.access(request, req, 499, abandoned=True)
            raise
        finally:
            self.metrics.in_flight.dec()

    async def _proxy(self, request: web.Request, req: Call) -> web.StreamResponse:
        req.key = self.authenticate(request)
        if req.key is None:
            return self.refuse(request, req, 401, *UNAUTHORIZED)
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            # inflating a body costs CPU on this loop and can hide a bomb: clients send JSON as it is
            return self.refuse(request, req, 415, "compressed request bodies are not accepted: send plain JSON",
                               "unsupported_content_encoding")
        try:
            raw = await asyncio.wait_for(request.read(), self.config.body_timeout)
        except web.HTTPRequestEntityTooLarge:
            return self.refuse(request, req, 413, f"request body over {self.config.max_body_bytes} bytes",
                               "body_too_large")
        except TimeoutError:
            return self.refuse(request, req, 408, "request body not received in time", "body_timeout")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return self.refuse(request, req, 400, "request body is not valid JSON", "invalid_json")
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            return self.refuse(request, req, 400, "the body must be a JSON object with a string `model`",
                               "missing_model")
        req.model = model
        if model not in self.router.states:
            return self.refuse(request, req, 404, f"The model `{model}` does not exist", "model_not_found")
        if not req.key.allows(model):
            return self.refuse(request, req, 403, f"this API key may not use the model `{model}`",
                               "model_not_allowed")

        # limits: one request, and an estimate of the tokens (reconciled with the usage reported)
        estimate = estimate_prompt_tokens(body) + requested_output_tokens(body)
        refused = await self._limit(request, req, estimate)
        if refused is not None:
            return refused

        pin = req.key.backend or (request.headers.get("x-llm-backend", "") if self.config.allow_backend_header else "")
        for state in self.router.plan(model, pin):
            # a backend that serves this public name under its own (a canary revision) gets its own name
            data = json.dumps({**body, "model": state.backend.model}).encode() if state.backend.model else raw
            try:
                upstream = await self.session.post(state.backend.url + request.path, data=data,
                                                   headers={"Content-Type": "application/json",
                                                            "x-request-id": req.rid})
            except aiohttp.ConnectionTimeoutError:
                self._failed(state, "connect_timeout")  # nothing reached it: the next backend may answer
                continue
            except TimeoutError:  # sent, and no answer within readTimeoutSeconds
                req.backend = state.name
                self.metrics.upstream_errors.labels(model, state.name, "timeout").inc()
                return self.refuse(request, req, 504, f"the model server took over {self.config.read_timeout:.0f} s "
                                   "to answer", "upstream_timeout")
            except aiohttp.ClientError:
                self._failed(state, "connect")
                continue
            if upstream.status in RETRYABLE_STATUS:
                upstream.close()
                self._failed(state, f"http_{upstream.status}")
                continue
            req.backend = state.name
            return await self._answer(request, req, upstream, state, body.get("stream") is True, estimate)
        return self.refuse(request, req, 503, f"no backend of `{model}` is ready (scaling up or recovering): retry "
                           "shortly", "no_backend_ready", {"Retry-After": str(self.config.retry_after_seconds)})

    async def _limit(self, request: web.Request, req: Call, estimate: int) -> web.Response | None:
        key = req.key
        for kind, per_minute, amount in (("requests", key.requests_per_minute, 1),
                                         ("tokens", key.tokens_per_minute, estimate)):
            try:
                decision = await self.limiter.take(key.id, kind, per_minute, amount)
            except LimiterUnavailable as err:
                self.metrics.limiter_errors.labels(self.config.redis_failure).inc()
                log.warning("limits unavailable (%s): %s", err, "refusing" if self.config.redis_failure == "closed"
                            else "letting the request pass unlimited")
                if self.config.redis_failure == "closed":
                    return self.refuse(request, req, 503, "the rate limiter is unavailable: retry shortly",
                                       "limits_unavailable", {"Retry-After": str(self.config.retry_after_seconds)})
                return None
            if not decision.allowed:
                self.metrics.rate_limited.labels(key.id, kind).inc()
                retry = str(max(1, math.ceil(decision.retry_after)))
                return self.refuse(request, req, 429, f"rate limit of {per_minute} {kind}/min reached for this key",
                                   f"rate_limit_{kind}", {"Retry-After": retry}, limit=kind)
        return None

    async def _answer(self, request: web.Request, req: Call, upstream: aiohttp.ClientResponse,
                      state: BackendState, stream: bool, estimate: int) -> web.StreamResponse:
        outcome = Outcome(upstream.status)
        try:
            response = await relay(request, upstream, {"x-request-id": req.rid, "x-llm-backend": state.name},
                                   stream and upstream.status == 200, req.started, outcome)
        except (asyncio.CancelledError, ConnectionResetError, aiohttp.ClientConnectionResetError):
            self.access(request, req, 499, stream=stream)
            raise
        if outcome.failure or outcome.status >= 500:  # a server error counts against its health (relayed as is)
            self._failed(state, outcome.failure or f"http_{outcome.status}")
        else:
            self._succeeded(state)
        if outcome.first_byte is not None:
            self.metrics.ttfb.labels(req.model, state.name).observe(outcome.first_byte)
        self.metrics.latency.labels(req.model, state.name).observe(time.perf_counter() - req.started)
        if outcome.status == 200:
            await self._account(req.key, req.model, estimate, outcome.usage,
                                completion_guess=max(0, outcome.events - 2) if stream else 0)
        self.access(request, req, outcome.status, **({"stream": True} if stream else {}))
        return response

    # --- backend health and token accounting -----------------------------------------------------------
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
        try:
            prompt = int(usage.get("prompt_tokens") or 0) if usage else 0
            completion = int(usage.get("completion_tokens") or 0) if usage else completion_guess
        except (TypeError, ValueError):
            prompt, completion, usage = 0, completion_guess, None
        if prompt:
            self.metrics.tokens.labels(key.id, model, "prompt").inc(prompt)
        if completion:
            self.metrics.tokens.labels(key.id, model, "completion").inc(completion)
        actual = prompt + completion if usage else estimate
        try:
            await self.limiter.adjust(key.id, "tokens", key.tokens_per_minute, actual - estimate)
        except LimiterUnavailable:
            self.metrics.limiter_errors.labels(self.config.redis_failure).inc()


def dead_peer_detecting(seconds: float):
    """Sockets to backends that notice a peer gone without a word (a pod deleted, its network with it, sends no
    reset): TCP keepalive probes an idle connection, such as one waiting for an answer, every `seconds` / 4 after
    `seconds` / 2, and gives up after three unanswered; unacknowledged data is given up after `seconds`. A slow
    generation answers the probes (the kernel does) and is never cut."""
    idle, interval = max(1, int(seconds / 2)), max(1, int(seconds / 4))

    def factory(addr_info) -> socket.socket:
        family, type_, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", 3),
                              ("TCP_USER_TIMEOUT", int(seconds * 1000))):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        return sock
    return factory


UNAUTHORIZED = ("missing or invalid API key: send `Authorization: Bearer <key>` or `x-api-key`", "invalid_api_key",
                {"WWW-Authenticate": "Bearer"})


def build_app(gateway: Gateway) -> web.Application:
    # auto_decompress off: a compressed request body is refused (415) before any byte of it is inflated
    app = web.Application(client_max_size=gateway.config.max_body_bytes, handler_args={"auto_decompress": False})
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
    keys = KeyStore(cfg.keys_file, cfg.keys_max_stale_seconds)
    return Gateway(config_path, cfg, keys, Router(cfg), access_log=access_log)


def serve(config_path: Path, host: str, port: int, access_log: bool = True) -> None:
    import uvloop

    from llm_gateway import logs

    gateway = create(config_path, access_log)
    logs.configure()
    uvloop.install()
    # handler_cancellation: a client that disconnects cancels its handler, which drops the upstream request
    web.run_app(build_app(gateway), host=host, port=port, access_log=None, handler_cancellation=True,
                print=lambda *_: log.info("llm-gateway listening on %s:%d", host, port), shutdown_timeout=30)
