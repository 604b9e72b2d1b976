"""Warehouses and stock. Every change to a level writes one ledger row in the same
transaction; the database's check constraints refuse a negative level, so an oversell is
an error, never a silent negative number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crossdock.db.engine import after_commit
from crossdock.db.models import (
    Connection,
    StockLedgerEntry,
    StockLevel,
    StockReason,
    Variant,
    Warehouse,
    WarehouseKind,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import UserError
from crossdock.services.common import country_code, get_or_404, non_empty
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from crossdock.plugins import Plugins

__all__ = [
    "adjust_stock",
    "change_stock",
    "create_warehouse",
    "receive_stock",
    "update_warehouse",
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


async def change_stock(
    session: AsyncSession,
    *,
    variant_id: int,
    warehouse_id: int,
    delta_on_hand: int = 0,
    delta_reserved: int = 0,
    reason: StockReason,
    reference: str | None = None,
    note: str | None = None,
    api_key_id: int | None = None,
    plugins: Plugins | None = None,
    field: str = "quantity",
) -> StockLevel:
    """Apply one change to one level and write its ledger row, atomically.

    The level is changed by a single ``UPDATE ... SET on_hand = on_hand + :delta`` so two
    concurrent changes add up instead of overwriting each other; a change that would take
    the level below zero violates the check constraint and becomes ``INSUFFICIENT_STOCK``.
    """
    await get_or_404(session, Variant, variant_id, field="variantId")
    await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    tenant_id = session_tenant(session.sync_session)
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(StockLevel)
    await session.execute(
        ins.values(
            tenant_id=tenant_id, variant_id=variant_id, warehouse_id=warehouse_id, on_hand=0, reserved=0
        ).on_conflict_do_nothing(index_elements=["variant_id", "warehouse_id"])
    )
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    update(StockLevel)
                    .where(StockLevel.variant_id == variant_id, StockLevel.warehouse_id == warehouse_id)
                    .values(
                        on_hand=StockLevel.on_hand + delta_on_hand,
                        reserved=StockLevel.reserved + delta_reserved,
                    )
                    .returning(StockLevel.id, StockLevel.on_hand, StockLevel.reserved)
                )
            ).one()
    except IntegrityError:
        raise UserError("not enough stock for this change", field=field, code="INSUFFICIENT_STOCK") from None
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
            details={},
            api_key_id=api_key_id,
        )
    )
    level = await session.scalar(
        select(StockLevel).where(StockLevel.id == row.id).execution_options(populate_existing=True)
    )
    assert level is not None
    if plugins is not None:
        slug = session_tenant_slug(session)
        on_hand, reserved = row.on_hand, row.reserved
        after_commit(
            session,
            lambda: plugins.stock_changed(
                tenant=slug,
                variant_id=variant_id,
                warehouse_id=warehouse_id,
                on_hand=on_hand,
                reserved=reserved,
                reason=reason.value,
            ),
        )
    return level


async def receive_stock(
    session: AsyncSession,
    *,
    variant_id: int,
    warehouse_id: int,
    quantity: int,
    reference: str | None = None,
    note: str | None = None,
    api_key_id: int | None = None,
    plugins: Plugins | None = None,
) -> StockLevel:
    """A purchase receipt: ``quantity`` units arrive and go on hand."""
    if quantity <= 0:
        raise UserError("a receipt adds at least one unit", field="quantity", code="INVALID")
    return await change_stock(
        session,
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        delta_on_hand=quantity,
        reason=StockReason.RECEIPT,
        reference=reference,
        note=note,
        api_key_id=api_key_id,
        plugins=plugins,
    )


async def adjust_stock(
    session: AsyncSession,
    *,
    variant_id: int,
    warehouse_id: int,
    delta: int,
    note: str,
    reference: str | None = None,
    api_key_id: int | None = None,
    plugins: Plugins | None = None,
) -> StockLevel:
    """A manual correction of on-hand stock, with the operator's reason."""
    if delta == 0:
        raise UserError("an adjustment changes stock by at least one unit", field="delta", code="INVALID")
    return await change_stock(
        session,
        variant_id=variant_id,
        warehouse_id=warehouse_id,
        delta_on_hand=delta,
        reason=StockReason.ADJUSTMENT,
        reference=reference,
        note=non_empty(note, "note"),
        api_key_id=api_key_id,
        plugins=plugins,
        field="delta",
    )
