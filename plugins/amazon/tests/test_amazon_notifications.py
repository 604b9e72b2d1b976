"""SP-API notifications read from the seller's SQS queue: SigV4 as AWS specifies it, each
ORDER_CHANGE turned into the order's current state once, through faults and redeliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import botocore.auth
import pytest
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import order_references
from crossdock_amazon.sqs import sign
from sqlalchemy import select

from crossdock import ChannelError
from crossdock.db.models import Connection, WebhookEvent
from crossdock.services import connections
from crossdock.testing.conformance import MarketplaceConformance, Setup, until_done
from crossdock.testing.emulator import Faults


def test_sigv4_matches_the_aws_test_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS Signature Version 4 test suite, ``get-vanilla``."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime(2015, 8, 30, 12, 36, 0))
    headers = sign(
        "GET",
        "https://example.amazonaws.com/",
        {},
        b"",
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        service="service",
    )
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_only_this_sellers_order_changes_name_an_order() -> None:
    change = {
        "NotificationType": "ORDER_CHANGE",
        "Payload": {"OrderChangeNotification": {"SellerId": "A1", "AmazonOrderId": "111-1"}},
    }
    assert order_references(json.dumps(change), "A1") == [{"type": "order", "external_id": "111-1"}]
    assert order_references(json.dumps(change), "A2") == []
    assert order_references(json.dumps({**change, "NotificationType": "ANY_OFFER_CHANGED"}), "A1") == []
    with pytest.raises(json.JSONDecodeError):
        order_references("not json", "A1")


class AmazonShop(MarketplaceConformance):
    """The conformance suite's setup (not its tests): a tenant connected to the emulator."""

    channel = "amazon"
    site = "US"

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)


async def _subscribe(setup: Setup, *, secret: str | None = None) -> dict[str, str]:
    emulator: Any = setup.emulator
    queue = emulator.subscribe(setup.account)
    async with setup.app.db.write(setup.tenant.id) as session:
        conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
        assert conn is not None
        await connections.update_connection(
            session,
            setup.app.vault,
            setup.connection_id,
            credentials={
                **setup.account,
                "aws_access_key_id": queue["aws_access_key_id"],
                "aws_secret_access_key": secret or queue["aws_secret_access_key"],
            },
            settings={
                **conn.settings,
                "notifications_queue_url": queue["queue_url"],
                "sqs_endpoint": conn.base_url,
            },
        )
    return queue


async def _process_all(setup: Setup) -> int:
    async with setup.app.db.tenant(setup.tenant.id) as session:
        pending = (
            await session.scalars(select(WebhookEvent.id).where(WebhookEvent.status == "received"))
        ).all()
    for event_id in pending:
        await until_done(setup.job("process_webhook", event_id=event_id))
    return len(pending)


async def test_order_changes_arrive_through_the_queue_once(app: Any, tenant_factory: Any) -> None:
    async with AmazonShop().connected(app, tenant_factory, Faults.failing(0.2, seed=3)) as setup:
        emulator: Any = setup.emulator
        await _subscribe(setup)
        for i in range(14):
            emulator.add_order(
                setup.account, f"111-0000000-{i:07d}", [("CONF-1", 1, "19.99")], buyer=f"Buyer{i} Smith"
            )
        drained = await until_done(setup.job("drain_notifications", connection_id=setup.connection_id))
        assert drained == {"received": 14, "stored": 14}
        assert await _process_all(setup) == 14
        orders = await setup.orders()
        assert len(orders) == 14
        assert {o.status for o in orders.values()} == {"allocated"}

        # the buyer cancels one: the change arrives by the queue, not by a sync
        emulator.cancel_order(setup.account, "111-0000000-0000003")
        await until_done(setup.job("drain_notifications", connection_id=setup.connection_id))
        assert await _process_all(setup) == 1
        assert (await setup.orders())["111-0000000-0000003"].status == "cancelled"


async def test_a_crash_before_the_delete_means_a_redelivery_not_a_duplicate(
    app: Any, tenant_factory: Any
) -> None:
    async with AmazonShop().connected(app, tenant_factory) as setup:
        emulator: Any = setup.emulator
        await _subscribe(setup)
        emulator.add_order(setup.account, "111-0000000-0000001", [("CONF-1", 1, "19.99")])
        emulator.sqs.fail_deletes = 1
        with pytest.raises(ChannelError):
            await setup.job("drain_notifications", connection_id=setup.connection_id)()
        emulator.sqs.expire_visibility()  # SQS hands the undeleted message out again
        again = await setup.job("drain_notifications", connection_id=setup.connection_id)()
        assert again == {"received": 1, "stored": 0}
        assert sum(len(q.messages) for q in emulator.sqs.queues.values()) == 0
        async with app.db.tenant(setup.tenant.id) as session:
            assert len((await session.scalars(select(WebhookEvent))).all()) == 1


async def test_a_wrong_secret_is_refused_and_reported(app: Any, tenant_factory: Any) -> None:
    async with AmazonShop().connected(app, tenant_factory) as setup:
        await _subscribe(setup, secret="not-the-secret")
        setup.emulator.add_order(setup.account, "111-0000000-0000009", [("CONF-1", 1, "5.00")])
        assert await setup.job("drain_notifications", connection_id=setup.connection_id)() == {
            "received": 0,
            "stored": 0,
        }
        async with app.db.tenant(setup.tenant.id) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
        assert conn is not None
        assert conn.status == "active"
        assert (conn.last_error or "").startswith("notifications: InvalidSignatureException")
