"""Waiting for a state, never for a time.

A test that sleeps a fixed time and then asserts passes on a quiet machine and fails on a
loaded one (a CI runner, a fresh clone building everything at once). Tests poll the state
they expect instead, with a deadline generous enough that only a real hang reaches it::

    async def allocated() -> bool:
        return (await shop.order("Q-1")).status == "allocated"

    await wait_until(allocated, message="Q-1 allocated")

The deadline is a safety net, not a measurement: what a test asserts is the state.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

__all__ = ["DEFAULT_DEADLINE", "wait_until"]

T = TypeVar("T")

#: Seconds a test waits for a state before failing; generous on purpose.
DEFAULT_DEADLINE = 60.0


@overload
async def wait_until(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,  # noqa: ASYNC109 - a polling deadline
    interval: float = ...,
    message: str | Callable[[], str] | None = ...,
) -> T: ...


@overload
async def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = ...,  # noqa: ASYNC109 - a polling deadline
    interval: float = ...,
    message: str | Callable[[], str] | None = ...,
) -> T: ...


async def wait_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = DEFAULT_DEADLINE,  # noqa: ASYNC109 - a polling deadline, not a cancel scope
    interval: float = 0.05,
    message: str | Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` (a plain or ``async`` callable) until it returns a truthy value,
    and return that value.

    It is called at once, then every ``interval`` seconds; after ``timeout`` seconds
    without success the test fails with ``AssertionError`` naming ``message`` (a string,
    or a callable giving one, e.g. to show the last state seen) or the condition.
    Exceptions raised by ``condition`` propagate: a broken check fails at once rather
    than at the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if loop.time() >= deadline:
            what = (message() if callable(message) else message) or getattr(condition, "__name__", "")
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or 'a state'}")
        await asyncio.sleep(interval)
