"""Shipping: carrier accounts, routing rules, rates for a shipment, and its label (bought,
shown, voided); the carrier data of variants and the ship-from address of warehouses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.common import JSON
from crossdock.api.schema.errors import (
    IDEMPOTENCY,
    ShippingUserError,
    audited,
    in_transaction,
    refuse,
    requires,
)
from crossdock.api.schema.inventory_types import Warehouse
from crossdock.api.schema.order_types import Shipment
from crossdock.api.schema.relay import resolve_id
from crossdock.api.schema.shipping_types import CarrierAccount, LabelPurchase, RoutingDecision, RoutingRule
from crossdock.db import models as m
from crossdock.errors import UserError
from crossdock.jobs import labels
from crossdock.providers import ItemFlag
from crossdock.services import idempotency, shipping

__all__ = ["Mutation", "Query"]

P = TypeVar("P")


def _obj(value: JSON | None) -> Mapping[str, Any] | None:
    return cast("Mapping[str, Any] | None", value)


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("channels:read"), description="The tenant's carrier accounts.")
    async def carrier_accounts(self, info: Info[Any, Any]) -> list[CarrierAccount]:
        async with state(info).read() as session:
            rows = (await session.scalars(select(m.CarrierAccount).order_by(m.CarrierAccount.id))).all()
        return [CarrierAccount.from_row(r) for r in rows]

    @strawberry.field(
        extensions=requires("channels:read"), description="Routing rules, in the order they are tried."
    )
    async def routing_rules(self, info: Info[Any, Any]) -> list[RoutingRule]:
        async with state(info).read() as session:
            rows = (
                await session.scalars(
                    select(m.RoutingRule).order_by(m.RoutingRule.priority, m.RoutingRule.id)
                )
            ).all()
        return [RoutingRule.from_row(r) for r in rows]

    @strawberry.field(
        extensions=requires("orders:read"),
        description="Route a packed shipment and rate it: the rule that applies, every allowed service "
        "with its price, the one the rule's strategy chooses, and what was rejected and why. "
        "Asks the carriers; buys nothing.",
    )
    async def shipment_rates(
        self,
        info: Info[Any, Any],
        shipment_id: strawberry.ID,
        carrier_account_id: strawberry.ID | None = None,
        service: str | None = None,
    ) -> RoutingDecision:
        st = state(info)
        async with st.read() as session:
            pk = await resolve_id(session, shipment_id, m.Shipment, field="shipmentId")
            account = (
                await resolve_id(session, carrier_account_id, m.CarrierAccount, field="carrierAccountId")
                if carrier_account_id
                else None
            )
        p = st.principal
        _, decision = await labels.decide(
            st.app.job_context(), p.tenant_id, p.tenant_slug, pk, account_id=account, service=service
        )
        return RoutingDecision.of(decision)

    @strawberry.field(
        extensions=requires("orders:read"),
        description="Route and rate what an order has reserved in a warehouse, before it is packed "
        "(one parcel of the units' weight): as `shipmentRates` does for a packed shipment.",
    )
    async def order_rates(
        self, info: Info[Any, Any], order_id: strawberry.ID, warehouse_id: strawberry.ID
    ) -> RoutingDecision:
        st = state(info)
        async with st.read() as session:
            order = await resolve_id(session, order_id, m.Order, field="orderId")
            warehouse = await resolve_id(session, warehouse_id, m.Warehouse, field="warehouseId")
        p = st.principal
        _, decision = await labels.decide(
            st.app.job_context(), p.tenant_id, p.tenant_slug, None, order=(order, warehouse)
        )
        return RoutingDecision.of(decision)


@strawberry.input(description="A carrier account: credentials are stored encrypted and never shown.")
class CarrierAccountCreateInput:
    carrier: str = strawberry.field(description="The carrier plugin's name (see `plugins`).")
    name: str
    credentials: JSON
    base_url: str | None = None
    settings: JSON | None = strawberry.field(
        default=None,
        description="Carrier settings; `services` is a contract rate card for carriers without a rates API: "
        '[{"service", "name", "currency", "base", "per_kg", "transit_days", "level", "cannot_carry"}].',
    )


@strawberry.input
class CarrierAccountUpdateInput:
    id: strawberry.ID
    status: m.CarrierAccountStatus | None = None
    credentials: JSON | None = None
    base_url: str | None = None
    settings: JSON | None = None


@strawberry.input(
    description="One service a rule allows: an account, and a service code (every one when null)."
)
class RoutingServiceInput:
    carrier_account_id: strawberry.ID
    service: str | None = None


@strawberry.input(
    description="A routing rule. `conditions` (all optional): countries, channels, connection_ids, "
    "min_weight_grams, max_weight_grams, max_length_mm, min_value, max_value, value_currency, "
    "ship_by_within_hours, flags_any, flags_none, max_transit_days."
)
class RoutingRuleInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Given: replace that rule.")
    name: str
    priority: int = 100
    active: bool = True
    strategy: m.RateStrategy = m.RateStrategy.CHEAPEST
    conditions: JSON | None = None
    services: list[RoutingServiceInput]


@strawberry.input
class RoutingRuleDeleteInput:
    id: strawberry.ID


@strawberry.input
class ShipmentBuyLabelInput:
    shipment_id: strawberry.ID
    carrier_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="The operator's choice; routing chooses when null."
    )
    service: str | None = None


@strawberry.input
class ShipmentIdInput:
    shipment_id: strawberry.ID


@strawberry.input(description="What carriers need of a SKU.")
class VariantShippingInput:
    id: strawberry.ID
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None
    hs_code: str | None = None
    origin_country: str | None = None
    customs_description: str | None = None
    item_flags: list[ItemFlag] = strawberry.field(default_factory=list)


@strawberry.input
class WarehouseAddressInput:
    id: strawberry.ID
    address: JSON = strawberry.field(
        description="name, company, line1, line2, city, region, postal_code, country, phone, email."
    )


@strawberry.type
class CarrierAccountPayload:
    carrier_account: CarrierAccount | None = None
    user_errors: list[ShippingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class CarrierAccountCreatePayload(CarrierAccountPayload):
    pass


@strawberry.type
class CarrierAccountUpdatePayload(CarrierAccountPayload):
    pass


@strawberry.type
class RoutingRuleSetPayload:
    routing_rule: RoutingRule | None = None
    user_errors: list[ShippingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class RoutingRuleDeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[ShippingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class LabelPayload:
    shipment: Shipment | None = None
    label: LabelPurchase | None = None
    decision: RoutingDecision | None = None
    user_errors: list[ShippingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ShipmentBuyLabelPayload(LabelPayload):
    pass


@strawberry.type
class ShipmentVoidLabelPayload(LabelPayload):
    pass


@strawberry.type
class VariantShippingSetPayload:
    variant: Variant | None = None
    user_errors: list[ShippingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WarehouseAddressSetPayload:
    warehouse: Warehouse | None = None
    user_errors: list[ShippingUserError] = strawberry.field(default_factory=list)


async def _carrier_call(
    info: Info[Any, Any],
    payload: Callable[..., P],
    shipment_id: strawberry.ID,
    run: Callable[[RequestState, int], Awaitable[RoutingDecision | None]],
) -> P:
    """A mutation that calls a carrier between its own transactions (no transaction may
    stay open across the call): ``UserError`` becomes ``userErrors``; the Idempotency-Key
    is marked used once the change is made."""
    st = state(info)
    decision: RoutingDecision | None = None
    try:
        async with st.read() as session:
            pk = await resolve_id(session, shipment_id, m.Shipment, field="shipmentId")
        with audited(info):  # one entry per transaction the purchase (or void) commits
            decision = await run(st, pk)
    except UserError as exc:
        return await refuse(info, payload, exc)
    held = info.context.get(IDEMPOTENCY)
    async with st.write() as session:
        if held is not None:
            await idempotency.mark_committed(session, held)
        shipment = await session.scalar(select(m.Shipment).where(m.Shipment.id == pk))
        assert shipment is not None
        purchase = await session.scalar(
            select(m.LabelPurchase)
            .where(m.LabelPurchase.shipment_id == pk)
            .order_by(m.LabelPurchase.id.desc())
            .limit(1)
        )
        return payload(
            shipment=Shipment.from_row(shipment),
            label=LabelPurchase.from_row(purchase) if purchase is not None else None,
            decision=decision,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("channels:write"))
    async def carrier_account_create(
        self, info: Info[Any, Any], input: CarrierAccountCreateInput
    ) -> CarrierAccountCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await shipping.create_account(
                session,
                st.app.plugins,
                st.app.vault,
                carrier=input.carrier,
                name=input.name,
                credentials=_obj(input.credentials) or {},
                base_url=input.base_url,
                settings=_obj(input.settings),
                policy=st.app.http.policy,
            )
            return {"carrier_account": CarrierAccount.from_row(row)}

        return await in_transaction(info, CarrierAccountCreatePayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def carrier_account_update(
        self, info: Info[Any, Any], input: CarrierAccountUpdateInput
    ) -> CarrierAccountUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.CarrierAccount)
            row = await shipping.update_account(
                session,
                st.app.vault,
                pk,
                status=input.status,
                credentials=_obj(input.credentials) or {},
                base_url=input.base_url,
                settings=_obj(input.settings),
                policy=st.app.http.policy,
            )
            return {"carrier_account": CarrierAccount.from_row(row)}

        return await in_transaction(info, CarrierAccountUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"), description="Create or replace a routing rule."
    )
    async def routing_rule_set(self, info: Info[Any, Any], input: RoutingRuleInput) -> RoutingRuleSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            rule_pk = await resolve_id(session, input.id, m.RoutingRule) if input.id else None
            services = [
                (
                    await resolve_id(
                        session,
                        s.carrier_account_id,
                        m.CarrierAccount,
                        field=f"services.{i}.carrierAccountId",
                    ),
                    s.service,
                )
                for i, s in enumerate(input.services)
            ]
            row = await shipping.save_rule(
                session,
                rule_pk,
                name=input.name,
                priority=input.priority,
                conditions=_obj(input.conditions) or {},
                services=services,
                strategy=input.strategy,
                active=input.active,
            )
            return {"routing_rule": RoutingRule.from_row(row)}

        return await in_transaction(info, RoutingRuleSetPayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def routing_rule_delete(
        self, info: Info[Any, Any], input: RoutingRuleDeleteInput
    ) -> RoutingRuleDeletePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.RoutingRule)
            await shipping.delete_rule(session, pk)
            return {"deleted_id": input.id}

        return await in_transaction(info, RoutingRuleDeletePayload, body)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Buy the label of a packed shipment: routed and rated unless an account is given. "
        "Fills its carrier and tracking number; the documents are stored for printing. Never buys twice: "
        "a carrier that does not answer leaves the purchase open, and it is resumed.",
    )
    async def shipment_buy_label(
        self, info: Info[Any, Any], input: ShipmentBuyLabelInput
    ) -> ShipmentBuyLabelPayload:
        async def run(st: RequestState, pk: int) -> RoutingDecision | None:
            account = None
            if input.carrier_account_id:
                async with st.read() as session:
                    account = await resolve_id(
                        session, input.carrier_account_id, m.CarrierAccount, field="carrierAccountId"
                    )
            p = st.principal
            outcome = await labels.purchase(
                st.app.job_context(),
                p.tenant_id,
                p.tenant_slug,
                pk,
                account_id=account,
                service=input.service,
            )
            return RoutingDecision.of(outcome.decision) if outcome.decision else None

        return await _carrier_call(info, ShipmentBuyLabelPayload, input.shipment_id, run)

    @strawberry.mutation(
        extensions=requires("orders:write"),
        description="Void the label of a shipment not yet handed over (at the carrier, then here).",
    )
    async def shipment_void_label(
        self, info: Info[Any, Any], input: ShipmentIdInput
    ) -> ShipmentVoidLabelPayload:
        async def run(st: RequestState, pk: int) -> RoutingDecision | None:
            p = st.principal
            await labels.void(st.app.job_context(), p.tenant_id, p.tenant_slug, pk)
            return None

        return await _carrier_call(info, ShipmentVoidLabelPayload, input.shipment_id, run)

    @strawberry.mutation(extensions=requires("catalog:write"), description="What carriers need of a SKU.")
    async def variant_shipping_set(
        self, info: Info[Any, Any], input: VariantShippingInput
    ) -> VariantShippingSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Variant)
            row = await shipping.set_variant_shipping(
                session,
                pk,
                length_mm=input.length_mm,
                width_mm=input.width_mm,
                height_mm=input.height_mm,
                hs_code=input.hs_code,
                origin_country=input.origin_country,
                customs_description=input.customs_description,
                item_flags=input.item_flags,
            )
            return {"variant": Variant.from_row(row)}

        return await in_transaction(info, VariantShippingSetPayload, body)

    @strawberry.mutation(
        extensions=requires("inventory:write"), description="A warehouse's ship-from address."
    )
    async def warehouse_address_set(
        self, info: Info[Any, Any], input: WarehouseAddressInput
    ) -> WarehouseAddressSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Warehouse)
            row = await shipping.set_warehouse_address(session, pk, _obj(input.address) or {})
            return {"warehouse": Warehouse.from_row(row)}

        return await in_transaction(info, WarehouseAddressSetPayload, body)
