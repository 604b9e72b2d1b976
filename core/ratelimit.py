"""Per-connection token buckets for the rate limits plugins declare.

A provider calls ``await conn.throttle("getOrderItems")`` before each request; the bucket
for (connection, operation) is the plugin's :class:`~crossdock.providers.RateLimit`. A call
reserves a token and sleeps until it is due, so concurrent callers queue fairly instead of
all retrying at once. With Redis configured the buckets live there (one Lua script, atomic),
shared by every server and worker process; without, they live in the process.

The marketplace's own signals (HTTP 429 with ``Retry-After``) are handled one level up: the
job records ``throttled_until`` on the connection and no job calls the channel before then.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from crossdock.providers import RateLimit

__all__ = ["LocalBuckets", "RedisBuckets", "TokenBuckets", "bind", "effective_limits"]


class TokenBuckets(Protocol):
    async def reserve(self, key: str, limit: RateLimit) -> float:
        """Take a token; return how many seconds to wait before using it."""


class LocalBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    async def reserve(self, key: str, limit: RateLimit) -> float:
        now = self.clock()
        tokens, at = self._state.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.rate) - 1
        self._state[key] = (tokens, now)
        return max(0.0, -tokens / limit.rate)


#: Refill, take one token (possibly going negative: a reservation), return the wait in ms.
_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
if tokens >= 0 then return 0 end
return math.ceil(-tokens / rate * 1000)
"""


class RedisBuckets:
    def __init__(self, redis_url: str, prefix: str = "crossdock:bucket:") -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(redis_url)
        self.prefix = prefix
        self._script = self.redis.register_script(_LUA)

    async def reserve(self, key: str, limit: RateLimit) -> float:
        wait_ms = await self._script(keys=[self.prefix + key], args=[limit.rate, limit.burst, time.time()])
        return int(wait_ms) / 1000

    async def close(self) -> None:
        await self.redis.aclose()


def effective_limits(
    declared: Mapping[str, RateLimit], overrides: Mapping[str, Mapping[str, float]] | None
) -> dict[str, RateLimit]:
    """The plugin's documented limits, with a connection's own overrides on top (some
    sellers are granted higher usage plans; emulators need none): ``settings.rate_limits =
    {"getOrderItems": {"rate": 2, "burst": 60}}``."""
    limits = dict(declared)
    for operation, value in (overrides or {}).items():
        limits[operation] = RateLimit(rate=float(value["rate"]), burst=int(value["burst"]))
    return limits


def bind(
    buckets: TokenBuckets, connection_id: int, limits: Mapping[str, RateLimit]
) -> Callable[[str], Awaitable[None]]:
    """The ``throttle(operation)`` callable of one connection; undeclared operations pass."""

    async def throttle(operation: str) -> None:
        limit = limits.get(operation)
        if limit is None or limit.rate <= 0 or math.isinf(limit.rate):
            return
        wait = await buckets.reserve(f"{connection_id}:{operation}", limit)
        if wait > 0:
            await asyncio.sleep(wait)

    return throttle
