"""Pytest fixtures of the testing kit (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from crossdock.bootstrap import App
from crossdock.config import Settings
from crossdock.testing.kit import (
    EMULATOR_HOSTS,
    TEST_SECRET,
    GraphQL,
    TestTenant,
    close_emulator_http,
    make_tenant,
)


def _worker() -> int:
    """This pytest-xdist worker's number (0 outside xdist)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def _pg_admin_url() -> str:
    """``CROSSDOCK_TEST_POSTGRES``: one admin URL, or several separated by commas, one per
    xdist worker (worker n takes the n-th, wrapping round). Each worker should have a
    cluster of its own: a transaction open anywhere in a cluster holds back the event
    horizon (``pg_snapshot_xmin``) of every database in it, so a worker's long transaction
    would delay the events another worker's test is waiting for."""
    urls = os.environ.get("CROSSDOCK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test").split(",")
    return urls[_worker() % len(urls)].strip()


PG_ADMIN_URL = _pg_admin_url()


def _redis_url() -> str:
    """db 9 (or ``CROSSDOCK_TEST_REDIS``'s); under pytest-xdist each worker takes the next
    database up (gw0 the base, gw1 base + 1, ...), so two workers never flush each other's."""
    base = os.environ.get("CROSSDOCK_TEST_REDIS", "redis://127.0.0.1:6379/9")
    if not _worker():
        return base
    root, _, db = base.rpartition("/")
    return f"{root}/{int(db or 0) + _worker()}"


REDIS_URL = _redis_url()
__all__ = ["PG_ADMIN_URL", "REDIS_URL", "TEST_SECRET"]


def _require_services() -> bool:
    return os.environ.get("CROSSDOCK_REQUIRE_SERVICES", "") not in ("", "0")


def _unavailable(what: str, why: str) -> None:
    message = f"{what} not reachable ({why}); skipped. Start it, or see README 'Tests'."
    if _require_services():
        pytest.fail(message + " CROSSDOCK_REQUIRE_SERVICES is set, so this is a failure.")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test; tests using a database run once per backend."""
    return str(request.param)


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    from urllib.parse import urlsplit

    import asyncpg

    where = urlsplit(PG_ADMIN_URL)
    host, port = where.hostname or "127.0.0.1", where.port or 5432
    if not _port_open(host, port):
        _unavailable(f"PostgreSQL on {host}:{port}", "connection refused")
    name = f"crossdock_test_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """A migrated database of the current backend, shared by the session's tests.

    Tests stay independent by creating their own tenants (see ``tenant_factory``).
    """
    from crossdock.db import Database
    from crossdock.db.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'crossdock.db'}"
    else:
        raw = request.getfixturevalue("_pg_database")
        url = raw.replace("postgresql://", "postgresql+asyncpg://", 1)

    async def migrate() -> None:
        db = Database(url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(migrate())
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_keys=(TEST_SECRET,),
        data_dir=tmp_path,
        storage_url=(tmp_path / "documents").as_uri(),
        sync_interval_seconds=1,
        allowed_hosts=EMULATOR_HOSTS,  # the kit's emulators serve on loopback
    )


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    """In-process plugins ``(name, module_or_object)`` to load beside the installed ones.

    Override it in a conftest to register a test plugin.
    """
    return []


@pytest_asyncio.fixture
async def app(settings: Settings, extra_plugins: list[tuple[str, object]]) -> AsyncIterator[App]:
    """A built (not started) App on the current backend with the installed plugins."""
    built = App.build(settings, extra_plugins=extra_plugins)
    yield built
    await built.close()
    await close_emulator_http()


@pytest_asyncio.fixture
async def api(app: App) -> AsyncIterator[GraphQL]:
    """A GraphQL client over the real ASGI application, in the test's event loop.

    (Litestar's own test client runs the app in another loop, where the App's pooled
    connections cannot follow.) Start-up hooks are not run: the App is already migrated and
    jobs are driven by the tests themselves.
    """
    import httpx

    from crossdock.api.app import create_app

    asgi = create_app(app, run_jobs=False)
    transport = httpx.ASGITransport(app=asgi)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield GraphQL(client)


@pytest_asyncio.fixture
async def live_server(app: App) -> AsyncIterator[str]:
    """The real ASGI app served by uvicorn on a free loopback port, in the test's loop.

    Yields the base URL. Use it for what needs a real socket (websockets, real clients).
    """
    import uvicorn

    from crossdock.api.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(app, run_jobs=False), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def tenant_factory(app: App) -> Callable[..., Awaitable[TestTenant]]:
    """``await tenant_factory(scopes=[...])``: a fresh organization, tenant and key."""

    async def make(**kwargs: Any) -> TestTenant:
        return await make_tenant(app, **kwargs)

    return make


@pytest.fixture
def redis_url() -> str:
    """A Redis database for tests (db 9), emptied before each test."""
    if not _port_open("127.0.0.1", 6379):
        _unavailable("Redis on 127.0.0.1:6379", "connection refused")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL
