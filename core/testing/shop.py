"""A tenant's shop connected to a marketplace, for plugin tests: built, driven and read
through the kit, so a plugin's tests import nothing but the public API.

::

    from crossdock.testing import build_shop

    async def test_orders_arrive(app, tenant_factory):
        emulator = MyShopEmulator()
        async with serve(emulator) as base_url:
            account = emulator.open_account("SG")
            shop = await build_shop(
                app, await tenant_factory(), channel="myshop", site="SG",
                credentials=account, base_url=base_url, skus={"SKU-1": 100},
            )
            emulator.add_order(account, "O-1", [("SKU-1", 1, "9.90")])
            await shop.sync()
            assert (await shop.order("O-1")).status == "allocated"
            await shop.pause()  # the emulator goes away with this block

What :func:`build_shop` makes, the core's own services make (a product with a variant per
SKU, a warehouse with stock, a connection with its credentials encrypted, listings), and
what :class:`Shop` does, the jobs and services an operator's actions run. The rows it
returns (orders, events, settlements) are read-only snapshots of the core's records: read
their attributes (those the GraphQL types show), do not keep them across calls.

This module (with :mod:`crossdock.testing.kit`) is where the kit calls the core's services.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select, update

from crossdock.bootstrap import App
from crossdock.db.models import (
    AdCampaignRow,
    AdMetricRow,
    AfterSalesCase,
    CaseResponseRow,
    Connection,
    Conversation,
    Listing,
    Message,
    Order,
    Settlement,
    SettlementLine,
    Shipment,
    TrafficRow,
    Variant,
    WebhookEvent,
)
from crossdock.errors import ChannelError
from crossdock.jobs import JOBS
from crossdock.money import Money
from crossdock.providers import CancelReason, CaseAction
from crossdock.services import (
    cases,
    catalog,
    connections,
    fulfilment,
    inventory,
    listings,
    messaging,
    settlements,
)
from crossdock.services.availability import available_to_sell
from crossdock.services.checks import address_problems as _address_problems
from crossdock.testing.kit import TestTenant

__all__ = ["Shop", "address_problems", "build_shop", "run_job", "sync_to_the_end", "until_done"]

T = TypeVar("T")


def address_problems(address: Any) -> list[str]:
    """What the core would flag about a mapped :class:`crossdock.Address` before shipping
    to it (missing street, postcode not of its country, ...); ``[]`` when it would ship."""
    return list(_address_problems(address))


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


async def run_job(app: App, name: str, *, tenant_id: int, retry: bool = True, **kwargs: Any) -> Any:
    """Run the app's job ``name`` once, in this test's event loop, and return its result:
    as a runner would, transient channel errors are retried (``retry=False``: raised)."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}; jobs: {', '.join(sorted(JOBS))}")
    ctx = app.job_context()

    def once() -> Awaitable[Any]:
        return JOBS[name](ctx, tenant_id=tenant_id, **kwargs)

    return await (until_done(once) if retry else once())


async def sync_to_the_end(
    app: App, tenant_id: int, connection_id: int, runs: int = 50, resource: str = "orders"
) -> dict[str, int]:
    """Run ``sync_<resource>`` (and the continuations a runner would run) until the
    connection's cursor for it has no page left; returns the summed counts."""
    totals: dict[str, int] = {"created": 0, "updated": 0, "ignored": 0, "pages": 0}
    for _ in range(runs):
        result = await run_job(app, f"sync_{resource}", tenant_id=tenant_id, connection_id=connection_id)
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + int(value)
        async with app.db.tenant(tenant_id) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == connection_id))
            assert conn is not None
            if "page_token" not in (conn.sync_state.get(resource) or {}):
                return totals
    raise AssertionError("sync did not finish")


class Shop:
    """A tenant with a catalogue, a warehouse and one connection (see :func:`build_shop`)."""

    def __init__(
        self, app: App, tenant: TestTenant, connection_id: int, warehouse_id: int, variants: Mapping[str, int]
    ) -> None:
        self.app = app
        self.tenant = tenant
        self.connection_id = connection_id
        self.warehouse_id = warehouse_id
        #: the variant id of each SKU
        self.variants = dict(variants)

    # ------------------------------------------------------------------ jobs

    def job(self, name: str, **kwargs: Any) -> Callable[[], Awaitable[Any]]:
        """Job ``name`` of this tenant, as a callable running it once (no retries): for a
        test that wants to see the error a runner would retry."""
        return lambda: run_job(self.app, name, tenant_id=self.tenant.id, retry=False, **kwargs)

    async def run(self, name: str, **kwargs: Any) -> Any:
        """Run job ``name`` for this tenant, retrying transient channel errors; its result."""
        return await run_job(self.app, name, tenant_id=self.tenant.id, **kwargs)

    async def run_for_connection(self, name: str, **kwargs: Any) -> Any:
        """Run a connection job (``push_stock``, ``drain_notifications``, ...) for this
        shop's connection."""
        return await self.run(name, connection_id=self.connection_id, **kwargs)

    async def sync(self, resource: str = "orders") -> dict[str, int]:
        """Sync ``orders`` (``messages``, ``settlements``) until the channel has no page left."""
        return await sync_to_the_end(self.app, self.tenant.id, self.connection_id, resource=resource)

    async def process_webhooks(self) -> int:
        """Process every received webhook event (as the ``process_webhook`` jobs would);
        returns how many there were."""
        pending = [e.id for e in await self.webhook_events() if e.status == "received"]
        for event_id in pending:
            await self.run("process_webhook", event_id=event_id)
        return len(pending)

    # ------------------------------------------------------------------ reading

    async def ad_metrics(self, level: str = "product") -> list[AdMetricRow]:
        """The connection's stored advertising rows of one level (``product``, ``campaign``,
        ``target``, ``search_term``), by day then campaign."""
        async with self.app.db.tenant(self.tenant.id) as session:
            return list(
                (
                    await session.scalars(
                        select(AdMetricRow)
                        .where(AdMetricRow.connection_id == self.connection_id, AdMetricRow.level == level)
                        .order_by(AdMetricRow.day, AdMetricRow.campaign_id, AdMetricRow.sku, AdMetricRow.id)
                    )
                ).all()
            )

    async def ad_campaigns(self) -> dict[str, AdCampaignRow]:
        """The connection's advertising campaigns by their channel id."""
        async with self.app.db.tenant(self.tenant.id) as session:
            rows = await session.scalars(
                select(AdCampaignRow).where(AdCampaignRow.connection_id == self.connection_id)
            )
            return {r.external_id: r for r in rows.all()}

    async def traffic(self) -> list[TrafficRow]:
        """The connection's stored traffic rows, by day then SKU (``""``: the shop)."""
        async with self.app.db.tenant(self.tenant.id) as session:
            return list(
                (
                    await session.scalars(
                        select(TrafficRow)
                        .where(TrafficRow.connection_id == self.connection_id)
                        .order_by(TrafficRow.day, TrafficRow.sku)
                    )
                ).all()
            )

    async def refresh_figures(self) -> int:
        """Run ``analytics_refresh`` until no order is left to recompute; how many were."""
        total = 0
        while True:
            done = int(await self.run("analytics_refresh"))
            total += done
            if not done:
                return total

    async def orders(self) -> dict[str, Order]:
        """The tenant's orders by their channel id."""
        async with self.app.db.tenant(self.tenant.id) as session:
            return {o.external_id: o for o in (await session.scalars(select(Order))).all()}

    async def order(self, external_id: str) -> Order:
        """One order by its channel id (the test fails if there is none)."""
        found = (await self.orders()).get(external_id)
        assert found is not None, f"no order {external_id!r}"
        return found

    async def connection(self) -> Connection:
        """The connection's record: ``status``, ``last_error``, ``settings``, ``webhook_key``..."""
        async with self.app.db.tenant(self.tenant.id) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == self.connection_id))
            assert conn is not None
            return conn

    async def credentials(self) -> dict[str, Any]:
        """The connection's credentials as stored now (decrypted): what a refresh saved."""
        return dict(self.app.vault.decrypt((await self.connection()).credentials_encrypted))

    async def webhook_events(self) -> list[WebhookEvent]:
        """The pushes received for the tenant, oldest first."""
        async with self.app.db.tenant(self.tenant.id) as session:
            return list((await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all())

    async def available_to_sell(self) -> dict[str, int]:
        """What the core would offer the channel now, by channel SKU."""
        async with self.app.db.tenant(self.tenant.id) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == self.connection_id))
            assert conn is not None
            ats = await available_to_sell(session, conn)
            rows = (await session.scalars(select(Listing))).all()
            return {row.channel_sku: ats[row.id] for row in rows if row.connection_id == conn.id}

    async def shipment_tracking(self, shipment_id: int) -> str | None:
        """The tracking number recorded on a shipment (the channel's own, when it books one)."""
        async with self.app.db.tenant(self.tenant.id) as session:
            tracking: str | None = await session.scalar(
                select(Shipment.tracking_number).where(Shipment.id == shipment_id)
            )
            return tracking

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

    async def settlements(self) -> list[tuple[Settlement, list[SettlementLine]]]:
        """The payouts read from the channel, each with its lines."""
        async with self.app.db.tenant(self.tenant.id) as session:
            out = []
            for payout in (await session.scalars(select(Settlement).order_by(Settlement.id))).all():
                lines = await session.scalars(
                    select(SettlementLine)
                    .where(SettlementLine.settlement_id == payout.id)
                    .order_by(SettlementLine.id)
                )
                out.append((payout, list(lines.all())))
            return out

    async def reconcile(self) -> dict[str, Any]:
        """Each order's reconciliation row (``status``, ``expected``, ``settled``,
        ``difference``) by the order's channel id."""
        async with self.app.db.tenant(self.tenant.id) as session:
            return {row.order.external_id: row for row in await settlements.reconcile(session)}

    # ------------------------------------------------------------------ acting

    async def update_connection(
        self, *, credentials: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None
    ) -> None:
        """Replace the connection's credentials and/or settings (as ``connectionUpdate`` does)."""
        async with self.app.db.write(self.tenant.id) as session:
            await connections.update_connection(
                session,
                self.app.vault,
                self.connection_id,
                credentials=credentials,
                settings=settings,
                policy=self.app.http.policy,
            )

    async def forget_sync_state(self) -> None:
        """Drop the connection's sync cursors: the next sync reads everything again."""
        async with self.app.db.write(self.tenant.id) as session:
            await session.execute(
                update(Connection).where(Connection.id == self.connection_id).values(sync_state={})
            )

    async def pause(self) -> None:
        """Pause the connection. Tests share a database, and a later test's periodic jobs
        sync every active connection: pause one whose emulator is about to go away."""
        async with self.app.db.write(self.tenant.id) as session:
            await session.execute(
                update(Connection).where(Connection.id == self.connection_id).values(status="paused")
            )

    async def receive_stock(self, sku: str, quantity: int) -> None:
        """Goods in: ``quantity`` more of ``sku`` on hand in the shop's warehouse."""
        async with self.app.unit_of_work(self.tenant.id, self.tenant.slug) as uow:
            await inventory.receive_stock(
                uow, variant_id=self.variants[sku], warehouse_id=self.warehouse_id, quantity=quantity
            )

    async def ship(self, external_id: str, *, carrier: str, tracking_number: str) -> int:
        """Pack and ship an order from the shop's warehouse (what the operator does);
        returns the shipment's id. Confirm it with ``run("confirm_shipment", shipment_id=...)``."""
        order = await self.order(external_id)
        async with self.app.unit_of_work(self.tenant.id, self.tenant.slug) as uow:
            session = uow.session
            shipment = await fulfilment.pack_shipment(
                session, order.id, self.warehouse_id, carrier=carrier, tracking_number=tracking_number
            )
            await fulfilment.ship_shipment(uow, shipment.id)
            return shipment.id

    async def forget_confirmation(self, shipment_id: int) -> None:
        """Mark a shipment unconfirmed again, as if the confirmation's answer was lost."""
        async with self.app.db.write(self.tenant.id) as session:
            await session.execute(
                update(Shipment).where(Shipment.id == shipment_id).values(confirmed_at=None)
            )

    async def set_prices(self, prices: Mapping[str, str | Decimal]) -> None:
        """Set listing prices by channel SKU, in the connection's currency."""
        async with self.app.unit_of_work(self.tenant.id, self.tenant.slug) as uow:
            session = uow.session
            conn = await session.scalar(select(Connection).where(Connection.id == self.connection_id))
            assert conn is not None
            rows = {r.channel_sku: r for r in (await session.scalars(select(Listing))).all()}
            for sku, amount in prices.items():
                await listings.update_listing(uow, rows[sku].id, price=Money.of(amount, conn.currency))

    async def cases(self) -> dict[str, AfterSalesCase]:
        """The tenant's after-sales cases by their channel id."""
        async with self.app.db.tenant(self.tenant.id) as session:
            return {c.external_id: c for c in (await session.scalars(select(AfterSalesCase))).all()}

    async def respond(
        self,
        case_external_id: str,
        action: CaseAction,
        *,
        reason: str | None = None,
        amount: Money | None = None,
    ) -> int:
        """The seller answers a case (as ``caseRespond`` does); returns the answer's id
        (push it with ``run("respond_case", response_id=...)``)."""
        case = (await self.cases())[case_external_id]
        async with self.app.unit_of_work(self.tenant.id, self.tenant.slug) as uow:
            row = await cases.respond(uow, case.id, action, reason=reason, amount=amount)
            return row.id

    async def responses(self, case_external_id: str) -> list[CaseResponseRow]:
        """A case's answers, oldest first."""
        case = (await self.cases())[case_external_id]
        async with self.app.db.tenant(self.tenant.id) as session:
            rows = await session.scalars(
                select(CaseResponseRow).where(CaseResponseRow.case_id == case.id).order_by(CaseResponseRow.id)
            )
            return list(rows.all())

    async def cancel_on_channel(self, external_id: str, reason: CancelReason) -> str:
        """What ``orderCancel`` does: ask the channel, then cancel here; returns what the
        channel said (``cancelled`` or ``not_supported``)."""
        from crossdock.jobs.cases import cancel_on_channel

        order = await self.order(external_id)
        said = await cancel_on_channel(
            self.app.job_context(), self.tenant.id, self.tenant.slug, order.id, reason
        )
        async with self.app.unit_of_work(self.tenant.id, self.tenant.slug) as uow:
            await fulfilment.cancel_order(uow, order.id, f"cancelled: {reason.value}", by_channel=True)
        return str(said)

    async def reply(self, conversation_id: int, text: str) -> int:
        """The seller answers a conversation; returns the message's id (send it with
        ``run("send_message", message_id=...)``)."""
        async with self.app.unit_of_work(self.tenant.id, self.tenant.slug) as uow:
            message = await messaging.reply(uow, conversation_id, text=text)
            return message.id


async def build_shop(
    app: App,
    tenant: TestTenant,
    *,
    channel: str,
    site: str,
    credentials: Mapping[str, Any],
    base_url: str | None,
    skus: Mapping[str, int] | Sequence[str],
    listings: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    name: str = "test",
    title: str = "Test product",
) -> Shop:
    """Give ``tenant`` a product with one variant per SKU, a warehouse in the site's country
    holding the given stock (``skus`` maps SKU to quantity; a plain list means none), and a
    connection to ``channel`` at ``base_url`` (an emulator; ``None``: the production host)
    with ``credentials`` and ``settings``. ``listings`` links SKUs to the channel's listing
    ids (channel SKU = SKU); without it, the channel's own listings are linked by the sync."""
    stock = dict(skus) if isinstance(skus, Mapping) else dict.fromkeys(skus, 0)
    provider = app.plugins.marketplace(channel)
    country = next((s.country for s in provider.sites() if s.code == site), site)
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        await catalog.create_product(
            session, title=title, variants=[catalog.VariantSpec(sku=sku) for sku in stock]
        )
        warehouse = await inventory.create_warehouse(
            session, code=f"WH-{channel}"[:20].upper(), name=f"{channel} stock", country=country
        )
        variants = {v.sku: v.id for v in (await session.scalars(select(Variant))).all() if v.sku in stock}
        for sku, quantity in stock.items():
            if quantity:
                await inventory.receive_stock(
                    uow, variant_id=variants[sku], warehouse_id=warehouse.id, quantity=quantity
                )
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            policy=app.http.policy,
            channel=channel,
            name=name,
            site=site,
            credentials=dict(credentials),
            base_url=base_url,
            settings=dict(settings or {}),
        )
        for sku, external_id in (listings or {}).items():
            session.add(
                Listing(
                    connection_id=conn.id, variant_id=variants[sku], channel_sku=sku, external_id=external_id
                )
            )
    return Shop(app, tenant, conn.id, warehouse.id, variants)
