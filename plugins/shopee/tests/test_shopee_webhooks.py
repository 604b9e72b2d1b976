"""Shopee pushes reach Crossdock at /webhooks/shopee/{key}: verified (HMAC of the callback
URL and the body with the partner key), stored once, processed once: the kit's webhook
conformance suite; and the ones Crossdock missed come back from the lost-push list: its
notification conformance suite."""

from __future__ import annotations

from crossdock_shopee.emulator import ShopeeSellerEmulator

from crossdock.testing.conformance import NotificationConformance, WebhookConformance
from crossdock.testing.emulator import Faults


class TestShopeeWebhooks(WebhookConformance):
    channel = "shopee"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)


class TestShopeeLostPushes(NotificationConformance):
    """Shopee's lost-push list read as the connection's notification queue."""

    channel = "shopee"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)
