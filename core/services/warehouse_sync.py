"""Warehouse systems (WMS, 3PL and marketplace warehouses) and stock reconciliation.

A warehouse run by another system is connected to it with :func:`connect_warehouse`: one
account per warehouse, naming an installed warehouse-system plugin that can report stock
(``warehouse.stock_pull``), its credentials encrypted with the vault as a connection's are,
and its base URL checked against the server's outbound policy.

:func:`reconcile` makes the warehouse's levels follow what the system says it holds: each
SKU whose sellable ``on_hand`` differs from the level's is recorded as a stocktake
(:func:`crossdock.services.inventory.count_stock`, a ``stocktake`` ledger row "counted by
<system>"), computed from the level as locked, so a reservation or shipment at the same
moment is counted on top of it, never lost. SKUs the tenant does not have are reported,
not fatal. The ``warehouse_sync`` job (:mod:`crossdock.jobs.warehouses`) pulls and
reconciles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.base import among
from crossdock.db.models import InboundShipment as InboundShipmentRow
from crossdock.db.models import (
    InboundStatus,
    PurchaseOrder,
    StockLevel,
    Supplier,
    Variant,
    Warehouse,
    WarehouseAccountStatus,
    WarehouseInbound,
)
from crossdock.db.models import WarehouseAccount as AccountRow
from crossdock.errors import ChannelError, NotSupported, UserError
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import Plugins
from crossdock.providers import (
    Address,
    InboundLine,
    InboundReceipt,
    InboundShipment,
    StockLine,
    WarehouseAccount,
    WarehouseCapability,
)
from crossdock.security import Vault
from crossdock.services import inbound, purchasing
from crossdock.services.common import get_or_404
from crossdock.services.events import emit
from crossdock.services.inventory import count_stock
from crossdock.services.shipping import address_of
from crossdock.services.uow import UnitOfWork

__all__ = [
    "Difference",
    "Problem",
    "ReceiptOutcome",
    "apply_receipts",
    "asn_for",
    "connect_warehouse",
    "reconcile",
    "record_announced",
    "record_failure",
    "record_receipts_pulled",
    "record_refused",
    "record_synced",
    "warehouse_account",
]


class Problem(StrEnum):
    """Why a pulled line was not applied."""

    #: no variant of the tenant has this SKU
    UNKNOWN_SKU = "unknown_sku"
    #: fewer units than are reserved for orders here: release them first
    BELOW_RESERVED = "below_reserved"
    #: a negative quantity
    INVALID = "invalid"


@dataclass(frozen=True)
class Difference:
    """One SKU where the warehouse system and the level disagreed.

    Applied (``problem`` is ``None``): the level went from ``before`` to ``after``
    (``delta`` = ``after - before``) with a stocktake ledger row. Not applied: ``problem``
    says why; ``before`` and ``delta`` are ``None`` for an unknown SKU."""

    sku: str
    before: int | None
    after: int
    delta: int | None
    variant_id: int | None = None
    problem: Problem | None = None

    @property
    def applied(self) -> bool:
        return self.problem is None


def _credentials(value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise UserError("credentials must be a non-empty object", field="credentials", code="INVALID")
    return dict(value)


async def connect_warehouse(
    session: AsyncSession,
    plugins: Plugins,
    vault: Vault,
    policy: OutboundPolicy | None,
    *,
    warehouse_id: int,
    provider: str,
    credentials: Mapping[str, Any],
    base_url: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> AccountRow:
    """Connect warehouse ``warehouse_id`` to the warehouse system ``provider``.

    ``policy``: the server's outbound policy (``app.http.policy``); without one only public
    https base URLs are accepted. One account per warehouse (``TAKEN`` otherwise)."""
    try:
        system = plugins.warehouse_system(provider)
    except NotSupported as exc:
        raise UserError(str(exc), field="provider", code="UNKNOWN_PROVIDER") from None
    if WarehouseCapability.STOCK_PULL not in system.capabilities:
        raise UserError(
            f"{provider} cannot report a warehouse's stock ({WarehouseCapability.STOCK_PULL})",
            field="provider",
            code="NOT_SUPPORTED",
        )
    url = (policy or OutboundPolicy()).check_url(base_url, field="baseUrl") if base_url else None
    warehouse = await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    taken = await session.scalar(select(AccountRow.id).where(AccountRow.warehouse_id == warehouse.id))
    if taken is not None:
        raise UserError(
            f"warehouse {warehouse.code} is connected to a warehouse system already",
            field="warehouseId",
            code="TAKEN",
        )
    account = AccountRow(
        warehouse_id=warehouse.id,
        provider=provider,
        credentials_encrypted=vault.encrypt(_credentials(credentials)),
        base_url=url,
        settings=dict(settings or {}),
        status=WarehouseAccountStatus.ACTIVE,
    )
    session.add(account)
    await session.flush()
    return account


def warehouse_account(
    row: AccountRow, vault: Vault, *, tenant: str = "", http: OutboundHTTP | None = None
) -> WarehouseAccount:
    """The decrypted view a warehouse-system provider gets for one operation, calling out
    through ``http`` (the server's guarded pool)."""
    return WarehouseAccount(
        credentials=vault.decrypt(row.credentials_encrypted),
        base_url=row.base_url,
        settings=dict(row.settings or {}),
        http=http,
        warehouse_id=row.warehouse_id,
        tenant=tenant,
    )


async def reconcile(
    uow: UnitOfWork, warehouse_id: int, lines: Sequence[StockLine], *, source: str | None = None
) -> list[Difference]:
    """Make warehouse ``warehouse_id``'s levels follow ``lines``, what its warehouse system
    (``source``, by default the account's provider) says it holds.

    A SKU listed more than once counts the sum of its lines. The levels are locked in one
    order (as reservations lock them), each difference recorded as a stocktake counted by
    the system; a SKU the tenant lacks, a negative figure, or fewer units than are reserved
    here are reported and change nothing. Returns every difference, applied or not, and
    emits ``warehouse.reconciled`` with the counts when there was one."""
    session = uow.session
    warehouse = await get_or_404(session, Warehouse, warehouse_id, field="warehouseId")
    if source is None:
        source = await session.scalar(
            select(AccountRow.provider).where(AccountRow.warehouse_id == warehouse.id)
        )
    who = source or "the warehouse system"
    pulled: dict[str, int] = {}
    for line in lines:
        pulled[line.sku] = pulled.get(line.sku, 0) + int(line.on_hand)
    found: list[Difference] = []
    dialect = session.get_bind().dialect.name
    variants: dict[str, int] = {}
    if pulled:
        rows = await session.execute(
            select(Variant.sku, Variant.id).where(among(dialect, Variant.sku, list(pulled)))
        )
        variants = {sku: variant_id for sku, variant_id in rows}
    for sku in sorted(set(pulled) - set(variants)):
        found.append(Difference(sku, None, pulled[sku], None, problem=Problem.UNKNOWN_SKU))
    known = sorted(variants.items(), key=lambda item: item[1])  # the levels' lock order
    levels: dict[int, StockLevel] = {}
    if known:
        stmt = (
            select(StockLevel)
            .where(
                StockLevel.warehouse_id == warehouse.id,
                among(dialect, StockLevel.variant_id, [variant_id for _, variant_id in known]),
            )
            .order_by(StockLevel.variant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        levels = {level.variant_id: level for level in (await session.scalars(stmt)).all()}
    changed = 0
    for sku, variant_id in known:
        level = levels.get(variant_id)
        before = level.on_hand if level is not None else 0
        after = pulled[sku]
        if after == before:
            continue
        if after < 0:
            found.append(Difference(sku, before, after, after - before, variant_id, Problem.INVALID))
            continue
        try:
            counted = await count_stock(
                uow,
                variant_id=variant_id,
                warehouse_id=warehouse.id,
                counted=after,
                note=f"counted by {who}",
            )
        except UserError as exc:
            if exc.code != "BELOW_RESERVED":
                raise
            found.append(Difference(sku, before, after, after - before, variant_id, Problem.BELOW_RESERVED))
            continue
        changed += 1
        found.append(Difference(sku, before, counted.on_hand, counted.on_hand - before, variant_id))
    if found:
        emit(
            session,
            "warehouse.reconciled",
            f"Warehouse:{warehouse.id}",
            warehouse_id=warehouse.id,
            provider=source,
            lines=len(lines),
            changed=changed,
            unknown=sum(1 for d in found if d.problem == Problem.UNKNOWN_SKU),
            refused=sum(1 for d in found if d.problem not in (None, Problem.UNKNOWN_SKU)),
        )
    return found


async def record_synced(session: AsyncSession, account_id: int) -> None:
    """The account's pull and reconciliation succeeded: active again, no error."""
    row = await session.scalar(select(AccountRow).where(AccountRow.id == account_id))
    if row is not None:
        row.last_synced_at = utcnow()
        row.status = WarehouseAccountStatus.ACTIVE
        row.last_error = None


async def record_failure(session: AsyncSession, account_id: int, exc: ChannelError) -> None:
    """The warehouse system failed to answer: the account is ``failing`` with the error."""
    row = await session.scalar(select(AccountRow).where(AccountRow.id == account_id))
    if row is not None:
        row.status = WarehouseAccountStatus.FAILING
        row.last_error = f"{exc.code}: {exc.message}"


# --------------------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class ReceiptOutcome:
    """What one pulled receipt did: ``booked`` good and ``damaged`` units newly booked
    against the delivery it names; ``problem`` why it did nothing (or only part)."""

    reference: str
    booked: int = 0
    damaged: int = 0
    complete: bool = False
    problem: str | None = None


async def _skus(session: AsyncSession, variant_ids: Sequence[int]) -> dict[int, str]:
    rows = await session.execute(select(Variant.id, Variant.sku).where(Variant.id.in_(set(variant_ids))))
    return {vid: sku for vid, sku in rows.all()}


async def asn_for(session: AsyncSession, row: WarehouseInbound) -> InboundShipment:
    """The ASN announcing delivery ``row``: the purchase order's open lines (from its
    supplier) or the inbound shipment's lines (from its source warehouse), by SKU."""
    if row.purchase_order_id is not None:
        order = await get_or_404(session, PurchaseOrder, row.purchase_order_id)
        supplier = await get_or_404(session, Supplier, order.supplier_id)
        lines = await purchasing.order_lines(session, order.id)
        skus = await _skus(session, [line.variant_id for line in lines])
        wanted = [
            InboundLine(skus[line.variant_id], line.quantity - line.received_quantity)
            for line in lines
            if line.quantity > line.received_quantity
        ]
        origin = Address(name=supplier.name, email=supplier.email)
        return InboundShipment(
            reference=row.reference, lines=wanted, expected_on=order.expected_on, ship_from=origin
        )
    assert row.shipment_id is not None
    shipment = await get_or_404(session, InboundShipmentRow, row.shipment_id)
    source = await get_or_404(session, Warehouse, shipment.from_warehouse_id)
    sent = await inbound.shipment_lines(session, shipment.id)
    skus = await _skus(session, [line.variant_id for line in sent])
    origin = address_of(source.address, source.country)
    return InboundShipment(
        reference=row.reference,
        lines=[InboundLine(skus[line.variant_id], line.quantity) for line in sent],
        expected_on=shipment.expected_on,
        ship_from=replace(origin, name=origin.name or source.name),
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
    )


async def record_announced(
    session: AsyncSession, inbound_id: int, external_id: str | None, *, taken: bool
) -> None:
    """The system holds the ASN (``taken``) or takes none (``not_announced``)."""
    row = await session.scalar(
        select(WarehouseInbound).where(WarehouseInbound.id == inbound_id).with_for_update()
    )
    if row is None or row.status not in (InboundStatus.PENDING, InboundStatus.FAILED):
        return
    row.attempts += 1
    row.status = InboundStatus.ANNOUNCED if taken else InboundStatus.NOT_ANNOUNCED
    row.external_id = external_id
    row.last_error = None
    row.announced_at = utcnow() if taken else None
    emit(
        session,
        "warehouse.inbound_announced" if taken else "warehouse.inbound_expected",
        f"WarehouseInbound:{row.id}",
        warehouse_id=row.warehouse_id,
        reference=row.reference,
        external_id=external_id,
    )


async def record_refused(session: AsyncSession, inbound_id: int, exc: ChannelError) -> None:
    """The system could not take the ASN: ``failed`` when it refused it for good (the error
    kept), still ``pending`` (an attempt counted) when it may take it later."""
    row = await session.scalar(
        select(WarehouseInbound).where(WarehouseInbound.id == inbound_id).with_for_update()
    )
    if row is None or row.status not in (InboundStatus.PENDING, InboundStatus.FAILED):
        return
    row.attempts += 1
    row.last_error = f"{exc.code}: {exc.message}"
    if not exc.retryable:
        row.status = InboundStatus.FAILED
        emit(
            session,
            "warehouse.inbound_refused",
            f"WarehouseInbound:{row.id}",
            warehouse_id=row.warehouse_id,
            reference=row.reference,
            error=row.last_error,
        )


async def apply_receipts(
    uow: UnitOfWork, warehouse_id: int, receipts: Sequence[InboundReceipt], *, source: str
) -> list[ReceiptOutcome]:
    """Book in what the warehouse system says it received against deliveries announced to it.

    A receipt names the delivery by the reference it was announced under, and counts what
    the warehouse has received of it so far (a receipt pulled again, or a recount, books
    only what is new: each SKU's good and damaged units beyond those booked before). Against
    a purchase order, the new units are a receipt of the order (on hand at landed cost);
    against an inbound shipment, the shipment is booked in once the system says the
    delivery is ``complete``. A reference not expected here, a SKU not on the delivery, a
    count lower than one booked before, or an order that no longer takes receipts is
    reported and books nothing of it."""
    session = uow.session
    outcomes: list[ReceiptOutcome] = []
    named = sorted({line.sku for receipt in receipts for line in receipt.lines})
    dialect = session.get_bind().dialect.name
    skus: dict[str, int] = {}
    if named:
        found = await session.execute(
            select(Variant.sku, Variant.id).where(among(dialect, Variant.sku, named))
        )
        skus = {sku: vid for sku, vid in found.all()}
    for receipt in receipts:
        row = await session.scalar(
            select(WarehouseInbound)
            .where(
                WarehouseInbound.warehouse_id == warehouse_id, WarehouseInbound.reference == receipt.reference
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            outcomes.append(ReceiptOutcome(receipt.reference, problem="unknown_reference"))
            continue
        if row.status in (InboundStatus.CANCELLED, InboundStatus.RECEIVED):
            outcomes.append(ReceiptOutcome(receipt.reference, problem=f"delivery_{row.status}"))
            continue
        totals: dict[str, list[int]] = {}
        for line in receipt.lines:
            seen = totals.setdefault(line.sku, [0, 0])
            seen[0] += int(line.received)
            seen[1] += int(line.damaged)
        if row.purchase_order_id is not None:
            outcomes.append(await _book_order(uow, row, receipt, totals, skus, source))
        else:
            outcomes.append(await _book_shipment(uow, row, receipt, totals, skus, source))
    return outcomes


async def _book_order(
    uow: UnitOfWork,
    row: WarehouseInbound,
    receipt: InboundReceipt,
    totals: Mapping[str, list[int]],
    skus: Mapping[str, int],
    source: str,
) -> ReceiptOutcome:
    assert row.purchase_order_id is not None
    by_variant = {
        line.variant_id: line for line in await purchasing.order_lines(uow.session, row.purchase_order_id)
    }
    counted = {sku: list(v) for sku, v in (row.counted or {}).items()}
    new: list[purchasing.ReceiptInput] = []
    problem: str | None = None
    for sku, (good, damaged) in sorted(totals.items()):
        line = by_variant.get(skus.get(sku, -1))
        if line is None:
            problem = "unknown_sku"
            continue
        before = counted.get(sku, [0, 0])
        more_good, more_damaged = good - before[0], damaged - before[1]
        if more_good < 0 or more_damaged < 0:
            problem = "count_lowered"
            continue
        if more_good or more_damaged:
            new.append(purchasing.ReceiptInput(line.id, more_good, more_damaged))
            counted[sku] = [good, damaged]
    booked = sum(line.quantity for line in new)
    damaged_total = sum(line.damaged for line in new)
    if new:
        try:
            async with uow.session.begin_nested():
                await purchasing.receive_purchase_order(
                    uow,
                    row.purchase_order_id,
                    new,
                    reference=f"{source} {receipt.external_id or receipt.reference}",
                    note=f"received by {source}",
                )
        except UserError as exc:
            return ReceiptOutcome(receipt.reference, problem=exc.code.lower())
        row.counted = counted
    if receipt.complete:
        row.status = InboundStatus.RECEIVED
        row.received_at = receipt.received_at or utcnow()
    return ReceiptOutcome(receipt.reference, booked, damaged_total, receipt.complete, problem)


async def _book_shipment(
    uow: UnitOfWork,
    row: WarehouseInbound,
    receipt: InboundReceipt,
    totals: Mapping[str, list[int]],
    skus: Mapping[str, int],
    source: str,
) -> ReceiptOutcome:
    assert row.shipment_id is not None
    lines = {line.variant_id: line for line in await inbound.shipment_lines(uow.session, row.shipment_id)}
    problem: str | None = None
    counts: dict[int, tuple[int, int]] = {}
    for sku, (good, damaged) in sorted(totals.items()):
        line = lines.get(skus.get(sku, -1))
        if line is None:
            problem = "unknown_sku"
            continue
        counts[line.id] = (min(good, line.quantity), min(damaged, max(0, line.quantity - good)))
    row.counted = {sku: list(v) for sku, v in totals.items()}
    if not receipt.complete:
        return ReceiptOutcome(receipt.reference, problem=problem)
    try:
        async with uow.session.begin_nested():
            await inbound.receive_shipment(
                uow,
                row.shipment_id,
                [inbound.LineReceipt(line_id, good, damaged) for line_id, (good, damaged) in counts.items()],
                source=source,
            )
    except UserError as exc:
        return ReceiptOutcome(receipt.reference, problem=exc.code.lower())
    row.status = InboundStatus.RECEIVED
    row.received_at = receipt.received_at or utcnow()
    return ReceiptOutcome(
        receipt.reference,
        sum(good for good, _ in counts.values()),
        sum(damaged for _, damaged in counts.values()),
        True,
        problem,
    )


async def record_receipts_pulled(session: AsyncSession, account_id: int, since: datetime) -> None:
    """Receipts are pulled from ``since`` next time."""
    row = await session.scalar(select(AccountRow).where(AccountRow.id == account_id))
    if row is not None:
        row.receipts_since = since
