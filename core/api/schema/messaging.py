"""Buyer messaging: conversations to answer, replies (free text or canned, in the buyer's
language) and the canned replies themselves."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import MessagingUserError, in_transaction, requires
from crossdock.api.schema.messaging_types import CannedReply, Conversation, Message
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, sort_keys
from crossdock.db import models as m
from crossdock.db import utcnow
from crossdock.services import messaging

__all__ = ["Mutation", "Query"]


class ConversationSortKeys(StrEnum):
    ID = "ID"
    LAST_MESSAGE_AT = "LAST_MESSAGE_AT"
    REPLY_DUE_AT = "REPLY_DUE_AT"
    CREATED_AT = "CREATED_AT"


CONVERSATION_SORTS = sort_keys(
    ConversationSortKeys,
    m.Conversation,
    "The orders conversations can be listed in (REPLY_DUE_AT: the most urgent first, "
    "conversations with nothing to answer last).",
)


@strawberry.input
class ConversationFilter:
    status: list[m.ConversationStatus] | None = None
    overdue: bool | None = strawberry.field(default=None, description="Past the 24 h reply deadline.")
    connection_id: strawberry.ID | None = None
    order_id: strawberry.ID | None = None


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("messages:read"), description="Buyer conversations (by default oldest first)."
    )
    async def conversations(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ConversationFilter | None = None,
        sort_key: ConversationSortKeys = ConversationSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Conversation]:
        stmt = select(m.Conversation)
        if filter:
            if filter.status:
                stmt = stmt.where(m.Conversation.status.in_(filter.status))
            if filter.overdue is not None:
                late = messaging.overdue_since(utcnow())
                stmt = stmt.where(late if filter.overdue else ~late)
            if filter.connection_id:
                _, pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")
                stmt = stmt.where(m.Conversation.connection_id == pk)
            if filter.order_id:
                _, pk = decode_id(filter.order_id, "Order", field="filter.orderId")
                stmt = stmt.where(m.Conversation.order_id == pk)
        return await paginate(
            state(info),
            stmt,
            m.Conversation,
            Conversation.from_row,
            first=first,
            after=after,
            sort=CONVERSATION_SORTS[sort_key],
            reverse=reverse,
        )

    @strawberry.field(extensions=requires("messages:read"))
    async def canned_replies(
        self, info: Info[Any, Any], name: str | None = None, language: str | None = None
    ) -> list[CannedReply]:
        stmt = select(m.CannedReply).order_by(m.CannedReply.name, m.CannedReply.language)
        if name is not None:
            stmt = stmt.where(m.CannedReply.name == name)
        if language is not None:
            stmt = stmt.where(m.CannedReply.language == language)
        async with state(info).read() as session:
            return [CannedReply.from_row(r) for r in (await session.scalars(stmt)).all()]


@strawberry.input
class ConversationReplyInput:
    conversation_id: strawberry.ID
    text: str | None = strawberry.field(default=None, description="Free text; or give cannedReply.")
    canned_reply: str | None = strawberry.field(
        default=None, description="A canned reply's name, sent in the conversation's language."
    )
    language: str | None = strawberry.field(default=None, description="Overrides the conversation's.")


@strawberry.type
class ConversationReplyPayload:
    conversation: Conversation | None = None
    message: Message | None = None
    user_errors: list[MessagingUserError] = strawberry.field(default_factory=list)


@strawberry.input
class ConversationCloseInput:
    id: strawberry.ID


@strawberry.input
class CannedReplyDeleteInput:
    id: strawberry.ID


@strawberry.type
class ConversationPayload:
    conversation: Conversation | None = None
    user_errors: list[MessagingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConversationClosePayload(ConversationPayload):
    pass


@strawberry.input
class CannedReplyInput:
    name: str
    language: str = strawberry.field(description="A language tag: en, de, pt-BR, th ...")
    body: str = strawberry.field(
        description="May use {buyer_name}, {order_number}, {tracking_number}, {carrier}."
    )


@strawberry.type
class CannedReplyPayload:
    canned_reply: CannedReply | None = None
    user_errors: list[MessagingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class CannedReplySetPayload(CannedReplyPayload):
    pass


@strawberry.type
class CannedReplyDeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[MessagingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("messages:write"),
        description="Queue a reply; it is sent by a retried job, so a channel outage loses nothing.",
    )
    async def conversation_reply(
        self, info: Info[Any, Any], input: ConversationReplyInput
    ) -> ConversationReplyPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.conversation_id, m.Conversation, field="conversationId")
            message = await messaging.reply(
                st.uow,
                pk,
                text=input.text,
                canned_reply=input.canned_reply,
                language=input.language,
            )
            conversation = await session.get(m.Conversation, pk)
            assert conversation is not None
            return {"conversation": Conversation.from_row(conversation), "message": Message.from_row(message)}

        return await in_transaction(info, ConversationReplyPayload, body)

    @strawberry.mutation(extensions=requires("messages:write"), description="Nothing to answer.")
    async def conversation_close(
        self, info: Info[Any, Any], input: ConversationCloseInput
    ) -> ConversationClosePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Conversation)
            return {"conversation": Conversation.from_row(await messaging.close_conversation(session, pk))}

        return await in_transaction(info, ConversationClosePayload, body)

    @strawberry.mutation(
        extensions=requires("messages:write"), description="Create or replace one language of a canned reply."
    )
    async def canned_reply_set(self, info: Info[Any, Any], input: CannedReplyInput) -> CannedReplySetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await messaging.save_canned_reply(
                session, name=input.name, language=input.language, body=input.body
            )
            return {"canned_reply": CannedReply.from_row(row)}

        return await in_transaction(info, CannedReplySetPayload, body)

    @strawberry.mutation(extensions=requires("messages:write"))
    async def canned_reply_delete(
        self, info: Info[Any, Any], input: CannedReplyDeleteInput
    ) -> CannedReplyDeletePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.CannedReply)
            await messaging.delete_canned_reply(session, pk)
            return {"deleted_id": input.id}

        return await in_transaction(info, CannedReplyDeletePayload, body)
