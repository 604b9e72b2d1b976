"""Logistics: carrier accounts, routing rules, labels, documents, tracking and exceptions.

A shipment (``orders.Shipment``) gains its packages, the label bought for it (carrier
shipment id, tracking numbers, cost), the documents stored for it, the tracking timeline
and the exceptions raised on the way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "CarrierAccount",
    "CarrierAccountStatus",
    "ExceptionKind",
    "ExceptionNoticeRule",
    "LabelPurchase",
    "LabelStatus",
    "RateStrategy",
    "RoutingRule",
    "ShipmentDocument",
    "ShipmentException",
    "ShipmentPackage",
    "TrackingEventRow",
]


class CarrierAccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class RateStrategy(StrEnum):
    """How a routing rule chooses among the services it allows."""

    CHEAPEST = "cheapest"  #: the cheapest service that arrives by the ship-by promise
    FASTEST = "fastest"  #: the soonest estimated delivery, then the cheapest
    PRIORITY = "priority"  #: the first allowed service (in the rule's order) that can carry it


class LabelStatus(StrEnum):
    """A label purchase: ``purchasing`` while the carrier is being asked (a purchase left
    there by a crash or a timeout is resumed by looking its reference up first);
    ``voiding`` while the carrier is asked to void it (the parcel cannot ship meanwhile)."""

    PURCHASING = "purchasing"
    PURCHASED = "purchased"
    VOIDING = "voiding"
    FAILED = "failed"  #: the carrier refused; nothing was bought
    VOIDED = "voided"


class ExceptionKind(StrEnum):
    """What went wrong on a parcel's way, raised once per shipment and kind."""

    NO_SCAN = "no_scan"  #: no scan for the lane's number of days
    CUSTOMS_HOLD = "customs_hold"
    FAILED_ATTEMPT = "failed_attempt"  #: a delivery attempt failed
    RETURNED_TO_SENDER = "returned_to_sender"
    LOST = "lost"
    DELAYED = "delayed"  #: past the estimated delivery and not delivered


class CarrierAccount(TenantScoped, Timestamped, Base):
    """A tenant's account with a carrier. For a marketplace's own logistics the account is
    the shop's connection (``connection_id``) and holds no credentials of its own."""

    __tablename__ = "carrier_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "carrier", "name"),)

    carrier: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CarrierAccountStatus.ACTIVE)
    #: Fernet token of the JSON credentials; never leaves the server decrypted.
    credentials_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    base_url: Mapped[str | None] = mapped_column(String(512))
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    connection_id: Mapped[int | None] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    #: The unguessable part of its tracking-push URL, ``/webhooks/carriers/{carrier}/{key}``.
    webhook_key: Mapped[str | None] = mapped_column(String(43), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]


class RoutingRule(TenantScoped, Timestamped, Base):
    """Which carriers and services may ship what, tried in ``priority`` order (lowest
    first); the first rule whose ``conditions`` match an order decides.

    ``conditions`` (all optional): ``countries`` (destination ISO codes), ``channels``,
    ``connection_ids``, ``min_weight_grams``/``max_weight_grams``, ``max_length_mm`` (the
    longest side), ``min_value``/``max_value`` with ``value_currency``,
    ``ship_by_within_hours``, ``flags_any`` (the shipment has one of these item flags),
    ``flags_none`` (it has none of them). ``services``: ``[{"account_id": 3, "service":
    "P"}]`` in preference order, a ``null`` service allowing every service of the account.
    """

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_tenant_priority", "tenant_id", "priority"),)

    name: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    services: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    strategy: Mapped[str] = mapped_column(String(16), default=RateStrategy.CHEAPEST)


class ShipmentPackage(TenantScoped, Base):
    """One box of a shipment, with its own tracking number once a label is bought."""

    __tablename__ = "shipment_packages"
    __table_args__ = (
        Index("ix_shipment_packages_shipment", "shipment_id"),
        Index("ix_shipment_packages_tracking_number", "tenant_id", "tracking_number"),
    )

    shipment_id: Mapped[int] = mapped_column(ID, ForeignKey("shipments.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=1)
    weight_grams: Mapped[int]
    length_mm: Mapped[int | None]
    width_mm: Mapped[int | None]
    height_mm: Mapped[int | None]
    tracking_number: Mapped[str | None] = mapped_column(String(128))


class LabelPurchase(TenantScoped, Timestamped, Base):
    """One label bought (or being bought) for a shipment; ``reference`` is what the carrier
    is given to recognise a retried purchase. At most one is live per shipment."""

    __tablename__ = "label_purchases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        Index("ix_label_purchases_shipment", "shipment_id"),
        Index("ix_label_purchases_status", "status", "updated_at"),
    )

    shipment_id: Mapped[int] = mapped_column(ID, ForeignKey("shipments.id", ondelete="CASCADE"))
    carrier_account_id: Mapped[int] = mapped_column(ID, ForeignKey("carrier_accounts.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=LabelStatus.PURCHASING)
    #: The request as sent (so a resumed purchase sends the same one).
    request: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    carrier_shipment_id: Mapped[str | None] = mapped_column(String(128))
    tracking_numbers: Mapped[list[str]] = mapped_column(Json, default=list)
    cost_amount: Mapped[Decimal | None]
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    estimated_delivery: Mapped[date | None] = mapped_column(Date)
    channel_confirmed: Mapped[bool] = mapped_column(default=False)
    #: What the carrier's plugin keeps of the label (``Label.raw``: piece ids, a pickup
    #: booked with it) to void or find it later.
    carrier_data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    #: The routing decision that chose this service: the choice and the rejected options.
    decision: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class ShipmentDocument(TenantScoped, Base):
    """A stored document of a shipment (label, customs papers, packing slip); the bytes
    live in the storage (``storage_key``), this row says what and where they are."""

    __tablename__ = "shipment_documents"
    __table_args__ = (
        Index("ix_shipment_documents_shipment", "shipment_id"),
        UniqueConstraint("tenant_id", "storage_key"),
    )

    shipment_id: Mapped[int] = mapped_column(ID, ForeignKey("shipments.id", ondelete="CASCADE"))
    label_purchase_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("label_purchases.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(24))
    format: Mapped[str] = mapped_column(String(8))
    storage_key: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackingEventRow(TenantScoped, Base):
    """One carrier scan, normalised; ``fingerprint`` (tracking number, time, code) makes a
    scan seen twice (a poll and a push, a repeated page) one row."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        UniqueConstraint("shipment_id", "fingerprint"),
        Index("ix_tracking_events_shipment_time", "shipment_id", "occurred_at"),
    )

    shipment_id: Mapped[int] = mapped_column(ID, ForeignKey("shipments.id", ondelete="CASCADE"))
    tracking_number: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShipmentException(TenantScoped, Base):
    """A problem on a parcel's way, raised once per shipment and kind (the unique key makes
    a second raise of the same a no-op, across processes)."""

    __tablename__ = "shipment_exceptions"
    __table_args__ = (
        UniqueConstraint("shipment_id", "kind"),
        Index("ix_shipment_exceptions_tenant_open", "tenant_id", "resolved_at", "raised_at"),
    )

    shipment_id: Mapped[int] = mapped_column(ID, ForeignKey("shipments.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str | None] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    #: The buyer notice: when it was sent, or why it was not.
    notified_at: Mapped[datetime | None]
    notice_error: Mapped[str | None] = mapped_column(Text)
    #: The message that carries the notice (stored when the notice is claimed).
    notice_message_id: Mapped[int | None] = mapped_column(ID, ForeignKey("messages.id", ondelete="SET NULL"))


class ExceptionNoticeRule(TenantScoped, Timestamped, Base):
    """Which canned reply (by name; the buyer's language picks the translation) tells a
    buyer about an exception; the first active rule by ``priority`` matching the kind (and
    the destination ``countries`` when given) is used."""

    __tablename__ = "exception_notice_rules"
    __table_args__ = (Index("ix_exception_notice_rules_tenant", "tenant_id", "kind", "priority"),)

    kind: Mapped[str] = mapped_column(String(24))
    template: Mapped[str] = mapped_column(String(64))
    countries: Mapped[list[str]] = mapped_column(Json, default=list)
    priority: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
