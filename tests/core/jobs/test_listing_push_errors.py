"""What the push jobs do with a channel's per-listing answers: a refusal stays on its
listing (announced once), the other listings are recorded as pushed, the connection is
untouched, and the error goes away once a push of the same kind is accepted."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crossdock import (
    ChannelConnection,
    MarketplaceBase,
    MarketplaceCapability,
    PriceUpdate,
    PushResult,
    StockUpdate,
    hookimpl,
)
from crossdock.db.models import Connection, Event, Listing, Variant
from crossdock.jobs import JOBS
from crossdock.services import catalog, connections, inventory


class PickyMarket(MarketplaceBase):
    """Refuses the SKUs in ``unknown``; says nothing at all about those in ``silent``."""

    name = "pickymarket"
    capabilities = frozenset({MarketplaceCapability.STOCK_PUSH, MarketplaceCapability.PRICE_PUSH})

    def __init__(self) -> None:
        self.unknown: set[str] = set()
        self.silent: set[str] = set()
        self.calls: list[list[str]] = []

    def _answer(self, skus: list[str]) -> list[PushResult]:
        self.calls.append(skus)
        return [
            PushResult(sku, sku not in self.unknown, f"SKU {sku} not found" if sku in self.unknown else None)
            for sku in skus
            if sku not in self.silent
        ]

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        return self._answer([u.channel_sku for u in updates])

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]:
        return self._answer([u.channel_sku for u in updates])


class PickyPlugin:
    def __init__(self) -> None:
        self.market = PickyMarket()

    @hookimpl
    def crossdock_marketplaces(self) -> list[PickyMarket]:
        return [self.market]


@pytest.fixture
def picky() -> PickyPlugin:
    return PickyPlugin()


@pytest.fixture
def extra_plugins(picky: PickyPlugin) -> list[tuple[str, object]]:
    return [("pickymarket", picky)]


async def _shop(app: Any, tenant: Any) -> int:
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        await catalog.create_product(
            session, title="Fan", variants=[catalog.VariantSpec(sku=s) for s in ("A", "B", "C")]
        )
        variants = dict((await session.execute(select(Variant.sku, Variant.id))).all())
        warehouse = await inventory.create_warehouse(session, code="W", name="W", country="SG")
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="pickymarket",
            name="p",
            site="SG",
            currency="SGD",
            credentials={"k": "v"},
        )
        for sku, variant_id in variants.items():
            session.add(
                Listing(
                    connection_id=conn.id,
                    variant_id=variant_id,
                    channel_sku=sku,
                    price_amount=Decimal("5.00"),
                    price_currency="SGD",
                )
            )
        for variant_id in variants.values():
            await inventory.receive_stock(uow, variant_id=variant_id, warehouse_id=warehouse.id, quantity=3)
    return conn.id


async def _listings(app: Any, tenant: Any) -> dict[str, Listing]:
    async with app.db.tenant(tenant.id) as session:
        return {row.channel_sku: row for row in (await session.scalars(select(Listing))).all()}


async def _failures(app: Any, tenant: Any) -> list[dict[str, Any]]:
    async with app.db.tenant(tenant.id) as session:
        rows = await session.scalars(
            select(Event).where(Event.type == "listing.push_failed").order_by(Event.id)
        )
        return [dict(e.payload) for e in rows.all()]


async def test_a_refused_listing_keeps_its_error_and_the_rest_goes_on(
    app: Any, tenant_factory: Any, picky: PickyPlugin
) -> None:
    tenant = await tenant_factory()
    conn_id = await _shop(app, tenant)
    picky.market.unknown = {"B"}
    picky.market.silent = {"C"}
    ctx = app.job_context()
    assert await JOBS["push_stock"](ctx, tenant_id=tenant.id, connection_id=conn_id) == {
        "pushed": 1,
        "rejected": 2,
    }
    rows = await _listings(app, tenant)
    assert (rows["A"].last_pushed_quantity, rows["A"].last_error) == (3, None)
    assert rows["B"].last_pushed_quantity is None
    assert (rows["B"].last_error, rows["B"].last_error_operation) == ("SKU B not found", "stock")
    assert rows["B"].last_error_at is not None
    assert rows["C"].last_error == "the channel gave no answer for this SKU"
    async with app.db.tenant(tenant.id) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
    assert conn is not None and (conn.status, conn.last_error) == ("active", None)

    # tried again next time; the same refusal is not announced twice
    assert await JOBS["push_stock"](ctx, tenant_id=tenant.id, connection_id=conn_id) == {
        "pushed": 0,
        "rejected": 2,
    }
    assert sorted(picky.market.calls[-1]) == ["B", "C"]  # the retried listings, in no set order
    assert [(f["channel_sku"], f["operation"]) for f in await _failures(app, tenant)] == [
        ("B", "stock"),
        ("C", "stock"),
    ]

    # a price push that goes through does not clear a stock error...
    picky.market.unknown, picky.market.silent = set(), set()
    assert await JOBS["push_prices"](ctx, tenant_id=tenant.id, connection_id=conn_id) == {
        "pushed": 3,
        "rejected": 0,
    }
    assert (await _listings(app, tenant))["B"].last_error == "SKU B not found"
    # ...a stock push that does, does
    assert await JOBS["push_stock"](ctx, tenant_id=tenant.id, connection_id=conn_id) == {
        "pushed": 2,
        "rejected": 0,
    }
    rows = await _listings(app, tenant)
    assert all(r.last_error is None and r.last_error_operation is None for r in rows.values())
    assert [r.last_pushed_quantity for r in rows.values()] == [3, 3, 3]
