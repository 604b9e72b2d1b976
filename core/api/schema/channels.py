"""Connections to marketplaces: queries and mutations. Credentials go in, never out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.channel_types import ChannelConnection, Listing
from crossdock.api.schema.common import JSON, MoneyInput, set_fields
from crossdock.api.schema.errors import ChannelUserError, in_transaction, requires
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, resolve_ids, sort_keys
from crossdock.db import models as m
from crossdock.services import connections, listings

__all__ = ["BackfillMutation", "ListingMutation", "ListingQuery", "Mutation", "Query"]


@strawberry.input
class ConnectionFilter:
    channel: str | None = strawberry.field(default=None, description="A marketplace plugin's name.")
    status: m.ConnectionStatus | None = None


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("channels:read"))
    async def connections(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ConnectionFilter | None = None,
    ) -> Connection[ChannelConnection]:
        stmt = select(m.Connection)
        if filter and filter.channel:
            stmt = stmt.where(m.Connection.channel == filter.channel)
        if filter and filter.status:
            stmt = stmt.where(m.Connection.status == filter.status)
        return await paginate(
            state(info), stmt, m.Connection, ChannelConnection.from_row, first=first, after=after
        )


@strawberry.input
class ConnectionCreateInput:
    channel: str = strawberry.field(description="A marketplace plugin's name, e.g. amazon.")
    name: str
    site: str = strawberry.field(description="One of the channel's sites, e.g. DE or MY.")
    credentials: JSON = strawberry.field(description="Write-only; stored encrypted.")
    currency: str | None = strawberry.field(default=None, description="Defaults to the site's.")
    base_url: str | None = None
    settings: JSON | None = None


@strawberry.input
class ConnectionUpdateInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    status: m.ConnectionStatus | None = strawberry.UNSET
    credentials: JSON | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET
    settings: JSON | None = strawberry.UNSET


@strawberry.type
class ConnectionPayload:
    connection: ChannelConnection | None = None
    user_errors: list[ChannelUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConnectionCreatePayload(ConnectionPayload):
    pass


@strawberry.type
class ConnectionUpdatePayload(ConnectionPayload):
    pass


@strawberry.type
class ConnectionWarehousesSetPayload(ConnectionPayload):
    pass


@strawberry.type
class ConnectionBackfillPayload(ConnectionPayload):
    pass


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("channels:write"))
    async def connection_create(
        self, info: Info[Any, Any], input: ConnectionCreateInput
    ) -> ConnectionCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await connections.create_connection(
                session,
                st.app.plugins,
                st.app.vault,
                channel=input.channel,
                name=input.name,
                site=input.site,
                credentials=cast("Mapping[str, Any]", input.credentials),
                currency=input.currency,
                base_url=input.base_url,
                settings=cast("Mapping[str, Any] | None", input.settings),
                policy=st.app.http.policy,
            )
            return {"connection": ChannelConnection.from_row(row)}

        return await in_transaction(info, ConnectionCreatePayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def connection_update(
        self, info: Info[Any, Any], input: ConnectionUpdateInput
    ) -> ConnectionUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Connection)
            changes = set_fields(
                input,
                {
                    "name": "name",
                    "status": "status",
                    "credentials": "credentials",
                    "base_url": "base_url",
                    "settings": "settings",
                },
            )
            row = await connections.update_connection(
                session, st.app.vault, pk, policy=st.app.http.policy, **changes
            )
            return {"connection": ChannelConnection.from_row(row)}

        return await in_transaction(info, ConnectionUpdatePayload, body)


class ListingSortKeys(StrEnum):
    ID = "ID"
    CHANNEL_SKU = "CHANNEL_SKU"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    LAST_PUSHED_AT = "LAST_PUSHED_AT"


LISTING_SORTS = sort_keys(ListingSortKeys, m.Listing, "The orders listings can be listed in.")


@strawberry.input
class ListingFilter:
    connection_id: strawberry.ID | None = None
    variant_id: strawberry.ID | None = None
    channel_sku: str | None = None
    status: m.ListingStatus | None = None
    push_status: m.ListingPushStatus | None = strawberry.field(
        default=None, description="ERROR: listings whose last push the channel refused."
    )


@strawberry.type
class ListingQuery:
    @strawberry.field(
        extensions=requires("channels:read"), description="SKUs as they are listed on connections."
    )
    async def listings(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ListingFilter | None = None,
        sort_key: ListingSortKeys = ListingSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Listing]:
        stmt = select(m.Listing)
        if filter:
            if filter.connection_id:
                pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")[1]
                stmt = stmt.where(m.Listing.connection_id == pk)
            if filter.variant_id:
                stmt = stmt.where(
                    m.Listing.variant_id
                    == decode_id(filter.variant_id, "Variant", field="filter.variantId")[1]
                )
            if filter.channel_sku:
                stmt = stmt.where(m.Listing.channel_sku == filter.channel_sku)
            if filter.status:
                stmt = stmt.where(m.Listing.status == filter.status)
            if filter.push_status:
                failed = filter.push_status == m.ListingPushStatus.ERROR
                stmt = stmt.where(
                    m.Listing.last_error.is_not(None) if failed else m.Listing.last_error.is_(None)
                )
        return await paginate(
            state(info),
            stmt,
            m.Listing,
            Listing.from_row,
            first=first,
            after=after,
            sort=LISTING_SORTS[sort_key],
            reverse=reverse,
        )


@strawberry.input
class ListingCreateInput:
    connection_id: strawberry.ID
    variant_id: strawberry.ID
    channel_sku: str = strawberry.field(description="The SKU the channel knows; order lines map through it.")
    external_id: str | None = None
    title: str | None = None
    ats_share: Decimal | None = None
    price: MoneyInput | None = strawberry.field(default=None, description="Pushed to the channel.")


@strawberry.input
class ListingUpdateInput:
    id: strawberry.ID
    channel_sku: str | None = strawberry.UNSET
    external_id: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    ats_share: Decimal | None = strawberry.UNSET
    status: m.ListingStatus | None = strawberry.UNSET
    price: MoneyInput | None = strawberry.UNSET


@strawberry.input
class ConnectionWarehousesSetInput:
    connection_id: strawberry.ID
    warehouse_ids: list[strawberry.ID] = strawberry.field(description="Empty: back to the country rule.")


@strawberry.type
class ListingPayload:
    listing: Listing | None = None
    user_errors: list[ChannelUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ListingCreatePayload(ListingPayload):
    pass


@strawberry.type
class ListingUpdatePayload(ListingPayload):
    pass


@strawberry.type
class ListingMutation:
    @strawberry.mutation(extensions=requires("channels:write"))
    async def listing_create(self, info: Info[Any, Any], input: ListingCreateInput) -> ListingCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            connection_pk = await resolve_id(session, input.connection_id, m.Connection, field="connectionId")
            variant_pk = await resolve_id(session, input.variant_id, m.Variant, field="variantId")
            row = await listings.create_listing(
                st.uow,
                connection_id=connection_pk,
                variant_id=variant_pk,
                channel_sku=input.channel_sku,
                external_id=input.external_id,
                title=input.title,
                ats_share=input.ats_share,
                price=input.price.value("price", positive=True) if input.price else None,
            )
            return {"listing": Listing.from_row(row)}

        return await in_transaction(info, ListingCreatePayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def listing_update(self, info: Info[Any, Any], input: ListingUpdateInput) -> ListingUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Listing)
            changes = set_fields(
                input,
                {
                    "channel_sku": "channel_sku",
                    "external_id": "external_id",
                    "title": "title",
                    "ats_share": "ats_share",
                    "status": "status",
                },
            )
            if input.price is not strawberry.UNSET:
                changes["price"] = input.price.value("price", positive=True) if input.price else None
            row = await listings.update_listing(st.uow, pk, **changes)
            return {"listing": Listing.from_row(row)}

        return await in_transaction(info, ListingUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"), description="Which warehouses' stock this connection sells."
    )
    async def connection_warehouses_set(
        self, info: Info[Any, Any], input: ConnectionWarehousesSetInput
    ) -> ConnectionWarehousesSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            connection_pk = await resolve_id(session, input.connection_id, m.Connection, field="connectionId")
            ids = await resolve_ids(session, input.warehouse_ids, m.Warehouse, field="warehouseIds")
            row = await listings.set_connection_warehouses(st.uow, connection_pk, ids)
            return {"connection": ChannelConnection.from_row(row)}

        return await in_transaction(info, ConnectionWarehousesSetPayload, body)


@strawberry.input
class ConnectionBackfillInput:
    id: strawberry.ID
    since: datetime = strawberry.field(description="Re-read orders updated since this time.")


@strawberry.type
class BackfillMutation:
    @strawberry.mutation(
        extensions=requires("channels:write"), description="Pull the channel's orders again from a date."
    )
    async def connection_backfill(
        self, info: Info[Any, Any], input: ConnectionBackfillInput
    ) -> ConnectionBackfillPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Connection)
            row = await connections.start_backfill(st.uow, pk, input.since)
            return {"connection": ChannelConnection.from_row(row)}

        return await in_transaction(info, ConnectionBackfillPayload, body)
