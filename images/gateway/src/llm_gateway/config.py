"""The gateway's one YAML config file, validated at start and on reload with errors naming the key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

REDIS_URL_ENV = "LLM_GATEWAY_REDIS_URL"


class ConfigError(ValueError):
    """A config problem; the message starts with the key path and says the fix."""


@dataclass(frozen=True)
class Backend:
    name: str
    url: str            # base URL of an OpenAI-compatible server, e.g. http://svc:8000
    weight: int = 1
    model: str = ""     # the name this backend serves the route's model under ("" = the same name)


@dataclass(frozen=True)
class Route:
    model: str
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class Health:
    failure_threshold: int = 3     # consecutive failures that eject a backend
    eject_seconds: float = 10.0    # how long it stays out before one probe request may go


@dataclass(frozen=True)
class Config:
    routes: dict[str, Route]
    keys_file: Path | None = None
    redis_url: str = ""
    health: Health = field(default_factory=Health)
    retry_after_seconds: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    dead_peer: float = 10.0  # seconds in which a backend that vanished without a reset is noticed
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout: float = 30.0
    max_connections: int = 1024
    allow_backend_header: bool = False   # honour x-llm-backend: <backend name> pinning
    require_keys: bool = True
    keys_max_stale_seconds: float = 300.0  # how long the last good keys outlive an invalid or missing keys file
    redis_failure: str = "open"  # Redis unreachable: "open" lets requests pass unlimited, "closed" answers 503


KNOWN = {
    "": {"routes", "keysFile", "redisUrl", "health", "retryAfterSeconds", "upstream", "limits", "requireKeys",
         "allowBackendHeader", "keysMaxStaleSeconds", "redisFailure"},
    "health": {"failureThreshold", "ejectSeconds"},
    "upstream": {"connectTimeoutSeconds", "readTimeoutSeconds", "maxConnections", "deadPeerSeconds"},
    "limits": {"maxBodyBytes", "bodyTimeoutSeconds"},
    "route": {"model", "backends"},
    "backend": {"name", "url", "weight", "model"},
}


def _check_keys(node: dict, kind: str, path: str) -> None:
    if not isinstance(node, dict):
        raise ConfigError(f"{path or '<root>'}: must be a mapping")
    unknown = set(node) - KNOWN[kind]
    if unknown:
        raise ConfigError(f"{path or '<root>'}: unknown key(s) {sorted(unknown)}: allowed are {sorted(KNOWN[kind])}")


def _number(node: dict, key: str, path: str, default, minimum=0, kind=float):
    value = node.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{path}{key}: {value!r} must be a number ≥ {minimum}")
    return kind(value)


def parse(data: dict) -> Config:
    _check_keys(data, "", "")
    routes: dict[str, Route] = {}
    raw_routes = data.get("routes")
    if not isinstance(raw_routes, list) or not raw_routes:
        raise ConfigError("routes: must be a non-empty list of {model, backends}")
    for i, raw in enumerate(raw_routes):
        path = f"routes[{i}]"
        _check_keys(raw, "route", path)
        model = raw.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{path}.model: must be the OpenAI model id clients send")
        if model in routes:
            raise ConfigError(f"{path}.model: {model!r} is routed twice: merge the backends into one route")
        backends = []
        raw_backends = raw.get("backends")
        if not isinstance(raw_backends, list) or not raw_backends:
            raise ConfigError(f"{path}.backends: must list at least one backend {{name, url, weight}}")
        for j, rb in enumerate(raw_backends):
            bpath = f"{path}.backends[{j}]"
            _check_keys(rb, "backend", bpath)
            url = rb.get("url", "")
            parsed = urlparse(url) if isinstance(url, str) else None
            if not parsed or parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(f"{bpath}.url: {url!r} is not an http(s) URL such as http://my-model:8000")
            weight = _number(rb, "weight", bpath + ".", 1, 0, int)
            upstream_model = rb.get("model", "")
            if not isinstance(upstream_model, str):
                raise ConfigError(f"{bpath}.model: must be the model name this backend serves (a string)")
            backends.append(Backend(str(rb.get("name") or parsed.netloc), url.rstrip("/"), weight,
                                    "" if upstream_model == model else upstream_model))
        if not any(b.weight for b in backends):
            raise ConfigError(f"{path}.backends: every weight is 0: give at least one backend a weight > 0")
        if len({b.name for b in backends}) != len(backends):
            raise ConfigError(f"{path}.backends: backend names must be unique within a route")
        routes[model] = Route(model, tuple(backends))
    health = data.get("health", {})
    _check_keys(health, "health", "health")
    upstream = data.get("upstream", {})
    _check_keys(upstream, "upstream", "upstream")
    limits = data.get("limits", {})
    _check_keys(limits, "limits", "limits")
    keys_file = data.get("keysFile")
    require_keys = data.get("requireKeys", True)
    if require_keys and not keys_file:
        raise ConfigError("keysFile: required while requireKeys is true: mount the keys Secret and give its path")
    redis_failure = data.get("redisFailure", "open")
    if redis_failure not in ("open", "closed"):
        raise ConfigError(f"redisFailure: {redis_failure!r} must be open (pass unlimited while Redis is down) or "
                          "closed (answer 503)")
    # a URL with credentials belongs in a Secret: the chart passes it as this variable, which wins
    redis_url = str(os.environ.get(REDIS_URL_ENV) or data.get("redisUrl") or "")
    return Config(
        routes=routes,
        keys_file=Path(keys_file) if keys_file else None,
        redis_url=redis_url,
        health=Health(_number(health, "failureThreshold", "health.", 3, 1, int),
                      _number(health, "ejectSeconds", "health.", 10.0, 0)),
        retry_after_seconds=_number(data, "retryAfterSeconds", "", 5, 1, int),
        connect_timeout=_number(upstream, "connectTimeoutSeconds", "upstream.", 5.0, 0.1),
        read_timeout=_number(upstream, "readTimeoutSeconds", "upstream.", 600.0, 1),
        dead_peer=_number(upstream, "deadPeerSeconds", "upstream.", 10.0, 2),
        max_connections=_number(upstream, "maxConnections", "upstream.", 1024, 1, int),
        max_body_bytes=_number(limits, "maxBodyBytes", "limits.", 8 * 1024 * 1024, 1024, int),
        body_timeout=_number(limits, "bodyTimeoutSeconds", "limits.", 30.0, 0.1),
        allow_backend_header=bool(data.get("allowBackendHeader", False)),
        require_keys=bool(require_keys),
        keys_max_stale_seconds=_number(data, "keysMaxStaleSeconds", "", 300.0, 0),
        redis_failure=redis_failure,
    )


def load(path: Path) -> Config:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, RecursionError) as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file: {err.strerror}") from err
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings, not a {type(data).__name__}")
    return parse(data or {})
