"""Orders: the list with its filters (actions on orders come with the orders issue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import or_, select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.errors import requires
from crossdock.api.schema.relay import Connection, decode_id, paginate
from crossdock.api.schema.types import Order
from crossdock.db import models as m

__all__ = ["Query"]


@strawberry.input
class OrderFilter:
    status: list[str] | None = None
    connection_id: strawberry.ID | None = None
    channel: str | None = None
    destination_country: str | None = None
    hold_reason: str | None = None
    ship_by_before: datetime | None = None
    search: str | None = strawberry.field(default=None, description="External id or buyer name.")


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("orders:read"))
    async def orders(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: OrderFilter | None = None,
    ) -> Connection[Order]:
        stmt = select(m.Order)
        if filter:
            if filter.status:
                stmt = stmt.where(m.Order.status.in_(filter.status))
            if filter.connection_id:
                _, pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")
                stmt = stmt.where(m.Order.connection_id == pk)
            if filter.channel:
                stmt = stmt.where(
                    m.Order.connection_id.in_(
                        select(m.Connection.id).where(m.Connection.channel == filter.channel)
                    )
                )
            if filter.destination_country:
                stmt = stmt.where(m.Order.destination_country == filter.destination_country.upper())
            if filter.hold_reason:
                stmt = stmt.where(
                    m.Order.id.in_(
                        select(m.OrderHold.order_id).where(
                            m.OrderHold.reason == filter.hold_reason, m.OrderHold.released_at.is_(None)
                        )
                    )
                )
            if filter.ship_by_before:
                stmt = stmt.where(m.Order.ship_by < filter.ship_by_before)
            if filter.search:
                like = f"%{filter.search}%"
                stmt = stmt.where(or_(m.Order.external_id.ilike(like), m.Order.buyer_name.ilike(like)))
        return await paginate(state(info), stmt, m.Order, Order.from_row, first=first, after=after)
