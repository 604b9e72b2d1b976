"""All models, one module per domain; importing this registers them on ``Base.metadata``."""

from __future__ import annotations

from crossdock.db.models.catalog import Product, ProductStatus, Variant
from crossdock.db.models.channels import (
    Connection,
    ConnectionStatus,
    ConnectionWarehouse,
    Listing,
    WebhookEvent,
)
from crossdock.db.models.inventory import (
    StockLedgerEntry,
    StockLevel,
    StockReason,
    Transfer,
    TransferStatus,
    Warehouse,
    WarehouseKind,
)
from crossdock.db.models.messaging import (
    CannedReply,
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
)
from crossdock.db.models.orders import (
    Allocation,
    AllocationStatus,
    Event,
    Order,
    OrderHold,
    OrderLine,
    OrderReturn,
    OrderStatus,
    OrderStatusChange,
    Refund,
    Shipment,
)
from crossdock.db.models.pricing import (
    CompetitorPrice,
    FxRate,
    PriceRule,
    Promotion,
    PromotionKind,
    Settlement,
    SettlementLine,
    TaxTally,
)
from crossdock.db.models.tenancy import ApiKey, Organization, Tenant, api_key_tenants

__all__ = [
    "Allocation",
    "AllocationStatus",
    "ApiKey",
    "CannedReply",
    "CompetitorPrice",
    "Connection",
    "ConnectionStatus",
    "ConnectionWarehouse",
    "Conversation",
    "ConversationStatus",
    "Event",
    "FxRate",
    "Listing",
    "Message",
    "MessageDirection",
    "Order",
    "OrderHold",
    "OrderLine",
    "OrderReturn",
    "OrderStatus",
    "OrderStatusChange",
    "Organization",
    "PriceRule",
    "Product",
    "ProductStatus",
    "Promotion",
    "PromotionKind",
    "Refund",
    "Settlement",
    "SettlementLine",
    "Shipment",
    "StockLedgerEntry",
    "StockLevel",
    "StockReason",
    "TaxTally",
    "Tenant",
    "Transfer",
    "TransferStatus",
    "Variant",
    "Warehouse",
    "WarehouseKind",
    "WebhookEvent",
    "api_key_tenants",
]
