"""Entry point of the amazon plugin: registers its marketplace provider, Amazon's own
logistics (Buy Shipping) as a carrier, FBA inventory as a warehouse system, and the
emulator."""

from __future__ import annotations

from crossdock import CarrierProvider, MarketplaceProvider, WarehouseSystem, hookimpl
from crossdock_amazon.fba_inventory import AmazonFbaInventory
from crossdock_amazon.logistics import AmazonShipping
from crossdock_amazon.marketplace import AmazonMarketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [AmazonMarketplace()]


@hookimpl
def crossdock_carriers() -> list[CarrierProvider]:
    return [AmazonShipping()]


@hookimpl
def crossdock_warehouses() -> list[WarehouseSystem]:
    return [AmazonFbaInventory()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_amazon.emulator import AmazonEmulator

    return [AmazonEmulator]
