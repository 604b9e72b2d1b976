"""The closed sets of the API as GraphQL enums.

The Python enums (in the models, the provider contract, :mod:`crossdock.security` and
:mod:`crossdock.errors`) are the single source: each is exposed here under its GraphQL
name, with UPPER_CASE values (the member names); the database keeps storing the values.
A value the schema does not know is a validation error before any resolver runs.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

import strawberry

from crossdock import errors
from crossdock.db import models as m
from crossdock.providers import (
    AdLevel,
    AdState,
    AdType,
    CancelReason,
    CarrierCapability,
    CaseAction,
    CaseKind,
    CaseStatus,
    DocumentFormat,
    DocumentKind,
    HoldReason,
    Incoterm,
    ItemFlag,
    ListingIssueReason,
    MarketplaceCapability,
    PaymentCapability,
    ProviderKind,
    ServiceLevel,
    SettlementKind,
    SettlementStatus,
    TaxCapability,
    TaxCollector,
    TaxScheme,
    TrackingReason,
    TrackingStatus,
)
from crossdock.security import Scope
from crossdock.services.analytics_read import AdDimension, Dimension, Interval, SeriesMetric
from crossdock.services.events import EventType
from crossdock.services.replenishment import Reason as ReplenishmentReason

__all__ = ["ENUMS", "ERROR_CODE_ENUMS", "member", "optional_member"]

E = TypeVar("E", bound=Enum)


def _expose(enum: type[E], name: str | None = None, description: str | None = None) -> type[E]:
    doc = description or (enum.__doc__ or "").strip() or None
    strawberry.enum(enum, name=name or enum.__name__, description=doc)
    return enum


#: Python enum -> the GraphQL enum it is exposed as.
ENUMS: dict[type[Enum], str] = {}


def _register(enum: type[E], name: str | None = None, description: str | None = None) -> type[E]:
    _expose(enum, name, description)
    ENUMS[enum] = name or enum.__name__
    return enum


_register(m.ProductStatus)
_register(m.WarehouseKind, description="Who holds a warehouse's stock.")
_register(m.StockReason, "StockLedgerReason", "Why a ledger row changed a stock level.")
_register(m.TransferStatus)
_register(m.ConnectionStatus)
_register(m.ListingStatus)
_register(m.ListingPushStatus)
_register(m.ListingOperation)
_register(m.OrderStatus)
_register(m.AllocationStatus)
_register(m.ShipmentStatus)
_register(DocumentKind, description="What a shipping document is.")
_register(DocumentFormat, description="The file format of a shipping document.")
_register(HoldReason)
_register(ListingIssueReason)
_register(m.SlaFlag)
_register(m.ReturnCondition)
_register(m.RefundStatus)
_register(TrackingStatus)
_register(TrackingReason)
_register(m.ExceptionKind)
_register(m.ConversationStatus)
_register(m.MessageDirection)
_register(m.MessageDelivery)
_register(m.PromotionKind)
_register(m.PromotionState)
_register(m.ReconciliationStatus)
_register(m.RepriceMode)
_register(SettlementStatus)
_register(SettlementKind, "PayoutLineKind", "What a line of a payout is.")
_register(TaxScheme)
_register(TaxCollector)
_register(ProviderKind)
_register(MarketplaceCapability)
_register(PaymentCapability)
_register(TaxCapability)
_register(CarrierCapability)
_register(Incoterm)
_register(ServiceLevel)
_register(ItemFlag)
_register(m.RateStrategy)
_register(m.LabelStatus)
_register(m.CarrierAccountStatus)
_register(CancelReason)
_register(CaseKind)
_register(CaseStatus)
_register(CaseAction)
_register(m.ResponseStatus, "CaseResponseStatus")
_register(m.ChannelCancel, "ChannelCancelOutcome")
_register(Scope)
_register(m.AuditActorKind)
_register(m.AuditOutcome)
_register(AdType)
_register(AdState)
_register(AdLevel)
_register(m.ReportKind, description="How long a period an operations report covers.")
_register(m.CostMethod, description="How the cost of a unit sold is found from the stock received.")
_register(Dimension, "ProfitDimension", "What profit figures can be cut by.")
_register(AdDimension, "AdDimension", "What advertising figures can be cut by.")
_register(Interval, "AnalyticsInterval", "The period of one point of a series.")
_register(SeriesMetric, "SeriesMetric", "A figure a chart series can follow.")
_register(EventType, description="A type of event in the outbox (what a webhook endpoint subscribes to).")
_register(m.WebhookEndpointStatus)
_register(m.WebhookDeliveryStatus)
_register(m.WebhookAttemptResult)
_register(m.BulkExportKind)
_register(m.BulkExportStatus)
_register(m.BulkExportErrorCode)
_register(m.UsageMetric)
_register(m.LoginMethod)
_register(m.LoginOutcome)
_register(m.PurchaseOrderStatus)
_register(m.WarehouseAccountStatus)
_register(m.InboundShipmentStatus)
_register(m.FieldStatus, "ContentFieldStatus", "Who stands behind a field of listing content.")
_register(m.PublishStatus, "ListingPublishStatus", "Where listing content is with its channel.")
_register(m.HandoverStatus, "WarehouseHandoverStatus", "Where an order handed to a warehouse system is.")
_register(m.InboundStatus, "WarehouseDeliveryStatus", "Where a delivery announced to a warehouse system is.")
_register(
    m.DemandClass,
    description="How a variant's demand behaves (Syntetos-Boylan), which picks its forecasting model.",
)
_register(ReplenishmentReason, "ReplenishmentReason", "Why a replenishment plan says what it says.")
_register(errors.ErrorCode)

#: Domain -> its input-error code enum (see :mod:`crossdock.errors`).
ERROR_CODE_ENUMS: dict[str, type[Enum]] = {
    "Catalog": errors.CatalogErrorCode,
    "Inventory": errors.InventoryErrorCode,
    "Channel": errors.ChannelErrorCode,
    "Order": errors.OrderErrorCode,
    "Pricing": errors.PricingErrorCode,
    "Messaging": errors.MessagingErrorCode,
    "Account": errors.AccountErrorCode,
    "Shipping": errors.ShippingErrorCode,
    "Tracking": errors.TrackingErrorCode,
    "Case": errors.CaseErrorCode,
    "Analytics": errors.AnalyticsErrorCode,
    "Webhook": errors.WebhookErrorCode,
    "Bulk": errors.BulkErrorCode,
}
for _domain, _enum in ERROR_CODE_ENUMS.items():
    _register(_enum)
    # each code's meaning (crossdock.errors) becomes its value's description in the schema
    _meanings = {**errors.COMMON_CODES, **errors.DOMAIN_CODES[_domain]}
    for _value in _enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        _value.description = _meanings[_value.name]


def member(enum: type[E], value: Any) -> E:
    """The member a stored value is (the database keeps the value strings)."""
    return enum(value)


def optional_member(enum: type[E], value: Any) -> E | None:
    return None if value is None else enum(value)
