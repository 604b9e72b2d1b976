"""Buyer messaging as a console drives it over GraphQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock.api.schema.relay import encode_id
from crossdock.jobs import JOBS
from crossdock.testing.kit import make_tenant

INBOX = """query($f: ConversationFilter) { conversations(filter: $f) { nodes {
  id externalId status language overdue replyDueAt buyerName orderExternalId
  order { externalId } connection { channel }
  messages { direction body delivery }
} } }"""

REPLY = """mutation($i: ConversationReplyInput!) { conversationReply(input: $i) {
  conversation { status replyDueAt } message { body direction delivery }
  userErrors { field code message } } }"""

SAVE = """mutation($i: CannedReplyInput!) { cannedReplySet(input: $i) {
  cannedReply { id name language body } userErrors { field code } } }"""


async def test_operator_answers_the_overdue_buyer_from_a_canned_reply(api: Any, shop: Any, app: Any) -> None:
    key = shop.tenant.key
    await shop.ingest(shop.market.add_order("ORD-5"))
    shop.market.buyer_writes(
        "LATE", "Where is my order?", at=datetime.now(UTC) - timedelta(hours=30), order="ORD-5"
    )
    shop.market.buyer_writes("FRESH", "Do you have blue?", at=datetime.now(UTC) - timedelta(minutes=3))
    await JOBS["sync_messages"](
        app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )

    for language, body in (
        ("en", "Hi {buyer_name}, {order_number} ships today."),
        ("de", "Hallo {buyer_name}!"),
    ):
        saved = await api.data(
            SAVE, {"i": {"name": "ships_today", "language": language, "body": body}}, key=key
        )
        assert saved["cannedReplySet"]["userErrors"] == []
    # saving the same name and language again replaces the text
    again = await api.data(
        SAVE,
        {
            "i": {
                "name": "ships_today",
                "language": "en",
                "body": "Hi {buyer_name}, {order_number} ships now.",
            }
        },
        key=key,
    )
    assert again["cannedReplySet"]["cannedReply"]["body"].endswith("ships now.")
    replies = await api.data('{ cannedReplies(name: "ships_today") { language } }', key=key)
    assert [r["language"] for r in replies["cannedReplies"]] == ["de", "en"]

    overdue = (await api.data(INBOX, {"f": {"overdue": True}}, key=key))["conversations"]["nodes"]
    assert [(c["externalId"], c["status"], c["overdue"]) for c in overdue] == [
        ("LATE", "AWAITING_REPLY", True)
    ]
    late = overdue[0]
    assert late["order"] == {"externalId": "ORD-5"} and late["connection"] == {"channel": "testmarket"}
    assert late["messages"] == [{"direction": "INBOUND", "body": "Where is my order?", "delivery": None}]

    answered = (
        await api.data(REPLY, {"i": {"conversationId": late["id"], "cannedReply": "ships_today"}}, key=key)
    )["conversationReply"]
    assert answered["userErrors"] == []
    assert answered["message"] == {
        "body": "Hi Tan Ah Kow, ORD-5 ships now.",
        "direction": "OUTBOUND",
        "delivery": "PENDING",
    }
    assert answered["conversation"] == {"status": "ANSWERED", "replyDueAt": None}
    assert (await api.data(INBOX, {"f": {"overdue": True}}, key=key))["conversations"]["nodes"] == []
    waiting = (await api.data(INBOX, {"f": {"status": ["AWAITING_REPLY"]}}, key=key))["conversations"][
        "nodes"
    ]
    assert [c["externalId"] for c in waiting] == ["FRESH"]


async def test_bad_replies_get_typed_errors_and_write_nothing(api: Any, shop: Any, app: Any) -> None:
    key = shop.tenant.key
    shop.market.buyer_writes("T1", "Hello", at=datetime.now(UTC) - timedelta(minutes=3))
    await JOBS["sync_messages"](
        app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )
    [thread] = (await api.data(INBOX, key=key))["conversations"]["nodes"]

    async def errors(variables: dict[str, Any]) -> list[dict[str, Any]]:
        return (await api.data(REPLY, {"i": variables}, key=key))["conversationReply"]["userErrors"]

    both = await errors({"conversationId": thread["id"], "text": "Hi", "cannedReply": "x"})
    assert both[0]["code"] == "INVALID"
    assert (await errors({"conversationId": thread["id"], "text": "   "}))[0]["code"] == "REQUIRED"
    assert (await errors({"conversationId": thread["id"], "cannedReply": "nope"}))[0]["code"] == "NOT_FOUND"
    english = await errors({"conversationId": thread["id"], "text": "x", "language": "english"})
    assert english[0]["code"] == "INVALID_LANGUAGE"
    wrong_type = await errors({"conversationId": encode_id("Order", 1), "text": "x"})
    assert wrong_type == [
        {"field": ["conversationId"], "code": "INVALID_ID", "message": wrong_type[0]["message"]}
    ]
    bad_body = await api.data(SAVE, {"i": {"name": "n", "language": "en", "body": "Hi {name}"}}, key=key)
    assert bad_body["cannedReplySet"]["userErrors"] == [{"field": ["body"], "code": "UNKNOWN_PLACEHOLDER"}]

    [after] = (await api.data(INBOX, key=key))["conversations"]["nodes"]
    assert after["messages"] == thread["messages"] and after["status"] == "AWAITING_REPLY"

    # another brand's key sees none of it, and cannot reply to it
    other = await make_tenant(app)
    assert (await api.data(INBOX, key=other.key))["conversations"]["nodes"] == []
    foreign = await api.data(REPLY, {"i": {"conversationId": thread["id"], "text": "hi"}}, key=other.key)
    assert foreign["conversationReply"]["userErrors"][0]["code"] == "NOT_FOUND"
    # a key without the messages scope cannot read the inbox
    reader = await make_tenant(app, scopes=["orders:read"])
    denied = await api.raw(INBOX, key=reader.key)
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
