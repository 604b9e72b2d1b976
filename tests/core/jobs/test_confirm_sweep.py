"""A confirmation whose job was lost is sent by the sweep; one the channel refused for good
is not sent again."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from crossdock.db import utcnow
from crossdock.db.models import Shipment
from crossdock.errors import ChannelError
from crossdock.jobs import JOBS
from crossdock.services import fulfilment


async def _shipped(shop: Any, app: Any, external_id: str) -> int:
    await shop.ingest(shop.market.add_order(external_id, buyer=f"b-{external_id}"))
    order = await shop.order(external_id)
    async with shop.write() as session:
        shipment = await fulfilment.pack_shipment(
            session, order.id, shop.warehouses["SG1"], carrier="DHL", tracking_number=f"T-{external_id}"
        )
    async with shop.unit_of_work() as uow:
        await fulfilment.ship_shipment(uow, shipment.id)
    async with shop.write() as session:  # shipped a while ago: past the sweep's grace
        await session.execute(
            update(Shipment)
            .where(Shipment.id == shipment.id)
            .values(shipped_at=utcnow() - timedelta(minutes=5))
        )
    return int(shipment.id)


class _Lost:
    """A queue that loses every job sent to it (Redis gone between commit and enqueue)."""

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kw: Any
    ) -> bool:
        return False


async def test_the_sweep_sends_what_a_lost_job_owed(shop: Any, app: Any, testmarket: Any) -> None:
    queue, app.units.queue = app.units.queue, _Lost()  # the trigger after commit is lost
    try:
        lost = await _shipped(shop, app, "L-1")
        refused = await _shipped(shop, app, "L-2")
    finally:
        app.units.queue = queue
    ctx = app.job_context()
    testmarket.market.confirm_failures = [ChannelError("order cancelled by buyer", code="gone")]
    with contextlib.suppress(ChannelError):
        await JOBS["confirm_shipment"](ctx, tenant_id=shop.tenant.id, shipment_id=refused)
    assert testmarket.market.confirmations == []

    app.queue.start(ctx, periodic=False)
    try:
        # (the database is shared with other tests: the sweep may find their shipments too)
        assert await JOBS["confirm_sweep"](ctx) >= 1
        await app.queue.join()
    finally:
        await app.queue.stop()
    ours = [
        c.order_external_id for c in testmarket.market.confirmations if c.order_external_id in ("L-1", "L-2")
    ]
    assert ours == ["L-1"]  # the lost one, once; not the one the channel refused
    async with shop.read() as session:
        rows = dict((await session.execute(select(Shipment.id, Shipment.confirmed_at.is_not(None)))).all())
    assert rows == {lost: True, refused: False}
