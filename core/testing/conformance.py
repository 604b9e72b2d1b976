"""The conformance suites every marketplace plugin runs against its own emulator.

One import and one small subclass per suite::

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

Four more suites, for the channels that offer them, each with its emulator protocol:
:class:`WebhookConformance` (pushes verified, stored once, processed once:
:class:`WebhookEmulator`), :class:`NotificationConformance` (a notification queue the core
drains: :class:`NotificationEmulator`), :class:`SettlementConformance` (payouts read and
reconciled order by order: :class:`SettlementEmulator`), :class:`AfterSalesConformance`
(buyers' cancellation and return requests answered on the channel, the seller's own
cancellations: :class:`AfterSalesEmulator`) and :class:`AdsConformance` (advertising and
traffic reports read by day, through reports that are not ready yet: :class:`AdsEmulator`,
:class:`TrafficEmulator`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast

import httpx
import pytest

from crossdock.bootstrap import App
from crossdock.errors import ChannelError
from crossdock.providers import CancelReason, CaseAction, CaseKind, CaseStatus, MarketplaceCapability
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.shop import Shop, build_shop, sync_to_the_end, until_done

__all__ = [
    "AdsConformance",
    "AdsEmulator",
    "AfterSalesConformance",
    "AfterSalesEmulator",
    "EmulatorHandle",
    "MarketplaceConformance",
    "MessagingEmulator",
    "NotificationConformance",
    "NotificationEmulator",
    "SettlementConformance",
    "SettlementEmulator",
    "Setup",
    "TrafficEmulator",
    "WebhookConformance",
    "WebhookEmulator",
    "sync_to_the_end",
    "until_done",
]

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
    ) -> object:
        """A new paid order waiting for the seller to ship ``(sku, quantity, price)`` lines
        (whatever the emulator returns, its own record of the order, the suite ignores)."""

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


class MessagingEmulator(EmulatorHandle, Protocol):
    """Also needed by channels declaring ``messages.read`` / ``messages.send``."""

    def buyer_writes(
        self, account: Mapping[str, Any], buyer: str, text: str, order_external_id: str | None = None
    ) -> None:
        """Buyer ``buyer`` (a name) writes to the seller, about an order if given."""

    def messages_to(self, account: Mapping[str, Any], buyer: str) -> list[str]:
        """The texts the seller has sent ``buyer``, oldest first."""


class WebhookEmulator(EmulatorHandle, Protocol):
    """For :class:`WebhookConformance` (channels declaring ``webhooks``)."""

    def signed_push(
        self, account: Mapping[str, Any], external_id: str, url: str
    ) -> tuple[Mapping[str, str], bytes]:
        """The headers and body the channel would POST to ``url`` about order
        ``external_id`` having changed, signed as the channel signs them."""


class NotificationEmulator(EmulatorHandle, Protocol):
    """For :class:`NotificationConformance` (channels declaring ``notifications``)."""

    def subscribe_notifications(
        self, account: Mapping[str, Any], base_url: str, *, valid: bool = True
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """Subscribe the seller to order changes; returns what the connection's credentials
        and settings must gain to read them (``valid=False``: credentials the queue refuses)."""

    def lose_acknowledgements(self, count: int) -> None:
        """The next ``count`` acknowledgements (deletes) fail, as if the reader crashed."""

    def redeliver(self) -> None:
        """Hand out every unacknowledged notification again (its visibility ran out)."""

    def pending_notifications(self) -> int:
        """Notifications not yet acknowledged."""


class SettlementEmulator(EmulatorHandle, Protocol):
    """For :class:`SettlementConformance` (channels declaring ``settlements``)."""

    def close_payout(self, account: Mapping[str, Any]) -> None:
        """Close the seller's open payout: it is paid, and its events are final."""


class AfterSalesEmulator(EmulatorHandle, Protocol):
    """For :class:`AfterSalesConformance` (channels declaring ``cases.sync``)."""

    def request_cancellation(self, account: Mapping[str, Any], external_id: str) -> str:
        """The buyer of unshipped order ``external_id`` asks to cancel it (the seller must
        answer); returns the case's id as the plugin reports it (``ChannelCase.external_id``)."""

    def request_return(self, account: Mapping[str, Any], external_id: str, amount: str) -> str:
        """The buyer of order ``external_id`` (the emulator ships and delivers it first if it
        has not) asks to return it for ``amount`` (a decimal string in the order's
        currency), with a reason and a photo; returns the case's id as the plugin reports it."""

    def is_cancelled(self, account: Mapping[str, Any], external_id: str) -> bool:
        """The order is cancelled on the channel."""


class Setup(Shop):
    """A :class:`~crossdock.testing.shop.Shop` connected to the suite's emulator, with the
    emulator and the seller's account on it."""

    def __init__(
        self, shop: Shop, emulator: EmulatorHandle, account: Mapping[str, Any], base_url: str
    ) -> None:
        super().__init__(shop.app, shop.tenant, shop.connection_id, shop.warehouse_id, shop.variants)
        self.emulator = emulator
        self.account = account
        self.base_url = base_url


class AdsEmulator(EmulatorHandle, Protocol):
    """For :class:`AdsConformance` (channels declaring ``ads.read``)."""

    def add_ad_activity(
        self,
        account: Mapping[str, Any],
        *,
        day: date,
        sku: str,
        impressions: int,
        clicks: int,
        spend: str,
        orders: int,
        sales: str,
        keyword: str | None = None,
    ) -> str:
        """Advertising of ``sku`` on ``day`` (one sponsored-products-like campaign per SKU,
        made or reused, with a daily budget), added to what the day already has; ``keyword``
        is the target the clicks came through, where the channel targets keywords. Returns
        the campaign's id on the channel."""

    def revise_ad_activity(
        self, account: Mapping[str, Any], *, day: date, sku: str, orders: int, sales: str
    ) -> None:
        """The channel's attribution moves on: ``sku``'s attributed orders and sales on
        ``day`` are now these (a report made later shows them)."""


class TrafficEmulator(EmulatorHandle, Protocol):
    """For the traffic test of :class:`AdsConformance` (channels declaring ``traffic.read``)."""

    def add_traffic(
        self, account: Mapping[str, Any], *, day: date, sku: str, sessions: int, page_views: int
    ) -> None:
        """Visits to ``sku``'s listing on ``day`` (added to the day's figures)."""


class _Connected:
    """Subclass with ``channel``, ``site`` and ``make_emulator``; see the module doc."""

    channel: str = ""
    site: str = ""
    #: extra connection settings the plugin needs (timeouts, webhook URL, ...)
    settings: Mapping[str, Any] = {"timeout": 0.5}

    def make_emulator(self, faults: Faults) -> Any:
        raise NotImplementedError("return your emulator, built with these faults")

    def _require(self, app: App, capability: MarketplaceCapability) -> None:
        if capability not in app.plugins.marketplace(self.channel).capabilities:
            pytest.skip(f"{self.channel} does not declare {capability}")

    @asynccontextmanager
    async def connected(
        self, app: App, tenant_factory: Any, faults: Faults | None = None, *, stock: int = 5000
    ) -> AsyncIterator[Setup]:
        """The emulator served on loopback, a seller account with the suite's SKUs on it, and
        a tenant holding ``stock`` of each, connected to it (paused when the block ends)."""
        emulator: EmulatorHandle = self.make_emulator(faults or Faults())
        async with serve(emulator) as base_url:
            account = emulator.open_account(self.site)
            listing_ids = {sku: emulator.add_product(account, sku, stock=0) for sku in SKUS}
            shop = await build_shop(
                app,
                await tenant_factory(),
                channel=self.channel,
                site=self.site,
                credentials=account,
                base_url=base_url,
                skus=dict.fromkeys(SKUS, stock),
                listings=listing_ids,
                settings=self.settings,
                name="conformance",
                title="Conformance",
            )
            setup = Setup(shop, emulator, account, base_url)
            try:
                yield setup
            finally:
                await setup.pause()


class MarketplaceConformance(_Connected):
    """Subclass with ``channel``, ``site`` and ``make_emulator``; see the module doc."""

    def make_emulator(self, faults: Faults) -> EmulatorHandle:
        raise NotImplementedError("return your emulator, built with these faults")

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
            assert (await setup.order("INC-1")).status == "allocated"
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
            await setup.forget_sync_state()  # re-read everything
            result = await setup.sync()
            assert result["created"] == 0
            after = {k: (o.status, o.channel_updated_at) for k, o in (await setup.orders()).items()}
            assert after == before

    async def test_shipment_confirmation(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.SHIPMENTS_CONFIRM)
        async with self.connected(app, tenant_factory) as setup:
            setup.emulator.add_order(setup.account, "SHIP-1", [(SKUS[0], 1, "12.00")])
            await setup.sync()
            shipment = await setup.ship("SHIP-1", carrier="Conformance Post", tracking_number="CONF123456")
            assert await setup.run("confirm_shipment", shipment_id=shipment) == "confirmed"
            recorded = await setup.shipment_tracking(shipment)
            # the seller's number, or the one a channel booking its own carrier assigned
            assert recorded
            assert setup.emulator.tracking_number(setup.account, "SHIP-1") == recorded
            # a retry of a confirmation that already went through is harmless
            await setup.forget_confirmation(shipment)
            assert await setup.run("confirm_shipment", shipment_id=shipment) == "confirmed"

    async def test_stock_push(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.STOCK_PUSH)
        async with self.connected(app, tenant_factory) as setup:
            await setup.run_for_connection("push_stock")
            expected = await setup.available_to_sell()
            assert {sku: setup.emulator.stock(setup.account, sku) for sku in SKUS} == expected
            assert expected[SKUS[0]] == 5000
            again = await setup.run_for_connection("push_stock")
            assert again["pushed"] == 0  # nothing changed, nothing sent

    async def test_price_push(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.PRICE_PUSH)
        async with self.connected(app, tenant_factory) as setup:
            await setup.set_prices({SKUS[0]: "12.90", SKUS[1]: "7.50"})
            result = await setup.run_for_connection("push_prices")
            assert result["pushed"] == 2
            assert [setup.emulator.price(setup.account, sku) for sku in SKUS] == ["12.90", "7.50"]
            again = await setup.run_for_connection("push_prices")
            assert again["pushed"] == 0

    async def test_token_refresh(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.CREDENTIALS_REFRESH)
        async with self.connected(app, tenant_factory) as setup:
            setup.emulator.add_order(setup.account, "TOK-1", [(SKUS[0], 1, "3.00")])
            setup.emulator.expire_tokens()
            await setup.sync()
            assert list(await setup.orders()) == ["TOK-1"]
            assert (await setup.connection()).status == "active"
            assert await setup.credentials() != dict(setup.account)  # the new tokens were stored

    async def test_buyer_messages(self, app: App, tenant_factory: Any) -> None:
        """Buyer messages arrive as conversations awaiting a reply, through faults; a reply
        reaches the buyer once and is recognised when the channel lists it back."""
        self._require(app, MarketplaceCapability.MESSAGES_READ)
        async with self.connected(app, tenant_factory, Faults.failing(0.2, seed=11)) as setup:
            emulator = cast(MessagingEmulator, setup.emulator)
            emulator.add_order(setup.account, "MSG-1", [(SKUS[0], 1, "9.90")])
            await setup.sync()
            emulator.buyer_writes(setup.account, "amy", "Where is my parcel?", "MSG-1")
            emulator.buyer_writes(setup.account, "amy", "It has been three days.")
            emulator.buyer_writes(setup.account, "ben", "Do you ship to Penang?")
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
            reply = await setup.reply(amy.id, "It ships today, sorry!")
            assert await setup.run("send_message", message_id=reply) == "sent"
            assert await setup.run("send_message", message_id=reply) == "done"
            assert emulator.messages_to(setup.account, "amy") == ["It ships today, sorry!"]
            await setup.sync("messages")
            amy, amy_messages = (await setup.conversations())["amy"]
            assert [(m.direction, m.delivery) for m in amy_messages] == [
                ("inbound", None),
                ("inbound", None),
                ("outbound", "sent"),
            ]
            assert amy.status == "answered"


class WebhookConformance(_Connected):
    """Pushes to ``/webhooks/{channel}/{key}``: a forged or unsigned push is refused (401),
    an unknown key is not found (404), a good one is stored once (without its signature
    headers), however often it is delivered, and processed once into the order's state.
    The emulator must satisfy :class:`WebhookEmulator`; the connection's settings carry
    ``webhook_url``, the address the channel pushes to (some channels sign it)."""

    def make_emulator(self, faults: Faults) -> WebhookEmulator:
        raise NotImplementedError("return your emulator, built with these faults")

    @asynccontextmanager
    async def pushing(
        self, app: App, tenant_factory: Any, live_server: str
    ) -> AsyncIterator[tuple[Setup, str]]:
        """A connected shop with no stock and its webhook URL on the live server."""
        self._require(app, MarketplaceCapability.WEBHOOKS)
        async with self.connected(app, tenant_factory, stock=0) as setup:
            key = (await setup.connection()).webhook_key
            url = f"{live_server}/webhooks/{self.channel}/{key}"
            await setup.update_connection(settings={**self.settings, "webhook_url": url})
            yield setup, url

    async def test_push_is_verified_stored_and_processed(
        self, app: App, tenant_factory: Any, live_server: str
    ) -> None:
        async with self.pushing(app, tenant_factory, live_server) as (setup, url):
            emulator = cast(WebhookEmulator, setup.emulator)
            emulator.add_order(setup.account, "PUSH-1", [(SKUS[0], 1, "9.90")])
            headers, body = emulator.signed_push(setup.account, "PUSH-1", url)
            signed = {**headers, "Content-Type": "application/json"}
            async with httpx.AsyncClient() as http:
                unsigned = await http.post(url, content=body, headers={"Content-Type": "application/json"})
                tampered = await http.post(url, content=body + b" ", headers=signed)
                unknown = await http.post(
                    f"{live_server}/webhooks/{self.channel}/not-a-key", content=body, headers=signed
                )
                accepted = await http.post(url, content=body, headers=signed)
            assert (unsigned.status_code, tampered.status_code) == (401, 401)
            assert unknown.status_code == 404
            assert accepted.status_code == 200, accepted.text
            [event] = await setup.webhook_events()
            assert event.references == [{"type": "order", "external_id": "PUSH-1"}]
            signature_headers = {k.lower() for k in headers} - {"content-type", "user-agent"}
            assert not signature_headers & {k.lower() for k in event.headers}  # not kept
            assert await setup.run("process_webhook", event_id=event.id) == 1
            assert await setup.run("process_webhook", event_id=event.id) == 0  # once
            assert (await setup.order("PUSH-1")).status == "on_hold"  # no stock: out_of_stock
            [event] = await setup.webhook_events()
            assert event.status == "processed"

    async def test_a_push_delivered_again_is_stored_once(
        self, app: App, tenant_factory: Any, live_server: str
    ) -> None:
        async with self.pushing(app, tenant_factory, live_server) as (setup, url):
            emulator = cast(WebhookEmulator, setup.emulator)
            emulator.add_order(setup.account, "PUSH-2", [(SKUS[0], 1, "9.90")])
            headers, body = emulator.signed_push(setup.account, "PUSH-2", url)
            async with httpx.AsyncClient() as http:
                answers = [await http.post(url, content=body, headers=dict(headers)) for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert len(await setup.webhook_events()) == 1
            assert await setup.process_webhooks() == 1
            assert list(await setup.orders()) == ["PUSH-2"]


class NotificationConformance(_Connected):
    """Order changes read from the channel's notification queue (``drain_notifications``):
    each arrives once, through faults; a lost acknowledgement means a redelivery, never a
    duplicate; credentials the queue refuses are reported on the connection, which stays
    active (the periodic sync still runs). The emulator must satisfy
    :class:`NotificationEmulator`."""

    def make_emulator(self, faults: Faults) -> NotificationEmulator:
        raise NotImplementedError("return your emulator, built with these faults")

    async def _subscribe(self, setup: Setup, *, valid: bool = True) -> NotificationEmulator:
        emulator = cast(NotificationEmulator, setup.emulator)
        credentials, settings = emulator.subscribe_notifications(setup.account, setup.base_url, valid=valid)
        await setup.update_connection(
            credentials={**setup.account, **credentials}, settings={**self.settings, **settings}
        )
        return emulator

    async def test_order_changes_arrive_once(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.NOTIFICATIONS)
        async with self.connected(app, tenant_factory, Faults.failing(0.2, seed=3)) as setup:
            emulator = await self._subscribe(setup)
            ids = [f"NTF-{i:03d}" for i in range(14)]
            for i, external_id in enumerate(ids):  # not alike: no duplicate-suspect holds
                emulator.add_order(setup.account, external_id, [(SKUS[0], 1, f"{10 + i}.99")])
            assert await setup.run_for_connection("drain_notifications") == {"received": 14, "stored": 14}
            assert await setup.process_webhooks() == 14
            orders = await setup.orders()
            assert set(orders) == set(ids)
            assert {o.status for o in orders.values()} == {"allocated"}
            # the buyer cancels one: the change arrives by the queue, not by a sync
            emulator.cancel_order(setup.account, ids[3])
            await setup.run_for_connection("drain_notifications")
            assert await setup.process_webhooks() == 1
            assert (await setup.order(ids[3])).status == "cancelled"

    async def test_a_lost_acknowledgement_means_a_redelivery_not_a_duplicate(
        self, app: App, tenant_factory: Any
    ) -> None:
        self._require(app, MarketplaceCapability.NOTIFICATIONS)
        async with self.connected(app, tenant_factory) as setup:
            emulator = await self._subscribe(setup)
            emulator.add_order(setup.account, "NTF-LOST", [(SKUS[0], 1, "19.99")])
            emulator.lose_acknowledgements(1)
            with pytest.raises(ChannelError):
                await setup.job("drain_notifications", connection_id=setup.connection_id)()
            emulator.redeliver()
            again = await setup.job("drain_notifications", connection_id=setup.connection_id)()
            assert again == {"received": 1, "stored": 0}
            assert emulator.pending_notifications() == 0
            assert len(await setup.webhook_events()) == 1

    async def test_refused_credentials_are_reported(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.NOTIFICATIONS)
        async with self.connected(app, tenant_factory) as setup:
            emulator = await self._subscribe(setup, valid=False)
            emulator.add_order(setup.account, "NTF-BAD", [(SKUS[0], 1, "5.00")])
            drained = await setup.job("drain_notifications", connection_id=setup.connection_id)()
            assert drained == {"received": 0, "stored": 0}
            conn = await setup.connection()
            assert conn.status == "active"
            assert (conn.last_error or "").startswith("notifications: ")


class SettlementConformance(_Connected):
    """Payouts read with ``sync_settlements``: every shipped order's money is on a payout
    whose lines add up to its total, each order reconciles (``matched``) when the
    connection's ``settlement_settings`` say the channel's commission, and reading a
    closed payout again changes nothing. The emulator must satisfy
    :class:`SettlementEmulator`."""

    #: connection settings the reconciliation needs (e.g. ``{"commission_rate": "0.15"}``)
    settlement_settings: Mapping[str, Any] = {}

    def make_emulator(self, faults: Faults) -> SettlementEmulator:
        raise NotImplementedError("return your emulator, built with these faults")

    async def test_payouts_reconcile_order_by_order(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.SETTLEMENTS)
        async with self.connected(app, tenant_factory, Faults.failing(0.2, seed=9)) as setup:
            emulator = cast(SettlementEmulator, setup.emulator)
            await setup.update_connection(settings={**self.settings, **self.settlement_settings})
            ids = [f"SET-{i}" for i in range(3)]
            for external_id, price in zip(ids, ("19.99", "45.00", "7.50"), strict=True):
                emulator.add_order(setup.account, external_id, [(SKUS[0], 2, price)])
            await setup.sync()
            for i, external_id in enumerate(ids):
                shipment = await setup.ship(
                    external_id, carrier="Conformance Post", tracking_number=f"CP{i:06d}"
                )
                assert await setup.run("confirm_shipment", shipment_id=shipment) == "confirmed"
            emulator.close_payout(setup.account)
            assert (await setup.sync("settlements"))["settlements"] >= 1
            payouts = await setup.settlements()
            assert payouts, "a closed payout is read"
            for payout, lines in payouts:
                assert sum(line.amount for line in lines) == payout.total_amount
            assert any(p.status == "paid" and p.paid_at is not None for p, _ in payouts)
            rows = await setup.reconcile()
            assert {k: r.status for k, r in rows.items()} == dict.fromkeys(ids, "matched")
            count = sum(len(lines) for _, lines in payouts)
            await setup.sync("settlements")  # a closed payout read again changes nothing
            assert sum(len(lines) for _, lines in await setup.settlements()) == count


class AfterSalesConformance(_Connected):
    """Buyers' requests and the seller's answers on the channel (``cases.sync``,
    ``cases.respond``, ``orders.cancel``), through faults; subclass as the others.
    ``make_emulator`` must return an :class:`AfterSalesEmulator`."""

    #: the faults the suite's answers and cancellations go through
    faults = Faults.failing(0.2, seed=21)
    #: why the seller rejects (or disputes) a return: a channel that takes only its own
    #: reasons names one of them here
    reject_reason = "the item was used"

    async def _case(self, setup: Setup, external_id: str) -> Any:
        """Sync cases until ``external_id`` is there (a channel reading a report may list it
        a sync or two after the buyer asked)."""
        for _ in range(5):
            await setup.sync("cases")
            found = (await setup.cases()).get(external_id)
            if found is not None:
                return found
        raise AssertionError(f"case {external_id!r} did not arrive in five syncs")

    async def test_a_cancellation_request_is_answered_on_the_channel(
        self, app: App, tenant_factory: Any
    ) -> None:
        self._require(app, MarketplaceCapability.CASES_SYNC)
        async with self.connected(app, tenant_factory, self.faults) as setup:
            emulator = cast(AfterSalesEmulator, setup.emulator)
            emulator.add_order(setup.account, "AS-1", [(SKUS[0], 2, "10.00")])
            await setup.sync()
            case_id = emulator.request_cancellation(setup.account, "AS-1")
            case = await self._case(setup, case_id)
            assert (case.kind, case.status) == (CaseKind.CANCELLATION, CaseStatus.OPEN)
            assert case.order_id == (await setup.order("AS-1")).id
            # held while the seller decides: nobody picks it
            assert (await setup.order("AS-1")).status == "on_hold"
            await setup.sync("cases")  # re-read: nothing changes twice
            assert len(await setup.cases()) == 1
            if MarketplaceCapability.CASES_RESPOND not in app.plugins.marketplace(self.channel).capabilities:
                return
            assert CaseAction.ACCEPT in case.actions
            answer = await setup.respond(case_id, CaseAction.ACCEPT)
            assert await setup.run("respond_case", response_id=answer) == "sent"
            assert emulator.is_cancelled(setup.account, "AS-1")
            assert (await setup.order("AS-1")).status == "cancelled"
            assert (await setup.cases())[case_id].status in (CaseStatus.ACCEPTED, CaseStatus.CLOSED)
            # the job run again (a redelivery) sends nothing more
            assert await setup.run("respond_case", response_id=answer) == "done"
            assert [r.status for r in await setup.responses(case_id)] == ["sent"]

    async def test_a_return_request_arrives_with_its_amount_and_is_answered(
        self, app: App, tenant_factory: Any
    ) -> None:
        self._require(app, MarketplaceCapability.CASES_SYNC)
        async with self.connected(app, tenant_factory, self.faults) as setup:
            emulator = cast(AfterSalesEmulator, setup.emulator)
            emulator.add_order(setup.account, "AS-2", [(SKUS[0], 1, "30.00")])
            await setup.sync()
            case_id = emulator.request_return(setup.account, "AS-2", "30.00")
            case = await self._case(setup, case_id)
            assert case.kind in (CaseKind.RETURN_REFUND, CaseKind.REFUND_ONLY)
            assert case.refund_amount == Decimal("30.00")
            assert case.reason
            assert case.opened_at <= case.channel_updated_at
            if MarketplaceCapability.CASES_RESPOND not in app.plugins.marketplace(self.channel).capabilities:
                return
            actions = set(case.actions)
            if not actions:  # the channel shows returns but takes no answer to them over its API
                return
            if CaseAction.REJECT in actions:
                action, reason = CaseAction.REJECT, self.reject_reason
            elif CaseAction.DISPUTE in actions:
                action, reason = CaseAction.DISPUTE, self.reject_reason
            else:
                action, reason = CaseAction.ACCEPT, None
            answer = await setup.respond(case_id, action, reason=reason)
            assert await setup.run("respond_case", response_id=answer) == "sent"
            after = (await setup.cases())[case_id]
            assert after.status != CaseStatus.OPEN or after.channel_updated_at > case.channel_updated_at
            assert [r.status for r in await setup.responses(case_id)] == ["sent"]

    async def _cancel(self, setup: Setup, external_id: str, *, first: bool = True) -> str:
        """``orderCancel`` as an operator repeats it while the channel fails now and then: a
        failed try leaves the order as it was here."""
        last: ChannelError | None = None
        for _ in range(10):
            try:
                return await setup.cancel_on_channel(external_id, CancelReason.OUT_OF_STOCK)
            except ChannelError as exc:
                if not exc.retryable:
                    raise
                last = exc
                if first:
                    assert (await setup.order(external_id)).status != "cancelled"
        raise AssertionError(f"the channel kept failing: {last}")

    async def test_the_seller_cancels_on_the_channel(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ORDERS_CANCEL)
        async with self.connected(app, tenant_factory, self.faults) as setup:
            emulator = cast(AfterSalesEmulator, setup.emulator)
            emulator.add_order(setup.account, "AS-3", [(SKUS[1], 1, "8.00")])
            await setup.sync()
            assert await self._cancel(setup, "AS-3") == "cancelled"
            assert emulator.is_cancelled(setup.account, "AS-3")
            assert (await setup.order("AS-3")).status == "cancelled"
            # asked again (the operator's retry after a lost answer): the channel has it
            # cancelled already, which is no error
            assert await self._cancel(setup, "AS-3", first=False) == "cancelled"


class AdsConformance(_Connected):
    """Advertising (``ads.read``) and traffic (``traffic.read``) reports, read by day window
    through faults and reports that take a few polls; subclass as the others.
    ``make_emulator`` must return an :class:`AdsEmulator` (and a :class:`TrafficEmulator`
    for traffic)."""

    faults = Faults.failing(0.2, seed=16)

    @staticmethod
    def _days() -> list[date]:
        today = datetime.now(UTC).date()
        return [today - timedelta(days=n) for n in (2, 1, 0)]

    async def _sync(self, setup: Setup, resource: str) -> dict[str, int]:
        return await sync_to_the_end(setup.app, setup.tenant.id, setup.connection_id, resource=resource)

    async def test_ad_metrics_are_read_per_sku_and_day(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ADS_READ)
        async with self.connected(app, tenant_factory, self.faults) as setup:
            emulator = cast(AdsEmulator, setup.emulator)
            added: dict[tuple[date, str], tuple[int, int, Decimal, int, Decimal]] = {}
            campaigns = set()
            for n, day in enumerate(self._days()):
                for k, sku in enumerate(SKUS):
                    figures = (
                        1000 + 100 * n + k,
                        40 + n + k,
                        Decimal(f"{12 + n}.{10 + k}"),
                        2 + k,
                        Decimal(f"{60 + n}.50"),
                    )
                    campaigns.add(
                        emulator.add_ad_activity(
                            setup.account,
                            day=day,
                            sku=sku,
                            impressions=figures[0],
                            clicks=figures[1],
                            spend=str(figures[2]),
                            orders=figures[3],
                            sales=str(figures[4]),
                            keyword=f"mug {k}",
                        )
                    )
                    added[(day, sku)] = figures
            await self._sync(setup, "ads")
            stored = {
                (r.day, r.sku): (r.impressions, r.clicks, r.spend, r.orders, r.sales)
                for r in await setup.ad_metrics("product")
            }
            assert stored == added
            known = await setup.ad_campaigns()
            assert campaigns <= set(known)
            for campaign_id in campaigns:
                row = known[campaign_id]
                assert row.name
                assert row.ad_type
                assert row.state
                assert row.daily_budget is not None or row.total_budget is not None
            campaign_rows = await setup.ad_metrics("campaign")
            if campaign_rows:  # a channel reporting campaign days: they add up to the products'
                spend = sum((r.spend for r in campaign_rows), Decimal(0))
                assert spend == sum((f[2] for f in added.values()), Decimal(0))
            # read again: nothing is stored twice, the rollup does not move
            before = len(await setup.ad_metrics("product"))
            await self._sync(setup, "ads")
            assert len(await setup.ad_metrics("product")) == before
            assert {(r.day, r.sku): r.spend for r in await setup.ad_metrics("product")} == {
                key: f[2] for key, f in added.items()
            }

    async def test_a_revised_day_replaces_its_figures(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.ADS_READ)
        async with self.connected(app, tenant_factory, self.faults) as setup:
            emulator = cast(AdsEmulator, setup.emulator)
            day = self._days()[1]
            emulator.add_ad_activity(
                setup.account,
                day=day,
                sku=SKUS[0],
                impressions=500,
                clicks=20,
                spend="8.00",
                orders=1,
                sales="25.00",
            )
            await self._sync(setup, "ads")
            emulator.revise_ad_activity(setup.account, day=day, sku=SKUS[0], orders=3, sales="75.00")
            await self._sync(setup, "ads")
            rows = [r for r in await setup.ad_metrics("product") if r.sku == SKUS[0] and r.day == day]
            assert [(r.orders, r.sales, r.spend, r.clicks) for r in rows] == [
                (3, Decimal("75.00"), Decimal("8.00"), 20)
            ]

    async def test_traffic_is_read_per_sku_and_day(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.TRAFFIC_READ)
        async with self.connected(app, tenant_factory, self.faults) as setup:
            emulator = cast(TrafficEmulator, setup.emulator)
            added = {}
            for n, day in enumerate(self._days()):
                for k, sku in enumerate(SKUS):
                    emulator.add_traffic(
                        setup.account, day=day, sku=sku, sessions=30 + n + k, page_views=45 + n + k
                    )
                    added[(day, sku)] = (30 + n + k, 45 + n + k)
            await self._sync(setup, "traffic")
            stored = {(r.day, r.sku): (r.sessions, r.page_views) for r in await setup.traffic() if r.sku}
            assert stored == added
            await self._sync(setup, "traffic")
            assert {
                (r.day, r.sku): (r.sessions, r.page_views) for r in await setup.traffic() if r.sku
            } == added
