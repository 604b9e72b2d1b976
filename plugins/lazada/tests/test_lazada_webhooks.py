"""Lazada pushes reach Crossdock at /webhooks/lazada/{key}: verified, stored, processed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.marketplace import LazadaMarketplace
from crossdock_lazada.signing import push_signature

from crossdock import ChannelConnection, ChannelError
from crossdock.testing.conformance import WebhookConformance
from crossdock.testing.emulator import Faults

ACCOUNT = {"app_key": "100001", "app_secret": "s3cret", "seller_id": 42, "access_token": "t"}


def _conn() -> ChannelConnection:
    return ChannelConnection(
        id=1, tenant="t", channel="lazada", site="SG", currency="SGD", credentials=ACCOUNT
    )


def _push(payload: dict[str, Any], secret: str = "s3cret") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Authorization": push_signature("100001", secret, body)}


def test_trade_order_pushes_name_their_order() -> None:
    provider = LazadaMarketplace()
    order_push = {
        "seller_id": "42",
        "message_type": 0,
        "data": {"order_status": "pending", "trade_order_id": "260422900198363", "status_update_time": 1},
        "timestamp": 1,
        "site": "lazada_sg",
    }
    body, headers = _push(order_push)
    assert provider.parse_webhook(_conn(), headers, body) == [
        {"type": "order", "external_id": "260422900198363"}
    ]
    # header names are case-insensitive; other message types are acknowledged and ignored
    body, headers = _push({**order_push, "message_type": 3})
    assert provider.parse_webhook(_conn(), {"authorization": headers["Authorization"]}, body) == []
    body, headers = _push({**order_push, "seller_id": "43"})  # another seller of the same app
    assert provider.parse_webhook(_conn(), headers, body) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "0" * 64}, {"Authorization": "not hex at all é"}],
)
def test_a_push_that_does_not_verify_is_refused(headers: dict[str, str]) -> None:
    body = b'{"message_type":0,"data":{"trade_order_id":"1"}}'
    with pytest.raises(ChannelError) as excinfo:
        LazadaMarketplace().parse_webhook(_conn(), headers, body)
    assert excinfo.value.code == "SIGNATURE"


def test_a_push_signed_with_another_secret_is_refused() -> None:
    body, headers = _push({"message_type": 0, "data": {"trade_order_id": "1"}}, secret="other")
    with pytest.raises(ChannelError, match="signature"):
        LazadaMarketplace().parse_webhook(_conn(), headers, body)


class TestLazadaWebhooks(WebhookConformance):
    """Verified, stored once, processed once: the kit's webhook conformance suite."""

    channel = "lazada"
    site = "SG"

    def make_emulator(self, faults: Faults) -> LazadaSellerEmulator:
        return LazadaSellerEmulator(faults)
