"""Property-based fuzzing of the gateway's OpenAI surface: whatever the body, headers or path, the
gateway itself never answers 5xx while its backend is healthy, and it keeps serving."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewaykit import Client, route

pytestmark = [pytest.mark.gateway, pytest.mark.slow]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"model": st.sampled_from(["m", "other", "", "m\x00"]) | st.integers()},
                          optional={"messages": json_values, "stream": json_values, "max_tokens": json_values,
                                    "prompt": json_values, "stream_options": json_values})
    .map(lambda d: json.dumps(d).encode()),
)
paths = st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models",
                         "/v1/chat/completions?x=1", "/v1//chat/completions", "/%2e%2e/admin", "/metrics"])
headers = st.dictionaries(st.sampled_from(["x-request-id", "x-llm-backend", "Authorization", "x-api-key",
                                           "Content-Type"]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
                          max_size=3)


@pytest.fixture(scope="module")
def fuzz_port(upstreams, tmp_path_factory, logs):
    """One gateway for all examples (module-scoped: hypothesis forbids function-scoped fixtures)."""


    from gatewaykit import KEYS
    from llmstack.local.gateway import start_gateway, write_config, write_keys
    from llmstack.paths import ROOT  # noqa: F401

    tmp = tmp_path_factory.mktemp("fuzz")
    keys = write_keys(tmp / "keys.yaml", KEYS)
    config = write_config(tmp / "gateway.yaml", [route("m", ("a", upstreams["a"], 1))], keys)
    port, proc = start_gateway("gateway-fuzz", config, logs, None, "--no-access-log")
    yield port
    proc.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["POST", "GET", "PUT"]), path=paths, body=bodies, extra=headers,
       authed=st.booleans())
def test_no_5xx_from_the_gateway_itself(fuzz_port, method, path, body, extra, authed):
    client = Client(fuzz_port, key="sk-alpha-0123456789" if authed else None)
    try:
        status, _, payload = client.request(method, path, raw=body, headers=extra)
    finally:
        client.close()
    assert status < 500, f"{method} {path} {body[:100]!r} {extra} -> {status} {payload[:200]!r}"


def test_still_serving_after_fuzzing(fuzz_port):
    assert Client(fuzz_port).chat(model="m")[0] == 200
