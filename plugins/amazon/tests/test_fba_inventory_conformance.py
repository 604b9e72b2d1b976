"""Amazon FBA inventory (``amazon_fba``) passes the warehouse-system conformance suite
against the FBA Inventory emulator: stock only, so the ASN, receipt and order tests skip."""

from __future__ import annotations

from crossdock_amazon.fba_inventory_emulator import FbaInventoryEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.warehouses import WarehouseConformance


class TestAmazonFbaConformance(WarehouseConformance):
    warehouse = "amazon_fba"
    plugins_allowed = ["amazon"]
    # the marketplace is a setting (not a secret); the emulator's sellers sell in Amazon.com
    settings = {"timeout": 2.0, "marketplace_id": "ATVPDKIKX0DER"}

    def make_emulator(self, faults: Faults) -> FbaInventoryEmulator:
        return FbaInventoryEmulator(faults)
