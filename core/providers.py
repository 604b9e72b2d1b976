"""Provider contracts: what a marketplace, payment, carrier or tax plugin hands the core.

Registration hooks (see :mod:`crossdock.hookspecs`) return provider objects. Each kind has
a typed :class:`~typing.Protocol` the core programs against, and a base class a plugin may
subclass to get ``NotSupported`` defaults for every operation it does not offer yet.

A provider declares its ``capabilities`` honestly: the core only calls an operation whose
capability is declared, and the plugin manager refuses a provider that declares a
capability without implementing the method behind it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from crossdock.errors import ChannelError, NotSupported
from crossdock.money import Money

T = TypeVar("T")

__all__ = [
    "MARKETPLACE_OPERATIONS",
    "Address",
    "CarrierBase",
    "CarrierProvider",
    "ChannelConnection",
    "ChannelMessage",
    "ChannelOrder",
    "ChannelOrderLine",
    "Limiter",
    "MarketplaceBase",
    "MarketplaceCapability",
    "MarketplaceProvider",
    "MessagePage",
    "Notification",
    "NotificationSource",
    "OrderPage",
    "OutgoingMessage",
    "PaymentBase",
    "PaymentMethodOption",
    "PaymentProvider",
    "PriceUpdate",
    "ProviderKind",
    "PushResult",
    "RateLimit",
    "ShipmentConfirmation",
    "Site",
    "StockUpdate",
    "TaxBase",
    "TaxEngine",
    "TaxLine",
    "TaxQuote",
    "with_retries",
]


class ProviderKind(StrEnum):
    MARKETPLACE = "marketplace"
    PAYMENT = "payment"
    CARRIER = "carrier"
    TAX = "tax"


class MarketplaceCapability(StrEnum):
    """What a marketplace provider can do. Each maps to one async method."""

    ORDERS_SYNC = "orders.sync"
    ORDERS_GET = "orders.get"
    ORDERS_CANCEL = "orders.cancel"
    SHIPMENTS_CONFIRM = "shipments.confirm"
    STOCK_PUSH = "stock.push"
    PRICE_PUSH = "price.push"
    MESSAGES_READ = "messages.read"
    MESSAGES_SEND = "messages.send"
    WEBHOOKS = "webhooks"
    NOTIFICATIONS = "notifications"
    CREDENTIALS_REFRESH = "credentials.refresh"


#: capability -> the provider method that must be implemented to claim it.
MARKETPLACE_OPERATIONS: Mapping[str, str] = {
    MarketplaceCapability.ORDERS_SYNC: "fetch_orders",
    MarketplaceCapability.ORDERS_GET: "fetch_order",
    MarketplaceCapability.ORDERS_CANCEL: "cancel_order",
    MarketplaceCapability.SHIPMENTS_CONFIRM: "confirm_shipment",
    MarketplaceCapability.STOCK_PUSH: "push_stock",
    MarketplaceCapability.PRICE_PUSH: "push_prices",
    MarketplaceCapability.MESSAGES_READ: "fetch_messages",
    MarketplaceCapability.MESSAGES_SEND: "send_message",
    MarketplaceCapability.WEBHOOKS: "parse_webhook",
    MarketplaceCapability.NOTIFICATIONS: "notification_source",
    MarketplaceCapability.CREDENTIALS_REFRESH: "refresh_credentials",
}


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class Site:
    """A marketplace site/region a connection can be bound to (e.g. Amazon DE, Shopee MY)."""

    code: str
    country: str
    currency: str
    name: str = ""
    external_id: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """A documented token bucket: ``rate`` requests per second refilling up to ``burst``."""

    rate: float
    burst: int


class Limiter(Protocol):
    """A connection's rate limiter, as the core attaches it to :class:`ChannelConnection`."""

    async def __call__(self, operation: str) -> None: ...

    async def observe(self, operation: str, rate: float) -> None: ...


@dataclass(frozen=True)
class ChannelConnection:
    """What a provider gets to call the marketplace for one connection.

    ``credentials`` are decrypted for the duration of the call only; a provider must never
    log them. ``base_url`` overrides the production host (emulators, sandboxes).
    """

    id: int
    tenant: str
    channel: str
    site: str
    currency: str
    credentials: Mapping[str, Any]
    base_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    limiter: Limiter | None = field(default=None, repr=False, compare=False)

    async def throttle(self, operation: str) -> None:
        """Wait for this connection's token bucket of ``operation`` (one of the provider's
        ``rate_limits`` keys). Call it before each request; undeclared operations pass."""
        if self.limiter is not None:
            await self.limiter(operation)

    async def rate_observed(self, operation: str, rate: float) -> None:
        """Report the rate (requests per second) the marketplace says applies to
        ``operation`` now, e.g. from a rate-limit response header; the connection's bucket
        paces to it from then on, across processes."""
        if self.limiter is not None:
            await self.limiter.observe(operation, rate)


@dataclass(frozen=True)
class Address:
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ChannelOrderLine:
    external_id: str
    sku: str
    quantity: int
    unit_price: Money
    title: str | None = None


@dataclass(frozen=True)
class ChannelOrder:
    """An order as a marketplace provider normalizes it.

    ``status`` is a Crossdock status (see ``crossdock.db.models.OrderStatus``);
    ``channel_status`` keeps the marketplace's own word for audit. ``updated_at`` is the
    marketplace's update time: later updates win, earlier ones are ignored.
    """

    external_id: str
    status: str
    channel_status: str
    placed_at: datetime
    updated_at: datetime
    total: Money
    lines: Sequence[ChannelOrderLine]
    buyer_name: str | None = None
    buyer_email: str | None = None
    shipping_address: Address | None = None
    ship_by: datetime | None = None
    fulfilled_by_channel: bool = False
    payment_status: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderPage:
    """One page of orders. ``next_page_token`` is None on the last page."""

    orders: Sequence[ChannelOrder]
    next_page_token: str | None = None


@dataclass(frozen=True)
class ChannelMessage:
    """One message of a buyer conversation, as a marketplace provider normalizes it.

    ``thread_id`` is the channel's conversation id; ``from_buyer`` tells the direction
    (messages the seller sent from the marketplace's own console come back as
    ``from_buyer=False`` and count as replies). ``language`` is set when the channel knows it.
    """

    thread_id: str
    external_id: str
    from_buyer: bool
    text: str
    sent_at: datetime
    buyer_id: str | None = None
    buyer_name: str | None = None
    order_external_id: str | None = None
    language: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MessagePage:
    """One page of messages, oldest first. ``next_page_token`` is None on the last page."""

    messages: Sequence[ChannelMessage]
    next_page_token: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """A seller reply to send. ``reference`` is stable per message, so a channel that can
    deduplicate recognises a retried send as the same message."""

    thread_id: str
    text: str
    buyer_id: str | None = None
    order_external_id: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Notification:
    """One event read from a marketplace's notification queue.

    ``id`` is the event's own id (the same on every redelivery), ``receipt`` what the
    source needs to acknowledge this delivery, ``references`` what the event is about, as
    ``parse_webhook`` names it (``[{"type": "order", "external_id": ...}]``).
    """

    id: str
    receipt: str
    references: Sequence[Mapping[str, Any]]
    body: str = ""


@runtime_checkable
class NotificationSource(Protocol):
    """A queue a marketplace delivers events to (Amazon: SQS), read by the core.

    Delivery is at least once: the core stores what ``receive`` returns, then calls ``ack``
    with the receipts; a notification not acknowledged (a crash in between) comes back
    later and is recognised by its ``id``.
    """

    async def receive(self, max_messages: int) -> Sequence[Notification]:
        """Up to ``max_messages`` notifications; an empty sequence when the queue is empty."""

    async def ack(self, receipts: Sequence[str]) -> None:
        """Remove these deliveries from the queue for good."""


@dataclass(frozen=True)
class ShipmentConfirmation:
    """A shipment to confirm to the channel. ``tracking_number`` is the seller's carrier's;
    it is empty when the channel is to book its own carrier and assign one."""

    order_external_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime
    service: str | None = None
    lines: Sequence[tuple[str, int]] = ()  # (external line id, quantity)
    #: Stable per shipment: lets a channel recognise a retried confirmation as the same one.
    reference: str | None = None
    #: The channel's own id for the carrier, from the connection's ``carrier_codes`` setting
    #: (carrier name -> code); None when the seller has not mapped it.
    carrier_code: str | None = None


@dataclass(frozen=True)
class StockUpdate:
    channel_sku: str
    quantity: int
    external_id: str | None = None


@dataclass(frozen=True)
class PriceUpdate:
    channel_sku: str
    price: Money
    external_id: str | None = None


@dataclass(frozen=True)
class PushResult:
    channel_sku: str
    accepted: bool
    message: str | None = None


@dataclass(frozen=True)
class PaymentMethodOption:
    provider: str
    method: str
    label: str
    rank: int = 100


@dataclass(frozen=True)
class TaxLine:
    sku: str
    amount: Money
    quantity: int = 1
    tax_class: str = "standard"


@dataclass(frozen=True)
class TaxQuote:
    """Tax for one line: the rate, the amount, and who collects it."""

    sku: str
    rate: Decimal
    amount: Money
    collected_by: str = "seller"  # or "marketplace" under deemed-supplier rules
    jurisdiction: str = ""


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class MarketplaceProvider(Protocol):
    """A sales channel. Every operation is async and talks to the marketplace over HTTP."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]
    rate_limits: Mapping[str, RateLimit]

    def sites(self) -> Sequence[Site]: ...

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage: ...

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder: ...

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: str) -> None: ...

    async def confirm_shipment(
        self, conn: ChannelConnection, confirmation: ShipmentConfirmation
    ) -> str | None: ...

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]: ...

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]: ...

    async def fetch_messages(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> MessagePage: ...

    async def send_message(self, conn: ChannelConnection, message: OutgoingMessage) -> str | None: ...

    def parse_webhook(
        self, conn: ChannelConnection, headers: Mapping[str, str], body: bytes
    ) -> Sequence[Mapping[str, Any]]: ...

    def notification_source(self, conn: ChannelConnection) -> NotificationSource | None: ...

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]: ...


@runtime_checkable
class PaymentProvider(Protocol):
    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    def payment_methods(self, country: str, amount: Money) -> Sequence[PaymentMethodOption]: ...


@runtime_checkable
class CarrierProvider(Protocol):
    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    async def track(self, tracking_number: str) -> Sequence[Mapping[str, Any]]: ...


@runtime_checkable
class TaxEngine(Protocol):
    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    def applies_to(self, country: str) -> bool: ...

    def quote(self, country: str, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]: ...


# --------------------------------------------------------------------------- base classes


class _Base:
    name: ClassVar[str]
    display_name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    capabilities: frozenset[str] = frozenset()

    def _unsupported(self, operation: str) -> NotSupported:
        return NotSupported(f"{self.name} does not support {operation} yet")


class MarketplaceBase(_Base):
    """Subclass and override what the marketplace offers; declare it in ``capabilities``."""

    rate_limits: Mapping[str, RateLimit] = {}

    def sites(self) -> Sequence[Site]:
        return ()

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        raise self._unsupported("fetch_orders")

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        raise self._unsupported("fetch_order")

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: str) -> None:
        raise self._unsupported("cancel_order")

    async def confirm_shipment(
        self, conn: ChannelConnection, confirmation: ShipmentConfirmation
    ) -> str | None:
        raise self._unsupported("confirm_shipment")

    async def push_stock(
        self, conn: ChannelConnection, updates: Sequence[StockUpdate]
    ) -> Sequence[PushResult]:
        raise self._unsupported("push_stock")

    async def push_prices(
        self, conn: ChannelConnection, updates: Sequence[PriceUpdate]
    ) -> Sequence[PushResult]:
        raise self._unsupported("push_prices")

    async def fetch_messages(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> MessagePage:
        raise self._unsupported("fetch_messages")

    async def send_message(self, conn: ChannelConnection, message: OutgoingMessage) -> str | None:
        raise self._unsupported("send_message")

    def parse_webhook(
        self, conn: ChannelConnection, headers: Mapping[str, str], body: bytes
    ) -> Sequence[Mapping[str, Any]]:
        raise self._unsupported("parse_webhook")

    def notification_source(self, conn: ChannelConnection) -> NotificationSource | None:
        raise self._unsupported("notification_source")

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        raise self._unsupported("refresh_credentials")


class PaymentBase(_Base):
    def payment_methods(self, country: str, amount: Money) -> Sequence[PaymentMethodOption]:
        return ()


class CarrierBase(_Base):
    async def track(self, tracking_number: str) -> Sequence[Mapping[str, Any]]:
        raise self._unsupported("track")


class TaxBase(_Base):
    def applies_to(self, country: str) -> bool:
        return False

    def quote(self, country: str, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]:
        raise self._unsupported("quote")


async def with_retries(
    call: Callable[[], Awaitable[T]], *, attempts: int = 5, base_delay: float = 0.05, max_delay: float = 2.0
) -> T:
    """Retry one channel call on transient errors (exponential backoff with jitter,
    honouring ``retry_after``).

    For calls inside one provider operation that fans out (an order list page, then one
    call per order): the core retries whole operations, which alone would make a page of
    a hundred calls all-or-nothing. Permanent errors are raised at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ChannelError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            delay = exc.retry_after if exc.retry_after is not None else base_delay * 2 ** (attempt - 1)
            await asyncio.sleep(min(max_delay, delay) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
