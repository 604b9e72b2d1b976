"""Buyer conversations, their messages and canned replies as GraphQL types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.channel_types import ChannelConnection
from crossdock.api.schema.enums import optional_member
from crossdock.api.schema.loaders import children, same_tenant
from crossdock.api.schema.order_types import Order
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.db import utcnow

__all__ = ["CannedReply", "Conversation", "Message"]


@strawberry.type(description="A message in a buyer conversation.")
class Message:
    id: strawberry.ID
    direction: m.MessageDirection = strawberry.field(description="INBOUND (from the buyer) or OUTBOUND.")
    body: str
    sent_at: datetime
    delivery: m.MessageDelivery | None = strawberry.field(description="Replies only.")
    delivery_error: str | None

    @classmethod
    def from_row(cls, row: m.Message) -> Message:
        return cls(
            id=encode_id("Message", row.id),
            direction=m.MessageDirection(row.direction),
            body=row.body,
            sent_at=row.sent_at,
            delivery=optional_member(m.MessageDelivery, row.delivery),
            delivery_error=row.delivery_error,
        )


@strawberry.type(description="A thread with one buyer on one connection.")
class Conversation(Node):
    pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int]
    order_pk: strawberry.Private[int | None]
    external_id: str
    buyer_name: str | None
    order_external_id: str | None
    language: str = strawberry.field(description="What canned replies are chosen in.")
    status: m.ConversationStatus
    last_message_at: datetime
    awaiting_since: datetime | None
    reply_due_at: datetime | None = strawberry.field(description="24 h after the oldest unanswered message.")

    @classmethod
    def from_row(cls, row: m.Conversation) -> Conversation:
        return cls(
            id=encode_id("Conversation", row.id),
            pk=row.id,
            connection_pk=row.connection_id,
            order_pk=row.order_id,
            external_id=row.external_id,
            buyer_name=row.buyer_name,
            order_external_id=row.order_external_id,
            language=row.language,
            status=m.ConversationStatus(row.status),
            last_message_at=row.last_message_at,
            awaiting_since=row.awaiting_since,
            reply_due_at=row.reply_due_at,
        )

    @strawberry.field
    def overdue(self) -> bool:
        return self.reply_due_at is not None and self.reply_due_at <= utcnow()

    @strawberry.field
    async def connection(self, info: Info[Any, Any]) -> ChannelConnection:
        return ChannelConnection.from_row(await same_tenant(info, m.Connection, self.connection_pk))

    @strawberry.field
    async def order(self, info: Info[Any, Any]) -> Order | None:
        if self.order_pk is not None:
            return Order.from_row(await same_tenant(info, m.Order, self.order_pk))
        if self.order_external_id is None:
            return None
        async with state(info).read() as session:  # the order may have arrived after the thread
            row = await session.scalar(
                select(m.Order).where(
                    m.Order.connection_id == self.connection_pk, m.Order.external_id == self.order_external_id
                )
            )
        return Order.from_row(row) if row is not None else None

    @strawberry.field(description="Oldest first.")
    async def messages(self, info: Info[Any, Any]) -> list[Message]:
        rows = await children(state(info), m.Message, "conversation_id", order_by=("sent_at", "id")).load(
            self.pk
        )
        return [Message.from_row(r) for r in rows]


@strawberry.type(description="A prepared answer; one text per name and language.")
class CannedReply(Node):
    name: str
    language: str
    body: str = strawberry.field(
        description="May use {buyer_name}, {order_number}, {tracking_number}, {carrier}."
    )
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.CannedReply) -> CannedReply:
        return cls(
            id=encode_id("CannedReply", row.id),
            name=row.name,
            language=row.language,
            body=row.body,
            updated_at=row.updated_at,
        )
