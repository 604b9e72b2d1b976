"""Warehouses and stock. Every change to a level writes one ledger row in the same
transaction; the database's check constraints refuse a negative level, so an oversell is
an error, never a silent negative number.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Integer, column, insert, select, tuple_, update, values
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    Connection,
    Listing,
    StockLedgerEntry,
    StockLevel,
    StockReason,
    Transfer,
    TransferStatus,
    Variant,
    Warehouse,
    WarehouseKind,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.db.validation import check_values
from crossdock.errors import TenantScopeError, UserError
from crossdock.providers import StockUpdate
from crossdock.services.availability import available_to_sell
from crossdock.services.common import country_code, get_or_404, non_empty
from crossdock.services.events import emit
from crossdock.services.states import check_transition, lock

if TYPE_CHECKING:
    from crossdock.services.uow import UnitOfWork

__all__ = [
    "StockPush",
    "adjust_stock",
    "cancel_transfer",
    "change_stock",
    "count_stock",
    "create_warehouse",
    "receive_stock",
    "receive_transfer",
    "record_change",
    "reserve_stock",
    "set_stock_policy",
    "start_transfer",
    "stock_to_push",
    "update_warehouse",
    "write_off",
]

_UNSET: Any = object()


def _kind(value: str) -> str:
    try:
        return WarehouseKind(value).value
    except ValueError:
        allowed = ", ".join(k.value for k in WarehouseKind)
        raise UserError(f"kind must be one of {allowed}", field="kind", code="INVALID") from None


def _countries(values: Sequence[str]) -> list[str]:
    return sorted({country_code(c, f"servesCountries.{i}") for i, c in enumerate(values)})


async def _check_code_free(session: AsyncSession, code: str, exclude: int | None = None) -> None:
    stmt = select(Warehouse.id).where(Warehouse.code == code)
    if exclude is not None:
        stmt = stmt.where(Warehouse.id != exclude)
    if await session.scalar(stmt) is not None:
        raise UserError(f"warehouse code {code!r} is already used", field="code", code="TAKEN")


async def _check_connection(session: AsyncSession, kind: str, connection_id: int | None) -> None:
    if connection_id is not None:
        await get_or_404(session, Connection, connection_id, field="connectionId")
    if kind == WarehouseKind.MARKETPLACE and connection_id is None:
        raise UserError(
            "a marketplace-fulfilled warehouse names the connection that holds its stock",
            field="connectionId",
            code="REQUIRED",
        )


async def create_warehouse(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    country: str,
    kind: str = WarehouseKind.OWN,
    serves_countries: Sequence[str] = (),
    priority: int = 100,
    connection_id: int | None = None,
) -> Warehouse:
    code = non_empty(code, "code", max_length=32)
    kind = _kind(kind)
    await _check_code_free(session, code)
    await _check_connection(session, kind, connection_id)
    warehouse = Warehouse(
        code=code,
        name=non_empty(name, "name"),
        country=country_code(country, "country"),
        kind=kind,
        serves_countries=_countries(serves_countries),
        priority=priority,
        connection_id=connection_id,
    )
    session.add(warehouse)
    await session.flush()
    return warehouse


async def update_warehouse(
    session: AsyncSession,
    warehouse_id: int,
    *,
    code: str | None = None,
    name: str | None = None,
    country: str | None = None,
    kind: str | None = None,
    serves_countries: Sequence[str] | None = None,
    priority: int | None = None,
    connection_id: int | None = _UNSET,
    active: bool | None = None,
) -> Warehouse:
    wh = await get_or_404(session, Warehouse, warehouse_id)
    if code is not None:
        code = non_empty(code, "code", max_length=32)
        await _check_code_free(session, code, exclude=wh.id)
        wh.code = code
    if name is not None:
        wh.name = non_empty(name, "name")
    if country is not None:
        wh.country = country_code(country, "country")
    if kind is not None:
        wh.kind = _kind(kind)
    if serves_countries is not None:
        wh.serves_countries = _countries(serves_countries)
    if priority is not None:
        wh.priority = priority
    if connection_id is not _UNSET:
        wh.connection_id = connection_id
    await _check_connection(session, wh.kind, wh.connection_id)
    if active is not None:
        wh.active = active
    await session.flush()
    return wh


@dataclass(frozen=True)
class LevelChange:
    """A level after a change: what :func:`record_change` returns instead of a loaded row."""

    level_id: int
    on_hand: int
    reserved: int


async def change_stock(uow: UnitOfWork, **kwargs: Any) -> StockLevel:
    """:func:`record_change`, then the changed level as an ORM row (for the API)."""
    session = uow.session
    change = await record_change(uow, **kwargs)
    level = await session.scalar(
        select(StockLevel).where(StockLevel.id == change.level_id).execution_options(populate_existing=True)
    )
    assert level is not None
    return level


async def record_change(
    uow: UnitOfWork,
    *,
    variant_id: int,
    warehouse_id: int,
    delta_on_hand: int = 0,
    delta_reserved: int = 0,
    reason: StockReason,
    reference: str | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
    api_key_id: int | None = None,
    field: str = "quantity",
    checked: bool = False,
    savepoint: bool = True,
) -> LevelChange:
    """Apply one change to one level and write its ledger row, atomically.

    The level is changed by a single ``UPDATE ... SET on_hand = on_hand + :delta`` so two
    concurrent changes add up instead of overwriting each other; a change that would take
    the level below zero (or below what is reserved) violates a check constraint and
    becomes ``INSUFFICIENT_STOCK`` with nothing written.

    After commit: the ``crossdock_stock_changed`` hook, a coalesced stock push to every
    connection listing the variant, and, when stock became available, a coalesced run of
    the allocator for orders waiting on it. ``checked=True`` skips the existence checks
    for callers that already loaded the variant and warehouse of this tenant;
    ``savepoint=False`` is for callers that hold their own savepoint around several changes
    (a refused change then aborts up to theirs).
    """
    session = uow.session
    if not checked:
        await get_or_404(session, Variant, variant_id, field="variantId")
        await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    # the ledger row is a Core insert, which the ORM's flush check does not see
    check_values(StockLedgerEntry, {"reference": reference, "note": note, "details": details})
    tenant_id = session_tenant(session.sync_session)
    if tenant_id is None:
        raise TenantScopeError("stock changes need a tenant's session")
    if delta_on_hand > 0:  # stock may arrive where there was none
        await _ensure_level(session, tenant_id, variant_id, warehouse_id)
    statement = (
        update(StockLevel)
        .where(StockLevel.variant_id == variant_id, StockLevel.warehouse_id == warehouse_id)
        .values(on_hand=StockLevel.on_hand + delta_on_hand, reserved=StockLevel.reserved + delta_reserved)
        .returning(StockLevel.id, StockLevel.on_hand, StockLevel.reserved, StockLevel.low_stock_threshold)
    )
    try:
        if savepoint:
            async with session.begin_nested():
                row = (await session.execute(statement)).one_or_none()
        else:
            row = (await session.execute(statement)).one_or_none()
    except IntegrityError:
        row = None
    if row is None:  # below zero (a check constraint refused it), or no stock here at all
        raise UserError("not enough stock for this change", field=field, code="INSUFFICIENT_STOCK")
    await session.execute(
        insert(StockLedgerEntry).values(
            tenant_id=tenant_id,
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            delta_on_hand=delta_on_hand,
            delta_reserved=delta_reserved,
            reason=reason.value,
            reference=reference,
            note=note,
            details=details or {},
            api_key_id=api_key_id,
        )
    )
    await _after_level_change(
        uow,
        tenant_id,
        variant_id,
        warehouse_id,
        row,
        moved=delta_on_hand - delta_reserved,
        reason=reason,
    )
    return LevelChange(row.id, row.on_hand, row.reserved)


@dataclass(frozen=True)
class Reservation:
    """Units of one variant to reserve in one warehouse, for the order named by ``reference``."""

    variant_id: int
    warehouse_id: int
    quantity: int
    reference: str


async def reserve_stock(uow: UnitOfWork, reservations: Sequence[Reservation]) -> None:
    """Reserve for many orders at once: what :func:`record_change` does for one, with one
    ``UPDATE`` for all levels (the page's quantities summed per level) and one ledger row
    per reservation.

    A level that cannot hold its total raises ``INSUFFICIENT_STOCK`` with nothing
    reported; the caller holds a savepoint around the call and undoes what was written.
    """
    session = uow.session
    if not reservations:
        return
    tenant_id = session_tenant(session.sync_session)
    if tenant_id is None:
        raise TenantScopeError("stock changes need a tenant's session")
    totals: dict[tuple[int, int], int] = {}
    for r in reservations:
        totals[(r.variant_id, r.warehouse_id)] = totals.get((r.variant_id, r.warehouse_id), 0) + r.quantity
    levels = sorted(totals.items())
    if session.get_bind().dialect.name != "sqlite":  # SQLite's writers are serialized already
        # lock the levels in one order, so two pages reserving the same levels queue up
        # instead of deadlocking
        await session.execute(
            select(StockLevel.id)
            .where(tuple_(StockLevel.variant_id, StockLevel.warehouse_id).in_([key for key, _ in levels]))
            .order_by(StockLevel.variant_id, StockLevel.warehouse_id)
            .with_for_update()
        )
    page = (
        values(
            column("variant_id", BigInteger()),
            column("warehouse_id", BigInteger()),
            column("quantity", Integer()),
            name="page",
        )
        .data([(v, w, q) for (v, w), q in levels])
        .cte("page")
    )  # a CTE: SQLite has no VALUES alias list
    statement = (
        update(StockLevel)
        .where(StockLevel.variant_id == page.c.variant_id, StockLevel.warehouse_id == page.c.warehouse_id)
        .values(reserved=StockLevel.reserved + page.c.quantity)
        .returning(
            StockLevel.variant_id,
            StockLevel.warehouse_id,
            StockLevel.id,
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.low_stock_threshold,
        )
        .execution_options(synchronize_session=False)
    )
    try:
        rows = (await session.execute(statement)).all()
    except IntegrityError:  # a level's check constraint refused its total
        rows = []
    if len(rows) != len(levels):  # refused, or no stock row there at all
        raise UserError("not enough stock for this change", field="quantity", code="INSUFFICIENT_STOCK")
    after = {(row.variant_id, row.warehouse_id): row for row in rows}
    await session.execute(
        insert(StockLedgerEntry),
        [
            {
                "tenant_id": tenant_id,
                "variant_id": r.variant_id,
                "warehouse_id": r.warehouse_id,
                "delta_on_hand": 0,
                "delta_reserved": r.quantity,
                "reason": StockReason.RESERVATION.value,
                "reference": r.reference,
                "note": None,
                "details": {},
                "api_key_id": None,
            }
            for r in reservations
        ],
    )
    await _listing_connections(session, {v for v, _ in after})  # one query for the page
    for (variant_id, warehouse_id), row in after.items():
        await _after_level_change(
            uow,
            tenant_id,
            variant_id,
            warehouse_id,
            row,
            moved=-totals[(variant_id, warehouse_id)],
            reason=StockReason.RESERVATION,
        )


async def _after_level_change(
    uow: UnitOfWork,
    tenant_id: int,
    variant_id: int,
    warehouse_id: int,
    row: Any,
    *,
    moved: int,
    reason: StockReason,
) -> None:
    """What follows a level's change of ``moved`` units available: ``stock.low`` when it
    falls to its threshold, the reactions to what can be sold, the plugins' hook."""
    session = uow.session
    available = row.on_hand - row.reserved
    before = available - moved
    threshold = row.low_stock_threshold
    if threshold is not None and available <= threshold < before:
        emit(
            session,
            "stock.low",
            f"StockLevel:{row.id}",
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            available=available,
            threshold=threshold,
        )
    if available != before:
        await _after_availability_change(uow, variant_id, tenant_id, rose=available > before)
    uow.after_commit(
        functools.partial(
            uow.plugins.stock_changed,
            tenant=session_tenant_slug(session),
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            on_hand=row.on_hand,
            reserved=row.reserved,
            reason=reason.value,
        )
    )


async def _listing_connections(session: AsyncSession, variant_ids: set[int]) -> None:
    """Load, in one query, which connections list each variant (cached per transaction)."""
    cache: dict[int, list[int]] = session.info.setdefault("listing_connections", {})
    missing = variant_ids - cache.keys()
    if not missing:
        return
    for variant_id in missing:
        cache[variant_id] = []
    rows = await session.execute(
        select(Listing.variant_id, Listing.connection_id).where(Listing.variant_id.in_(missing)).distinct()
    )
    for variant_id, connection_id in rows:
        cache[variant_id].append(connection_id)


async def _after_availability_change(uow: UnitOfWork, variant_id: int, tenant_id: int, *, rose: bool) -> None:
    """Schedule the reactions to a change in what can be sold (coalesced, after commit)."""
    session = uow.session
    cache: dict[int, list[int]] = session.info.setdefault("listing_connections", {})
    if variant_id not in cache:  # once per variant per transaction
        await _listing_connections(session, {variant_id})
    scheduled: set[str] = session.info.setdefault("scheduled_pushes", set())
    for connection_id in cache[variant_id]:
        if f"{connection_id}" not in scheduled:  # one enqueue per connection per transaction
            scheduled.add(f"{connection_id}")
            uow.enqueue_coalesced(
                "push_stock", f"{connection_id}", tenant_id=tenant_id, connection_id=connection_id
            )
    if rose and "allocate_waiting" not in scheduled:
        scheduled.add("allocate_waiting")
        uow.enqueue_coalesced("allocate_waiting", f"{tenant_id}", tenant_id=tenant_id)


async def _ensure_level(session: AsyncSession, tenant_id: int, variant_id: int, warehouse_id: int) -> None:
    """Create the (empty) level row if it does not exist yet; safe under concurrency."""
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(StockLevel)
    await session.execute(
        ins.values(
            tenant_id=tenant_id,
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            on_hand=0,
            reserved=0,
            safety_stock=0,
        ).on_conflict_do_nothing(index_elements=["variant_id", "warehouse_id"])
    )


async def _level(
    session: AsyncSession, variant_id: int, warehouse_id: int, *, for_update: bool = False
) -> StockLevel | None:
    stmt = select(StockLevel).where(
        StockLevel.variant_id == variant_id, StockLevel.warehouse_id == warehouse_id
    )
    if for_update:  # read fresh and hold it: the caller computes a change from what it reads
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def count_stock(
    uow: UnitOfWork,
    *,
    variant_id: int,
    warehouse_id: int,
    counted: int,
    note: str | None = None,
    api_key_id: int | None = None,
) -> StockLevel:
    """A stocktake: the counted quantity becomes on hand, the variance a ledger row."""
    session = uow.session
    if counted < 0:
        raise UserError("a count cannot be negative", field="counted", code="INVALID")
    await get_or_404(session, Variant, variant_id, field="variantId")
    await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    # the variance is computed from what is on hand: two counts (or a count and a shipment)
    # at once must see each other's result, not both the same starting figure
    level = await _level(session, variant_id, warehouse_id, for_update=True)
    previous = level.on_hand if level else 0
    if level is not None and counted < level.reserved:
        raise UserError(
            f"{level.reserved} units are reserved for orders; release them before counting fewer",
            field="counted",
            code="BELOW_RESERVED",
        )
    return await change_stock(
        uow,
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        delta_on_hand=counted - previous,
        reason=StockReason.STOCKTAKE,
        note=note,
        details={"counted": counted, "previous": previous, "variance": counted - previous},
        api_key_id=api_key_id,
        field="counted",
        checked=True,
    )


async def write_off(
    uow: UnitOfWork,
    *,
    variant_id: int,
    warehouse_id: int,
    quantity: int,
    note: str,
    api_key_id: int | None = None,
) -> StockLevel:
    """Damaged or lost units leave on-hand stock with reason ``damage``."""
    if quantity <= 0:
        raise UserError("write off at least one unit", field="quantity", code="INVALID")
    return await change_stock(
        uow,
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        delta_on_hand=-quantity,
        reason=StockReason.DAMAGE,
        note=non_empty(note, "note"),
        api_key_id=api_key_id,
    )


async def set_stock_policy(
    uow: UnitOfWork,
    *,
    variant_id: int,
    warehouse_id: int,
    safety_stock: int | None = None,
    low_stock_threshold: int | None = _UNSET,
) -> StockLevel:
    """Safety stock (held back from channels) and the low-stock threshold of one level."""
    session = uow.session
    if safety_stock is not None and safety_stock < 0:
        raise UserError("safety stock cannot be negative", field="safetyStock", code="INVALID")
    tenant_id = session_tenant(session.sync_session)
    if tenant_id is None:
        raise TenantScopeError("stock policies need a tenant's session")
    await _ensure_level(session, tenant_id, variant_id, warehouse_id)  # a policy, not a stock movement
    level = await _level(session, variant_id, warehouse_id)
    assert level is not None
    if safety_stock is not None:
        level.safety_stock = safety_stock
    if low_stock_threshold is not _UNSET:
        level.low_stock_threshold = low_stock_threshold
    await session.flush()
    await _after_availability_change(uow, variant_id, tenant_id, rose=False)
    return level


async def start_transfer(
    uow: UnitOfWork,
    *,
    variant_id: int,
    from_warehouse_id: int,
    to_warehouse_id: int,
    quantity: int,
    reference: str | None = None,
    api_key_id: int | None = None,
) -> Transfer:
    """Units leave the source now and are in transit until :func:`receive_transfer`."""
    session = uow.session
    if quantity <= 0:
        raise UserError("transfer at least one unit", field="quantity", code="INVALID")
    if from_warehouse_id == to_warehouse_id:
        raise UserError("source and target are the same warehouse", field="toWarehouseId", code="INVALID")
    await get_or_404(session, Warehouse, to_warehouse_id, field="toWarehouseId")
    transfer = Transfer(
        variant_id=variant_id,
        from_warehouse_id=from_warehouse_id,
        to_warehouse_id=to_warehouse_id,
        quantity=quantity,
        reference=reference,
    )
    await record_change(
        uow,
        variant_id=variant_id,
        warehouse_id=from_warehouse_id,
        delta_on_hand=-quantity,
        reason=StockReason.TRANSFER_OUT,
        reference=reference,
        api_key_id=api_key_id,
    )
    session.add(transfer)
    await session.flush()
    emit(session, "transfer.started", f"Transfer:{transfer.id}", quantity=quantity)
    return transfer


async def receive_transfer(
    uow: UnitOfWork,
    transfer_id: int,
    *,
    quantity: int | None = None,
    api_key_id: int | None = None,
) -> Transfer:
    """Book a transfer in at its target; ``quantity`` short of what was sent is recorded as
    received short (the difference stays visible on the transfer)."""
    session = uow.session
    transfer = await lock(session, Transfer, transfer_id)
    if transfer.status != TransferStatus.IN_TRANSIT:
        raise UserError(f"this transfer is {transfer.status} already", field="id", code="INVALID_STATE")
    received = transfer.quantity if quantity is None else quantity
    if not 0 <= received <= transfer.quantity:
        raise UserError(f"receive between 0 and {transfer.quantity}", field="quantity", code="INVALID")
    if received:
        await record_change(
            uow,
            variant_id=transfer.variant_id,
            warehouse_id=transfer.to_warehouse_id,
            delta_on_hand=received,
            reason=StockReason.TRANSFER_IN,
            reference=transfer.reference or f"transfer {transfer.id}",
            details={"transfer_id": transfer.id, "sent": transfer.quantity},
            api_key_id=api_key_id,
        )
    transfer.received_quantity = received
    check_transition("transfer", transfer.status, TransferStatus.RECEIVED)
    transfer.status = TransferStatus.RECEIVED
    transfer.received_at = utcnow()
    await session.flush()
    emit(session, "transfer.received", f"Transfer:{transfer.id}", received=received, sent=transfer.quantity)
    return transfer


async def cancel_transfer(
    uow: UnitOfWork,
    transfer_id: int,
    *,
    note: str | None = None,
    api_key_id: int | None = None,
) -> Transfer:
    """The goods never left (or came back): an in-transit transfer's units return to the
    source's shelf. A received transfer cannot be cancelled."""
    session = uow.session
    transfer = await lock(session, Transfer, transfer_id)
    if transfer.status != TransferStatus.IN_TRANSIT:
        raise UserError(f"this transfer is {transfer.status} already", field="id", code="INVALID_STATE")
    check_transition("transfer", transfer.status, TransferStatus.CANCELLED)
    await record_change(
        uow,
        variant_id=transfer.variant_id,
        warehouse_id=transfer.from_warehouse_id,
        delta_on_hand=transfer.quantity,
        reason=StockReason.TRANSFER_CANCELLED,
        reference=transfer.reference or f"transfer {transfer.id}",
        note=note,
        details={"transfer_id": transfer.id},
        api_key_id=api_key_id,
    )
    transfer.status = TransferStatus.CANCELLED
    await session.flush()
    emit(session, "transfer.cancelled", f"Transfer:{transfer.id}", quantity=transfer.quantity)
    return transfer


async def receive_stock(
    uow: UnitOfWork,
    *,
    variant_id: int,
    warehouse_id: int,
    quantity: int,
    reference: str | None = None,
    note: str | None = None,
    api_key_id: int | None = None,
) -> StockLevel:
    """A purchase receipt: ``quantity`` units arrive and go on hand."""
    if quantity <= 0:
        raise UserError("a receipt adds at least one unit", field="quantity", code="INVALID")
    return await change_stock(
        uow,
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        delta_on_hand=quantity,
        reason=StockReason.RECEIPT,
        reference=reference,
        note=note,
        api_key_id=api_key_id,
    )


async def adjust_stock(
    uow: UnitOfWork,
    *,
    variant_id: int,
    warehouse_id: int,
    delta: int,
    note: str,
    reference: str | None = None,
    api_key_id: int | None = None,
) -> StockLevel:
    """A manual correction of on-hand stock, with the operator's reason."""
    if delta == 0:
        raise UserError("an adjustment changes stock by at least one unit", field="delta", code="INVALID")
    return await change_stock(
        uow,
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        delta_on_hand=delta,
        reason=StockReason.ADJUSTMENT,
        reference=reference,
        note=non_empty(note, "note"),
        api_key_id=api_key_id,
        field="delta",
    )


@dataclass(frozen=True)
class StockPush:
    """A listing whose available-to-sell differs from what its channel was last told."""

    listing: Listing
    quantity: int

    @property
    def update(self) -> StockUpdate:
        listing = self.listing
        return StockUpdate(
            channel_sku=listing.channel_sku, quantity=self.quantity, external_id=listing.external_id
        )

    def recorded(self, now: datetime) -> tuple[Listing, dict[str, Any]]:
        """What :func:`crossdock.services.listings.record_push` stores once it is accepted."""
        return self.listing, {"last_pushed_quantity": self.quantity, "last_pushed_at": now}


async def stock_to_push(session: AsyncSession, connection: Connection) -> list[StockPush]:
    """Every listing of ``connection`` whose available-to-sell changed since its last push
    (not those still to publish: :func:`crossdock.services.listings.to_publish`)."""
    from crossdock.services.listings import to_publish

    ats = await available_to_sell(session, connection)
    waiting = await to_publish(session, connection.id)
    listings = [
        listing
        for listing in (
            await session.scalars(select(Listing).where(Listing.connection_id == connection.id))
        ).all()
        if not (listing.external_id is None and listing.variant_id in waiting)
    ]
    return [
        StockPush(listing, ats[listing.id])
        for listing in listings
        if listing.last_pushed_quantity != ats[listing.id]
    ]
