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
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from crossdock.errors import ChannelError, NotSupported, UserError
from crossdock.money import Money

if TYPE_CHECKING:
    import httpx

    from crossdock.net import OutboundHTTP

T = TypeVar("T")

__all__ = [
    "AD_PLATFORM_CAPABILITIES",
    "CARRIER_COMPANIONS",
    "CARRIER_OPERATIONS",
    "IDENTITY_OPERATIONS",
    "MAIL_OPERATIONS",
    "MARKETPLACE_OPERATIONS",
    "PAYMENT_OPERATIONS",
    "TAX_OPERATIONS",
    "TRACKING_FINAL",
    "TRANSLATOR_OPERATIONS",
    "WAREHOUSE_OPERATIONS",
    "AdCampaign",
    "AdLevel",
    "AdMetric",
    "AdReportPage",
    "AdState",
    "AdTargetKind",
    "AdType",
    "Address",
    "AddressCheck",
    "AttributeRule",
    "AttributeType",
    "AuthorizationRequest",
    "CarrierAccount",
    "CarrierBase",
    "CarrierCapability",
    "CarrierDocument",
    "CarrierProvider",
    "CategoryRules",
    "ChannelCategory",
    "ChannelConnection",
    "ChannelMessage",
    "ChannelOrder",
    "ChannelOrderLine",
    "ChannelSettlement",
    "CompetitorOffer",
    "CustomsItem",
    "DocumentFormat",
    "DocumentKind",
    "FxRates",
    "HoldReason",
    "IdentityBase",
    "IdentityCapability",
    "IdentityConfig",
    "IdentityProvider",
    "InboundLine",
    "InboundReceipt",
    "InboundShipment",
    "Incoterm",
    "ItemFlag",
    "Label",
    "Limiter",
    "ListingDraft",
    "ListingImage",
    "ListingIssueReason",
    "ListingProblem",
    "MailAccount",
    "MailCapability",
    "MailMessage",
    "MailReceipt",
    "Mailer",
    "MailerBase",
    "Manifest",
    "ManifestItem",
    "MarketplaceBase",
    "MarketplaceCapability",
    "MarketplaceProvider",
    "MessagePage",
    "Notification",
    "NotificationSource",
    "OrderPage",
    "OutboundLine",
    "OutboundOrder",
    "OutboundShipment",
    "OutgoingMessage",
    "Parcel",
    "Payment",
    "PaymentAccount",
    "PaymentBase",
    "PaymentCapability",
    "PaymentEvent",
    "PaymentMethodOption",
    "PaymentProvider",
    "PaymentRequest",
    "PaymentStatus",
    "Pickup",
    "PickupRequest",
    "PriceUpdate",
    "ProviderKind",
    "PublishOutcome",
    "PublishResult",
    "PushResult",
    "Rate",
    "RateLimit",
    "ReceiptLine",
    "Refund",
    "ServiceLevel",
    "SettlementKind",
    "SettlementLine",
    "SettlementPage",
    "SettlementStatus",
    "ShipmentConfirmation",
    "ShipmentRequest",
    "Site",
    "StockLine",
    "StockUpdate",
    "TaxBase",
    "TaxCapability",
    "TaxCollector",
    "TaxContext",
    "TaxEngine",
    "TaxLine",
    "TaxQuote",
    "TaxScheme",
    "TaxTally",
    "Threshold",
    "TrackingEvent",
    "TrackingReason",
    "TrackingResult",
    "TrackingStatus",
    "TrafficMetric",
    "TrafficPage",
    "TranslationRequest",
    "Translator",
    "TranslatorAccount",
    "TranslatorBase",
    "TranslatorCapability",
    "VerifiedIdentity",
    "WarehouseAccount",
    "WarehouseBase",
    "WarehouseCapability",
    "WarehouseSystem",
    "WebhookPush",
    "parse_push_json",
    "with_retries",
]


class ProviderKind(StrEnum):
    MARKETPLACE = "marketplace"
    PAYMENT = "payment"
    CARRIER = "carrier"
    TAX = "tax"
    #: a standalone advertising platform (Google Ads, Meta ...): connected like a shop, it
    #: only reads advertising reports (``ads.read``, ``credentials.refresh``)
    AD_PLATFORM = "ad_platform"
    #: sends the server's mail (password resets, invitations): ``crossdock_mailers``
    MAILER = "mailer"
    #: signs staff in through an identity provider (OIDC): ``crossdock_identity_providers``
    IDENTITY = "identity"
    #: a warehouse system (a WMS, a 3PL's or a marketplace's warehouses) holding a
    #: warehouse's stock: ``crossdock_warehouses``
    WAREHOUSE = "warehouse"
    #: translates listing content: ``crossdock_translators``
    TRANSLATOR = "translator"


#: What an ad platform may declare.
AD_PLATFORM_CAPABILITIES = frozenset({"ads.read", "credentials.refresh"})


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
    SETTLEMENTS = "settlements.read"
    CREDENTIALS_REFRESH = "credentials.refresh"
    #: buyers' cancellation, return and refund requests, pulled like orders
    CASES_SYNC = "cases.sync"
    #: the seller's answer to one of them (accept, reject, partial refund, dispute)
    CASES_RESPOND = "cases.respond"
    #: advertising: campaigns and their daily metrics (impressions, clicks, spend, sales)
    ADS_READ = "ads.read"
    #: traffic: sessions and page views per day and product (where the channel reports it)
    TRAFFIC_READ = "traffic.read"
    #: the channel's category tree: :meth:`MarketplaceProvider.fetch_categories`
    LISTINGS_CATEGORIES = "listings.categories"
    #: what a category needs of a listing: :meth:`MarketplaceProvider.fetch_category_rules`
    LISTINGS_RULES = "listings.rules"
    #: create or update a listing's content, or validate it only: :meth:`MarketplaceProvider.publish_listing`
    LISTINGS_PUBLISH = "listings.publish"
    #: a listing's content as the channel shows it now: :meth:`MarketplaceProvider.read_listing`
    LISTINGS_READ = "listings.read"
    #: take a listing off sale: :meth:`MarketplaceProvider.deactivate_listing`
    LISTINGS_DEACTIVATE = "listings.deactivate"
    #: other sellers' offers for a listing's product: :meth:`MarketplaceProvider.fetch_competitor_offers`
    COMPETITORS_READ = "competitors.read"


class PaymentCapability(StrEnum):
    """What a payment provider can do. Each maps to one method."""

    METHODS = "payments.methods"
    CHARGE = "payments.charge"
    REFUND = "payments.refund"
    WEBHOOKS = "payments.webhooks"


class TaxCapability(StrEnum):
    QUOTE = "tax.quote"
    VAT_NUMBERS = "tax.vat_numbers"


class MailCapability(StrEnum):
    """What a mailer can do."""

    SEND = "mail.send"


class IdentityCapability(StrEnum):
    """What an identity provider can do."""

    #: the authorization-code login: :meth:`IdentityProvider.authorization_url`, then
    #: :meth:`IdentityProvider.complete`
    LOGIN = "identity.login"


#: capability -> the provider method that must be implemented to claim it.
PAYMENT_OPERATIONS: Mapping[str, str] = {
    PaymentCapability.METHODS: "payment_methods",
    PaymentCapability.CHARGE: "create_payment",
    PaymentCapability.REFUND: "refund",
    PaymentCapability.WEBHOOKS: "parse_webhook",
}
TAX_OPERATIONS: Mapping[str, str] = {
    TaxCapability.QUOTE: "quote",
    TaxCapability.VAT_NUMBERS: "validate_vat_number",
}


class WarehouseCapability(StrEnum):
    """What a warehouse system (WMS, 3PL, a marketplace's warehouses) can do."""

    #: what it holds per SKU: :meth:`WarehouseSystem.pull_stock`
    STOCK_PULL = "warehouse.stock_pull"
    #: announce a delivery to it (an ASN): :meth:`WarehouseSystem.push_inbound`
    INBOUND_PUSH = "warehouse.inbound_push"
    #: hand it an order to pick, pack and ship: :meth:`WarehouseSystem.push_order`
    ORDER_PUSH = "warehouse.order_push"
    #: what it received against the deliveries announced: :meth:`WarehouseSystem.pull_receipts`
    RECEIPTS_PULL = "warehouse.receipts_pull"
    #: which of the orders handed to it have left, with their tracking: :meth:`WarehouseSystem.pull_shipments`
    SHIPMENTS_PULL = "warehouse.shipments_pull"


class TranslatorCapability(StrEnum):
    """What a translation engine can do."""

    #: translate texts from one language to another: :meth:`Translator.translate`
    TRANSLATE = "translate.text"


TRANSLATOR_OPERATIONS: Mapping[str, str] = {TranslatorCapability.TRANSLATE: "translate"}
MAIL_OPERATIONS: Mapping[str, str] = {MailCapability.SEND: "send"}
IDENTITY_OPERATIONS: Mapping[str, str] = {IdentityCapability.LOGIN: "complete"}
WAREHOUSE_OPERATIONS: Mapping[str, str] = {
    WarehouseCapability.STOCK_PULL: "pull_stock",
    WarehouseCapability.INBOUND_PUSH: "push_inbound",
    WarehouseCapability.ORDER_PUSH: "push_order",
    WarehouseCapability.RECEIPTS_PULL: "pull_receipts",
    WarehouseCapability.SHIPMENTS_PULL: "pull_shipments",
}

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
    MarketplaceCapability.SETTLEMENTS: "fetch_settlements",
    MarketplaceCapability.CREDENTIALS_REFRESH: "refresh_credentials",
    MarketplaceCapability.CASES_SYNC: "fetch_cases",
    MarketplaceCapability.CASES_RESPOND: "respond_to_case",
    MarketplaceCapability.ADS_READ: "fetch_ads",
    MarketplaceCapability.TRAFFIC_READ: "fetch_traffic",
    MarketplaceCapability.LISTINGS_CATEGORIES: "fetch_categories",
    MarketplaceCapability.LISTINGS_RULES: "fetch_category_rules",
    MarketplaceCapability.LISTINGS_PUBLISH: "publish_listing",
    MarketplaceCapability.LISTINGS_READ: "read_listing",
    MarketplaceCapability.LISTINGS_DEACTIVATE: "deactivate_listing",
    MarketplaceCapability.COMPETITORS_READ: "fetch_competitor_offers",
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


def _outbound(http: OutboundHTTP | None) -> OutboundHTTP:
    """The pool the core attached, else the process-wide one of code outside a server."""
    from crossdock.net import default_outbound

    return http if http is not None else default_outbound()


def _http_client(http: OutboundHTTP | None, settings: Mapping[str, Any]) -> httpx.AsyncClient:
    from crossdock.net import DEFAULT_TIMEOUT

    try:
        timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        timeout = DEFAULT_TIMEOUT
    return _outbound(http).client(timeout=timeout)


@dataclass(frozen=True)
class ChannelConnection:
    """What a provider gets to call the marketplace for one connection.

    ``credentials`` are decrypted for the duration of the call only; a provider must never
    log them. ``base_url`` overrides the production host (emulators, sandboxes). Make every
    HTTP call with :meth:`http_client`: it refuses addresses the operator has not allowed.
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
    #: The server's outbound HTTP pool (the core attaches it); see :meth:`http_client`.
    http: OutboundHTTP | None = field(default=None, repr=False, compare=False)

    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` to call the marketplace with, timing out after
        ``settings.timeout`` seconds (default 10). It is the server's one shared pool, closed
        at shutdown (never close it yourself), and it refuses loopback, private, link-local
        and other non-public addresses, after DNS and on redirects, unless the operator allows
        them (``CROSSDOCK_ALLOWED_HOSTS``): a refusal raises a permanent ``ChannelError``
        with code ``URL_NOT_ALLOWED``. Outside a server (a provider called directly) it is a
        process-wide pool under the same environment's allow-list."""
        return _http_client(self.http, self.settings)

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
    company: str | None = None
    email: str | None = None


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
    #: The payment that paid for the order, when the channel is the seller's own (a
    #: storefront): the payment provider's name (``stripe``) and its reference for the
    #: payment (a PaymentIntent id). ``refundRecord`` then refunds through that provider.
    #: Marketplaces leave both None: they collect the money and refund it themselves.
    payment_provider: str | None = None
    payment_reference: str | None = None


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


@dataclass(frozen=True)
class WebhookPush:
    """What ``parse_webhook`` found in a verified push, when the channel gives the push an
    id of its own (TikTok Shop's ``tts_notification_id``).

    ``parse_webhook`` returns either this or the bare ``references``. With ``event_id`` the
    core recognises a push delivered again even when its bytes differ (stamped or signed
    anew); without one, a replay is recognised by the digest of its verified body. Either
    way a push is stored, and processed, once per connection.
    """

    references: Sequence[Mapping[str, Any]]
    event_id: str | None = None


def parse_push_json(body: bytes, channel: str) -> dict[str, Any]:
    """A push body that must be a JSON object, decoded; for ``parse_webhook``, after the
    signature has been verified.

    Raises ``ChannelError(code="MALFORMED")`` for anything else (invalid UTF-8, not JSON,
    NaN or Infinity, nesting too deep to decode, a list or a scalar): the core answers such
    a push with HTTP 400 and stores nothing.
    """

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise ChannelError(f"{channel} push is not JSON", code="MALFORMED") from None
    if not isinstance(payload, dict):
        raise ChannelError(f"{channel} push is not a JSON object", code="MALFORMED")
    return payload


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


class AdType(StrEnum):
    """What kind of advertising a campaign buys."""

    SPONSORED_PRODUCTS = "sponsored_products"  #: product ads in search and product pages
    SPONSORED_BRANDS = "sponsored_brands"  #: brand banners and videos
    SPONSORED_DISPLAY = "sponsored_display"  #: display and retargeting
    SEARCH = "search"  #: keyword ads in the marketplace's search (Shopee search ads)
    DISCOVERY = "discovery"  #: placements outside search (Shopee discovery, TikTok feed)
    SHOP = "shop"  #: ads for the whole shop
    OTHER = "other"


class AdState(StrEnum):
    ENABLED = "enabled"
    PAUSED = "paused"
    ENDED = "ended"  #: archived, ended or deleted: spends nothing any more


class AdLevel(StrEnum):
    """How finely a metric row cuts a campaign's day. Rows of one level add up to the
    campaign's day; rows of different levels describe the same money and must not be added
    together (the core sums ``PRODUCT`` rows for what a SKU's ads cost, ``CAMPAIGN`` rows
    for a campaign's totals, and ``TARGET`` / ``SEARCH_TERM`` rows for what a keyword or a
    buyer's search brought)."""

    CAMPAIGN = "campaign"
    PRODUCT = "product"  #: one advertised SKU in one ad group
    TARGET = "target"  #: one keyword or product target
    SEARCH_TERM = "search_term"  #: what buyers typed, under one target


class AdTargetKind(StrEnum):
    KEYWORD = "keyword"
    PRODUCT = "product"  #: an ASIN or item targeted
    CATEGORY = "category"
    AUTO = "auto"  #: the marketplace chooses
    AUDIENCE = "audience"


@dataclass(frozen=True)
class AdCampaign:
    """A campaign as the channel shows it now."""

    external_id: str
    name: str
    ad_type: AdType
    state: AdState
    #: what the campaign may spend per day, in the account's currency (None: no daily cap)
    daily_budget: Money | None = None
    #: the campaign's whole budget (a lifetime cap), where it has one
    total_budget: Money | None = None
    starts_on: date | None = None
    ends_on: date | None = None


@dataclass(frozen=True)
class AdMetric:
    """One row of a channel's daily advertising report.

    ``day`` is the day in the marketplace's own reporting time zone, as its report states
    it. ``spend`` and ``sales`` are in the account's currency; ``orders``, ``units`` and
    ``sales`` are what the channel attributes to the ad in its own window (Amazon: 7 days for
    Sponsored Products, 14 for Sponsored Brands/Display). The channel revises recent days
    while that window is open: the core asks again for them and replaces the rows it has,
    keyed by ``(level, day, campaign_id, ad_group_id, sku, target, search_term)``.
    """

    level: AdLevel
    day: date
    campaign_id: str
    impressions: int
    clicks: int
    spend: Money
    orders: int = 0
    units: int = 0
    sales: Money | None = None
    ad_group_id: str | None = None
    #: the seller's SKU advertised (``PRODUCT`` rows; ``None`` elsewhere)
    sku: str | None = None
    #: the keyword text or the targeted product/category id (``TARGET``/``SEARCH_TERM``)
    target: str | None = None
    target_kind: AdTargetKind | None = None
    #: exact, phrase or broad, as the channel names it
    match_type: str | None = None
    search_term: str | None = None


@dataclass(frozen=True)
class AdReportPage:
    """A page of a channel's advertising report for ``day_from .. day_to``.

    A channel that builds reports asynchronously (Amazon Ads v3: request, poll, download)
    answers ``ready=False`` with ``retry_after`` seconds and a ``next_page_token`` that names
    the report being built: the core asks again with that token after the delay (in a later
    job, not by sleeping) and gets the rows once the report is done. ``campaigns`` may be
    empty on later pages."""

    metrics: Sequence[AdMetric] = ()
    campaigns: Sequence[AdCampaign] = ()
    next_page_token: str | None = None
    ready: bool = True
    retry_after: float | None = None


@dataclass(frozen=True)
class TrafficMetric:
    """Visits to the seller's listings on one day (the channel's reporting day).

    ``sku`` None is the shop's total for the day. ``units_ordered`` and ``orders`` are the
    channel's own count of what the visits bought, where its report has them (conversion
    in the core is orders over sessions, from these when present, else from Crossdock's
    orders)."""

    day: date
    sessions: int
    page_views: int
    sku: str | None = None
    units_ordered: int | None = None
    orders: int | None = None
    sales: Money | None = None


@dataclass(frozen=True)
class TrafficPage:
    """A page of traffic rows; ``ready``/``retry_after``/``next_page_token`` as for
    :class:`AdReportPage` (Amazon's Sales and Traffic report is built asynchronously)."""

    metrics: Sequence[TrafficMetric] = ()
    next_page_token: str | None = None
    ready: bool = True
    retry_after: float | None = None


# --------------------------------------------------------------------------- listing content


@dataclass(frozen=True)
class ChannelCategory:
    """One node of a channel's category tree; listings go in ``leaf`` categories."""

    id: str
    name: str
    parent_id: str | None = None
    leaf: bool = True


class AttributeType(StrEnum):
    """What values a category attribute takes."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    #: one of ``AttributeRule.values``
    ENUM = "enum"
    #: several of ``AttributeRule.values``
    MULTI_ENUM = "multi_enum"


@dataclass(frozen=True)
class AttributeRule:
    """An attribute a category asks for, under the channel's own key (``name``)."""

    name: str
    label: str = ""
    required: bool = False
    type: AttributeType = AttributeType.TEXT
    #: the values allowed (an enum's), in the channel's spelling
    values: Sequence[str] = ()
    #: the unit a number is in (``"g"``, ``"cm"``), when the channel fixes one
    unit: str | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class CategoryRules:
    """What a channel requires of a listing in one category, for the checks run on save and
    before publishing. ``schema`` is the channel's own JSON Schema of the attributes where it
    publishes one (Amazon's product type definitions), checked with ``jsonschema``; the
    rest are limits on the content and its images (``None``: no limit)."""

    category_id: str
    attributes: Sequence[AttributeRule] = ()
    schema: Mapping[str, Any] | None = None
    title_max: int | None = None
    #: how many bullet points, and how long each may be
    bullets_max: int | None = None
    bullet_max_length: int | None = None
    description_max: int | None = None
    #: the search keywords joined by spaces, in UTF-8 bytes (Amazon counts bytes)
    keywords_max_length: int | None = None
    images_min: int = 1
    images_max: int | None = None
    #: the shortest side of an image, in pixels
    image_min_px: int | None = None
    image_max_bytes: int | None = None
    #: Pillow format names (``"JPEG"``, ``"PNG"``, ``"WEBP"``)
    image_formats: frozenset[str] = frozenset({"JPEG", "PNG"})
    #: the main image must stand on a pure white background (Amazon's rule)
    white_main_image: bool = False
    #: words the channel refuses in a title or description
    forbidden_words: Sequence[str] = ()
    requires_brand: bool = False


@dataclass(frozen=True)
class ListingImage:
    """An image of a listing. ``data`` holds its bytes (a channel that takes uploads gets
    them from here); ``url`` is where the channel can fetch it itself, when the server has
    one to give (read back from a channel, only ``url`` is known). ``key`` is stable for the
    same image, so a provider may keep what it uploaded under it."""

    key: str
    content_type: str = "image/jpeg"
    width: int = 0
    height: int = 0
    data: bytes = field(default=b"", repr=False)
    url: str | None = None


@dataclass(frozen=True)
class ListingDraft:
    """A listing's content for one shop in one language, as Crossdock holds it (what
    :meth:`MarketplaceProvider.publish_listing` is given) or as the channel shows it (what
    :meth:`MarketplaceProvider.read_listing` returns). ``attributes`` are keyed by the
    channel's attribute names; ``price`` is in the shop's currency; ``external_id`` is the
    channel's id of the listing when it knows it already (publish then updates it)."""

    sku: str
    language: str
    title: str
    category_id: str | None = None
    bullets: Sequence[str] = ()
    description: str = ""
    keywords: Sequence[str] = ()
    brand: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    images: Sequence[ListingImage] = ()
    price: Money | None = None
    quantity: int | None = None
    external_id: str | None = None


class PublishOutcome(StrEnum):
    """What the channel did with a listing sent to it."""

    #: it took the listing (live, or in its own review)
    ACCEPTED = "accepted"
    #: it is processing the listing and says later (a submission id in ``external_id``)
    PENDING = "pending"
    #: it refused the listing: ``problems`` say why, in its own words
    REJECTED = "rejected"
    #: a validation only (``preview``): it would take the listing as it is
    VALID = "valid"


@dataclass(frozen=True)
class ListingProblem:
    """Something the channel (or a check) says is wrong with a listing. ``field`` names the
    content field (``title``, ``images``, ``attributes.material``) when it is known."""

    code: str
    message: str
    field: str | None = None
    #: ``error`` blocks publishing; ``warning`` does not
    severity: str = "error"


@dataclass(frozen=True)
class PublishResult:
    outcome: PublishOutcome
    external_id: str | None = None
    problems: Sequence[ListingProblem] = ()


@dataclass(frozen=True)
class CompetitorOffer:
    """Another seller's offer for the same product on the channel."""

    seller: str
    price: Money
    shipping: Money | None = None
    condition: str = "new"
    #: the channel fulfils it (FBA and similar)
    fulfilled_by_channel: bool = False
    #: it holds the buy box (featured offer) now
    featured: bool = False


class SettlementKind(StrEnum):
    """What a line of a payout is. Amounts are signed: money to the seller is positive,
    what the marketplace keeps is negative."""

    SALE = "sale"
    SHIPPING = "shipping"
    TAX = "tax"
    COMMISSION = "commission"
    FULFILMENT_FEE = "fulfilment_fee"
    ADVERTISING = "advertising"
    REFUND = "refund"
    PROMOTION = "promotion"
    FX = "fx"
    OTHER = "other"


class SettlementStatus(StrEnum):
    OPEN = "open"  #: still collecting lines
    CLOSED = "closed"  #: final, not paid yet
    PAID = "paid"


@dataclass(frozen=True)
class SettlementLine:
    kind: str
    amount: Money
    order_external_id: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ChannelSettlement:
    """A payout (Amazon: a financial event group; Shopee: a payout) with its lines. An open
    one is read again until it closes: the core replaces its lines each time."""

    external_id: str
    opened_at: datetime
    total: Money
    lines: Sequence[SettlementLine]
    closed_at: datetime | None = None
    paid_at: datetime | None = None
    status: str = "open"  # open, closed, paid


@dataclass(frozen=True)
class SettlementPage:
    settlements: Sequence[ChannelSettlement]
    next_page_token: str | None = None


class CancelReason(StrEnum):
    """Why the seller cancels an order on its channel; each marketplace plugin maps these to
    its own reason codes (and refuses the ones its channel does not take)."""

    OUT_OF_STOCK = "out_of_stock"  #: the seller cannot supply the goods
    BUYER_REQUEST = "buyer_request"  #: the buyer asked (outside a cancellation case)
    UNDELIVERABLE_ADDRESS = "undeliverable_address"  #: the address cannot be served
    PRICING_ERROR = "pricing_error"  #: the listing was priced wrongly
    OTHER = "other"


class CaseKind(StrEnum):
    """What a buyer asks for after placing an order."""

    CANCELLATION = "cancellation"  #: cancel before it ships
    RETURN_REFUND = "return_refund"  #: send the goods back for a refund
    REFUND_ONLY = "refund_only"  #: a refund without sending anything back


class CaseStatus(StrEnum):
    """Where a case stands, normalised over the channels' own statuses (kept beside it as
    ``channel_status``). ``OPEN`` waits for the seller until ``respond_by``."""

    OPEN = "open"  #: waiting for the seller's decision
    NEGOTIATING = "negotiating"  #: a partial refund is offered and not yet taken
    ACCEPTED = "accepted"  #: the seller agreed; a return is on its way back or due
    RETURN_SHIPPED = "return_shipped"  #: the buyer has sent the goods back
    DISPUTED = "disputed"  #: the platform is judging
    REJECTED = "rejected"  #: the seller (or the platform) refused
    REFUNDED = "refunded"  #: the buyer has been refunded
    CANCELLED = "cancelled"  #: the buyer withdrew the request
    CLOSED = "closed"  #: ended any other way

    @property
    def final(self) -> bool:
        return self in _FINAL_CASE_STATUSES


_FINAL_CASE_STATUSES = frozenset(
    {CaseStatus.REJECTED, CaseStatus.REFUNDED, CaseStatus.CANCELLED, CaseStatus.CLOSED}
)


class CaseAction(StrEnum):
    """What the seller may answer to a case (a channel allows a subset at each moment)."""

    ACCEPT = "accept"  #: cancel as asked, or take the return / refund as asked
    REJECT = "reject"  #: refuse, with a reason
    OFFER_PARTIAL_REFUND = "offer_partial_refund"  #: offer less than asked, buyer keeps the goods
    DISPUTE = "dispute"  #: ask the platform to judge


@dataclass(frozen=True)
class CaseLine:
    """One order line a case is about; ``order_line_external_id`` as in
    :class:`ChannelOrderLine` (``sku`` when the channel names only the SKU)."""

    quantity: int
    order_line_external_id: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class ChannelCase:
    """A buyer's cancellation, return or refund request as its channel holds it.

    ``actions`` are the answers the channel accepts now (empty once the case is final or
    out of the seller's hands); ``respond_by`` is the seller's deadline, after which the
    channel usually decides for the buyer. ``photos`` are links to the buyer's evidence.
    """

    external_id: str
    order_external_id: str
    kind: CaseKind
    status: CaseStatus
    channel_status: str
    opened_at: datetime
    updated_at: datetime
    reason: str = ""
    buyer_comment: str | None = None
    photos: Sequence[str] = ()
    lines: Sequence[CaseLine] = ()
    refund_amount: Money | None = None
    respond_by: datetime | None = None
    actions: frozenset[CaseAction] = frozenset()
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CasePage:
    """One page of cases, least recently updated first."""

    cases: Sequence[ChannelCase]
    next_page_token: str | None = None


@dataclass(frozen=True)
class CaseResponse:
    """The seller's answer to push. ``reason`` is required to reject or dispute;
    ``amount`` (in the order's currency) to offer a partial refund. ``reference`` is stable
    per answer, so a retried push is recognised where the channel can."""

    case_external_id: str
    order_external_id: str
    kind: CaseKind
    action: CaseAction
    reference: str
    reason: str | None = None
    amount: Money | None = None
    comment: str | None = None


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
    """The channel's answer for one listing of a stock or price push.

    ``accepted=False`` with the channel's ``message`` is a refusal that belongs to this
    listing (an unknown SKU, an invalid value): the core keeps it on the listing
    (``last_error``) and pushes it again next time, while the other listings and the
    connection go on. A provider raises ``ChannelError`` only for what concerns the whole
    connection or call (credentials, throttling, the shop); a listing with no result is
    treated as refused.
    """

    channel_sku: str
    accepted: bool
    message: str | None = None


@dataclass(frozen=True)
class FxRates:
    """Reference exchange rates published for ``day``: units of each currency per one
    ``base`` (the ECB publishes per 1 EUR). Decimals exactly as published."""

    day: date
    base: str
    rates: Mapping[str, Decimal]
    source: str = ""


@dataclass(frozen=True)
class PaymentMethodOption:
    """A way to pay offered for a checkout; lower ``rank`` is shown first."""

    provider: str
    method: str
    label: str
    rank: int = 100
    #: what the method costs the seller for this amount, when the provider knows it
    fee: Money | None = None


@dataclass(frozen=True)
class PaymentAccount:
    """A tenant's account with a payment provider, as the provider gets it for one call.
    ``credentials`` (API keys, webhook secrets) are decrypted for the call only."""

    id: int
    tenant: str
    provider: str
    credentials: Mapping[str, Any]
    base_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


class PaymentStatus(StrEnum):
    REQUIRES_ACTION = "requires_action"  #: the buyer must act (3-D Secure, a bank redirect)
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    AWAITING_COLLECTION = "awaiting_collection"  #: cash on delivery: the carrier collects
    AWAITING_TRANSFER = "awaiting_transfer"  #: bank transfer: the buyer pays in


@dataclass(frozen=True)
class PaymentRequest:
    """Take ``amount`` by ``method``. ``reference`` is stable per attempt: providers use it
    as the idempotency key, so a retried request never charges twice."""

    reference: str
    amount: Money
    method: str
    country: str
    email: str | None = None
    return_url: str | None = None
    description: str | None = None
    #: a payment method the buyer's browser tokenized with the provider (Stripe ``pm_...``)
    payment_token: str | None = None
    buyer_name: str | None = None
    #: provider-specific extras (a bank chosen for FPX, a tax id for Boleto ...)
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Payment:
    """A payment as the provider reports it. ``next_action`` says what the buyer does next
    (a redirect URL, bank details and the transfer reference, the COD note)."""

    provider_reference: str
    status: str
    amount: Money
    method: str
    next_action: Mapping[str, Any] | None = None
    failure: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refund:
    provider_reference: str
    payment_reference: str
    amount: Money
    status: str  # pending, succeeded, failed
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentEvent:
    """Something a provider pushed: ``payment.succeeded``, ``payment.failed``,
    ``payment.collected`` (COD cash handed over by the carrier), ``refund.succeeded``,
    ``refund.failed``. ``event_id`` is unique per event, so redeliveries are recognised.
    ``refund_reference`` is the provider's id of the refund a ``refund.*`` event is about
    (with ``amount`` that refund's own amount, never a running total): several events about
    one refund name the same one, so it is counted once."""

    type: str
    event_id: str
    payment_reference: str
    amount: Money | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    refund_reference: str | None = None


@dataclass(frozen=True)
class TaxLine:
    """One order line to tax: ``amount`` is the line's total (unit price x quantity), net of
    discounts, in the order's currency, with or without the tax in it (``tax_included``);
    ``tax_class`` is the rate class (``standard``, ``reduced``, ``zero``, ``books``,
    ``food``, ...) the seller assigned to the SKU. Engines compute with :meth:`tax_at`."""

    sku: str
    amount: Money
    quantity: int = 1
    tax_class: str = "standard"
    #: the amount already contains the tax (marketplace prices in the EU, UK, SG, JP ...)
    tax_included: bool = False

    def tax_at(self, rate: Decimal) -> Money:
        """The tax on this line at ``rate``: on top of the amount, or contained in it when
        ``tax_included`` (``amount x rate / (1 + rate)``); rounded to the minor unit."""
        tax = self.amount.amount * rate / (1 + rate) if self.tax_included else self.amount.amount * rate
        return Money(tax, self.amount.currency).rounded()

    def net(self, rate: Decimal) -> Money:
        """The amount without tax at ``rate``."""
        return (
            Money(self.amount.amount, self.amount.currency) - self.tax_at(rate)
            if self.tax_included
            else self.amount
        )


@dataclass(frozen=True)
class TaxTally:
    """Sales counted towards a threshold so far this calendar year."""

    sales: Money
    transactions: int = 0


@dataclass(frozen=True)
class Threshold:
    """A registration threshold an engine tracks, e.g. the EU's EUR 10,000 for distance
    sales (key ``EU-OSS``) or a US state's economic nexus (key ``US-CA``). Crossed when the
    year's sales reach ``sales``, or (``any_of``) the transactions reach ``transactions``;
    with ``any_of=False`` both must be reached."""

    key: str
    sales: Money | None = None
    transactions: int | None = None
    any_of: bool = True
    description: str = ""


@dataclass(frozen=True)
class TaxContext:
    """Everything a tax engine needs besides the lines, assembled by the core.

    ``channel`` is the marketplace the order came through (None for the seller's own store)
    so an engine can apply marketplace-facilitator / deemed-supplier rules.
    ``consignment_value`` is the intrinsic value of the whole consignment (IOSS, UK import
    rules). ``year_to_date`` holds the tenant's tallies for the engine's thresholds before
    this order, each in its threshold's currency; ``registrations`` the threshold keys or
    jurisdictions where the seller is registered anyway. ``TaxQuote.rate`` is a fraction
    (0.19 for 19 %).
    """

    tenant: str
    seller_country: str
    destination_country: str
    destination_region: str | None = None
    ship_from_country: str | None = None
    channel: str | None = None
    consignment_value: Money | None = None
    buyer_vat_number: str | None = None
    year_to_date: Mapping[str, TaxTally] = field(default_factory=dict)
    registrations: frozenset[str] = frozenset()
    #: The supply date (rates and thresholds in force), and a converter at that day's
    #: reference rates for comparing amounts with thresholds in another currency.
    day: date | None = None
    fx: Callable[[Money, str], Money] | None = field(default=None, repr=False, compare=False)

    def in_currency(self, money: Money, currency: str) -> Money:
        """``money`` in ``currency`` at the supply day's rates, to compare with a threshold
        set in that currency; ``UserError`` (``FX_REQUIRED``) when no converter was given."""
        if money.currency == currency:
            return money
        if self.fx is None:
            raise UserError(
                f"{money} must be compared in {currency}: no exchange rates given", code="FX_REQUIRED"
            )
        converted = self.fx(money, currency)
        if converted.currency != currency:
            raise ValueError(f"the converter returned {converted.currency}, not {currency}")
        return converted


class HoldReason(StrEnum):
    """Why an order is on hold: a built-in check's, a plugin's (``crossdock_order_checks``
    answers with one of these), or an operator's (``manual``). A plugin that answers any
    other reason holds the order ``plugin_error`` instead, naming the plugin."""

    ADDRESS_INVALID = "address_invalid"  #: the shipping address will not do for its country
    PAYMENT_FAILED = "payment_failed"  #: the channel says the payment failed
    PAYMENT_PENDING = "payment_pending"  #: the channel says the payment has not arrived
    DUPLICATE_SUSPECT = "duplicate_suspect"  #: same buyer, total and items within 24 hours
    UNUSUAL_VALUE = "unusual_value"  #: far above the shop's average order value
    FRAUD_SUSPECT = "fraud_suspect"  #: a fraud check objects
    SKU_UNMAPPED = "sku_unmapped"  #: a line's SKU matches no variant or listing
    OUT_OF_STOCK = "out_of_stock"  #: not enough stock where the order may ship from
    PROHIBITED_ITEM = "prohibited_item"  #: may not be sold to the destination
    RESTRICTED_ITEM = "restricted_item"  #: may be sold there only under conditions
    NEEDS_CERTIFICATE = "needs_certificate"  #: needs a certificate or marking first
    NEEDS_WARNING = "needs_warning"  #: needs a warning shown to the buyer
    SANCTIONED_DESTINATION = "sanctioned_destination"  #: the destination is under sanctions
    PLUGIN_ERROR = "plugin_error"  #: a plugin could not check the order
    MANUAL = "manual"  #: held by an operator
    CANCELLATION_REQUESTED = "cancellation_requested"  #: the buyer asked to cancel; answer first


class ListingIssueReason(StrEnum):
    """Why a SKU may not (or only with care) be sold on a connection
    (``crossdock_listing_checks`` answers with one of these; any other reason becomes a
    ``plugin_error`` issue naming the plugin)."""

    PROHIBITED_ITEM = "prohibited_item"  #: may not be sold there; no stock is pushed
    RESTRICTED_ITEM = "restricted_item"
    NEEDS_CERTIFICATE = "needs_certificate"
    NEEDS_WARNING = "needs_warning"
    SANCTIONED_DESTINATION = "sanctioned_destination"
    PLUGIN_ERROR = "plugin_error"


class TaxScheme(StrEnum):
    DOMESTIC = "domestic"
    OSS = "oss"  #: EU One-Stop Shop: destination VAT, declared in one member state
    DISTANCE_BELOW_THRESHOLD = "distance_below_threshold"  #: origin VAT under the EUR 10,000
    IOSS = "ioss"  #: EU Import One-Stop Shop, consignments up to EUR 150
    IMPORT = "import"  #: VAT (and duty) at the border, paid by the importer
    DEEMED_SUPPLIER = "deemed_supplier"  #: the marketplace collects (EU/UK)
    MARKETPLACE_FACILITATOR = "marketplace_facilitator"  #: the marketplace collects (US)
    REVERSE_CHARGE = "reverse_charge"  #: B2B: the buyer accounts for it
    NEXUS = "nexus"  #: US: the seller has nexus and collects
    NO_NEXUS = "no_nexus"  #: US: no obligation yet
    EXEMPT = "exempt"


class TaxCollector(StrEnum):
    """Who collects a line's tax."""

    SELLER = "seller"
    MARKETPLACE = "marketplace"  #: deemed supplier / marketplace facilitator
    BUYER = "buyer"  #: reverse charge, import VAT paid by the buyer


@dataclass(frozen=True)
class TaxQuote:
    """Tax for one line: the rate, the amount, who collects it, under which scheme, and the
    threshold key the sale counts towards (the core adds it to the tenant's tally)."""

    sku: str
    rate: Decimal
    amount: Money
    collected_by: str = "seller"  # or "marketplace" (deemed supplier / facilitator), "buyer"
    jurisdiction: str = ""  # e.g. "DE", "GB", "US-CA"
    scheme: str = TaxScheme.DOMESTIC
    counts_towards: str | None = None


# --------------------------------------------------------------------------- carriers


class CarrierCapability(StrEnum):
    """What a carrier provider can do. Each maps to the method in :data:`CARRIER_OPERATIONS`."""

    RATES = "carrier.rates"  #: quotes for a shipment: :meth:`CarrierProvider.rates`
    LABELS = "carrier.labels"  #: buy, find and void labels
    TRACKING = "carrier.tracking"  #: poll events for tracking numbers
    TRACKING_PUSH = "carrier.tracking_push"  #: signed tracking pushes to a webhook route
    PICKUPS = "carrier.pickups"  #: book a collection
    MANIFESTS = "carrier.manifests"  #: the end-of-day hand-over document
    ADDRESS_VALIDATION = "carrier.address_validation"


#: capability -> the provider methods that must be implemented to claim it.
CARRIER_OPERATIONS: Mapping[str, str] = {
    CarrierCapability.RATES: "rates",
    CarrierCapability.LABELS: "buy_label",
    CarrierCapability.TRACKING: "track",
    CarrierCapability.TRACKING_PUSH: "parse_webhook",
    CarrierCapability.PICKUPS: "schedule_pickup",
    CarrierCapability.MANIFESTS: "create_manifest",
    CarrierCapability.ADDRESS_VALIDATION: "validate_address",
}
#: further methods a capability needs besides its main one.
CARRIER_COMPANIONS: Mapping[str, tuple[str, ...]] = {
    CarrierCapability.LABELS: ("find_label", "void_label"),
}


class Incoterm(StrEnum):
    """Who pays duties and import taxes: the seller (DDP) or the buyer on delivery (DDU)."""

    DDP = "ddp"  #: delivered duty paid: the sender is billed duties and taxes
    DDU = "ddu"  #: delivered duty unpaid (DAP): the receiver pays them


class ServiceLevel(StrEnum):
    """How fast a service is, across carriers' own service names."""

    ECONOMY = "economy"  #: postal and consolidated lines, 7-20 days cross-border
    STANDARD = "standard"
    EXPRESS = "express"  #: time-definite express, 1-4 days


class ItemFlag(StrEnum):
    """What a carrier may refuse to carry, flagged per variant in the catalogue."""

    BATTERY = "battery"  #: lithium cells or batteries, alone or in equipment
    LIQUID = "liquid"
    MAGNET = "magnet"


class DocumentFormat(StrEnum):
    PDF = "pdf"
    ZPL = "zpl"  #: Zebra thermal-printer language
    PNG = "png"


class DocumentKind(StrEnum):
    LABEL = "label"
    COMMERCIAL_INVOICE = "commercial_invoice"
    CN22 = "cn22"  #: postal customs declaration up to 300 SDR
    CN23 = "cn23"  #: postal customs declaration above that
    PACKING_SLIP = "packing_slip"
    MANIFEST = "manifest"


class TrackingStatus(StrEnum):
    """One status set for every carrier's scans (the twelve of karrio's tracker, which
    AfterShip's tags map onto); the carrier's own code and text stay on each event."""

    PENDING = "pending"  #: a label exists; the carrier has not scanned the parcel
    PICKED_UP = "picked_up"  #: handed over: the carrier has it
    IN_TRANSIT = "in_transit"
    ON_HOLD = "on_hold"  #: stopped on the way, e.g. in customs
    DELIVERY_DELAYED = "delivery_delayed"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"  #: waiting at a pick-up point or locker
    DELIVERY_FAILED = "delivery_failed"  #: an attempt failed; another may follow
    DELIVERED = "delivered"
    RETURN_TO_SENDER = "return_to_sender"
    CANCELLED = "cancelled"  #: the label was voided or the order cancelled at the carrier
    UNKNOWN = "unknown"  #: a scan the plugin cannot place


#: statuses after which a parcel's journey is over: tracking stops.
TRACKING_FINAL = frozenset({TrackingStatus.DELIVERED, TrackingStatus.CANCELLED})


class TrackingReason(StrEnum):
    """Why a parcel is held, delayed, not delivered or on its way back (karrio's incident
    reasons and AfterShip's exception substatuses, merged)."""

    CUSTOMS_HOLD = "customs_hold"  #: held by customs: inspection, clearance
    CUSTOMS_DOCUMENTS = "customs_documents"  #: customs want documents or information
    DUTIES_UNPAID = "duties_unpaid"  #: duties or taxes to pay before release
    ADDRESS_ISSUE = "address_issue"  #: incomplete or wrong address
    RECIPIENT_UNAVAILABLE = "recipient_unavailable"  #: nobody in, business closed
    REFUSED = "refused"  #: the recipient refused the parcel
    DAMAGED = "damaged"
    LOST = "lost"
    PROHIBITED = "prohibited"  #: the carrier or customs will not carry it
    WEATHER = "weather"  #: weather, natural disaster, force majeure
    CARRIER_DELAY = "carrier_delay"  #: missed connection, sorting error, capacity
    OTHER = "other"


@dataclass(frozen=True)
class Parcel:
    """One box. Weights in grams and sizes in millimetres, as whole numbers."""

    weight_grams: int
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None
    reference: str | None = None


@dataclass(frozen=True)
class CustomsItem:
    """One line of the customs declaration: ``value`` and ``weight_grams`` are per unit."""

    description: str
    quantity: int
    value: Money
    weight_grams: int
    hs_code: str | None = None
    origin_country: str | None = None
    sku: str | None = None
    flags: frozenset[ItemFlag] = frozenset()


@dataclass(frozen=True)
class ShipmentRequest:
    """What to quote or buy a label for.

    ``reference`` is stable per label purchase (``crossdock-label-<id>``): a provider sends it
    to the carrier as its idempotency key or customer reference, so a retried purchase is
    recognised (see :meth:`CarrierProvider.find_label`). ``order_external_id``,
    ``package_reference`` and ``lines`` name the channel's order for marketplace logistics
    (Shopee's ``package_number`` of a split order, the external line ids and quantities).
    """

    reference: str
    origin: Address
    destination: Address
    parcels: Sequence[Parcel]
    declared_value: Money
    items: Sequence[CustomsItem] = ()
    incoterm: Incoterm = Incoterm.DDU
    service_level: ServiceLevel | None = None
    ship_date: date | None = None
    order_external_id: str | None = None
    package_reference: str | None = None
    lines: Sequence[tuple[str, int]] = ()

    @property
    def weight_grams(self) -> int:
        return sum(p.weight_grams for p in self.parcels)

    @property
    def flags(self) -> frozenset[ItemFlag]:
        return frozenset(flag for item in self.items for flag in item.flags)


@dataclass(frozen=True)
class Rate:
    """One service the carrier offers for a shipment, at its price.

    ``cannot_carry``: item flags this service refuses (the core drops the rate for a
    shipment that has them); ``messages``: the carrier's remarks (surcharges, restrictions).
    """

    carrier: str
    service: str
    service_name: str
    price: Money
    transit_days: int | None = None
    estimated_delivery: date | None = None
    service_level: ServiceLevel | None = None
    cannot_carry: frozenset[ItemFlag] = frozenset()
    messages: Sequence[str] = ()


@dataclass(frozen=True)
class CarrierDocument:
    """A document as the carrier returns it (the core stores the bytes)."""

    kind: DocumentKind
    format: DocumentFormat
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class Label:
    """A bought label: the carrier's shipment id, one tracking number per parcel, the
    label documents and the customs documents the carrier made.

    ``channel_confirmed``: buying it told the marketplace already (its own logistics:
    Shopee ``ship_order``, Lazada ready-to-ship, an Amazon MFN label), so the core does not
    confirm the shipment to the channel again.
    """

    carrier_shipment_id: str
    tracking_numbers: Sequence[str]
    documents: Sequence[CarrierDocument]
    service: str
    price: Money | None = None
    estimated_delivery: date | None = None
    channel_confirmed: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackingEvent:
    """One scan, normalised: ``occurred_at`` is the carrier's time, in UTC (aware);
    ``code`` and ``description`` are the carrier's own."""

    occurred_at: datetime
    status: TrackingStatus
    code: str
    description: str
    reason: TrackingReason | None = None
    location: str | None = None


@dataclass(frozen=True)
class TrackingResult:
    """What the carrier knows of one tracking number (events in any order; the core orders
    and de-duplicates them). ``found=False``: the carrier does not know the number (yet)."""

    tracking_number: str
    events: Sequence[TrackingEvent]
    estimated_delivery: date | None = None
    found: bool = True


@dataclass(frozen=True)
class PickupRequest:
    """A collection of ready parcels from ``address`` on ``day`` between the two times
    (local time at the address, ``HH:MM``)."""

    reference: str
    address: Address
    day: date
    ready_time: str
    close_time: str
    tracking_numbers: Sequence[str]
    parcels: int
    weight_grams: int


@dataclass(frozen=True)
class Pickup:
    confirmation: str
    day: date
    window: str | None = None


@dataclass(frozen=True)
class ManifestItem:
    carrier_shipment_id: str
    tracking_numbers: Sequence[str]


@dataclass(frozen=True)
class Manifest:
    """The end-of-day hand-over: the carrier's id for it and its document(s)."""

    external_id: str
    documents: Sequence[CarrierDocument]
    tracking_numbers: Sequence[str] = ()


@dataclass(frozen=True)
class AddressCheck:
    """The carrier's verdict on an address: ``suggestion`` is its corrected form, when
    it offers one; ``messages`` its reasons."""

    valid: bool
    messages: Sequence[str] = ()
    suggestion: Address | None = None


@dataclass(frozen=True)
class CarrierAccount:
    """What a provider gets to call the carrier for one tenant's account.

    ``credentials`` are decrypted for the call only. For a marketplace's own logistics,
    ``connection`` is the shop whose lines these are (its credentials fresh, refreshed by
    the core as for any channel call) and ``credentials`` is empty. Make every HTTP call with
    :meth:`http_client` (the SSRF-guarded pool, as :meth:`ChannelConnection.http_client`).
    """

    id: int
    tenant: str
    carrier: str
    credentials: Mapping[str, Any]
    base_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    connection: ChannelConnection | None = None
    limiter: Limiter | None = field(default=None, repr=False, compare=False)
    http: OutboundHTTP | None = field(default=None, repr=False, compare=False)

    def http_client(self) -> httpx.AsyncClient:
        return _http_client(self.http, self.settings)

    async def throttle(self, operation: str) -> None:
        """Wait for this account's token bucket of ``operation`` (one of the provider's
        ``rate_limits`` keys); undeclared operations pass."""
        if self.limiter is not None:
            await self.limiter(operation)


# --------------------------------------------------------------------------- warehouses


@dataclass(frozen=True)
class WarehouseAccount:
    """What a warehouse system's provider gets for one tenant's warehouse.

    ``credentials`` are decrypted for the call only; ``base_url`` is where the system
    answers (``None``: its production host), already checked against the server's
    outbound policy; ``settings`` are the provider's own options (a client id, a
    warehouse code there, ``timeout``). Make every HTTP call with :meth:`http_client`
    (the SSRF-guarded pool, as :meth:`ChannelConnection.http_client`).
    """

    credentials: Mapping[str, Any]
    base_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: The server's outbound HTTP pool (the core attaches it); see :meth:`http_client`.
    http: OutboundHTTP | None = field(default=None, repr=False, compare=False)
    #: Crossdock's id of the warehouse and the tenant's slug (for logs and references).
    warehouse_id: int | None = None
    tenant: str = ""

    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` to call the system with, timing out after
        ``settings.timeout`` seconds (default 10): the server's shared, guarded pool (never
        close it; a refused address raises a permanent ``ChannelError`` ``URL_NOT_ALLOWED``)."""
        return _http_client(self.http, self.settings)

    def outbound(self) -> OutboundHTTP:
        """The :class:`~crossdock.OutboundHTTP` behind :meth:`http_client`."""
        return _outbound(self.http)


@dataclass(frozen=True)
class StockLine:
    """What the warehouse system says it holds of one SKU.

    ``on_hand`` is the sellable quantity on its shelves (the figure Crossdock's level
    follows); ``reserved`` what it has set aside for orders it is shipping; ``inbound``
    what is announced and not yet received; ``unsellable`` damaged, quarantined or expired
    units, which are not part of ``on_hand``."""

    sku: str
    on_hand: int
    reserved: int = 0
    inbound: int = 0
    unsellable: int = 0


@dataclass(frozen=True)
class InboundLine:
    """Units of one SKU announced in a delivery."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class InboundShipment:
    """An advance shipping notice (ASN): a delivery on its way to the warehouse.
    ``reference`` is Crossdock's own (a purchase order or transfer number), the same on
    every attempt, so a retried push can be found at the system instead of doubled."""

    reference: str
    lines: Sequence[InboundLine]
    expected_on: date | None = None
    ship_from: Address | None = None
    carrier: str | None = None
    tracking_number: str | None = None


@dataclass(frozen=True)
class ReceiptLine:
    """What the warehouse counted of one SKU of a delivery."""

    sku: str
    received: int
    damaged: int = 0


@dataclass(frozen=True)
class InboundReceipt:
    """A delivery as the warehouse has received it so far: ``reference`` is the
    :attr:`InboundShipment.reference` it was announced under; ``received_at`` aware UTC.

    The lines count everything received against the reference up to now (not only what
    came since the last pull): the core books what is new beyond what it booked before, so
    a receipt reported again, or counted again, is never booked twice. ``complete`` says
    the warehouse expects nothing more (an inbound shipment is booked in then)."""

    reference: str
    lines: Sequence[ReceiptLine]
    received_at: datetime | None = None
    #: the system's own id of the delivery
    external_id: str | None = None
    #: whether the warehouse expects nothing more against this reference
    complete: bool = True


@dataclass(frozen=True)
class OutboundLine:
    """Units of one SKU to pick for an order."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class OutboundOrder:
    """An order handed to the warehouse to pick, pack and ship (outbound fulfilment);
    ``reference`` is Crossdock's own, the same on every attempt."""

    reference: str
    lines: Sequence[OutboundLine]
    ship_to: Address
    service: str | None = None


@dataclass(frozen=True)
class OutboundShipment:
    """An order the warehouse has shipped: ``reference`` is the :attr:`OutboundOrder.reference`
    it was handed over under; the carrier and tracking number its parcel left with (the core
    passes them on to the sales channel); ``shipped_at`` aware UTC. ``lines``, when the
    system reports them, say what left (an order shipped in full needs none)."""

    reference: str
    carrier: str
    tracking_number: str
    shipped_at: datetime | None = None
    lines: Sequence[OutboundLine] = ()
    #: the system's own id of the shipment
    external_id: str | None = None


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

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None: ...

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage: ...

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase: ...

    async def fetch_ads(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> AdReportPage: ...

    async def fetch_traffic(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> TrafficPage: ...

    async def fetch_categories(
        self, conn: ChannelConnection, *, language: str
    ) -> Sequence[ChannelCategory]: ...

    async def fetch_category_rules(
        self, conn: ChannelConnection, category_id: str, *, language: str
    ) -> CategoryRules: ...

    async def publish_listing(
        self, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
    ) -> PublishResult: ...

    async def read_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
    ) -> ListingDraft | None: ...

    async def deactivate_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None
    ) -> None: ...

    async def fetch_competitor_offers(
        self, conn: ChannelConnection, sku: str, external_id: str | None
    ) -> Sequence[CompetitorOffer]: ...

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
    ) -> Sequence[Mapping[str, Any]] | WebhookPush: ...

    def notification_source(self, conn: ChannelConnection) -> NotificationSource | None: ...

    async def fetch_settlements(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> SettlementPage: ...

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]: ...


@runtime_checkable
class PaymentProvider(Protocol):
    """A way to take money: card processors, cash on delivery, bank transfer."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    def payment_methods(
        self, country: str, amount: Money, account: PaymentAccount | None = None
    ) -> Sequence[PaymentMethodOption]: ...

    async def create_payment(self, account: PaymentAccount, request: PaymentRequest) -> Payment: ...

    async def refund(
        self, account: PaymentAccount, payment_reference: str, amount: Money, reference: str
    ) -> Refund: ...

    def parse_webhook(
        self, account: PaymentAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[PaymentEvent]: ...


@runtime_checkable
class CarrierProvider(Protocol):
    """A carrier, or a marketplace's own logistics (``channel`` names the marketplace whose
    orders it ships; ``None`` for an independent carrier). Every operation is async and
    talks to the carrier over HTTP; a refusal (address, weight, prohibited goods) is a
    permanent ``ChannelError`` with code ``REFUSED`` and the carrier's message."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]
    channel: str | None
    rate_limits: Mapping[str, RateLimit]
    track_batch: int

    async def rates(self, account: CarrierAccount, request: ShipmentRequest) -> Sequence[Rate]: ...

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label: ...

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None: ...

    async def void_label(self, account: CarrierAccount, label: Label) -> None: ...

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]: ...

    def parse_webhook(
        self, account: CarrierAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[TrackingResult]: ...

    async def schedule_pickup(self, account: CarrierAccount, request: PickupRequest) -> Pickup: ...

    async def create_manifest(self, account: CarrierAccount, items: Sequence[ManifestItem]) -> Manifest: ...

    async def validate_address(self, account: CarrierAccount, address: Address) -> AddressCheck: ...


@runtime_checkable
class TaxEngine(Protocol):
    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    def applies_to(self, country: str) -> bool: ...

    def quote(self, context: TaxContext, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]: ...

    def thresholds(self) -> Sequence[Threshold]: ...

    def validate_vat_number(self, number: str) -> bool: ...


@dataclass(frozen=True)
class TranslatorAccount:
    """How the server calls its translation engine: ``options`` is the engine's own JSON
    object (``CROSSDOCK_TRANSLATOR_OPTIONS``: its API key, base URL, formality ...); make
    every HTTP call with :meth:`http_client` (the SSRF-guarded pool)."""

    options: Mapping[str, Any] = field(default_factory=dict)
    #: The server's outbound HTTP pool (the core attaches it); see :meth:`http_client`.
    http: OutboundHTTP | None = field(default=None, repr=False, compare=False)

    def http_client(self) -> httpx.AsyncClient:
        """The guarded ``httpx.AsyncClient``, timing out after ``options.timeout`` seconds
        (default 10); never close it."""
        return _http_client(self.http, self.options)

    def outbound(self) -> OutboundHTTP:
        """The :class:`~crossdock.OutboundHTTP` behind :meth:`http_client`."""
        return _outbound(self.http)


@dataclass(frozen=True)
class TranslationRequest:
    """Texts to translate from ``source`` to ``target`` (BCP 47 language tags: ``en``,
    ``de``, ``zh-Hans``). ``glossary`` maps source terms to the target terms the engine must
    use (brand names, sizes, units); ``context`` says what the texts are (a product title)."""

    texts: Sequence[str]
    source: str
    target: str
    glossary: Mapping[str, str] = field(default_factory=dict)
    context: str | None = None


@dataclass(frozen=True)
class MailAccount:
    """How the server sends mail: its configuration (``CROSSDOCK_MAILER``,
    ``CROSSDOCK_MAIL_FROM``, ``CROSSDOCK_MAIL_OPTIONS``).

    ``sender`` is the From address (``"Acme Ops <ops@example.com>"``); ``options`` is the
    mailer's own JSON object (its API token, its base URL, a message stream), read from
    ``CROSSDOCK_MAIL_OPTIONS``; a mailer documents the keys it reads. Make every HTTP call
    with :meth:`http_client` (the SSRF-guarded pool, as :meth:`ChannelConnection.http_client`).
    """

    sender: str
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The server's outbound HTTP pool (the core attaches it); see :meth:`http_client`.
    http: OutboundHTTP | None = field(default=None, repr=False, compare=False)

    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` to call the mail service with, timing out after
        ``options.timeout`` seconds (default 10): the server's shared, guarded pool, as
        :meth:`ChannelConnection.http_client` (never close it yourself; a refused address
        raises a permanent ``ChannelError`` with code ``URL_NOT_ALLOWED``)."""
        return _http_client(self.http, self.options)

    def outbound(self) -> OutboundHTTP:
        """The :class:`~crossdock.OutboundHTTP` behind :meth:`http_client`: the pool the core
        attached, else (a mailer called outside a server) the process-wide
        :func:`crossdock.net.default_outbound`. Its ``policy.check_url`` refuses a base URL
        the server may not call before any request is made."""
        return _outbound(self.http)


@dataclass(frozen=True)
class MailMessage:
    """One message to send. ``reference`` is the core's own id of the message, the same
    on every attempt: a mailer whose service takes metadata or an idempotency key sends it,
    so a retried send can be matched to the first. ``tag`` names the kind of message
    (``password_reset``, ``invitation``) for the service's statistics."""

    to: str
    subject: str
    text: str
    reference: str
    html: str | None = None
    tag: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class MailReceipt:
    """What the mail service answered: its id of the message and when it accepted it."""

    message_id: str
    accepted_at: datetime


@dataclass(frozen=True)
class IdentityConfig:
    """One organization's identity provider, as its administrators configured it.

    ``issuer`` is the provider's issuer URL (an https URL the server's outbound rules let
    it reach; its discovery document is ``{issuer}/.well-known/openid-configuration``);
    ``client_id`` and ``client_secret`` are the client the organization registered there;
    ``options`` are the plugin's own settings (extra scopes, a claim to read the e-mail
    from, a ``timeout``). Make every HTTP call with :meth:`http_client` (the SSRF-guarded
    pool, as :meth:`ChannelConnection.http_client`).
    """

    issuer: str
    client_id: str
    client_secret: str
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The server's outbound HTTP pool (the core attaches it); see :meth:`http_client`.
    http: OutboundHTTP | None = field(default=None, repr=False, compare=False)

    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` to call the identity provider with, timing out after
        ``options.timeout`` seconds (default 10): the server's shared, guarded pool, as
        :meth:`ChannelConnection.http_client` (never close it yourself; a refused address
        raises a permanent ``ChannelError`` with code ``URL_NOT_ALLOWED``)."""
        return _http_client(self.http, self.options)

    def outbound(self) -> OutboundHTTP:
        """The :class:`~crossdock.OutboundHTTP` behind :meth:`http_client`: the pool the core
        attached, else (a provider called outside a server) the process-wide
        :func:`crossdock.net.default_outbound`. Check the issuer and every discovered
        endpoint with its ``policy.check_url`` before calling them."""
        return _outbound(self.http)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One login in progress: made by the core, the same in both steps of the login.

    ``state`` and ``nonce`` are fresh random values the core checks (``state`` when the
    browser comes back, ``nonce`` is what the ID token must carry); ``code_verifier`` is
    the PKCE verifier (RFC 7636) whose S256 challenge the authorization URL carries.
    """

    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the provider says signed in, from an ID token whose signature, issuer,
    audience, expiry and nonce were checked."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None = None


@runtime_checkable
class Mailer(Protocol):
    """Sends the server's mail through a mail service's API. A refusal of the message (an
    invalid or suppressed address) is a permanent ``ChannelError`` with code ``REFUSED``;
    a refused token is one with code ``CREDENTIALS``; throttling and outages are retryable
    ``ChannelError``s (with ``retry_after`` when the service says)."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    async def send(self, account: MailAccount, message: MailMessage) -> MailReceipt: ...


@runtime_checkable
class Translator(Protocol):
    """A machine translation engine. It returns one translation per text, in order; a
    language pair it does not offer is a permanent ``ChannelError`` with code ``REFUSED``;
    a refused key ``CREDENTIALS``; a quota used up for the period is permanent (``QUOTA``);
    throttling and outages are retryable."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    async def translate(self, account: TranslatorAccount, request: TranslationRequest) -> Sequence[str]: ...


@runtime_checkable
class IdentityProvider(Protocol):
    """Signs staff in through an external identity provider, in two steps: the browser is
    sent to :meth:`authorization_url`, comes back with a code, and :meth:`complete` turns
    the code into a :class:`VerifiedIdentity`. Any failure to verify (a bad signature, a
    wrong audience or nonce, an expired token, a refused code) is a ``ChannelError`` with
    code ``REFUSED``; an unreachable provider is a retryable ``ChannelError``."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    async def authorization_url(self, config: IdentityConfig, request: AuthorizationRequest) -> str: ...

    async def complete(
        self, config: IdentityConfig, request: AuthorizationRequest, code: str
    ) -> VerifiedIdentity: ...


@runtime_checkable
class WarehouseSystem(Protocol):
    """A system that holds a warehouse's stock and runs it: a WMS, a 3PL, or a
    marketplace's own warehouses. Every operation is async and calls the system over HTTP
    through :meth:`WarehouseAccount.http_client`. A refused token is a permanent
    ``ChannelError`` with code ``CREDENTIALS``; a refusal of the request (an unknown SKU
    in an ASN) one with code ``REFUSED`` and the system's message; throttling, outages
    and an unreachable system are retryable ``ChannelError``s."""

    name: str
    display_name: str
    version: str
    capabilities: frozenset[str]

    async def pull_stock(self, account: WarehouseAccount) -> Sequence[StockLine]: ...

    async def push_inbound(self, account: WarehouseAccount, shipment: InboundShipment) -> str: ...

    async def push_order(self, account: WarehouseAccount, order: OutboundOrder) -> str: ...

    async def pull_receipts(self, account: WarehouseAccount, since: datetime) -> Sequence[InboundReceipt]: ...

    async def pull_shipments(
        self, account: WarehouseAccount, since: datetime
    ) -> Sequence[OutboundShipment]: ...


# --------------------------------------------------------------------------- base classes


class _Base:
    # Plain attributes, as the Protocols declare them: a subclass sets them in its body
    # (``name = "myshop"``) and ``return [MyShop()]`` type-checks as a provider list.
    name: str
    display_name: str = ""
    version: str = "0"
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

    async def cancel_order(self, conn: ChannelConnection, external_id: str, reason: CancelReason) -> None:
        raise self._unsupported("cancel_order")

    async def fetch_cases(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> CasePage:
        raise self._unsupported("fetch_cases")

    async def respond_to_case(self, conn: ChannelConnection, response: CaseResponse) -> ChannelCase:
        raise self._unsupported("respond_to_case")

    async def fetch_ads(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> AdReportPage:
        """Advertising report rows for the days ``day_from`` to ``day_to`` (inclusive)."""
        raise self._unsupported("fetch_ads")

    async def fetch_traffic(
        self, conn: ChannelConnection, *, day_from: date, day_to: date, page_token: str | None
    ) -> TrafficPage:
        """Sessions and page views for the days ``day_from`` to ``day_to`` (inclusive)."""
        raise self._unsupported("fetch_traffic")

    async def fetch_categories(self, conn: ChannelConnection, *, language: str) -> Sequence[ChannelCategory]:
        """The channel's whole category tree for the shop's site, names in ``language`` where
        the channel has them (the core caches it per site)."""
        raise self._unsupported("fetch_categories")

    async def fetch_category_rules(
        self, conn: ChannelConnection, category_id: str, *, language: str
    ) -> CategoryRules:
        """What a listing in ``category_id`` needs (a ``ChannelError`` ``REFUSED`` for a
        category the channel does not have, or one that is not a leaf)."""
        raise self._unsupported("fetch_category_rules")

    async def publish_listing(
        self, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
    ) -> PublishResult:
        """Create the listing (or update it: the channel knows ``draft.sku`` or
        ``draft.external_id``); with ``preview``, only validate it as the channel would
        (``VALID`` or ``REJECTED``), creating nothing. Content the channel refuses is a
        ``REJECTED`` result with its problems, never an exception; credentials, throttling
        and outages are ``ChannelError`` as everywhere. Publishing the same draft twice
        leaves one listing."""
        raise self._unsupported("publish_listing")

    async def read_listing(
        self, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
    ) -> ListingDraft | None:
        """The listing's content as the channel shows it now (images by URL), or ``None``
        when the channel does not know it."""
        raise self._unsupported("read_listing")

    async def deactivate_listing(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        """Take the listing off sale (a listing the channel does not know is done already)."""
        raise self._unsupported("deactivate_listing")

    async def fetch_competitor_offers(
        self, conn: ChannelConnection, sku: str, external_id: str | None
    ) -> Sequence[CompetitorOffer]:
        """Other sellers' current offers for the listing's product (the shop's own left out)."""
        raise self._unsupported("fetch_competitor_offers")

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
    ) -> Sequence[Mapping[str, Any]] | WebhookPush:
        """Verify a push (constant time) and name what it is about. Raise
        ``ChannelError(code="SIGNATURE")`` when it does not verify (HTTP 401) and
        ``ChannelError(code="MALFORMED")`` when a verified body is not what the channel
        sends (HTTP 400; :func:`parse_push_json` does it for JSON objects)."""
        raise self._unsupported("parse_webhook")

    def notification_source(self, conn: ChannelConnection) -> NotificationSource | None:
        raise self._unsupported("notification_source")

    async def fetch_settlements(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> SettlementPage:
        raise self._unsupported("fetch_settlements")

    async def refresh_credentials(self, conn: ChannelConnection) -> Mapping[str, Any]:
        raise self._unsupported("refresh_credentials")


class PaymentBase(_Base):
    def payment_methods(
        self, country: str, amount: Money, account: PaymentAccount | None = None
    ) -> Sequence[PaymentMethodOption]:
        return ()

    async def create_payment(self, account: PaymentAccount, request: PaymentRequest) -> Payment:
        raise self._unsupported("create_payment")

    async def refund(
        self, account: PaymentAccount, payment_reference: str, amount: Money, reference: str
    ) -> Refund:
        raise self._unsupported("refund")

    def parse_webhook(
        self, account: PaymentAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[PaymentEvent]:
        raise self._unsupported("parse_webhook")


class CarrierBase(_Base):
    """Subclass and override what the carrier offers; declare it in ``capabilities``.

    ``track_batch``: how many tracking numbers one :meth:`track` call may carry (the core
    splits its sweeps accordingly)."""

    channel: str | None = None
    rate_limits: Mapping[str, RateLimit] = {}
    track_batch: int = 1

    async def rates(self, account: CarrierAccount, request: ShipmentRequest) -> Sequence[Rate]:
        raise self._unsupported("rates")

    async def buy_label(self, account: CarrierAccount, request: ShipmentRequest, service: str) -> Label:
        raise self._unsupported("buy_label")

    async def find_label(self, account: CarrierAccount, request: ShipmentRequest) -> Label | None:
        raise self._unsupported("find_label")

    async def void_label(self, account: CarrierAccount, label: Label) -> None:
        raise self._unsupported("void_label")

    async def track(
        self, account: CarrierAccount, tracking_numbers: Sequence[str]
    ) -> Sequence[TrackingResult]:
        raise self._unsupported("track")

    def parse_webhook(
        self, account: CarrierAccount, headers: Mapping[str, str], body: bytes
    ) -> Sequence[TrackingResult]:
        """Verify a tracking push (constant time) and return what it says. Raise
        ``ChannelError(code="SIGNATURE")`` when it does not verify (HTTP 401) and
        ``ChannelError(code="MALFORMED")`` for a verified body that is not what the carrier
        sends (HTTP 400)."""
        raise self._unsupported("parse_webhook")

    async def schedule_pickup(self, account: CarrierAccount, request: PickupRequest) -> Pickup:
        raise self._unsupported("schedule_pickup")

    async def create_manifest(self, account: CarrierAccount, items: Sequence[ManifestItem]) -> Manifest:
        raise self._unsupported("create_manifest")

    async def validate_address(self, account: CarrierAccount, address: Address) -> AddressCheck:
        raise self._unsupported("validate_address")


class TaxBase(_Base):
    def applies_to(self, country: str) -> bool:
        return False

    def quote(self, context: TaxContext, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]:
        raise self._unsupported("quote")

    def thresholds(self) -> Sequence[Threshold]:
        return ()

    def validate_vat_number(self, number: str) -> bool:
        raise self._unsupported("validate_vat_number")


class MailerBase(_Base):
    """Subclass and override :meth:`send`; declare ``mail.send``."""

    async def send(self, account: MailAccount, message: MailMessage) -> MailReceipt:
        raise self._unsupported("send")


class TranslatorBase(_Base):
    """Subclass and override :meth:`translate`; declare ``translate.text``."""

    async def translate(self, account: TranslatorAccount, request: TranslationRequest) -> Sequence[str]:
        raise self._unsupported("translate")


class IdentityBase(_Base):
    """Subclass and override both steps of the login; declare ``identity.login``."""

    async def authorization_url(self, config: IdentityConfig, request: AuthorizationRequest) -> str:
        raise self._unsupported("authorization_url")

    async def complete(
        self, config: IdentityConfig, request: AuthorizationRequest, code: str
    ) -> VerifiedIdentity:
        raise self._unsupported("complete")


class WarehouseBase(_Base):
    """Subclass and override what the warehouse system offers; declare it in
    ``capabilities`` (:class:`WarehouseCapability`)."""

    async def pull_stock(self, account: WarehouseAccount) -> Sequence[StockLine]:
        """Every SKU the system holds for this account, whole (not a page)."""
        raise self._unsupported("pull_stock")

    async def push_inbound(self, account: WarehouseAccount, shipment: InboundShipment) -> str:
        """Announce ``shipment``; return the system's id of it. A shipment whose
        reference the system knows already returns that one's id."""
        raise self._unsupported("push_inbound")

    async def push_order(self, account: WarehouseAccount, order: OutboundOrder) -> str:
        """Hand ``order`` over for fulfilment; return the system's id of it (the known one
        for a reference pushed before)."""
        raise self._unsupported("push_order")

    async def pull_receipts(self, account: WarehouseAccount, since: datetime) -> Sequence[InboundReceipt]:
        """The deliveries received (or counted again) since ``since``, oldest first, each
        with its running totals (see :class:`InboundReceipt`)."""
        raise self._unsupported("pull_receipts")

    async def pull_shipments(self, account: WarehouseAccount, since: datetime) -> Sequence[OutboundShipment]:
        """The orders handed over that left the warehouse since ``since``, oldest first (an
        order reported again is recognised by its reference)."""
        raise self._unsupported("pull_shipments")


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
