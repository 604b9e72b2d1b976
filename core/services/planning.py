"""Planning: each variant's demand in each warehouse forecast from its own history, and the
replenishment plan that follows (:mod:`crossdock.services.forecast`,
:mod:`crossdock.services.replenishment`), kept in ``replenishment_plans`` and turned into
draft purchase orders in one action.

**Demand history** per variant and warehouse, one value per UTC day over
:data:`HISTORY_DAYS`: the units reserved that day (an order allocated to the warehouse is
demand on the day it came, whenever it ships). A day that ended with nothing available
(on hand minus reserved, rebuilt from the stock ledger) is a stock-out day, whose demand
is unknown rather than zero; a day a promotion ran on one of the variant's listings is a
promotion day. The forecast treats both as such.

**What is planned**: every variant and warehouse with stock or stock on order, whose
variant a supplier sells with prices (the supplier item with the lowest first price;
lead time from the item, else the supplier). The plan's figures, its suggested order and
the forecast's daily means are stored, replacing the previous plan. Stock on order is what
open purchase orders still bring and what transfers (inbound shipments) have on the way,
each on the day it is due. The demand is split by sales channel in the proportions each
channel's orders took of the history (top-down: the channels' shares of the variant's
units reserved in that warehouse), so a console can show what each shop will need. Where
transit lanes join the variant's warehouses, the transfers that cover a warehouse below its
reorder point from one above its order-up-to level sooner (and cheaper) than ordering are
stored on the receiving warehouse's plan
(:func:`crossdock.services.replenishment.suggest_transfers`). A plan newly due
(``reorder_now``) emits ``reorder.due``; a stock-out newly projected emits
``stockout.projected``; neither repeats while the condition lasts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import Database, utcnow
from crossdock.db.models import (
    Allocation,
    Connection,
    InboundShipment,
    InboundShipmentLine,
    Listing,
    Order,
    Promotion,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    ReplenishmentPlanRow,
    StockLedgerEntry,
    StockLevel,
    StockReason,
    Supplier,
    SupplierItem,
    Transfer,
    TransferStatus,
    TransitLane,
    Variant,
    Warehouse,
)
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.services import forecast as forecasting
from crossdock.services import purchasing
from crossdock.services import replenishment as rp
from crossdock.services.events import emit
from crossdock.services.uow import UnitOfWork, UnitsOfWork

__all__ = [
    "HISTORY_DAYS",
    "HORIZON_DAYS",
    "Inputs",
    "draft_purchase_orders",
    "forecast_all",
    "gather",
    "plan_tenant",
    "store",
]

log = logging.getLogger(__name__)

HISTORY_DAYS = 364
HORIZON_DAYS = 56
_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class _Source:
    supplier: Supplier
    item: SupplierItem


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


async def _sources(session: AsyncSession) -> dict[int, _Source]:
    """Per variant, the supplier item it is bought from: the lowest first price, then the
    lowest supplier id; suppliers archived and items without prices are left out."""
    rows = (
        await session.execute(
            select(SupplierItem, Supplier)
            .join(Supplier, Supplier.id == SupplierItem.supplier_id)
            .where(Supplier.archived_at.is_(None))
            .order_by(SupplierItem.supplier_id)
        )
    ).all()
    best: dict[int, tuple[Decimal, _Source]] = {}
    for item, supplier in rows:
        if not item.price_breaks:
            continue
        first = Decimal(str(item.price_breaks[0]["unit_price"]))
        if item.variant_id not in best or first < best[item.variant_id][0]:
            best[item.variant_id] = (first, _Source(supplier, item))
    return {v: s for v, (_, s) in best.items()}


async def _histories(
    session: AsyncSession, pairs: Sequence[tuple[int, int]], today: date
) -> dict[tuple[int, int], forecasting.DemandHistory]:
    start = today - timedelta(days=HISTORY_DAYS)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    wanted = set(pairs)
    variants = {v for v, _ in pairs}
    levels = {
        (lv.variant_id, lv.warehouse_id): lv.on_hand - lv.reserved
        for lv in (await session.scalars(select(StockLevel).where(StockLevel.variant_id.in_(variants)))).all()
    }
    demand: dict[tuple[int, int], list[float]] = {p: [0.0] * HISTORY_DAYS for p in pairs}
    change: dict[tuple[int, int], list[int]] = {p: [0] * (HISTORY_DAYS + 1) for p in pairs}
    ledger = await session.execute(
        select(
            StockLedgerEntry.variant_id,
            StockLedgerEntry.warehouse_id,
            StockLedgerEntry.delta_on_hand,
            StockLedgerEntry.delta_reserved,
            StockLedgerEntry.reason,
            StockLedgerEntry.created_at,
        ).where(StockLedgerEntry.variant_id.in_(variants), StockLedgerEntry.created_at >= since)
    )
    for variant_id, warehouse_id, on_hand, reserved, reason, at in ledger.all():
        pair = (variant_id, warehouse_id)
        if pair not in wanted:
            continue
        index = min((_day(at) - start).days, HISTORY_DAYS)
        change[pair][index] += on_hand - reserved
        if reason == StockReason.RESERVATION and reserved > 0 and index < HISTORY_DAYS:
            demand[pair][index] += reserved
    promoted: dict[int, set[int]] = defaultdict(set)
    listings = {
        lid: vid for lid, vid in (await session.execute(select(Listing.id, Listing.variant_id))).all() if vid
    }
    for promo in (
        await session.scalars(
            select(Promotion).where(Promotion.cancelled_at.is_(None), Promotion.ends_at >= since)
        )
    ).all():
        for listing_id in promo.listing_ids or []:
            variant = listings.get(listing_id)
            if variant in variants:
                first, last = max(_day(promo.starts_at), start), min(_day(promo.ends_at), today)
                for offset in range((first - start).days, (last - start).days + 1):
                    if 0 <= offset < HISTORY_DAYS:
                        promoted[variant].add(offset)
    found: dict[tuple[int, int], forecasting.DemandHistory] = {}
    for pair in pairs:
        # available at the end of each day, walking back from now through the ledger
        available = levels.get(pair, 0) - change[pair][HISTORY_DAYS]
        out = [False] * HISTORY_DAYS
        for index in range(HISTORY_DAYS - 1, -1, -1):
            out[index] = available <= 0
            available -= change[pair][index]
        found[pair] = forecasting.DemandHistory(
            key=f"{pair[0]}@{pair[1]}",
            start=start,
            units=demand[pair],
            stockout=out,
            promotion=[i in promoted[pair[0]] for i in range(HISTORY_DAYS)],
        )
    return found


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(_PLACES)


@dataclass(frozen=True)
class Inputs:
    """What a plan is made from, read in one go (see :func:`gather`)."""

    today: date
    pairs: list[tuple[int, int]]
    sources: dict[int, _Source]
    histories: dict[tuple[int, int], forecasting.DemandHistory]
    on_order: dict[tuple[int, int], list[rp.OpenOrder]]
    levels: dict[tuple[int, int], tuple[int, int]]
    skus: dict[int, str]
    codes: dict[int, str]
    #: per pair, units reserved over the history by connection id
    channel_units: dict[tuple[int, int], dict[int, int]]
    #: connection id -> (channel, name)
    connections: dict[int, tuple[str, str]]
    #: (from warehouse id, to warehouse id) -> lane
    lanes: dict[tuple[int, int], rp.Lane]


async def gather(session: AsyncSession, today: date) -> Inputs:
    """Read what the tenant's plans need: the variants bought from a supplier, their stock
    and stock on order per warehouse, and their demand histories."""
    sources = await _sources(session)
    variants = list(sources)
    levels = {
        (lv.variant_id, lv.warehouse_id): (lv.on_hand, lv.reserved)
        for lv in (await session.scalars(select(StockLevel).where(StockLevel.variant_id.in_(variants)))).all()
    }
    on_order: dict[tuple[int, int], list[rp.OpenOrder]] = defaultdict(list)
    for o in await purchasing.stock_on_order(session):
        if o.variant_id in sources:
            on_order[(o.variant_id, o.warehouse_id)].append(
                rp.OpenOrder(o.quantity, o.next_expected_on or today)
            )
    for variant_id, warehouse_id, quantity, expected in await _in_transit(session, variants):
        on_order[(variant_id, warehouse_id)].append(rp.OpenOrder(quantity, max(expected or today, today)))
    pairs = sorted(set(levels) | set(on_order))
    return Inputs(
        today=today,
        pairs=pairs,
        sources=sources,
        histories=await _histories(session, pairs, today) if pairs else {},
        on_order=on_order,
        levels=levels,
        skus=dict((await session.execute(select(Variant.id, Variant.sku))).all()),  # type: ignore[arg-type]
        codes=dict((await session.execute(select(Warehouse.id, Warehouse.code))).all()),  # type: ignore[arg-type]
        channel_units=await _channel_units(session, variants, today) if pairs else {},
        connections={
            cid: (channel, name)
            for cid, channel, name in (
                await session.execute(select(Connection.id, Connection.channel, Connection.name))
            ).all()
        },
        lanes={
            (lane.from_warehouse_id, lane.to_warehouse_id): rp.Lane(
                lane.transit_days,
                Money(lane.unit_cost, lane.currency)
                if lane.unit_cost is not None and lane.currency
                else None,
            )
            for lane in (await session.scalars(select(TransitLane))).all()
        },
    )


async def _in_transit(
    session: AsyncSession, variants: Sequence[int]
) -> list[tuple[int, int, int, date | None]]:
    """Transfers on their way, per variant and destination, with the day their inbound
    shipment is due (none for a transfer without one)."""
    rows = await session.execute(
        select(Transfer.variant_id, Transfer.to_warehouse_id, Transfer.quantity, InboundShipment.expected_on)
        .outerjoin(InboundShipmentLine, InboundShipmentLine.transfer_id == Transfer.id)
        .outerjoin(InboundShipment, InboundShipment.id == InboundShipmentLine.shipment_id)
        .where(Transfer.status == TransferStatus.IN_TRANSIT, Transfer.variant_id.in_(list(variants)))
    )
    return [(v, w, int(q), e) for v, w, q, e in rows.all()]


async def _channel_units(
    session: AsyncSession, variants: Sequence[int], today: date
) -> dict[tuple[int, int], dict[int, int]]:
    start = today - timedelta(days=HISTORY_DAYS)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    rows = await session.execute(
        select(
            Allocation.variant_id, Allocation.warehouse_id, Order.connection_id, func.sum(Allocation.quantity)
        )
        .join(Order, Order.id == Allocation.order_id)
        .where(Allocation.variant_id.in_(list(variants)), Allocation.created_at >= since)
        .group_by(Allocation.variant_id, Allocation.warehouse_id, Order.connection_id)
    )
    found: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for variant_id, warehouse_id, connection_id, units in rows.all():
        found[(variant_id, warehouse_id)][connection_id] = int(units or 0)
    return dict(found)


def _channels(inputs: Inputs, pair: tuple[int, int], mean: float) -> list[dict[str, object]]:
    """The pair's daily demand split by the channels' shares of its history."""
    units = inputs.channel_units.get(pair, {})
    total = sum(units.values())
    if total <= 0:
        return []
    split: list[dict[str, object]] = []
    for connection_id, count in sorted(units.items(), key=lambda item: (-item[1], item[0])):
        channel, name = inputs.connections.get(connection_id, ("", ""))
        share = Decimal(count) / Decimal(total)
        split.append(
            {
                "connection_id": connection_id,
                "channel": channel,
                "name": name,
                "units": count,
                "share": str(share.quantize(_PLACES)),
                "mean_daily": str((share * Decimal(repr(mean))).quantize(_PLACES)),
            }
        )
    return split


def forecast_all(inputs: Inputs) -> dict[tuple[int, int], forecasting.Forecast]:
    """The forecasts of every pair (CPU-bound: run it off the event loop)."""
    if not inputs.pairs:
        return {}
    made = forecasting.forecast([inputs.histories[p] for p in inputs.pairs], horizon=HORIZON_DAYS)
    by_key = {f.key: f for f in made}
    return {p: by_key[inputs.histories[p].key] for p in inputs.pairs}


async def plan_tenant(
    db: Database,
    units: UnitsOfWork,
    tenant_id: int,
    slug: str | None,
    *,
    today: date | None = None,
    policy: rp.Policy | None = None,
) -> int:
    """Plan one tenant: read, forecast off the event loop and outside any transaction,
    then store the plans in one. Returns how many were made."""
    day = today or _day(utcnow())
    async with db.tenant(tenant_id, slug) as session:
        inputs = await gather(session, day)
    forecasts = await asyncio.to_thread(forecast_all, inputs)
    async with units(tenant_id, slug) as uow:
        return await store(uow, inputs, forecasts, policy)


async def store(
    uow: UnitOfWork,
    inputs: Inputs,
    forecasts: dict[tuple[int, int], forecasting.Forecast],
    policy: rp.Policy | None = None,
) -> int:
    """Make each pair's plan from its forecast and store it, replacing the previous one;
    ``reorder.due`` and ``stockout.projected`` when newly so."""
    session = uow.session
    today = inputs.today
    previous = {
        (r.variant_id, r.warehouse_id): r
        for r in (await session.scalars(select(ReplenishmentPlanRow).with_for_update())).all()
    }
    made = 0
    results: dict[int, list[tuple[int, rp.ReplenishmentPlan, ReplenishmentPlanRow]]] = defaultdict(list)
    for pair in inputs.pairs:
        source = inputs.sources[pair[0]]
        item, supplier = source.item, source.supplier
        fc = forecasts[pair]
        on_hand, reserved = inputs.levels.get(pair, (0, 0))
        if item.lead_time_days is not None:
            lead, spread = item.lead_time_days, item.lead_time_sd_days or Decimal(0)
        else:
            lead, spread = supplier.lead_time_days, supplier.lead_time_sd_days
        mean = sum(fc.mean) / len(fc.mean) if fc.mean else 0.0
        try:
            result = rp.plan_replenishment(
                sku=inputs.skus.get(pair[0], str(pair[0])),
                warehouse=inputs.codes.get(pair[1], str(pair[1])),
                today=today,
                demand=rp.Demand(mean=mean, std_dev=fc.sigma, daily=fc.mean),
                lead_time=rp.LeadTime(float(lead), float(spread)),
                stock=rp.Stock(
                    on_hand=on_hand, reserved=reserved, on_order=tuple(inputs.on_order.get(pair, ()))
                ),
                terms=rp.SupplierTerms(
                    currency=supplier.currency,
                    price_breaks=tuple(
                        rp.PriceBreak(int(b["min_quantity"]), Decimal(str(b["unit_price"])))
                        for b in item.price_breaks
                    ),
                    moq=item.moq,
                    case_pack=item.case_pack,
                ),
                policy=policy,
            )
        except UserError as exc:  # terms the plan cannot use (a first break above the MOQ …)
            log.warning("no plan for variant %s in warehouse %s: %s", pair[0], pair[1], exc.message)
            continue
        row = previous.get(pair)
        was_due = row is not None and row.reorder_now
        had_stockout = row is not None and row.stockout_on is not None
        if row is None:
            row = ReplenishmentPlanRow(variant_id=pair[0], warehouse_id=pair[1])
            session.add(row)
        row.supplier_id = supplier.id
        row.planned_on = today
        row.demand_class = str(fc.demand_class)
        row.method = fc.method
        row.mean_daily = _decimal(mean) or Decimal(0)
        row.sigma_daily = _decimal(fc.sigma) or Decimal(0)
        row.lead_time_days = _decimal(result.lead_time_days) or Decimal(0)
        row.safety_stock = _decimal(result.safety_stock) or Decimal(0)
        row.reorder_point = _decimal(result.reorder_point) or Decimal(0)
        row.order_up_to = _decimal(result.order_up_to) or Decimal(0)
        row.on_hand, row.reserved, row.on_order = result.on_hand, result.reserved, result.on_order
        row.position = result.position
        row.days_of_cover = _decimal(result.days_of_cover)
        row.stockout_on = result.stockout_date
        row.reorder_now = result.reorder_now
        row.order_on = result.order_date
        row.order_quantity = result.order.quantity if result.order else None
        row.unit_price = result.order.unit_price.amount if result.order else None
        row.currency = supplier.currency
        row.overstock = result.overstock
        row.reasons = [str(r) for r in result.reasons]
        row.forecast = [round(x, 4) for x in fc.mean]
        row.channels = _channels(inputs, pair, mean)
        row.transfers = []
        row.computed_at = utcnow()
        results[pair[0]].append((pair[1], result, row))
        await session.flush()
        subject = f"ReplenishmentPlan:{row.id}"
        if row.reorder_now and not was_due:
            emit(
                session,
                "reorder.due",
                subject,
                sku=result.sku,
                warehouse=result.warehouse,
                quantity=row.order_quantity,
            )
        if row.stockout_on is not None and not had_stockout:
            emit(
                session,
                "stockout.projected",
                subject,
                sku=result.sku,
                warehouse=result.warehouse,
                on=row.stockout_on.isoformat(),
            )
        made += 1
    _suggest_transfers(inputs, results)
    await session.flush()
    return made


def _suggest_transfers(
    inputs: Inputs, results: dict[int, list[tuple[int, rp.ReplenishmentPlan, ReplenishmentPlanRow]]]
) -> None:
    """Along the tenant's lanes, the transfers that cover each variant's warehouses below
    their reorder point from those with more than they need, on the receiving plan."""
    if not inputs.lanes:
        return
    ids = {code: wid for wid, code in inputs.codes.items()}
    lanes = {
        (inputs.codes[a], inputs.codes[b]): lane
        for (a, b), lane in inputs.lanes.items()
        if a in inputs.codes and b in inputs.codes
    }
    for made in results.values():
        if len(made) < 2:
            continue
        rows = {warehouse_id: row for warehouse_id, _, row in made}
        try:
            moves = rp.suggest_transfers([result for _, result, _ in made], lanes)
        except UserError as exc:  # a lane costed in another currency than the orders
            log.warning("no transfers for %s: %s", made[0][1].sku, exc.message)
            continue
        for move in moves:
            target = rows.get(ids[move.destination])
            if target is None:
                continue
            target.transfers = [
                *target.transfers,
                {
                    "from_warehouse_id": ids[move.source],
                    "quantity": move.quantity,
                    "ship_on": move.ship_date.isoformat(),
                    "arrive_on": move.arrival.isoformat(),
                },
            ]


async def draft_purchase_orders(uow: UnitOfWork, *, warehouse_id: int | None = None) -> list[PurchaseOrder]:
    """Draft purchase orders, one per supplier and warehouse, for every plan due now (its
    suggested quantity at the supplier's price for it); a plan is drafted once (its order
    is then on order once sent, and a draft already holding the variant is not doubled)."""
    session = uow.session
    stmt = select(ReplenishmentPlanRow).where(
        ReplenishmentPlanRow.reorder_now.is_(True),
        ReplenishmentPlanRow.order_quantity.is_not(None),
        ReplenishmentPlanRow.supplier_id.is_not(None),
    )
    if warehouse_id is not None:
        stmt = stmt.where(ReplenishmentPlanRow.warehouse_id == warehouse_id)
    plans = (await session.scalars(stmt.order_by(ReplenishmentPlanRow.id).with_for_update())).all()
    drafted = {
        (po.supplier_id, po.warehouse_id, line.variant_id)
        for po, line in (
            await session.execute(
                select(PurchaseOrder, PurchaseOrderLine)
                .join(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
                .where(PurchaseOrder.status == PurchaseOrderStatus.DRAFT)
            )
        ).all()
    }
    grouped: dict[tuple[int, int], list[purchasing.LineInput]] = defaultdict(list)
    for p in plans:
        assert p.supplier_id is not None
        assert p.order_quantity is not None
        if (p.supplier_id, p.warehouse_id, p.variant_id) in drafted:
            continue
        grouped[(p.supplier_id, p.warehouse_id)].append(
            purchasing.LineInput(variant_id=p.variant_id, quantity=p.order_quantity, unit_price=p.unit_price)
        )
    made: list[PurchaseOrder] = []
    for (supplier_id, wh), lines in sorted(grouped.items()):
        made.append(
            await purchasing.create_purchase_order(
                uow,
                supplier_id=supplier_id,
                warehouse_id=wh,
                lines=lines,
                notes="drafted from the replenishment plan",
            )
        )
    return made
