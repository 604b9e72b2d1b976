"""Connections to marketplaces: queries and mutations. Credentials go in, never out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.common import JSON, set_fields
from crossdock.api.schema.errors import UserErrorType, requires, user_errors
from crossdock.api.schema.relay import Connection, decode_id, paginate
from crossdock.api.schema.types import ChannelConnection
from crossdock.db import models as m
from crossdock.services import connections

__all__ = ["Mutation", "Query"]


@strawberry.input
class ConnectionFilter:
    channel: str | None = None
    status: str | None = None


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
    status: str | None = strawberry.UNSET
    credentials: JSON | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET
    settings: JSON | None = strawberry.UNSET


@strawberry.type
class ConnectionPayload:
    connection: ChannelConnection | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("channels:write"))
    async def connection_create(
        self, info: Info[Any, Any], input: ConnectionCreateInput
    ) -> ConnectionPayload:
        st = state(info)

        async def run() -> ConnectionPayload:
            async with st.write() as session:
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
                )
            return ConnectionPayload(connection=ChannelConnection.from_row(row))

        return await user_errors(run, lambda errors: ConnectionPayload(user_errors=errors))

    @strawberry.mutation(extensions=requires("channels:write"))
    async def connection_update(
        self, info: Info[Any, Any], input: ConnectionUpdateInput
    ) -> ConnectionPayload:
        st = state(info)

        async def run() -> ConnectionPayload:
            _, pk = decode_id(input.id, "ChannelConnection")
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
            async with st.write() as session:
                row = await connections.update_connection(session, st.app.vault, pk, **changes)
            return ConnectionPayload(connection=ChannelConnection.from_row(row))

        return await user_errors(run, lambda errors: ConnectionPayload(user_errors=errors))
