"""Crossdock paces each operation at the rate Amazon announces in x-amzn-RateLimit-Limit,
not only at the documented default."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import RATE_LIMITS, AmazonMarketplace

from crossdock import ChannelConnection
from crossdock.testing import Pacing, emulator_http
from crossdock.testing.emulator import serve


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_announced_rates_replace_the_documented_ones() -> None:
    emulator = AmazonEmulator()
    emulator.usage_plans["getOrders"] = 2.0  # this seller was granted a bigger plan
    emulator.usage_plans["getOrderItems"] = 0.25  # and this one throttled down
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        emulator.add_product(account, "SKU-1", stock=3)
        emulator.add_order(account, "111-0000001-0000001", [("SKU-1", 1, "10.00")])
        clock = Clock()
        pacing = Pacing(7, RATE_LIMITS, clock)
        conn = ChannelConnection(
            id=7,
            tenant="t",
            channel="amazon",
            site="US",
            currency="USD",
            credentials=dict(account),
            base_url=base_url,
            settings={"orders_api": "v0"},  # getOrders' plan; searchOrders: test_amazon_orders.py
            limiter=pacing.limiter,
            http=emulator_http(),
        )
        amazon = AmazonMarketplace()
        conn = dataclasses.replace(conn, credentials=await amazon.refresh_credentials(conn))
        page = await amazon.fetch_orders(
            conn, updated_since=datetime.now(UTC) - timedelta(days=1), page_token=None
        )
        assert [o.external_id for o in page.orders] == ["111-0000001-0000001"]

    # getOrders: burst 20 (one token spent by the call), then one every 0.5 s instead of 60 s
    waits = await pacing.waits("getOrders", 21)
    assert waits[:19] == [0.0] * 19
    assert waits[19:] == [0.5, 1.0]
    # getOrderItems: one every 4 s instead of 2 s once the burst of 30 is spent
    waits = await pacing.waits("getOrderItems", 31)
    assert waits[-2:] == [4.0, 8.0]
    # an operation Amazon said nothing about keeps its documented rate
    waits = await pacing.waits("confirmShipment", 12)
    assert waits[-2:] == [0.5, 1.0]


async def test_a_sync_pass_asks_for_the_items_of_new_and_changed_orders_only() -> None:
    """Each pass re-reads the minutes before its cursor: the orders it has already read,
    unchanged, must not cost a getOrderItems call (0.5 requests/s) again."""
    emulator = AmazonEmulator()
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        emulator.add_product(account, "SKU-1", stock=9)
        for n in range(1, 6):
            emulator.add_order(account, f"111-0000001-000000{n}", [("SKU-1", 1, "10.00")])
        conn = ChannelConnection(
            id=8,
            tenant="t",
            channel="amazon",
            site="US",
            currency="USD",
            credentials=dict(account),
            base_url=base_url,
            settings={"orders_api": "v0"},  # Orders 2026-01-01 has the items in the order
            http=emulator_http(),
        )
        amazon = AmazonMarketplace()
        conn = dataclasses.replace(conn, credentials=await amazon.refresh_credentials(conn))
        since = datetime.now(UTC) - timedelta(days=1)

        def item_calls() -> int:
            return sum(n for path, n in emulator.requests.items() if path.endswith("/orderItems"))

        first = await amazon.fetch_orders(conn, updated_since=since, page_token=None)
        assert len(first.orders) == 5 and item_calls() == 5
        again = await amazon.fetch_orders(conn, updated_since=since, page_token=None)
        assert again.orders == first.orders and item_calls() == 5  # nothing new: no item calls

        emulator.update_order("111-0000001-0000003", OrderStatus="Shipped")
        emulator.add_order(account, "111-0000001-0000009", [("SKU-1", 2, "10.00")])
        third = await amazon.fetch_orders(conn, updated_since=since, page_token=None)
        assert item_calls() == 7  # the changed order and the new one
        by_id = {o.external_id: o for o in third.orders}
        assert by_id["111-0000001-0000003"].status == "shipped"
        assert by_id["111-0000001-0000009"].lines[0].quantity == 2
        assert all(o.lines for o in third.orders)
