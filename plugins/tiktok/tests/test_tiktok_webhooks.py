"""TikTok Shop pushes reach Crossdock at /webhooks/tiktok/{key}: verified (HMAC of app_key
+ body), stored, processed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from crossdock_tiktok.emulator import TikTokShopSellerEmulator
from crossdock_tiktok.marketplace import TikTokShopMarketplace
from crossdock_tiktok.signing import push_signature

from crossdock import ChannelConnection, ChannelError
from crossdock.testing.conformance import WebhookConformance
from crossdock.testing.emulator import Faults


def _conn(creds: dict[str, Any]) -> ChannelConnection:
    return ChannelConnection(id=1, tenant="t", channel="tiktok", site="US", currency="USD", credentials=creds)


def test_parse_webhook_verifies_and_names_the_order() -> None:
    emu = TikTokShopSellerEmulator()
    creds = emu.open_account("US")
    emu.add_order(creds, "576461413038785752", [("SKU", 1, "1.00")], status="CANCELLED")
    headers, body = emu.notification("576461413038785752")
    assert json.loads(body)["data"]["order_status"] == "CANCEL"  # pushes say CANCEL
    provider = TikTokShopMarketplace()
    push = provider.parse_webhook(_conn(creds), {"authorization": headers["Authorization"]}, body)
    assert push.references == [{"type": "order", "external_id": "576461413038785752"}]
    assert push.event_id == json.loads(body)["tts_notification_id"]  # replays are known by it
    for forged in ({"Authorization": "0" * 64}, {}, {"Authorization": headers["Authorization"] + "0"}):
        with pytest.raises(ChannelError) as excinfo:
            provider.parse_webhook(_conn(creds), forged, body)
        assert excinfo.value.code == "SIGNATURE"
    with pytest.raises(ChannelError) as excinfo:
        provider.parse_webhook(_conn({**creds, "app_secret": "other"}), headers, body)
    assert excinfo.value.code == "SIGNATURE"
    deauthorized = json.dumps(
        {"type": 6, "shop_id": "1", "timestamp": 1, "data": {"message": "bye"}}
    ).encode()
    signed = {"Authorization": push_signature(creds["app_secret"], creds["app_key"], deauthorized)}
    assert provider.parse_webhook(_conn(creds), signed, deauthorized).references == []


class TestTikTokWebhooks(WebhookConformance):
    """Verified, stored once, processed once: the kit's webhook conformance suite."""

    channel = "tiktok"
    site = "US"

    def make_emulator(self, faults: Faults) -> TikTokShopSellerEmulator:
        return TikTokShopSellerEmulator(faults)
