"""Shopee passes the listings conformance suite against its emulator (categories, rules,
a local preview, publish and update in place, refusals, read back, unlist). Shopee's Open
API shows no other sellers' offers, so ``competitors.read`` is not declared and the
suite's competitors test is skipped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock_shopee.emulator import INTEGRATED, ShopeeSellerEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.listings import ListingsConformance


class TestShopeeListingsConformance(ListingsConformance):
    channel = "shopee"
    site = "SG"
    #: add_item needs the shop's logistics channels and the item's weight
    settings: Mapping[str, Any] = {
        "timeout": 2.0,
        "logistics_channel_ids": [INTEGRATED],
        "item_weight_kg": 0.45,
    }

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)
