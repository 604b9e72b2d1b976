"""Buyer messages: pulled from the channel, answered in the buyer's language, sent once, and
the 24-hour reply deadline watched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crossdock import ChannelError
from crossdock.db.models import Conversation, Event, Message, Order
from crossdock.errors import UserError
from crossdock.jobs import JOBS
from crossdock.services import messaging


async def _sync(shop: Any) -> dict[str, Any]:
    return await JOBS["sync_messages"](
        shop.app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )


async def _thread(shop: Any, external_id: str) -> Conversation:
    async with shop.read() as session:
        row = await session.scalar(select(Conversation).where(Conversation.external_id == external_id))
        assert row is not None
        return row


async def _messages(shop: Any, conversation_id: int) -> list[Message]:
    async with shop.read() as session:
        rows = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.sent_at, Message.id)
        )
        return list(rows.all())


async def _events(shop: Any, kind: str) -> int:
    async with shop.read() as session:
        return int(
            await session.scalar(select(func.count()).select_from(Event).where(Event.type == kind)) or 0
        )


async def _reply(shop: Any, conversation_id: int, **kwargs: Any) -> Message:
    async with shop.unit_of_work() as uow:
        return await messaging.reply(uow, conversation_id, **kwargs)


async def _send(shop: Any, message_id: int) -> str:
    return await JOBS["send_message"](shop.app.job_context(), tenant_id=shop.tenant.id, message_id=message_id)


async def test_sync_opens_conversations_with_a_24_hour_deadline(shop: Any) -> None:
    await shop.ingest(shop.market.add_order("ORD-1"))
    first = datetime.now(UTC) - timedelta(hours=2)
    shop.market.buyer_writes("T1", "Where is my fan?", at=first, order="ORD-1")
    shop.market.buyer_writes("T1", "Hello??", at=first + timedelta(minutes=30))
    recent = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(3):
        shop.market.buyer_writes("T2", f"question {i}", at=recent + timedelta(seconds=i))

    totals = await _sync(shop)
    assert totals["received"] == 5 and totals["conversations"] == 2 and totals["pages"] == 2

    t1 = await _thread(shop, "T1")
    assert t1.status == "awaiting_reply"
    assert t1.awaiting_since == first
    assert t1.reply_due_at == first + timedelta(hours=24)
    assert t1.language == "en"  # the Singapore site's language
    assert t1.buyer_name == "Tan Ah Kow"
    async with shop.read() as session:
        assert t1.order_id == await session.scalar(select(Order.id).where(Order.external_id == "ORD-1"))
    assert await _events(shop, "conversation.message_received") == 5

    # the next sync re-reads the last minutes (the overlap) and stores nothing twice
    again = await _sync(shop)
    assert again["received"] == 0 and again["ignored"] == 3
    assert len(await _messages(shop, (await _thread(shop, "T2")).id)) == 3


async def test_state_is_right_whatever_order_messages_arrive_in(shop: Any) -> None:
    conn_id = shop.connections["sg"]
    base = datetime.now(UTC) - timedelta(hours=3)
    question = shop.market.buyer_writes("T9", "Is it in stock?", at=base)
    from crossdock import ChannelMessage
    from crossdock.db.models import Connection

    answer = ChannelMessage(
        thread_id="T9",
        external_id="T9-seller",
        from_buyer=False,
        text="Yes!",
        sent_at=base + timedelta(hours=1),
    )
    async with shop.write() as session:
        conn = await session.get(Connection, conn_id)
        # the seller's answer (sent from the marketplace's own console) arrives first
        await messaging.ingest_messages(session, conn, [answer])
        await messaging.ingest_messages(session, conn, [question, answer])
    t9 = await _thread(shop, "T9")
    assert t9.status == "answered" and t9.reply_due_at is None
    assert [m.direction for m in await _messages(shop, t9.id)] == ["inbound", "outbound"]

    later = shop.market.buyer_writes("T9", "Thanks, and the colour?", at=base + timedelta(hours=2))
    async with shop.write() as session:
        conn = await session.get(Connection, conn_id)
        await messaging.ingest_messages(session, conn, [later])
    t9 = await _thread(shop, "T9")
    assert t9.status == "awaiting_reply" and t9.awaiting_since == later.sent_at


async def test_a_reply_answers_at_once_and_is_sent_exactly_once(shop: Any) -> None:
    shop.market.buyer_writes("T1", "Can you ship today?", at=datetime.now(UTC) - timedelta(minutes=5))
    await _sync(shop)
    thread = await _thread(shop, "T1")
    message = await _reply(shop, thread.id, text="Yes, it leaves this afternoon.")
    thread = await _thread(shop, "T1")
    assert thread.status == "answered" and thread.reply_due_at is None
    assert message.delivery == "pending"

    assert await _send(shop, message.id) == "sent"
    assert await _send(shop, message.id) == "done"  # a re-run sends nothing
    assert [(m.thread_id, m.text, m.buyer_id) for m in shop.market.sent] == [
        ("T1", "Yes, it leaves this afternoon.", "buyer-T1")
    ]
    stored = await _messages(shop, thread.id)
    assert [(m.direction, m.delivery) for m in stored] == [("inbound", None), ("outbound", "sent")]
    assert stored[1].external_id == "T1-r1"
    # the channel now lists our reply too: it is recognised, not stored again
    await _sync(shop)
    assert len(await _messages(shop, thread.id)) == 2


async def test_a_reply_the_channel_gave_no_id_for_is_recognised_when_listed(shop: Any) -> None:
    shop.market.send_returns_id = False
    shop.market.buyer_writes("T1", "Hi", at=datetime.now(UTC) - timedelta(minutes=5))
    await _sync(shop)
    thread = await _thread(shop, "T1")
    message = await _reply(shop, thread.id, text="Hello, how can I help?")
    await _send(shop, message.id)
    await _sync(shop)
    stored = await _messages(shop, thread.id)
    assert len(stored) == 2 and stored[1].external_id == "T1-r1"


async def test_send_failures(shop: Any) -> None:
    shop.market.buyer_writes("T1", "Refund please", at=datetime.now(UTC) - timedelta(minutes=5))
    await _sync(shop)
    thread = await _thread(shop, "T1")
    message = await _reply(shop, thread.id, text="Refund issued.")
    # transient: the job fails (to be retried) and the reply stays pending
    shop.market.send_failures.append(ChannelError("busy", code="503", retryable=True))
    with pytest.raises(ChannelError):
        await _send(shop, message.id)
    assert (await _messages(shop, thread.id))[1].delivery == "pending"
    # permanent: the reply is marked failed and the buyer is waiting again
    shop.market.send_failures.append(ChannelError("chat disabled for this shop", code="PERMISSION"))
    assert await _send(shop, message.id) == "failed"
    failed = (await _messages(shop, thread.id))[1]
    assert failed.delivery == "failed" and failed.delivery_error == "PERMISSION: chat disabled for this shop"
    assert (await _thread(shop, "T1")).status == "awaiting_reply"
    assert await _events(shop, "message.send_failed") == 1
    assert shop.market.sent == []


async def test_overdue_conversations_are_announced_once_per_wait(shop: Any) -> None:
    ctx = shop.app.job_context()
    # the sweep covers the whole database: first the waits other tests left behind in it
    await JOBS["reply_sweep"](ctx)
    shop.market.buyer_writes("OLD", "Anyone there?", at=datetime.now(UTC) - timedelta(hours=25))
    shop.market.buyer_writes("NEW", "Quick question", at=datetime.now(UTC) - timedelta(hours=1))
    await _sync(shop)
    assert await JOBS["reply_sweep"](ctx) == 1
    assert await JOBS["reply_sweep"](ctx) == 0
    assert await _events(shop, "conversation.reply_overdue") == 1

    old = await _thread(shop, "OLD")
    await _reply(shop, old.id, text="Sorry for the wait!")
    shop.market.buyer_writes("OLD", "Still broken", at=datetime.now(UTC) - timedelta(hours=24, seconds=1))
    # a buyer message older than our reply does not reopen the thread...
    await _sync(shop)
    assert (await _thread(shop, "OLD")).status == "answered"
    assert await JOBS["reply_sweep"](ctx) == 0


async def test_closing_stops_the_clock_until_the_buyer_writes_again(shop: Any) -> None:
    shop.market.buyer_writes("T1", "Thanks!", at=datetime.now(UTC) - timedelta(minutes=10))
    await _sync(shop)
    thread = await _thread(shop, "T1")
    async with shop.write() as session:
        await messaging.close_conversation(session, thread.id)
    assert (await _thread(shop, "T1")).status == "closed"
    shop.market.buyer_writes("T1", "One more thing", at=datetime.now(UTC) + timedelta(seconds=1))
    await _sync(shop)
    assert (await _thread(shop, "T1")).status == "awaiting_reply"


async def test_canned_replies_in_the_buyers_language_with_order_details(shop: Any) -> None:
    await shop.ingest(shop.market.add_order("ORD-7"))
    async with shop.write() as session:
        for language, body in {
            "en": "Hi {buyer_name}, order {order_number} is on its way.",
            "th": "สวัสดี {buyer_name} คำสั่งซื้อ {order_number} กำลังจัดส่ง",
            "pt": "Olá {buyer_name}, o pedido {order_number} está a caminho.",
        }.items():
            await messaging.save_canned_reply(session, name="on_the_way", language=language, body=body)
        with pytest.raises(UserError) as bad:
            await messaging.save_canned_reply(session, name="x", language="en", body="Hi {buyer}")
        assert bad.value.code == "UNKNOWN_PLACEHOLDER"
    shop.market.buyer_writes("T1", "Where is it?", at=datetime.now(UTC) - timedelta(minutes=5), order="ORD-7")
    shop.market.buyer_writes("T2", "Status?", at=datetime.now(UTC) - timedelta(minutes=5))
    await _sync(shop)
    t1 = await _thread(shop, "T1")

    english = await _reply(shop, t1.id, canned_reply="on_the_way")
    assert english.body == "Hi Tan Ah Kow, order ORD-7 is on its way."
    thai = await _reply(shop, t1.id, canned_reply="on_the_way", language="th")
    assert thai.body == "สวัสดี Tan Ah Kow คำสั่งซื้อ ORD-7 กำลังจัดส่ง"
    brazilian = await _reply(shop, t1.id, canned_reply="on_the_way", language="pt-BR")  # falls back to pt
    assert brazilian.body.startswith("Olá Tan Ah Kow")
    german = await _reply(shop, t1.id, canned_reply="on_the_way", language="de")  # falls back to en
    assert german.body == english.body

    t2 = await _thread(shop, "T2")  # no order: {order_number} cannot be filled
    with pytest.raises(UserError) as missing:
        await _reply(shop, t2.id, canned_reply="on_the_way")
    assert missing.value.code == "PLACEHOLDER_UNAVAILABLE"
    with pytest.raises(UserError) as unknown:
        await _reply(shop, t2.id, canned_reply="no_such_reply")
    assert unknown.value.code == "NOT_FOUND"
    assert len(await _messages(shop, t2.id)) == 1  # nothing half-written
