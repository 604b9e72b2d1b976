"""The warehouse-system conformance suite against the ShipBob emulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock_wms_shipbob.emulator import DEFAULT_FULFILLMENT_CENTER, ShipBobEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.warehouses import WarehouseConformance


class TestShipBobConformance(WarehouseConformance):
    warehouse = "shipbob"
    plugins_allowed: Sequence[str] | None = ["wms_shipbob"]
    settings: Mapping[str, Any] = {"timeout": 2.0, "fulfillment_center_id": DEFAULT_FULFILLMENT_CENTER}
    #: three pages of ShipBob's largest (250)
    many_skus = 520

    def make_emulator(self, faults: Faults) -> Any:
        return ShipBobEmulator(faults)
