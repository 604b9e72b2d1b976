"""The audit log as GraphQL types: an entry, and who acted."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from crossdock.api.schema.relay import encode_id, type_name_of
from crossdock.db import models as m

__all__ = ["AuditActor", "AuditEntry"]

#: The ID type of an actor's id, by kind (a job has none).
ACTOR_ID_TYPES = {m.AuditActorKind.API_KEY: "ApiKey", m.AuditActorKind.USER: "User"}


@strawberry.type(
    description="Who acted: an API key (its id and name), a user, a job (its name) or the system."
)
class AuditActor:
    kind: m.AuditActorKind
    id: strawberry.ID | None = strawberry.field(description="The API key's (or user's) ID; none for a job.")
    name: str = strawberry.field(description="The API key's name, or the job's.")


@strawberry.type(
    description="One recorded operation: who, what (the operation, its main object, the fields it "
    "changed, before and after), when and from where. Secrets are `[redacted]`."
)
class AuditEntry:
    pk: strawberry.Private[int]
    at: datetime
    actor: AuditActor
    operation: str = strawberry.field(
        description="The mutation (`productUpdate`), or what a job did (`connection.failed`)."
    )
    outcome: m.AuditOutcome
    error_code: str | None = strawberry.field(description="Why it was refused (its userErrors code).")
    object_type: str | None = strawberry.field(
        description="The kind of the main object it changed (`Product`, `Connection`, `LabelPurchase`)."
    )
    object_id: strawberry.ID | None = strawberry.field(
        description="The main object's global ID, where its type has one (see `node`)."
    )
    changes: list[JSON] = strawberry.field(
        description='The rows it changed: `{"object", "id", "action": "create"|"update"|"delete", '
        '"fields": {name: {"before", "after"}}}`; a change made by a statement has a `where` instead '
        "of an `id` (and no `before`; `if_absent`: an insert that did nothing if the row existed); "
        '`{"truncated": n}` ends a list cut short.'
    )
    input: JSON = strawberry.field(description="The arguments it was called with.")
    source_ip: str | None = strawberry.field(description="Where the request came from.")
    user_agent: str | None

    @classmethod
    def from_row(cls, row: m.AuditEntry, nodes: frozenset[str] = frozenset()) -> AuditEntry:
        kind = m.AuditActorKind(row.actor_kind)
        id_type = ACTOR_ID_TYPES.get(kind)
        object_id = None
        if row.object_type and row.object_id is not None and type_name_of(row.object_type) in nodes:
            object_id = encode_id(type_name_of(row.object_type), row.object_id)
        return cls(
            pk=row.id,
            at=row.at,
            actor=AuditActor(
                kind=kind,
                id=encode_id(id_type, row.actor_id) if id_type and row.actor_id is not None else None,
                name=row.actor_name,
            ),
            operation=row.operation,
            outcome=m.AuditOutcome(row.outcome),
            error_code=row.error_code,
            object_type=row.object_type,
            object_id=object_id,
            changes=[cast(JSON, c) for c in row.changes or []],
            input=cast(JSON, row.input or {}),
            source_ip=row.source_ip,
            user_agent=row.user_agent,
        )
