"""Locust users for an OpenAI-compatible endpoint (the gateway, vLLM or the Ray Serve app).

Environment: LOAD_MODELS (comma-separated, users pick round-robin), LOAD_KEY (bearer key, optional),
LOAD_MAX_TOKENS (default 16), LOAD_STREAM_SHARE (0-1, share of streaming requests; default 0.5),
LOAD_LIMITED_KEY (optional: a key with a tight per-key limit; a few users send with it and count 429 as
the expected answer). Run headless, e.g.:
  locust -f scripts/loadtest/openai_locustfile.py --headless -u 16 -r 16 -t 20s --host http://127.0.0.1:8080
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import HttpUser, constant, task

MODELS = [m for m in os.environ.get("LOAD_MODELS", "tiny").split(",") if m]
KEY = os.environ.get("LOAD_KEY", "")
LIMITED_KEY = os.environ.get("LOAD_LIMITED_KEY", "")
MAX_TOKENS = int(os.environ.get("LOAD_MAX_TOKENS", "16"))
STREAM_SHARE = float(os.environ.get("LOAD_STREAM_SHARE", "0.5"))
PROMPTS = ["Tell me about the sea.", "Write a short poem about mountains and rivers.", "hi",
           "Summarise the plot of a story where a robot learns to paint, in three sentences."]
_models = itertools.cycle(MODELS)


def chat_body(model: str, stream: bool) -> dict:
    body = {"model": model, "max_tokens": MAX_TOKENS, "ignore_eos": True, "stream": stream,
            "messages": [{"role": "user", "content": random.choice(PROMPTS)}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


class ChatUser(HttpUser):
    """Chat completions, streaming or not, against one model per user."""

    wait_time = constant(0)

    def on_start(self):
        self.model = next(_models)
        self.headers = {"Authorization": f"Bearer {KEY}"} if KEY else {}

    @task
    def chat(self):
        stream = random.random() < STREAM_SHARE
        with self.client.post("/v1/chat/completions", json=chat_body(self.model, stream), headers=self.headers,
                              stream=stream, catch_response=True, name=f"chat {'stream' if stream else 'json'}",
                              timeout=120) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
            elif stream:
                text = "".join(resp.iter_content(chunk_size=None, decode_unicode=True))
                if not text.rstrip().endswith("data: [DONE]"):
                    resp.failure("stream ended without [DONE]")
            elif json.loads(resp.text)["usage"]["completion_tokens"] < 1:
                resp.failure("no completion tokens")


if LIMITED_KEY:
    class LimitedKeyUser(HttpUser):
        """Requests with a key whose per-key limit is tight: 429 (with Retry-After) is the expected answer."""

        wait_time = constant(0.2)
        fixed_count = 1

        @task
        def chat(self):
            with self.client.post("/v1/chat/completions", json=chat_body(MODELS[0], False), name="chat limited key",
                                  headers={"Authorization": f"Bearer {LIMITED_KEY}"}, catch_response=True,
                                  timeout=120) as resp:
                if resp.status_code in (200, 429):
                    resp.success()
                else:
                    resp.failure(f"HTTP {resp.status_code}")
