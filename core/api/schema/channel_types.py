"""Connections (shops) and listings as GraphQL types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.common import JSON, Money
from crossdock.api.schema.enums import optional_member
from crossdock.api.schema.loaders import ats_by_connection, children, same_tenant
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.providers import ListingIssueReason

__all__ = ["ChannelConnection", "Listing", "ListingIssue"]


def _cursor(state: Any) -> datetime | None:
    value = state.get("cursor") if isinstance(state, dict) else None
    return datetime.fromisoformat(value) if value else None


@strawberry.type(
    name="Shop",
    description="A tenant's shop on one channel and site: a connection to a marketplace "
    "(its global ID is a ChannelConnection ID). Credentials are write-only.",
)
class ChannelConnection(Node):
    pk: strawberry.Private[int]
    channel: str
    name: str
    site: str
    currency: str
    status: m.ConnectionStatus
    base_url: str | None
    settings: JSON
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    throttled_until: datetime | None
    created_at: datetime
    webhook_path: str | None = strawberry.field(
        description="Where the channel pushes to (prefix your public base URL)."
    )
    orders_synced_until: datetime | None = strawberry.field(
        description="Orders updated before this time have been read (the sync cursor)."
    )

    @classmethod
    def from_row(cls, row: m.Connection) -> ChannelConnection:
        return cls(
            id=encode_id("ChannelConnection", row.id),
            pk=row.id,
            channel=row.channel,
            name=row.name,
            site=row.site,
            currency=row.currency,
            status=m.ConnectionStatus(row.status),
            base_url=row.base_url,
            settings=JSON(row.settings or {}),
            last_sync_at=row.last_sync_at,
            last_success_at=row.last_success_at,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            throttled_until=row.throttled_until,
            created_at=row.created_at,
            webhook_path=f"/webhooks/{row.channel}/{row.webhook_key}" if row.webhook_key else None,
            orders_synced_until=_cursor((row.sync_state or {}).get("orders")),
        )

    @strawberry.field
    async def listings(self, info: Info[Any, Any]) -> list[Listing]:
        rows = await children(state(info), m.Listing, "connection_id").load(self.pk)
        return [Listing.from_row(r) for r in rows]


@strawberry.type(description="Why a SKU may not (or may only with care) be sold on a connection.")
class ListingIssue:
    reason: ListingIssueReason
    message: str


@strawberry.type
class Listing(Node):
    pk: strawberry.Private[int]
    variant_pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int]
    channel_sku: str
    external_id: str | None
    title: str | None
    price: Money | None
    status: m.ListingStatus
    ats_share: Decimal | None = strawberry.field(description="Share (0..1) of available stock offered.")
    last_pushed_quantity: int | None
    last_pushed_at: datetime | None
    issues: list[ListingIssue] = strawberry.field(
        description="Compliance problems plugins found; no stock is offered while one is prohibited_item."
    )
    push_status: m.ListingPushStatus = strawberry.field(
        description="OK, or ERROR while the channel refuses this listing's last stock or price push "
        "(see lastError); the connection and its other listings go on either way."
    )
    last_error: str | None = strawberry.field(
        description="The channel's refusal of this listing's last push (e.g. an unknown SKU), kept "
        "until a push of the same kind is accepted."
    )
    last_error_at: datetime | None
    last_error_operation: m.ListingOperation | None = strawberry.field(description="Which push was refused.")

    @classmethod
    def from_row(cls, row: m.Listing) -> Listing:
        return cls(
            id=encode_id("Listing", row.id),
            pk=row.id,
            connection_pk=row.connection_id,
            ats_share=row.ats_share.normalize() if row.ats_share is not None else None,
            variant_pk=row.variant_id,
            channel_sku=row.channel_sku,
            external_id=row.external_id,
            title=row.title,
            price=Money.of(row.price_amount, row.price_currency),
            status=m.ListingStatus(row.status),
            last_pushed_quantity=row.last_pushed_quantity,
            last_pushed_at=row.last_pushed_at,
            issues=[
                ListingIssue(reason=ListingIssueReason(i["reason"]), message=i.get("message", ""))
                for i in row.issues or ()
            ],
            push_status=m.ListingPushStatus.ERROR if row.last_error is not None else m.ListingPushStatus.OK,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            last_error_operation=optional_member(m.ListingOperation, row.last_error_operation),
        )

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def connection(self, info: Info[Any, Any]) -> ChannelConnection:
        return ChannelConnection.from_row(await same_tenant(info, m.Connection, self.connection_pk))

    @strawberry.field(
        description="What this listing may offer now: the serving warehouses' stock "
        "minus reservations and safety stock, times its share."
    )
    async def available_to_sell(self, info: Info[Any, Any]) -> int:
        per_listing = await ats_by_connection(state(info)).load(self.connection_pk)
        return per_listing.get(self.pk, 0)
