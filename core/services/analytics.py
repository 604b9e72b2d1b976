"""The figures behind profit and the KPIs, kept current as orders, payouts, refunds, labels,
returns and advertising arrive.

**Per order line** (:class:`AnalyticsLine`), in the tenant's reporting currency
(``reporting_currency``) at the order's own rate, on the tenant's day the order was placed
(``timezone``)::

    profit = revenue + shipping_income - marketplace_fees - fulfilment_fees - shipping_cost
             - payment_fees - refunds - cogs - ad_spend

* ``revenue``: the line's amount without its tax (prices with tax included lose the tax;
  tax on top, as in the US, was never in it); ``tax`` is shown beside it, never counted.
  A cancelled order sells nothing.
* ``marketplace_fees``, ``fulfilment_fees``, ``shipping_income``: from the payout's lines for
  the order when a payout names it (commission, other fees, FX and promotion lines are
  marketplace fees; fulfilment-fee lines are fulfilment fees; shipping lines credit
  ``shipping_income`` or, when negative, cost shipping). Until then an **estimate** from
  the listing's price rule (``commission_rate``) or the connection's fee schedule
  (connection setting ``fees``: ``commission_rate``, ``fixed_per_order``,
  ``fulfilment_per_unit`` for orders the channel fulfils), and ``estimated`` is 1; the
  payout replaces it when it lands.
* ``shipping_cost``: the cost of the labels bought for the order's shipments; without one,
  an estimate (connection ``fees.shipping_per_order``, else the tenant's
  ``analytics.shipping_estimate``), marked estimated.
* ``payment_fees``: orders paid through a payment provider: the price rule's
  ``payment_fee_rate`` and ``payment_fee_fixed`` (else ``fees.payment_fee_rate``).
* ``refunds``: succeeded refunds (else the payout's refund lines), without their tax share.
* ``cogs``: the landed cost (purchase + freight + duty) of the units sold less the units
  returned sellable (back on the shelf); ``write_off`` is the cost of the units returned
  damaged (part of ``cogs``: they are not sold again). The unit cost is found from the cost
  layers the stock was received at, by the tenant's ``analytics.cogs_method``: weighted
  average of the layers received by the time of the order, or FIFO over the layers in the
  order Crossdock learns of the sales; without a layer, the variant's cost plus the price
  rule's freight and duty.
* every figure keeps the rows it came from in ``sources`` (the drill-down).

**Per order** (:class:`AnalyticsOrder`): the counts the KPIs add up (GMV, units, cancelled,
returned, refunded, shipped, shipped late, valid tracking, repeat buyer).

**Kept current, never scanned on read.** A write path that changes what an order's figures
depend on calls :func:`mark` in its own transaction (an append-only row). The
``analytics_refresh`` job takes marks (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any
number of workers take disjoint ones), locks their orders' figures (a transaction-scoped
advisory lock per order: two workers never recompute one order at once), recomputes them,
and adds the difference between the new and the stored figures to the daily rollups
(:class:`AnalyticsSkuDaily`, :class:`AnalyticsDaily`) with ``INSERT ... ON CONFLICT DO
UPDATE SET x = x + excluded.x``, in key order. The marks are deleted in the same
transaction: a crash leaves them for the next run, and a mark committed while a refresh
runs is taken by the next one (it was not visible to this one), so a change is never lost
and never counted twice. Reads add up rollup rows (a month of one tenant: days x
connections x SKUs rows), never orders.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import JSON, ColumnDefault, Table, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.base import among, utcnow
from crossdock.db.models import (
    AnalyticsDaily,
    AnalyticsLine,
    AnalyticsMark,
    AnalyticsOrder,
    AnalyticsSkuDaily,
    Connection,
    CostLayer,
    CostMethod,
    LabelPurchase,
    Listing,
    Order,
    OrderLine,
    OrderReturn,
    OrderStatus,
    PriceRule,
    Refund,
    RefundStatus,
    ReturnCondition,
    SettlementLine,
    Shipment,
    Tenant,
    Variant,
)
from crossdock.db.models.analytics import LINE_AMOUNTS, ORDER_COUNTS, SKU_TO_DAILY
from crossdock.db.models.shipping import LabelStatus
from crossdock.db.scoping import session_tenant
from crossdock.errors import TenantScopeError, UserError
from crossdock.plugins import Plugins
from crossdock.providers import SettlementKind
from crossdock.services.fx import DayRates, rates_on
from crossdock.services.tax import prices_include_tax

__all__ = [
    "AnalyticsSettings",
    "add_cost_layer",
    "analytics_settings",
    "bump",
    "buyer_key",
    "local_day",
    "mark",
    "refresh",
]

#: The namespace of the per-order advisory locks (the first key of the two-key form).
LOCK_NAMESPACE = 0x0A17
#: Four decimal places: what the figures are stored with.
PLACES = Decimal("0.0001")
ZERO = Decimal(0)
#: Rollup rows one upsert statement carries.
BUMP_CHUNK = 500
#: The session flag telling the unit of work to queue a refresh after commit.
MARKED = "analytics_marked"
#: The orders this transaction marked already.
MARKED_IDS = "analytics_marked_ids"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class AnalyticsSettings:
    currency: str
    zone: ZoneInfo
    cogs_method: CostMethod
    #: per order, in its own currency, for shipped orders without a label cost
    shipping_estimate: tuple[Decimal, str] | None


def zone_of(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(
            f"{name!r} is not an IANA time zone", field="timezone", code="INVALID_TIMEZONE"
        ) from exc


def settings_from(raw: Mapping[str, Any]) -> AnalyticsSettings:
    extra = raw.get("analytics") or {}
    estimate = extra.get("shipping_estimate")
    try:
        method = CostMethod(str(extra.get("cogs_method") or CostMethod.WEIGHTED_AVERAGE))
    except ValueError:
        method = CostMethod.WEIGHTED_AVERAGE
    return AnalyticsSettings(
        currency=str(raw.get("reporting_currency") or "USD"),
        zone=zone_of(raw.get("timezone")),
        cogs_method=method,
        shipping_estimate=(Decimal(str(estimate["amount"])), str(estimate["currency"]))
        if isinstance(estimate, Mapping) and "amount" in estimate and "currency" in estimate
        else None,
    )


async def analytics_settings(session: AsyncSession) -> AnalyticsSettings:
    raw = await session.scalar(
        select(Tenant.settings).where(Tenant.id == session_tenant(session.sync_session))
    )
    return settings_from(raw or {})


def local_day(when: datetime, zone: ZoneInfo) -> date:
    return when.astimezone(zone).date()


def buyer_key(channel: str, email: str | None) -> str | None:
    """The buyer, matched per channel: SHA-256 of ``channel:e-mail`` (lower-cased). The
    e-mail itself is not kept in the figures."""
    if not email or not email.strip():
        return None
    return hashlib.sha256(f"{channel}:{email.strip().lower()}".encode()).hexdigest()


# --------------------------------------------------------------------------- marking


def mark(session: AsyncSession, order_ids: Iterable[int]) -> None:
    """The figures of these orders must be made again: call in the transaction that changes
    what they depend on. The unit of work queues ``analytics_refresh`` after commit; the
    periodic ``analytics_sweep`` picks up marks made outside one."""
    done: set[int] = session.info.setdefault(MARKED_IDS, set())
    ids = sorted({int(i) for i in order_ids if i is not None} - done)
    if not ids:
        return
    session.add_all(AnalyticsMark(order_id=i) for i in ids)
    done.update(ids)  # one mark per order and transaction is enough
    session.info[MARKED] = True


# --------------------------------------------------------------------------- rollups


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def write_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str] = (),
    add: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (mappings with the same keys) into ``table``, in their order; with
    ``conflict``, a row whose key exists adds its ``add`` columns to the stored ones instead.

    On PostgreSQL the rows go as one array per column in a single statement
    (``INSERT ... SELECT * FROM unnest(...)``): a refresh writes thousands of rows, and one
    statement a row costs the driver and the server more than the rows themselves. Columns
    missing from the rows get the model's defaults. Elsewhere, the driver's executemany."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = _insert(session)(table)
        if conflict:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(conflict), set_={c: table.c[c] + stmt.excluded[c] for c in add}
            )
        for start in range(0, len(rows), BUMP_CHUNK):
            await session.execute(stmt, list(rows[start : start + BUMP_CHUNK]))
        return
    names = list(rows[0])
    values: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in names}
    for column in table.columns:  # the model's defaults, as the ORM would have set them
        default = column.default
        if column.name in values or default is None or not isinstance(default, ColumnDefault):
            continue
        value = default.arg(None) if default.is_callable else default.arg  # type: ignore[operator]
        values[column.name] = [value] * len(rows)
    arrays = []
    params: dict[str, list[Any]] = {}
    for i, (name, column_values) in enumerate(values.items()):
        kind = table.c[name].type
        if isinstance(kind, JSON):
            column_values = [None if v is None else json.dumps(v) for v in column_values]
        params[f"p{i}"] = column_values
        arrays.append(f"CAST(:p{i} AS {kind.compile(dialect=dialect)}[])")
    sql = f"INSERT INTO {table.name} ({', '.join(values)}) SELECT * FROM unnest({', '.join(arrays)})"
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET " + ", ".join(
            f"{c} = {table.name}.{c} + excluded.{c}" for c in add
        )
    await session.execute(text(sql), params)


async def bump(
    session: AsyncSession,
    model: type[AnalyticsSkuDaily] | type[AnalyticsDaily],
    keys: Sequence[str],
    changes: Mapping[tuple[Any, ...], Mapping[str, Any]],
    currency: str,
    *,
    daily: Mapping[tuple[Any, ...], Mapping[str, Any]] | None = None,
) -> None:
    """Add ``changes`` (per key tuple, column -> delta) to the rollup ``model``:
    ``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x`` of every changed key
    (:func:`write_rows`), in key order (two refreshes touching the same rows take their
    locks in the same order). Keys whose deltas are all zero are left alone. A change of the
    SKU rollup moves the daily rollup by the same figures (its per-connection totals), with
    ``daily``'s own changes (the order counts) in the same statement."""
    rows = {key: {c: v for c, v in delta.items() if v} for key, delta in changes.items()}
    rows = {key: delta for key, delta in rows.items() if delta}
    if model is AnalyticsSkuDaily and (rows or daily):
        # the daily rollup moves with it, by the same figures, after it (in one lock order)
        over = _over_skus(keys, rows)
        for key, delta in (daily or {}).items():
            _add(over.setdefault(key, {}), delta, 1)
        await _bump(session, AnalyticsSkuDaily, keys, rows, currency)
        await _bump(session, AnalyticsDaily, ("day", "connection_id"), over, currency)
        return
    await _bump(session, model, keys, rows, currency)


async def _bump(
    session: AsyncSession,
    model: type[AnalyticsSkuDaily] | type[AnalyticsDaily],
    keys: Sequence[str],
    changes: Mapping[tuple[Any, ...], Mapping[str, Any]],
    currency: str,
) -> None:
    rows = {key: {c: v for c, v in delta.items() if v} for key, delta in changes.items()}
    rows = {key: delta for key, delta in rows.items() if delta}
    if not rows:
        return
    tenant = session_tenant(session.sync_session)
    if tenant is None:
        raise TenantScopeError("rollups are moved in a tenant's session")
    columns = sorted({c for delta in rows.values() for c in delta})
    values = [
        {
            "tenant_id": tenant,
            "currency": currency,
            **dict(zip(keys, key, strict=True)),
            **{c: rows[key].get(c, 0) for c in columns},
        }
        for key in sorted(rows)
    ]
    table = cast(Table, model.__table__)
    await write_rows(session, table, values, conflict=["tenant_id", *keys], add=columns)


def _over_skus(
    keys: Sequence[str], rows: Mapping[tuple[Any, ...], Mapping[str, Any]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Changes of the SKU rollup as changes of the daily rollup (the same figures, added up
    over the SKUs of each day and connection)."""
    day, connection = keys.index("day"), keys.index("connection_id")
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for key, delta in rows.items():
        target = out[(key[day], key[connection])]
        for column, value in delta.items():
            name = SKU_TO_DAILY.get(column, column)
            if name is not None:
                target[name] = target.get(name, 0) + value
    return out


def _add(target: dict[str, Any], source: Mapping[str, Any], sign: int) -> None:
    for column, value in source.items():
        target[column] = target.get(column, 0) + sign * value


# --------------------------------------------------------------------------- cost layers


async def add_cost_layer(
    session: AsyncSession,
    *,
    variant_id: int,
    warehouse_id: int | None,
    quantity: int,
    purchase_cost: Decimal,
    currency: str,
    freight_cost: Decimal = ZERO,
    duty_cost: Decimal = ZERO,
    reference: str | None = None,
) -> CostLayer:
    """Units received at a landed cost (per unit: purchase + freight + duty). The variant's
    row is locked so FIFO positions of concurrent receipts never overlap."""
    if quantity <= 0:
        raise UserError("a receipt adds at least one unit", field="quantity", code="INVALID")
    for name, value in (("unitCost", purchase_cost), ("freight", freight_cost), ("duty", duty_cost)):
        if value < 0 or value > Decimal("1e9"):
            raise UserError(f"{name} must be between 0 and 1e9", field=name, code="INVALID")
    await session.execute(select(Variant.id).where(Variant.id == variant_id).with_for_update())
    before = await session.scalar(
        select(func.coalesce(func.sum(CostLayer.quantity), 0)).where(CostLayer.variant_id == variant_id)
    )
    layer = CostLayer(
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        quantity=quantity,
        purchase_cost=purchase_cost,
        freight_cost=freight_cost,
        duty_cost=duty_cost,
        unit_cost=purchase_cost + freight_cost + duty_cost,
        currency=currency,
        reference=reference,
        starts_at_unit=int(before or 0),
    )
    session.add(layer)
    await session.flush()
    # sales already counted at a fallback cost beyond the earlier layers now have a layer
    waiting = select(AnalyticsLine.order_id).where(
        AnalyticsLine.variant_id == variant_id, AnalyticsLine.cost_fallback == 1
    )
    mark(session, (await session.scalars(waiting)).all())
    return layer


# --------------------------------------------------------------------------- refresh


async def _claim(session: AsyncSession, limit: int) -> list[int]:
    taken = (
        select(AnalyticsMark.id)
        .order_by(AnalyticsMark.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = await session.scalars(
        delete(AnalyticsMark).where(AnalyticsMark.id.in_(taken)).returning(AnalyticsMark.order_id)
    )
    return sorted(set(rows.all()))


async def _lock_orders(session: AsyncSession, order_ids: Sequence[int]) -> None:
    """One transaction-scoped advisory lock per order, taken in one statement in key order
    (every refresh takes them in the same order: two never wait on each other in a cycle)."""
    if session.get_bind().dialect.name != "postgresql":
        return  # one writer at a time
    keys = sorted({order_id % 2147483647 for order_id in order_ids})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(:ns, k)) FROM unnest(CAST(:keys AS integer[])) AS k"),
        {"ns": LOCK_NAMESPACE, "keys": keys},
    )


async def refresh(session: AsyncSession, plugins: Plugins, *, limit: int = 500) -> int:
    """Take up to ``limit`` marks, recompute their orders' figures and move the rollups by
    the difference; returns how many orders were recomputed (0: nothing was marked)."""
    order_ids = await _claim(session, limit)
    if not order_ids:
        return 0
    await _lock_orders(session, order_ids)
    config = await analytics_settings(session)
    inputs = await _Inputs.load(session, plugins, config, order_ids)
    new_lines, new_orders = inputs.compute()
    await _apply(session, config, order_ids, new_lines, new_orders)
    return len(order_ids)


#: what a line adds to its rollup row besides the money figures
LINE_COUNTS = ("units", "returned_units", "estimated")


async def _apply(
    session: AsyncSession,
    config: AnalyticsSettings,
    order_ids: Sequence[int],
    new_lines: Sequence[dict[str, Any]],
    new_orders: Sequence[dict[str, Any]],
) -> None:
    """Replace the orders' stored figures by the new ones (Core statements: the rows are
    made here, from values already checked) and move the rollups by the difference."""
    tenant = session_tenant(session.sync_session)
    if tenant is None:
        raise TenantScopeError("figures are made in a tenant's session")
    line, counted = AnalyticsLine, AnalyticsOrder
    dialect = session.get_bind().dialect.name
    old_lines = (
        (
            await session.execute(
                delete(line)
                .where(among(dialect, line.order_id, order_ids))
                .returning(
                    line.day,
                    line.connection_id,
                    line.sku,
                    *(line.__table__.c[n] for n in LINE_AMOUNTS + LINE_COUNTS),
                )
                .execution_options(synchronize_session=False)
            )
        )
        .mappings()
        .all()
    )
    old_orders = (
        (
            await session.execute(
                delete(counted)
                .where(among(dialect, counted.order_id, order_ids))
                .returning(
                    counted.day,
                    counted.connection_id,
                    counted.gmv,
                    *(counted.__table__.c[n] for n in ORDER_COUNTS),
                )
                .execution_options(synchronize_session=False)
            )
        )
        .mappings()
        .all()
    )
    sku_changes: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    day_changes: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for rows, sign in ((old_lines, -1), (new_lines, 1)):
        for row in rows:
            _add(sku_changes[(row["day"], row["connection_id"], row["sku"])], _line_figures(row), sign)
    for rows, sign in ((old_orders, -1), (new_orders, 1)):
        for row in rows:
            _add(day_changes[(row["day"], row["connection_id"])], _order_figures(row), sign)
    stamp = {"tenant_id": tenant, "computed_at": utcnow()}
    await write_rows(session, cast(Table, line.__table__), [{**r, **stamp} for r in new_lines])
    await write_rows(session, cast(Table, counted.__table__), [{**r, **stamp} for r in new_orders])
    await bump(
        session,
        AnalyticsSkuDaily,
        ("day", "connection_id", "sku"),
        sku_changes,
        config.currency,
        daily=day_changes,
    )


def _line_figures(row: Mapping[Any, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {name: row[name] or ZERO for name in LINE_AMOUNTS}
    figures.update({name: row[name] or 0 for name in LINE_COUNTS}, lines=1)
    return figures


def _order_figures(row: Mapping[Any, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {name: row[name] or 0 for name in ORDER_COUNTS}
    figures["gmv"] = row["gmv"] or ZERO
    return figures


# --------------------------------------------------------------------------- computing


def split(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` shared in proportion to ``weights`` at four places; the last share takes
    the remainder, so the shares add up to ``amount`` exactly."""
    if not weights:
        return []
    total = sum(weights, ZERO)
    if total == 0:
        weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
    shares = [(amount * w / total).quantize(PLACES) for w in weights[:-1]]
    return [*shares, amount - sum(shares, ZERO)]


#: payout line kinds and the figure they are (the sign turns "kept by the marketplace" into a cost)
FEE_KINDS: dict[str, str] = {
    SettlementKind.COMMISSION: "marketplace_fees",
    SettlementKind.OTHER: "marketplace_fees",
    SettlementKind.FX: "marketplace_fees",
    SettlementKind.PROMOTION: "marketplace_fees",
    SettlementKind.FULFILMENT_FEE: "fulfilment_fees",
    SettlementKind.ADVERTISING: "ad_spend",
}


def _dec(value: object, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value if value is not None else default))
    except ArithmeticError:
        return Decimal(default)


@dataclass
class _Line:
    """One line being computed, in the order's currency until :meth:`_Inputs.finish`."""

    row: _Row  # LINE_COLUMNS
    sku: str
    gross: Decimal
    figures: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    sources: list[dict[str, Any]] = field(default_factory=list)
    estimated: bool = False
    returned: int = 0
    sellable_returned: int = 0
    damaged_returned: int = 0

    def add(self, figure: str, amount: Decimal, kind: str, ref: object, note: str = "", **extra: Any) -> None:
        if not amount:
            return
        self.figures[figure] += amount
        self.sources.append(
            {"figure": figure, "kind": kind, "id": ref, "amount": str(amount), "note": note, **extra}
        )


#: a row of one of the ``*_COLUMNS`` selects below (attributes named as the columns)
_Row: TypeAlias = Any
#: the columns of each input the figures are made from (rows of these, not ORM objects:
#: a batch of 500 orders loads thousands of rows)
ORDER_COLUMNS = (
    Order.id,
    Order.connection_id,
    Order.status,
    Order.currency,
    Order.total_amount,
    Order.placed_at,
    Order.ship_by,
    Order.fx_day,
    Order.fx_rate,
    Order.base_currency,
    Order.fulfilled_by_channel,
    Order.payment_provider,
    Order.buyer_email,
)
LINE_COLUMNS = (
    OrderLine.id,
    OrderLine.order_id,
    OrderLine.variant_id,
    OrderLine.sku,
    OrderLine.quantity,
    OrderLine.unit_price_amount,
    OrderLine.tax_amount,
)
RULE_COLUMNS = (
    PriceRule.commission_rate,
    PriceRule.payment_fee_rate,
    PriceRule.payment_fee_fixed,
    PriceRule.freight_amount,
    PriceRule.duty_rate,
)
SHIPMENT_COLUMNS = (
    Shipment.id,
    Shipment.order_id,
    Shipment.shipped_at,
    Shipment.confirmed_at,
    Shipment.last_event_at,
    Shipment.tracking_number,
)
LABEL_COLUMNS = (
    LabelPurchase.id,
    LabelPurchase.shipment_id,
    LabelPurchase.carrier,
    LabelPurchase.service,
    LabelPurchase.cost_amount,
    LabelPurchase.cost_currency,
)
LAYER_COLUMNS = (
    CostLayer.id,
    CostLayer.variant_id,
    CostLayer.quantity,
    CostLayer.unit_cost,
    CostLayer.currency,
    CostLayer.starts_at_unit,
    CostLayer.received_at,
)


@dataclass
class _Inputs:
    """Everything the figures of a batch of orders depend on, loaded in a fixed number of
    queries whatever the batch's size."""

    session: AsyncSession
    plugins: Plugins
    config: AnalyticsSettings
    orders: list[_Row]  # ORDER_COLUMNS, and so on: the columns the figures use
    lines: dict[int, list[_Row]]
    connections: dict[int, Connection]
    variants: dict[int, _Row]
    rules: dict[tuple[int, str], _Row]
    payouts: dict[int, list[_Row]]
    refunds: dict[int, list[_Row]]
    returns: dict[int, list[_Row]]
    shipments: dict[int, list[_Row]]
    labels: dict[int, list[_Row]]
    layers: dict[int, list[_Row]]
    fifo: dict[int, int]  # order_line_id -> FIFO position already given
    fifo_next: dict[int, int]  # variant -> next FIFO position
    rates: dict[date, DayRates]
    earlier_buyers: set[str]
    schedules: dict[int, tuple[dict[str, Decimal], bool]] = field(default_factory=dict)

    @classmethod
    async def load(
        cls, session: AsyncSession, plugins: Plugins, config: AnalyticsSettings, order_ids: Sequence[int]
    ) -> _Inputs:
        dialect = session.get_bind().dialect.name
        orders = list(
            (await session.execute(select(*ORDER_COLUMNS).where(among(dialect, Order.id, order_ids)))).all()
        )
        ids = [o.id for o in orders]
        lines: dict[int, list[_Row]] = defaultdict(list)
        for line in (
            await session.execute(
                select(*LINE_COLUMNS).where(among(dialect, OrderLine.order_id, ids)).order_by(OrderLine.id)
            )
        ).all():
            lines[line.order_id].append(line)
        conn_ids = {o.connection_id for o in orders}
        connections = {
            c.id: c
            for c in (
                await session.scalars(select(Connection).where(among(dialect, Connection.id, conn_ids)))
            ).all()
        }
        variant_ids = {ln.variant_id for rows in lines.values() for ln in rows if ln.variant_id}
        variants = {
            v.id: v
            for v in (
                await session.execute(
                    select(Variant.id, Variant.sku, Variant.cost_amount, Variant.cost_currency).where(
                        among(dialect, Variant.id, variant_ids)
                    )
                )
            ).all()
        }
        rules: dict[tuple[int, str], _Row] = {}
        for rule in (
            await session.execute(
                select(Listing.connection_id, Listing.channel_sku, *RULE_COLUMNS)
                .join(PriceRule, PriceRule.listing_id == Listing.id)
                .where(among(dialect, Listing.connection_id, conn_ids))
            )
        ).all():
            rules[(rule.connection_id, rule.channel_sku)] = rule
        payouts: dict[int, list[_Row]] = defaultdict(list)
        for sl in (
            await session.execute(
                select(
                    SettlementLine.id,
                    SettlementLine.order_id,
                    SettlementLine.kind,
                    SettlementLine.amount,
                    SettlementLine.currency,
                    SettlementLine.description,
                )
                .where(among(dialect, SettlementLine.order_id, ids))
                .order_by(SettlementLine.id)
            )
        ).all():
            payouts[sl.order_id or 0].append(sl)
        refunds: dict[int, list[_Row]] = defaultdict(list)
        for rf in (
            await session.execute(
                select(Refund.id, Refund.order_id, Refund.amount, Refund.currency).where(
                    among(dialect, Refund.order_id, ids), Refund.status == RefundStatus.SUCCEEDED
                )
            )
        ).all():
            refunds[rf.order_id].append(rf)
        returns: dict[int, list[_Row]] = defaultdict(list)
        for rt in (
            await session.execute(
                select(OrderReturn.order_line_id, OrderReturn.quantity, OrderReturn.condition).where(
                    among(dialect, OrderReturn.order_id, ids)
                )
            )
        ).all():
            returns[rt.order_line_id].append(rt)
        shipments: dict[int, list[_Row]] = defaultdict(list)
        for sh in (
            await session.execute(select(*SHIPMENT_COLUMNS).where(among(dialect, Shipment.order_id, ids)))
        ).all():
            shipments[sh.order_id].append(sh)
        labels: dict[int, list[_Row]] = defaultdict(list)
        shipment_ids = [s.id for rows in shipments.values() for s in rows]
        if shipment_ids:
            for lp in (
                await session.execute(
                    select(*LABEL_COLUMNS).where(
                        among(dialect, LabelPurchase.shipment_id, shipment_ids),
                        LabelPurchase.status == LabelStatus.PURCHASED,
                    )
                )
            ).all():
                labels[lp.shipment_id].append(lp)
        layers: dict[int, list[_Row]] = defaultdict(list)
        for layer in (
            await session.execute(
                select(*LAYER_COLUMNS)
                .where(among(dialect, CostLayer.variant_id, variant_ids))
                .order_by(CostLayer.starts_at_unit, CostLayer.id)
            )
        ).all():
            layers[layer.variant_id].append(layer)
        fifo: dict[int, int] = {}
        fifo_next: dict[int, int] = {}
        if config.cogs_method == CostMethod.FIFO and variant_ids:
            # positions are handed out under the variants' row locks, in variant order
            await session.execute(
                select(Variant.id)
                .where(among(dialect, Variant.id, sorted(variant_ids)))
                .order_by(Variant.id)
                .with_for_update()
            )
            for line_id, position in (
                await session.execute(
                    select(AnalyticsLine.order_line_id, AnalyticsLine.fifo_position).where(
                        among(dialect, AnalyticsLine.order_id, ids), AnalyticsLine.fifo_position.is_not(None)
                    )
                )
            ).all():
                fifo[line_id] = int(position or 0)
            for variant_id, end in (
                await session.execute(
                    select(
                        AnalyticsLine.variant_id,
                        func.max(AnalyticsLine.fifo_position + AnalyticsLine.fifo_units),
                    )
                    .where(among(dialect, AnalyticsLine.variant_id, variant_ids))
                    .group_by(AnalyticsLine.variant_id)
                )
            ).all():
                if variant_id is not None:
                    fifo_next[variant_id] = int(end or 0)
        rates: dict[date, DayRates] = {}
        for order in orders:
            day = order.fx_day or order.placed_at.date()
            if day not in rates:
                rates[day] = await rates_on(session, plugins, day)
        keyed = {
            (connections[o.connection_id].channel, key): o
            for o in orders
            if (key := buyer_key(connections[o.connection_id].channel, o.buyer_email))
        }
        earlier: set[str] = set()
        if keyed:
            # the buyer key names its channel: the channel filter is for the index
            buyers = (
                among(dialect, AnalyticsOrder.channel, sorted({channel for channel, _ in keyed})),
                among(dialect, AnalyticsOrder.buyer_key, sorted(k for _, k in keyed)),
                ~among(dialect, AnalyticsOrder.order_id, ids),
            )
            first_seen = dict(
                (
                    await session.execute(
                        select(AnalyticsOrder.buyer_key, func.min(AnalyticsOrder.placed_at))
                        .where(*buyers)
                        .group_by(AnalyticsOrder.buyer_key)
                    )
                ).all()
            )
            for (_, key), order in keyed.items():
                seen = first_seen.get(key)
                if seen is not None and seen < order.placed_at:
                    earlier.add(key)
            # an earlier order arriving late makes the later ones repeats: look at them again
            placed = {k: o.placed_at for (_, k), o in keyed.items()}
            later = (
                await session.execute(
                    select(AnalyticsOrder.order_id, AnalyticsOrder.buyer_key, AnalyticsOrder.placed_at).where(
                        *buyers, AnalyticsOrder.repeat == 0
                    )
                )
            ).all()
            mark(session, [oid for oid, key, at in later if key in placed and at > placed[key]])
        return cls(
            session,
            plugins,
            config,
            orders,
            lines,
            connections,
            variants,
            rules,
            payouts,
            refunds,
            returns,
            shipments,
            labels,
            layers,
            fifo,
            fifo_next,
            rates,
            earlier,
        )

    # ------------------------------------------------------------------ per order

    def compute(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        out_lines: list[dict[str, Any]] = []
        out_orders: list[dict[str, Any]] = []
        batch_first: dict[str, datetime] = {}
        for order in sorted(self.orders, key=lambda o: (o.placed_at, o.id)):
            conn = self.connections[order.connection_id]
            key = buyer_key(conn.channel, order.buyer_email)
            repeat = key is not None and (key in self.earlier_buyers or key in batch_first)
            if key is not None:
                batch_first.setdefault(key, order.placed_at)
            lines, counts = self._order(order, conn, key, repeat)
            out_lines.extend(lines)
            out_orders.append(counts)
        return out_lines, out_orders

    def _schedule(self, conn: Connection) -> tuple[dict[str, Decimal], bool]:
        """The connection's fee schedule (setting ``fees``; the keys it sets, as Decimals)
        and whether its prices include tax, read once per batch."""
        found = self.schedules.get(conn.id)
        if found is None:
            settings = conn.settings or {}
            raw = dict(settings.get("fees") or {})
            if "commission_rate" not in raw and settings.get("commission_rate") is not None:
                raw["commission_rate"] = settings["commission_rate"]
            found = ({k: _dec(v) for k, v in raw.items() if v is not None}, prices_include_tax(conn))
            self.schedules[conn.id] = found
        return found

    def _rate(self, order: _Row, currency: str) -> Decimal | None:
        """Units of the reporting currency per one ``currency`` for ``order``: the order's
        own rate for its currency, the reference rate of its day for another."""
        base = self.config.currency
        if currency == base:
            return Decimal(1)
        if currency == order.currency and order.fx_rate is not None and order.base_currency == base:
            own: Decimal = order.fx_rate
            return own
        rates = self.rates.get(order.fx_day or order.placed_at.date())
        if rates is None:
            return None
        try:
            return rates.rate(currency, base)
        except UserError:
            return None

    def _order(
        self, order: _Row, conn: Connection, key: str | None, repeat: bool
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        config = self.config
        day = local_day(order.placed_at, config.zone)
        fees, included = self._schedule(conn)
        cancelled = order.status == OrderStatus.CANCELLED
        lines = [
            _Line(
                row=ln,
                sku=self.variants[ln.variant_id].sku if ln.variant_id in self.variants else ln.sku,
                gross=ln.quantity * ln.unit_price_amount,
            )
            for ln in self.lines.get(order.id, [])
        ]
        weights = [ln.gross for ln in lines]
        rate = self._rate(order, order.currency)
        unconverted = rate is None
        rate = rate or ZERO
        for ln in lines:
            tax = ln.row.tax_amount or ZERO
            if cancelled:
                continue
            ln.add("revenue", ln.gross - tax if included else ln.gross, "order_line", ln.row.id)
            if tax:
                ln.figures["tax"] += tax
            for rt in self.returns.get(ln.row.id, []):
                ln.returned += rt.quantity
                if rt.condition == ReturnCondition.DAMAGED:
                    ln.damaged_returned += rt.quantity
                else:
                    ln.sellable_returned += rt.quantity
        # the payout's lines, or the estimate until they land
        payout = self.payouts.get(order.id, [])
        refund_lines: list[_Row] = []
        fee_seen = False
        for sl in payout:
            kind = sl.kind
            if sl.currency != order.currency:
                continue  # a payout line in another currency than the order's: not its fee
            if kind in FEE_KINDS:
                fee_seen = fee_seen or kind != SettlementKind.ADVERTISING
                for ln, share in zip(lines, split(-sl.amount, weights), strict=True):
                    ln.add(FEE_KINDS[kind], share, "settlement_line", sl.id, sl.description or kind)
            elif kind == SettlementKind.SHIPPING:
                figure = "shipping_income" if sl.amount > 0 else "shipping_cost"
                for ln, share in zip(lines, split(abs(sl.amount), weights), strict=True):
                    ln.add(figure, share, "settlement_line", sl.id, sl.description or kind)
            elif kind == SettlementKind.REFUND:
                refund_lines.append(sl)
        if not fee_seen and not cancelled and lines:
            self._estimate_fees(order, conn, fees, lines, weights)
        self._shipping(order, conn, fees, lines)
        if order.payment_provider and not cancelled:
            for ln in lines:
                rule = self.rules.get((conn.id, ln.row.sku))
                fee_rate = (
                    rule.payment_fee_rate
                    if rule and rule.payment_fee_rate
                    else fees.get("payment_fee_rate", ZERO)
                )
                ln.add("payment_fees", (ln.gross * fee_rate).quantize(PLACES), "fee_rate", str(fee_rate))
            fixed = next(
                (r.payment_fee_fixed for ln in lines if (r := self.rules.get((conn.id, ln.row.sku)))), ZERO
            )
            for ln, share in zip(lines, split(fixed or ZERO, weights), strict=True):
                ln.add("payment_fees", share, "price_rule", "payment_fee_fixed")
        self._refunds(order, lines, weights, refund_lines, included)
        rows: list[dict[str, Any]] = []
        for ln in lines:
            rows.append(self._finish(order, conn, day, ln, rate, cancelled))
        shipped_at = [s.shipped_at for s in self.shipments.get(order.id, []) if s.shipped_at is not None]
        shipped = bool(shipped_at) or (
            order.fulfilled_by_channel and order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        )
        late = bool(shipped_at and order.ship_by is not None and min(shipped_at) > order.ship_by)
        tracked = (order.fulfilled_by_channel and shipped) or any(
            s.shipped_at is not None and s.tracking_number and (s.last_event_at or s.confirmed_at)
            for s in self.shipments.get(order.id, [])
        )
        gmv = ZERO
        if not cancelled and not unconverted:
            gmv = (order.total_amount * rate).quantize(PLACES)
        counts: dict[str, Any] = dict(
            order_id=order.id,
            connection_id=conn.id,
            channel=conn.channel,
            day=day,
            placed_at=order.placed_at,
            buyer_key=key,
            currency=config.currency,
            gmv=gmv,
            orders=1,
            units=0 if cancelled else sum(ln.row.quantity for ln in lines),
            cancelled=int(cancelled),
            returned=int(any(ln.returned for ln in lines) or order.status == OrderStatus.RETURNED),
            refunded=int(bool(self.refunds.get(order.id)) or order.status == OrderStatus.REFUNDED),
            shipped=int(shipped),
            shipped_late=int(late),
            tracked=int(bool(tracked)),
            repeat=int(repeat),
            known_buyer=int(key is not None),
            unconverted=int(unconverted),
        )
        return rows, counts

    def _estimate_fees(
        self,
        order: _Row,
        conn: Connection,
        fees: Mapping[str, Decimal],
        lines: list[_Line],
        weights: list[Decimal],
    ) -> None:
        default_rate = fees.get("commission_rate", ZERO)
        for ln in lines:
            rule = self.rules.get((conn.id, ln.row.sku))
            commission = rule.commission_rate if rule is not None and rule.commission_rate else default_rate
            if commission:
                ln.add(
                    "marketplace_fees",
                    (ln.gross * commission).quantize(PLACES),
                    "price_rule" if rule is not None and rule.commission_rate else "fee_schedule",
                    "commission_rate",
                    f"{commission} of {ln.gross}",
                    estimated=True,
                )
                ln.estimated = True
        fixed = fees.get("fixed_per_order", ZERO)
        if fixed:
            for ln, share in zip(lines, split(fixed, weights), strict=True):
                ln.add("marketplace_fees", share, "fee_schedule", "fixed_per_order", estimated=True)
                ln.estimated = True
        per_unit = fees.get("fulfilment_per_unit", ZERO)
        if order.fulfilled_by_channel and per_unit:
            for ln in lines:
                ln.add(
                    "fulfilment_fees",
                    per_unit * ln.row.quantity,
                    "fee_schedule",
                    "fulfilment_per_unit",
                    estimated=True,
                )
                ln.estimated = True

    def _shipping(
        self, order: _Row, conn: Connection, fees: Mapping[str, Decimal], lines: list[_Line]
    ) -> None:
        """Label costs, converted now to the order's currency at its day's rate (the line
        figures are converted back with the order's own rate), else an estimate."""
        if not lines or order.fulfilled_by_channel:
            return
        units = [Decimal(ln.row.quantity) for ln in lines]
        bought = [lp for s in self.shipments.get(order.id, []) for lp in self.labels.get(s.id, [])]
        costed = [lp for lp in bought if lp.cost_amount is not None and lp.cost_currency]
        for lp in costed:
            amount = lp.cost_amount or ZERO
            currency = lp.cost_currency or order.currency
            if currency != order.currency:
                to_base, order_rate = self._rate(order, currency), self._rate(order, order.currency)
                if not to_base or not order_rate:
                    continue
                amount = (amount * to_base / order_rate).quantize(PLACES)
            for ln, share in zip(lines, split(amount, units), strict=True):
                ln.add(
                    "shipping_cost", share, "label", lp.id, f"{lp.carrier} {lp.service}", currency=currency
                )
        if costed or order.status == OrderStatus.CANCELLED:
            return
        if any(ln.figures.get("shipping_cost") for ln in lines):
            return  # the payout charged the shipping
        estimate: tuple[Decimal, str] | None = None
        if fees.get("shipping_per_order") is not None:
            estimate = (fees["shipping_per_order"], order.currency)
        elif self.config.shipping_estimate is not None:
            estimate = self.config.shipping_estimate
        if estimate is None or not estimate[0]:
            return
        amount, currency = estimate
        if currency != order.currency:
            to_base, order_rate = self._rate(order, currency), self._rate(order, order.currency)
            if not to_base or not order_rate:
                return
            amount = (amount * to_base / order_rate).quantize(PLACES)
        for ln, share in zip(lines, split(amount, units), strict=True):
            ln.add("shipping_cost", share, "estimate", "shipping_estimate", estimated=True)
            ln.estimated = True

    def _refunds(
        self,
        order: _Row,
        lines: list[_Line],
        weights: list[Decimal],
        refund_lines: list[_Row],
        included: bool,
    ) -> None:
        """Refunds without their tax share: the refunded amount times revenue over what
        the buyer paid, shared by the lines' revenue."""
        if not lines:
            return
        items: list[tuple[Decimal, str, object]] = [
            (rf.amount, "refund", rf.id)
            for rf in self.refunds.get(order.id, [])
            if rf.currency == order.currency
        ]
        if not items:
            items = [(-sl.amount, "settlement_line", sl.id) for sl in refund_lines if sl.amount < 0]
        if not items:
            return
        revenue = [ln.gross - (ln.row.tax_amount or ZERO) if included else ln.gross for ln in lines]
        paid = sum((ln.gross + (ZERO if included else (ln.row.tax_amount or ZERO)) for ln in lines), ZERO)
        ratio = sum(revenue, ZERO) / paid if paid else Decimal(1)
        for amount, kind, ref in items:
            net = (amount * ratio).quantize(PLACES)
            for ln, share in zip(lines, split(net, revenue if any(revenue) else weights), strict=True):
                ln.add("refunds", share, kind, ref, f"{amount} refunded")

    def _unit_cost(self, order: _Row, ln: _Line) -> tuple[Decimal, str, list[dict[str, Any]], bool] | None:
        """(cost per unit, its currency, sources, from the fallback) for ``ln``'s units."""
        variant = self.variants.get(ln.row.variant_id or 0)
        if variant is None:
            return None
        layers = self.layers.get(variant.id, [])
        if layers and self.config.cogs_method == CostMethod.FIFO:
            position = self.fifo.get(ln.row.id)
            if position is None:
                position = self.fifo_next.get(variant.id, 0)
                self.fifo_next[variant.id] = position + ln.row.quantity
                self.fifo[ln.row.id] = position
            start, end = position, position + ln.row.quantity
            total, covered, used = ZERO, 0, []
            for layer in layers:
                lo, hi = max(start, layer.starts_at_unit), min(end, layer.starts_at_unit + layer.quantity)
                if hi > lo:
                    total += layer.unit_cost * (hi - lo)
                    covered += hi - lo
                    used.append(
                        {
                            "kind": "cost_layer",
                            "id": layer.id,
                            "units": hi - lo,
                            "unit_cost": str(layer.unit_cost),
                        }
                    )
            if covered == ln.row.quantity and ln.row.quantity:
                return total / ln.row.quantity, layers[0].currency, used, False
            fallback = self._fallback_cost(order, ln, variant)
            if fallback is None:
                return (total / covered, layers[0].currency, used, True) if covered else None
            missing = ln.row.quantity - covered
            mixed = (total + fallback[0] * missing) / ln.row.quantity
            return mixed, layers[0].currency, [*used, *fallback[2]], True
        if layers:
            until = [layer for layer in layers if layer.received_at <= order.placed_at] or layers
            units = sum(layer.quantity for layer in until)
            value = sum((layer.unit_cost * layer.quantity for layer in until), ZERO)
            return (
                value / units,
                until[0].currency,
                [
                    {
                        "kind": "cost_layer",
                        "id": layer.id,
                        "units": layer.quantity,
                        "unit_cost": str(layer.unit_cost),
                    }
                    for layer in until
                ],
                False,
            )
        return self._fallback_cost(order, ln, variant)

    def _fallback_cost(
        self, order: _Row, ln: _Line, variant: _Row
    ) -> tuple[Decimal, str, list[dict[str, Any]], bool] | None:
        if variant.cost_amount is None or not variant.cost_currency:
            return None
        rule = self.rules.get((order.connection_id, ln.row.sku))
        freight = rule.freight_amount if rule is not None else ZERO
        duty = (variant.cost_amount * rule.duty_rate) if rule is not None else ZERO
        unit = variant.cost_amount + freight + duty
        source = {
            "kind": "variant_cost",
            "id": variant.id,
            "unit_cost": str(unit),
            "freight": str(freight),
            "duty": str(duty),
        }
        return unit, variant.cost_currency, [source], True

    def _finish(
        self, order: _Row, conn: Connection, day: date, ln: _Line, rate: Decimal, cancelled: bool
    ) -> dict[str, Any]:
        figures: dict[str, Decimal] = {
            name: (ln.figures.get(name, ZERO) * rate).quantize(PLACES) for name in LINE_AMOUNTS
        }
        fallback = False
        position: int | None = None
        sold = 0 if cancelled else ln.row.quantity
        if sold:
            cost = self._unit_cost(order, ln)
            if cost is not None:
                unit, currency, used, fallback = cost
                to_base = self._rate(order, currency)
                if to_base is not None:
                    unit_base = unit * to_base
                    figures["cogs"] = (unit_base * (sold - ln.sellable_returned)).quantize(PLACES)
                    figures["write_off"] = (unit_base * ln.damaged_returned).quantize(PLACES)
                    ln.sources.append(
                        {
                            "figure": "cogs",
                            "kind": "unit_cost",
                            "amount": str(figures["cogs"]),
                            "currency": self.config.currency,
                            "unit_cost": str(unit_base.quantize(PLACES)),
                            "from": used,
                        }
                    )
            position = self.fifo.get(ln.row.id)
        return {
            "order_id": order.id,
            "order_line_id": ln.row.id,
            "variant_id": ln.row.variant_id,
            "connection_id": conn.id,
            "sku": ln.sku,
            "day": day,
            "currency": self.config.currency,
            "units": sold,
            "returned_units": ln.returned,
            "estimated": int(ln.estimated),
            "fifo_position": position,
            "fifo_units": ln.row.quantity if position is not None else 0,
            "cost_fallback": int(fallback),
            "sources": ln.sources,
            **figures,
        }
