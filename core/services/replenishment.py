"""Replenishment: when to reorder a SKU in a warehouse, how much, and what to move between
warehouses instead. Pure arithmetic: the caller brings the forecast, stock and terms.

Figures, per SKU and warehouse (``d`` mean daily demand, ``sd`` its standard deviation,
``LT`` and ``sLT`` the lead time's mean and standard deviation in days, ``R`` the review
period, ``z`` the service level's standard normal quantile):

* safety stock ``SS = z·√(LT·sd² + d²·sLT²)``: the standard formula for independent normal
  daily demand and lead time (``LT·sd² + d²·sLT²`` is the variance of the demand over a
  random lead time; e.g. Silver, Pyke & Thomas, *Inventory and Production Management in
  Supply Chains*; Chopra & Meindl, *Supply Chain Management*, safety inventory with lead
  time uncertainty). With a review period the root keeps ``LT``: ``R`` adds to the mean only.
* reorder point ``ROP = d·(LT + R) + SS``; order-up-to level ``S = ROP + d·order_cycle_days``.
* inventory position ``IP = on hand + on order - reserved`` (reserved includes backorders).
* days of cover ``IP / d``; ``None`` when ``d = 0`` (no demand: cover is unbounded).

Quantities are floats while they are statistics (z is a float) and whole units once they
are stock or an order; money is :class:`~crossdock.money.Money` (Decimal).

Rules where there was a choice:

* reorder now when ``IP < ROP`` (strictly: at zero demand and zero stock nothing is due).
* order date: today when ``IP < ROP``, else the first day whose start-of-day projected
  position (``IP`` minus the forecast demand of the days before; receipts are already in
  ``IP``) falls below ``ROP``. No lead time is subtracted: ``ROP`` already holds the demand
  over the lead time. ``None`` when that does not happen within the horizon.
* order quantity, for that date: ``S`` minus the position then, rounded up to whole units,
  then up to the case pack, then up to the MOQ (itself rounded up to the case pack), then
  up to a higher price break (its threshold rounded up to the case pack) when that costs no
  more in total, or, with ``price_break_days`` set, when its extra units cover at most that
  many days of ``d``. Of the acceptable breaks the highest (lowest unit price) is taken.
* stock-out: walk the per-day forecast from today (day 0) starting with ``on hand -
  reserved``; each day first receives the open orders expected that day (overdue ones on
  day 0), then loses the day's demand; the stock-out date is the first day the stock goes
  below zero (a day whose demand cannot be met in full). Without a per-day forecast ``d``
  is used for ``horizon_days`` days.
* overstock when ``IP > max(S, d·overstock_days)``: never what the plan itself orders up
  to (at zero demand, anything above the safety stock).
* a plan's ``reasons``: its conditions, then the sizing steps of its order (one dated later
  too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from statistics import NormalDist

from crossdock.errors import UserError
from crossdock.money import Money, validate_currency

__all__ = [
    "Demand",
    "Lane",
    "LeadTime",
    "OpenOrder",
    "OrderSuggestion",
    "Policy",
    "PriceBreak",
    "Reason",
    "ReplenishmentPlan",
    "Stock",
    "SupplierTerms",
    "Transfer",
    "days_of_cover",
    "inventory_position",
    "plan_replenishment",
    "project_stockout",
    "reorder_point",
    "safety_stock",
    "service_z",
    "size_order",
    "suggest_transfers",
]

#: Float noise below this is dropped before rounding a quantity up to whole units.
_EPSILON = 1e-9


class Reason(StrEnum):
    """Why a plan says what it says."""

    BELOW_REORDER_POINT = "BELOW_REORDER_POINT"  #: position below the reorder point now
    STOCKOUT_PROJECTED = "STOCKOUT_PROJECTED"  #: the stock runs out within the horizon
    OVERSTOCK = "OVERSTOCK"  #: position above ``max(S, d·overstock_days)``
    NO_DEMAND = "NO_DEMAND"  #: mean daily demand is zero: no cover, no order-up-to demand
    MOQ_APPLIED = "MOQ_APPLIED"  #: the order was raised to the supplier's minimum
    CASE_PACK_ROUNDED = "CASE_PACK_ROUNDED"  #: the order was rounded up to whole cases
    PRICE_BREAK_TAKEN = "PRICE_BREAK_TAKEN"  #: the order was raised to a cheaper price break


@dataclass(frozen=True, slots=True)
class Demand:
    """Forecast demand per day: mean, standard deviation, optionally each day's mean from
    today (``daily[0]`` is today's), which sets the projection's horizon."""

    mean: float
    std_dev: float
    daily: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class LeadTime:
    """Supplier lead time in days."""

    mean: float
    std_dev: float = 0.0


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """Units on an open purchase order (or inbound transfer), expected on ``expected``."""

    quantity: int
    expected: date


@dataclass(frozen=True, slots=True)
class Stock:
    """Stock of one SKU in one warehouse; ``reserved`` includes backorders."""

    on_hand: int
    reserved: int = 0
    on_order: tuple[OpenOrder, ...] = ()


@dataclass(frozen=True, slots=True)
class PriceBreak:
    """From ``min_quantity`` units up, each costs ``unit_price`` (the terms' currency)."""

    min_quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class SupplierTerms:
    """A supplier's terms: price breaks by ascending threshold, the first at or below the MOQ."""

    currency: str
    price_breaks: tuple[PriceBreak, ...]
    moq: int = 1
    case_pack: int = 1


@dataclass(frozen=True, slots=True)
class Policy:
    """Planning settings (see the module's rules)."""

    service_level: float = 0.95
    review_days: float = 0.0  #: 0: continuous review
    order_cycle_days: float = 14.0  #: ``S = ROP + d·order_cycle_days``
    overstock_days: float = 90.0
    horizon_days: int = 90  #: projection length when the demand has no per-day forecast
    #: also take a price break whose extra units cover at most this many days of demand
    price_break_days: float | None = None


@dataclass(frozen=True, slots=True)
class OrderSuggestion:
    """A sized order: whole units, unit price and total (rounded to the currency)."""

    quantity: int
    unit_price: Money
    total: Money
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class ReplenishmentPlan:
    """Every figure for one SKU in one warehouse on ``today``."""

    sku: str
    warehouse: str
    today: date
    z: float
    safety_stock: float
    reorder_point: float
    order_up_to: float
    lead_time_days: float
    on_hand: int
    on_order: int
    reserved: int
    position: int
    days_of_cover: float | None
    stockout_date: date | None
    reorder_now: bool
    order_date: date | None
    #: the order to place on ``order_date`` (``None`` when there is no such date)
    order: OrderSuggestion | None
    overstock: bool
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def available(self) -> int:
        """Units on hand not reserved (negative with backorders)."""
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Lane:
    """Moving stock from one warehouse to another: days in transit, optional cost per unit."""

    transit_days: int
    unit_cost: Money | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move ``quantity`` units of ``sku`` from ``source`` to ``destination``."""

    sku: str
    source: str
    destination: str
    quantity: int
    ship_date: date
    arrival: date


# --------------------------------------------------------------------------- validation


def _check(value: float, name: str, *, minimum: float = 0.0, strict: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not math.isfinite(value)
        or value < minimum
        or (strict and value == minimum)
    ):
        bound = f"above {minimum:g}" if strict else f"at least {minimum:g}"
        raise UserError(f"{name} must be {bound}, not {value!r}", field=name, code="OUT_OF_RANGE")


def _check_int(value: int, name: str, *, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number of units, not {value!r}", field=name, code="INVALID")
    _check(value, name, minimum=minimum)


def _check_terms(terms: SupplierTerms) -> None:
    validate_currency(terms.currency)
    _check_int(terms.moq, "moq", minimum=1)
    _check_int(terms.case_pack, "casePack", minimum=1)
    if not terms.price_breaks:
        raise UserError("the terms need at least one price break", field="priceBreaks", code="INVALID")
    previous: PriceBreak | None = None
    for i, pb in enumerate(terms.price_breaks):
        name = f"priceBreaks.{i}"
        _check_int(pb.min_quantity, f"{name}.minQuantity", minimum=1)
        if not isinstance(pb.unit_price, Decimal) or not pb.unit_price.is_finite() or pb.unit_price <= 0:
            raise UserError(
                f"a unit price must be a positive Decimal, not {pb.unit_price!r}",
                field=f"{name}.unitPrice",
                code="OUT_OF_RANGE",
            )
        if previous is not None:
            if pb.min_quantity <= previous.min_quantity:
                raise UserError("price breaks must have ascending thresholds", field=name, code="INVALID")
            if pb.unit_price > previous.unit_price:
                raise UserError("a higher price break cannot cost more per unit", field=name, code="INVALID")
        previous = pb
    if terms.price_breaks[0].min_quantity > terms.moq:
        raise UserError(
            "the first price break must start at or below the MOQ (no price for smaller orders)",
            field="priceBreaks.0.minQuantity",
            code="INVALID",
        )


def _check_policy(policy: Policy) -> None:
    level = policy.service_level
    if isinstance(level, bool) or not math.isfinite(level) or not 0.5 < level <= 0.9999:
        raise UserError(
            f"the service level must be above 0.5 and at most 0.9999, not {level!r}",
            field="serviceLevel",
            code="OUT_OF_RANGE",
        )
    _check(policy.review_days, "reviewDays")
    _check(policy.order_cycle_days, "orderCycleDays")
    _check(policy.overstock_days, "overstockDays")
    _check_int(policy.horizon_days, "horizonDays", minimum=1)
    if policy.price_break_days is not None:
        _check(policy.price_break_days, "priceBreakDays")


def _check_inputs(demand: Demand, lead_time: LeadTime, stock: Stock) -> None:
    _check(demand.mean, "demand.mean")
    _check(demand.std_dev, "demand.stdDev")
    for i, day in enumerate(demand.daily):
        _check(day, f"demand.daily.{i}")
    _check(lead_time.mean, "leadTime.mean", strict=True)
    _check(lead_time.std_dev, "leadTime.stdDev")
    _check_int(stock.on_hand, "onHand")
    _check_int(stock.reserved, "reserved")
    for i, po in enumerate(stock.on_order):
        _check_int(po.quantity, f"onOrder.{i}.quantity")


# --------------------------------------------------------------------------- figures


def service_z(service_level: float) -> float:
    """The standard normal quantile of a service level (0.95 → 1.6449)."""
    _check_policy(Policy(service_level=service_level))
    return NormalDist().inv_cdf(service_level)


def safety_stock(demand: Demand, lead_time: LeadTime, z: float) -> float:
    """``z·√(LT·sd² + d²·sLT²)`` (see the module docstring for the source)."""
    variance = lead_time.mean * demand.std_dev**2 + demand.mean**2 * lead_time.std_dev**2
    return z * math.sqrt(variance)


def reorder_point(demand: Demand, lead_time: LeadTime, z: float, review_days: float = 0.0) -> float:
    """``d·(LT + R) + SS``."""
    return demand.mean * (lead_time.mean + review_days) + safety_stock(demand, lead_time, z)


def inventory_position(stock: Stock) -> int:
    """On hand + on order - reserved."""
    return stock.on_hand + sum(po.quantity for po in stock.on_order) - stock.reserved


def days_of_cover(position: float, mean_demand: float) -> float | None:
    """``position / d``; ``None`` when there is no demand (cover is unbounded)."""
    return None if mean_demand == 0 else position / mean_demand


def _daily(demand: Demand, horizon_days: int) -> tuple[float, ...]:
    return demand.daily or (demand.mean,) * horizon_days


def project_stockout(today: date, stock: Stock, daily: Sequence[float]) -> date | None:
    """The first day, from ``today`` (``daily[0]``), whose demand the stock cannot meet in
    full, receiving open orders on their expected day (overdue ones today) before that
    day's demand; ``None`` if the stock lasts through ``daily``."""
    incoming: dict[int, int] = {}
    for po in stock.on_order:
        day = max((po.expected - today).days, 0)
        incoming[day] = incoming.get(day, 0) + po.quantity
    level = float(stock.on_hand - stock.reserved)
    for day, need in enumerate(daily):
        level += incoming.get(day, 0) - need
        if level < -_EPSILON:
            return today + timedelta(days=day)
    return None


def _whole(quantity: float) -> int:
    return max(math.ceil(quantity - _EPSILON), 0)


def _up_to(quantity: int, pack: int) -> int:
    return -(-quantity // pack) * pack


def _unit_price(terms: SupplierTerms, quantity: int) -> Decimal:
    return [pb.unit_price for pb in terms.price_breaks if pb.min_quantity <= quantity][-1]


def size_order(
    need: float, terms: SupplierTerms, *, mean_demand: float = 0.0, price_break_days: float | None = None
) -> OrderSuggestion | None:
    """Round ``need`` units into an order the supplier takes (case pack, MOQ, price breaks:
    see the module's rules); ``None`` when nothing is needed."""
    _check_terms(terms)
    _check(need, "need", minimum=-math.inf)
    raw = _whole(need)
    if raw == 0:
        return None
    reasons: list[Reason] = []
    quantity = _up_to(raw, terms.case_pack)
    if quantity != raw:
        reasons.append(Reason.CASE_PACK_ROUNDED)
    moq = _up_to(terms.moq, terms.case_pack)
    if quantity < moq:
        quantity = moq
        reasons.append(Reason.MOQ_APPLIED)
    total = _unit_price(terms, quantity) * quantity
    best = quantity
    for pb in terms.price_breaks:
        candidate = _up_to(pb.min_quantity, terms.case_pack)
        if candidate <= quantity:
            continue
        no_dearer = _unit_price(terms, candidate) * candidate <= total
        within = price_break_days is not None and candidate - quantity <= mean_demand * price_break_days
        if no_dearer or within:
            best = candidate  # ascending thresholds: the last acceptable is the cheapest per unit
    if best != quantity:
        quantity = best
        reasons.append(Reason.PRICE_BREAK_TAKEN)
    unit = _unit_price(terms, quantity)
    return OrderSuggestion(
        quantity=quantity,
        unit_price=Money(unit, terms.currency),
        total=Money(unit * quantity, terms.currency).rounded(),
        reasons=tuple(reasons),
    )


def plan_replenishment(
    *,
    sku: str,
    warehouse: str,
    today: date,
    demand: Demand,
    lead_time: LeadTime,
    stock: Stock,
    terms: SupplierTerms,
    policy: Policy | None = None,
) -> ReplenishmentPlan:
    """All the figures for one SKU in one warehouse (the rules are the module's)."""
    policy = policy or Policy()
    _check_policy(policy)
    _check_inputs(demand, lead_time, stock)
    _check_terms(terms)
    z = NormalDist().inv_cdf(policy.service_level)
    ss = safety_stock(demand, lead_time, z)
    rop = demand.mean * (lead_time.mean + policy.review_days) + ss
    order_up_to = rop + demand.mean * policy.order_cycle_days
    position = inventory_position(stock)
    daily = _daily(demand, policy.horizon_days)
    stockout = project_stockout(today, stock, daily)

    order_date: date | None = None
    projected = float(position)
    for day, need in enumerate(daily):
        if projected < rop - _EPSILON:
            order_date = today + timedelta(days=day)
            break
        projected -= need
    order = None
    if order_date is not None:
        order = size_order(
            order_up_to - projected,
            terms,
            mean_demand=demand.mean,
            price_break_days=policy.price_break_days,
        )
    reorder_now = order_date == today
    overstock = position > max(order_up_to, demand.mean * policy.overstock_days)

    reasons: list[Reason] = []
    if reorder_now:
        reasons.append(Reason.BELOW_REORDER_POINT)
    if stockout is not None:
        reasons.append(Reason.STOCKOUT_PROJECTED)
    if overstock:
        reasons.append(Reason.OVERSTOCK)
    if demand.mean == 0:
        reasons.append(Reason.NO_DEMAND)
    if order is not None:
        reasons.extend(order.reasons)
    return ReplenishmentPlan(
        sku=sku,
        warehouse=warehouse,
        today=today,
        z=z,
        safety_stock=ss,
        reorder_point=rop,
        order_up_to=order_up_to,
        lead_time_days=lead_time.mean,
        on_hand=stock.on_hand,
        on_order=sum(po.quantity for po in stock.on_order),
        reserved=stock.reserved,
        position=position,
        days_of_cover=days_of_cover(position, demand.mean),
        stockout_date=stockout,
        reorder_now=reorder_now,
        order_date=order_date,
        order=order,
        overstock=overstock,
        reasons=tuple(reasons),
    )


# --------------------------------------------------------------------------- transfers


def suggest_transfers(
    plans: Sequence[ReplenishmentPlan], lanes: Mapping[tuple[str, str], Lane]
) -> tuple[Transfer, ...]:
    """Transfers of one SKU from warehouses with stock above their order-up-to level to
    those below their reorder point, instead of (part of) their orders.

    A warehouse gives at most ``min(position - S, on hand - reserved)`` units (whole ones:
    never what it needs itself, never stock still on order). A warehouse below ``ROP`` is
    offered at most ``S - position`` units. A lane ``(source, destination)`` qualifies when
    it is faster than ordering (``transit_days < LT`` of the destination), arrives no later
    than the destination's projected stock-out day (receipts come before that day's demand),
    and, when it has a unit cost, costs less per unit than the destination's order would.
    Destinations are served earliest stock-out first (none last), then largest shortfall;
    each from its fastest qualifying source first, then the one with most to give. Ship date
    is the plans' ``today``. Plan again after transferring: orders do not shrink here.
    """
    if not plans:
        return ()
    sku, today = plans[0].sku, plans[0].today
    if any(p.sku != sku for p in plans):
        raise UserError("transfers are planned for one SKU at a time", field="plans", code="INVALID")
    if any(p.today != today for p in plans):
        raise UserError("the plans must all be made for the same day", field="plans", code="INVALID")
    for (source, destination), given in lanes.items():
        _check_int(given.transit_days, f"lanes.{source}.{destination}.transitDays")
        if given.unit_cost is not None and given.unit_cost.amount < 0:
            raise UserError(
                "a lane's unit cost cannot be negative",
                field=f"lanes.{source}.{destination}.unitCost",
                code="OUT_OF_RANGE",
            )

    spare = {p.warehouse: min(math.floor(p.position - p.order_up_to + _EPSILON), p.available) for p in plans}
    wanting = [p for p in plans if p.reorder_now]
    wanting.sort(key=lambda p: (p.stockout_date or date.max, -(p.order_up_to - p.position), p.warehouse))
    transfers: list[Transfer] = []
    for target in wanting:
        short = _whole(target.order_up_to - target.position)
        sources: list[tuple[int, int, str]] = []
        for p in plans:
            lane = lanes.get((p.warehouse, target.warehouse))
            if p.warehouse == target.warehouse or lane is None or spare[p.warehouse] <= 0:
                continue
            arrival = today + timedelta(days=lane.transit_days)
            if lane.transit_days >= target.lead_time_days:
                continue
            if target.stockout_date is not None and arrival > target.stockout_date:
                continue
            if lane.unit_cost is not None and target.order is not None:
                price = target.order.unit_price
                if lane.unit_cost.currency != price.currency:
                    raise UserError(
                        f"the lane's cost is in {lane.unit_cost.currency}, the order in {price.currency}",
                        field=f"lanes.{p.warehouse}.{target.warehouse}.unitCost",
                        code="INVALID",
                    )
                if lane.unit_cost.amount >= price.amount:
                    continue
            sources.append((lane.transit_days, -spare[p.warehouse], p.warehouse))
        for transit, _, source in sorted(sources):
            if short <= 0:
                break
            quantity = min(short, spare[source])
            spare[source] -= quantity
            short -= quantity
            transfers.append(
                Transfer(
                    sku=sku,
                    source=source,
                    destination=target.warehouse,
                    quantity=quantity,
                    ship_date=today,
                    arrival=today + timedelta(days=transit),
                )
            )
    return tuple(transfers)
