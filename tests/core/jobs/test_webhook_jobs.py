"""The webhook jobs as the runners run them: the sweep queues a dispatch, the embedded runner
delivers; and two ``crossdock worker`` processes on PostgreSQL deliver a burst to a receiver
that fails some requests, with no event lost and none accepted twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crossdock.db.models import WebhookDelivery
from crossdock.jobs import JOBS
from crossdock.jobs.arq_worker import ArqQueue
from crossdock.services import outbound_webhooks as hooks
from crossdock.services.events import emit
from crossdock.testing.emulator import serve
from crossdock.testing.processes import Deployment
from crossdock.testing.pytest_plugin import TEST_SECRET
from crossdock.testing.waiting import wait_until
from crossdock.testing.webhooks import WebhookReceiver


async def _endpoint(app: Any, tenant: Any, url: str) -> int:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        row, _ = await hooks.create_endpoint(
            session, app.vault, url=url, event_types=["stock.low"], policy=app.http.policy
        )
    return int(row.id)


async def _burst(app: Any, tenant: Any, events: int, per_transaction: int = 20) -> None:
    for start in range(0, events, per_transaction):
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            for i in range(start, min(events, start + per_transaction)):
                emit(session, "stock.low", f"Variant:{i + 1}", n=i)


async def _statuses(app: Any, tenant: Any) -> dict[str, int]:
    async with app.db.tenant(tenant.id) as session:
        rows = await session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        )
        return {status: int(n) for status, n in rows.all()}


async def test_the_sweep_queues_a_dispatch_and_the_embedded_runner_delivers(
    app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    receiver = WebhookReceiver()
    async with serve(receiver) as url:
        endpoint = await _endpoint(app, tenant, url + "/in")
        ctx = app.job_context()
        assert await JOBS["webhook_sweep"](ctx) >= 0  # nothing of this endpoint's yet
        await _burst(app, tenant, 30)
        app.queue.start(ctx, periodic=False)
        try:
            await wait_until(lambda: JOBS["webhook_sweep"](ctx), message="the sweep sees the new events")

            async def delivered() -> bool:
                return await _statuses(app, tenant) == {"succeeded": 30}

            await wait_until(delivered, message=lambda: f"30 delivered, have {receiver.accepted}")
        finally:
            await app.queue.stop()
    assert len(receiver.accepted) == 30 and set(receiver.accepted.values()) == {1}
    assert {r.path for r in receiver.requests} == {"/in"}
    assert endpoint


EVENTS = 150


async def test_two_worker_processes_deliver_a_burst_none_lost_none_doubled(
    app: Any, tenant_factory: Any, backend: str, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("several worker processes share PostgreSQL (SQLite serves one process)")
    tenant = await tenant_factory()
    receiver = WebhookReceiver(fail_rate=0.1, seed=19, fail_once=True)
    async with serve(receiver) as url:
        endpoints = [await _endpoint(app, tenant, f"{url}/{name}") for name in ("a", "b")]
        await _burst(app, tenant, EVENTS)
        deployment = Deployment(
            database_url,
            data_dir=tmp_path / "deployment",
            secret_key=TEST_SECRET,
            servers=0,
            workers=2,
            redis_url=redis_url,
            extra_env={
                "CROSSDOCK_PLUGINS": "none",
                "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",
                "CROSSDOCK_WEBHOOK_INTERVAL": "1",
            },
        )
        async with deployment:
            queue = ArqQueue(redis_url)
            try:
                # several dispatches of each endpoint at once, on both workers
                for endpoint in endpoints:
                    for i in range(4):
                        await queue.enqueue(
                            "webhook_dispatch",
                            job_id=f"burst:{endpoint}:{i}",
                            tenant_id=tenant.id,
                            endpoint_id=endpoint,
                        )

                async def delivered() -> bool:
                    return await _statuses(app, tenant) == {"succeeded": 2 * EVENTS}

                await wait_until(
                    delivered,
                    timeout=120,
                    message=lambda: (
                        f"{2 * EVENTS} delivered; receiver has {len(receiver.accepted)}\n"
                        + deployment.logs()[-3000:]
                    ),
                )
            finally:
                await queue.close()
    async with app.db.tenant(tenant.id) as session:
        rows = (await session.execute(select(WebhookDelivery.message_id, WebhookDelivery.attempts))).all()
    assert len(rows) == 2 * EVENTS  # one delivery per event and endpoint
    assert set(receiver.accepted) == {m for m, _ in rows}  # none lost
    assert set(receiver.accepted.values()) == {1}  # none accepted twice
    failed_once = {r.webhook_id for r in receiver.requests if r.status == 500}
    assert failed_once, "the receiver failed some requests"
    assert {m for m, a in rows if a == 2} == failed_once  # each failure retried, once
    assert {r.path for r in receiver.requests} == {"/a", "/b"}
