"""Buyer messaging: conversations pulled from channels, replies (free text or canned, in the
buyer's language) sent through a retried job, and the 24-hour reply deadline.

A conversation's state is recomputed from its messages after every change rather than
updated step by step, so messages arriving out of order or twice (an overlapping sync and a
webhook) always leave it right: it awaits a reply when a buyer message is newer than the
last reply that did not fail (and than the last time an operator closed it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.languages import get_official_languages
from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    CannedReply,
    Connection,
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    Order,
    Shipment,
)
from crossdock.db.scoping import session_tenant
from crossdock.errors import ChannelError, UserError
from crossdock.providers import ChannelMessage, MarketplaceCapability, OutgoingMessage
from crossdock.services.common import get_or_404, non_empty
from crossdock.services.events import emit
from crossdock.services.uow import UnitOfWork

__all__ = [
    "PLACEHOLDERS",
    "REPLY_WITHIN",
    "MessageIngestResult",
    "Outgoing",
    "close_conversation",
    "delete_canned_reply",
    "ingest_messages",
    "language_for",
    "mark_reply_overdue",
    "outgoing",
    "overdue_since",
    "record_send_failure",
    "record_sent",
    "refresh_state",
    "reply",
    "save_canned_reply",
]

#: Marketplaces expect an answer to a buyer within a day (and rate sellers on it).
REPLY_WITHIN = timedelta(hours=24)
#: What a canned reply may mention; filled from the conversation and its order.
PLACEHOLDERS = ("buyer_name", "order_number", "tracking_number", "carrier")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@dataclass
class MessageIngestResult:
    received: int = 0
    conversations: int = 0
    ignored: int = 0


def language_for(country: str | None) -> str:
    """The language a buyer in ``country`` most likely writes: its main official language."""
    if country:
        languages = get_official_languages(country.upper(), de_facto=True)
        if languages:
            return str(languages[0]).replace("_", "-")
    return "en"


async def ingest_messages(
    session: AsyncSession, conn: Connection, messages: Sequence[ChannelMessage]
) -> MessageIngestResult:
    """Store a page of channel messages: new threads become conversations, messages already
    stored are ignored, and each touched conversation's state is recomputed."""
    result = MessageIngestResult()
    if not messages:
        return result
    threads = {m.thread_id for m in messages}
    conversations = {
        c.external_id: c
        for c in (
            await session.scalars(
                select(Conversation).where(
                    Conversation.connection_id == conn.id, Conversation.external_id.in_(threads)
                )
            )
        ).all()
    }
    for message in sorted(messages, key=lambda m: m.sent_at):
        if message.thread_id not in conversations:
            conversations[message.thread_id] = conversation = Conversation(
                connection_id=conn.id,
                external_id=message.thread_id,
                language=message.language or language_for(conn.country),
                status=ConversationStatus.ANSWERED,
                last_message_at=message.sent_at,
            )
            session.add(conversation)
            result.conversations += 1
        conversation = conversations[message.thread_id]
        if message.from_buyer:
            conversation.buyer_external_id = message.buyer_id or conversation.buyer_external_id
            conversation.buyer_name = message.buyer_name or conversation.buyer_name
            if message.language:
                conversation.language = message.language
        if message.order_external_id and not conversation.order_external_id:
            conversation.order_external_id = message.order_external_id
    await session.flush()
    await _link_orders(session, conn.id, conversations.values())

    by_id = {c.id: c for c in conversations.values()}
    known = await _known_messages(session, [(conversations[m.thread_id].id, m.external_id) for m in messages])
    unsent_replies = await _unacknowledged_replies(session, list(by_id))
    touched: set[int] = set()
    for message in messages:
        conversation = conversations[message.thread_id]
        key = (conversation.id, message.external_id)
        if key in known:
            result.ignored += 1
            continue
        known.add(key)
        if not message.from_buyer and _claim_reply(unsent_replies[conversation.id], message):
            touched.add(conversation.id)
            continue  # our own reply, now listed by the channel
        session.add(
            Message(
                conversation_id=conversation.id,
                external_id=message.external_id,
                direction=MessageDirection.INBOUND if message.from_buyer else MessageDirection.OUTBOUND,
                body=message.text,
                sent_at=message.sent_at,
                delivery=None if message.from_buyer else "sent",
            )
        )
        touched.add(conversation.id)
        if message.from_buyer:
            result.received += 1
            emit(
                session,
                "conversation.message_received",
                f"Conversation:{conversation.id}",
                connection_id=conn.id,
                thread=conversation.external_id,
            )
    await session.flush()
    for conversation_id in touched:
        await refresh_state(session, by_id[conversation_id])
    return result


async def _known_messages(session: AsyncSession, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    rows = await session.execute(
        select(Message.conversation_id, Message.external_id).where(
            tuple_(Message.conversation_id, Message.external_id).in_(keys)
        )
    )
    return {(cid, str(eid)) for cid, eid in rows.all()}


async def _unacknowledged_replies(
    session: AsyncSession, conversation_ids: list[int]
) -> dict[int, list[Message]]:
    """Replies we sent whose channel id we never learnt (the channel's send answer had none)."""
    found: dict[int, list[Message]] = defaultdict(list)
    rows = await session.scalars(
        select(Message).where(
            Message.conversation_id.in_(conversation_ids),
            Message.direction == MessageDirection.OUTBOUND,
            Message.external_id.is_(None),
        )
    )
    for row in rows.all():
        found[row.conversation_id].append(row)
    return found


def _claim_reply(candidates: list[Message], message: ChannelMessage) -> bool:
    for row in candidates:
        if row.body.strip() == message.text.strip():
            row.external_id = message.external_id
            row.delivery = "sent"
            candidates.remove(row)
            return True
    return False


async def _link_orders(
    session: AsyncSession, connection_id: int, conversations: Iterable[Conversation]
) -> None:
    """Point threads at the order they are about, once Crossdock has that order."""
    wanted = {c.order_external_id: c for c in conversations if c.order_external_id and c.order_id is None}
    if not wanted:
        return
    rows = await session.execute(
        select(Order.external_id, Order.id).where(
            Order.connection_id == connection_id, Order.external_id.in_(list(wanted))
        )
    )
    for external_id, order_id in rows.all():
        wanted[external_id].order_id = order_id


async def refresh_state(session: AsyncSession, conversation: Conversation) -> None:
    """Derive status, wait and deadline from the messages (see the module doc)."""
    last_reply = await session.scalar(
        select(func.max(Message.sent_at)).where(
            Message.conversation_id == conversation.id,
            Message.direction == MessageDirection.OUTBOUND,
            (Message.delivery.is_(None)) | (Message.delivery != "failed"),
        )
    )
    answered_until = max((t for t in (last_reply, conversation.closed_at) if t is not None), default=None)
    waiting = select(func.min(Message.sent_at)).where(
        Message.conversation_id == conversation.id, Message.direction == MessageDirection.INBOUND
    )
    if answered_until is not None:
        waiting = waiting.where(Message.sent_at > answered_until)
    awaiting_since = await session.scalar(waiting)
    conversation.last_message_at = (
        await session.scalar(
            select(func.max(Message.sent_at)).where(Message.conversation_id == conversation.id)
        )
        or conversation.last_message_at
    )
    if awaiting_since is not None:
        if conversation.awaiting_since != awaiting_since:
            conversation.overdue_notified_at = None
        conversation.status = ConversationStatus.AWAITING_REPLY
        conversation.awaiting_since = awaiting_since
        conversation.reply_due_at = awaiting_since + REPLY_WITHIN
        return
    conversation.awaiting_since = None
    conversation.reply_due_at = None
    closed_last = conversation.closed_at is not None and (
        last_reply is None or conversation.closed_at >= last_reply
    )
    conversation.status = ConversationStatus.CLOSED if closed_last else ConversationStatus.ANSWERED


# --------------------------------------------------------------------------- replies


def _placeholders(body: str) -> set[str]:
    return set(_PLACEHOLDER.findall(body))


def _language(value: str, field: str) -> str:
    code = value.strip()
    if not _LANGUAGE.match(code):
        raise UserError(
            f"{value!r} is not a language tag such as en or pt-BR", field=field, code="INVALID_LANGUAGE"
        )
    return code


async def save_canned_reply(session: AsyncSession, *, name: str, language: str, body: str) -> CannedReply:
    """Create or replace the text of canned reply ``name`` in ``language``."""
    name = non_empty(name, "name", max_length=64)
    language = _language(language, "language")
    body = non_empty(body, "body", max_length=4000)
    unknown = _placeholders(body) - set(PLACEHOLDERS)
    if unknown:
        raise UserError(
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; use {', '.join(PLACEHOLDERS)}",
            field="body",
            code="UNKNOWN_PLACEHOLDER",
        )
    row = await session.scalar(
        select(CannedReply).where(CannedReply.name == name, CannedReply.language == language)
    )
    if row is None:
        row = CannedReply(name=name, language=language, body=body)
        session.add(row)
    else:
        row.body = body
    await session.flush()
    return row


async def delete_canned_reply(session: AsyncSession, reply_id: int) -> None:
    await session.delete(await get_or_404(session, CannedReply, reply_id))


async def _pick_canned(session: AsyncSession, name: str, language: str) -> CannedReply:
    """The reply in the buyer's language, else its base language (pt for pt-BR), else English."""
    rows = {
        r.language: r
        for r in (await session.scalars(select(CannedReply).where(CannedReply.name == name))).all()
    }
    if not rows:
        raise UserError(f"no canned reply named {name!r}", field="cannedReply", code="NOT_FOUND")
    for candidate in (language, language.split("-")[0], "en"):
        if candidate in rows:
            return rows[candidate]
    raise UserError(
        f"canned reply {name!r} has no {language} or English text (has {', '.join(sorted(rows))})",
        field="language",
        code="NO_TRANSLATION",
    )


async def _fill(session: AsyncSession, conversation: Conversation, body: str) -> str:
    values: dict[str, str | None] = {"buyer_name": conversation.buyer_name}
    if conversation.order_id is not None:
        order = await session.get(Order, conversation.order_id)
        values["order_number"] = order.external_id if order else None
        latest = (
            await session.execute(
                select(Shipment.tracking_number, Shipment.carrier)
                .where(Shipment.order_id == conversation.order_id, Shipment.tracking_number.is_not(None))
                .order_by(Shipment.id.desc())
                .limit(1)
            )
        ).first()
        values["tracking_number"], values["carrier"] = latest if latest is not None else (None, None)
    else:
        values["order_number"] = conversation.order_external_id
    missing = sorted(p for p in _placeholders(body) if not values.get(p))
    if missing:
        raise UserError(
            f"this conversation has no {', '.join(missing)} to fill the canned reply with",
            field="cannedReply",
            code="PLACEHOLDER_UNAVAILABLE",
        )
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), body)


async def reply(
    uow: UnitOfWork,
    conversation_id: int,
    *,
    text: str | None = None,
    canned_reply: str | None = None,
    language: str | None = None,
) -> Message:
    """Queue a reply: stored now (the conversation counts as answered), sent by the
    ``send_message`` job after commit, retried while the channel is unavailable."""
    session = uow.session
    conversation = await get_or_404(session, Conversation, conversation_id, field="conversationId")
    if (text is None) == (canned_reply is None):
        raise UserError("give either text or cannedReply", field="text", code="INVALID")
    conn = await get_or_404(session, Connection, conversation.connection_id)
    provider = uow.plugins.marketplaces.get(conn.channel)
    if provider is None or MarketplaceCapability.MESSAGES_SEND not in provider.capabilities:
        raise UserError(
            f"{conn.channel} cannot send buyer messages", field="conversationId", code="NOT_SUPPORTED"
        )
    wanted = _language(language, "language") if language is not None else conversation.language
    chosen: CannedReply | None = None
    if canned_reply is not None:
        chosen = await _pick_canned(session, canned_reply, wanted)
        body = await _fill(session, conversation, chosen.body)
    else:
        body = non_empty(text, "text", max_length=4000)
    message = Message(
        conversation_id=conversation.id,
        direction=MessageDirection.OUTBOUND,
        body=body,
        sent_at=utcnow(),
        delivery="pending",
        canned_reply_id=chosen.id if chosen else None,
    )
    session.add(message)
    await session.flush()
    await refresh_state(session, conversation)
    uow.enqueue(
        "send_message",
        job_id=f"send_message:{message.id}",
        tenant_id=session_tenant(session.sync_session),
        message_id=message.id,
    )
    return message


async def close_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    """Nothing to answer (a thank-you, spam): stop the clock until the buyer writes again."""
    conversation = await get_or_404(session, Conversation, conversation_id, field="conversationId")
    conversation.closed_at = utcnow()
    await refresh_state(session, conversation)
    return conversation


def overdue_since(now: datetime) -> ColumnElement[bool]:
    """Filter for conversations past their reply deadline."""
    return (Conversation.status == ConversationStatus.AWAITING_REPLY) & (Conversation.reply_due_at <= now)


@dataclass(frozen=True)
class Outgoing:
    """A stored reply still to send, and the connection it goes through."""

    message_id: int
    connection_id: int
    message: OutgoingMessage


async def outgoing(session: AsyncSession, message_id: int) -> Outgoing | None:
    """The reply to send for ``message_id``; ``None`` once it is sent or failed."""
    message = await session.scalar(select(Message).where(Message.id == message_id))
    if message is None or message.delivery != "pending":
        return None
    conversation = await session.scalar(
        select(Conversation).where(Conversation.id == message.conversation_id)
    )
    assert conversation is not None
    return Outgoing(
        message_id=message_id,
        connection_id=conversation.connection_id,
        message=OutgoingMessage(
            thread_id=conversation.external_id,
            text=message.body,
            buyer_id=conversation.buyer_external_id,
            order_external_id=conversation.order_external_id,
            reference=f"crossdock-message-{message_id}",
        ),
    )


async def record_sent(session: AsyncSession, message_id: int, external_id: str | None) -> None:
    """The channel took the reply (``external_id``: its id for it, when it says)."""
    row = await session.scalar(select(Message).where(Message.id == message_id))
    assert row is not None
    row.delivery = "sent"
    row.delivery_error = None
    if external_id and row.external_id is None:
        row.external_id = external_id
    emit(session, "message.sent", f"Conversation:{row.conversation_id}")


async def record_send_failure(session: AsyncSession, message_id: int, exc: ChannelError) -> None:
    """The channel refused the reply for good: the message failed and the conversation
    awaits a reply again."""
    row = await session.scalar(select(Message).where(Message.id == message_id))
    assert row is not None
    row.delivery = "failed"
    row.delivery_error = f"{exc.code}: {exc.message}"
    thread = await session.scalar(select(Conversation).where(Conversation.id == row.conversation_id))
    assert thread is not None
    await refresh_state(session, thread)
    emit(session, "message.send_failed", f"Conversation:{thread.id}", error=row.delivery_error)


async def mark_reply_overdue(session: AsyncSession, conversation_id: int, now: datetime) -> None:
    """Announce, once per wait, that the buyer has waited past the reply deadline."""
    row = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
    assert row is not None
    row.overdue_notified_at = now
    emit(
        session,
        "conversation.reply_overdue",
        f"Conversation:{conversation_id}",
        reply_due_at=row.reply_due_at.isoformat() if row.reply_due_at else None,
    )
