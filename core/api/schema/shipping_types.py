"""Object types of the shipping domain: carrier accounts, routing rules, rates, routing
decisions, label purchases and packages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON

from crossdock.api.schema.common import Money
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.providers import ItemFlag, Rate, ServiceLevel
from crossdock.services.shipping import Decision

__all__ = [
    "CarrierAccount",
    "LabelPurchase",
    "RateQuote",
    "RejectedOption",
    "RoutingDecision",
    "RoutingRule",
    "RoutingService",
    "ShipmentPackage",
]


@strawberry.type(description="A tenant's account with a carrier, or a shop's marketplace logistics.")
class CarrierAccount(Node):
    carrier: str
    name: str
    status: m.CarrierAccountStatus
    base_url: str | None
    settings: JSON = strawberry.field(description="Account settings; `services` is its contract rate card.")
    connection_id: strawberry.ID | None = strawberry.field(
        description="For a marketplace's own logistics: the shop it ships for."
    )
    tracking_push_path: str | None = strawberry.field(
        description="Where the carrier posts tracking updates (relative to the server's URL)."
    )
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.CarrierAccount) -> CarrierAccount:
        return cls(
            id=encode_id("CarrierAccount", row.id),
            carrier=row.carrier,
            name=row.name,
            status=m.CarrierAccountStatus(row.status),
            base_url=row.base_url,
            settings=JSON(row.settings or {}),
            connection_id=encode_id("ChannelConnection", row.connection_id) if row.connection_id else None,
            tracking_push_path=f"/webhooks/carriers/{row.carrier}/{row.webhook_key}"
            if row.webhook_key
            else None,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            created_at=row.created_at,
        )


@strawberry.type(
    description="One service a routing rule allows: an account and a service code (any when null)."
)
class RoutingService:
    carrier_account_id: strawberry.ID
    service: str | None


@strawberry.type(description="Which carriers and services may ship what; lower priority is tried first.")
class RoutingRule(Node):
    name: str
    priority: int
    active: bool
    strategy: m.RateStrategy
    conditions: JSON
    services: list[RoutingService]

    @classmethod
    def from_row(cls, row: m.RoutingRule) -> RoutingRule:
        return cls(
            id=encode_id("RoutingRule", row.id),
            name=row.name,
            priority=row.priority,
            active=row.active,
            strategy=m.RateStrategy(row.strategy),
            conditions=JSON(row.conditions or {}),
            services=[
                RoutingService(
                    carrier_account_id=encode_id("CarrierAccount", s["account_id"]), service=s.get("service")
                )
                for s in row.services or ()
            ],
        )


@strawberry.type(description="A service a carrier offers for the shipment, at its price.")
class RateQuote:
    carrier_account_id: strawberry.ID
    carrier_account_name: str
    carrier: str
    service: str
    service_name: str
    price: Money
    transit_days: int | None
    estimated_delivery: date | None
    service_level: ServiceLevel | None
    cannot_carry: list[ItemFlag]
    messages: list[str]

    @classmethod
    def of(cls, account_id: int, account_name: str, rate: Rate) -> RateQuote:
        return cls(
            carrier_account_id=encode_id("CarrierAccount", account_id),
            carrier_account_name=account_name,
            carrier=rate.carrier,
            service=rate.service,
            service_name=rate.service_name,
            price=Money.exact(rate.price.amount, rate.price.currency),
            transit_days=rate.transit_days,
            estimated_delivery=rate.estimated_delivery,
            service_level=rate.service_level,
            cannot_carry=sorted(rate.cannot_carry),
            messages=list(rate.messages),
        )


@strawberry.type(description="An option routing did not choose, and why.")
class RejectedOption:
    carrier_account_id: strawberry.ID | None
    carrier: str | None
    service: str | None
    reason: str


@strawberry.type(description="What routing chose for a shipment, among what, and what it rejected.")
class RoutingDecision:
    rule_id: strawberry.ID | None
    rule: str
    strategy: m.RateStrategy
    note: str | None
    chosen: RateQuote | None
    candidates: list[RateQuote]
    rejected: list[RejectedOption]

    @classmethod
    def of(cls, decision: Decision) -> RoutingDecision:
        return cls(
            rule_id=encode_id("RoutingRule", decision.rule_id) if decision.rule_id else None,
            rule=decision.rule_name,
            strategy=decision.strategy,
            note=decision.note or None,
            chosen=(
                RateQuote.of(decision.chosen.account_id, decision.chosen.account_name, decision.chosen.rate)
                if decision.chosen
                else None
            ),
            candidates=[RateQuote.of(c.account_id, c.account_name, c.rate) for c in decision.candidates],
            rejected=[
                RejectedOption(
                    carrier_account_id=encode_id("CarrierAccount", r.account_id) if r.account_id else None,
                    carrier=r.carrier or None,
                    service=r.service,
                    reason=r.reason,
                )
                for r in decision.rejected
            ],
        )

    @classmethod
    def stored(cls, data: dict[str, Any]) -> RoutingDecision | None:
        """The decision as kept on a purchase."""
        if not data:
            return None

        def quote(c: dict[str, Any]) -> RateQuote:
            return RateQuote(
                carrier_account_id=encode_id("CarrierAccount", c["account_id"]),
                carrier_account_name=c.get("account", ""),
                carrier=c["carrier"],
                service=c["service"],
                service_name=c.get("service_name") or c["service"],
                price=Money.exact(Decimal(c["price"]), c["currency"]),
                transit_days=c.get("transit_days"),
                estimated_delivery=date.fromisoformat(c["estimated_delivery"])
                if c.get("estimated_delivery")
                else None,
                service_level=None,
                cannot_carry=[],
                messages=[],
            )

        return cls(
            rule_id=encode_id("RoutingRule", data["rule_id"]) if data.get("rule_id") else None,
            rule=data.get("rule", ""),
            strategy=m.RateStrategy(data.get("strategy", m.RateStrategy.PRIORITY)),
            note=data.get("note") or None,
            chosen=quote(data["chosen"]) if data.get("chosen") else None,
            candidates=[quote(c) for c in data.get("candidates") or ()],
            rejected=[
                RejectedOption(
                    carrier_account_id=encode_id("CarrierAccount", r["account_id"])
                    if r.get("account_id")
                    else None,
                    carrier=r.get("carrier") or None,
                    service=r.get("service"),
                    reason=r["reason"],
                )
                for r in data.get("rejected") or ()
            ],
        )


@strawberry.type(description="A label bought (or being bought) for a shipment.")
class LabelPurchase(Node):
    status: m.LabelStatus
    carrier: str
    service: str
    reference: str = strawberry.field(
        description="What the carrier was given to recognise a retried purchase."
    )
    carrier_shipment_id: str | None
    tracking_numbers: list[str]
    cost: Money | None
    estimated_delivery: date | None
    channel_confirmed: bool = strawberry.field(
        description="Buying it told the marketplace (its own logistics)."
    )
    error: str | None
    attempts: int
    decision: RoutingDecision | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.LabelPurchase) -> LabelPurchase:
        return cls(
            id=encode_id("LabelPurchase", row.id),
            status=m.LabelStatus(row.status),
            carrier=row.carrier,
            service=row.service,
            reference=row.reference,
            carrier_shipment_id=row.carrier_shipment_id,
            tracking_numbers=list(row.tracking_numbers or ()),
            cost=Money.of(row.cost_amount, row.cost_currency),
            estimated_delivery=row.estimated_delivery,
            channel_confirmed=row.channel_confirmed,
            error=row.error,
            attempts=row.attempts,
            decision=RoutingDecision.stored(dict(row.decision or {})),
            created_at=row.created_at,
        )


@strawberry.type(description="One box of a shipment.")
class ShipmentPackage:
    position: int
    weight_grams: int
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    tracking_number: str | None

    @classmethod
    def from_row(cls, row: m.ShipmentPackage) -> ShipmentPackage:
        return cls(
            position=row.position,
            weight_grams=row.weight_grams,
            length_mm=row.length_mm,
            width_mm=row.width_mm,
            height_mm=row.height_mm,
            tracking_number=row.tracking_number,
        )
