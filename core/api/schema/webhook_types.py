"""Outbound webhooks as GraphQL types: an endpoint (never its secret), one delivery of an
event to it, and each attempt made at that delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.enums import member
from crossdock.api.schema.loaders import by_id, children
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.services.events import EventType, Position

__all__ = ["WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "WebhookFilter"]


@strawberry.type(description="Which of its types' events an endpoint is sent.")
class WebhookFilter:
    subject_prefix: str | None = strawberry.field(
        description="Only events whose subject (its `Type:id`, e.g. `Order:42`) starts with this."
    )


@strawberry.type(
    description="An HTTPS endpoint sent the tenant's events of the types it subscribes to, "
    "signed as the Standard Webhooks specification says. Its secret is shown only when made "
    "(`webhookEndpointCreate`, `webhookEndpointRotateSecret`)."
)
class WebhookEndpoint(Node):
    pk: strawberry.Private[int]
    url: str
    description: str
    event_types: list[EventType]
    filter: WebhookFilter
    status: m.WebhookEndpointStatus
    failing_since: datetime | None = strawberry.field(
        description="Its first failed attempt since its last success; a day of it disables the endpoint."
    )
    last_success_at: datetime | None
    last_failure_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            id=encode_id("WebhookEndpoint", row.id),
            pk=row.id,
            url=row.url,
            description=row.description,
            event_types=[EventType(t) for t in row.event_types or []],
            filter=WebhookFilter(subject_prefix=row.subject_prefix),
            status=member(m.WebhookEndpointStatus, row.status),
            failing_since=row.failing_since,
            last_success_at=row.last_success_at,
            last_failure_at=row.last_failure_at,
            disabled_at=row.disabled_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One request made for a delivery, and what came back.")
class WebhookAttempt:
    attempted_at: datetime
    duration_ms: int
    result: m.WebhookAttemptResult
    status_code: int | None = strawberry.field(description="The HTTP status; none when nothing came back.")
    response_excerpt: str | None = strawberry.field(description="The answer's first 1000 characters.")
    error: str | None = strawberry.field(
        description="Why nothing usable came back (timeout, refused URL ...)."
    )

    @classmethod
    def from_row(cls, row: m.WebhookAttempt) -> WebhookAttempt:
        return cls(
            attempted_at=row.attempted_at,
            duration_ms=row.duration_ms,
            result=member(m.WebhookAttemptResult, row.result),
            status_code=row.status_code,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


@strawberry.type(
    description="One event's delivery to one endpoint. Every attempt at it carries the same "
    "`webhook-id` header (`webhookId`), redeliveries too."
)
class WebhookDelivery(Node):
    pk: strawberry.Private[int]
    endpoint_pk: strawberry.Private[int]
    webhook_id: str = strawberry.field(description="The `webhook-id` header of its requests.")
    event_id: strawberry.ID = strawberry.field(description="The event's id in the `events` stream.")
    event_type: EventType
    status: m.WebhookDeliveryStatus
    attempt_count: int = strawberry.field(description="Requests made in all.")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next, while pending.")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    finished_at: datetime | None = strawberry.field(description="When it succeeded or was given up.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: m.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=encode_id("WebhookDelivery", row.id),
            pk=row.id,
            endpoint_pk=row.endpoint_id,
            webhook_id=row.message_id,
            event_id=strawberry.ID(str(row.event_id)),
            event_type=EventType(row.event_type),
            status=member(m.WebhookDeliveryStatus, row.status),
            attempt_count=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status == m.WebhookDeliveryStatus.PENDING else None,
            last_attempt_at=row.last_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            finished_at=row.finished_at,
            created_at=row.created_at,
        )

    @strawberry.field
    async def endpoint(self, info: Info[Any, Any]) -> WebhookEndpoint:
        row = await by_id(state(info), m.WebhookEndpoint).load(self.endpoint_pk)
        assert row is not None  # deliveries go with their endpoint
        return WebhookEndpoint.from_row(row)

    @strawberry.field(description="The event's position: pass it as `after` to `events`.")
    async def event_cursor(self, info: Info[Any, Any]) -> str | None:
        row = await by_id(state(info), m.Event).load(int(self.event_id))
        return Position(row.txid, row.id).cursor if row is not None else None

    @strawberry.field(description="Every request made for it, oldest first.")
    async def attempts(self, info: Info[Any, Any]) -> list[WebhookAttempt]:
        rows = await children(state(info), m.WebhookAttempt, "delivery_id").load(self.pk)
        return [WebhookAttempt.from_row(r) for r in rows]
