"""All models, one module per domain; importing this registers them on ``Base.metadata``."""

from __future__ import annotations

from crossdock.db.models.catalog import Product, ProductStatus, Variant
from crossdock.db.models.channels import Connection, ConnectionStatus, Listing
from crossdock.db.models.inventory import (
    StockLedgerEntry,
    StockLevel,
    StockReason,
    Warehouse,
    WarehouseKind,
)
from crossdock.db.models.orders import (
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    Shipment,
)
from crossdock.db.models.tenancy import ApiKey, Organization, Tenant, api_key_tenants

__all__ = [
    "ApiKey",
    "Connection",
    "ConnectionStatus",
    "Listing",
    "Order",
    "OrderHold",
    "OrderLine",
    "OrderStatus",
    "OrderStatusChange",
    "Organization",
    "Product",
    "ProductStatus",
    "Shipment",
    "StockLedgerEntry",
    "StockLevel",
    "StockReason",
    "Tenant",
    "Variant",
    "Warehouse",
    "WarehouseKind",
    "api_key_tenants",
]
