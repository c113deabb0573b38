#!/usr/bin/env python3
"""Closed-loop OpenAI load for one benchmark cell: N concurrent clients for a bounded time and count.
Prints one JSON line: requests, errors, req/s, latency and time-to-first-byte percentiles (ms)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import uvloop


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))] * 1000


async def run(url: str, key: str, concurrency: int, seconds: float, max_requests: int, stream: bool,
              warmup: float, model: str = "bench-model", max_tokens: int = 32) -> dict:
    body = {"model": model, "max_tokens": max_tokens, "stream": stream, "ignore_eos": True,
            "messages": [{"role": "user", "content": "Say something."}]}
    if "/v1/completions" in url:
        body["prompt"] = body.pop("messages")[0]["content"]
    body = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    ttfb: list[float] = []
    errors = 0
    sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        measure_from = time.perf_counter() + warmup
        deadline = measure_from + seconds

        async def client():
            # a request counts when it completes inside [measure_from, deadline]: slow targets whose
            # requests outlast the window are still measured by what they complete
            nonlocal errors, sent
            while time.perf_counter() < deadline and sent < max_requests:
                t0 = time.perf_counter()
                first = None
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        async for _ in resp.content.iter_any():
                            if first is None:
                                first = time.perf_counter() - t0
                        ok = resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                done = time.perf_counter()
                if measure_from <= done <= deadline:
                    sent += 1
                    if ok:
                        latencies.append(done - t0)
                        ttfb.append(first or 0.0)
                    else:
                        errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = seconds
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed if elapsed > 0 else 0,
            "p50": pct(latencies, 50), "p99": pct(latencies, 99), "ttfb_p50": pct(ttfb, 50),
            "ttfb_p99": pct(ttfb, 99)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="none")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--max-tokens", type=int, default=32)
    a = parser.parse_args()
    uvloop.install()
    print(json.dumps(asyncio.run(run(a.url, a.key, a.concurrency, a.seconds, a.max_requests, a.stream, a.warmup,
                                     a.model, a.max_tokens))))
