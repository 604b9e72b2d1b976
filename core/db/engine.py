"""Engine and sessions: the only way code reaches the database.

``Database.tenant(tid)`` and ``Database.system()`` hand out sessions already scoped (see
:mod:`crossdock.db.scoping`); ``Database.write(...)`` wraps a transaction. Jobs and plugin
hooks that follow a commit belong to the unit of work (:mod:`crossdock.services.uow`), not
to the database.

SQLite (the embedded mode) gets WAL, foreign keys, a busy timeout, and one writer at a
time inside the process: its transactions start ``BEGIN IMMEDIATE`` under an asyncio lock,
so two coroutines never race to upgrade a read lock (SQLite's "database is locked").
PostgreSQL needs none of that: row locks and check constraints do the work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crossdock.db import scoping, validation

__all__ = ["Database", "after_commit"]

log = logging.getLogger(__name__)
_AFTER_COMMIT = "after_commit"


def _sqlite_events(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: SyncConnection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction has committed (cache invalidation;
    plugin hooks and jobs go through the unit of work)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed; the committed change stands")


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        scoping.install()
        validation.install()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine = create_async_engine(url, **kwargs)
        self._write_lock: asyncio.Lock | None = None
        if self.is_sqlite:
            _sqlite_events(self.engine)
            self._write_lock = asyncio.Lock()
            writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            writer = self.engine
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def tenant(self, tenant_id: int, slug: str | None = None) -> AsyncSession:
        """A read session scoped to one tenant (use :meth:`write` to change data)."""
        return self._reader(info={scoping.TENANT: tenant_id, scoping.TENANT_SLUG: slug})

    def system(self) -> AsyncSession:
        """A read session across tenants, for schedulers and administration only."""
        return self._reader(info={scoping.SYSTEM: True})

    @asynccontextmanager
    async def write(
        self, tenant_id: int | None = None, *, slug: str | None = None, system: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if (tenant_id is None) == (not system):
            raise ValueError("pass exactly one of tenant_id or system=True")
        info: dict[str, Any] = (
            {scoping.SYSTEM: True} if system else {scoping.TENANT: tenant_id, scoping.TENANT_SLUG: slug}
        )
        if self._write_lock is None:
            async with self._writer(info=info) as session:
                async with session.begin():
                    yield session
                _run_after_commit(session)
        else:
            async with self._write_lock, self._writer(info=info) as session:
                async with session.begin():
                    yield session
                _run_after_commit(session)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
