"""Per-key limits: requests/min and tokens/min, 429 + Retry-After, reset, estimate reconciliation, and one
budget shared by two gateway replicas through Redis."""

from __future__ import annotations

import json
import time

import pytest

from gatewaykit import Client, route

pytestmark = pytest.mark.gateway

LIMITED = {"sk-rpm-0123456789": {"id": "rpm", "models": ["*"], "requestsPerMinute": 120},
           "sk-tpm-0123456789": {"id": "tpm", "models": ["*"], "tokensPerMinute": 1000},
           "sk-free-0123456789": {"id": "free", "models": ["*"]}}


def burst(client: Client, n: int, **body) -> list[tuple[int, dict]]:
    return [client.chat(model="m", **body)[:2] for _ in range(n)]


def test_requests_per_minute_limit_and_its_reset(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))], keys=LIMITED)
    client = Client(port, "sk-rpm-0123456789")
    results = burst(client, 125)
    statuses = [s for s, _ in results]
    assert 118 <= statuses.count(200) <= 122  # a full bucket of 120, plus what refilled (2/s) meanwhile
    status, headers = next((s, h) for s, h in results if s == 429)
    assert int(headers["Retry-After"]) >= 1
    assert Client(port, "sk-free-0123456789").chat(model="m")[0] == 200  # other keys are not affected
    time.sleep(int(headers["Retry-After"]))
    assert client.chat(model="m")[0] == 200  # refilled


def test_tokens_per_minute_limit_counts_the_requested_tokens(gateway, upstreams):
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))], keys=LIMITED)
    client = Client(port, "sk-tpm-0123456789")
    statuses = [s for s, _ in burst(client, 3, max_tokens=400)]  # ~402 tokens each against 1000/min
    assert statuses == [200, 200, 429]
    status, headers, body = client.chat(model="m", max_tokens=400)
    assert json.loads(body)["error"]["code"] == "rate_limit_tokens" and int(headers["Retry-After"]) >= 1


def test_token_estimates_are_reconciled_with_reported_usage(gateway, upstreams):
    """Without max_tokens the gateway reserves 256 output tokens; the upstream reports 32. Reconciling
    gives the difference back, so far more than 1000 // 258 = 3 requests fit in the minute."""
    port, *_ = gateway([route("m", ("a", upstreams["a"], 1))], keys=LIMITED)
    client = Client(port, "sk-tpm-0123456789")
    assert [s for s, _ in burst(client, 20)] == [200] * 20


def test_redis_shares_one_budget_across_two_gateways(gateway, upstreams, redis_url):
    keys = {"sk-shared-0123456789": {"id": f"shared-{time.time_ns()}", "models": ["*"], "requestsPerMinute": 30}}
    ports = [gateway([route("m", ("a", upstreams["a"], 1))], keys=keys, redisUrl=redis_url)[0] for _ in range(2)]
    clients = [Client(p, "sk-shared-0123456789") for p in ports]
    statuses = [clients[i % 2].chat(model="m")[0] for i in range(40)]
    # one bucket of 30 for both replicas (a local bucket each would let 40 through)
    assert 30 <= statuses.count(200) <= 32
    assert statuses.count(429) >= 8
