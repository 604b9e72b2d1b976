"""State changes, one way: lock what changes, then check the transition, then write.

Every service that changes an order, a shipment, a refund, a return or a transfer starts by
locking the row it changes (``SELECT … FOR UPDATE``) and reading it fresh, so two
requests in two server processes cannot both read "packed" and both ship. Locks are taken
in one global order, so two transactions never wait on each other in a cycle:

1. tenant-level rows (a connection, while a page of its orders or cases is ingested), then
   after-sales cases (a case's answer is recorded under its case's lock; what a case means
   for its order locks the order after it);
2. orders, by id (an order's row is the lock for everything that belongs to it: its
   shipments, allocations, refunds and returns);
3. shipments, by id;
4. transfers, by id;
5. stock levels, by (variant, warehouse), which :func:`crossdock.services.inventory.record_change`
   changes with conditional ``UPDATE`` statements under check constraints.

SQLite needs none of it: its writers are serialised (``BEGIN IMMEDIATE``), and it does not
know ``FOR UPDATE``, which SQLAlchemy leaves out there. Whatever still collides on
PostgreSQL (a deadlock with a path outside these rules, a serialization failure) is retried
by :func:`crossdock.db.retry.transaction`.

The tables below are the state machines: a transition they do not list is refused with
``INVALID_STATE``, whatever asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.base import Base
from crossdock.db.models import (
    InboundShipmentStatus,
    Order,
    OrderStatus,
    PurchaseOrderStatus,
    Shipment,
    ShipmentStatus,
    TransferStatus,
)
from crossdock.errors import NotFound, UserError

__all__ = [
    "INBOUND_SHIPMENT_TRANSITIONS",
    "ORDER_TRANSITIONS",
    "PURCHASE_ORDER_TRANSITIONS",
    "SHIPMENT_TRANSITIONS",
    "TRANSFER_TRANSITIONS",
    "check_transition",
    "lock",
    "lock_many",
    "lock_shipment",
]

M = TypeVar("M", bound=Base)
S = OrderStatus

#: Where an order may go from each state.
ORDER_TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.PENDING: frozenset({S.ON_HOLD, S.READY, S.ALLOCATED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.READY, S.ALLOCATED, S.CANCELLED}),
    S.READY: frozenset({S.ON_HOLD, S.ALLOCATED, S.CANCELLED, S.SHIPPED}),
    S.ALLOCATED: frozenset({S.ON_HOLD, S.PICKING, S.PACKED, S.SHIPPED, S.CANCELLED}),
    S.PICKING: frozenset({S.ON_HOLD, S.PACKED, S.SHIPPED, S.CANCELLED}),
    S.PACKED: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.RETURNED, S.REFUNDED}),
    S.RETURNED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}
SHIPMENT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    ShipmentStatus.PACKED: frozenset({ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.SHIPPED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}
TRANSFER_TRANSITIONS: Mapping[str, frozenset[str]] = {
    TransferStatus.IN_TRANSIT: frozenset({TransferStatus.RECEIVED, TransferStatus.CANCELLED}),
    TransferStatus.RECEIVED: frozenset(),
    TransferStatus.CANCELLED: frozenset(),
}
P = PurchaseOrderStatus
#: Where a purchase order may go (a receipt may follow another: partly or fully received).
PURCHASE_ORDER_TRANSITIONS: Mapping[str, frozenset[str]] = {
    P.DRAFT: frozenset({P.SENT, P.CANCELLED}),
    P.SENT: frozenset({P.PARTIALLY_RECEIVED, P.RECEIVED, P.CLOSED, P.CANCELLED}),
    P.PARTIALLY_RECEIVED: frozenset({P.PARTIALLY_RECEIVED, P.RECEIVED, P.CLOSED}),
    P.RECEIVED: frozenset({P.RECEIVED, P.CLOSED}),
    P.CLOSED: frozenset(),
    P.CANCELLED: frozenset(),
}
_IS = InboundShipmentStatus
#: Where an inbound shipment may go: received once (short or damaged lines included) or
#: cancelled while it is still on its way.
INBOUND_SHIPMENT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    _IS.IN_TRANSIT: frozenset({_IS.RECEIVED, _IS.CANCELLED}),
    _IS.RECEIVED: frozenset(),
    _IS.CANCELLED: frozenset(),
}
_MACHINES: Mapping[str, Mapping[str, frozenset[str]]] = {
    "inbound shipment": INBOUND_SHIPMENT_TRANSITIONS,
    "order": ORDER_TRANSITIONS,
    "purchase order": PURCHASE_ORDER_TRANSITIONS,
    "shipment": SHIPMENT_TRANSITIONS,
    "transfer": TRANSFER_TRANSITIONS,
}


def check_transition(kind: str, current: str, target: str, *, field: str = "id") -> None:
    """Refuse moving a ``kind`` ("order", "shipment", "transfer", "purchase order",
    "inbound shipment") from ``current`` to
    ``target`` unless its state machine allows it (``INVALID_STATE``)."""
    if target not in _MACHINES[kind].get(current, frozenset()):
        raise UserError(
            f"a {kind} that is {current} cannot become {target}", field=field, code="INVALID_STATE"
        )


async def lock(session: AsyncSession, model: type[M], id_: int, *, field: str = "id") -> M:
    """The row ``id_`` of the session's tenant, locked until commit and read fresh (a copy
    loaded earlier in the session is refreshed). Another tenant's row is not found."""
    obj = await session.scalar(
        select(model)
        .where(model.id == id_)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if obj is None:
        raise NotFound(f"{model.__name__} {id_} not found", field=field)
    return obj


async def lock_many(session: AsyncSession, model: type[M], ids: Iterable[int]) -> list[M]:
    """Several rows of one table, locked in id order (the global lock order)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = await session.scalars(
        select(model)
        .where(model.id.in_(wanted))  # type: ignore[attr-defined]
        .order_by(model.id)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def lock_shipment(
    session: AsyncSession, shipment_id: int, *, field: str = "id"
) -> tuple[Order, Shipment]:
    """A shipment and its order, locked order first (the global order), both read fresh."""
    order_id = await session.scalar(select(Shipment.order_id).where(Shipment.id == shipment_id))
    if order_id is None:
        raise NotFound(f"Shipment {shipment_id} not found", field=field)
    order = await lock(session, Order, order_id, field=field)
    shipment = await lock(session, Shipment, shipment_id, field=field)
    return order, shipment
