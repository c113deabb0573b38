"""Per-key limits: requests/min and tokens/min as token buckets. Local by default; shared across gateway
replicas through Redis when configured (one atomic Lua script per check)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


class LimiterUnavailable(RuntimeError):
    """The shared limit store (Redis) could not be asked; the gateway's redisFailure decides what follows."""


@dataclass
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until enough tokens are back


class Bucket:
    """Capacity `per_minute`, refilled continuously at per_minute/60 per second."""

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, per_minute: int, now: float):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.stamp = now

    def take(self, amount: float, now: float) -> Decision:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount <= self.tokens:
            self.tokens -= amount
            return Decision(True)
        if amount > self.capacity:  # can never fit: wait for a full bucket, then it is let through
            amount = self.capacity
        return Decision(False, (amount - self.tokens) / self.rate)

    def adjust(self, delta: float) -> None:
        """Reconcile an estimate: give back (delta < 0) or charge more (may go negative: a debt)."""
        self.tokens = min(self.capacity, self.tokens - delta)


class LocalLimiter:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.buckets: dict[tuple[str, str], Bucket] = {}

    def _bucket(self, key_id: str, kind: str, per_minute: int) -> Bucket:
        bucket = self.buckets.get((key_id, kind))
        if bucket is None or bucket.capacity != per_minute:
            bucket = self.buckets[(key_id, kind)] = Bucket(per_minute, self.clock())
        return bucket

    async def take(self, key_id: str, kind: str, per_minute: int, amount: float) -> Decision:
        if per_minute <= 0:
            return Decision(True)
        return self._bucket(key_id, kind, per_minute).take(amount, self.clock())

    async def adjust(self, key_id: str, kind: str, per_minute: int, delta: float) -> None:
        if per_minute > 0 and delta:
            self._bucket(key_id, kind, per_minute).adjust(delta)

    async def close(self) -> None:
        pass


# KEYS[1] bucket key; ARGV: capacity, rate/s, amount, now (s), mode ("take" | "adjust")
REDIS_BUCKET = """
local capacity = tonumber(ARGV[1]); local rate = tonumber(ARGV[2])
local amount = tonumber(ARGV[3]); local now = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or capacity
local stamp = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local allowed = 1
local wait = 0
if ARGV[5] == 'adjust' then
  tokens = math.min(capacity, tokens - amount)
else
  if amount > capacity then amount = capacity end
  if amount <= tokens then tokens = tokens - amount else allowed = 0; wait = (amount - tokens) / rate end
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', now)
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {allowed, tostring(wait)}
"""


class RedisLimiter:
    """The same buckets, kept in Redis so every gateway replica draws from one budget per key."""

    def __init__(self, url: str, prefix: str = "llm-gateway:limit:"):
        import redis.asyncio as aioredis

        # a Redis that is down must cost a request a second at most, not hang it
        self.redis = aioredis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.script = self.redis.register_script(REDIS_BUCKET)
        self.prefix = prefix

    async def _run(self, key_id: str, kind: str, per_minute: int, amount: float, mode: str) -> Decision:
        from redis.exceptions import RedisError

        try:
            now = await self.redis.time()  # one clock for every replica
            allowed, wait = await self.script(keys=[f"{self.prefix}{key_id}:{kind}"],
                                              args=[per_minute, per_minute / 60.0, amount,
                                                    now[0] + now[1] / 1e6, mode])
        except (RedisError, OSError, TimeoutError) as err:
            raise LimiterUnavailable(f"Redis: {err}") from err
        return Decision(bool(allowed), float(wait))

    async def take(self, key_id: str, kind: str, per_minute: int, amount: float) -> Decision:
        if per_minute <= 0:
            return Decision(True)
        return await self._run(key_id, kind, per_minute, amount, "take")

    async def adjust(self, key_id: str, kind: str, per_minute: int, delta: float) -> None:
        if per_minute > 0 and delta:
            await self._run(key_id, kind, per_minute, delta, "adjust")

    async def close(self) -> None:
        await self.redis.aclose()


def estimate_prompt_tokens(body: dict) -> int:
    """A cheap upper-ish estimate before the engine counts: ~4 characters per token."""
    if "messages" in body and isinstance(body["messages"], list):
        chars = sum(len(str(m.get("content", ""))) + 8 for m in body["messages"] if isinstance(m, dict))
    else:
        prompt = body.get("prompt", body.get("input", ""))
        chars = len(prompt) if isinstance(prompt, str) else len(str(prompt))
    return max(1, math.ceil(chars / 4))


def requested_output_tokens(body: dict) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 256  # a typical answer, reconciled with the reported usage afterwards
