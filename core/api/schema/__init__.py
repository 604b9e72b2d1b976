"""The GraphQL schema, assembled from one module per domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from crossdock.api.cost import QueryCost
from crossdock.api.documents import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, DocumentCache
from crossdock.api.schema import (
    access,
    analytics,
    audit,
    bulk,
    cases,
    catalog,
    channels,
    events,
    identity,
    inbound,
    inventory,
    listing_content,
    messaging,
    orders,
    pricing,
    purchasing,
    shipment_documents,
    shipping,
    system,
    tenant_settings,
    tracking,
    usage,
    users,
    warehouse_systems,
    webhooks,
)
from crossdock.api.schema.errors import ErrorCodes, describe_scopes
from crossdock.api.schema.scalars import SCALAR_OVERRIDES, InputChecks

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "SCHEMA_FILE", "build_schema", "schema"]

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schema.graphql"

Query = merge_types(
    "Query",
    (
        system.Query,
        catalog.Query,
        inventory.Query,
        inventory.TransferQuery,
        purchasing.Query,
        purchasing.PlanningQuery,
        inbound.Query,
        warehouse_systems.Query,
        channels.Query,
        channels.ListingQuery,
        listing_content.Query,
        orders.Query,
        orders.SlaQuery,
        shipment_documents.Query,
        messaging.Query,
        tracking.Query,
        cases.Query,
        analytics.Query,
        analytics.AgencyQuery,
        pricing.Query,
        shipping.Query,
        events.Query,
        tenant_settings.Query,
        access.Query,
        webhooks.Query,
        audit.Query,
        bulk.Query,
        usage.Query,
        users.Query,
        identity.Query,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        catalog.Mutation,
        inventory.Mutation,
        inventory.StockMutation,
        purchasing.Mutation,
        purchasing.PlanningMutation,
        inbound.Mutation,
        warehouse_systems.Mutation,
        channels.Mutation,
        channels.ListingMutation,
        listing_content.Mutation,
        channels.BackfillMutation,
        orders.Mutation,
        messaging.Mutation,
        tracking.Mutation,
        cases.Mutation,
        analytics.Mutation,
        pricing.Mutation,
        shipping.Mutation,
        tenant_settings.Mutation,
        access.Mutation,
        webhooks.Mutation,
        bulk.Mutation,
        users.Mutation,
        identity.Mutation,
    ),
)
Subscription = events.Subscription
describe_scopes(Query, Mutation, Subscription)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Errors are coded and the unexpected ones logged by ``ErrorCodes``; no double log."""


def build_schema() -> strawberry.Schema:
    from crossdock.api.schema import (
        bulk_types,
        case_types,
        catalog_types,
        channel_types,
        document_types,
        inventory_types,
        messaging_types,
        order_types,
        shipping_types,
        tracking_types,
        webhook_types,
    )

    extensions: list[Any] = [
        DocumentCache,  # the depth, alias and token limits, and parsed documents kept
        InputChecks,  # no NUL in a string literal (checked once per document); no subscription over HTTP
        QueryCost,
        ErrorCodes,
    ]
    node_types = [
        catalog_types.Product,
        catalog_types.Variant,
        inventory_types.Warehouse,
        inventory_types.StockLevel,
        inventory_types.StockLedgerEntry,
        channel_types.ChannelConnection,
        channel_types.Listing,
        order_types.Order,
        order_types.Shipment,
        document_types.ShipmentDocument,
        inventory_types.Transfer,
        messaging_types.Conversation,
        messaging_types.CannedReply,
        tracking_types.ShipmentException,
        tracking_types.ExceptionNoticeRule,
        case_types.AfterSalesCase,
        pricing.Promotion,
        pricing.Settlement,
        shipping_types.CarrierAccount,
        shipping_types.RoutingRule,
        shipping_types.LabelPurchase,
        webhook_types.WebhookEndpoint,
        webhook_types.WebhookDelivery,
        bulk_types.BulkExport,
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=node_types,
        extensions=extensions,
        scalar_overrides=SCALAR_OVERRIDES,  # strict DateTime, Date, Decimal and JSON (object)
    )


schema = build_schema()
