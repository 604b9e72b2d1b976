"""Shipping: carrier accounts, routing rules, the shipment a carrier is asked about, the
choice among rates, and the records of a label's purchase and void.

Nothing here calls a carrier: :mod:`crossdock.jobs.labels` runs the calls between the
transactions these functions make. A label purchase is a row (``LabelPurchase``) written
*before* the carrier is asked, with the reference the carrier is given; the label's
numbers are written as soon as the carrier answers, and its documents after they are
stored. Whatever fails in between, the row says what is still owed and the purchase is
resumed by looking the reference up, never by buying again.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    CarrierAccount,
    CarrierAccountStatus,
    Connection,
    LabelPurchase,
    LabelStatus,
    Order,
    OrderLine,
    RateStrategy,
    RoutingRule,
    Shipment,
    ShipmentPackage,
    ShipmentStatus,
    Tenant,
    UsageMetric,
    Variant,
    Warehouse,
)
from crossdock.db.scoping import session_tenant
from crossdock.errors import NotSupported, UserError
from crossdock.money import Money, validate_currency
from crossdock.net import OutboundPolicy
from crossdock.plugins import Plugins
from crossdock.providers import (
    TRACKING_FINAL,
    Address,
    CarrierProvider,
    CustomsItem,
    Incoterm,
    ItemFlag,
    Label,
    Parcel,
    Rate,
    ServiceLevel,
    ShipmentRequest,
    TrackingStatus,
)
from crossdock.security import Vault
from crossdock.services import usage
from crossdock.services.analytics import mark as mark_figures
from crossdock.services.common import country_code, non_empty
from crossdock.services.events import emit
from crossdock.services.states import lock_shipment

__all__ = [
    "Candidate",
    "Decision",
    "Rejected",
    "account_rates",
    "address_of",
    "begin_purchase",
    "begin_void",
    "channel_account",
    "choose",
    "create_account",
    "delete_rule",
    "label_of",
    "live_purchase",
    "marketplace_line",
    "order_request",
    "record_failure",
    "record_label",
    "record_stored",
    "record_void",
    "request_from_json",
    "request_to_json",
    "rule_matches",
    "save_rule",
    "set_variant_shipping",
    "set_warehouse_address",
    "shipment_request",
    "update_account",
    "void_refused",
]

#: Conditions a routing rule may set (see ``RoutingRule``).
CONDITION_KEYS = frozenset(
    {
        "countries",
        "channels",
        "connection_ids",
        "min_weight_grams",
        "max_weight_grams",
        "max_length_mm",
        "min_value",
        "max_value",
        "value_currency",
        "ship_by_within_hours",
        "flags_any",
        "flags_none",
        "max_transit_days",
    }
)
MAX_RULES = 500
MAX_PACKAGES = 50


# --------------------------------------------------------------------------- accounts


def _base_url(value: str | None, policy: OutboundPolicy | None) -> str | None:
    if value is None or value == "":
        return None
    return (policy or OutboundPolicy()).check_url(value, field="baseUrl")


def _provider(plugins: Plugins, carrier: str) -> CarrierProvider:
    try:
        return plugins.carrier(carrier)
    except NotSupported as exc:
        raise UserError(str(exc), field="carrier", code="UNKNOWN_CARRIER") from None


def _rate_card(settings: Mapping[str, Any]) -> None:
    """A carrier without a rates API is priced from the account's contract rates:
    ``services: [{"service", "name", "currency", "base", "per_kg", "transit_days",
    "level", "cannot_carry"}]``; checked here so a typo is an error at once."""
    services = settings.get("services")
    if services is None:
        return
    if not isinstance(services, list) or not services or len(services) > 50:
        raise UserError(
            "settings.services must be a list of 1 to 50 services", field="settings", code="INVALID"
        )
    for i, entry in enumerate(services):
        where = f"settings.services.{i}"
        if (
            not isinstance(entry, Mapping)
            or not isinstance(entry.get("service"), str)
            or not entry["service"]
        ):
            raise UserError("each service needs a `service` code", field=where, code="INVALID")
        try:
            validate_currency(str(entry.get("currency", "")))
            for key in ("base", "per_kg"):
                value = Decimal(str(entry.get(key, "0")))
                if not value.is_finite() or value < 0 or value > 100000:
                    raise InvalidOperation
        except (InvalidOperation, UserError):
            raise UserError(
                "each service needs a currency and non-negative `base` and `per_kg` prices",
                field=where,
                code="INVALID",
            ) from None
        days = entry.get("transit_days")
        if days is not None and (not isinstance(days, int) or not 0 < days < 90):
            raise UserError(
                "transit_days must be a whole number of days (1-89)", field=where, code="OUT_OF_RANGE"
            )
        if entry.get("level") is not None and entry["level"] not in set(ServiceLevel):
            raise UserError(f"level must be one of {sorted(ServiceLevel)}", field=where, code="INVALID")
        for flag in entry.get("cannot_carry") or ():
            if flag not in set(ItemFlag):
                raise UserError(f"unknown item flag {flag!r}", field=where, code="INVALID")


async def create_account(
    session: AsyncSession,
    plugins: Plugins,
    vault: Vault,
    *,
    carrier: str,
    name: str,
    credentials: Mapping[str, Any],
    base_url: str | None = None,
    settings: Mapping[str, Any] | None = None,
    policy: OutboundPolicy | None = None,
) -> CarrierAccount:
    """A tenant's account with an independent carrier (marketplace logistics accounts are
    made from their connection: :func:`channel_account`)."""
    provider = _provider(plugins, carrier)
    if provider.channel is not None:
        raise UserError(
            f"{carrier} ships a marketplace's orders on its own lines: it uses the shop's connection",
            field="carrier",
            code="INVALID",
        )
    if not isinstance(credentials, Mapping) or not credentials:
        raise UserError("credentials must be a non-empty object", field="credentials", code="INVALID")
    settings = dict(settings or {})
    _rate_card(settings)
    name = non_empty(name, "name", max_length=64)
    if await session.scalar(
        select(CarrierAccount.id).where(CarrierAccount.carrier == carrier, CarrierAccount.name == name)
    ):
        raise UserError(f"a {carrier} account named {name!r} exists", field="name", code="TAKEN")
    row = CarrierAccount(
        carrier=carrier,
        name=name,
        status=CarrierAccountStatus.ACTIVE,
        credentials_encrypted=vault.encrypt(dict(credentials)),
        base_url=_base_url(base_url, policy),
        settings=settings,
        webhook_key=secrets.token_urlsafe(32),
    )
    session.add(row)
    await session.flush()
    emit(session, "carrier_account.created", f"CarrierAccount:{row.id}", carrier=carrier)
    return row


async def update_account(
    session: AsyncSession,
    vault: Vault,
    account_id: int,
    *,
    status: CarrierAccountStatus | None = None,
    credentials: Mapping[str, Any] | None = None,
    base_url: str | None = None,
    settings: Mapping[str, Any] | None = None,
    policy: OutboundPolicy | None = None,
) -> CarrierAccount:
    row = await session.scalar(
        select(CarrierAccount).where(CarrierAccount.id == account_id).with_for_update()
    )
    if row is None:
        raise UserError("no such carrier account", field="id", code="NOT_FOUND")
    if status is not None:
        row.status = status
    if credentials is not None:
        if row.connection_id is not None:
            raise UserError("a marketplace's logistics uses its shop's credentials", field="credentials")
        if not isinstance(credentials, Mapping) or not credentials:
            raise UserError("credentials must be a non-empty object", field="credentials", code="INVALID")
        row.credentials_encrypted = vault.encrypt(dict(credentials))
    if base_url is not None:
        row.base_url = _base_url(base_url, policy)
    if settings is not None:
        _rate_card(settings)
        row.settings = dict(settings)
    await session.flush()
    return row


async def channel_account(
    session: AsyncSession, plugins: Plugins, vault: Vault, conn: Connection
) -> CarrierAccount | None:
    """The account of the marketplace's own logistics for a shop, made on first use; None
    when no plugin offers that marketplace's logistics."""
    provider = plugins.channel_logistics(conn.channel)
    if provider is None:
        return None
    mine = select(CarrierAccount).where(
        CarrierAccount.connection_id == conn.id, CarrierAccount.carrier == provider.name
    )
    row = await session.scalar(mine)
    # Two first label purchases for a shop at once both find none: each inserts with ON
    # CONFLICT DO NOTHING and reads back the one that exists. A name taken by another
    # account of the same carrier gets the shop's id added.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for name in (conn.name[:64], f"{conn.name[:48]} (shop {conn.id})"):
        if row is not None:
            break
        await session.execute(
            insert(CarrierAccount)
            .values(
                tenant_id=session_tenant(session.sync_session),
                carrier=provider.name,
                name=name,
                status=CarrierAccountStatus.ACTIVE,
                credentials_encrypted=vault.encrypt({}),
                connection_id=conn.id,
                settings={},
                webhook_key=secrets.token_urlsafe(32),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "carrier", "name"])
        )
        row = await session.scalar(mine.execution_options(populate_existing=True))
    return row


# --------------------------------------------------------------------------- routing rules


def _int(conditions: Mapping[str, Any], key: str, low: int, high: int) -> None:
    value = conditions.get(key)
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
    ):
        raise UserError(
            f"{key} must be a whole number from {low} to {high}",
            field=f"conditions.{key}",
            code="OUT_OF_RANGE",
        )


def _conditions(raw: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(raw) - CONDITION_KEYS
    if unknown:
        raise UserError(
            f"unknown conditions {sorted(unknown)}; known: {sorted(CONDITION_KEYS)}",
            field="conditions",
            code="INVALID",
        )
    out = dict(raw)
    if "countries" in out:
        out["countries"] = [country_code(str(c), "conditions.countries") for c in out["countries"] or ()]
    for key in ("channels",):
        if key in out and not all(isinstance(c, str) and c for c in out[key] or ()):
            raise UserError(f"{key} must be a list of names", field=f"conditions.{key}", code="INVALID")
    if "connection_ids" in out and not all(isinstance(c, int) for c in out["connection_ids"] or ()):
        raise UserError(
            "connection_ids must be a list of connection numbers", field="conditions.connection_ids"
        )
    _int(out, "min_weight_grams", 0, 1_000_000)
    _int(out, "max_weight_grams", 1, 1_000_000)
    _int(out, "max_length_mm", 1, 10_000)
    _int(out, "ship_by_within_hours", 0, 24 * 60)
    _int(out, "max_transit_days", 1, 89)
    for key in ("min_value", "max_value"):
        if out.get(key) is not None:
            try:
                value = Decimal(str(out[key]))
            except InvalidOperation:
                value = Decimal("NaN")
            if not value.is_finite() or value < 0 or value > Decimal("1e9"):
                raise UserError(
                    f"{key} must be a non-negative amount", field=f"conditions.{key}", code="OUT_OF_RANGE"
                )
            out[key] = str(value)
            if not out.get("value_currency"):
                raise UserError(
                    "a value condition needs value_currency",
                    field="conditions.value_currency",
                    code="REQUIRED",
                )
    if out.get("value_currency"):
        out["value_currency"] = validate_currency(str(out["value_currency"]))
    for key in ("flags_any", "flags_none"):
        for flag in out.get(key) or ():
            if flag not in set(ItemFlag):
                raise UserError(f"unknown item flag {flag!r}", field=f"conditions.{key}", code="INVALID")
    return out


async def save_rule(
    session: AsyncSession,
    rule_id: int | None,
    *,
    name: str,
    priority: int,
    conditions: Mapping[str, Any],
    services: Sequence[tuple[int, str | None]],
    strategy: RateStrategy,
    active: bool = True,
) -> RoutingRule:
    """Create (``rule_id`` None) or replace a routing rule; every account it names must be
    the tenant's."""
    if not 0 <= priority <= 100_000:
        raise UserError("priority must be from 0 to 100000", field="priority", code="OUT_OF_RANGE")
    if not services:
        raise UserError("a rule allows at least one carrier account", field="services", code="REQUIRED")
    if len(services) > 50:
        raise UserError("at most 50 services per rule", field="services", code="OUT_OF_RANGE")
    account_ids = {account_id for account_id, _ in services}
    found = set(
        (await session.scalars(select(CarrierAccount.id).where(CarrierAccount.id.in_(account_ids)))).all()
    )
    if found != account_ids:
        raise UserError(
            "a service names no carrier account of this tenant", field="services", code="NOT_FOUND"
        )
    checked = _conditions(conditions)
    if rule_id is None:
        if ((await session.scalar(select(func.count()).select_from(RoutingRule))) or 0) >= MAX_RULES:
            raise UserError(f"at most {MAX_RULES} routing rules", field="name", code="OUT_OF_RANGE")
        row = RoutingRule()
        session.add(row)
    else:
        found_row = await session.scalar(
            select(RoutingRule).where(RoutingRule.id == rule_id).with_for_update()
        )
        if found_row is None:
            raise UserError("no such routing rule", field="id", code="NOT_FOUND")
        row = found_row
    row.name = non_empty(name, "name", max_length=64)
    row.priority = priority
    row.active = active
    row.conditions = checked
    row.services = [
        {
            "account_id": account_id,
            "service": (non_empty(svc, "services.service", max_length=64) if svc else None),
        }
        for account_id, svc in services
    ]
    row.strategy = RateStrategy(strategy)
    await session.flush()
    return row


async def delete_rule(session: AsyncSession, rule_id: int) -> None:
    row = await session.scalar(select(RoutingRule).where(RoutingRule.id == rule_id))
    if row is None:
        raise UserError("no such routing rule", field="id", code="NOT_FOUND")
    await session.delete(row)
    await session.flush()


# --------------------------------------------------------------------------- the request


def address_of(data: Mapping[str, Any] | None, country: str | None = None) -> Address:
    """A stored address (an order's, a warehouse's) as providers take it; ``country`` when it has none."""
    data = dict(data or {})
    return Address(
        name=data.get("name"),
        line1=data.get("line1"),
        line2=data.get("line2"),
        city=data.get("city"),
        region=data.get("region"),
        postal_code=data.get("postal_code"),
        country=data.get("country") or country,
        phone=data.get("phone"),
        company=data.get("company"),
        email=data.get("email"),
    )


@dataclass(frozen=True)
class Shipping:
    """A shipment as routing sees it: the request, and what rules match on."""

    request: ShipmentRequest
    order: Order
    connection: Connection
    warehouse: Warehouse
    ship_by: datetime | None


async def shipment_request(
    session: AsyncSession, shipment_id: int, *, reference: str, incoterm: Incoterm | None = None
) -> Shipping:
    """The carrier's view of a packed shipment: ship-from (the warehouse's address),
    ship-to (the order's), its packages (or one parcel of the packed units' weight), the
    declared value and customs lines from the order lines and the variants' carrier data."""
    shipment = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
    if shipment is None:
        raise UserError("no such shipment", field="shipmentId", code="NOT_FOUND")
    if shipment.warehouse_id is None:
        raise UserError("the shipment has no warehouse to ship from", field="shipmentId", code="NO_ADDRESS")
    return await _shipping(
        session,
        shipment.order_id,
        shipment.warehouse_id,
        Allocation.shipment_id == shipment.id,
        shipment.id,
        reference=reference,
        incoterm=incoterm,
    )


async def order_request(
    session: AsyncSession,
    order_id: int,
    warehouse_id: int,
    *,
    reference: str,
    incoterm: Incoterm | None = None,
) -> Shipping:
    """The carrier's view of what an order has reserved in a warehouse, before it is packed
    (one parcel of the units' weight): to rate an order."""
    if not await session.scalar(
        select(Allocation.id)
        .where(
            Allocation.order_id == order_id,
            Allocation.warehouse_id == warehouse_id,
            Allocation.status == AllocationStatus.RESERVED,
        )
        .limit(1)
    ):
        raise UserError(
            "nothing of this order is waiting in that warehouse", field="warehouseId", code="INVALID_STATE"
        )
    return await _shipping(
        session,
        order_id,
        warehouse_id,
        (Allocation.order_id == order_id)
        & (Allocation.warehouse_id == warehouse_id)
        & (Allocation.status == AllocationStatus.RESERVED),
        None,
        reference=reference,
        incoterm=incoterm,
    )


async def _shipping(
    session: AsyncSession,
    order_id: int,
    warehouse_id: int,
    units: Any,
    shipment_id: int | None,
    *,
    reference: str,
    incoterm: Incoterm | None,
) -> Shipping:
    order = await session.scalar(select(Order).where(Order.id == order_id))
    assert order is not None
    conn = await session.scalar(select(Connection).where(Connection.id == order.connection_id))
    assert conn is not None
    warehouse = await session.scalar(select(Warehouse).where(Warehouse.id == warehouse_id))
    assert warehouse is not None
    rows = (
        await session.execute(
            select(OrderLine, Allocation.quantity, Variant)
            .join(Allocation, Allocation.order_line_id == OrderLine.id)
            .outerjoin(Variant, Variant.id == Allocation.variant_id)
            .where(units)
            .order_by(OrderLine.id)
        )
    ).all()
    items: list[CustomsItem] = []
    lines: list[tuple[str, int]] = []
    declared = Decimal(0)
    units_weight = 0
    for line, quantity, variant in rows:
        grams = (variant.weight_grams if variant is not None else None) or 0
        units_weight += grams * int(quantity)
        declared += line.unit_price_amount * int(quantity)
        lines.append((line.external_id, int(quantity)))
        items.append(
            CustomsItem(
                description=(variant.customs_description if variant is not None else None)
                or line.title
                or line.sku,
                quantity=int(quantity),
                value=Money(line.unit_price_amount, order.currency),
                weight_grams=grams,
                hs_code=variant.hs_code if variant is not None else None,
                origin_country=variant.origin_country if variant is not None else None,
                sku=line.sku,
                flags=frozenset(
                    ItemFlag(f) for f in ((variant.item_flags if variant is not None else None) or ())
                ),
            )
        )
    packages: Sequence[ShipmentPackage] = ()
    if shipment_id is not None:
        packages = (
            await session.scalars(
                select(ShipmentPackage)
                .where(ShipmentPackage.shipment_id == shipment_id)
                .order_by(ShipmentPackage.position)
            )
        ).all()
    tag = shipment_id if shipment_id is not None else f"o{order_id}"
    if packages:
        parcels = [
            Parcel(p.weight_grams, p.length_mm, p.width_mm, p.height_mm, reference=f"{tag}-{p.position}")
            for p in packages
        ]
    elif units_weight > 0:
        first = next((v for _, _, v in rows if v is not None and v.length_mm), None)
        parcels = [
            Parcel(
                units_weight,
                first.length_mm if first is not None else None,
                first.width_mm if first is not None else None,
                first.height_mm if first is not None else None,
                reference=f"{tag}-1",
            )
        ]
    else:
        raise UserError(
            "the shipment's weight is unknown: pack it with packages, or give its variants a weight",
            field="shipmentId" if shipment_id is not None else "orderId",
            code="NO_WEIGHT",
        )
    destination = address_of(order.shipping_address, order.destination_country)
    if not destination.country:
        raise UserError("the order has no destination country", field="shipmentId", code="NO_ADDRESS")
    origin = address_of(warehouse.address, warehouse.country)
    tenant_settings = await session.scalar(
        select(Tenant.settings).where(Tenant.id == session_tenant(session.sync_session))
    )
    shipping_settings = (tenant_settings or {}).get("shipping") or {}
    chosen_incoterm = incoterm or Incoterm(shipping_settings.get("incoterm", Incoterm.DDU))
    request = ShipmentRequest(
        reference=reference,
        origin=origin,
        destination=destination,
        parcels=parcels,
        declared_value=Money(declared, order.currency),
        items=items,
        incoterm=chosen_incoterm,
        ship_date=utcnow().date(),
        order_external_id=order.external_id,
        package_reference=(order.raw or {}).get("package_number") if isinstance(order.raw, dict) else None,
        lines=lines,
    )
    return Shipping(request, order, conn, warehouse, order.ship_by)


def request_to_json(request: ShipmentRequest) -> dict[str, Any]:
    """A request as stored on its purchase (so a resumed purchase sends the same one)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, frozenset | set):
            return sorted(str(v) for v in value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(asdict(request))  # type: ignore[no-any-return]


def request_from_json(data: Mapping[str, Any]) -> ShipmentRequest:
    def money(value: Mapping[str, Any]) -> Money:
        return Money(Decimal(value["amount"]), value["currency"])

    return ShipmentRequest(
        reference=data["reference"],
        origin=Address(**data["origin"]),
        destination=Address(**data["destination"]),
        parcels=[Parcel(**p) for p in data["parcels"]],
        declared_value=money(data["declared_value"]),
        items=[
            CustomsItem(
                **{
                    **item,
                    "value": money(item["value"]),
                    "flags": frozenset(ItemFlag(f) for f in item["flags"]),
                }
            )
            for item in data["items"]
        ],
        incoterm=Incoterm(data["incoterm"]),
        service_level=ServiceLevel(data["service_level"]) if data.get("service_level") else None,
        ship_date=date.fromisoformat(data["ship_date"]) if data.get("ship_date") else None,
        order_external_id=data.get("order_external_id"),
        package_reference=data.get("package_reference"),
        lines=[tuple(line) for line in data.get("lines") or ()],  # type: ignore[misc]
    )


# --------------------------------------------------------------------------- rates and the choice


def account_rates(row: CarrierAccount, provider: CarrierProvider, request: ShipmentRequest) -> list[Rate]:
    """A carrier without a rates API priced from the account's contract rate card."""
    out: list[Rate] = []
    kilos = (Decimal(request.weight_grams) / 1000).quantize(Decimal("0.001"))
    for entry in (row.settings or {}).get("services") or ():
        price = Decimal(str(entry.get("base", "0"))) + Decimal(str(entry.get("per_kg", "0"))) * kilos
        currency = str(entry["currency"])
        days = entry.get("transit_days")
        out.append(
            Rate(
                carrier=provider.name,
                service=str(entry["service"]),
                service_name=str(entry.get("name") or entry["service"]),
                price=Money(price, currency).rounded(),
                transit_days=days,
                estimated_delivery=(utcnow().date() + timedelta(days=days)) if days else None,
                service_level=ServiceLevel(entry["level"]) if entry.get("level") else None,
                cannot_carry=frozenset(ItemFlag(f) for f in entry.get("cannot_carry") or ()),
                messages=("contract rate card",),
            )
        )
    return out


#: The service code of a marketplace's own line that the marketplace does not quote.
MARKETPLACE_SERVICE = "marketplace"


def marketplace_line(provider: CarrierProvider, request: ShipmentRequest) -> Rate:
    """The one "rate" of a marketplace's own logistics without a rates API: the line the
    marketplace assigns, at no price known now (the payout carries its cost)."""
    return Rate(
        carrier=provider.name,
        service=MARKETPLACE_SERVICE,
        service_name=provider.display_name or provider.name,
        price=Money(Decimal(0), request.declared_value.currency),
        messages=("the marketplace assigns the line; its cost comes with the payout",),
    )


@dataclass(frozen=True)
class Candidate:
    """A service one account could ship with, at its quoted price."""

    account_id: int
    account_name: str
    rate: Rate
    #: the price in the tenant's reporting currency, for comparing across carriers
    comparable: Decimal | None = None


@dataclass(frozen=True)
class Rejected:
    account_id: int
    account_name: str
    carrier: str
    service: str | None
    reason: str


@dataclass
class Decision:
    """What routing chose for a shipment and why, stored with the purchase."""

    rule_id: int | None
    rule_name: str
    strategy: RateStrategy
    chosen: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    note: str = ""
    #: the candidates best first, by the strategy (the next is tried when a carrier refuses)
    ranked: list[Candidate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def candidate(c: Candidate) -> dict[str, Any]:
            return {
                "account_id": c.account_id,
                "account": c.account_name,
                "carrier": c.rate.carrier,
                "service": c.rate.service,
                "service_name": c.rate.service_name,
                "price": str(c.rate.price.amount),
                "currency": c.rate.price.currency,
                "transit_days": c.rate.transit_days,
                "estimated_delivery": c.rate.estimated_delivery.isoformat()
                if c.rate.estimated_delivery
                else None,
            }

        return {
            "rule_id": self.rule_id,
            "rule": self.rule_name,
            "strategy": str(self.strategy),
            "note": self.note,
            "chosen": candidate(self.chosen) if self.chosen else None,
            "candidates": [candidate(c) for c in self.candidates],
            "rejected": [asdict(r) for r in self.rejected],
        }


def rule_matches(rule: RoutingRule, shipping: Shipping, now: datetime) -> str | None:
    """None when ``rule`` applies to the shipment, else the first condition that fails."""
    c = rule.conditions or {}
    request = shipping.request
    if c.get("countries") and request.destination.country not in c["countries"]:
        return f"destination {request.destination.country} not in {c['countries']}"
    if c.get("channels") and shipping.connection.channel not in c["channels"]:
        return f"channel {shipping.connection.channel} not in {c['channels']}"
    if c.get("connection_ids") and shipping.connection.id not in c["connection_ids"]:
        return "another shop"
    weight = request.weight_grams
    if c.get("min_weight_grams") is not None and weight < c["min_weight_grams"]:
        return f"{weight} g is under {c['min_weight_grams']} g"
    if c.get("max_weight_grams") is not None and weight > c["max_weight_grams"]:
        return f"{weight} g is over {c['max_weight_grams']} g"
    if c.get("max_length_mm") is not None:
        longest = max(
            (max(p.length_mm or 0, p.width_mm or 0, p.height_mm or 0) for p in request.parcels), default=0
        )
        if longest > c["max_length_mm"]:
            return f"a {longest} mm side is over {c['max_length_mm']} mm"
    if c.get("value_currency") and (c.get("min_value") is not None or c.get("max_value") is not None):
        if request.declared_value.currency != c["value_currency"]:
            return f"value in {request.declared_value.currency}, the rule counts {c['value_currency']}"
        value = request.declared_value.amount
        if c.get("min_value") is not None and value < Decimal(c["min_value"]):
            return f"value {value} under {c['min_value']}"
        if c.get("max_value") is not None and value > Decimal(c["max_value"]):
            return f"value {value} over {c['max_value']}"
    within = c.get("ship_by_within_hours")
    if within is not None and (shipping.ship_by is None or shipping.ship_by > now + timedelta(hours=within)):
        return f"ship-by not within {within} h"
    flags = {str(f) for f in request.flags}
    if c.get("flags_any") and not flags & set(c["flags_any"]):
        return f"carries none of {c['flags_any']}"
    if c.get("flags_none") and flags & set(c["flags_none"]):
        return f"carries {sorted(flags & set(c['flags_none']))}"
    return None


def choose(
    decision: Decision,
    quotes: Sequence[tuple[int, str, Sequence[str | None], Sequence[Rate]]],
    shipping: Shipping,
    *,
    max_transit_days: int | None,
    comparable: Mapping[tuple[int, str], Decimal | None],
) -> Decision:
    """Rate shopping among the quotes of the rule's accounts: drop the services the rule
    does not allow, those that cannot carry the shipment's item flags, and (when the rule
    bounds it) those slower than its transit promise; then choose by the rule's strategy.
    ``quotes``: (account id, account name, allowed services in preference order — a None
    allows every service —, the account's rates)."""
    flags = shipping.request.flags
    order: dict[tuple[int, str], int] = {}
    for a_i, (account_id, name, allowed, rates) in enumerate(quotes):
        for rate in rates:
            if None not in allowed and rate.service not in allowed:
                decision.rejected.append(
                    Rejected(account_id, name, rate.carrier, rate.service, "not allowed by the rule")
                )
                continue
            refused = flags & rate.cannot_carry
            if refused:
                decision.rejected.append(
                    Rejected(
                        account_id,
                        name,
                        rate.carrier,
                        rate.service,
                        f"cannot carry {', '.join(sorted(refused))}",
                    )
                )
                continue
            if max_transit_days is not None and (rate.transit_days or 10**6) > max_transit_days:
                days = rate.transit_days if rate.transit_days is not None else "unknown"
                decision.rejected.append(
                    Rejected(
                        account_id,
                        name,
                        rate.carrier,
                        rate.service,
                        f"transit {days} days misses the {max_transit_days}-day promise",
                    )
                )
                continue
            key = (account_id, rate.service)
            place = allowed.index(rate.service) if rate.service in allowed else allowed.index(None)
            order[key] = a_i * 1000 + place
            decision.candidates.append(Candidate(account_id, name, rate, comparable.get(key)))
    if not decision.candidates:
        return decision
    far = Decimal("1e18")

    def price(c: Candidate) -> Decimal:
        return c.comparable if c.comparable is not None else far

    def arrival(c: Candidate) -> int:
        if c.rate.estimated_delivery is not None:
            return c.rate.estimated_delivery.toordinal()
        if c.rate.transit_days is not None:
            return utcnow().date().toordinal() + c.rate.transit_days
        return 10**7

    def rank(c: Candidate) -> tuple[Any, ...]:
        preference = order[(c.account_id, c.rate.service)]
        if decision.strategy == RateStrategy.FASTEST:
            return (arrival(c), price(c), preference)
        if decision.strategy == RateStrategy.PRIORITY:
            return (preference,)
        return (price(c), arrival(c), preference)

    decision.ranked = sorted(decision.candidates, key=rank)
    decision.chosen = decision.ranked[0]
    return decision


# --------------------------------------------------------------------------- purchases


async def live_purchase(session: AsyncSession, shipment_id: int) -> LabelPurchase | None:
    """The shipment's label: bought, or being bought."""
    return await session.scalar(
        select(LabelPurchase)
        .where(
            LabelPurchase.shipment_id == shipment_id,
            LabelPurchase.status.in_((LabelStatus.PURCHASING, LabelStatus.PURCHASED, LabelStatus.VOIDING)),
        )
        .order_by(LabelPurchase.id.desc())
        .limit(1)
    )


async def begin_purchase(
    session: AsyncSession,
    shipment: Shipment,
    account: CarrierAccount,
    service: str,
    request_json: Mapping[str, Any],
    decision: Mapping[str, Any],
) -> LabelPurchase:
    """The purchase row, committed before the carrier is asked. ``shipment`` is locked by
    the caller; a live purchase is refused (LABEL_EXISTS)."""
    if shipment.status != ShipmentStatus.PACKED:
        raise UserError(
            f"a {shipment.status} shipment gets no label", field="shipmentId", code="INVALID_STATE"
        )
    if await live_purchase(session, shipment.id) is not None:
        raise UserError(
            "the shipment already has a label (void it first)", field="shipmentId", code="LABEL_EXISTS"
        )
    purchase = LabelPurchase(
        shipment_id=shipment.id,
        carrier_account_id=account.id,
        carrier=account.carrier,
        service=service,
        reference=f"cdl-{shipment.id}-{secrets.token_hex(6)}",
        status=LabelStatus.PURCHASING,
        request=dict(request_json),
        tracking_numbers=[],
        decision=dict(decision),
        attempts=0,
        channel_confirmed=False,
        carrier_data={},
    )
    purchase.request["reference"] = purchase.reference
    session.add(purchase)
    await session.flush()
    return purchase


async def record_label(
    session: AsyncSession, purchase_id: int, label: Label, carrier_name: str
) -> LabelPurchase:
    """The carrier sold the label: its numbers are kept at once (the documents follow)."""
    purchase = await session.scalar(
        select(LabelPurchase).where(LabelPurchase.id == purchase_id).with_for_update()
    )
    assert purchase is not None
    # a purchase resumed after a crash records the same label again: counted once
    first = not purchase.carrier_shipment_id and not purchase.tracking_numbers
    purchase.carrier_shipment_id = label.carrier_shipment_id[:128]
    purchase.tracking_numbers = [str(n)[:128] for n in label.tracking_numbers]
    purchase.channel_confirmed = label.channel_confirmed
    purchase.carrier_data = _plain_json(label.raw)
    purchase.error = None
    if label.price is not None:
        purchase.cost_amount = label.price.amount
        purchase.cost_currency = label.price.currency
    purchase.estimated_delivery = label.estimated_delivery
    shipment = await session.scalar(
        select(Shipment).where(Shipment.id == purchase.shipment_id).with_for_update()
    )
    assert shipment is not None
    shipment.carrier = carrier_name[:64]
    shipment.service = purchase.service[:64]
    shipment.tracking_number = purchase.tracking_numbers[0] if purchase.tracking_numbers else None
    shipment.carrier_account_id = purchase.carrier_account_id
    shipment.tracking_status = TrackingStatus.PENDING
    shipment.estimated_delivery = label.estimated_delivery
    mark_figures(session, [shipment.order_id])
    packages = (
        await session.scalars(
            select(ShipmentPackage)
            .where(ShipmentPackage.shipment_id == shipment.id)
            .order_by(ShipmentPackage.position)
        )
    ).all()
    for package, number in zip(packages, purchase.tracking_numbers, strict=False):
        package.tracking_number = number
    if first:
        await usage.count(session, UsageMetric.LABELS_BOUGHT)
    return purchase


async def record_stored(session: AsyncSession, purchase_id: int) -> LabelPurchase:
    """The documents are stored: the purchase is complete and announced."""
    purchase = await session.scalar(
        select(LabelPurchase).where(LabelPurchase.id == purchase_id).with_for_update()
    )
    assert purchase is not None
    if purchase.status == LabelStatus.PURCHASED:
        return purchase
    purchase.status = LabelStatus.PURCHASED
    emit(
        session,
        "shipment.label_purchased",
        f"Shipment:{purchase.shipment_id}",
        carrier=purchase.carrier,
        service=purchase.service,
        tracking_numbers=list(purchase.tracking_numbers),
        cost=str(purchase.cost_amount) if purchase.cost_amount is not None else None,
        currency=purchase.cost_currency,
    )
    return purchase


async def record_failure(session: AsyncSession, purchase_id: int, message: str, *, final: bool) -> None:
    """The carrier refused (``final``: nothing was bought, the purchase is closed) or did
    not answer (it stays open, to be resumed)."""
    purchase = await session.scalar(
        select(LabelPurchase).where(LabelPurchase.id == purchase_id).with_for_update()
    )
    assert purchase is not None
    purchase.attempts += 1
    purchase.error = message[:2000]
    if final and purchase.status == LabelStatus.PURCHASING and not purchase.carrier_shipment_id:
        purchase.status = LabelStatus.FAILED


def _plain_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A plugin's ``Label.raw`` as JSON can keep it (what it cannot is dropped, not fatal)."""
    import json

    try:
        return dict(json.loads(json.dumps(dict(raw), default=str)))
    except (TypeError, ValueError):
        return {}


def label_of(purchase: LabelPurchase) -> Label:
    """The label as the carrier knows it, rebuilt from the purchase (to void it)."""
    return Label(
        carrier_shipment_id=purchase.carrier_shipment_id or "",
        tracking_numbers=list(purchase.tracking_numbers),
        documents=(),
        service=purchase.service,
        channel_confirmed=purchase.channel_confirmed,
        raw=dict(purchase.carrier_data or {}),
    )


async def begin_void(session: AsyncSession, shipment_id: int) -> LabelPurchase:
    """Mark the shipment's label as being voided, before the carrier is asked (it cannot ship
    meanwhile), or say why it cannot be: a shipment that left, or a parcel the carrier has
    scanned, keeps its label."""
    _, shipment = await lock_shipment(session, shipment_id, field="shipmentId")
    purchase = await live_purchase(session, shipment_id)
    if purchase is None or purchase.status == LabelStatus.PURCHASING:
        raise UserError("the shipment has no label to void", field="shipmentId", code="NO_LABEL")
    if purchase.status == LabelStatus.VOIDING:
        raise UserError("the label is being voided already", field="shipmentId", code="INVALID_STATE")
    handed_over = shipment.status == ShipmentStatus.SHIPPED or (
        shipment.tracking_status not in (None, TrackingStatus.PENDING, *TRACKING_FINAL)
    )
    if handed_over:
        raise UserError(
            "the parcel was handed over to the carrier: its label can no longer be voided",
            field="shipmentId",
            code="HANDED_OVER",
        )
    purchase.status = LabelStatus.VOIDING
    return purchase


async def void_refused(session: AsyncSession, purchase_id: int, message: str) -> None:
    """The carrier kept the label: it is the shipment's again."""
    purchase = await session.scalar(
        select(LabelPurchase).where(LabelPurchase.id == purchase_id).with_for_update()
    )
    assert purchase is not None
    if purchase.status == LabelStatus.VOIDING:
        purchase.status = LabelStatus.PURCHASED
        purchase.error = f"void refused: {message}"[:2000]


async def record_void(session: AsyncSession, purchase_id: int) -> None:
    purchase = await session.scalar(
        select(LabelPurchase).where(LabelPurchase.id == purchase_id).with_for_update()
    )
    assert purchase is not None
    purchase.status = LabelStatus.VOIDED
    shipment = await session.scalar(
        select(Shipment).where(Shipment.id == purchase.shipment_id).with_for_update()
    )
    assert shipment is not None
    shipment.tracking_number = None
    shipment.carrier_account_id = None
    shipment.tracking_status = None
    mark_figures(session, [shipment.order_id])
    shipment.estimated_delivery = None
    for package in (
        await session.scalars(select(ShipmentPackage).where(ShipmentPackage.shipment_id == shipment.id))
    ).all():
        package.tracking_number = None
    emit(session, "shipment.label_voided", f"Shipment:{shipment.id}", carrier=purchase.carrier)


# --------------------------------------------------------------------------- catalogue and warehouse data

ADDRESS_KEYS = (
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "email",
)


async def set_variant_shipping(
    session: AsyncSession,
    variant_id: int,
    *,
    length_mm: int | None,
    width_mm: int | None,
    height_mm: int | None,
    hs_code: str | None,
    origin_country: str | None,
    customs_description: str | None,
    item_flags: Sequence[ItemFlag],
) -> Variant:
    """What carriers need of a SKU: its packed size, tariff code, origin, customs wording
    and the item flags some services refuse."""
    variant = await session.scalar(select(Variant).where(Variant.id == variant_id).with_for_update())
    if variant is None:
        raise UserError("no such variant", field="id", code="NOT_FOUND")
    for name, value in (("lengthMm", length_mm), ("widthMm", width_mm), ("heightMm", height_mm)):
        if value is not None and not 0 < value <= 10_000:
            raise UserError("a side measures 1 to 10,000 mm", field=name, code="OUT_OF_RANGE")
    if hs_code is not None:
        digits = hs_code.replace(".", "").replace(" ", "")
        if not digits.isdigit() or not 6 <= len(digits) <= 10 or not digits.isascii():
            raise UserError("an HS code has 6 to 10 digits", field="hsCode", code="INVALID")
        hs_code = digits
    variant.length_mm, variant.width_mm, variant.height_mm = length_mm, width_mm, height_mm
    variant.hs_code = hs_code
    variant.origin_country = country_code(origin_country, "originCountry") if origin_country else None
    variant.customs_description = (
        non_empty(customs_description, "customsDescription", max_length=255) if customs_description else None
    )
    variant.item_flags = sorted({ItemFlag(f).value for f in item_flags})
    await session.flush()
    return variant


async def set_warehouse_address(
    session: AsyncSession, warehouse_id: int, address: Mapping[str, Any]
) -> Warehouse:
    """The ship-from address carriers are given for a warehouse."""
    warehouse = await session.scalar(select(Warehouse).where(Warehouse.id == warehouse_id).with_for_update())
    if warehouse is None:
        raise UserError("no such warehouse", field="id", code="NOT_FOUND")
    unknown = set(address) - set(ADDRESS_KEYS)
    if unknown:
        raise UserError(f"unknown address fields {sorted(unknown)}", field="address", code="INVALID")
    clean = {
        k: non_empty(str(v), f"address.{k}", max_length=128)
        for k, v in address.items()
        if v not in (None, "")
    }
    if "country" in clean:
        clean["country"] = country_code(clean["country"], "address.country")
        if clean["country"] != warehouse.country:
            raise UserError("the address is in another country than the warehouse", field="address.country")
    for required in ("line1", "city"):
        if required not in clean:
            raise UserError(
                f"a ship-from address needs {required}", field=f"address.{required}", code="REQUIRED"
            )
    warehouse.address = clean
    await session.flush()
    return warehouse
