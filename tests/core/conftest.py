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
    CancelReason,
    CaseAction,
    CaseKind,
    CaseLine,
    CasePage,
    CaseResponse,
    CaseStatus,
    ChannelCase,
    ChannelConnection,
    ChannelError,
    ChannelMessage,
    ChannelOrder,
    ChannelOrderLine,
    MarketplaceBase,
    MarketplaceCapability,
    MessagePage,
    Money,
    Notification,
    OrderPage,
    OutgoingMessage,
    PushResult,
    ShipmentConfirmation,
    Site,
    StockUpdate,
    hookimpl,
)

SINGAPORE = Address(name="Tan Ah Kow", line1="1 Raffles Place", postal_code="048616", country="SG")


class Queue:
    """An at-least-once queue: received messages stay in flight until acknowledged, and
    come back if they are not (as after a consumer crash)."""

    def __init__(self) -> None:
        self.waiting: list[Notification] = []
        self.in_flight: list[Notification] = []
        self.fail: list[ChannelError] = []
        self.fail_ack: list[ChannelError] = []

    def publish(self, event_id: str, order_external_id: str) -> None:
        reference = {"type": "order", "external_id": order_external_id}
        self.waiting.append(Notification(id=event_id, receipt="", references=[reference], body=event_id))

    def redeliver(self) -> None:
        self.waiting = self.in_flight + self.waiting
        self.in_flight = []

    async def receive(self, max_messages: int) -> Sequence[Notification]:
        if self.fail:
            raise self.fail.pop(0)
        batch, self.waiting = self.waiting[:max_messages], self.waiting[max_messages:]
        delivered = [Notification(n.id, f"r-{n.id}-{id(n)}", n.references, n.body) for n in batch]
        self.in_flight.extend(delivered)
        return delivered

    async def ack(self, receipts: Sequence[str]) -> None:
        if self.fail_ack:
            raise self.fail_ack.pop(0)
        self.in_flight = [n for n in self.in_flight if n.receipt not in set(receipts)]


class TestMarket(MarketplaceBase):
    __test__ = False

    name = "testmarket"
    display_name = "Test Market"
    version = "1.0"
    capabilities = frozenset(
        {
            MarketplaceCapability.ORDERS_SYNC,
            MarketplaceCapability.SHIPMENTS_CONFIRM,
            MarketplaceCapability.STOCK_PUSH,
            MarketplaceCapability.MESSAGES_READ,
            MarketplaceCapability.MESSAGES_SEND,
            MarketplaceCapability.ORDERS_GET,
            MarketplaceCapability.NOTIFICATIONS,
            MarketplaceCapability.ORDERS_CANCEL,
            MarketplaceCapability.CASES_SYNC,
            MarketplaceCapability.CASES_RESPOND,
        }
    )

    def __init__(self) -> None:
        self.orders: list[ChannelOrder] = []
        self.page_size = 3
        self.fail_next: list[ChannelError] = []
        self.fail_for: dict[int, list[ChannelError]] = {}  # connection id -> errors to raise
        self.calls = 0
        self.fetched_for: list[int] = []  # connection ids, one per call
        self.confirmations: list[ShipmentConfirmation] = []
        self.confirm_failures: list[ChannelError] = []
        self.pushes: list[tuple[int, list[StockUpdate]]] = []  # (connection id, updates) per call
        self.inbox: list[ChannelMessage] = []  # every message of every thread, as the channel lists them
        self.sent: list[OutgoingMessage] = []
        self.send_failures: list[ChannelError] = []
        self.send_returns_id = True
        self.queue: Queue | None = None  # a connection's notification queue, once configured
        self.cancelled: list[tuple[str, CancelReason]] = []  # (order, reason) per accepted cancel
        self.cancel_failures: list[ChannelError] = []
        self.cases: dict[str, ChannelCase] = {}
        self.responses: list[CaseResponse] = []  # every answer the channel took
        self.respond_failures: list[ChannelError] = []

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

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        found = [o for o in self.orders if o.external_id == external_id]
        if not found:
            raise ChannelError(f"no order {external_id}", code="NOT_FOUND")
        return found[0]

    def notification_source(self, conn: ChannelConnection) -> Queue | None:
        return self.queue

    async def confirm_shipment(self, conn: ChannelConnection, confirmation: ShipmentConfirmation) -> None:
        if self.confirm_failures:
            raise self.confirm_failures.pop(0)
        self.confirmations.append(confirmation)

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        self.pushes.append((conn.id, list(updates)))
        return [PushResult(channel_sku=u.channel_sku, accepted=True) for u in updates]

    def buyer_writes(
        self, thread: str, text: str, *, at: datetime | None = None, order: str | None = None, mid: str = ""
    ) -> ChannelMessage:
        message = ChannelMessage(
            thread_id=thread,
            external_id=mid or f"{thread}-m{len(self.inbox) + 1}",
            from_buyer=True,
            text=text,
            sent_at=at or datetime.now(UTC),
            buyer_id=f"buyer-{thread}",
            buyer_name="Tan Ah Kow",
            order_external_id=order,
        )
        self.inbox.append(message)
        return message

    async def fetch_messages(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> MessagePage:
        matching = sorted((m for m in self.inbox if m.sent_at >= updated_since), key=lambda m: m.sent_at)
        start = int(page_token or 0)
        more = start + self.page_size < len(matching)
        return MessagePage(
            messages=matching[start : start + self.page_size],
            next_page_token=str(start + self.page_size) if more else None,
        )

    async def send_message(self, conn: ChannelConnection, message: OutgoingMessage) -> str | None:
        if self.send_failures:
            raise self.send_failures.pop(0)
        self.sent.append(message)
        external_id = f"{message.thread_id}-r{len(self.sent)}"
        self.inbox.append(
            ChannelMessage(
                thread_id=message.thread_id,
                external_id=external_id,
                from_buyer=False,
                text=message.text,
                sent_at=datetime.now(UTC),
            )
        )
        return external_id if self.send_returns_id else None

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
        if self.cancel_failures:
            raise self.cancel_failures.pop(0)
        [order] = [o for o in self.orders if o.external_id == external_id] or [None]
        if order is None:
            raise ChannelError(f"no order {external_id}", code="NOT_FOUND")
        if order.status == "shipped":
            raise ChannelError("the order has shipped and can no longer be cancelled", code="INVALID_STATE")
        self.cancelled.append((external_id, reason))
        self.set_order_status(external_id, "cancelled")

    def set_order_status(self, external_id: str, status: str) -> None:
        from dataclasses import replace

        self.orders = [
            replace(o, status=status, channel_status=status.upper(), updated_at=datetime.now(UTC))
            if o.external_id == external_id
            else o
            for o in self.orders
        ]

    def buyer_asks(
        self,
        case_id: str,
        order: str,
        kind: CaseKind,
        *,
        refund: str | None = None,
        reason: str = "changed my mind",
        respond_within: timedelta = timedelta(days=2),
        actions: frozenset[CaseAction] | None = None,
        lines: tuple[CaseLine, ...] = (),
    ) -> ChannelCase:
        """A buyer opens a case, as the channel then lists it."""
        now = datetime.now(UTC)
        case = ChannelCase(
            external_id=case_id,
            order_external_id=order,
            kind=kind,
            status=CaseStatus.OPEN,
            channel_status="REQUESTED",
            opened_at=now,
            updated_at=now,
            reason=reason,
            buyer_comment="please",
            photos=("https://img.example.com/1.jpg", "javascript:alert(1)"),
            lines=lines,
            refund_amount=Money.of(refund, "SGD") if refund else None,
            respond_by=now + respond_within,
            actions=actions
            if actions is not None
            else (
                frozenset({CaseAction.ACCEPT, CaseAction.REJECT})
                if kind == CaseKind.CANCELLATION
                else frozenset(CaseAction)
            ),
        )
        self.cases[case_id] = case
        return case

    def case_moves(
        self, case_id: str, status: CaseStatus, channel_status: str, **changes: Any
    ) -> ChannelCase:
        """The channel changes a case (the buyer or the platform acted)."""
        from dataclasses import replace

        case = self.cases[case_id]
        final = status in (CaseStatus.REJECTED, CaseStatus.REFUNDED, CaseStatus.CANCELLED, CaseStatus.CLOSED)
        moved = replace(
            case,
            status=status,
            channel_status=channel_status,
            updated_at=max(datetime.now(UTC), case.updated_at + timedelta(microseconds=1)),
            actions=frozenset() if final else changes.pop("actions", case.actions),
            **changes,
        )
        self.cases[case_id] = moved
        return moved

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        matching = sorted(
            (c for c in self.cases.values() if c.updated_at >= updated_since), key=lambda c: c.updated_at
        )
        start = int(page_token or 0)
        more = start + self.page_size < len(matching)
        return CasePage(
            cases=matching[start : start + self.page_size],
            next_page_token=str(start + self.page_size) if more else None,
        )

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        if self.respond_failures:
            raise self.respond_failures.pop(0)
        case = self.cases.get(response.case_external_id)
        if case is None:
            raise ChannelError(f"no case {response.case_external_id}", code="NOT_FOUND")
        if response.action not in case.actions:
            raise ChannelError(f"the case does not take {response.action} now", code="INVALID_STATE")
        self.responses.append(response)
        if response.action == CaseAction.ACCEPT:
            if case.kind == CaseKind.CANCELLATION:
                self.set_order_status(case.order_external_id, "cancelled")
                return self.case_moves(
                    case.external_id, CaseStatus.ACCEPTED, "CANCELLED", actions=frozenset()
                )
            if case.kind == CaseKind.REFUND_ONLY:
                return self.case_moves(case.external_id, CaseStatus.REFUNDED, "REFUND_PAID")
            return self.case_moves(
                case.external_id, CaseStatus.ACCEPTED, "AWAITING_RETURN", actions=frozenset()
            )
        if response.action == CaseAction.REJECT:
            return self.case_moves(case.external_id, CaseStatus.REJECTED, "SELLER_REJECTED")
        if response.action == CaseAction.DISPUTE:
            return self.case_moves(case.external_id, CaseStatus.DISPUTED, "JUDGING", actions=frozenset())
        return self.case_moves(
            case.external_id, CaseStatus.NEGOTIATING, "OFFER_SENT", actions=frozenset({CaseAction.DISPUTE})
        )

    def pushed_quantities(self, connection_id: int) -> dict[str, int]:
        """The last quantity pushed for each channel SKU of a connection."""
        latest: dict[str, int] = {}
        for conn_id, updates in self.pushes:
            if conn_id == connection_id:
                latest.update({u.channel_sku: u.quantity for u in updates})
        return latest


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
    def crossdock_shipment_confirmed(self, tenant: str, shipment_id: int, tracking_number: str) -> None:
        self.events.append(
            {
                "hook": "shipment_confirmed",
                "tenant": tenant,
                "shipment_id": shipment_id,
                "tracking": tracking_number,
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


class Shop:
    """A tenant with two SKUs, a Singapore warehouse, a testmarket connection listing both."""

    __test__ = False

    def __init__(self, app: Any, tenant: Any, market: TestMarket) -> None:
        self.app = app
        self.tenant = tenant
        self.market = market
        self.variants: dict[str, int] = {}
        self.warehouses: dict[str, int] = {}
        self.connections: dict[str, int] = {}

    async def setup(self, stock: int = 5) -> Shop:
        from crossdock.services import catalog, inventory

        async with self.write() as session:
            await catalog.create_product(
                session,
                title="Fan",
                variants=[catalog.VariantSpec(sku="SKU-1"), catalog.VariantSpec(sku="SKU-2")],
            )
            from sqlalchemy import select

            from crossdock.db.models import Variant

            self.variants = {v.sku: v.id for v in (await session.scalars(select(Variant))).all()}
            wh = await inventory.create_warehouse(
                session,
                code="SG1",
                name="Singapore",
                country="SG",
                serves_countries=["SG", "MY"],
                priority=10,
            )
            self.warehouses["SG1"] = wh.id
        await self.connect("sg")
        if stock:
            await self.receive("SKU-1", "SG1", stock)
        return self

    def write(self) -> Any:
        return self.app.db.write(self.tenant.id, slug=self.tenant.slug)

    def unit_of_work(self) -> Any:
        return self.app.unit_of_work(self.tenant.id, self.tenant.slug)

    def read(self) -> Any:
        return self.app.db.tenant(self.tenant.id, self.tenant.slug)

    async def connect(self, name: str, site: str = "SG") -> int:
        from crossdock.db.models import Listing
        from crossdock.services import connections

        async with self.write() as session:
            conn = await connections.create_connection(
                session,
                self.app.plugins,
                self.app.vault,
                channel="testmarket",
                name=name,
                site=site,
                credentials={"t": "x"},
            )
            for sku, variant_id in self.variants.items():
                session.add(
                    Listing(connection_id=conn.id, variant_id=variant_id, channel_sku=f"{name}-{sku}")
                )
        self.connections[name] = conn.id
        return conn.id

    async def receive(self, sku: str, warehouse: str, quantity: int) -> None:
        from crossdock.services import inventory

        async with self.unit_of_work() as uow:
            await inventory.receive_stock(
                uow,
                variant_id=self.variants[sku],
                warehouse_id=self.warehouses[warehouse],
                quantity=quantity,
            )

    async def ingest(self, *orders: ChannelOrder, connection: str = "sg") -> Any:
        from sqlalchemy import select

        from crossdock.db.models import Connection
        from crossdock.services.orders import ingest_orders

        async with self.unit_of_work() as uow:
            session = uow.session
            conn = await session.scalar(
                select(Connection).where(Connection.id == self.connections[connection])
            )
            return await ingest_orders(uow, conn, list(orders))

    async def order(self, external_id: str) -> Any:
        from sqlalchemy import select

        from crossdock.db.models import Order

        async with self.read() as session:
            return await session.scalar(select(Order).where(Order.external_id == external_id))

    async def level(self, sku: str, warehouse: str = "SG1") -> tuple[int, int]:
        from sqlalchemy import select

        from crossdock.db.models import StockLevel

        async with self.read() as session:
            row = (
                await session.execute(
                    select(StockLevel.on_hand, StockLevel.reserved).where(
                        StockLevel.variant_id == self.variants[sku],
                        StockLevel.warehouse_id == self.warehouses[warehouse],
                    )
                )
            ).one_or_none()
        return (row[0], row[1]) if row else (0, 0)

    async def holds(self, external_id: str) -> list[str]:
        from sqlalchemy import select

        from crossdock.db.models import Order, OrderHold

        async with self.read() as session:
            return sorted(
                (
                    await session.scalars(
                        select(OrderHold.reason)
                        .join(Order, Order.id == OrderHold.order_id)
                        .where(Order.external_id == external_id, OrderHold.released_at.is_(None))
                    )
                ).all()
            )

    async def ledger_matches_levels(self) -> None:
        from sqlalchemy import func, select

        from crossdock.db.models import StockLedgerEntry, StockLevel

        async with self.read() as session:
            for level in (await session.scalars(select(StockLevel))).all():
                sums = (
                    await session.execute(
                        select(
                            func.coalesce(func.sum(StockLedgerEntry.delta_on_hand), 0),
                            func.coalesce(func.sum(StockLedgerEntry.delta_reserved), 0),
                        ).where(
                            StockLedgerEntry.variant_id == level.variant_id,
                            StockLedgerEntry.warehouse_id == level.warehouse_id,
                        )
                    )
                ).one()
                assert (level.on_hand, level.reserved) == (sums[0], sums[1])
                assert level.on_hand >= level.reserved >= 0


@pytest.fixture
async def shop(app: Any, tenant_factory: Any, testmarket: TestMarketPlugin) -> Shop:
    tenant = await tenant_factory()
    return await Shop(app, tenant, testmarket.market).setup()
