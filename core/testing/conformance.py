"""The conformance suite every marketplace plugin runs against its own emulator.

One import and one small subclass::

    from crossdock.testing.conformance import MarketplaceConformance

    class TestMyShopConformance(MarketplaceConformance):
        channel = "myshop"
        site = "SG"

        def make_emulator(self, faults):
            return MyShopEmulator(faults)

The emulator must satisfy :class:`EmulatorHandle` (the kit's :class:`~crossdock.testing.
emulator.Emulator` plus a few seller-side helpers). Every test talks to it over real HTTP
on loopback through the plugin's own client, with Crossdock's real jobs and database (each
test runs on SQLite and on PostgreSQL): full sync, incremental sync, faults survived,
idempotent re-sync, shipment confirmation, stock and price push, token refresh, buyer
messages. A test whose capability the provider does not declare is skipped, not failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pytest
from sqlalchemy import func, select

from crossdock.bootstrap import App
from crossdock.db.models import Connection, Conversation, Listing, Message, Order, Shipment, Variant
from crossdock.errors import ChannelError
from crossdock.jobs import JOBS
from crossdock.providers import MarketplaceCapability
from crossdock.services import catalog, connections, fulfilment, inventory, messaging
from crossdock.services.availability import available_to_sell
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import TestTenant

__all__ = ["EmulatorHandle", "MarketplaceConformance", "sync_to_the_end", "until_done"]

T = TypeVar("T")
SKUS = ("CONF-1", "CONF-2")


class EmulatorHandle(Protocol):
    """What the suite needs from an emulator besides serving its API (an ASGI callable)."""

    faults: Faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def open_account(self, site: str) -> Mapping[str, Any]:
        """A seller account on ``site``; returns the connection credentials."""

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        """A sellable SKU; returns the listing's external id on the channel."""

    def add_order(
        self, account: Mapping[str, Any], external_id: str, lines: Sequence[tuple[str, int, str]]
    ) -> None:
        """A new paid order waiting for the seller to ship ``(sku, quantity, price)`` lines."""

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        """A realistic mix of ``count`` orders over the seller's products; returns their ids."""

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        """The buyer cancels (the order's update time moves on)."""

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None: ...

    def stock(self, account: Mapping[str, Any], sku: str) -> int: ...

    def price(self, account: Mapping[str, Any], sku: str) -> str | None:
        """The SKU's price on the channel, as a decimal string with two places."""

    def expire_tokens(self) -> None:
        """Every access token stops working now."""

    # Needed only by channels declaring messages.read / messages.send:

    def buyer_writes(
        self, account: Mapping[str, Any], buyer: str, text: str, order_external_id: str | None = None
    ) -> None:
        """Buyer ``buyer`` (a name) writes to the seller, about an order if given."""

    def messages_to(self, account: Mapping[str, Any], buyer: str) -> list[str]:
        """The texts the seller has sent ``buyer``, oldest first."""


async def until_done(job: Callable[[], Awaitable[T]], attempts: int = 80) -> T:
    """Run a job as the runners do: retry transient channel errors, nothing else."""
    for _ in range(attempts):
        try:
            return await job()
        except ChannelError as exc:
            if not exc.retryable:
                raise
            await asyncio.sleep(min(exc.retry_after or 0.01, 0.05))
    raise AssertionError(f"job still failing after {attempts} attempts")


async def sync_to_the_end(
    app: App, tenant_id: int, connection_id: int, runs: int = 50, resource: str = "orders"
) -> dict[str, int]:
    """Run ``sync_<resource>`` (and the continuations a runner would run) until the
    connection's cursor for it has no page left; returns the summed counts."""
    totals: dict[str, int] = {"created": 0, "updated": 0, "ignored": 0, "pages": 0}
    ctx = app.job_context()
    for _ in range(runs):
        result = await until_done(
            lambda: JOBS[f"sync_{resource}"](ctx, tenant_id=tenant_id, connection_id=connection_id)
        )
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + int(value)
        async with app.db.tenant(tenant_id) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
            assert conn is not None
            if "page_token" not in (conn.sync_state.get(resource) or {}):
                return totals
    raise AssertionError("sync did not finish")


@dataclass
class Setup:
    app: App
    tenant: TestTenant
    emulator: EmulatorHandle
    account: Mapping[str, Any]
    connection_id: int
    warehouse_id: int

    def job(self, name: str, **kwargs: Any) -> Callable[[], Awaitable[Any]]:
        ctx = self.app.job_context()
        return lambda: JOBS[name](ctx, tenant_id=self.tenant.id, **kwargs)

    async def sync(self, resource: str = "orders") -> dict[str, int]:
        return await sync_to_the_end(self.app, self.tenant.id, self.connection_id, resource=resource)

    async def conversations(self) -> dict[str | None, tuple[Conversation, list[Message]]]:
        """Conversations by buyer name, each with its messages oldest first."""
        async with self.app.db.tenant(self.tenant.id) as session:
            found = {}
            for conversation in (await session.scalars(select(Conversation))).all():
                messages = await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation.id)
                    .order_by(Message.sent_at, Message.id)
                )
                found[conversation.buyer_name] = (conversation, list(messages.all()))
            return found

    async def orders(self) -> dict[str, Order]:
        async with self.app.db.tenant(self.tenant.id) as session:
            return {o.external_id: o for o in (await session.scalars(select(Order))).all()}


class MarketplaceConformance:
    """Subclass with ``channel``, ``site`` and ``make_emulator``; see the module doc."""

    channel: str = ""
    site: str = ""
    #: extra connection settings the plugin needs (timeouts, webhook URL, ...)
    settings: Mapping[str, Any] = {"timeout": 0.5}

    def make_emulator(self, faults: Faults) -> EmulatorHandle:
        raise NotImplementedError("return your emulator, built with these faults")

    def _require(self, app: App, capability: MarketplaceCapability) -> None:
        if capability not in app.plugins.marketplace(self.channel).capabilities:
            pytest.skip(f"{self.channel} does not declare {capability}")

    @asynccontextmanager
    async def connected(
        self, app: App, tenant_factory: Any, faults: Faults | None = None
    ) -> AsyncIterator[Setup]:
        emulator = self.make_emulator(faults or Faults())
        async with serve(emulator) as base_url:
            account = emulator.open_account(self.site)
            listing_ids = {sku: emulator.add_product(account, sku, stock=0) for sku in SKUS}
            tenant = await tenant_factory()
            async with app.unit_of_work(tenant.id, tenant.slug) as uow:
                session = uow.session
                await catalog.create_product(
                    session, title="Conformance", variants=[catalog.VariantSpec(sku=s) for s in SKUS]
                )
                provider = app.plugins.marketplace(self.channel)
                country = next((s.country for s in provider.sites() if s.code == self.site), self.site)
                wh = await inventory.create_warehouse(
                    session, code="CONF", name="Conformance", country=country
                )
                variants = {v.sku: v.id for v in (await session.scalars(select(Variant))).all()}
                for variant_id in variants.values():
                    await inventory.receive_stock(
                        uow, variant_id=variant_id, warehouse_id=wh.id, quantity=5000
                    )
                conn = await connections.create_connection(
                    session,
                    app.plugins,
                    app.vault,
                    policy=app.http.policy,
                    channel=self.channel,
                    name="conformance",
                    site=self.site,
                    credentials=dict(account),
                    base_url=base_url,
                    settings=dict(self.settings),
                )
                for sku, external_id in listing_ids.items():
                    session.add(
                        Listing(
                            connection_id=conn.id,
                            variant_id=variants[sku],
                            channel_sku=sku,
                            external_id=external_id,
                        )
                    )
            yield Setup(app, tenant, emulator, account, conn.id, wh.id)

    # ------------------------------------------------------------------ the suite

    async def test_full_sync(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ORDERS_SYNC)
        async with self.connected(app, tenant_factory) as setup:
            ids = setup.emulator.generate_orders(setup.account, 120, seed=1)
            await setup.sync()
            orders = await setup.orders()
            assert set(orders) == set(ids)
            mapped = [o for o in orders.values() if o.status not in ("cancelled",)]
            assert mapped, "some orders should be live"

    async def test_incremental_sync(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ORDERS_SYNC)
        async with self.connected(app, tenant_factory) as setup:
            setup.emulator.add_order(setup.account, "INC-1", [(SKUS[0], 2, "10.00")])
            await setup.sync()
            assert (await setup.orders())["INC-1"].status == "allocated"
            await asyncio.sleep(1.1)  # channels stamp update times to the second
            setup.emulator.cancel_order(setup.account, "INC-1")
            setup.emulator.add_order(setup.account, "INC-2", [(SKUS[1], 1, "5.00")])
            await setup.sync()
            orders = await setup.orders()
            assert (orders["INC-1"].status, orders["INC-2"].status) == ("cancelled", "allocated")

    async def test_faults_are_survived(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ORDERS_SYNC)
        async with self.connected(app, tenant_factory, Faults.failing(0.2, seed=3)) as setup:
            ids = setup.emulator.generate_orders(setup.account, 250, seed=2)
            await setup.sync()
            assert set(await setup.orders()) == set(ids)

    async def test_resync_is_idempotent(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ORDERS_SYNC)
        async with self.connected(app, tenant_factory) as setup:
            setup.emulator.generate_orders(setup.account, 40, seed=4)
            await setup.sync()
            before = {k: (o.status, o.channel_updated_at) for k, o in (await setup.orders()).items()}
            async with setup.app.db.write(
                setup.tenant.id
            ) as session:  # forget the cursor: re-read everything
                conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
                assert conn is not None
                conn.sync_state = {}
            result = await setup.sync()
            assert result["created"] == 0
            after = {k: (o.status, o.channel_updated_at) for k, o in (await setup.orders()).items()}
            assert after == before

    async def test_shipment_confirmation(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.SHIPMENTS_CONFIRM)
        async with self.connected(app, tenant_factory) as setup:
            setup.emulator.add_order(setup.account, "SHIP-1", [(SKUS[0], 1, "12.00")])
            await setup.sync()
            order = (await setup.orders())["SHIP-1"]
            async with setup.app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
                session = uow.session
                shipment = await fulfilment.pack_shipment(
                    session,
                    order.id,
                    setup.warehouse_id,
                    carrier="Conformance Post",
                    tracking_number="CONF123456",
                )
                await fulfilment.ship_shipment(uow, shipment.id)
            outcome = await until_done(setup.job("confirm_shipment", shipment_id=shipment.id))
            assert outcome == "confirmed"
            async with setup.app.db.tenant(setup.tenant.id) as session:
                recorded = await session.scalar(
                    select(Shipment.tracking_number).where(Shipment.id == shipment.id)
                )
            # the seller's number, or the one a channel booking its own carrier assigned
            assert recorded
            assert setup.emulator.tracking_number(setup.account, "SHIP-1") == recorded
            # a retry of a confirmation that already went through is harmless
            async with setup.app.db.write(setup.tenant.id) as session:
                row = await session.scalar(select(Shipment).where(Shipment.id == shipment.id))
                assert row is not None
                row.confirmed_at = None
            assert await until_done(setup.job("confirm_shipment", shipment_id=shipment.id)) == "confirmed"

    async def test_stock_push(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.STOCK_PUSH)
        async with self.connected(app, tenant_factory) as setup:
            await until_done(setup.job("push_stock", connection_id=setup.connection_id))
            async with setup.app.db.tenant(setup.tenant.id) as session:
                conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
                assert conn is not None
                ats = await available_to_sell(session, conn)
                expected = {
                    row.channel_sku: ats[row.id] for row in (await session.scalars(select(Listing))).all()
                }
            assert {sku: setup.emulator.stock(setup.account, sku) for sku in SKUS} == expected
            assert expected[SKUS[0]] == 5000
            again = await until_done(setup.job("push_stock", connection_id=setup.connection_id))
            assert again["pushed"] == 0  # nothing changed, nothing sent

    async def test_price_push(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.PRICE_PUSH)
        from crossdock.money import Money
        from crossdock.services import listings

        async with self.connected(app, tenant_factory) as setup:
            async with setup.app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
                session = uow.session
                conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
                assert conn is not None
                rows = (await session.scalars(select(Listing).order_by(Listing.channel_sku))).all()
                for row, amount in zip(rows, ("12.90", "7.50"), strict=True):
                    await listings.update_listing(uow, row.id, price=Money.of(amount, conn.currency))
            result = await until_done(setup.job("push_prices", connection_id=setup.connection_id))
            assert result["pushed"] == 2
            assert [setup.emulator.price(setup.account, sku) for sku in SKUS] == ["12.90", "7.50"]
            again = await until_done(setup.job("push_prices", connection_id=setup.connection_id))
            assert again["pushed"] == 0

    async def test_token_refresh(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.CREDENTIALS_REFRESH)
        async with self.connected(app, tenant_factory) as setup:
            setup.emulator.add_order(setup.account, "TOK-1", [(SKUS[0], 1, "3.00")])
            setup.emulator.expire_tokens()
            await setup.sync()
            assert "TOK-1" in await setup.orders()
            async with setup.app.db.tenant(setup.tenant.id) as session:
                conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
                assert conn is not None
                saved = setup.app.vault.decrypt(conn.credentials_encrypted)
                assert conn.status == "active"
            assert saved != dict(setup.account)  # the new tokens were stored
            async with setup.app.db.tenant(setup.tenant.id) as session:
                count = await session.scalar(select(func.count(Order.id)))
            assert count == 1

    async def test_buyer_messages(self, app: App, tenant_factory: Any) -> None:
        """Buyer messages arrive as conversations awaiting a reply, through faults; a reply
        reaches the buyer once and is recognised when the channel lists it back."""
        self._require(app, MarketplaceCapability.MESSAGES_READ)
        async with self.connected(app, tenant_factory, Faults.failing(0.2, seed=11)) as setup:
            setup.emulator.add_order(setup.account, "MSG-1", [(SKUS[0], 1, "9.90")])
            await setup.sync()
            setup.emulator.buyer_writes(setup.account, "amy", "Where is my parcel?", "MSG-1")
            setup.emulator.buyer_writes(setup.account, "amy", "It has been three days.")
            setup.emulator.buyer_writes(setup.account, "ben", "Do you ship to Penang?")
            await setup.sync("messages")
            threads = await setup.conversations()
            assert set(threads) == {"amy", "ben"}
            amy, amy_messages = threads["amy"]
            assert [m.body for m in amy_messages] == ["Where is my parcel?", "It has been three days."]
            assert amy.status == "awaiting_reply"
            assert amy.reply_due_at is not None
            assert amy.order_external_id == "MSG-1"
            await setup.sync("messages")  # the overlap re-reads: nothing is stored twice
            assert len((await setup.conversations())["amy"][1]) == 2
            if MarketplaceCapability.MESSAGES_SEND not in app.plugins.marketplace(self.channel).capabilities:
                return
            async with app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
                reply = await messaging.reply(uow, amy.id, text="It ships today, sorry!")
            assert await until_done(setup.job("send_message", message_id=reply.id)) == "sent"
            assert await until_done(setup.job("send_message", message_id=reply.id)) == "done"
            assert setup.emulator.messages_to(setup.account, "amy") == ["It ships today, sorry!"]
            await setup.sync("messages")
            amy, amy_messages = (await setup.conversations())["amy"]
            assert [(m.direction, m.delivery) for m in amy_messages] == [
                ("inbound", None),
                ("inbound", None),
                ("outbound", "sent"),
            ]
            assert amy.status == "answered"
