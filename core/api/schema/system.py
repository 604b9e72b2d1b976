"""Who am I, what is installed, and ``node(id:)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema import (
    analytics,
    bulk_types,
    case_types,
    catalog_types,
    channel_types,
    document_types,
    inbound,
    inventory_types,
    listing_content,
    messaging_types,
    order_types,
    purchasing,
    shipping_types,
    tracking_types,
    warehouse_systems,
    webhook_types,
)
from crossdock.api.schema.errors import scope_sentence
from crossdock.api.schema.loaders import by_id
from crossdock.api.schema.pricing import Promotion, Settlement
from crossdock.api.schema.relay import Node, decode_id
from crossdock.db import models as m
from crossdock.providers import ProviderKind
from crossdock.security import Scope

__all__ = ["Query"]

#: GraphQL type name -> (model, converter, scope needed to read it)
NODES: dict[str, tuple[type[Any], Callable[[Any], Any], str]] = {
    "Product": (m.Product, catalog_types.Product.from_row, "catalog:read"),
    "Variant": (m.Variant, catalog_types.Variant.from_row, "catalog:read"),
    "Warehouse": (m.Warehouse, inventory_types.Warehouse.from_row, "inventory:read"),
    "StockLevel": (m.StockLevel, inventory_types.StockLevel.from_row, "inventory:read"),
    "StockLedgerEntry": (m.StockLedgerEntry, inventory_types.StockLedgerEntry.from_row, "inventory:read"),
    "ChannelConnection": (m.Connection, channel_types.ChannelConnection.from_row, "channels:read"),
    "Listing": (m.Listing, channel_types.Listing.from_row, "channels:read"),
    "Order": (m.Order, order_types.Order.from_row, "orders:read"),
    "Shipment": (m.Shipment, order_types.Shipment.from_row, "orders:read"),
    "ShipmentDocument": (m.ShipmentDocument, document_types.ShipmentDocument.from_row, "orders:read"),
    "Transfer": (m.Transfer, inventory_types.Transfer.from_row, "inventory:read"),
    "Conversation": (m.Conversation, messaging_types.Conversation.from_row, "messages:read"),
    "CannedReply": (m.CannedReply, messaging_types.CannedReply.from_row, "messages:read"),
    "Promotion": (m.Promotion, Promotion.from_row, "channels:read"),
    "Settlement": (m.Settlement, Settlement.from_row, "orders:read"),
    "CarrierAccount": (m.CarrierAccount, shipping_types.CarrierAccount.from_row, "channels:read"),
    "RoutingRule": (m.RoutingRule, shipping_types.RoutingRule.from_row, "channels:read"),
    "LabelPurchase": (m.LabelPurchase, shipping_types.LabelPurchase.from_row, "orders:read"),
    "ShipmentException": (m.ShipmentException, tracking_types.ShipmentException.from_row, "orders:read"),
    "AfterSalesCase": (m.AfterSalesCase, case_types.AfterSalesCase.from_row, "orders:read"),
    "Report": (m.Report, analytics.Report.from_row, "analytics:read"),
    "WebhookEndpoint": (m.WebhookEndpoint, webhook_types.WebhookEndpoint.from_row, "webhooks:read"),
    "WebhookDelivery": (m.WebhookDelivery, webhook_types.WebhookDelivery.from_row, "webhooks:read"),
    "BulkExport": (m.BulkExport, bulk_types.BulkExport.from_row, "bulk:read"),
    "Supplier": (m.Supplier, purchasing.Supplier.from_row, "inventory:read"),
    "PurchaseOrder": (m.PurchaseOrder, purchasing.PurchaseOrder.from_row, "inventory:read"),
    "ReplenishmentPlan": (m.ReplenishmentPlanRow, purchasing.ReplenishmentPlan.from_row, "inventory:read"),
    "TransitLane": (m.TransitLane, inbound.TransitLane.from_row, "inventory:read"),
    "ListingContent": (m.ListingContent, listing_content.ListingContent.from_row, "channels:read"),
    "InboundShipment": (m.InboundShipment, inbound.InboundShipment.from_row, "inventory:read"),
    "WarehouseDelivery": (m.WarehouseInbound, inbound.WarehouseDelivery.from_row, "inventory:read"),
    "WarehouseHandover": (m.WarehouseOrder, warehouse_systems.WarehouseHandover.from_row, "inventory:read"),
    "ExceptionNoticeRule": (
        m.ExceptionNoticeRule,
        tracking_types.ExceptionNoticeRule.from_row,
        "orders:read",
    ),
}


#: Node types whose GraphQL name differs from their ID prefix.
_SHOWN = {"ChannelConnection": "Shop"}


@strawberry.type(description="A provider contributed by an installed plugin.")
class Plugin:
    name: str
    kind: ProviderKind
    version: str
    capabilities: list[str] = strawberry.field(
        description="The operations it offers (the values of MarketplaceCapability, "
        "PaymentCapability or TaxCapability, by its kind)."
    )
    plugin: str
    display_name: str


@strawberry.type(description="The caller: its tenant and the scopes of its API key.")
class Viewer:
    tenant_slug: str
    scopes: list[Scope]


@strawberry.type
class Query:
    @strawberry.field(description="Who is calling. " + scope_sentence(None))
    def viewer(self, info: Info[Any, Any]) -> Viewer:
        p = state(info).principal
        return Viewer(tenant_slug=p.tenant_slug, scopes=[Scope(s) for s in sorted(p.scopes)])

    @strawberry.field(description="Providers contributed by the installed plugins. " + scope_sentence(None))
    def plugins(self, info: Info[Any, Any], kind: ProviderKind | None = None) -> list[Plugin]:
        infos = state(info).app.plugins.infos
        return [
            Plugin(
                name=i.name,
                kind=i.kind,
                version=i.version,
                capabilities=list(i.capabilities),
                plugin=i.plugin,
                display_name=i.display_name,
            )
            for i in infos
            if kind is None or i.kind == kind
        ]

    @strawberry.field(
        description="Any object by its global ID; null if it does not exist here. Requires the "
        "read scope of the object's type: "
        + ", ".join(sorted({f"{_SHOWN.get(name, name)} `{scope}`" for name, (_, _, scope) in NODES.items()}))
        + " (or `admin`)."
    )
    async def node(self, info: Info[Any, Any], id: strawberry.ID) -> Node | None:
        type_name, pk = decode_id(id, list(NODES))
        model, convert, scope = NODES[type_name]
        st = state(info)
        st.require(scope)
        row = await by_id(st, model).load(pk)
        return convert(row) if row is not None else None
