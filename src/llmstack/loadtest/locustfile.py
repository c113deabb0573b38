"""Locust users for an OpenAI-compatible endpoint (the gateway, vLLM or the Ray Serve app).

Run by `llmstack loadtest` (which sets the environment below and reads the records), or directly:
  locust -f src/llmstack/loadtest/locustfile.py --headless -u 16 -r 16 -t 20s --host http://127.0.0.1:8080

Environment:
  LOAD_MODELS         comma-separated model ids; users pick round-robin (default "tiny")
  LOAD_KEY            bearer key (optional)
  LOAD_API            chat | completions | both (default chat)
  LOAD_STREAM_SHARE   share of streaming requests, 0-1 (default 0.5)
  LOAD_PROMPT_WORDS   prompt length in words: N, uniform:A-B or normal:MEAN,SD (default uniform:4-24)
  LOAD_MAX_TOKENS     output length in tokens, same forms (default 16); ignore_eos makes it exact
  LOAD_RECORDS        write one JSON line per request here (time, API, status, TTFT, E2E, tokens)
  LOAD_SHAPE          step:START,STEP,EVERY_S,MAX,DURATION_S (users added every EVERY_S seconds) or
                      ramp:MAX,DURATION_S (linear from 1); unset: locust's -u/-r/-t
  LOAD_LIMITED_KEY    a key with a tight per-key limit: one user sends with it, 429 is its expected answer
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time

from locust import HttpUser, LoadTestShape, constant, events, task

MODELS = [m for m in os.environ.get("LOAD_MODELS", "tiny").split(",") if m]
KEY = os.environ.get("LOAD_KEY", "")
LIMITED_KEY = os.environ.get("LOAD_LIMITED_KEY", "")
API = os.environ.get("LOAD_API", "chat")
STREAM_SHARE = float(os.environ.get("LOAD_STREAM_SHARE", "0.5"))
WORDS = ["the", "sea", "mountain", "river", "story", "robot", "paint", "light", "city", "night", "music",
         "garden", "winter", "summer", "road", "letter", "window", "bridge", "forest", "market", "train"]
_models = itertools.cycle(MODELS)
_records = open(os.environ["LOAD_RECORDS"], "a", buffering=1) if os.environ.get("LOAD_RECORDS") else None  # noqa: SIM115


def draw(spec: str) -> int:
    """One sample of `N`, `uniform:A-B` or `normal:MEAN,SD` (at least 1)."""
    kind, _, args = spec.partition(":")
    if not args:
        return max(1, int(kind))
    if kind == "uniform":
        low, high = (int(x) for x in args.split("-"))
        return random.randint(low, high)
    if kind == "normal":
        mean, sd = (float(x) for x in args.split(","))
        return max(1, round(random.gauss(mean, sd)))
    raise ValueError(f"length {spec!r}: use N, uniform:A-B or normal:MEAN,SD")


PROMPT_SPEC = os.environ.get("LOAD_PROMPT_WORDS", "uniform:4-24")
TOKENS_SPEC = os.environ.get("LOAD_MAX_TOKENS", "16")
draw(PROMPT_SPEC), draw(TOKENS_SPEC)  # a malformed spec fails at start, not in every request


def request_body(api: str, model: str, stream: bool) -> dict:
    prompt = " ".join(random.choices(WORDS, k=draw(PROMPT_SPEC)))
    body = {"model": model, "max_tokens": draw(TOKENS_SPEC), "ignore_eos": True, "stream": stream}
    if api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def record(**fields) -> None:
    if _records:
        _records.write(json.dumps(fields) + "\n")


def read_stream(resp, started: float) -> tuple[float | None, int, bool]:
    """(time to the first content token, output tokens, ended with [DONE]) of a server-sent event stream."""
    first, chunks, usage, done = None, 0, None, False
    for line in resp.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            break
        event = json.loads(data)
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            if choice.get("text") or (choice.get("delta") or {}).get("content"):
                chunks += 1
                first = first or time.perf_counter() - started
    tokens = (usage or {}).get("completion_tokens") or chunks
    return first, tokens, done


class OpenAIUser(HttpUser):
    """Chat or text completions, streaming or not, against one model per user."""

    wait_time = constant(0)

    def on_start(self):
        self.model = next(_models)
        self.headers = {"Authorization": f"Bearer {KEY}"} if KEY else {}

    @task
    def complete(self):
        api = random.choice(["chat", "completions"]) if API == "both" else API
        stream = random.random() < STREAM_SHARE
        path = "/v1/chat/completions" if api == "chat" else "/v1/completions"
        body = request_body(api, self.model, stream)
        wall, started = time.time(), time.perf_counter()
        ttft, tokens, error = None, 0, ""
        with self.client.post(path, json=body, headers=self.headers, stream=stream, catch_response=True,
                              name=f"{api} {'stream' if stream else 'json'}", timeout=120) as resp:
            try:
                if resp.status_code != 200:
                    error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                elif stream:
                    ttft, tokens, done = read_stream(resp, started)
                    error = "" if done else "stream ended without [DONE]"
                else:
                    tokens = resp.json()["usage"]["completion_tokens"]
                    error = "" if tokens >= 1 else "no completion tokens"
            except (ValueError, KeyError) as err:  # a malformed body is the server's failure, not ours
                error = f"malformed response: {err}"
            e2e = time.perf_counter() - started
            if error:
                resp.failure(error)
            record(t=wall, api=api, stream=stream, model=self.model, status=resp.status_code, ok=not error,
                   error=error, ttft=ttft if stream else None, e2e=e2e, output_tokens=tokens,
                   requested_tokens=body["max_tokens"])


if LIMITED_KEY:
    class LimitedKeyUser(HttpUser):
        """Requests with a key whose per-key limit is tight: 429 (with Retry-After) is the expected answer."""

        wait_time = constant(0.2)
        fixed_count = 1

        @task
        def chat(self):
            with self.client.post("/v1/chat/completions", json=request_body("chat", MODELS[0], False),
                                  name="chat limited key", headers={"Authorization": f"Bearer {LIMITED_KEY}"},
                                  catch_response=True, timeout=120) as resp:
                if resp.status_code in (200, 429):
                    resp.success()
                else:
                    resp.failure(f"HTTP {resp.status_code}")


SHAPE = os.environ.get("LOAD_SHAPE", "")
if SHAPE:
    class Shape(LoadTestShape):
        """Step (users added every few seconds) or ramp (linear) load, ending by itself."""

        kind, _, args = SHAPE.partition(":")
        numbers = [float(x) for x in args.split(",")]

        def tick(self):
            elapsed = self.get_run_time()
            if self.kind == "step":
                start, step, every, most, duration = self.numbers
                users = min(most, start + step * int(elapsed // every))
            else:
                most, duration = self.numbers
                users = max(1, round(most * min(1.0, elapsed / duration)))
            return None if elapsed >= duration else (int(users), max(1.0, users))


@events.quitting.add_listener
def _close(environment, **_):
    if _records:
        _records.close()
