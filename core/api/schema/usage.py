"""Usage per tenant and month over GraphQL (:mod:`crossdock.services.usage` says how each
counter is kept): the caller's tenant (``usage``) and every brand its key reaches
(``agencyUsage``), for an agency's billing. Months are UTC calendar months."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.errors import requires
from crossdock.db.models import UsageMetric
from crossdock.security import Scope
from crossdock.services import usage as service

__all__ = ["Query"]


@strawberry.type(description="One counter of a month.")
class UsageFigure:
    metric: UsageMetric
    value: int


@strawberry.type(description="A tenant's usage in one UTC calendar month.")
class Usage:
    tenant_slug: str
    month: str = strawberry.field(description="YYYY-MM (UTC).")
    orders_ingested: int = strawberry.field(description="Orders stored for the first time.")
    labels_bought: int = strawberry.field(description="Carrier labels bought.")
    api_cost_points: int = strawberry.field(
        description="GraphQL query cost charged (actual cost; written every few seconds per server)."
    )
    active_listings: int = strawberry.field(description="The most active listings seen at once.")
    webhook_deliveries: int = strawberry.field(description="Outbound webhook requests sent.")
    figures: list[UsageFigure] = strawberry.field(description="Every counter, as metric and value.")

    @classmethod
    def of(cls, found: service.MonthUsage) -> Usage:
        v = found.values
        return cls(
            tenant_slug=found.tenant_slug,
            month=found.month,
            orders_ingested=v[UsageMetric.ORDERS_INGESTED],
            labels_bought=v[UsageMetric.LABELS_BOUGHT],
            api_cost_points=v[UsageMetric.API_COST_POINTS],
            active_listings=v[UsageMetric.ACTIVE_LISTINGS],
            webhook_deliveries=v[UsageMetric.WEBHOOK_DELIVERIES],
            figures=[UsageFigure(metric=metric, value=v[metric]) for metric in UsageMetric],
        )


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires(Scope.USAGE_READ),
        description='The tenant\'s usage in a UTC calendar month (`month: "2026-12"`).',
    )
    async def usage(self, info: Info[Any, Any], month: str) -> Usage:
        service.parse_month(month)
        async with state(info).read() as session:
            return Usage.of(await service.usage_of(session, month))

    @strawberry.field(
        extensions=requires(Scope.USAGE_READ),
        description="The usage in a UTC calendar month of every brand (tenant) this API key reaches, "
        "one entry per brand.",
    )
    async def agency_usage(self, info: Info[Any, Any], month: str) -> list[Usage]:
        st = state(info)
        service.parse_month(month)
        return [Usage.of(u) for u in await service.agency_usage(st.app.db, st.principal, month)]
