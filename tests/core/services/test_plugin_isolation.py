"""A plugin whose hooks raise never stops the core: orders it could not check are held
``plugin_error`` (naming it), the rest of the page is stored, the connection stays healthy,
and the other plugins are still asked and told."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from crossdock import ChannelOrder, hookimpl
from crossdock.db.models import Connection, Listing, Order, OrderHold, Variant
from crossdock.jobs import JOBS
from crossdock.services import catalog, listings
from crossdock.testing.conformance import until_done


class Broken(Exception):
    """What the faulty plugin raises; its text must not reach the operator's hold."""


class FaultyPlugin:
    """Checks orders (raising for buyers called 'boom'), and raises in every event hook."""

    __test__ = False

    def __init__(self) -> None:
        self.checked: list[str] = []

    @hookimpl
    def crossdock_order_checks(self, order: ChannelOrder) -> list[tuple[str, str]]:
        self.checked.append(order.external_id)
        if order.buyer_name == "boom":
            raise Broken("secret internals\nTraceback (most recent call last): ...")
        return []

    @hookimpl
    def crossdock_listing_checks(self, listing: Any) -> list[tuple[str, str]]:
        raise Broken("listing check blew up")

    @hookimpl
    def crossdock_order_ingested(self, order_id: int) -> None:
        raise Broken("order_ingested blew up")

    @hookimpl
    def crossdock_stock_changed(self, variant_id: int) -> None:
        raise Broken("stock_changed blew up")

    @hookimpl
    def crossdock_shipment_confirmed(self, shipment_id: int) -> None:
        raise Broken("shipment_confirmed blew up")

    @hookimpl
    def crossdock_fx_rates(self, day: date) -> None:
        raise Broken("fx blew up")


@pytest.fixture
def faulty() -> FaultyPlugin:
    return FaultyPlugin()


@pytest.fixture
def extra_plugins(testmarket: Any, faulty: FaultyPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("faulty", faulty)]


async def _sync(app: Any, shop: Any) -> dict[str, Any]:
    ctx = app.job_context()
    conn_id = shop.connections["sg"]
    totals: dict[str, Any] = {}
    for _ in range(20):  # the continuations a runner would run
        result = await until_done(
            lambda: JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
        )
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + int(value)
        async with shop.read() as session:
            conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        if not (conn.sync_state.get("orders") or {}).get("page_token"):
            return totals
    raise AssertionError("the sync did not finish")


async def _plugin_errors(shop: Any) -> dict[str, str]:
    async with shop.read() as session:
        rows = await session.execute(
            select(Order.external_id, OrderHold.message)
            .join(OrderHold, OrderHold.order_id == Order.id)
            .where(OrderHold.reason == "plugin_error")
        )
        return dict(rows.all())


async def test_a_raising_order_check_holds_only_its_orders(
    shop: Any, app: Any, testmarket: Any, faulty: FaultyPlugin
) -> None:
    testmarket.hold_skus = {"SKU-2"}  # the well-behaved plugin's own check still counts
    for i in range(7):  # three pages of three: the faulty check raises on pages 1 and 3
        buyer = "boom" if i in (1, 6) else f"buyer-{i}"
        testmarket.market.add_order(f"P-{i}", buyer=buyer, sku="SKU-2" if i == 6 else "SKU-1")
    totals = await _sync(app, shop)
    assert totals["created"] == 7

    async with shop.read() as session:
        statuses = dict((await session.execute(select(Order.external_id, Order.status))).all())
        conn = await session.scalar(select(Connection).where(Connection.id == shop.connections["sg"]))
    assert len(statuses) == 7
    assert {x for x, s in statuses.items() if s == "on_hold"} == {"P-1", "P-6"}
    assert await shop.holds("P-1") == ["plugin_error"]
    assert await shop.holds("P-6") == ["plugin_error", "prohibited_item"]
    errors = await _plugin_errors(shop)
    assert set(errors) == {"P-1", "P-6"}
    for message in errors.values():
        assert "'faulty'" in message and "Broken" in message
        assert "Traceback" not in message and "secret internals" not in message
    assert conn.status == "active" and conn.last_error is None
    # the well-behaved plugin was told about every order, although the faulty one raised first
    told = [e["external_id"] for e in testmarket.events if e["hook"] == "order_ingested"]
    assert sorted(told) == [f"P-{i}" for i in range(7)]

    # the next sync is fine: new orders come in, the faulty check is asked again
    await shop.receive("SKU-1", "SG1", 1)  # the five in stock went to P-0, P-2 ... P-5
    testmarket.market.add_order("P-7", buyer="buyer-7")
    assert (await _sync(app, shop))["created"] == 1
    assert (await shop.order("P-7")).status == "allocated"
    assert "P-7" in faulty.checked


async def test_raising_event_hooks_do_not_undo_nor_silence(shop: Any, app: Any, testmarket: Any) -> None:
    before = len(testmarket.events)
    await shop.receive("SKU-2", "SG1", 3)  # committed; both plugins' stock_changed raise/record
    assert await shop.level("SKU-2") == (3, 0)
    changed = [e for e in testmarket.events[before:] if e["hook"] == "stock_changed"]
    assert [e["on_hand"] for e in changed] == [3]
    await shop.ledger_matches_levels()


async def test_a_raising_listing_check_is_an_issue_not_a_failure(shop: Any, app: Any) -> None:
    async with shop.unit_of_work() as uow:
        session = uow.session
        await catalog.create_product(session, title="Lamp", variants=[catalog.VariantSpec(sku="LAMP-1")])
        variant_id = await session.scalar(select(Variant.id).where(Variant.sku == "LAMP-1"))
        listing = await listings.create_listing(
            uow,
            connection_id=shop.connections["sg"],
            variant_id=variant_id,
            channel_sku="sg-LAMP-1",
        )
    async with shop.read() as session:
        row = await session.scalar(select(Listing).where(Listing.id == listing.id))
    assert row is not None
    [issue] = row.issues
    assert issue["reason"] == "plugin_error"
    assert "'faulty'" in issue["message"] and "Broken" in issue["message"]


async def test_a_raising_rates_plugin_leaves_the_answer_to_the_next(app: Any) -> None:
    rates = app.plugins.fx_rates(date(2024, 3, 1))
    assert rates is not None and rates.base == "EUR"  # fx_ecb answered after 'faulty' raised
