"""Calculated query cost, the way Shopify's Admin API does it, charged per API key.

**Requested cost**, computed from the query before it runs: a field returning an object
costs 1 plus its selection; scalars and enums cost nothing; a connection costs 1 plus its
selection, where each node or edge counts ``first`` times (:data:`DEFAULT_FIRST` when not
given); a mutation field costs :data:`MUTATION_COST` plus its selection. Fragments count
as if written out.

**Actual cost**, computed from the answer: the objects it really returned (plus the
mutations), so a connection that had 3 of the 50 nodes asked for costs 3 of them.

Every API key has a leaky bucket of ``maximumAvailable`` points restored at
``restoreRate`` points a second (tenant settings ``api.cost_bucket`` and
``api.cost_restore_rate``, default 1,000 and 50). A request takes its requested cost up
front and gets back the difference once its actual cost is known. A query costing more than
the bucket holds is refused (``MAX_COST_EXCEEDED``); one costing more than is available now
is refused with ``THROTTLED`` and the seconds to wait. Every answer reports
``extensions.cost {requestedQueryCost actualQueryCost throttleStatus {maximumAvailable
currentlyAvailable restoreRate}}``. With Redis configured the buckets are shared by every
server process.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities import get_operation_ast
from sqlalchemy import select
from strawberry.extensions import SchemaExtension

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_FIRST",
    "DEFAULT_RESTORE",
    "MUTATION_COST",
    "CostLimiter",
    "QueryCost",
    "actual_cost",
    "requested_cost",
]

MUTATION_COST = 10
DEFAULT_FIRST = 50  # the page size a connection has when ``first`` is not given
DEFAULT_BUCKET = 1000
DEFAULT_RESTORE = 50.0


def _object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType | None:
    found = schema.get_type(name)
    return found if isinstance(found, GraphQLObjectType) else None


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    variables = variables or {}
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return 0

    def first_of(field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value == "first":
                value = argument.value
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, VariableNode) and isinstance(variables.get(value.name.value), int):
                    return int(variables[value.name.value])
        return DEFAULT_FIRST

    def cost(selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str]) -> int:
        if selection_set is None or parent is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    target = _object_type(schema, fragment.type_condition.name.value) or parent
                    total += cost(fragment.selection_set, target, seen | {name})
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = _object_type(schema, condition.name.value) if condition else parent
                total += cost(selection.selection_set, target or parent, seen)
            elif isinstance(selection, FieldNode):
                total += field_cost(selection, parent, seen)
        return total

    def field_cost(field: FieldNode, parent: Any, seen: frozenset[str]) -> int:
        name = field.name.value
        if name.startswith("__") or not hasattr(parent, "fields") or name not in parent.fields:
            return 0
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        if named.name.endswith("Connection") and "first" in definition.args:
            n = first_of(field)
            inner = 0
            for sub in field.selection_set.selections if field.selection_set else ():
                if isinstance(sub, FieldNode) and sub.name.value in ("nodes", "edges"):
                    inner += n * field_cost(sub, named, seen)
                elif isinstance(sub, FieldNode):
                    inner += field_cost(sub, named, seen)
            return 1 + inner
        return 1 + cost(field.selection_set, named, seen)

    total = 0
    for selection in operation.selection_set.selections:
        extra = MUTATION_COST - 1 if operation.operation == OperationType.MUTATION else 0
        if isinstance(selection, FieldNode):
            total += field_cost(selection, root, frozenset()) + (
                extra if not selection.name.value.startswith("__") else 0
            )
        else:
            total += cost(SelectionSetNode(selections=(selection,)), root, frozenset())
    return total


def actual_cost(data: Any, operation: OperationDefinitionNode | None) -> int:
    """The objects an answer holds, plus the mutations it ran."""

    def count(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(count(v) for v in value.values())
        if isinstance(value, list):
            return sum(count(v) for v in value)
        return 0

    if not isinstance(data, dict):
        return 0
    total = sum(count(v) for k, v in data.items() if not k.startswith("__"))
    if operation is not None and operation.operation == OperationType.MUTATION:
        total += (MUTATION_COST - 1) * len(data)
    return total


# --------------------------------------------------------------------------- buckets

#: Refill, then take ``want`` points if they are there; answer (taken 0/1, available after).
_LUA = """
local capacity, rate, now, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'points', 'at')
local points = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
points = math.min(capacity, points + (now - at) * rate)
local taken = 0
if want <= points then points = points - want; taken = 1 end
if want < 0 then points = math.min(capacity, points - want); taken = 1 end
redis.call('HSET', KEYS[1], 'points', points, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {taken, tostring(points)}
"""


@dataclass(frozen=True)
class Throttle:
    maximum: int
    available: float
    rate: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": math.floor(self.available),
            "restoreRate": self.rate,
        }


class CostLimiter:
    """Leaky buckets of query cost per API key, in Redis when configured."""

    def __init__(self, redis_url: str | None = None) -> None:
        self._local: dict[str, tuple[float, float]] = {}
        self._redis: Any = None
        self._settings: dict[int, tuple[float, int, float]] = {}  # tenant -> (read at, size, rate)
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
            self._script = self._redis.register_script(_LUA)

    async def limits(self, db: Any, tenant_id: int) -> tuple[int, float]:
        """The tenant's bucket size and restore rate (read at most once a minute)."""
        from crossdock.db.models import Tenant

        cached = self._settings.get(tenant_id)
        if cached and cached[0] > time.monotonic() - 60:
            return cached[1], cached[2]
        async with db.system() as session:
            settings = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
        api = dict((settings or {}).get("api") or {})
        size, rate = (
            int(api.get("cost_bucket", DEFAULT_BUCKET)),
            float(api.get("cost_restore_rate", DEFAULT_RESTORE)),
        )
        self._settings[tenant_id] = (time.monotonic(), size, rate)
        return size, rate

    async def take(self, key: str, want: int, capacity: int, rate: float) -> tuple[bool, Throttle]:
        """Take ``want`` points (a negative ``want`` gives points back); False when short."""
        now = time.time()
        if self._redis is not None:
            taken, points = await self._script(
                keys=[f"crossdock:cost:{key}"], args=[capacity, rate, now, want]
            )
            return bool(int(taken)), Throttle(capacity, float(points), rate)
        points, at = self._local.get(key, (float(capacity), now))
        points = min(float(capacity), points + (now - at) * rate)
        ok = want <= points or want < 0
        if ok:
            points = min(float(capacity), points - want)
        self._local[key] = (points, now)
        return ok, Throttle(capacity, points, rate)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class QueryCost(SchemaExtension):
    """Charge each operation its cost (see the module doc) and report it."""

    def __init__(self, *, execution_context: Any = None) -> None:
        self.report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        from crossdock.api.context import CONTEXT_KEY

        ctx = self.execution_context
        state = (ctx.context or {}).get(CONTEXT_KEY) if isinstance(ctx.context, dict) else None
        principal = state.caller if state is not None else None
        document = ctx.graphql_document
        if state is None or principal is None or document is None:
            yield
            return
        schema = ctx.schema._schema
        requested = requested_cost(schema, document, ctx.operation_name, ctx.variables)
        limiter: CostLimiter = state.app.cost
        capacity, rate = await limiter.limits(state.app.db, principal.tenant_id)
        key = f"{principal.api_key_id}"
        if requested > capacity:
            _, status = await limiter.take(key, 0, capacity, rate)
            self._refuse(
                f"this query costs {requested}, more than the {capacity} points a request may use; "
                "ask for fewer objects (smaller first)",
                "MAX_COST_EXCEEDED",
                requested,
                status,
            )
            yield
            return
        ok, status = await limiter.take(key, requested, capacity, rate)
        if not ok:
            wait = (requested - status.available) / rate if rate > 0 else None
            self._refuse(
                f"throttled: this query costs {requested}, {int(status.available)} points are available",
                "THROTTLED",
                requested,
                status,
                retry_after=round(wait, 2) if wait is not None else None,
            )
            yield
            return
        yield
        result = ctx.result
        actual = actual_cost(getattr(result, "data", None), get_operation_ast(document, ctx.operation_name))
        actual = min(actual, requested)
        _, status = await limiter.take(key, actual - requested, capacity, rate)  # give back the rest
        self.report = {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": status.as_dict(),
        }

    def _refuse(
        self, message: str, code: str, requested: int, status: Throttle, retry_after: float | None = None
    ) -> None:
        extensions: dict[str, Any] = {"code": code, "cost": requested}
        if retry_after is not None:
            extensions["retryAfter"] = retry_after
        self.execution_context.result = GraphQLExecutionResult(
            data=None, errors=[GraphQLError(message, extensions=extensions)]
        )
        self.report = {
            "requestedQueryCost": requested,
            "actualQueryCost": 0,
            "throttleStatus": status.as_dict(),
        }

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report} if self.report is not None else {}
