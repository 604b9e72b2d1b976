"""Core tests run with one in-process marketplace plugin, ``testmarket``.

It implements the marketplace contract over an in-memory order book, so the core's sync,
ingestion and connection rules are tested without depending on a first-party plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crossdock import (
    Address,
    ChannelConnection,
    ChannelError,
    ChannelOrder,
    ChannelOrderLine,
    MarketplaceBase,
    MarketplaceCapability,
    Money,
    OrderPage,
    Site,
    hookimpl,
)


SINGAPORE = Address(name="Tan Ah Kow", line1="1 Raffles Place", postal_code="048616", country="SG")


class TestMarket(MarketplaceBase):
    __test__ = False

    name = "testmarket"
    display_name = "Test Market"
    version = "1.0"
    capabilities = frozenset({MarketplaceCapability.ORDERS_SYNC})

    def __init__(self) -> None:
        self.orders: list[ChannelOrder] = []
        self.page_size = 3
        self.fail_next: list[ChannelError] = []
        self.fail_for: dict[int, list[ChannelError]] = {}  # connection id -> errors to raise
        self.calls = 0
        self.fetched_for: list[int] = []  # connection ids, one per call

    def sites(self) -> Sequence[Site]:
        return [Site("SG", "SG", "SGD"), Site("MY", "MY", "MYR")]

    def add_order(
        self,
        external_id: str,
        *,
        sku: str = "SKU-1",
        status: str = "pending",
        updated: datetime | None = None,
        quantity: int = 1,
        address: Address | None = SINGAPORE,
        total: str = "10.00",
        fulfilled_by_channel: bool = False,
        payment_status: str | None = "paid",
        ship_by: datetime | None = None,
        buyer: str = "Tan Ah Kow",
    ) -> ChannelOrder:
        now = updated or datetime.now(UTC)
        order = ChannelOrder(
            external_id=external_id,
            status=status,
            channel_status=status.upper(),
            placed_at=now - timedelta(minutes=1),
            updated_at=now,
            total=Money.of(total, "SGD"),
            lines=[
                ChannelOrderLine(
                    external_id=f"{external_id}-1",
                    sku=sku,
                    quantity=quantity,
                    unit_price=Money.of("10.00", "SGD"),
                )
            ],
            buyer_name=buyer,
            shipping_address=address,
            fulfilled_by_channel=fulfilled_by_channel,
            payment_status=payment_status,
            ship_by=ship_by,
        )
        self.orders = [o for o in self.orders if o.external_id != external_id] + [order]
        return order

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        self.calls += 1
        self.fetched_for.append(conn.id)
        if self.fail_for.get(conn.id):
            raise self.fail_for[conn.id].pop(0)
        if self.fail_next:
            raise self.fail_next.pop(0)
        matching = sorted(
            (o for o in self.orders if o.updated_at >= updated_since), key=lambda o: o.external_id
        )
        start = int(page_token or 0)
        chunk = matching[start : start + self.page_size]
        more = start + self.page_size < len(matching)
        return OrderPage(orders=chunk, next_page_token=str(start + self.page_size) if more else None)


class TestMarketPlugin:
    __test__ = False

    def __init__(self) -> None:
        self.market = TestMarket()
        self.events: list[dict[str, Any]] = []
        self.hold_skus: set[str] = set()

    @hookimpl
    def crossdock_marketplaces(self) -> list[TestMarket]:
        return [self.market]

    @hookimpl
    def crossdock_order_checks(self, order: ChannelOrder) -> list[tuple[str, str]]:
        return [
            ("prohibited_item", f"{line.sku} may not ship")
            for line in order.lines
            if line.sku in self.hold_skus
        ]

    @hookimpl
    def crossdock_order_ingested(
        self, tenant: str, order_id: int, external_id: str, status: str, created: bool
    ) -> None:
        self.events.append(
            {
                "hook": "order_ingested",
                "tenant": tenant,
                "external_id": external_id,
                "status": status,
                "created": created,
            }
        )

    @hookimpl
    def crossdock_stock_changed(
        self, tenant: str, variant_id: int, warehouse_id: int, on_hand: int, reserved: int, reason: str
    ) -> None:
        self.events.append({"hook": "stock_changed", "tenant": tenant, "on_hand": on_hand, "reason": reason})


@pytest.fixture
def testmarket() -> TestMarketPlugin:
    return TestMarketPlugin()


@pytest.fixture
def extra_plugins(testmarket: TestMarketPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket)]
