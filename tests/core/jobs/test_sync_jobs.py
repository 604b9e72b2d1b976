"""The order sync runs through both job runners: in-process, and arq on a real Redis."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from crossdock.bootstrap import App
from crossdock.db.models import Connection, Order
from crossdock.errors import ChannelError
from crossdock.jobs import JOBS
from crossdock.services import connections
from crossdock.testing import wait_until


async def _connect(app: Any, tenant: Any, name: str = "sg") -> int:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="testmarket",
            name=name,
            site="SG",
            credentials={"t": "x"},
        )
    return conn.id


async def _orders(app: Any, tenant: Any) -> int:
    async with app.db.tenant(tenant.id) as session:
        return int(await session.scalar(select(func.count(Order.id))) or 0)


async def _connection(app: Any, tenant: Any, conn_id: int) -> Connection:
    async with app.db.tenant(tenant.id) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
    assert conn is not None
    return conn


async def test_embedded_runner_schedules_and_syncs(app: App, tenant_factory: Any, testmarket: Any) -> None:
    t = await tenant_factory()
    conn_id = await _connect(app, t)
    for i in range(7):  # three pages of three
        testmarket.market.add_order(f"E-{i}")
    testmarket.market.fail_for[conn_id] = [
        ChannelError("slow down", code="429", retryable=True, retry_after=0.05)
    ]
    await app.start(run_jobs=True)  # periodic scheduler every second (test settings)

    async def synced() -> bool:
        conn = await _connection(app, t, conn_id)
        # a finished run leaves only its cursor (the scheduler may start the next one any time)
        finished = (conn.sync_state.get("orders") or {}).keys() == {"cursor"}
        return await _orders(app, t) == 7 and conn.last_success_at is not None and finished

    await wait_until(synced)
    conn = await _connection(app, t, conn_id)
    assert conn.last_error and conn.last_error.startswith("429")  # the throttle was recorded...
    assert conn.status == "active"  # ...and survived
    await app.close()


async def test_permanent_error_stops_the_connection(app: App, tenant_factory: Any, testmarket: Any) -> None:
    t = await tenant_factory()
    conn_id = await _connect(app, t)
    testmarket.market.fail_for[conn_id] = [
        ChannelError("refresh token revoked", code="AUTH", retryable=False)
    ]
    await app.start(run_jobs=False)
    queue = app.queue
    queue.start(app.job_context(), periodic=False)  # type: ignore[union-attr]
    await queue.enqueue("sync_orders", job_id="x", tenant_id=t.id, connection_id=conn_id)
    await queue.join()  # type: ignore[union-attr]
    conn = await _connection(app, t, conn_id)
    assert conn.status == "failed"
    assert conn.last_error == "AUTH: refresh token revoked"
    assert testmarket.market.fetched_for == [conn_id]
    # the scheduler skips failed connections: no further calls for this one
    await JOBS["schedule_syncs"](app.job_context())
    await queue.join()  # type: ignore[union-attr]
    assert testmarket.market.fetched_for.count(conn_id) == 1


async def test_resumes_from_last_committed_page(app: App, tenant_factory: Any, testmarket: Any) -> None:
    """A run killed after its first page resumes from the saved page token."""
    t = await tenant_factory()
    conn_id = await _connect(app, t)
    for i in range(7):
        testmarket.market.add_order(f"R-{i}")
    # the second page times out: the run stops after committing page one
    original = testmarket.market.fetch_orders
    pages: list[str | None] = []

    async def flaky(conn: Any, *, updated_since: Any, page_token: str | None) -> Any:
        pages.append(page_token)
        if page_token == "3" and pages.count("3") == 1:
            raise ChannelError("gateway timeout", code="504", retryable=True)
        return await original(conn, updated_since=updated_since, page_token=page_token)

    testmarket.market.fetch_orders = flaky
    ctx = app.job_context()
    with contextlib.suppress(ChannelError):
        await JOBS["sync_orders"](ctx, tenant_id=t.id, connection_id=conn_id)
    assert await _orders(app, t) == 3
    assert (await _connection(app, t, conn_id)).sync_state["orders"]["page_token"] == "3"
    await JOBS["sync_orders"](ctx, tenant_id=t.id, connection_id=conn_id)
    assert pages == [None, "3", "3", "6"]
    assert await _orders(app, t) == 7


async def test_arq_worker_runs_the_same_jobs(
    app: App, tenant_factory: Any, testmarket: Any, redis_url: str, extra_plugins: Any
) -> None:
    from arq.worker import Worker

    from crossdock.jobs.arq_worker import ArqQueue, worker_settings

    t = await tenant_factory()
    conn_id = await _connect(app, t)
    for i in range(5):
        testmarket.market.add_order(f"Q-{i}")
    settings = dataclasses.replace(app.settings, redis_url=redis_url)
    producer = App.build(settings, extra_plugins=extra_plugins)
    assert isinstance(producer.queue, ArqQueue)
    assert await producer.queue.ping()
    enqueued = await JOBS["schedule_syncs"](producer.job_context())
    assert enqueued >= 1
    # the session's other tests left connections behind: keep this worker to this test's
    await (await producer.queue.pool()).flushdb()
    await producer.queue.enqueue(
        "sync_orders", job_id=f"own:{conn_id}", tenant_id=t.id, connection_id=conn_id
    )
    # the same bucketed job id is refused a second time: one sync per interval
    assert await producer.queue.enqueue(
        "sync_orders", job_id=f"sync_orders:{conn_id}:dup", tenant_id=t.id, connection_id=conn_id
    )
    assert not await producer.queue.enqueue(
        "sync_orders", job_id=f"sync_orders:{conn_id}:dup", tenant_id=t.id, connection_id=conn_id
    )

    kwargs = worker_settings(settings, app_factory=lambda: App.build(settings, extra_plugins=extra_plugins))
    kwargs.update(burst=True, handle_signals=False, poll_delay=0.05, cron_jobs=[])
    worker = Worker(**kwargs)
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_failed == 0
    assert await _orders(app, t) == 5
    await producer.close()


async def test_a_throttled_connection_is_left_alone_until_its_time(
    app: App, tenant_factory: Any, testmarket: Any
) -> None:
    from datetime import timedelta

    from crossdock.db import utcnow

    t = await tenant_factory()
    conn_id = await _connect(app, t)
    testmarket.market.fail_for[conn_id] = [
        ChannelError("slow down", code="429", retryable=True, retry_after=30)
    ]
    ctx = app.job_context()
    with pytest.raises(ChannelError):
        await JOBS["sync_orders"](ctx, tenant_id=t.id, connection_id=conn_id)
    conn = await _connection(app, t, conn_id)
    assert conn.throttled_until is not None and conn.throttled_until > utcnow() + timedelta(seconds=25)
    calls = testmarket.market.fetched_for.count(conn_id)
    with pytest.raises(ChannelError) as excinfo:  # no call to the channel before then
        await JOBS["sync_orders"](ctx, tenant_id=t.id, connection_id=conn_id)
    assert excinfo.value.code == "THROTTLED" and excinfo.value.retry_after > 25
    assert testmarket.market.fetched_for.count(conn_id) == calls

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []

        async def enqueue(self, name: str, **kwargs: Any) -> bool:
            self.sent.append(kwargs)
            return True

        async def ping(self) -> bool:
            return True

    recorder = Recorder()
    await JOBS["schedule_syncs"](dataclasses.replace(ctx, queue=recorder))
    assert conn_id not in [k.get("connection_id") for k in recorder.sent]


async def test_backfill_rereads_from_a_date(api: Any, app: App, tenant_factory: Any, testmarket: Any) -> None:
    from datetime import UTC, datetime, timedelta

    t = await tenant_factory()
    conn_id = await _connect(app, t)
    old = datetime.now(UTC) - timedelta(days=60)  # older than the first sync reaches
    testmarket.market.add_order("OLD-1", updated=old)
    await JOBS["sync_orders"](app.job_context(), tenant_id=t.id, connection_id=conn_id)
    assert await _orders(app, t) == 0
    await app.start(run_jobs=True)
    from crossdock.api.schema.relay import encode_id

    result = await api.data(
        "mutation($id: ID!, $since: DateTime!) { connectionBackfill(input: {id: $id, since: $since}) "
        "{ connection { ordersSyncedUntil } userErrors { code } } }",
        {"id": encode_id("ChannelConnection", conn_id), "since": (old - timedelta(days=1)).isoformat()},
        key=t.key,
    )
    assert result["connectionBackfill"]["userErrors"] == []

    async def backfilled() -> bool:
        return await _orders(app, t) == 1

    await wait_until(backfilled)
    future = await api.data(
        'mutation($id: ID!) { connectionBackfill(input: {id: $id, since: "2199-01-01T00:00:00Z"}) { userErrors { code field } } }',
        {"id": encode_id("ChannelConnection", conn_id)},
        key=t.key,
    )
    assert future["connectionBackfill"]["userErrors"] == [{"code": "INVALID", "field": ["since"]}]
    await app.close()


async def test_incomplete_credentials_fail_the_connection_not_the_worker(
    app: App, tenant_factory: Any, testmarket: Any
) -> None:
    """A plugin reading a credential the operator never gave fails the connection, with
    the missing name, instead of crashing every job."""
    t = await tenant_factory()
    conn_id = await _connect(app, t)

    async def needs_a_key(conn: Any, *, updated_since: Any, page_token: Any) -> Any:
        return conn.credentials["partner_key"]  # as a real plugin would

    testmarket.market.fetch_orders = needs_a_key
    with pytest.raises(ChannelError) as excinfo:
        await JOBS["sync_orders"](app.job_context(), tenant_id=t.id, connection_id=conn_id)
    assert excinfo.value.code == "CREDENTIALS" and not excinfo.value.retryable
    conn = await _connection(app, t, conn_id)
    assert conn.status == "failed"
    assert conn.last_error == "CREDENTIALS: the testmarket credentials lack partner_key"
