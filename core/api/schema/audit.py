"""The audit log over GraphQL: ``auditLog``, a filtered list of a tenant's entries (oldest
first; ``reverse`` for newest first), paged by keyset (see :mod:`crossdock.services.audit`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.audit_types import AuditEntry
from crossdock.api.schema.errors import requires
from crossdock.api.schema.relay import Connection, decode_id, model_name_of, paginate, sort_keys
from crossdock.api.schema.system import NODES
from crossdock.db import models as m
from crossdock.services import audit

__all__ = ["Query"]


class AuditSortKeys(StrEnum):
    ID = "ID"
    AT = "AT"


AUDIT_SORTS = sort_keys(AuditSortKeys, m.AuditEntry, "The orders audit entries can be listed in.")
_NODES = frozenset(NODES)


@strawberry.input(description="Entries matching every filter given.")
class AuditFilter:
    actor_kind: m.AuditActorKind | None = None
    actor_id: strawberry.ID | None = strawberry.field(default=None, description="An API key's ID.")
    operation: str | None = strawberry.field(
        default=None, description="A mutation's name (`productUpdate`) or a job's operation."
    )
    object_type: str | None = strawberry.field(
        default=None, description="The kind of the main object (`Product`, `Connection`)."
    )
    object_id: strawberry.ID | None = strawberry.field(
        default=None, description="The main object's ID (it may have been deleted since)."
    )
    outcome: m.AuditOutcome | None = None
    since: datetime | None = strawberry.field(default=None, description="At or after this time.")
    until: datetime | None = strawberry.field(default=None, description="Before this time.")


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("audit:read"),
        description="The tenant's audit log: who changed what, when and from where (oldest first; "
        "`reverse` for newest first).",
    )
    async def audit_log(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: AuditFilter | None = None,
        sort_key: AuditSortKeys = AuditSortKeys.AT,
        reverse: bool = False,
    ) -> Connection[AuditEntry]:
        filters: dict[str, Any] = {}
        if filter:
            filters = {
                "actor_kind": filter.actor_kind,
                "operation": filter.operation,
                "outcome": filter.outcome,
                "since": filter.since,
                "until": filter.until,
            }
            if filter.actor_id:
                _, filters["actor_id"] = decode_id(filter.actor_id, "ApiKey", field="filter.actorId")
            if filter.object_type:
                filters["object_type"] = filter.object_type
            if filter.object_id:
                # only filters: an object of another tenant (or gone) has no entry here
                type_name, filters["object_id"] = decode_id(filter.object_id, field="filter.objectId")
                filters["object_type"] = model_name_of(type_name)
        return await paginate(
            state(info),
            audit.query(**filters),
            m.AuditEntry,
            partial(AuditEntry.from_row, nodes=_NODES),
            first=first,
            after=after,
            sort=AUDIT_SORTS[sort_key],
            reverse=reverse,
        )
