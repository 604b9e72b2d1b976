"""SP-API notifications read from the seller's SQS queue: SigV4 as AWS specifies it, each
ORDER_CHANGE turned into the order's current state once, through faults and redeliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import botocore.auth  # type: ignore[import-untyped]
import pytest
from crossdock_amazon.emulator import AmazonEmulator
from crossdock_amazon.marketplace import order_references
from crossdock_amazon.sqs import sign

from crossdock.testing.conformance import NotificationConformance
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


class TestAmazonNotifications(NotificationConformance):
    """ORDER_CHANGE notifications from the seller's SQS queue: each once, through faults;
    a crash before the delete means a redelivery, not a duplicate; a wrong secret is
    reported on the connection. The kit's notification conformance suite."""

    channel = "amazon"
    site = "US"

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)


async def test_a_wrong_secret_names_what_sqs_said(app: Any, tenant_factory: Any) -> None:
    suite = TestAmazonNotifications()
    async with suite.connected(app, tenant_factory) as setup:
        await suite._subscribe(setup, valid=False)
        assert await setup.run_for_connection("drain_notifications") == {"received": 0, "stored": 0}
        assert ((await setup.connection()).last_error or "").startswith(
            "notifications: InvalidSignatureException"
        )


async def test_the_subscription_is_set_up_from_the_connection_once() -> None:
    """A connection naming a queue its seller is not subscribed to: nothing arrives; the
    plugin's first read makes the destination (grantless) and the ORDER_CHANGE
    subscription (the seller's token), and a second source, a second process, makes none."""
    import httpx
    from crossdock_amazon.marketplace import AmazonMarketplace

    from crossdock import ChannelConnection
    from crossdock.testing import emulator_http
    from crossdock.testing.emulator import serve

    emulator = AmazonEmulator()
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        queue = emulator.queue("crossdock-orders")

        def connection() -> ChannelConnection:
            return ChannelConnection(
                id=3,
                tenant="t",
                channel="amazon",
                site="US",
                currency="USD",
                credentials={**account, **{k: v for k, v in queue.items() if k.startswith("aws_")}},
                settings={"notifications_queue_url": queue["queue_url"], "sqs_endpoint": base_url},
                base_url=base_url,
                http=emulator_http(),
            )

        emulator.add_order(account, "111-0000006-0000001", [("SKU-1", 1, "5.00")])
        assert emulator.pending_notifications() == 0  # no subscription: SQS gets nothing
        source = AmazonMarketplace().notification_source(connection())
        assert source is not None
        assert await source.receive(10) == []
        assert emulator.subscribed(account)
        subscription = emulator.notifications.book.subscriptions[(account["seller_id"], "ORDER_CHANGE")]
        assert subscription["payloadVersion"] == "1.0"
        assert subscription["processingDirective"]["eventFilter"]["eventFilterType"] == "ORDER_CHANGE"
        emulator.add_order(account, "111-0000006-0000002", [("SKU-1", 1, "5.00")])
        (note,) = await source.receive(10)
        assert note.references == [{"type": "order", "external_id": "111-0000006-0000002"}]
        again = AmazonMarketplace().notification_source(connection())  # another process
        assert again is not None
        await again.receive(10)
        assert emulator.notifications.book.created == {"createDestination": 1, "createSubscription": 1}

        # the emulator refuses what Amazon refuses on these endpoints
        grantless = emulator.tokens
        app_token = next(t for t, g in grantless.items() if g.seller is None)
        seller_token = emulator.issue_token(account)["access_token"]
        async with httpx.AsyncClient(base_url=base_url) as http:

            async def call(method: str, path: str, token: str, body: Any = None) -> httpx.Response:
                return await http.request(method, path, json=body, headers={"x-amz-access-token": token})

            # a grantless token opens no seller's data, a seller's token no destination
            assert (
                await call("GET", "/orders/2026-01-01/orders/111-0000006-0000001", app_token)
            ).status_code == 403
            assert (await call("GET", "/notifications/v1/destinations", seller_token)).status_code == 403
            arn = {"name": "x", "resourceSpecification": {"sqs": {"arn": queue["queue_arn"]}}}
            assert (await call("POST", "/notifications/v1/destinations", app_token, arn)).status_code == 409
            bad_arn = {"name": "x", "resourceSpecification": {"sqs": {"arn": "queue-1"}}}
            refused = await call("POST", "/notifications/v1/destinations", app_token, bad_arn)
            assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "InvalidInput"
            no_name = await call(
                "POST", "/notifications/v1/destinations", app_token, {"resourceSpecification": {}}
            )
            assert no_name.status_code == 400
            twice = {"payloadVersion": "1.0", "destinationId": subscription["destinationId"]}
            path = "/notifications/v1/subscriptions/ORDER_CHANGE"
            assert (await call("POST", path, seller_token, twice)).status_code == 409
            wrong = {
                **twice,
                "processingDirective": {"eventFilter": {"eventFilterType": "ANY_OFFER_CHANGED"}},
            }
            assert (await call("POST", path, seller_token, wrong)).status_code == 400
            assert (await call("POST", path, seller_token, {"destinationId": "d"})).status_code == 400
            assert (
                await call("POST", path, seller_token, {**twice, "destinationId": "nope"})
            ).status_code == 404
            other = emulator.issue_token(emulator.open_account("US"))["access_token"]
            assert (await call("GET", path, other)).status_code == 404  # not subscribed
