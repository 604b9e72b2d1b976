"""Run a transaction again when the database says it collided with another one.

PostgreSQL aborts one of two transactions that wait on each other (deadlock, SQLSTATE
``40P01``) or that cannot be serialised (``40001``); SQLite, with several processes on one
file, may answer "database is locked" once its busy timeout is spent. The work itself was
fine: running the whole transaction again, a bounded number of times with a short random
pause, is the documented remedy. Nothing else is retried: an error of the work is the
caller's to report.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

__all__ = ["ATTEMPTS", "is_conflict", "is_unique_violation", "retry_conflicts"]

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 5
_SQLSTATES = frozenset({"40001", "40P01"})


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a collision with another transaction, worth running again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _SQLSTATES:
        return True
    return "database is locked" in str(orig)


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is a unique key taken by a transaction that committed first."""
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code == "23505" or "UNIQUE constraint failed" in str(exc.orig)


async def retry_conflicts(
    run: Callable[[], Awaitable[T]],
    *,
    attempts: int = ATTEMPTS,
    retry_if: Callable[[BaseException], bool] = is_conflict,
) -> T:
    """``await run()``, again (up to ``attempts`` times in all) while it fails with an
    error ``retry_if`` accepts (a collision); ``run`` must open and commit its own
    transaction each time."""
    for attempt in range(1, attempts + 1):
        try:
            return await run()
        except DBAPIError as exc:
            if attempt == attempts or not retry_if(exc):
                raise
            log.info("transaction collided with another (%s); attempt %d of %d", exc.orig, attempt, attempts)
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
