"""Outbound webhooks: a tenant's endpoints subscribed to outbox event types, one delivery
per event and endpoint, and every attempt made at it.

(Inbound pushes from the channels are :class:`~crossdock.db.models.WebhookEvent`.)
:mod:`crossdock.services.outbound_webhooks` explains how deliveries are made from the
outbox, signed, claimed by workers and retried.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped, utcnow

__all__ = [
    "WebhookAttempt",
    "WebhookAttemptResult",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "WebhookEndpointStatus",
]


class WebhookEndpointStatus(StrEnum):
    """Whether an endpoint is sent its events."""

    ACTIVE = "active"  #: events are delivered
    PAUSED = "paused"  #: the tenant paused it: nothing is sent until it is enabled again
    DISABLED = "disabled"  #: its deliveries failed for a day: nothing is sent until it is enabled again


class WebhookDeliveryStatus(StrEnum):
    """Where one event's delivery to one endpoint stands."""

    PENDING = "pending"  #: to be attempted (at ``nextAttemptAt``)
    SUCCEEDED = "succeeded"  #: the endpoint answered 2xx
    FAILED = "failed"  #: given up: the endpoint refused it (a 4xx) or the retries ran out


class WebhookAttemptResult(StrEnum):
    """What one attempt came to."""

    SUCCEEDED = "succeeded"  #: a 2xx answer
    RETRY = "retry"  #: a network error, a timeout, 5xx, 408 or 429: tried again later
    FAILED = "failed"  #: refused (another 4xx, a URL the server may not call) or the last try


class WebhookEndpoint(TenantScoped, Timestamped, Base):
    """An HTTPS endpoint of a tenant and the event types it is sent.

    ``cursor_txid``/``cursor_id`` is the outbox position up to which the endpoint's
    deliveries have been made (:mod:`crossdock.services.events`): they move in the
    transaction that inserts the deliveries, under the endpoint's row lock.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_status", "status"),)

    url: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(String(255), default="")
    #: ``EventType`` values
    event_types: Mapped[list[str]] = mapped_column(Json, default=list)
    #: Only events whose subject starts with this (``Order:``, ``Shipment:12``), if set.
    subject_prefix: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=WebhookEndpointStatus.ACTIVE)
    #: The vault's encryption of ``{"secrets": [{"secret": "whsec_...", "expires_at": iso | None}]}``
    secrets_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    cursor_txid: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor_id: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The first failed attempt since the last success (``None`` while it succeeds).
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class WebhookDelivery(TenantScoped, Timestamped, Base):
    """One event to one endpoint: its ``message_id`` is the ``webhook-id`` of every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        UniqueConstraint("message_id"),
        # what a worker claims: an endpoint's pending deliveries that are due
        Index("ix_webhook_deliveries_due", "endpoint_id", "status", "next_attempt_at"),
        # what the sweep looks for across endpoints
        Index("ix_webhook_deliveries_pending", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )

    endpoint_id: Mapped[int] = mapped_column(ID, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ID, ForeignKey("events.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(48))
    message_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=WebhookDeliveryStatus.PENDING)
    #: Attempts made in all (redeliveries included).
    attempts: Mapped[int] = mapped_column(default=0)
    #: Attempts made since the schedule last started (a redelivery starts it again).
    retry_step: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    #: A worker's claim: until then no other worker sends it.
    claimed_until: Mapped[datetime | None]
    claim: Mapped[str | None] = mapped_column(String(32))
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


class WebhookAttempt(TenantScoped, Base):
    """One HTTP request made for a delivery, and what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id"),)

    delivery_id: Mapped[int] = mapped_column(ID, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    result: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None]
    #: The first characters of the answer's body (``RESPONSE_EXCERPT`` at most).
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
