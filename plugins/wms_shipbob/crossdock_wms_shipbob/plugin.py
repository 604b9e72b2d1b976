"""Entry point of the wms_shipbob plugin: registers ShipBob as a warehouse system and its emulator."""

from __future__ import annotations

from crossdock import WarehouseSystem, hookimpl
from crossdock_wms_shipbob.warehouse import ShipBobWarehouse


@hookimpl
def crossdock_warehouses() -> list[WarehouseSystem]:
    return [ShipBobWarehouse()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_wms_shipbob.emulator import ShipBobEmulator

    return [ShipBobEmulator]
