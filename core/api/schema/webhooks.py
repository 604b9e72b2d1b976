"""Outbound webhooks: endpoints subscribed to the outbox's event types, their delivery log,
secret rotation and redelivery (:mod:`crossdock.services.outbound_webhooks`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import WebhookUserError, in_transaction, requires
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, resolve_ids, sort_keys
from crossdock.api.schema.webhook_types import WebhookDelivery, WebhookEndpoint
from crossdock.db import models as m
from crossdock.security import Scope
from crossdock.services import outbound_webhooks as hooks
from crossdock.services.events import EventType

__all__ = ["Mutation", "Query"]

READ = Scope.WEBHOOKS_READ
WRITE = Scope.WEBHOOKS_WRITE


class WebhookDeliverySortKeys(StrEnum):
    ID = "ID"
    CREATED_AT = "CREATED_AT"
    NEXT_ATTEMPT_AT = "NEXT_ATTEMPT_AT"


DELIVERY_SORTS = sort_keys(
    WebhookDeliverySortKeys, m.WebhookDelivery, "The orders deliveries can be listed in."
)


@strawberry.input
class WebhookEndpointFilter:
    statuses: list[m.WebhookEndpointStatus] | None = None


@strawberry.input
class WebhookDeliveryFilter:
    endpoint_id: strawberry.ID | None = None
    statuses: list[m.WebhookDeliveryStatus] | None = None
    event_types: list[EventType] | None = None
    created_from: datetime | None = strawberry.field(default=None, description="Made at or after this time.")
    created_before: datetime | None = strawberry.field(default=None, description="Made before this time.")


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(READ), description="The tenant's webhook endpoints, oldest first.")
    async def webhook_endpoints(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: WebhookEndpointFilter | None = None,
    ) -> Connection[WebhookEndpoint]:
        stmt = select(m.WebhookEndpoint)
        if filter and filter.statuses:
            stmt = stmt.where(m.WebhookEndpoint.status.in_([str(s) for s in filter.statuses]))
        return await paginate(
            state(info), stmt, m.WebhookEndpoint, WebhookEndpoint.from_row, first=first, after=after
        )

    @strawberry.field(
        extensions=requires(READ),
        description="The delivery log: one row per event and endpoint, with its attempts "
        "(newest first unless `sortKey`/`reverse` say otherwise).",
    )
    async def webhook_deliveries(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: WebhookDeliveryFilter | None = None,
        sort_key: WebhookDeliverySortKeys = WebhookDeliverySortKeys.ID,
        reverse: bool = True,
    ) -> Connection[WebhookDelivery]:
        stmt = select(m.WebhookDelivery)
        if filter:
            if filter.endpoint_id:
                _, pk = decode_id(filter.endpoint_id, "WebhookEndpoint", field="filter.endpointId")
                stmt = stmt.where(m.WebhookDelivery.endpoint_id == pk)
            if filter.statuses:
                stmt = stmt.where(m.WebhookDelivery.status.in_([str(s) for s in filter.statuses]))
            if filter.event_types:
                stmt = stmt.where(m.WebhookDelivery.event_type.in_([str(t) for t in filter.event_types]))
            if filter.created_from is not None:
                stmt = stmt.where(m.WebhookDelivery.created_at >= filter.created_from)
            if filter.created_before is not None:
                stmt = stmt.where(m.WebhookDelivery.created_at < filter.created_before)
        return await paginate(
            state(info),
            stmt,
            m.WebhookDelivery,
            WebhookDelivery.from_row,
            first=first,
            after=after,
            sort=DELIVERY_SORTS[sort_key],
            reverse=reverse,
        )


@strawberry.input
class WebhookFilterInput:
    subject_prefix: str | None = strawberry.field(
        default=None,
        description="Only events whose subject starts with this: a type name, optionally with a "
        "colon and an id's first digits (`Order:`, `Shipment:12`).",
    )


@strawberry.input
class WebhookEndpointCreateInput:
    url: str = strawberry.field(description="https (http only to a host the operator allows).")
    event_types: list[EventType]
    filter: WebhookFilterInput | None = None
    description: str | None = None


@strawberry.input
class WebhookEndpointUpdateInput:
    id: strawberry.ID
    url: str | None = strawberry.UNSET
    event_types: list[EventType] | None = strawberry.UNSET
    filter: WebhookFilterInput | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the filter (null: every event of its types)."
    )
    description: str | None = strawberry.UNSET


@strawberry.input
class WebhookEndpointEnableInput:
    id: strawberry.ID
    skip_missed: bool = strawberry.field(
        default=False,
        description="Start from now, leaving out the events committed while it was paused or "
        "disabled (by default they are delivered).",
    )


@strawberry.input
class WebhookEndpointIdInput:
    id: strawberry.ID


@strawberry.input
class WebhookEndpointRotateSecretInput:
    id: strawberry.ID
    overlap_hours: int = strawberry.field(
        default=24, description="How long the secrets signing now go on signing too (0 to 168)."
    )


@strawberry.input
class WebhookRedeliverInput:
    delivery_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="These deliveries (whatever their status)."
    )
    endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="Every failed delivery of this endpoint (made in `from` .. `to`, if given)."
    )
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookEndpointSecretPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (`whsec_...`): shown only now; give it to the receiver.",
    )
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookEndpointCreatePayload(WebhookEndpointSecretPayload):
    pass


@strawberry.type
class WebhookEndpointRotateSecretPayload(WebhookEndpointSecretPayload):
    pass


@strawberry.type
class WebhookEndpointUpdatePayload(WebhookEndpointPayload):
    pass


@strawberry.type
class WebhookEndpointEnablePayload(WebhookEndpointPayload):
    pass


@strawberry.type
class WebhookEndpointPausePayload(WebhookEndpointPayload):
    pass


@strawberry.type
class WebhookEndpointDeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookRedeliverPayload:
    redelivered: int = strawberry.field(default=0, description="How many deliveries will be sent again.")
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)


async def _endpoint(session: AsyncSession, pk: int) -> WebhookEndpoint:
    row = await session.scalar(select(m.WebhookEndpoint).where(m.WebhookEndpoint.id == pk))
    assert row is not None
    return WebhookEndpoint.from_row(row)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires(WRITE),
        description="Subscribe an endpoint to event types: it is sent the events committed from "
        "now on. The payload's `secret` is shown only here.",
    )
    async def webhook_endpoint_create(
        self, info: Info[Any, Any], input: WebhookEndpointCreateInput
    ) -> WebhookEndpointCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row, secret = await hooks.create_endpoint(
                session,
                st.app.vault,
                url=input.url,
                event_types=[str(t) for t in input.event_types],
                subject_prefix=input.filter.subject_prefix if input.filter else None,
                description=input.description,
                policy=st.app.http.policy,
            )
            return {"endpoint": WebhookEndpoint.from_row(row), "secret": secret}

        return await in_transaction(info, WebhookEndpointCreatePayload, body)

    @strawberry.mutation(extensions=requires(WRITE), description="Change an endpoint's URL, types or filter.")
    async def webhook_endpoint_update(
        self, info: Info[Any, Any], input: WebhookEndpointUpdateInput
    ) -> WebhookEndpointUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WebhookEndpoint)
            changes: dict[str, Any] = {}
            if input.url is not strawberry.UNSET and input.url is not None:
                changes["url"] = input.url
            if input.event_types is not strawberry.UNSET and input.event_types is not None:
                changes["event_types"] = [str(t) for t in input.event_types]
            if input.filter is not strawberry.UNSET:
                changes["subject_prefix"] = input.filter.subject_prefix if input.filter else None
            if input.description is not strawberry.UNSET:
                changes["description"] = input.description or ""
            row = await hooks.update_endpoint(session, pk, policy=st.app.http.policy, **changes)
            return {"endpoint": WebhookEndpoint.from_row(row)}

        return await in_transaction(info, WebhookEndpointUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires(WRITE),
        description="Send a paused or disabled endpoint its events again (those it missed too, "
        "unless `skipMissed`).",
    )
    async def webhook_endpoint_enable(
        self, info: Info[Any, Any], input: WebhookEndpointEnableInput
    ) -> WebhookEndpointEnablePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WebhookEndpoint)
            row = await hooks.enable_endpoint(st.uow, pk, skip_missed=input.skip_missed)
            return {"endpoint": WebhookEndpoint.from_row(row)}

        return await in_transaction(info, WebhookEndpointEnablePayload, body)

    @strawberry.mutation(
        extensions=requires(WRITE), description="Send an endpoint nothing until it is enabled again."
    )
    async def webhook_endpoint_pause(
        self, info: Info[Any, Any], input: WebhookEndpointIdInput
    ) -> WebhookEndpointPausePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WebhookEndpoint)
            row = await hooks.pause_endpoint(session, pk)
            return {"endpoint": WebhookEndpoint.from_row(row)}

        return await in_transaction(info, WebhookEndpointPausePayload, body)

    @strawberry.mutation(extensions=requires(WRITE), description="Remove an endpoint and its delivery log.")
    async def webhook_endpoint_delete(
        self, info: Info[Any, Any], input: WebhookEndpointIdInput
    ) -> WebhookEndpointDeletePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WebhookEndpoint)
            await hooks.delete_endpoint(session, pk)
            return {"deleted_id": input.id}

        return await in_transaction(info, WebhookEndpointDeletePayload, body)

    @strawberry.mutation(
        extensions=requires(WRITE),
        description="A new signing secret (shown only here); the ones signing now go on signing "
        "beside it for `overlapHours`.",
    )
    async def webhook_endpoint_rotate_secret(
        self, info: Info[Any, Any], input: WebhookEndpointRotateSecretInput
    ) -> WebhookEndpointRotateSecretPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.WebhookEndpoint)
            row, secret = await hooks.rotate_secret(
                session, st.app.vault, pk, overlap=timedelta(hours=input.overlap_hours)
            )
            return {"endpoint": WebhookEndpoint.from_row(row), "secret": secret}

        return await in_transaction(info, WebhookEndpointRotateSecretPayload, body)

    @strawberry.mutation(
        extensions=requires(WRITE),
        description="Send deliveries again from the start of the retry schedule, with their own "
        "`webhook-id`: the ones named, and every failed one of `endpointId` (in `from` .. `to`).",
    )
    async def webhook_redeliver(
        self, info: Info[Any, Any], input: WebhookRedeliverInput
    ) -> WebhookRedeliverPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            ids: list[int] = []
            if input.delivery_ids:
                ids = await resolve_ids(session, input.delivery_ids, m.WebhookDelivery, field="deliveryIds")
            endpoint = (
                await resolve_id(session, input.endpoint_id, m.WebhookEndpoint, field="endpointId")
                if input.endpoint_id
                else None
            )
            count = await hooks.redeliver(
                st.uow, delivery_ids=ids, endpoint_id=endpoint, since=input.from_, until=input.to
            )
            return {"redelivered": count}

        return await in_transaction(info, WebhookRedeliverPayload, body)
