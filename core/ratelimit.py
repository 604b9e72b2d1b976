"""Per-connection token buckets for the rate limits plugins declare.

A provider calls ``await conn.throttle("getOrderItems")`` before each request; the bucket
for (connection, operation) is the plugin's :class:`~crossdock.providers.RateLimit`. A call
reserves a token and sleeps until it is due, so concurrent callers queue fairly instead of
all retrying at once. With Redis configured the buckets live there (one Lua script, atomic),
shared by every server and worker process; without, or while Redis does not answer, they
live in the process.

The marketplace's own signals adjust the pacing: a provider that reads the rate a
marketplace says applies (Amazon's ``x-amzn-RateLimit-Limit``) reports it with
``await conn.rate_observed(operation, rate)``, and the bucket refills at that rate from then
on, in every process. HTTP 429 with ``Retry-After`` is handled one level up: the job records
``throttled_until`` on the connection and no job calls the channel before then.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from crossdock.providers import RateLimit
from crossdock.redis_link import CALL_TIMEOUT, CONNECT_TIMEOUT, RedisLink, RedisUnavailable

__all__ = ["ConnectionLimiter", "LocalBuckets", "RedisBuckets", "TokenBuckets", "bind", "effective_limits"]

#: A rate the marketplace announced is trusted for this long, then the declared one again.
LEARNED_TTL = 3600.0


class TokenBuckets(Protocol):
    async def reserve(self, key: str, limit: RateLimit) -> float:
        """Take a token; return how many seconds to wait before using it. The bucket refills
        at the rate last set with :meth:`set_rate`, else at ``limit.rate``."""

    async def set_rate(self, key: str, rate: float) -> None:
        """From now on, refill bucket ``key`` at ``rate`` tokens per second."""


class LocalBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._rates: dict[str, tuple[float, float]] = {}  # key -> (rate, learned until)

    async def reserve(self, key: str, limit: RateLimit) -> float:
        now = self.clock()
        learned, until = self._rates.get(key, (limit.rate, now))
        rate = learned if until > now else limit.rate
        tokens, at = self._state.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * rate) - 1
        self._state[key] = (tokens, now)
        return max(0.0, -tokens / rate)

    async def set_rate(self, key: str, rate: float) -> None:
        self._rates[key] = (rate, self.clock() + LEARNED_TTL)


#: Refill (at the learned rate, if one is set), take one token (possibly going negative: a
#: reservation), return the wait in ms.
_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local learned = tonumber(redis.call('GET', KEYS[2]))
if learned and learned > 0 then rate = learned end
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
    """The buckets in Redis; while Redis does not answer (see :mod:`crossdock.redis_link`),
    in this process (:class:`LocalBuckets`), until it answers again."""

    def __init__(
        self, redis_url: str, prefix: str = "crossdock:bucket:", *, link: RedisLink | None = None
    ) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(
            redis_url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CALL_TIMEOUT
        )
        self.prefix = prefix
        self.link = link or RedisLink()
        self.local = LocalBuckets()
        self._script = self.redis.register_script(_LUA)
        self._told: dict[str, tuple[float, float]] = {}  # key -> (rate, when written)

    async def reserve(self, key: str, limit: RateLimit) -> float:
        try:
            wait_ms = await self.link.call(
                lambda: self._script(
                    keys=[self.prefix + key, self.prefix + "rate:" + key],
                    args=[limit.rate, limit.burst, time.time()],
                ),
                "reserving a rate-limit token",
            )
        except RedisUnavailable:
            return await self.local.reserve(key, limit)
        return int(wait_ms) / 1000

    async def set_rate(self, key: str, rate: float) -> None:
        await self.local.set_rate(key, rate)  # kept here too, for when Redis is away
        # Amazon announces the rate on every answer: write only a change, or to keep it alive
        now = time.monotonic()
        told = self._told.get(key)
        if told is not None and told[0] == rate and now - told[1] < LEARNED_TTL / 2:
            return
        try:
            await self.link.call(
                lambda: self.redis.set(self.prefix + "rate:" + key, repr(rate), ex=int(LEARNED_TTL)),
                "saving an announced rate",
            )
        except RedisUnavailable:
            return
        self._told[key] = (rate, now)

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


class ConnectionLimiter:
    """One connection's limiter: ``await limiter(operation)`` before a call (undeclared
    operations pass), ``await limiter.observe(operation, rate)`` when the marketplace says
    what rate applies."""

    def __init__(
        self, buckets: TokenBuckets, connection_id: int | str, limits: Mapping[str, RateLimit]
    ) -> None:
        self.buckets = buckets
        self.connection_id = connection_id
        self.limits = limits

    async def __call__(self, operation: str) -> None:
        limit = self.limits.get(operation)
        if limit is None or limit.rate <= 0 or math.isinf(limit.rate):
            return
        wait = await self.buckets.reserve(f"{self.connection_id}:{operation}", limit)
        if wait > 0:
            await asyncio.sleep(wait)

    async def observe(self, operation: str, rate: float) -> None:
        if operation in self.limits and 0 < rate < math.inf:  # undeclared operations stay unpaced
            await self.buckets.set_rate(f"{self.connection_id}:{operation}", rate)


def bind(
    buckets: TokenBuckets, connection_id: int | str, limits: Mapping[str, RateLimit]
) -> ConnectionLimiter:
    """The limiter of one connection, for :class:`~crossdock.providers.ChannelConnection`
    (or of one carrier account: ``connection_id`` is then ``"carrier-<id>"``)."""
    return ConnectionLimiter(buckets, connection_id, limits)
