"""The plumbing around every channel call (crossdock.jobs.channel): a paused connection is
left alone, an operation the channel cannot do is refused with a typed error (kept where
the job keeps its state), an expired token is refreshed once and saved, and a channel's
error lands on the connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

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
from crossdock.db.models import Connection, ConnectionStatus, Event, Listing, Order, Shipment
from crossdock.errors import NotSupported
from crossdock.jobs import JOBS
from crossdock.jobs.channel import open_channel
from crossdock.services import connections, fulfilment


class Tokens(MarketplaceBase):
    """A channel whose access tokens expire: it answers only to the current one, and
    hands out a new one for the current refresh token (single use). It cannot confirm
    shipments."""

    __test__ = False

    name = "tokens"
    display_name = "Tokens"
    version = "1.0"
    capabilities = frozenset({MarketplaceCapability.ORDERS_SYNC, MarketplaceCapability.CREDENTIALS_REFRESH})

    def __init__(self) -> None:
        self.generation = 1
        self.refreshes = 0
        self.orders: list[ChannelOrder] = []
        self.answered: list[str] = []  # the access token of every call it accepted

    def sites(self) -> Sequence[Site]:
        return [Site("SG", "SG", "SGD")]

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        if conn.credentials["access_token"] != f"access-{self.generation}":
            raise ChannelError("access token expired", code=ChannelError.AUTH_EXPIRED, retryable=True)
        self.answered.append(conn.credentials["access_token"])
        return OrderPage(orders=list(self.orders), next_page_token=None)

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        if conn.credentials["refresh_token"] != f"refresh-{self.generation}":
            raise ChannelError("refresh token already used", code="AUTH", retryable=False)
        self.refreshes += 1
        self.generation += 1
        return {"access_token": f"access-{self.generation}", "refresh_token": f"refresh-{self.generation}"}


class TokensPlugin:
    def __init__(self) -> None:
        self.market = Tokens()

    @hookimpl
    def crossdock_marketplaces(self) -> list[Tokens]:
        return [self.market]


@pytest.fixture
def tokens() -> TokensPlugin:
    return TokensPlugin()


@pytest.fixture
def extra_plugins(testmarket: Any, tokens: TokensPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("tokens", tokens)]


async def _tokens_connection(shop: Any) -> int:
    """A ``tokens`` connection of the shop, holding an access token that has expired."""
    async with shop.write() as session:
        conn = await connections.create_connection(
            session,
            shop.app.plugins,
            shop.app.vault,
            channel="tokens",
            name="tokens",
            site="SG",
            credentials={"access_token": "access-0", "refresh_token": "refresh-1"},
        )
        session.add(Listing(connection_id=conn.id, variant_id=shop.variants["SKU-1"], channel_sku="T-SKU-1"))
    return int(conn.id)


async def _connection(shop: Any, connection_id: int) -> Connection:
    async with shop.read() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
        assert conn is not None
        return conn


async def _pause_all(shop: Any) -> None:
    """Leave no active connection behind for a later test's periodic syncs."""
    async with shop.write() as session:
        for conn in (await session.scalars(select(Connection))).all():
            conn.status = ConnectionStatus.PAUSED


def _order(external_id: str) -> ChannelOrder:
    now = datetime.now(UTC)
    return ChannelOrder(
        external_id=external_id,
        status="pending",
        channel_status="PENDING",
        placed_at=now - timedelta(minutes=1),
        updated_at=now,
        total=Money.of("10.00", "SGD"),
        lines=[
            ChannelOrderLine(
                external_id=f"{external_id}-1", sku="T-SKU-1", quantity=1, unit_price=Money.of("10.00", "SGD")
            )
        ],
        buyer_name="Tan Ah Kow",
        shipping_address=Address(
            name="Tan Ah Kow", line1="1 Raffles Place", postal_code="048616", country="SG"
        ),
        payment_status="paid",
    )


async def test_a_paused_connection_is_left_alone(app: Any, shop: Any) -> None:
    conn_id = shop.connections["sg"]
    shop.market.add_order("P-1", sku="sg-SKU-1")
    async with shop.write() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        assert conn is not None
        conn.status = ConnectionStatus.PAUSED
    await shop.receive("SKU-1", "SG1", 3)
    ctx = app.job_context()
    assert await open_channel(ctx, shop.tenant.id, conn_id) is None
    assert await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id) == {
        "skipped": True
    }
    assert await JOBS["push_stock"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id) == {"pushed": 0}
    assert shop.market.calls == 0
    assert shop.market.pushes == []
    # resumed, the same jobs call the channel again
    async with shop.write() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
        assert conn is not None
        conn.status = ConnectionStatus.ACTIVE
    assert (await JOBS["push_stock"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id))["pushed"] == 2
    await _pause_all(shop)


async def test_an_expired_token_is_refreshed_once_and_saved(
    app: Any, shop: Any, tokens: TokensPlugin
) -> None:
    conn_id = await _tokens_connection(shop)
    tokens.market.orders = [_order("T-1")]
    ctx = app.job_context()
    result = await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    assert result["created"] == 1
    assert tokens.market.refreshes == 1
    assert tokens.market.answered == ["access-2"]  # the call that failed, made again with the new token
    conn = await _connection(shop, conn_id)
    assert app.vault.decrypt(conn.credentials_encrypted) == {
        "access_token": "access-2",
        "refresh_token": "refresh-2",
    }
    assert conn.status == ConnectionStatus.ACTIVE
    async with shop.read() as session:
        refreshed = (
            await session.scalars(select(Event).where(Event.type == "connection.credentials_refreshed"))
        ).all()
    assert [e.subject for e in refreshed] == [f"Connection:{conn_id}"]
    # the saved token is the one used next time: no second refresh
    await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    assert tokens.market.refreshes == 1
    assert tokens.market.answered == ["access-2", "access-2"]
    await _pause_all(shop)


async def test_a_missing_capability_is_refused_with_a_typed_error(
    app: Any, shop: Any, tokens: TokensPlugin
) -> None:
    conn_id = await _tokens_connection(shop)
    tokens.market.orders = [_order("T-9")]
    ctx = app.job_context()
    with pytest.raises(NotSupported) as refused:
        await open_channel(ctx, shop.tenant.id, conn_id, needs=MarketplaceCapability.SHIPMENTS_CONFIRM)
    assert refused.value.code == "NOT_SUPPORTED"
    # through a job: the shipment keeps why it was not confirmed, and the channel is not called
    await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    answered = len(tokens.market.answered)
    async with shop.read() as session:
        order = await session.scalar(select(Order).where(Order.external_id == "T-9"))
        assert order is not None
    async with shop.write() as session:
        shipment = await fulfilment.pack_shipment(
            session, order.id, shop.warehouses["SG1"], carrier="DHL", tracking_number="T9"
        )
    async with shop.unit_of_work() as uow:
        await fulfilment.ship_shipment(uow, shipment.id)
    outcome = await JOBS["confirm_shipment"](ctx, tenant_id=shop.tenant.id, shipment_id=shipment.id)
    assert outcome == "unsupported"
    async with shop.read() as session:
        row = await session.scalar(select(Shipment).where(Shipment.id == shipment.id))
        assert row is not None
    assert row.confirm_error == "tokens cannot confirm shipments yet"
    assert row.confirmed_at is None
    assert len(tokens.market.answered) == answered
    await _pause_all(shop)


async def test_a_channel_error_is_recorded_on_the_connection(app: Any, shop: Any) -> None:
    conn_id = shop.connections["sg"]
    ctx = app.job_context()
    shop.market.fail_next = [ChannelError("slow down", code="429", retryable=True, retry_after=60)]
    with pytest.raises(ChannelError):
        await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    conn = await _connection(shop, conn_id)
    assert conn.last_error == "429: slow down"
    assert conn.status == ConnectionStatus.ACTIVE
    assert conn.throttled_until is not None
    # the wait the channel asked for holds every job back, without calling it
    calls = shop.market.calls
    with pytest.raises(ChannelError) as throttled:
        await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    assert throttled.value.code == "THROTTLED"
    assert throttled.value.retryable
    assert shop.market.calls == calls
    async with shop.write() as session:
        row = await session.scalar(select(Connection).where(Connection.id == conn_id))
        assert row is not None
        row.throttled_until = None
    shop.market.fail_next = [ChannelError("shop closed", code="SHOP_CLOSED")]
    with pytest.raises(ChannelError):
        await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    conn = await _connection(shop, conn_id)
    assert conn.last_error == "SHOP_CLOSED: shop closed"
    assert conn.status == ConnectionStatus.FAILED
    await _pause_all(shop)
