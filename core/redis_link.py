"""Redis, when it does not answer: fail fast, fall back, come back.

Three things in a server process use Redis: the GraphQL query-cost buckets
(:mod:`crossdock.api.cost`), the connections' rate-limit buckets (:mod:`crossdock.ratelimit`)
and the job queue (:mod:`crossdock.jobs.arq_worker`). Redis being down must cost a request
neither its answer nor seconds of waiting, and no answer may show where Redis lives. They
share one :class:`RedisLink` per Redis:

* every call runs under a short timeout (:data:`CALL_TIMEOUT`); a connection error or a
  timeout marks the link *down* and raises :class:`RedisUnavailable`, a typed error whose
  message names no address (the cause is logged once for the operator);
* while the link is down, calls fail at once, without trying to connect, for
  :data:`RETRY_AFTER` seconds; the first call after that tries Redis again, and a success
  marks the link up (logged too). :meth:`RedisLink.probe` (``/health``) always tries;
* the users fall back while it is down: the buckets to per-process buckets, the queue to a
  typed ``JOBS_UNAVAILABLE`` error (after a commit the core logs it and the periodic sweeps
  repair what the lost job would have done).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from crossdock.errors import CrossdockError

__all__ = ["CALL_TIMEOUT", "CONNECT_TIMEOUT", "RETRY_AFTER", "RedisLink", "RedisUnavailable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds one Redis call may take before the link counts as down.
CALL_TIMEOUT = 0.5
#: Seconds a (re)connection may take (the clients' ``socket_connect_timeout``).
CONNECT_TIMEOUT = 0.5
#: Seconds calls fail at once after a failure, before Redis is tried again.
RETRY_AFTER = 1.0

_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError, asyncio.TimeoutError)


class RedisUnavailable(CrossdockError):
    """Redis does not answer now; what needed it fell back or failed (see the module doc)."""

    code = "REDIS_UNAVAILABLE"

    def __init__(
        self, message: str = "a backing service (Redis) does not answer now", *, code: str | None = None
    ):
        super().__init__(message, code=code)


class RedisLink:
    """Whether one Redis answers, as the users of it in this process found out."""

    def __init__(
        self,
        *,
        timeout: float = CALL_TIMEOUT,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.retry_after = retry_after
        self.clock = clock
        self._down_since: float | None = None
        self._retry_at = 0.0

    @property
    def up(self) -> bool:
        return self._down_since is None

    async def call(self, operation: Callable[[], Awaitable[T]], what: str = "redis") -> T:
        """Run ``operation`` (a Redis call) under the timeout; raises :class:`RedisUnavailable`
        at once while the link is down and Redis is not due to be tried again."""
        if self._down_since is not None and self.clock() < self._retry_at:
            raise RedisUnavailable()
        return await self.probe(operation, what)

    async def probe(self, operation: Callable[[], Awaitable[T]], what: str = "redis") -> T:
        """Like :meth:`call`, but tries Redis even while the link is down."""
        try:
            result = await asyncio.wait_for(operation(), self.timeout)
        except _FAILURES as exc:
            self._failed(exc, what)
            raise RedisUnavailable() from None
        if self._down_since is not None:
            log.warning(
                "Redis answers again after %.1f s; back to shared state", self.clock() - self._down_since
            )
            self._down_since = None
        return result

    def _failed(self, exc: BaseException, what: str) -> None:
        now = self.clock()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Redis does not answer (%s while %s: %s); falling back to per-process state and "
                "refusing job enqueues until it does",
                type(exc).__name__,
                what,
                exc,
            )
        self._retry_at = now + self.retry_after
