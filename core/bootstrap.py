"""The composition root: settings -> database, plugins, vault, job queue, units of work,
document storage.

Everything that needs these gets them from one :class:`App`; nothing else reads the
environment or loads plugins. Services that change state get their collaborators from a
unit of work (:mod:`crossdock.services.uow`) the app opens: ``async with
app.unit_of_work(tenant_id, slug) as uow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from crossdock.api.cost import CostLimiter
from crossdock.config import Settings
from crossdock.db import Database
from crossdock.jobs import JobContext
from crossdock.jobs.arq_worker import ArqQueue
from crossdock.jobs.embedded import EmbeddedQueue
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import Plugins, load_plugins
from crossdock.ratelimit import LocalBuckets, RedisBuckets
from crossdock.redis_link import RedisLink
from crossdock.security import Vault, install_log_redaction
from crossdock.services.uow import UnitOfWork, UnitsOfWork, push_windows
from crossdock.services.usage import UsageMeter
from crossdock.storage import Storage, storage_from_url

__all__ = ["App"]


@dataclass
class App:
    settings: Settings
    db: Database
    plugins: Plugins
    vault: Vault
    queue: EmbeddedQueue | ArqQueue
    buckets: LocalBuckets | RedisBuckets
    #: GraphQL query-cost buckets per API key
    cost: CostLimiter
    #: The one HTTP client for calls made on a tenant's behalf (guarded, closed in close())
    http: OutboundHTTP
    #: Opens the units of work every adapter (API, jobs, CLI) runs services in
    units: UnitsOfWork
    #: Where document bytes are kept (labels, packing slips; ``CROSSDOCK_STORAGE_URL``)
    storage: Storage
    #: API cost points counted in this process, written every ``usage_flush_seconds``
    usage: UsageMeter = field(default_factory=UsageMeter)

    @classmethod
    def build(
        cls, settings: Settings | None = None, *, extra_plugins: Iterable[tuple[str, object]] = ()
    ) -> App:
        settings = settings or Settings.from_env()
        install_log_redaction()
        # one view of whether Redis answers, shared by what uses it (see crossdock.redis_link)
        link = RedisLink()
        queue: EmbeddedQueue | ArqQueue = (
            ArqQueue(settings.redis_url, link=link) if settings.redis_url else EmbeddedQueue()
        )
        db = Database(settings.database_url)
        plugins = load_plugins(settings.plugins, extra=extra_plugins)
        return cls(
            settings=settings,
            db=db,
            plugins=plugins,
            vault=Vault(settings.secret_keys),
            queue=queue,
            buckets=RedisBuckets(settings.redis_url, link=link) if settings.redis_url else LocalBuckets(),
            cost=CostLimiter(settings.redis_url, link=link),
            http=OutboundHTTP(OutboundPolicy(settings.allowed_hosts)),
            units=UnitsOfWork(db, plugins, queue, push_windows(settings)),
            storage=storage_from_url(settings.storage_url),
            usage=UsageMeter(settings.usage_flush_seconds),
        )

    def unit_of_work(
        self, tenant_id: int, slug: str | None = None
    ) -> AbstractAsyncContextManager[UnitOfWork]:
        """A write transaction of one tenant with the app's plugins and queue; jobs and
        hooks it collects run once it has committed."""
        return self.units(tenant_id, slug)

    def job_context(self) -> JobContext:
        return JobContext(
            settings=self.settings,
            db=self.db,
            plugins=self.plugins,
            vault=self.vault,
            queue=self.queue,
            buckets=self.buckets,
            http=self.http,
            units=self.units,
            storage=self.storage,
        )

    async def start(self, *, migrate: bool = False, run_jobs: bool = True) -> None:
        """Migrate if asked, then start the embedded runner (arq workers run elsewhere)."""
        if migrate:
            from crossdock.db.migrate import upgrade

            await upgrade(self.db)
        self.usage.start(self.db)
        if run_jobs and isinstance(self.queue, EmbeddedQueue):
            self.queue.start(self.job_context(), periodic=self.settings.periodic_jobs)

    async def close(self) -> None:
        if isinstance(self.queue, EmbeddedQueue):
            await self.queue.stop()
        else:
            await self.queue.close()
        if isinstance(self.buckets, RedisBuckets):
            await self.buckets.close()
        await self.usage.stop(self.db)  # the API cost points not written yet
        await self.cost.close()
        await self.http.aclose()
        await self.storage.close()
        await self.db.dispose()
