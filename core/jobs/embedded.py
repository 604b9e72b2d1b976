"""The in-process job runner used when no Redis is configured.

Same semantics as the arq path where it matters: jobs identified by ``job_id`` are not
queued twice while pending, periodic jobs run on their interval, and a retryable channel
error is tried again with exponential backoff (up to ``max_tries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from crossdock.errors import ChannelError
from crossdock.jobs.registry import JOBS, PERIODIC, JobContext

__all__ = ["STOP_GRACE", "EmbeddedQueue"]

log = logging.getLogger(__name__)

#: Seconds :meth:`EmbeddedQueue.stop` lets a running job finish before cancelling it.
STOP_GRACE = 10.0


@dataclass
class _Item:
    name: str
    job_id: str | None
    kwargs: dict[str, Any]
    tries: int = 0
    #: when the job became due (enqueued, or its deferral ended): latency counts from here
    due: float = field(default_factory=time.monotonic)


class EmbeddedQueue:
    def __init__(self, *, concurrency: int = 4, max_tries: int = 5) -> None:
        self.ctx: JobContext | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pending: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        #: the workers running a job now
        self._busy: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._concurrency = concurrency
        self.max_tries = max_tries
        self.completed = 0
        self.failed = 0

    async def ping(self) -> bool:
        return bool(self._tasks) and not all(t.done() for t in self._tasks)

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        if name not in JOBS:
            raise KeyError(f"unknown job {name!r}")
        if job_id is not None:
            if job_id in self._pending:
                return False
            self._pending.add(job_id)
        item = _Item(name, job_id, kwargs)
        if defer_by:
            self._later(item, defer_by)
        else:
            self._queue.put_nowait(item)
        return True

    def _later(self, item: _Item, delay: float) -> None:
        def due() -> None:
            item.due = time.monotonic()
            self._queue.put_nowait(item)

        asyncio.get_running_loop().call_later(delay, due)

    def start(self, ctx: JobContext, *, periodic: bool = True) -> None:
        self.ctx = ctx
        for i in range(self._concurrency):
            self._tasks.append(asyncio.create_task(self._work(), name=f"crossdock-job-{i}"))
        if periodic:
            for p in PERIODIC:
                every = max(1, p.every_seconds(ctx.settings))
                self._tasks.append(asyncio.create_task(self._tick(p.name, every)))

    async def join(self) -> None:
        """Wait until every job in the queue now has run (deferred retries excluded)."""
        await self._queue.join()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the workers: an idle one at once, a running job once it has ended (up to
        ``grace`` seconds, then it is cancelled). A job cut inside its transaction would be
        run again anyway, but on SQLite a write cancelled mid-statement can leave its
        connection holding the database's lock, and the next writer waits for it."""
        self._stopping = True
        busy = [t for t in self._tasks if t in self._busy]
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._stopping = False

    async def _tick(self, name: str, every: int) -> None:
        while True:
            await self.enqueue(name, job_id=f"periodic:{name}")
            await asyncio.sleep(every)

    async def _work(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            item = await self._queue.get()
            self._busy.add(me)
            try:
                await self._run(item)
            finally:
                self._busy.discard(me)
                self._queue.task_done()

    async def _run(self, item: _Item) -> None:
        assert self.ctx is not None
        item.tries += 1
        try:
            await JOBS[item.name](self.ctx, **item.kwargs)
        except ChannelError as exc:
            if exc.retryable and item.tries < self.max_tries:
                delay = exc.retry_after or min(60.0, 0.5 * 2**item.tries) * random.uniform(0.5, 1.5)
                log.info("job %s retry %d in %.1fs: %s", item.name, item.tries, delay, exc)
                self._later(item, delay)
                return
            self.failed += 1
            log.warning("job %s failed: %s", item.name, exc)
        except Exception:
            self.failed += 1
            log.exception("job %s failed", item.name)
        else:
            self.completed += 1
            # due -> done, for whoever watches latency (bench/demo_soak.py turns DEBUG on)
            log.debug(
                "job %s done latency=%.3fs%s",
                item.name,
                time.monotonic() - item.due,
                f" connection={item.kwargs['connection_id']}" if "connection_id" in item.kwargs else "",
            )
        if item.job_id is not None:
            self._pending.discard(item.job_id)
