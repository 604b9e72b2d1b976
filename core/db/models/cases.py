"""After-sales cases: a buyer's cancellation, return or refund request as its channel holds
it, and the seller's answers to it (each pushed to the channel by a job).

``CaseKind``, ``CaseStatus`` and ``CaseAction`` are the contract's (``crossdock.providers``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped
from crossdock.providers import CaseStatus

__all__ = ["AfterSalesCase", "CaseResponseRow", "ChannelCancel", "ResponseStatus"]


class ChannelCancel(StrEnum):
    """What an order's channel said to a cancellation asked of it."""

    CANCELLED = "cancelled"  #: the channel cancelled the order (or had already)
    NOT_SUPPORTED = "not_supported"  #: the channel's API cannot: cancel it in its seller centre too


class ResponseStatus(StrEnum):
    """Of a seller's answer: stored, then pushed by a job (or refused for good)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AfterSalesCase(TenantScoped, Timestamped, Base):
    """One case on one connection, kept as the channel last showed it."""

    __tablename__ = "aftersales_cases"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        # the operator's queue: open cases of a tenant, nearest deadline first
        Index("ix_aftersales_cases_queue", "tenant_id", "status", "respond_by"),
        Index("ix_aftersales_cases_order", "order_id"),
    )

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    #: The order the case is about, once Crossdock has it (linked when it arrives).
    order_id: Mapped[int | None] = mapped_column(ID, ForeignKey("orders.id", ondelete="SET NULL"))
    order_external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN)
    channel_status: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    buyer_comment: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(Json, default=list)
    #: ``[{"quantity", "order_line_external_id", "sku", "order_line_id"}]``
    lines: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    refund_amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    respond_by: Mapped[datetime | None]
    #: The answers the channel accepts now (``CaseAction`` values).
    actions: Mapped[list[str]] = mapped_column(Json, default=list)
    opened_at: Mapped[datetime]
    #: The channel's own update time of what is stored (an older version never overwrites).
    channel_updated_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class CaseResponseRow(TenantScoped, Timestamped, Base):
    """A seller's answer to a case. At most one is pending per case at a time."""

    __tablename__ = "case_responses"
    __table_args__ = (
        Index("ix_case_responses_case", "case_id"),
        Index("ix_case_responses_status", "status", "updated_at"),
        Index(
            "uq_case_responses_pending",
            "case_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    case_id: Mapped[int] = mapped_column(ID, ForeignKey("aftersales_cases.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ResponseStatus.PENDING)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    api_key_id: Mapped[int | None] = mapped_column(ID, ForeignKey("api_keys.id", ondelete="SET NULL"))
