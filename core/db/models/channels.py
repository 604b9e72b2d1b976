"""Connections (a tenant's shop on one channel and site) and listings (a SKU on one)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = ["Connection", "ConnectionStatus", "ConnectionWarehouse", "Listing", "WebhookEvent"]


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    #: A permanent channel error (revoked token, bad credentials): syncing has stopped.
    FAILED = "failed"


class ListingStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class ListingPushStatus(StrEnum):
    """Whether the channel accepted this listing's last stock and price pushes."""

    OK = "ok"
    ERROR = "error"


class ListingOperation(StrEnum):
    """A kind of push to a channel for one listing."""

    STOCK = "stock"
    PRICE = "price"


class Connection(TenantScoped, Timestamped, Base):
    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "name"),)

    channel: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(16))
    #: The site's country: what "serves this connection" means for a warehouse by default.
    country: Mapped[str | None] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.ACTIVE)
    #: Fernet token of the JSON credentials; never leaves the server decrypted.
    credentials_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    base_url: Mapped[str | None] = mapped_column(String(512))
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: Per resource sync cursors, e.g. {"orders": {"updated_since": "...", "page": "..."}}.
    sync_state: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: The unguessable part of this connection's webhook URL, ``/webhooks/{channel}/{key}``.
    webhook_key: Mapped[str | None] = mapped_column(String(43), unique=True)
    last_sync_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    throttled_until: Mapped[datetime | None]


class Listing(TenantScoped, Timestamped, Base):
    __tablename__ = "listings"
    __table_args__ = (UniqueConstraint("connection_id", "channel_sku"),)

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ID, ForeignKey("variants.id", ondelete="CASCADE"))
    channel_sku: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None]
    price_amount: Mapped[Decimal | None]
    price_currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=ListingStatus.ACTIVE)
    #: Share (0..1) of the available stock offered on this listing; null = all of it.
    ats_share: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    last_pushed_quantity: Mapped[int | None]
    last_pushed_price: Mapped[Decimal | None]
    last_pushed_at: Mapped[datetime | None]
    #: Compliance problems plugins found (``crossdock_listing_checks``): [{reason, message}].
    issues: Mapped[list[dict[str, str]]] = mapped_column(Json, default=list)
    #: The price before running promotions; ``price_amount`` is what buyers pay now.
    regular_price_amount: Mapped[Decimal | None]
    #: The channel's refusal of this listing's last push (an unknown SKU, an invalid
    #: quantity), kept until a push of the same kind is accepted. It belongs to this listing
    #: alone: the connection and its other listings go on.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    #: Which push was refused: ``stock`` or ``price``.
    last_error_operation: Mapped[str | None] = mapped_column(String(16))


class ConnectionWarehouse(TenantScoped, Base):
    """An explicit "this warehouse's stock is sold on this connection".

    A connection with no rows here is served by the active warehouses (not marketplace-held
    ones) that ship to its country.
    """

    __tablename__ = "connection_warehouses"
    __table_args__ = (UniqueConstraint("connection_id", "warehouse_id"),)

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ID, ForeignKey("warehouses.id", ondelete="CASCADE"))


class WebhookEvent(TenantScoped, Base):
    """A push from a channel, kept as received (signature already verified) until processed."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_connection", "connection_id", "id"),
        UniqueConstraint("connection_id", "external_id"),
    )

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    #: What recognises the event delivered again (unique per connection): a queued event's
    #: own id, ``event:<id>`` for a push the channel gave an id, else ``sha256:<digest>`` of
    #: the push's verified body.
    external_id: Mapped[str | None] = mapped_column(String(128))
    headers: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    body: Mapped[str] = mapped_column(Text)
    references: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    status: Mapped[str] = mapped_column(String(16), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
