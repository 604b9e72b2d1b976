"""Token buckets: local and in Redis, with the same arithmetic; overrides per connection."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from crossdock.providers import RateLimit
from crossdock.ratelimit import LocalBuckets, RedisBuckets, bind, effective_limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_local_bucket_reserves_in_order() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    limit = RateLimit(rate=2, burst=3)
    waits = [await buckets.reserve("c:op", limit) for _ in range(6)]
    assert waits == [0, 0, 0, 0.5, 1.0, 1.5]  # a burst of 3, then one every half second
    clock.now += 10  # a quiet spell refills to the burst, no further
    assert [await buckets.reserve("c:op", limit) for _ in range(4)] == [0, 0, 0, 0.5]
    assert await buckets.reserve("other:op", limit) == 0  # buckets are per key


async def test_redis_bucket_is_shared_and_atomic(redis_url: str) -> None:
    first, second = RedisBuckets(redis_url), RedisBuckets(redis_url)  # two processes' worth
    key = f"t-{uuid.uuid4().hex}"
    limit = RateLimit(rate=1, burst=2)
    waits = [await b.reserve(key, limit) for b in (first, second, first, second)]
    assert waits[:2] == [0, 0]
    assert 0.9 < waits[2] <= 1.0 and 1.9 < waits[3] <= 2.0
    await first.close()
    await second.close()


def test_connection_overrides_take_precedence() -> None:
    declared = {"getOrders": RateLimit(0.0167, 20)}
    limits = effective_limits(
        declared, {"getOrders": {"rate": 1, "burst": 5}, "extra": {"rate": 2, "burst": 1}}
    )
    assert limits == {"getOrders": RateLimit(1.0, 5), "extra": RateLimit(2.0, 1)}


async def test_bound_throttle_waits_only_for_declared_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> Any:
        slept.append(seconds)

    import crossdock.ratelimit as module

    monkeypatch.setattr(module.asyncio, "sleep", fake_sleep)
    throttle = bind(LocalBuckets(Clock()), 7, {"op": RateLimit(rate=4, burst=1)})
    for _ in range(3):
        await throttle("op")
        await throttle("undeclared")
    assert slept == [0.25, 0.5]


async def test_a_rate_the_marketplace_announces_is_shared_by_every_process(redis_url: str) -> None:
    """A worker learns a new rate from a response header; another worker paces to it."""
    first, second = RedisBuckets(redis_url), RedisBuckets(redis_url)
    declared = {"getOrders": RateLimit(rate=0.0167, burst=1)}
    learner = bind(first, 42, declared)
    await learner.observe("getOrders", 4.0)
    await learner.observe("undeclared", 4.0)  # nothing to pace: ignored
    key = "42:getOrders"
    waits = [await second.reserve(key, declared["getOrders"]) for _ in range(3)]
    assert waits[0] == 0
    assert 0.2 < waits[1] <= 0.25 and 0.45 < waits[2] <= 0.5  # 4/s, not one a minute
    await first.close()
    await second.close()


async def test_local_learned_rate_expires_back_to_the_declared_one() -> None:
    from crossdock.ratelimit import LEARNED_TTL

    clock = Clock()
    buckets = LocalBuckets(clock)
    limiter = bind(buckets, 1, {"op": RateLimit(rate=1, burst=1)})
    await limiter.observe("op", 10.0)
    assert [await buckets.reserve("1:op", RateLimit(1, 1)) for _ in range(2)] == [0, 0.1]
    clock.now += LEARNED_TTL + 1
    assert [await buckets.reserve("1:op", RateLimit(1, 1)) for _ in range(2)] == [0, 1.0]
