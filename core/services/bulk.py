"""Bulk exports: a list's rows (orders with their lines, stock levels, listings) written to
JSONL in the storage, asynchronously, as Shopify's ``bulkOperationRunQuery`` does.

**One at a time.** A tenant has at most one export created or running: the service checks,
and a partial unique index on ``bulk_exports (tenant_id) WHERE status IN ('created',
'running')`` refuses the second of two requests that passed the check together (the
mutation runs again and answers ``BULK_IN_PROGRESS``).

**The file.** One JSON object per line. An order is followed by its lines, each carrying
``__parentId`` (the order's id), as Shopify's bulk operations write nested connections: every
line stays small however many lines an order has, a reader streams the file without holding
an order open, and a client written for Shopify's files reads ours. IDs are the API's global
IDs, names its camelCase, enums its upper-case values, amounts decimal strings.

**Pages, parts and resumption.** The job reads the rows in keyset pages (``id > cursor``,
``id <= through_id``: rows made after the export started are left out) and writes each page
as one *part* in the storage, ``exports/<tenant>/<id>/<claim>-<seq>.jsonl``; then, in one
transaction, and only while it still holds the export's claim, records the part and moves
the cursor and the counts. Memory is one page, whatever the export's size. A worker killed
at any point leaves a cursor that matches the parts recorded: the periodic sweep releases
its lapsed claim, the next worker resumes after the cursor, and the part the dead worker may
have written but not recorded is never part of the file (its key carries the dead claim's
number, so it cannot overwrite a recorded part either; it is deleted when the export ends).
No line is doubled or lost. The file is the recorded parts in order: it is *published* by
the transaction marking the export ``COMPLETED`` (before that nothing can be downloaded), and
the download route streams it part by part.

A worker failing at it (the storage refusing, a bug) releases the claim and the sweep
queues it again; after :data:`MAX_ATTEMPTS` claims it is ``FAILED`` with the last error's
code. An export running longer than :data:`MAX_RUNTIME` is ``FAILED`` with ``TIMEOUT``.
Finished exports (completed, failed, canceled) are kept ``bulk_retention_days`` (default 7),
then their parts and rows are purged.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.base import among
from crossdock.db.models import (
    BulkExport,
    BulkExportErrorCode,
    BulkExportKind,
    BulkExportStatus,
    Listing,
    Order,
    OrderLine,
    StockLevel,
    Variant,
    Warehouse,
)
from crossdock.db.models.bulk import BULK_ACTIVE
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError
from crossdock.security import Scope
from crossdock.services.uow import UnitOfWork

__all__ = [
    "CONTENT_TYPE",
    "KIND_SCOPES",
    "LEASE",
    "MAX_ATTEMPTS",
    "PAGE",
    "Claim",
    "ExportFilter",
    "Page",
    "cancel_export",
    "claim",
    "complete",
    "current_export",
    "expired",
    "part_key",
    "read_page",
    "record_failure",
    "record_part",
    "start_export",
    "sweep",
]

#: Root rows per page (and per part of the file).
PAGE = 1000
#: How long a claim holds without the worker recording a part.
LEASE = timedelta(minutes=2)
#: Claims of one export before it is given up.
MAX_ATTEMPTS = 5
#: How long an export may run.
MAX_RUNTIME = timedelta(hours=24)
CONTENT_TYPE = "application/jsonl"
#: The scope reading a kind's rows needs: an export shows nothing its key could not page through.
KIND_SCOPES: dict[BulkExportKind, Scope] = {
    BulkExportKind.ORDERS: Scope.ORDERS_READ,
    BulkExportKind.STOCK: Scope.INVENTORY_READ,
    BulkExportKind.LISTINGS: Scope.CHANNELS_READ,
}
_ROOTS: dict[BulkExportKind, Any] = {
    BulkExportKind.ORDERS: Order,
    BulkExportKind.STOCK: StockLevel,
    BulkExportKind.LISTINGS: Listing,
}


@dataclass(frozen=True)
class ExportFilter:
    """Which rows an export takes: the simple filters of the ``orders``, ``stockLevels``
    and ``listings`` lists (ids are primary keys, resolved in the tenant beforehand)."""

    statuses: tuple[str, ...] = ()
    connection_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    warehouse_id: int | None = None
    variant_id: int | None = None
    low_stock: bool | None = None
    listing_status: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value is None or value == ():
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        if "statuses" in out:
            out["statuses"] = list(out["statuses"])
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportFilter:
        values: dict[str, Any] = {}
        for key, value in (data or {}).items():
            if key.endswith(("_after", "_before")) and value is not None:
                value = datetime.fromisoformat(value)
            elif key == "statuses":
                value = tuple(value)
            values[key] = value
        return cls(**values)

    def apply(self, kind: BulkExportKind, stmt: Select[Any]) -> Select[Any]:
        conditions: list[Any] = []
        if kind == BulkExportKind.ORDERS:
            if self.statuses:
                conditions.append(Order.status.in_(self.statuses))
            if self.connection_id is not None:
                conditions.append(Order.connection_id == self.connection_id)
            for value, column, after in (
                (self.created_after, Order.created_at, True),
                (self.created_before, Order.created_at, False),
                (self.updated_after, Order.updated_at, True),
                (self.updated_before, Order.updated_at, False),
            ):
                if value is not None:
                    conditions.append(column >= value if after else column < value)
        elif kind == BulkExportKind.STOCK:
            if self.warehouse_id is not None:
                conditions.append(StockLevel.warehouse_id == self.warehouse_id)
            if self.variant_id is not None:
                conditions.append(StockLevel.variant_id == self.variant_id)
            if self.low_stock:
                conditions += [
                    StockLevel.low_stock_threshold.is_not(None),
                    StockLevel.on_hand - StockLevel.reserved <= StockLevel.low_stock_threshold,
                ]
        else:
            if self.connection_id is not None:
                conditions.append(Listing.connection_id == self.connection_id)
            if self.variant_id is not None:
                conditions.append(Listing.variant_id == self.variant_id)
            if self.listing_status is not None:
                conditions.append(Listing.status == self.listing_status)
        return stmt.where(*conditions) if conditions else stmt


def encode_id(type_name: str, pk: int) -> str:
    """The API's global ID of a row (``crossdock.api.schema.relay.encode_id``'s format:
    base64url of ``Type:pk``, unpadded), made here so a worker need not load the schema."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def part_key(tenant_id: int, export_id: int, attempt: int, seq: int) -> str:
    """Where part ``seq`` of an export, written under claim number ``attempt``, is kept."""
    return f"exports/{tenant_id}/{export_id}/{attempt:03d}-{seq:06d}.jsonl"


async def _locked(session: AsyncSession, export_id: int) -> BulkExport | None:
    return await session.scalar(
        select(BulkExport)
        .where(BulkExport.id == export_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def current_export(session: AsyncSession) -> BulkExport | None:
    """The tenant's export created or running, else the last one made."""
    active = await session.scalar(select(BulkExport).where(BulkExport.status.in_(BULK_ACTIVE)))
    if active is not None:
        return active
    return await session.scalar(select(BulkExport).order_by(BulkExport.id.desc()).limit(1))


async def start_export(
    uow: UnitOfWork, kind: BulkExportKind, flt: ExportFilter, *, now: datetime | None = None
) -> BulkExport:
    """Make the tenant's export of ``kind`` and queue its job (after commit); refused with
    ``BULK_IN_PROGRESS`` while another is created or running."""
    session = uow.session
    now = now or utcnow()
    busy = await session.scalar(select(BulkExport.id).where(BulkExport.status.in_(BULK_ACTIVE)))
    if busy is not None:
        raise UserError(
            f"bulk export {encode_id('BulkExport', busy)} is still running: wait for it, or cancel it",
            field="kind",
            code="BULK_IN_PROGRESS",
        )
    root = _ROOTS[kind]
    through = await session.scalar(select(func.max(root.id)))
    row = BulkExport(
        kind=str(kind),
        status=BulkExportStatus.CREATED,
        filter=flt.as_json(),
        through_id=int(through or 0),
        cursor=0,
        parts=[],
        stale_keys=[],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()  # a concurrent start fails here on the partial unique index
    tenant = session_tenant(session.sync_session)
    uow.enqueue("bulk_export_run", job_id=f"bulk_export_run:{row.id}:0", tenant_id=tenant, export_id=row.id)
    return row


def _finish(row: BulkExport, status: BulkExportStatus, now: datetime, retention: timedelta) -> None:
    row.status = status
    row.finished_at = now
    row.expires_at = now + retention
    row.claim = None
    row.claimed_until = None
    row.updated_at = now


async def cancel_export(
    session: AsyncSession, export_id: int, *, retention: timedelta, now: datetime | None = None
) -> BulkExport:
    """Cancel an export created or running (its worker stops at its next part)."""
    now = now or utcnow()
    row = await _locked(session, export_id)
    assert row is not None  # resolved in the tenant beforehand
    if row.status not in BULK_ACTIVE:
        raise UserError(
            f"the export is {row.status}: only a created or running one can be canceled",
            field="id",
            code="INVALID_STATE",
        )
    _finish(row, BulkExportStatus.CANCELED, now, retention)
    row.canceled_at = now
    return row


@dataclass
class Claim:
    """What a worker holding an export knows of it."""

    export_id: int
    token: str
    attempt: int
    kind: BulkExportKind
    filter: ExportFilter
    cursor: int
    through_id: int
    seq: int


async def claim(
    session: AsyncSession, export_id: int, *, retention: timedelta, now: datetime | None = None
) -> Claim | None:
    """Take the export for this worker, unless it is finished or held by a live claim. A
    claim after a lapsed one remembers the part the previous worker may have left
    unrecorded (deleted when the export ends). After :data:`MAX_ATTEMPTS` it fails."""
    now = now or utcnow()
    row = await _locked(session, export_id)
    if row is None or row.status not in BULK_ACTIVE:
        return None
    if row.claim is not None and row.claimed_until is not None and row.claimed_until > now:
        return None
    if row.attempts > 0:
        row.stale_keys = [
            *row.stale_keys,
            part_key(row.tenant_id, row.id, row.attempts, len(row.parts) + 1),
        ]
    if row.attempts >= MAX_ATTEMPTS:
        row.error_code = row.error_code or BulkExportErrorCode.INTERNAL_ERROR
        row.error_message = row.error_message or "workers kept stopping before it was written"
        _finish(row, BulkExportStatus.FAILED, now, retention)
        return None
    row.attempts += 1
    row.status = BulkExportStatus.RUNNING
    row.started_at = row.started_at or now
    row.claim = secrets.token_hex(16)
    row.claimed_until = now + LEASE
    row.updated_at = now
    return Claim(
        export_id=row.id,
        token=row.claim,
        attempt=row.attempts,
        kind=BulkExportKind(row.kind),
        filter=ExportFilter.from_json(row.filter),
        cursor=row.cursor,
        through_id=int(row.through_id or 0),
        seq=len(row.parts),
    )


@dataclass
class Page:
    """One page of rows as JSONL: its bytes, the roots and objects (lines) in it, and the
    id of its last root (the next page's cursor)."""

    data: bytes = b""
    roots: int = 0
    objects: int = 0
    last_id: int = 0
    lines: list[bytes] = field(default_factory=list)


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps({k: _text(v) for k, v in obj.items()}, separators=(",", ":")).encode() + b"\n"


async def read_page(
    session: AsyncSession, kind: BulkExportKind, flt: ExportFilter, *, after: int, through: int, limit: int
) -> Page:
    """The next ``limit`` root rows after ``after`` (ids up to ``through``) as JSONL, read
    as columns in a fixed number of statements."""
    root = _ROOTS[kind]
    page = Page()
    ids = select(root.id).where(root.id > after, root.id <= through)
    ids = flt.apply(kind, ids).order_by(root.id).limit(limit)
    if kind == BulkExportKind.ORDERS:
        stmt = select(
            Order.id,
            Order.external_id,
            Order.connection_id,
            Order.status,
            Order.channel_status,
            Order.payment_status,
            Order.currency,
            Order.total_amount,
            Order.tax_amount,
            Order.buyer_name,
            Order.buyer_email,
            Order.destination_country,
            Order.fulfilled_by_channel,
            Order.placed_at,
            Order.ship_by,
            Order.created_at,
            Order.updated_at,
        ).where(Order.id.in_(ids.scalar_subquery()))
        orders = (await session.execute(stmt.order_by(Order.id))).all()
        if not orders:
            return page
        last = orders[-1].id
        dialect = session.get_bind().dialect.name
        lines: dict[int, list[Any]] = {}
        for line in (
            await session.execute(
                select(
                    OrderLine.id,
                    OrderLine.order_id,
                    OrderLine.external_id,
                    OrderLine.variant_id,
                    OrderLine.sku,
                    OrderLine.title,
                    OrderLine.quantity,
                    OrderLine.unit_price_amount,
                    OrderLine.tax_amount,
                    OrderLine.tax_rate,
                )
                .where(among(dialect, OrderLine.order_id, [o.id for o in orders]))
                .order_by(OrderLine.order_id, OrderLine.id)
            )
        ).all():
            lines.setdefault(line.order_id, []).append(line)
        for o in orders:
            gid = encode_id("Order", o.id)
            page.lines.append(
                _line(
                    {
                        "id": gid,
                        "externalId": o.external_id,
                        "connectionId": encode_id("ChannelConnection", o.connection_id),
                        "status": _upper(o.status),
                        "channelStatus": o.channel_status,
                        "paymentStatus": o.payment_status,
                        "currency": o.currency,
                        "totalAmount": o.total_amount,
                        "taxAmount": o.tax_amount,
                        "buyerName": o.buyer_name,
                        "buyerEmail": o.buyer_email,
                        "destinationCountry": o.destination_country,
                        "fulfilledByChannel": o.fulfilled_by_channel,
                        "placedAt": o.placed_at,
                        "shipBy": o.ship_by,
                        "createdAt": o.created_at,
                        "updatedAt": o.updated_at,
                    }
                )
            )
            for line in lines.get(o.id, ()):
                page.lines.append(
                    _line(
                        {
                            "id": encode_id("OrderLine", line.id),
                            "__parentId": gid,
                            "externalId": line.external_id,
                            "sku": line.sku,
                            "variantId": encode_id("Variant", line.variant_id) if line.variant_id else None,
                            "title": line.title,
                            "quantity": line.quantity,
                            "unitPriceAmount": line.unit_price_amount,
                            "taxAmount": line.tax_amount,
                            "taxRate": line.tax_rate,
                        }
                    )
                )
        page.roots, page.last_id = len(orders), last
    elif kind == BulkExportKind.STOCK:
        rows = (
            await session.execute(
                select(
                    StockLevel.id,
                    StockLevel.variant_id,
                    Variant.sku,
                    StockLevel.warehouse_id,
                    Warehouse.code,
                    StockLevel.on_hand,
                    StockLevel.reserved,
                    StockLevel.safety_stock,
                    StockLevel.low_stock_threshold,
                    StockLevel.updated_at,
                )
                .join(Variant, Variant.id == StockLevel.variant_id)
                .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
                .where(StockLevel.id.in_(ids.scalar_subquery()))
                .order_by(StockLevel.id)
            )
        ).all()
        for r in rows:
            page.lines.append(
                _line(
                    {
                        "id": encode_id("StockLevel", r.id),
                        "variantId": encode_id("Variant", r.variant_id),
                        "sku": r.sku,
                        "warehouseId": encode_id("Warehouse", r.warehouse_id),
                        "warehouseCode": r.code,
                        "onHand": r.on_hand,
                        "reserved": r.reserved,
                        "available": r.on_hand - r.reserved,
                        "safetyStock": r.safety_stock,
                        "lowStockThreshold": r.low_stock_threshold,
                        "updatedAt": r.updated_at,
                    }
                )
            )
        if rows:
            page.roots, page.last_id = len(rows), rows[-1].id
    else:
        listed = (
            await session.execute(
                select(
                    Listing.id,
                    Listing.connection_id,
                    Listing.variant_id,
                    Variant.sku,
                    Listing.channel_sku,
                    Listing.external_id,
                    Listing.title,
                    Listing.status,
                    Listing.price_amount,
                    Listing.price_currency,
                    Listing.last_pushed_quantity,
                    Listing.last_pushed_at,
                    Listing.last_error,
                    Listing.created_at,
                    Listing.updated_at,
                )
                .join(Variant, Variant.id == Listing.variant_id)
                .where(Listing.id.in_(ids.scalar_subquery()))
                .order_by(Listing.id)
            )
        ).all()
        for li in listed:
            page.lines.append(
                _line(
                    {
                        "id": encode_id("Listing", li.id),
                        "connectionId": encode_id("ChannelConnection", li.connection_id),
                        "variantId": encode_id("Variant", li.variant_id),
                        "sku": li.sku,
                        "channelSku": li.channel_sku,
                        "externalId": li.external_id,
                        "title": li.title,
                        "status": _upper(li.status),
                        "priceAmount": li.price_amount,
                        "priceCurrency": li.price_currency,
                        "lastPushedQuantity": li.last_pushed_quantity,
                        "lastPushedAt": li.last_pushed_at,
                        "lastError": li.last_error,
                        "createdAt": li.created_at,
                        "updatedAt": li.updated_at,
                    }
                )
            )
        if listed:
            page.roots, page.last_id = len(listed), listed[-1].id
    page.objects = len(page.lines)
    page.data = b"".join(page.lines)
    page.lines = []
    return page


async def record_part(
    session: AsyncSession, held: Claim, key: str, page: Page, *, now: datetime | None = None
) -> bool:
    """Record a written part and move the cursor past it, if the claim still holds the
    export (False: it was canceled, or another worker took it over; stop)."""
    now = now or utcnow()
    row = await _locked(session, held.export_id)
    if row is None or row.status != BulkExportStatus.RUNNING or row.claim != held.token:
        return False
    row.parts = [*row.parts, [key, len(page.data), page.objects]]
    row.cursor = page.last_id
    row.object_count += page.objects
    row.root_object_count += page.roots
    row.file_size += len(page.data)
    row.claimed_until = now + LEASE
    row.updated_at = now
    return True


async def complete(
    session: AsyncSession, held: Claim, *, retention: timedelta, now: datetime | None = None
) -> list[str] | None:
    """Publish the file: the export is ``COMPLETED`` (if the claim still holds it); returns
    the keys of unrecorded parts to delete, or None when the claim was lost."""
    now = now or utcnow()
    row = await _locked(session, held.export_id)
    if row is None or row.status != BulkExportStatus.RUNNING or row.claim != held.token:
        return None
    _finish(row, BulkExportStatus.COMPLETED, now, retention)
    row.completed_at = now
    row.error_code = None
    row.error_message = None
    stale, row.stale_keys = list(row.stale_keys), []
    return stale


async def record_failure(
    session: AsyncSession,
    held: Claim,
    code: BulkExportErrorCode,
    message: str,
    *,
    retention: timedelta,
    now: datetime | None = None,
) -> None:
    """The worker could not go on: its claim is released for the sweep to queue the export
    again, or, after :data:`MAX_ATTEMPTS` claims, the export fails with ``code``."""
    now = now or utcnow()
    row = await _locked(session, held.export_id)
    if row is None or row.claim != held.token or row.status != BulkExportStatus.RUNNING:
        return
    row.error_code = str(code)
    row.error_message = message[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.stale_keys = [*row.stale_keys, part_key(row.tenant_id, row.id, row.attempts, len(row.parts) + 1)]
        _finish(row, BulkExportStatus.FAILED, now, retention)
        return
    row.claim = None
    row.claimed_until = None
    row.updated_at = now


async def sweep(
    session: AsyncSession, *, retention: timedelta, now: datetime | None = None
) -> list[tuple[int, int, int]]:
    """(System session.) Release the claims that lapsed (their worker died), fail the
    exports that ran too long, and return ``(tenant, export, attempts)`` of every export
    created or running that no live claim holds: to be queued."""
    now = now or utcnow()
    rows = (
        await session.scalars(
            select(BulkExport)
            .where(
                BulkExport.status.in_(BULK_ACTIVE),
                or_(BulkExport.claimed_until.is_(None), BulkExport.claimed_until <= now),
            )
            .order_by(BulkExport.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    due: list[tuple[int, int, int]] = []
    for row in rows:
        if row.started_at is not None and row.started_at < now - MAX_RUNTIME:
            row.error_code = BulkExportErrorCode.TIMEOUT
            row.error_message = f"ran for more than {MAX_RUNTIME}"
            row.stale_keys = [
                *row.stale_keys,
                part_key(row.tenant_id, row.id, row.attempts, len(row.parts) + 1),
            ]
            _finish(row, BulkExportStatus.FAILED, now, retention)
            continue
        if row.claim is not None:  # lapsed: its worker is gone (or too slow to keep it)
            row.claim = None
            row.claimed_until = None
            row.updated_at = now
        due.append((row.tenant_id, row.id, row.attempts))
    return due


async def expired(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 100
) -> list[BulkExport]:
    """(System session.) Finished exports past their retention, oldest first."""
    now = now or utcnow()
    return list(
        (
            await session.scalars(
                select(BulkExport)
                .where(BulkExport.expires_at.is_not(None), BulkExport.expires_at <= now)
                .order_by(BulkExport.expires_at, BulkExport.id)
                .limit(limit)
            )
        ).all()
    )


def file_keys(row: BulkExport) -> list[str]:
    """Every key an export's file may have left in the storage."""
    return [str(p[0]) for p in row.parts or []] + list(row.stale_keys or [])


async def forget(session: AsyncSession, export_ids: Sequence[int]) -> int:
    """(System session.) Delete the rows of purged exports (their files deleted first)."""
    if not export_ids:
        return 0
    result = await session.execute(
        delete(BulkExport)
        .where(BulkExport.id.in_(list(export_ids)), BulkExport.expires_at.is_not(None))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
