"""Events a marketplace queues (Amazon's SQS) are read, stored once however often they are
redelivered, acknowledged after commit, and turned into orders."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from crossdock import ChannelError
from crossdock.db.models import Connection, Order, WebhookEvent
from crossdock.jobs import JOBS

from ..conftest import Queue


async def _drain(shop: Any) -> dict[str, int]:
    return await JOBS["drain_notifications"](
        shop.app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )


async def _events(shop: Any) -> list[WebhookEvent]:
    async with shop.read() as session:
        return list((await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all())


async def test_queued_events_become_orders_once(shop: Any) -> None:
    queue = shop.market.queue = Queue()
    for i in range(12):  # more than one batch of 10
        shop.market.add_order(f"N-{i}")
        queue.publish(f"evt-{i}", f"N-{i}")
    assert await _drain(shop) == {"received": 12, "stored": 12}
    assert queue.waiting == [] and queue.in_flight == []  # all acknowledged
    events = await _events(shop)
    assert [e.external_id for e in events] == [f"evt-{i}" for i in range(12)]
    ctx = shop.app.job_context()
    for event in events:
        await JOBS["process_webhook"](ctx, tenant_id=shop.tenant.id, event_id=event.id)
    async with shop.read() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 12


async def test_a_crash_before_the_acknowledgement_stores_nothing_twice(shop: Any) -> None:
    queue = shop.market.queue = Queue()
    shop.market.add_order("N-1")
    queue.publish("evt-1", "N-1")
    queue.fail_ack.append(ChannelError("connection reset", code="NETWORK", retryable=True))
    with pytest.raises(ChannelError):
        await _drain(shop)  # stored and committed, but never acknowledged
    assert len(await _events(shop)) == 1
    queue.redeliver()  # the visibility timeout runs out: the queue hands it out again
    assert await _drain(shop) == {"received": 1, "stored": 0}
    assert len(await _events(shop)) == 1
    assert queue.in_flight == []


async def test_a_refused_queue_is_reported_and_order_sync_goes_on(shop: Any) -> None:
    queue = shop.market.queue = Queue()
    queue.fail.append(
        ChannelError("The security token included in the request is invalid", code="InvalidClientTokenId")
    )
    assert await _drain(shop) == {"received": 0, "stored": 0}
    async with shop.read() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == shop.connections["sg"]))
    assert conn.status == "active"
    assert (
        conn.last_error
        == "notifications: InvalidClientTokenId: The security token included in the request is invalid"
    )


async def test_connections_without_a_queue_are_left_alone(shop: Any) -> None:
    assert shop.market.queue is None
    assert await _drain(shop) == {"received": 0, "stored": 0}
    assert await JOBS["poll_notifications"](shop.app.job_context()) >= 1
