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
