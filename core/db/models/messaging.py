"""Buyer messaging: conversations with buyers on a connection, their messages, and the
tenant's canned replies (one text per name and language)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, TenantScoped, Timestamped, utcnow

__all__ = ["CannedReply", "Conversation", "ConversationStatus", "Message", "MessageDirection"]


class ConversationStatus(StrEnum):
    #: The buyer wrote last: a reply is due by ``reply_due_at``.
    AWAITING_REPLY = "awaiting_reply"
    #: The seller wrote last.
    ANSWERED = "answered"
    #: An operator closed it without (or after) replying; a new buyer message reopens it.
    CLOSED = "closed"


class MessageDirection(StrEnum):
    INBOUND = "inbound"  # buyer -> seller
    OUTBOUND = "outbound"  # seller -> buyer


class MessageDelivery(StrEnum):
    """Of an outbound message: stored, then sent by a job (or failed for good)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Conversation(TenantScoped, Timestamped, Base):
    """One thread with one buyer on one connection, as the marketplace groups it."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_conversations_due", "tenant_id", "status", "reply_due_at"),
    )

    connection_id: Mapped[int] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    buyer_external_id: Mapped[str | None] = mapped_column(String(128))
    buyer_name: Mapped[str | None]
    #: The order the thread is about, when the channel says (and Crossdock has it).
    order_id: Mapped[int | None] = mapped_column(ID, ForeignKey("orders.id", ondelete="SET NULL"))
    order_external_id: Mapped[str | None] = mapped_column(String(128))
    #: BCP 47 language of the thread: what canned replies are chosen in.
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.AWAITING_REPLY)
    last_message_at: Mapped[datetime]
    #: The oldest buyer message not yet answered, and the deadline that follows from it.
    awaiting_since: Mapped[datetime | None]
    reply_due_at: Mapped[datetime | None]
    #: Set once the overdue event has been raised for the current wait.
    overdue_notified_at: Mapped[datetime | None]
    #: Buyer messages up to this time need no reply (an operator closed the thread).
    closed_at: Mapped[datetime | None]


class Message(TenantScoped, Base):
    """A message in a conversation. Outbound ones are stored first (``pending``) and sent by
    a job, so a reply is never lost to a channel outage and never sent twice."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "external_id"),
        Index("ix_messages_conversation", "conversation_id", "sent_at"),
        Index("ix_messages_tenant_sent", "tenant_id", "sent_at"),  # reply times over a period
    )

    conversation_id: Mapped[int] = mapped_column(ID, ForeignKey("conversations.id", ondelete="CASCADE"))
    #: The channel's id; null for an outbound message not yet accepted by the channel.
    external_id: Mapped[str | None] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Outbound only: pending -> sent | failed.
    delivery: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    canned_reply_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("canned_replies.id", ondelete="SET NULL")
    )


class CannedReply(TenantScoped, Timestamped, Base):
    """A prepared answer. The same ``name`` exists once per language; the body may use
    ``{buyer_name}``, ``{order_number}``, ``{tracking_number}`` and ``{carrier}``."""

    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "language"),)

    name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
