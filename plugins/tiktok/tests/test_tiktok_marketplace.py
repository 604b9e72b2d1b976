"""The provider against the emulator: order pages that resume exactly, units grouped into
lines, shipping (seller tracking and platform pickup, idempotent), stock and price pushes,
credentials refresh with the shop_cipher."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crossdock_tiktok.emulator import REGIONS, TikTokShopSellerEmulator
from crossdock_tiktok.mapping import message_order_context, message_text, to_message, to_order
from crossdock_tiktok.marketplace import RATE_LIMITS, TikTokShopMarketplace

from crossdock import (
    ChannelConnection,
    ChannelError,
    ChannelMessage,
    ChannelOrder,
    Money,
    OutgoingMessage,
    PriceUpdate,
    ShipmentConfirmation,
    StockUpdate,
)
from crossdock.testing import address_problems, emulator_http
from crossdock.testing.emulator import Faults, serve

SINCE = datetime.now(UTC) - timedelta(days=30)


@pytest.fixture
async def emulator() -> Any:
    emu = TikTokShopSellerEmulator(carriers=("Acme Freight",))
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        yield emu


def _conn(emu: Any, creds: Any, site: str = "US", conn_id: int = 1, **settings: Any) -> ChannelConnection:
    return ChannelConnection(
        id=conn_id,
        tenant="t",
        channel="tiktok",
        site=site,
        currency=REGIONS[site].currency,
        credentials=dict(creds),
        base_url=emu.base,
        settings=settings,
        http=emulator_http(),
    )


async def _sync(
    provider: TikTokShopMarketplace, conn: ChannelConnection
) -> tuple[list[ChannelOrder], list[str | None]]:
    orders: list[ChannelOrder] = []
    tokens: list[str | None] = []
    token: str | None = None
    while True:
        page = await provider.fetch_orders(conn, updated_since=SINCE, page_token=token)
        orders += page.orders
        tokens.append(page.next_page_token)
        token = page.next_page_token
        if token is None:
            return orders, tokens


async def test_sync_pages_resume_exactly_where_they_ended(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "SKU-1")
    ids = emulator.generate_orders(creds, 260, seed=2)
    conn = _conn(emulator, creds)
    first = await TikTokShopMarketplace().fetch_orders(conn, updated_since=SINCE, page_token=None)
    assert len(first.orders) == 100 and first.next_page_token
    # a new process (another worker) continues from the committed token
    provider = TikTokShopMarketplace()
    page2 = await provider.fetch_orders(conn, updated_since=SINCE, page_token=first.next_page_token)
    page3 = await provider.fetch_orders(conn, updated_since=SINCE, page_token=page2.next_page_token)
    assert page3.next_page_token is None
    seen = [o.external_id for o in (*first.orders, *page2.orders, *page3.orders)]
    assert sorted(seen) == sorted(ids)  # each exactly once
    # an order updated during the sync falls outside its fixed window: the next sync has it
    late = first.orders[0].external_id
    emulator.orders[late]["status"] = "CANCELLED"
    emulator.touch(emulator.orders[late])
    again = await provider.fetch_orders(conn, updated_since=SINCE, page_token=first.next_page_token)
    assert late not in {o.external_id for o in again.orders}
    state = json.loads(first.next_page_token)
    assert set(state) == {"ge", "lt", "page"} and state["ge"] == int(SINCE.timestamp())
    orders, _ = await _sync(provider, conn)
    assert {o.external_id: o.status for o in orders}[late] == "cancelled"


async def test_sync_survives_faults_with_retries() -> None:
    emu = TikTokShopSellerEmulator(Faults.failing(0.3, seed=11))
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("ID")
        emu.add_product(creds, "SKU-ID")
        ids = emu.generate_orders(creds, 700, seed=1)
        conn = _conn(emu, creds, "ID", timeout=0.5)
        provider = TikTokShopMarketplace()
        seen: set[str] = set()
        failures: list[ChannelError] = []
        token = None
        for _ in range(200):
            try:
                page = await provider.fetch_orders(conn, updated_since=SINCE, page_token=token)
            except ChannelError as exc:
                failures.append(exc)
                continue
            seen |= {o.external_id for o in page.orders}
            token = page.next_page_token
            if token is None:
                break
        assert seen == set(ids)
        assert failures and all(f.retryable for f in failures)
        assert sum(emu.injected.values()) >= len(failures)


async def test_orders_map_units_money_deadlines_and_fbt(emulator: Any) -> None:
    creds = emulator.open_account("GB")
    emulator.add_product(creds, "MUG")
    emulator.add_product(creds, "CAP")
    emulator.add_order(creds, "O-1", [("MUG", 3, "7.50"), ("CAP", 1, "12.00")], packages=2)
    emulator.add_order(creds, "O-FBT", [("CAP", 2, "12.00")], status="IN_TRANSIT", fulfilled_by_tiktok=True)
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds, "GB")
    order = await provider.fetch_order(conn, "O-1")
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        ("MUG", 3, Money(Decimal("7.50"), "GBP")),
        ("CAP", 1, Money(Decimal("12.00"), "GBP")),
    ]
    raw_units = emulator.orders["O-1"]["line_items"]
    assert order.lines[0].external_id == raw_units[0]["id"]  # the group's first unit
    assert order.total == Money(Decimal("34.50"), "GBP")
    assert (order.status, order.channel_status, order.payment_status) == (
        "pending",
        "AWAITING_SHIPMENT",
        "paid",
    )
    assert order.ship_by == datetime.fromtimestamp(emulator.orders["O-1"]["rts_sla_time"], UTC)
    assert order.shipping_address is not None and order.shipping_address.country == "GB"
    assert address_problems(order.shipping_address) == []
    assert not order.fulfilled_by_channel
    fbt = await provider.fetch_order(conn, "O-FBT")
    assert (fbt.status, fbt.fulfilled_by_channel, fbt.lines[0].quantity) == ("shipped", True, 2)
    with pytest.raises(ChannelError) as excinfo:
        await provider.fetch_order(conn, "NOPE")
    assert excinfo.value.code == "NOT_FOUND"


def test_units_at_different_prices_stay_apart_and_statuses_map() -> None:
    def unit(i: int, sku: str, price: str) -> dict[str, Any]:
        return {"id": str(i), "seller_sku": sku, "sku_id": f"s-{sku}", "sale_price": price, "currency": "VND"}

    raw = {
        "id": "1",
        "status": "UNPAID",
        "create_time": 1700000000,
        "update_time": 1700000100,
        "payment": {"currency": "VND", "total_amount": "250000"},
        "line_items": [unit(12, "A", "100000"), unit(9, "A", "50000"), unit(10, "A", "100000")],
    }
    order = to_order(raw)
    assert [(line.external_id, line.quantity, str(line.unit_price.amount)) for line in order.lines] == [
        ("9", 1, "50000"),
        ("10", 2, "100000"),
    ]
    assert (order.status, order.payment_status, order.ship_by) == ("pending", "pending", None)
    expected = {
        "ON_HOLD": "pending",
        "AWAITING_SHIPMENT": "pending",
        "PARTIALLY_SHIPPING": "pending",
        "AWAITING_COLLECTION": "pending",
        "IN_TRANSIT": "shipped",
        "DELIVERED": "delivered",
        "COMPLETED": "delivered",
        "CANCELLED": "cancelled",
    }
    assert {s: to_order({**raw, "status": s}).status for s in expected} == expected


async def test_generated_mix_is_realistic_in_every_region(emulator: Any) -> None:
    provider = TikTokShopMarketplace()
    for n, (site, region) in enumerate(REGIONS.items()):
        creds = emulator.open_account(site)
        emulator.add_product(creds, f"SKU-{site}")
        ids = emulator.generate_orders(creds, 200, seed=n)
        orders, _ = await _sync(provider, _conn(emulator, creds, site, conn_id=100 + n))
        assert sorted(o.external_id for o in orders) == sorted(ids)
        assert {o.total.currency for o in orders} == {region.currency}
        statuses = {o.channel_status for o in orders}
        assert {"AWAITING_SHIPMENT", "CANCELLED", "UNPAID", "COMPLETED"} <= statuses
        assert any(o.fulfilled_by_channel for o in orders)
        assert all(address_problems(o.shipping_address) == [] for o in orders)
        if region.exponent == 0:
            assert all(o.total.amount == o.total.amount.to_integral_value() for o in orders)


async def test_self_shipment_maps_the_carrier_and_is_idempotent(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "SKU-1")
    emulator.add_order(creds, "S-1", [("SKU-1", 2, "10.00")])
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    confirm = ShipmentConfirmation(
        "S-1", carrier="ups", tracking_number="1Z999", shipped_at=datetime.now(UTC)
    )
    assert await provider.confirm_shipment(conn, confirm) is None
    unit = emulator.orders["S-1"]["line_items"][0]
    assert (unit["tracking_number"], unit["shipping_provider_name"]) == ("1Z999", "UPS")
    assert (emulator.orders["S-1"]["status"], unit["package_status"]) == ("AWAITING_COLLECTION", "PROCESSING")
    assert await provider.confirm_shipment(conn, confirm) is None  # a retry succeeds
    assert emulator.requests["/fulfillment/202309/packages/%s/ship" % unit["package_id"]] == 1
    other = ShipmentConfirmation("S-1", carrier="UPS", tracking_number="1Z000", shipped_at=datetime.now(UTC))
    with pytest.raises(ChannelError) as excinfo:
        await provider.confirm_shipment(conn, other)
    assert (excinfo.value.code, excinfo.value.retryable) == ("ALREADY_SHIPPED", False)


async def test_carriers_unknown_mapped_or_named_by_id(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "SKU-1")
    for n in range(3):
        emulator.add_order(creds, f"C-{n}", [("SKU-1", 1, "10.00")])
    provider = TikTokShopMarketplace()
    providers = emulator.providers[emulator.shop_of(creds).delivery_option_id]
    acme = next(pid for pid, name in providers.items() if name == "Acme Freight")
    at = datetime.now(UTC)
    with pytest.raises(ChannelError) as excinfo:
        await provider.confirm_shipment(
            _conn(emulator, creds), ShipmentConfirmation("C-0", "Pigeon Post", "P1", at)
        )
    assert (excinfo.value.code, excinfo.value.retryable) == ("UNKNOWN_CARRIER", False)
    # mapped by the seller (the connection's carrier_codes, resolved by the core)
    await provider.confirm_shipment(
        _conn(emulator, creds), ShipmentConfirmation("C-0", "Pigeon Post", "P1", at, carrier_code=acme)
    )
    await provider.confirm_shipment(
        _conn(emulator, creds), ShipmentConfirmation("C-1", "ACME freight", "P2", at)
    )
    await provider.confirm_shipment(_conn(emulator, creds), ShipmentConfirmation("C-2", acme, "P3", at))
    names = {emulator.orders[f"C-{n}"]["line_items"][0]["shipping_provider_name"] for n in range(3)}
    assert names == {"Acme Freight"}
    # the provider list is fetched once per connection and delivery option
    option = emulator.shop_of(creds).delivery_option_id
    assert emulator.requests[f"/logistics/202309/delivery_options/{option}/shipping_providers"] == 1


async def test_platform_pickup_returns_tiktoks_tracking_number(emulator: Any) -> None:
    creds = emulator.open_account("MY")
    emulator.add_product(creds, "SKU-1")
    emulator.add_order(creds, "P-1", [("SKU-1", 1, "20.00")], shipping_type="TIKTOK")
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds, "MY")
    pickup = ShipmentConfirmation("P-1", carrier="", tracking_number="", shipped_at=datetime.now(UTC))
    assigned = await provider.confirm_shipment(conn, pickup)
    assert assigned and assigned == emulator.tracking_number(creds, "P-1")
    assert emulator.orders["P-1"]["status"] == "AWAITING_COLLECTION"
    assert await provider.confirm_shipment(conn, pickup) == assigned  # the retry answers the same


async def test_a_shipment_ships_only_the_packages_of_its_lines(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "A")
    emulator.add_product(creds, "B")
    emulator.add_order(creds, "M-1", [("A", 1, "5.00"), ("B", 2, "6.00")], packages=2)
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    order = await provider.fetch_order(conn, "M-1")
    line_b = next(line for line in order.lines if line.sku == "B")
    at = datetime.now(UTC)
    await provider.confirm_shipment(
        conn, ShipmentConfirmation("M-1", "USPS", "9400B", at, lines=[(line_b.external_id, 2)])
    )
    units = emulator.orders["M-1"]["line_items"]
    assert {u["seller_sku"]: u["tracking_number"] for u in units} == {"A": "", "B": "9400B"}
    assert emulator.orders["M-1"]["status"] == "PARTIALLY_SHIPPING"
    assert (await provider.fetch_order(conn, "M-1")).status == "pending"


async def test_orders_that_cannot_ship(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_product(creds, "A")
    emulator.add_order(creds, "H-1", [("A", 1, "5.00")], status="ON_HOLD")
    emulator.add_order(creds, "X-1", [("A", 1, "5.00")], status="CANCELLED")
    emulator.add_order(creds, "F-1", [("A", 1, "5.00")], fulfilled_by_tiktok=True)
    provider, conn, at = TikTokShopMarketplace(), _conn(emulator, creds), datetime.now(UTC)
    with pytest.raises(ChannelError) as excinfo:
        await provider.confirm_shipment(conn, ShipmentConfirmation("H-1", "USPS", "1", at))
    assert (excinfo.value.code, excinfo.value.retryable) == ("NOT_READY", True)
    for order_id, code in (("X-1", "CANCELLED"), ("F-1", "FULFILLED_BY_TIKTOK")):
        with pytest.raises(ChannelError) as excinfo:
            await provider.confirm_shipment(conn, ShipmentConfirmation(order_id, "USPS", "1", at))
        assert (excinfo.value.code, excinfo.value.retryable) == (code, False)


async def test_stock_and_price_pushes_answer_per_update(emulator: Any) -> None:
    creds = emulator.open_account("VN")
    one = emulator.add_product(creds, "V-1", stock=1)
    two = emulator.add_product(creds, "V-2", stock=1)
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds, "VN")
    stock = await provider.push_stock(
        conn,
        [
            StockUpdate("V-1", 7, one),
            StockUpdate("NO-ID", 3, None),
            StockUpdate("GONE", 3, "999:1"),
            StockUpdate("V-2", -4, two),
            StockUpdate("OLD-SKU", 5, one.split(":")[0] + ":404"),
        ],
    )
    assert [(r.channel_sku, r.accepted) for r in stock] == [
        ("V-1", True),
        ("NO-ID", False),
        ("GONE", False),
        ("V-2", True),
        ("OLD-SKU", False),
    ]
    assert "12052048" in (stock[2].message or "")  # the product is unknown: its call fails
    assert "12052556" in (stock[4].message or "")  # one SKU is unknown: the others are set
    assert (emulator.stock(creds, "V-1"), emulator.stock(creds, "V-2")) == (7, 0)
    shop = emulator.shop_of(creds)
    # both warehouses assigned to the SKU are listed; the stock is in the default one
    assert emulator.find_sku(shop, "V-1")[2]["stock"] == {shop.warehouses[0]: 7, shop.warehouses[1]: 0}
    prices = await provider.push_prices(
        conn,
        [
            PriceUpdate("V-1", Money.of("129000.4", "VND"), one),
            PriceUpdate("V-2", Money.of("5.00", "USD"), two),
        ],
    )
    assert [(r.accepted, r.message) for r in prices] == [(True, None), (False, "the shop sells in VND")]
    assert emulator.find_sku(shop, "V-1")[2]["price"] == "129000"


async def test_connection_errors_fail_the_whole_push(emulator: Any) -> None:
    creds = emulator.open_account("US")
    one = emulator.add_product(creds, "U-1")
    emulator.expire_tokens()
    with pytest.raises(ChannelError) as excinfo:
        await TikTokShopMarketplace().push_stock(
            _conn(emulator, creds, warehouse_id="w"), [StockUpdate("U-1", 1, one)]
        )
    assert excinfo.value.code == ChannelError.AUTH_EXPIRED


async def test_refresh_stores_new_tokens_and_the_shop_cipher(emulator: Any) -> None:
    creds = emulator.open_account("PH")
    emulator.open_account("SG")  # another seller of the same app
    provider = TikTokShopMarketplace()
    emulator.expire_tokens()
    fresh = await provider.refresh_credentials(_conn(emulator, creds, "PH"))
    shop = emulator.shop_of(creds)
    assert (fresh["access_token"], fresh["refresh_token"]) == (shop.access_token, shop.refresh_token)
    assert (fresh["shop_cipher"], fresh["shop_id"]) == (shop.cipher, shop.shop_id)
    assert fresh["access_expires_at"] == int(shop.access_expires) and "auth_code" not in fresh
    emulator.add_order(fresh, "R-1", [("X", 1, "1.00")])
    assert (await provider.fetch_order(_conn(emulator, fresh, "PH"), "R-1")).total.currency == "PHP"
    assert emulator.requests["/authorization/202309/shops"] == 1  # the stored cipher is used


async def test_a_stale_looked_up_cipher_is_looked_up_again(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_order(creds, "Z-1", [("X", 1, "1.00")])
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    await provider.fetch_order(conn, "Z-1")
    emulator.shop_of(creds).cipher = "ROW_reauthorized"
    with pytest.raises(ChannelError) as excinfo:
        await provider.fetch_order(conn, "Z-1")
    # the token's shop does not match the cipher (101000): looked up again, so retryable
    assert (excinfo.value.code, excinfo.value.retryable) == ("101000", True)
    assert (await provider.fetch_order(conn, "Z-1")).external_id == "Z-1"


def test_rate_limits_are_documented_per_operation() -> None:
    # the Shop API: 50 per second per API; API for Business (ads.*): the report's Basic level
    assert {(r.rate, r.burst) for op, r in RATE_LIMITS.items() if not op.startswith("ads.")} == {(50.0, 50)}
    assert {(r.rate, r.burst) for op, r in RATE_LIMITS.items() if op.startswith("ads.")} == {(4.0, 8)}
    assert {"orders.search", "orders.detail", "packages.ship", "products.inventory_update"} <= set(
        RATE_LIMITS
    )


async def test_a_refused_ship_of_a_package_shipped_meanwhile_counts_as_done(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.add_order(creds, "RACE-1", [("A", 1, "5.00")])
    provider, conn, at = TikTokShopMarketplace(), _conn(emulator, creds), datetime.now(UTC)
    original = emulator._ship_package

    async def racing(request: Any) -> Any:  # another attempt shipped it just before this one
        await original(request)
        return emulator._fail(21011017, "package is PROCESSING")

    emulator.route_pattern("POST", r"/fulfillment/202309/packages/([^/]+)/ship", racing)
    emulator.patterns.insert(0, emulator.patterns.pop())
    assert await provider.confirm_shipment(conn, ShipmentConfirmation("RACE-1", "USPS", "9400R", at)) is None
    emulator.add_order(creds, "RACE-2", [("A", 1, "5.00")])
    emulator.patterns[0] = (
        "POST",
        emulator.patterns[0][1],
        lambda request: _refuse(emulator),
    )
    with pytest.raises(ChannelError) as excinfo:
        await provider.confirm_shipment(conn, ShipmentConfirmation("RACE-2", "USPS", "9400S", at))
    assert (excinfo.value.code, excinfo.value.retryable) == ("21011006", False)


async def _refuse(emulator: Any) -> Any:
    return emulator._fail(21011006, "the package cannot ship")


# ------------------------------------------------------------------ buyer messages


async def _all_messages(
    provider: TikTokShopMarketplace, conn: ChannelConnection, since: datetime = SINCE
) -> tuple[list[ChannelMessage], int]:
    found: list[ChannelMessage] = []
    token: str | None = None
    pages = 0
    while True:
        page = await provider.fetch_messages(conn, updated_since=since, page_token=token)
        times = [m.sent_at for m in page.messages]
        assert times == sorted(times)  # oldest first
        found += page.messages
        pages += 1
        token = page.next_page_token
        if token is None:
            return found, pages


@pytest.fixture
async def spaced() -> Any:
    """An emulator whose clock the test sets back (``emu.offset``): TikTok stamps messages
    to the second, so a realistic history needs messages seconds apart."""
    offset = [0.0]
    emu = TikTokShopSellerEmulator(clock=lambda: time.time() + offset[0])
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        emu.offset = offset  # type: ignore[attr-defined]
        yield emu


def _history(emu: Any, creds: Any, writes: Any) -> None:
    """``(buyer, text, order)`` written a second apart, ending 20 seconds ago (TikTok
    refuses request timestamps more than 30 seconds ahead of its clock)."""
    writes = list(writes)
    for n, (buyer, text, order) in enumerate(writes):
        emu.offset[0] = -20.0 - (len(writes) - n)
        emu.buyer_writes(creds, buyer, text, order)
    emu.offset[0] = 0.0


async def test_message_pages_resume_exactly_and_name_buyers_and_orders(spaced: Any) -> None:
    emulator = spaced
    creds = emulator.open_account("MY")
    buyers = [f"buyer-{n:02d}" for n in range(45)]
    _history(
        emulator,
        creds,
        [
            *((b, f"hi, {b} here", None) for b in buyers),
            ("amy", "Where is my parcel?", "MSG-1"),
            ("amy", "It has been three days.", None),
        ],
    )
    conn = _conn(emulator, creds, "MY")
    first = await TikTokShopMarketplace().fetch_messages(conn, updated_since=SINCE, page_token=None)
    assert first.next_page_token and len({m.thread_id for m in first.messages}) == 20
    state = json.loads(first.next_page_token)
    assert set(state) == {"since", "latest", "read", "page"} and state["since"] == int(SINCE.timestamp())
    # each page from a new process (another worker), continuing from the committed token
    rest, pages = list(first.messages), 1
    token: str | None = first.next_page_token
    while token:
        page = await TikTokShopMarketplace().fetch_messages(conn, updated_since=SINCE, page_token=token)
        rest += page.messages
        token, pages = page.next_page_token, pages + 1
    assert pages == 3
    assert len(rest) == 47 and len({m.external_id for m in rest}) == 47  # each exactly once
    amy = [m for m in rest if m.buyer_name == "amy"]
    assert [(m.text, m.order_external_id, m.from_buyer) for m in amy] == [
        ("Where is my parcel?", "MSG-1", True),
        ("It has been three days.", "MSG-1", True),
    ]
    shop = emulator.shop_of(creds)
    thread = next(c for c in shop.conversations.values() if c["_buyer"] == "amy")
    buyer_im = next(p["im_user_id"] for p in thread["participants"] if p["role"] == "BUYER")
    assert {(m.thread_id, m.buyer_id) for m in amy} == {(thread["id"], buyer_im)}
    assert all(m.sent_at.tzinfo is UTC for m in rest)
    assert {m.buyer_name for m in rest} == {*buyers, "amy"}


async def test_only_conversations_and_messages_since_the_time_are_read() -> None:
    offset = [-3 * 86400.0]  # the emulator's clock, relative to now
    emu = TikTokShopSellerEmulator(clock=lambda: time.time() + offset[0])
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("US")
        emu.buyer_writes(creds, "old", "last week's question")
        emu.buyer_writes(creds, "both", "an old message")
        offset[0] = 0.0
        emu.buyer_writes(creds, "both", "a new message")
        emu.buyer_writes(creds, "new", "a new question")
        conn = _conn(emu, creds)
        since = datetime.now(UTC) - timedelta(days=1)
        found, _ = await _all_messages(TikTokShopMarketplace(), conn, since)
    assert sorted(m.text for m in found) == ["a new message", "a new question"]
    old = next(c for c in emu.shop_of(creds).conversations.values() if c["_buyer"] == "old")
    assert emu.requests[f"/customer_service/202309/conversations/{old['id']}/messages"] == 0


async def test_seller_replies_come_back_as_replies_and_robots_do_not_count(emulator: Any) -> None:
    creds = emulator.open_account("SG")
    emulator.buyer_writes(creds, "cat", "Is this in stock?")
    shop = emulator.shop_of(creds)
    thread = emulator.conversation_with(shop, "cat")
    emulator.post_message(thread, "ROBOT", "TEXT", {"content": "Thanks for your message!"})
    emulator.post_message(thread, "SYSTEM", "NOTIFICATION", {"content": "Rate this chat"}, visible=False)
    emulator.post_message(thread, "CUSTOMER_SERVICE", "TEXT", {"content": "Yes, 4 left."})
    emulator.post_message(thread, "BUYER", "ORDER_CARD", {"order_id": "ORD-9"})
    emulator.post_message(thread, "BUYER", "IMAGE", {"url": "https://img.example/1.jpg", "width": 1})
    found, _ = await _all_messages(TikTokShopMarketplace(), _conn(emulator, creds, "SG"))
    assert [(m.from_buyer, m.text, m.order_external_id) for m in found] == [
        (True, "Is this in stock?", None),
        (False, "Yes, 4 left.", None),
        (True, "[order ORD-9]", "ORD-9"),
        (True, "[image] https://img.example/1.jpg", "ORD-9"),
    ]
    assert {m.buyer_name for m in found} == {"cat"}  # the seller's messages name the buyer too


@pytest.mark.parametrize("same_second", [False, True])
async def test_a_conversation_that_moves_up_during_a_sync_is_still_read(
    spaced: Any, same_second: bool
) -> None:
    emulator = spaced
    creds = emulator.open_account("US")
    _history(emulator, creds, ((f"buyer-{n:02d}", f"question {n}", None) for n in range(45)))
    if same_second:  # the move happens in the second of the latest activity the sync saw
        emulator.offset[0] = -21.0
    conn = _conn(emulator, creds)
    provider = TikTokShopMarketplace()
    first = await provider.fetch_messages(conn, updated_since=SINCE, page_token=None)
    # the least recent conversation (on the last page) gets a message and jumps to the top
    emulator.buyer_writes(creds, "buyer-00", "hello?")
    emulator.offset[0] = 0.0
    seen, token = list(first.messages), first.next_page_token
    while token:
        page = await provider.fetch_messages(conn, updated_since=SINCE, page_token=token)
        seen += page.messages
        token = page.next_page_token
    assert {m.text for m in seen} == {f"question {n}" for n in range(45)} | {"hello?"}
    assert len(seen) == 46  # and nothing read twice


async def test_message_sync_survives_faults_with_retries() -> None:
    emu = TikTokShopSellerEmulator(Faults.failing(0.3, seed=7))
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("TH")
        for n in range(25):
            for k in range(12):  # two pages of messages each
                emu.buyer_writes(creds, f"buyer-{n}", f"{n}/{k}")
        conn = _conn(emu, creds, "TH", timeout=0.5)
        provider = TikTokShopMarketplace()
        seen: set[str] = set()
        failures: list[ChannelError] = []
        token = None
        for _ in range(200):
            try:
                page = await provider.fetch_messages(conn, updated_since=SINCE, page_token=token)
            except ChannelError as exc:
                failures.append(exc)
                continue
            seen |= {m.text for m in page.messages}
            token = page.next_page_token
            if token is None:
                break
    assert seen == {f"{n}/{k}" for n in range(25) for k in range(12)}
    assert failures and all(f.retryable for f in failures)
    assert emu.injected["duplicate_page"] > 0


async def test_send_message_returns_tiktoks_id(emulator: Any) -> None:
    creds = emulator.open_account("GB")
    emulator.buyer_writes(creds, "dan", "Can I change my address?")
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds, "GB")
    [incoming] = (await provider.fetch_messages(conn, updated_since=SINCE, page_token=None)).messages
    reply = OutgoingMessage(thread_id=incoming.thread_id, text="Sure — send it here.", reference="r-1")
    message_id = await provider.send_message(conn, reply)
    assert message_id and emulator.messages_to(creds, "dan") == ["Sure — send it here."]
    listed = (await provider.fetch_messages(conn, updated_since=SINCE, page_token=None)).messages
    assert [(m.external_id, m.from_buyer) for m in listed][-1] == (message_id, False)
    refused = [
        (OutgoingMessage(thread_id=incoming.thread_id, text="x" * 2001), "TEXT_TOO_LONG"),
        (OutgoingMessage(thread_id=incoming.thread_id, text="  "), "EMPTY_MESSAGE"),
        (OutgoingMessage(thread_id="../orders", text="hi"), "BAD_THREAD"),
        (OutgoingMessage(thread_id="404", text="hi"), "45101003"),
    ]
    for message, code in refused:
        with pytest.raises(ChannelError) as excinfo:
            await provider.send_message(conn, message)
        assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
    assert emulator.messages_to(creds, "dan") == ["Sure — send it here."]


async def test_a_send_whose_answer_was_lost_is_not_sent_twice(emulator: Any) -> None:
    creds = emulator.open_account("US")
    emulator.buyer_writes(creds, "eve", "Hello?")
    thread = next(iter(emulator.shop_of(creds).conversations.values()))
    provider, conn = TikTokShopMarketplace(), _conn(emulator, creds)
    original = emulator._send_message

    async def lost(request: Any) -> Any:  # posted, but the answer never arrives intact
        await original(request)
        return emulator.error(503, "server_error", "gateway hiccup")

    emulator.route_pattern("POST", r"/customer_service/202309/conversations/([^/]+)/messages", lost)
    emulator.patterns.insert(0, emulator.patterns.pop())
    reply = OutgoingMessage(thread_id=thread["id"], text="Hi Eve!", reference="crossdock-message-7")
    with pytest.raises(ChannelError) as excinfo:
        await provider.send_message(conn, reply)
    assert (excinfo.value.code, excinfo.value.retryable) == ("SERVER_ERROR", True)
    emulator.patterns.pop(0)
    # the retry finds the message already in the conversation and answers its id
    assert await provider.send_message(conn, reply) == thread["latest_message"]["id"]
    assert emulator.messages_to(creds, "eve") == ["Hi Eve!"]
    # a throttled (refused) attempt is simply sent again
    emulator.faults = Faults(throttle=1.0)
    again = OutgoingMessage(thread_id=thread["id"], text="Hi Eve!", reference="crossdock-message-8")
    with pytest.raises(ChannelError):
        await provider.send_message(conn, again)
    emulator.faults = Faults()
    assert await provider.send_message(conn, again) not in (None, thread["id"])
    assert emulator.messages_to(creds, "eve") == ["Hi Eve!", "Hi Eve!"]


def test_message_mapping() -> None:
    def raw(kind: str, content: Any, role: str = "BUYER", **extra: Any) -> dict[str, Any]:
        return {
            "id": "m1",
            "index": "1",
            "type": kind,
            "content": content if isinstance(content, str) else json.dumps(content),
            "create_time": 1700000000,
            "sender": {"role": role, "nickname": "zoe", "im_user_id": "u1"},
            **extra,
        }

    message = to_message(raw("TEXT", {"content": "hi"}), "c1", ("u0", "zoe0"), "O-1")
    assert message is not None
    assert (message.text, message.buyer_id, message.buyer_name, message.order_external_id) == (
        "hi",
        "u1",
        "zoe",
        "O-1",
    )
    assert message.sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    seller = to_message(raw("TEXT", {"content": "hello"}, "SHOP"), "c1", ("u0", "zoe0"))
    assert seller is not None and (seller.from_buyer, seller.buyer_id, seller.buyer_name) == (
        False,
        "u0",
        "zoe0",
    )
    for skipped in (
        raw("TEXT", {"content": "auto"}, "ROBOT"),
        raw("NOTIFICATION", {"content": "rate us"}, "SYSTEM"),
        raw("TEXT", {"content": "hidden"}, is_visible=False),
        raw("BUYER_ENTER_FROM_ORDER", {"order_id": "O-2"}),
        raw("TEXT", "{not json"),
    ):
        assert to_message(skipped, "c1") is None
    assert message_order_context(raw("BUYER_ENTER_FROM_ORDER", {"order_id": "O-2"})) == "O-2"
    assert message_text(raw("PRODUCT_CARD", {"product_id": "P-1"})) == "[product P-1]"
    assert message_text(raw("SOMETHING_NEW", {})) == "[something_new: open it in TikTok Shop Seller Center]"
