"""Lazada's wire protocol: signatures against the published vector, the client against the
emulator over real HTTP (auth, envelope, error mapping, token refresh), and the provider's
order walk, fulfilment, stock/price pushes and buyer messages (IM)."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_lazada.client import LazadaClient, api_host
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.marketplace import LazadaMarketplace
from crossdock_lazada.signing import base_string, push_signature, sign, sign_request, verify_push

from crossdock import (
    ChannelConnection,
    ChannelError,
    ChannelMessage,
    Money,
    OutgoingMessage,
    PriceUpdate,
    ShipmentConfirmation,
    StockUpdate,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Faults, Reply, Request, serve

# ------------------------------------------------------------------ signatures


def test_signature_matches_the_published_vector() -> None:
    # Lazada Open Platform signature docs, as recorded in ../shared/marketplaces.md
    params = {
        "app_key": "123456",
        "timestamp": "1517820392000",
        "sign_method": "sha256",
        "access_token": "test",
        "order_id": "1234",
    }
    base = base_string("/order/get", params)
    assert base == (
        "/order/getaccess_tokentestapp_key123456order_id1234sign_methodsha256timestamp1517820392000"
    )
    expected = "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A"
    assert sign("helloworld", base) == expected
    # ``sign`` itself is never part of what is signed
    assert sign_request("helloworld", "/order/get", {**params, "sign": expected}) == expected


def test_client_signs_what_it_sends() -> None:
    client = LazadaClient("123456", "helloworld", http=emulator_http().client(), clock=lambda: 1517820392.0)
    signed = client.signed_params("/order/get", {"order_id": 1234}, access_token="test")
    assert signed["sign"] == "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A"
    assert signed["timestamp"] == "1517820392000" and signed["sign_method"] == "sha256"
    nested = client.signed_params("/x", {"packReq": {"a": [1, 2]}})
    assert nested["packReq"] == '{"a":[1,2]}'  # compact JSON, signed as sent


def test_hosts_per_site() -> None:
    assert api_host("th") == "https://api.lazada.co.th/rest"
    client = LazadaClient("k", "s", site="ID", http=emulator_http().client())
    assert (client.base_url, client.auth_url) == (
        "https://api.lazada.co.id/rest",
        "https://auth.lazada.com/rest",
    )
    local = LazadaClient("k", "s", base_url="http://127.0.0.1:9/", http=emulator_http().client())
    assert local.base_url == local.auth_url == "http://127.0.0.1:9"


def test_push_signature_covers_app_key_and_body() -> None:
    body = b'{"seller_id":"1","message_type":0,"data":{"trade_order_id":"9"}}'
    signature = push_signature("app", "secret", body)
    assert verify_push("app", "secret", body, signature)
    assert verify_push("app", "secret", body, signature.upper())
    assert not verify_push("app", "secret", body + b" ", signature)
    assert not verify_push("other", "secret", body, signature)
    assert not verify_push("app", "secret", body, "é" * 64)  # never a TypeError


# ------------------------------------------------------------------ client and emulator


@dataclass
class Env:
    emulator: LazadaSellerEmulator
    base: str
    http: httpx.AsyncClient
    account: dict[str, Any]

    def client(self, **kwargs: Any) -> LazadaClient:
        options: dict[str, Any] = {"base_url": self.base, "http": self.http, **kwargs}
        return LazadaClient(
            options.pop("app_key", self.account["app_key"]),
            options.pop("app_secret", self.account["app_secret"]),
            **options,
        )

    def conn(self, **changes: Any) -> ChannelConnection:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials=dict(self.account),
            base_url=self.base,
            settings={"timeout": 2},
            http=emulator_http(),
        )
        return replace(conn, **changes)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = LazadaSellerEmulator()
    async with serve(emulator) as base, httpx.AsyncClient(timeout=5) as http:
        yield Env(emulator, base, http, emulator.open_account("SG"))


async def test_client_signs_and_reads_the_envelope(env: Env) -> None:
    token = env.account["access_token"]
    answer = await env.client().call("GET", "/seller/get", access_token=token)
    assert answer["code"] == "0" and answer["data"]["seller_id"] == env.account["seller_id"]
    # POST sends the parameters form-encoded, as Lazada's SDK does
    assert (await env.client().call("POST", "/seller/get", access_token=token))["code"] == "0"

    cases = [
        (env.client(app_secret="wrong"), "IncompleteSignature"),
        (env.client(app_key="999"), "InvalidAppKey"),
        (env.client(clock=lambda: time.time() - 3 * 3600), "InvalidTimestamp"),
    ]
    for client, code in cases:
        with pytest.raises(ChannelError) as excinfo:
            await client.call("GET", "/seller/get", access_token=token)
        assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
    with pytest.raises(ChannelError) as excinfo:
        await env.client().call("GET", "/seller/get", access_token="not-a-token")
    assert (excinfo.value.code, excinfo.value.retryable) == (ChannelError.AUTH_EXPIRED, False)


async def test_tokens_create_refresh_and_expire(env: Env) -> None:
    client = env.client()
    created = await client.create_token(env.account["auth_code"])
    assert created["access_token"] == env.account["access_token"]
    assert created["country_user_info"][0]["seller_id"] == str(env.account["seller_id"])
    with pytest.raises(ChannelError, match="InvalidCode"):
        await client.create_token(env.account["auth_code"])  # a code is used once

    env.emulator.expire_tokens()
    with pytest.raises(ChannelError) as excinfo:
        await client.call("GET", "/seller/get", access_token=env.account["access_token"])
    assert excinfo.value.code == ChannelError.AUTH_EXPIRED

    provider = LazadaMarketplace()
    fresh = await provider.refresh_credentials(env.conn())
    assert fresh["access_token"] != env.account["access_token"]
    assert fresh["refresh_token"] != env.account["refresh_token"]
    assert fresh["access_expires_at"] > time.time() + 86400 and "auth_code" not in fresh
    assert fresh["app_secret"] == env.account["app_secret"]  # the rest of the mapping is kept
    answer = await client.call("GET", "/seller/get", access_token=fresh["access_token"])
    assert answer["code"] == "0"
    # the spent refresh token is refused, permanently (no loop of refreshes)
    with pytest.raises(ChannelError) as excinfo:
        await provider.refresh_credentials(env.conn())
    assert (excinfo.value.code, excinfo.value.retryable) == ("IllegalRefreshToken", False)


class _ThrottlingEmulator(LazadaSellerEmulator):
    """Answers ApiCallLimit the way Lazada's gateway does: HTTP 200, code in the body."""

    async def _seller_get(self, request: Request) -> Reply:
        return self._fail(
            "ApiCallLimit", "The request has exceeded the limit, ban will last 2 seconds", "ISP"
        )


async def test_faults_surface_as_retryable_errors() -> None:
    cases: list[tuple[LazadaSellerEmulator, str, float | None]] = [
        (LazadaSellerEmulator(Faults(throttle=1.0, retry_after=3)), "ApiCallLimit", 3.0),
        (_ThrottlingEmulator(), "ApiCallLimit", 2.0),
        (LazadaSellerEmulator(Faults(server_error=1.0)), "InternalError", None),
        (LazadaSellerEmulator(Faults(malformed=1.0)), "MALFORMED", None),
        (LazadaSellerEmulator(Faults(timeout=1.0, timeout_seconds=1.0)), "TIMEOUT", None),
    ]
    for emulator, code, retry_after in cases:
        account = emulator.open_account("MY")
        # only the timeout case waits on the clock; the others may take their time on a busy machine
        patience = 0.3 if code == "TIMEOUT" else 10.0
        async with serve(emulator) as base, httpx.AsyncClient(timeout=patience) as http:
            client = LazadaClient(account["app_key"], account["app_secret"], base_url=base, http=http)
            with pytest.raises(ChannelError) as excinfo:
                await client.call("GET", "/seller/get", access_token=account["access_token"])
        error = excinfo.value
        assert (error.code, error.retryable) == (code, True), code
        if retry_after is not None:
            assert error.retry_after == retry_after


async def test_an_unknown_path_is_permanent(env: Env) -> None:
    with pytest.raises(ChannelError) as excinfo:
        await env.client().call("GET", "/no/such/api", access_token=env.account["access_token"])
    assert (excinfo.value.code, excinfo.value.retryable) == ("InvalidApiPath", False)


# ------------------------------------------------------------------ orders


async def _walk(
    provider: LazadaMarketplace, conn: ChannelConnection, since: datetime
) -> tuple[list[Any], int]:
    seen: list[Any] = []
    token: str | None = None
    for pages in range(1, 200):
        page = await provider.fetch_orders(conn, updated_since=since, page_token=token)
        seen += page.orders
        token = page.next_page_token
        if token is None:
            return seen, pages
    raise AssertionError("the walk did not end")


async def test_orders_are_walked_by_update_time_with_resumable_tokens(env: Env) -> None:
    for sku in ("A-1", "B-2", "C-3"):
        env.emulator.add_product(env.account, sku)
    ids = env.emulator.generate_orders(env.account, 230, seed=5)
    calls: list[str] = []

    async def limiter(operation: str) -> None:
        calls.append(operation)

    provider = LazadaMarketplace()
    conn = env.conn(limiter=limiter)
    since = datetime.now(UTC) - timedelta(days=4)
    orders, pages = await _walk(provider, conn, since)
    assert {o.external_id for o in orders} == set(ids)
    assert pages >= 3 and {"GetOrders", "GetMultipleOrderItems"} <= set(calls)
    # a token is all a resumed walk needs
    first = await provider.fetch_orders(conn, updated_since=since, page_token=None)
    assert first.next_page_token is not None
    state = json.loads(first.next_page_token)
    assert set(state) >= {"after", "offset"}
    rest, _ = await _walk_from(provider, conn, since, first.next_page_token)
    assert {o.external_id for o in [*first.orders, *rest]} == set(ids)
    # updated_at ascending across pages: the core applies them in order
    stamps = [o.updated_at for o in first.orders]
    assert max(stamps) <= min(o.updated_at for o in rest) + timedelta(seconds=1)


async def _walk_from(
    provider: LazadaMarketplace, conn: ChannelConnection, since: datetime, token: str
) -> tuple[list[Any], int]:
    seen: list[Any] = []
    current: str | None = token
    pages = 0
    while current is not None:
        page = await provider.fetch_orders(conn, updated_since=since, page_token=current)
        seen += page.orders
        current = page.next_page_token
        pages += 1
    return seen, pages


async def test_duplicate_and_shuffled_pages_lose_nothing() -> None:
    """600 orders updated within the same second: the walk must step by offset, and the
    emulator serves the previous page again or shuffles rows on every page."""
    emulator = LazadaSellerEmulator(Faults(duplicate_page=0.5, shuffle_pages=True, seed=7))
    account = emulator.open_account("SG")
    emulator.add_product(account, "DENSE-1")
    stamp = int(time.time()) - 600
    for i in range(600):
        emulator.add_order(account, f"9{i:05d}", [("DENSE-1", 1, "4.50")], updated=stamp)
    emulator.add_order(account, "LATER-1", [("DENSE-1", 2, "4.50")], updated=stamp + 100)
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials=account,
            base_url=base,
            http=emulator_http(),
        )
        orders, _ = await _walk(LazadaMarketplace(), conn, datetime.fromtimestamp(stamp - 60, UTC))
    assert {o.external_id for o in orders} == set(emulator.orders)
    assert emulator.injected["duplicate_page"] > 0


async def test_orders_map_to_crossdock_terms(env: Env) -> None:
    emu = env.emulator
    emu.add_product(env.account, "TEE-M")
    emu.add_product(env.account, "CAP-1")
    emu.add_order(env.account, "1001", [("TEE-M", 3, "19.90"), ("CAP-1", 1, "9.00")], shipping_fee="2.50")
    emu.add_order(env.account, "1002", [("TEE-M", 1, "19.90")], fbl=True, status="shipped")
    emu.add_order(env.account, "1003", [("CAP-1", 2, "9.00")])
    emu.cancel_order(env.account, "1003")
    emu.add_order(env.account, "1004", [("TEE-M", 2, "19.90")], status="unpaid")
    emu.add_order(env.account, "1005", [("TEE-M", 1, "19.90"), ("CAP-1", 1, "9.00")], status="delivered")
    cap = next(i["order_item_id"] for i in emu.orders["1005"]["_items"] if i["sku"] == "CAP-1")
    emu.set_status("1005", "returned", [cap])
    emu.add_order(env.account, "1006", [("TEE-M", 2, "19.90")])
    emu.set_status("1006", "canceled", [emu.orders["1006"]["_items"][0]["order_item_id"]])

    provider = LazadaMarketplace()
    orders = {
        o.external_id: o for o in (await _walk(provider, env.conn(), datetime.now(UTC) - timedelta(1)))[0]
    }
    first = orders["1001"]
    assert (first.status, first.channel_status, first.payment_status) == ("pending", "pending", "paid")
    assert first.total == Money(Decimal("71.20"), "SGD")  # 3 x 19.90 + 9.00 + 2.50 shipping
    assert [(line.sku, line.quantity, line.unit_price) for line in first.lines] == [
        ("TEE-M", 3, Money(Decimal("19.90"), "SGD")),
        ("CAP-1", 1, Money(Decimal("9.00"), "SGD")),
    ]
    assert first.ship_by is not None and first.ship_by > first.placed_at
    assert first.updated_at.tzinfo is not None and abs(first.updated_at - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    assert first.shipping_address is not None and first.shipping_address.country == "SG"
    assert first.buyer_name == "Tan Wei" and not first.fulfilled_by_channel
    assert (orders["1002"].status, orders["1002"].fulfilled_by_channel) == ("shipped", True)
    assert (orders["1003"].status, orders["1003"].channel_status) == ("cancelled", "canceled")
    assert orders["1003"].lines[0].quantity == 2  # a cancelled order keeps its lines
    assert (orders["1004"].status, orders["1004"].payment_status) == ("pending", "pending")
    assert (orders["1005"].status, orders["1005"].channel_status) == ("delivered", "delivered,returned")
    partly = orders["1006"]  # one of two units cancelled: one left to ship
    assert (partly.status, partly.lines[0].quantity) == ("pending", 1)

    single = await provider.fetch_order(env.conn(), "1001")
    assert (single.external_id, single.total, len(single.lines)) == ("1001", first.total, 2)
    with pytest.raises(ChannelError) as excinfo:
        await provider.fetch_order(env.conn(), "404")
    assert excinfo.value.retryable is False


async def test_sites_use_their_currency_and_time_zone() -> None:
    emulator = LazadaSellerEmulator()
    account = emulator.open_account("VN")
    emulator.add_product(account, "PHO-1")
    emulator.add_order(account, "77", [("PHO-1", 2, "125000")])
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="VN",
            currency="VND",
            credentials=account,
            base_url=base,
            http=emulator_http(),
        )
        order = await LazadaMarketplace().fetch_order(conn, "77")
    assert order.total == Money(Decimal("250000"), "VND")
    assert emulator.orders["77"]["_items"][0]["currency"] == "VND"
    assert "+0700" in order.raw["order"]["updated_at"]
    assert abs(order.updated_at - datetime.now(UTC)) < timedelta(minutes=1)


# ------------------------------------------------------------------ fulfilment


async def test_confirmation_with_the_sellers_tracking_number(env: Env) -> None:
    """Issue 15, points 5 and 11: Lazada ships dropship orders on its own line, so the
    seller's number is not sent (tracking_number is no pack field) and Lazada's is returned
    for the core to record."""
    env.emulator.add_product(env.account, "BOX-1")
    env.emulator.add_order(env.account, "2001", [("BOX-1", 2, "10.00")])
    provider = LazadaMarketplace()
    confirmation = ShipmentConfirmation(
        order_external_id="2001", carrier="Ninja Van", tracking_number="NV123", shipped_at=datetime.now(UTC)
    )
    assigned = await provider.confirm_shipment(env.conn(), confirmation)
    assert assigned and assigned.startswith("LZSG")
    assert env.emulator.status("2001") == ["ready_to_ship", "ready_to_ship"]
    assert env.emulator.tracking_number(env.account, "2001") == assigned
    [pack] = env.emulator.packs
    assert "tracking_number" not in pack and "shipment_provider_code" not in pack
    assert pack["shipping_allocate_type"] == "TFS"
    packs = env.emulator.requests["/order/fulfill/pack"]
    # a retry of a confirmation that went through succeeds and changes nothing
    assert await provider.confirm_shipment(env.conn(), confirmation) == assigned
    assert env.emulator.requests["/order/fulfill/pack"] == packs


async def test_confirmation_where_lazada_assigns_the_tracking_number(env: Env) -> None:
    env.emulator.add_product(env.account, "BOX-1")
    env.emulator.add_product(env.account, "BOX-2")
    env.emulator.add_order(env.account, "2002", [("BOX-1", 2, "10.00"), ("BOX-2", 1, "3.00")])
    provider = LazadaMarketplace()
    order = await provider.fetch_order(env.conn(), "2002")
    box1 = next(line for line in order.lines if line.sku == "BOX-1")
    confirmation = ShipmentConfirmation(
        order_external_id="2002",
        carrier="",
        tracking_number="",
        shipped_at=datetime.now(UTC),
        lines=[(box1.external_id, 2)],
    )
    assigned = await provider.confirm_shipment(env.conn(), confirmation)
    assert assigned and assigned.startswith("LZSG")
    assert sorted(env.emulator.status("2002")) == ["pending", "ready_to_ship", "ready_to_ship"]
    assert await provider.confirm_shipment(env.conn(), confirmation) == assigned  # same answer on retry
    # a half-done confirmation (packed, not yet ready to ship) is finished by the retry
    env.emulator.add_order(env.account, "2003", [("BOX-2", 1, "3.00")])
    item = env.emulator.orders["2003"]["_items"][0]
    item.update(status="packed", package_id="FP1", tracking_code="LZSG42")
    again = replace(confirmation, order_external_id="2003", lines=())
    assert await provider.confirm_shipment(env.conn(), again) == "LZSG42"
    assert env.emulator.status("2003") == ["ready_to_ship"]


async def test_a_cancelled_order_cannot_be_confirmed(env: Env) -> None:
    env.emulator.add_product(env.account, "BOX-1")
    env.emulator.add_order(env.account, "2004", [("BOX-1", 1, "10.00")])
    env.emulator.cancel_order(env.account, "2004")
    confirmation = ShipmentConfirmation(
        order_external_id="2004", carrier="X", tracking_number="T1", shipped_at=datetime.now(UTC)
    )
    with pytest.raises(ChannelError) as excinfo:
        await LazadaMarketplace().confirm_shipment(env.conn(), confirmation)
    assert excinfo.value.retryable is False


# ------------------------------------------------------------------ stock and price


async def test_stock_and_prices_are_pushed_in_chunks_of_fifty(env: Env) -> None:
    external = {f"S-{i:03d}": env.emulator.add_product(env.account, f"S-{i:03d}") for i in range(120)}
    payloads: list[str] = []
    original = env.emulator._price_quantity_update

    async def spy(request: Request) -> Reply:
        payloads.append(env.emulator._params(request)["payload"])
        return await original(request)

    env.emulator.route("POST", "/product/price_quantity/update", spy)
    provider = LazadaMarketplace()
    updates = [StockUpdate(sku, i, external_id=ext) for i, (sku, ext) in enumerate(external.items())]
    updates.append(StockUpdate("UNKNOWN", 4))
    results = await provider.push_stock(env.conn(), updates)
    assert len(payloads) == 3
    assert [r.accepted for r in results] == [True] * 120 + [False]
    assert results[-1].channel_sku == "UNKNOWN" and results[-1].message == "SellerSku: SELLER_SKU_NOT_FOUND"
    assert env.emulator.stock(env.account, "S-007") == 7
    sku = ET.fromstring(payloads[0]).find("./Product/Skus/Sku")
    assert sku is not None
    item_id, sku_id = external["S-000"].split(":")
    assert [(e.tag, e.text) for e in sku] == [
        ("ItemId", item_id),
        ("SkuId", sku_id),
        ("SellerSku", "S-000"),
        ("Quantity", "0"),
    ]

    prices = await provider.push_prices(
        env.conn(),
        [
            PriceUpdate("S-001", Money.of("12.9", "SGD"), external_id=external["S-001"]),
            PriceUpdate("S-002", Money.of("7.5", "MYR")),
        ],
    )
    assert [(r.channel_sku, r.accepted) for r in prices] == [("S-001", True), ("S-002", False)]
    assert env.emulator.price(env.account, "S-001") == "12.90"
    assert "<Price>12.90</Price>" in payloads[-1]


async def test_a_push_with_an_expired_token_asks_for_a_refresh(env: Env) -> None:
    env.emulator.add_product(env.account, "S-1")
    env.emulator.expire_tokens()
    with pytest.raises(ChannelError) as excinfo:
        await LazadaMarketplace().push_stock(env.conn(), [StockUpdate("S-1", 1)])
    assert excinfo.value.code == ChannelError.AUTH_EXPIRED


# ------------------------------------------------------------------ buyer messages (IM)


async def _walk_messages(
    provider: LazadaMarketplace, conn: ChannelConnection, since: datetime, token: str | None = None
) -> tuple[list[ChannelMessage], int]:
    seen: list[ChannelMessage] = []
    for pages in range(1, 100):
        page = await provider.fetch_messages(conn, updated_since=since, page_token=token)
        seen += page.messages
        token = page.next_page_token
        if token is None:
            return seen, pages
    raise AssertionError("the walk did not end")


def _age(emulator: LazadaSellerEmulator, account: dict[str, Any], buyer: str, days: float) -> None:
    """Move a buyer's whole conversation ``days`` into the past."""
    session = emulator.session_for(account["seller_id"], buyer)
    shift = int(days * 86400 * 1000)
    for message in session["_messages"]:
        message["send_time"] -= shift
    session["last_message_time"] -= shift


async def test_im_sessions_and_messages_are_walked_back_with_resumable_tokens(env: Env) -> None:
    emu, account = env.emulator, env.account
    for i in range(45):  # more sessions than one page (20)
        emu.buyer_writes(account, f"buyer{i:02d}", f"hello from {i}")
    emu.buyer_writes(account, "old-timer", "ancient question")
    _age(emu, account, "old-timer", days=3)
    emu.buyer_writes(account, "chatty", "first, about my order", "ORD-9")
    for i in range(48):  # more messages than one page
        emu.buyer_writes(account, "chatty", f"line {i}")
    emu.seller_writes(account, "chatty", "answered from Seller Center")
    calls: list[str] = []

    async def limiter(operation: str) -> None:
        calls.append(operation)

    provider = LazadaMarketplace()
    conn = env.conn(limiter=limiter)
    since = datetime.now(UTC) - timedelta(hours=1)
    messages, pages = await _walk_messages(provider, conn, since)
    assert pages == 3
    by_thread: dict[str, list[ChannelMessage]] = {}
    for message in messages:
        by_thread.setdefault(message.thread_id, []).append(message)
    assert len(by_thread) == 46  # 45 buyers and chatty; old-timer wrote before the time
    assert "ancient question" not in {m.text for m in messages}
    assert len({m.external_id for m in messages}) == len(messages) == 45 + 50

    chatty = sorted(
        next(v for v in by_thread.values() if v[0].buyer_name == "chatty"), key=lambda m: m.sent_at
    )
    assert [m.text for m in chatty[:2]] == ["first, about my order", "line 0"]
    assert (chatty[-1].text, chatty[-1].from_buyer) == ("answered from Seller Center", False)
    assert all(m.order_external_id == "ORD-9" for m in chatty)  # the order card is no message
    assert all(m.from_buyer for m in chatty[:-1])
    first = chatty[0]
    session = emu.session_for(account["seller_id"], "chatty")
    assert (first.thread_id, first.buyer_id) == (session["session_id"], str(session["buyer_id"]))
    assert first.sent_at.tzinfo is not None and abs(first.sent_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert first.sent_at.timestamp() * 1000 == pytest.approx(session["_messages"][1]["send_time"])
    assert {"GetSessionList", "GetMessages"} <= set(calls)
    # the old session was never opened
    assert emu.requests["/im/message/list"] == 46 + 2  # chatty's 50 messages take three pages

    # a token is all a resumed walk needs
    head = await provider.fetch_messages(conn, updated_since=since, page_token=None)
    assert head.next_page_token is not None
    assert set(json.loads(head.next_page_token)) == {"start", "last"}
    rest, _ = await _walk_messages(provider, conn, since, head.next_page_token)
    assert {m.external_id for m in [*head.messages, *rest]} == {m.external_id for m in messages}


async def test_im_duplicate_and_shuffled_pages_lose_nothing() -> None:
    emulator = LazadaSellerEmulator(Faults(duplicate_page=0.5, shuffle_pages=True, seed=5))
    account = emulator.open_account("SG")
    for i in range(70):
        emulator.buyer_writes(account, f"b{i}", f"question {i}")
    for i in range(65):
        emulator.buyer_writes(account, "b3", f"more {i}")
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials=account,
            base_url=base,
            http=emulator_http(),
        )
        messages, _ = await _walk_messages(LazadaMarketplace(), conn, datetime.now(UTC) - timedelta(hours=1))
    texts = {m.text for m in messages}
    assert texts == {f"question {i}" for i in range(70)} | {f"more {i}" for i in range(65)}
    assert emulator.injected["duplicate_page"] > 0


async def test_im_walk_survives_failing_requests() -> None:
    emulator = LazadaSellerEmulator(Faults.failing(0.3, seed=21))
    emulator.faults.timeout_seconds = 0.5
    account = emulator.open_account("MY")
    for i in range(30):
        emulator.buyer_writes(account, f"b{i}", f"q{i}")
        emulator.buyer_writes(account, f"b{i}", f"r{i}")
    provider = LazadaMarketplace()
    since = datetime.now(UTC) - timedelta(hours=1)
    seen: set[str] = set()
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="MY",
            currency="MYR",
            credentials=account,
            base_url=base,
            settings={"timeout": 0.2},
            http=emulator_http(),
        )
        token: str | None = None
        for _ in range(200):  # as the core does: retry a failed page with the same token
            try:
                page = await provider.fetch_messages(conn, updated_since=since, page_token=token)
            except ChannelError as exc:
                if not exc.retryable:
                    raise
                continue
            seen |= {m.text for m in page.messages}
            token = page.next_page_token
            if token is None:
                break
    assert token is None
    assert seen == {f"q{i}" for i in range(30)} | {f"r{i}" for i in range(30)}
    assert sum(emulator.injected.values()) > 5


async def test_im_templates_map_to_text(env: Env) -> None:
    emu, account = env.emulator, env.account
    seller_id = account["seller_id"]
    session = emu.session_for(seller_id, "pat")
    emu.post_im(seller_id, session, 1, 3, {"imgUrl": "https://img.example/1.jpg", "width": 10})
    emu.post_im(seller_id, session, 2, 1, {"txt": "Thanks for visiting!"}, auto_reply=True)
    emu.post_im(seller_id, session, 1, 10006, {"itemId": "3000", "title": "Tee"})
    emu.post_im(seller_id, session, 1, 4, {"txt": "[smile]"})
    system = emu.post_im(seller_id, session, 1, 1, {"txt": "system notice"})
    system["type"] = 2
    messages, _ = await _walk_messages(LazadaMarketplace(), env.conn(), datetime.now(UTC) - timedelta(1))
    assert [(m.text, m.from_buyer) for m in sorted(messages, key=lambda m: m.sent_at)] == [
        ("[image]", True),
        ("[product]", True),
        ("[smile]", True),
    ]  # an automatic reply is no answer; system messages are left out
    assert [m.raw["template_id"] for m in sorted(messages, key=lambda m: m.sent_at)] == [3, 10006, 4]


async def test_send_message_reaches_the_buyer_and_comes_back_as_a_reply(env: Env) -> None:
    emu, account = env.emulator, env.account
    emu.buyer_writes(account, "amy", "Where is my parcel?", "1001")
    thread = emu.session_for(account["seller_id"], "amy")["session_id"]
    calls: list[str] = []

    async def limiter(operation: str) -> None:
        calls.append(operation)

    provider = LazadaMarketplace()
    conn = env.conn(limiter=limiter)
    sent = await provider.send_message(conn, OutgoingMessage(thread_id=thread, text="On its way, sorry!"))
    assert sent and calls == ["SendMessage"]
    assert emu.messages_to(account, "amy") == ["On its way, sorry!"]
    messages, _ = await _walk_messages(provider, conn, datetime.now(UTC) - timedelta(hours=1))
    reply = next(m for m in messages if not m.from_buyer)
    assert (reply.external_id, reply.text, reply.thread_id) == (sent, "On its way, sorry!", thread)
    assert reply.buyer_name == "amy" and reply.order_external_id == "1001"


async def test_send_message_errors(env: Env) -> None:
    provider = LazadaMarketplace()
    with pytest.raises(ChannelError) as excinfo:  # the IM envelope's own refusal: permanent
        await provider.send_message(env.conn(), OutgoingMessage(thread_id="1_2_3_1_103", text="hi"))
    assert (excinfo.value.code, excinfo.value.retryable) == ("SESSION_NOT_FOUND", False)
    with pytest.raises(ChannelError) as excinfo:
        await provider.send_message(env.conn(), OutgoingMessage(thread_id="", text="hi"))
    assert excinfo.value.retryable is False
    env.emulator.buyer_writes(env.account, "ben", "Do you ship to Penang?")
    thread = env.emulator.session_for(env.account["seller_id"], "ben")["session_id"]
    with pytest.raises(ChannelError) as excinfo:
        await provider.send_message(env.conn(), OutgoingMessage(thread_id=thread, text="  "))
    assert (excinfo.value.code, excinfo.value.retryable) == ("InvalidParameter", False)
    env.emulator.expire_tokens()
    with pytest.raises(ChannelError) as excinfo:
        await provider.send_message(env.conn(), OutgoingMessage(thread_id=thread, text="Yes"))
    assert excinfo.value.code == ChannelError.AUTH_EXPIRED
    with pytest.raises(ChannelError) as excinfo:
        await provider.fetch_messages(env.conn(), updated_since=datetime.now(UTC), page_token=None)
    assert excinfo.value.code == ChannelError.AUTH_EXPIRED
    assert env.emulator.messages_to(env.account, "ben") == []


async def test_im_envelope_and_parameters(env: Env) -> None:
    token = env.account["access_token"]
    now = str(int(time.time() * 1000))
    answer = await env.client().call(
        "GET", "/im/session/list", params={"start_time": now, "page_size": 20}, access_token=token
    )
    assert answer["success"] is True and "code" not in answer  # the IM envelope
    assert answer["data"]["session_list"] == [] and answer["data"]["has_more"] is False
    for params in ({"start_time": now, "page_size": 0}, {"page_size": 10}):
        with pytest.raises(ChannelError) as excinfo:
            await env.client().call("GET", "/im/session/list", params=params, access_token=token)
        assert (excinfo.value.code, excinfo.value.retryable) == ("InvalidParameter", False)
    with pytest.raises(ChannelError) as excinfo:  # the gateway still checks the signature
        await env.client(app_secret="wrong").call(
            "GET", "/im/session/list", params={"start_time": now, "page_size": 5}, access_token=token
        )
    assert excinfo.value.code == "IncompleteSignature"


class _RefusingEmulator(LazadaSellerEmulator):
    """An IM refusal with the gateway's ``code: "0"`` and the IM ``success: false``."""

    async def _session_list(self, request: Request) -> Reply:
        return Reply(200, {"code": "0", "success": False, "err_code": "", "err_message": "no IM access"})


async def test_an_im_refusal_under_code_zero_is_an_error() -> None:
    emulator = _RefusingEmulator()
    account = emulator.open_account("TH")
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="TH",
            currency="THB",
            credentials=account,
            base_url=base,
            http=emulator_http(),
        )
        with pytest.raises(ChannelError) as excinfo:
            await LazadaMarketplace().fetch_messages(conn, updated_since=datetime.now(UTC), page_token=None)
    assert (excinfo.value.code, excinfo.value.retryable) == ("IM_ERROR", False)
    assert "no IM access" in str(excinfo.value)
