"""The Redis path: jobs sent to arq, run by ``crossdock worker`` processes.

``WorkerSettings`` is built from the same registry the embedded runner uses. Each worker
process builds its own :class:`~crossdock.jobs.registry.JobContext` at start-up. Retryable
channel errors become arq retries with exponential backoff; everything else fails the job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from arq import Retry, create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob, cron
from arq.worker import Function, func

from crossdock.config import Settings
from crossdock.errors import ChannelError
from crossdock.jobs.registry import JOBS, PERIODIC, JobFn
from crossdock.redis_link import RedisLink, RedisUnavailable

if TYPE_CHECKING:
    from crossdock.bootstrap import App

__all__ = ["ArqQueue", "JobQueueUnavailable", "worker_settings"]

MAX_TRIES = 5
CTX_KEY = "crossdock"


class JobQueueUnavailable(RedisUnavailable):
    """A job could not be queued because Redis does not answer. After a commit the core logs
    it and goes on: the change stands, and the periodic jobs (syncs, stock pushes, the
    allocation sweep) catch up with what the lost job would have done."""

    code = "JOBS_UNAVAILABLE"


class ArqQueue:
    """The server side of arq: enqueue jobs, ping for ``/health``. Short timeouts and no
    connection retries (a request must not wait seconds for Redis), through the App's
    :class:`~crossdock.redis_link.RedisLink`."""

    def __init__(self, redis_url: str, *, link: RedisLink | None = None) -> None:
        self.redis_settings = dataclasses.replace(
            RedisSettings.from_dsn(redis_url), conn_timeout=1, conn_retries=0, conn_retry_delay=0
        )
        self.link = link or RedisLink()
        self._pool: ArqRedis | None = None

    async def pool(self) -> ArqRedis:
        if self._pool is None:
            self._pool = await create_pool(self.redis_settings)
        return self._pool

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        if name not in JOBS:
            raise KeyError(f"unknown job {name!r}")

        async def send() -> bool:
            pool = await self.pool()
            job = await pool.enqueue_job(name, _job_id=job_id, _defer_by=defer_by, **kwargs)
            return job is not None

        try:
            return await self.link.call(send, f"queueing {name}")
        except RedisUnavailable:
            raise JobQueueUnavailable(
                f"job {name} could not be queued: the job queue does not answer now"
            ) from None

    async def ping(self) -> bool:
        async def ping() -> bool:
            return bool(await (await self.pool()).ping())

        try:
            return await self.link.probe(ping, "checking health")
        except RedisUnavailable:
            return False

    async def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):  # Redis may be gone
                await self._pool.aclose()
            self._pool = None


def _wrap(name: str, fn: JobFn) -> Function:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        try:
            return await fn(ctx[CTX_KEY], **kwargs)
        except ChannelError as exc:
            if not exc.retryable:
                raise
            tries = int(ctx.get("job_try", 1))
            delay = exc.retry_after or min(60.0, 0.5 * 2**tries) * random.uniform(0.5, 1.5)
            raise Retry(defer=delay) from exc

    run.__qualname__ = run.__name__ = name
    return func(run, name=name, max_tries=MAX_TRIES, keep_result=60)


def _cron_times(every: int) -> dict[str, Any]:
    """arq's cron takes sets of seconds/minutes; express "every N seconds" with them."""
    if every < 60:
        return {"second": set(range(0, 60, max(every, 1)))}
    minutes = max(every // 60, 1)
    return {"minute": set(range(0, 60, minutes)), "second": {0}}


def worker_settings(settings: Settings, app_factory: Callable[[], App] | None = None) -> dict[str, Any]:
    """Keyword arguments for :class:`arq.worker.Worker` built from the job registry.

    ``app_factory`` builds the worker's App (default: from ``settings``); embedding code and
    tests pass one to add in-process plugins.
    """
    from crossdock.bootstrap import App

    async def on_startup(ctx: dict[str, Any]) -> None:
        app = app_factory() if app_factory else App.build(settings)
        ctx["app"] = app
        ctx[CTX_KEY] = app.job_context()

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if "app" in ctx:
            await ctx["app"].close()

    functions = [_wrap(name, fn) for name, fn in JOBS.items()]
    by_name = {f.name: f for f in functions}
    cron_jobs: list[CronJob] = [
        cron(
            by_name[p.name].coroutine,
            name=f"cron:{p.name}",
            unique=True,
            run_at_startup=True,
            **_cron_times(p.every_seconds(settings)),
        )
        for p in PERIODIC
        if settings.periodic_jobs
    ]
    assert settings.redis_url is not None
    return {
        "functions": functions,
        "cron_jobs": cron_jobs,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "max_tries": MAX_TRIES,
        "handle_signals": True,
    }
