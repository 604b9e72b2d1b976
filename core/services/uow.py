"""The unit of work: one tenant's transaction and the collaborators a service needs.

A service that changes state beyond its own rows (runs a plugin hook, checks a listing with
the plugins, queues a job after commit) takes a :class:`UnitOfWork` instead of a bare
session, so a caller cannot forget a collaborator: it is a required argument, not a
``plugins=None`` that quietly skips the hook. Pure reads keep taking a session.

The work list is what happens once the transaction has committed, in order: the callbacks
(plugin hooks), then the jobs, sent to the queue. A rolled-back transaction runs none of
it. Units are opened by :class:`UnitsOfWork`, which the composition root
(:class:`crossdock.bootstrap.App`) builds once and every adapter (API requests, jobs, the
CLI) uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from crossdock.config import Settings
    from crossdock.db import Database
    from crossdock.plugins import Plugins

__all__ = ["DEFAULT_WINDOWS", "JobSink", "UnitOfWork", "UnitsOfWork", "push_windows"]

log = logging.getLogger(__name__)

#: Coalescing windows (seconds) by job name, when the settings name none.
DEFAULT_WINDOWS: Mapping[str, float] = {
    "push_stock": 2.0,
    "push_prices": 2.0,
    "allocate_waiting": 1.0,
    "analytics_refresh": 2.0,
}


def push_windows(settings: Settings) -> dict[str, float]:
    """The coalescing windows the settings ask for."""
    return {
        "push_stock": settings.push_window_seconds,
        "push_prices": settings.push_window_seconds,
        "allocate_waiting": settings.allocate_window_seconds,
        "analytics_refresh": DEFAULT_WINDOWS["analytics_refresh"],
    }


class JobSink(Protocol):
    """Where jobs go: ``job_id`` makes sending idempotent (a second job with the id of a
    pending one is dropped, and ``False`` returned)."""

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool: ...


class _Job(NamedTuple):
    name: str
    job_id: str | None
    defer_by: float | None
    kwargs: dict[str, Any]


@dataclass
class UnitOfWork:
    """One open transaction of one tenant, and what a service needs beside it."""

    session: AsyncSession
    plugins: Plugins
    queue: JobSink
    #: Coalescing windows (seconds) by job name, for :meth:`enqueue_coalesced`.
    windows: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    _callbacks: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)
    _jobs: list[_Job] = field(default_factory=list, init=False, repr=False)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (plugin hooks); a failing
        callback is logged, and the committed change stands."""
        self._callbacks.append(callback)

    def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> None:
        """Send a job once the transaction has committed, so it never sees uncommitted state
        and is never sent for a change that was rolled back."""
        self._jobs.append(_Job(name, job_id, defer_by, kwargs))

    def enqueue_coalesced(self, name: str, key: str, now: float | None = None, **kwargs: Any) -> None:
        """Enqueue ``name`` at the end of the current window (per job name, from
        :attr:`windows`), once per key.

        Every trigger inside one bucket maps to the same job id, deferred to the bucket's
        end, so a burst of N changes costs one run per window; a trigger after the run has
        started falls in the next bucket, so nothing is missed.
        """
        window = float(self.windows.get(name, 1.0))
        now = time.time() if now is None else now
        bucket = int(now // window) + 1
        self.enqueue(
            name, job_id=f"{name}:{key}:{bucket}", defer_by=max(0.0, bucket * window - now), **kwargs
        )

    async def committed(self) -> None:
        """The transaction committed: run the callbacks, then send the jobs (each once)."""
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed; the committed change stands")
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            try:
                await self.queue.enqueue(job.name, job_id=job.job_id, defer_by=job.defer_by, **job.kwargs)
            except Exception:
                # the periodic sweeps (stock push, allocation, confirmation) repair a lost trigger
                log.exception("could not enqueue %s after commit", job.name)


@dataclass
class UnitsOfWork:
    """Opens units of work over one database, with one set of plugins and one queue."""

    db: Database
    plugins: Plugins
    queue: JobSink
    windows: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))

    @asynccontextmanager
    async def __call__(self, tenant_id: int, slug: str | None = None) -> AsyncIterator[UnitOfWork]:
        """A write transaction of ``tenant_id``: committed when the block ends (then the
        after-commit work runs), rolled back with nothing sent if it raises."""
        async with self.db.write(tenant_id, slug=slug) as session:
            uow = UnitOfWork(session, self.plugins, self.queue, self.windows)
            yield uow
        if session.info.pop("analytics_marked", False):  # crossdock.services.analytics.mark
            uow.enqueue_coalesced("analytics_refresh", str(tenant_id), tenant_id=tenant_id)
        await uow.committed()
