"""Prometheus metrics of the gateway (served on /metrics). Labels never carry secrets (key ids only) nor what a
client makes up: a model label is a routed model's name or "-", so unknown names cannot grow the series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("llm_gateway_requests", "Requests answered, by key id, model, backend and status",
                                ["key_id", "model", "backend", "status"], registry=r)
        self.latency = Histogram("llm_gateway_request_duration_seconds", "Time to the last byte",
                                 ["model", "backend"], buckets=LATENCY_BUCKETS, registry=r)
        self.ttfb = Histogram("llm_gateway_time_to_first_token_seconds",
                              "Time to the first byte of the upstream body (first token when streaming)",
                              ["model", "backend"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("llm_gateway_tokens", "Tokens by key id, model and direction (prompt, completion)",
                              ["key_id", "model", "direction"], registry=r)
        self.in_flight = Gauge("llm_gateway_in_flight_requests", "Requests being proxied now", registry=r)
        self.rate_limited = Counter("llm_gateway_rate_limited", "Requests refused by a per-key limit",
                                    ["key_id", "limit"], registry=r)
        self.upstream_errors = Counter("llm_gateway_upstream_errors", "Failed upstream attempts",
                                       ["model", "backend", "reason"], registry=r)
        self.backend_up = Gauge("llm_gateway_backend_up", "1 while a backend is not ejected",
                                ["model", "backend"], registry=r)
        self.keys_loaded = Gauge("llm_gateway_keys_loaded", "API keys in effect (0 once failed closed)",
                                 registry=r)
        self.keys_file_valid = Gauge("llm_gateway_keys_file_valid",
                                     "1 while the keys file is valid, 0 while the last good keys stand in", registry=r)
        self.keys_file_errors = Counter("llm_gateway_keys_file_errors",
                                        "Times the keys file was found invalid or missing", registry=r)
        self.limiter_errors = Counter("llm_gateway_limiter_errors", "Limit checks that could not reach Redis",
                                      ["failure_mode"], registry=r)
