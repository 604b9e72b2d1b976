"""Calculated query cost, the way Shopify's Admin API does it, charged per API key.

**Requested cost**, computed from the query before it runs, so that what a request may
make the server do is paid for before it is done: a field returning an object costs 1 plus
its selection; scalars and enums cost nothing; a connection costs 2 plus its selection,
where its ``nodes`` or ``edges`` (an edge and its node are one item) count once per item
asked for (``first``/``last``, :data:`DEFAULT_FIRST` when not given); a plain list costs
its items, each 1 plus its selection, as many as its ``first``/``last`` asks (or that
argument's default), else its declared size (:data:`LIST_SIZES`); a mutation field costs
:data:`MUTATION_COST` plus its selection. Sizes multiply through nesting, fragments count
as if written out, and every alias counts: 30 aliases of ``events(first: 500)`` cost
30 x 500 objects, not 30.

**Actual cost**, computed the same way from the answer, with each list as long as it came
back: a connection that had 3 of the 50 nodes asked for costs 2 + 3.

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
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
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

from crossdock.redis_link import CALL_TIMEOUT, CONNECT_TIMEOUT, RedisLink, RedisUnavailable

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_FIRST",
    "DEFAULT_LIST_SIZE",
    "DEFAULT_RESTORE",
    "LIST_SIZES",
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


#: Declared sizes of the lists that take no ``first``/``last`` (``Type.field``, or
#: ``*.field`` for every type): the items such a list is priced at, what it holds in
#: practice (an order's lines, a product's variants). The actual cost counts what came back.
#: A list not named here is priced at :data:`DEFAULT_LIST_SIZE` items; a new list field
#: that can grow long should be a connection, or be declared here.
LIST_SIZES: dict[str, int] = {
    "*.userErrors": 1,  # a mutation reports the one failure that rolled it back
    "Order.lines": 3,
    "Order.holds": 2,
    "Order.shipments": 2,
    "Order.allocations": 3,
    "Order.history": 5,
    "Order.returns": 1,
    "Order.refunds": 1,
    "Shipment.documents": 3,  # a label (or one per parcel) and customs papers
    "Product.variants": 5,
    "Variant.stockLevels": 3,
    "Listing.issues": 2,
    "ChannelConnection.listings": 100,
    "Conversation.messages": 10,
    "Shipment.trackingEvents": 10,
    "Shipment.exceptions": 1,
    "Query.exceptionNoticeRules": 10,
    "CartQuote.discounts": 5,
    "Settlement.lines": 50,
    "OrderReconciliation.lines": 10,
    "PickListPayload.lines": 100,
    "PriceApplyPayload.listings": 10,
    "PriceApplyPayload.breakdowns": 10,
    "Query.plugins": 20,
    "Query.pickList": 100,
    "Query.cannedReplies": 20,
    "Query.priceBreakdowns": 10,
    "Query.reconciliation": 100,
    "Query.paymentMethods": 10,
}
DEFAULT_LIST_SIZE = 10

_SIZE_ARGUMENTS = ("first", "last")


def _object_type(schema: GraphQLSchema, name: str) -> GraphQLNamedType | None:
    found = schema.get_type(name)
    return found if isinstance(found, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType) else None


def _is_list(type_: GraphQLOutputType) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _is_connection(named: GraphQLNamedType) -> bool:
    """A relay connection: an object with ``pageInfo`` and ``nodes`` or ``edges``."""
    fields = getattr(named, "fields", None) or {}
    return "pageInfo" in fields and ("nodes" in fields or "edges" in fields)


class _Walk:
    """One operation's selections, fragments expanded, as (response key, field, definition,
    parent type): the walk both costs share."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.operation = get_operation_ast(document, operation_name)
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables or {}

    def root(self) -> GraphQLObjectType | None:
        if self.operation is None:
            return None
        return {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[self.operation.operation]

    def fields(
        self, selection_set: SelectionSetNode | None, parent: Any, seen: frozenset[str] = frozenset()
    ) -> Iterator[tuple[FieldNode, GraphQLField, Any]]:
        """The fields selected on ``parent`` (fragment spreads and inline fragments written
        out; a fragment on another type of an interface or union counts too: worst case)."""
        if selection_set is None or parent is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                own = getattr(parent, "fields", None) or {}
                if not name.startswith("__") and name in own:
                    yield selection, own[name], parent
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    target = _object_type(self.schema, fragment.type_condition.name.value) or parent
                    yield from self.fields(fragment.selection_set, target, seen | {name})
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = _object_type(self.schema, condition.name.value) if condition else parent
                yield from self.fields(selection.selection_set, target or parent, seen)

    def size(self, field: FieldNode, definition: GraphQLField, parent: Any, *, connection: bool) -> int:
        """The items a list field asks for: its ``first``/``last`` (given, or the argument's
        default), else the declared size of the list."""
        asked: int | None = None
        for argument in field.arguments or ():
            if argument.name.value not in _SIZE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                asked = int(value.value)
            elif isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool):
                    asked = given
            if asked is not None:
                return max(asked, 0)
        for name in _SIZE_ARGUMENTS:
            default = definition.args[name].default_value if name in definition.args else None
            if isinstance(default, int) and not isinstance(default, bool):
                return max(default, 0)
        if connection:
            return DEFAULT_FIRST
        key = f"{getattr(parent, 'name', '')}.{field.name.value}"
        return LIST_SIZES.get(key, LIST_SIZES.get(f"*.{field.name.value}", DEFAULT_LIST_SIZE))


def _key(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """What an operation may cost at most, from the query alone (see the module doc)."""
    walk = _Walk(schema, document, operation_name, variables)
    root = walk.root()
    if walk.operation is None or root is None:
        return 0

    def selection(selection_set: SelectionSetNode | None, parent: Any) -> int:
        return sum(field_cost(f, d, p) for f, d, p in walk.fields(selection_set, parent))

    def item(field: FieldNode, named: Any) -> int:
        """One object and what is selected on it."""
        return 1 + selection(field.selection_set, named)

    def field_cost(field: FieldNode, definition: GraphQLField, parent: Any) -> int:
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        if _is_connection(parent) and field.name.value in ("nodes", "edges"):
            return item(field, named)  # per item: the connection multiplies
        if field.name.value == "node" and _is_edge(parent):
            return selection(field.selection_set, named)  # an edge and its node are one item
        if _is_connection(named):
            n = walk.size(field, definition, parent, connection=True)
            return 2 + sum(
                (n if f.name.value in ("nodes", "edges") else 1) * field_cost(f, d, p)
                for f, d, p in walk.fields(field.selection_set, named)
            )
        if _is_list(definition.type):
            return walk.size(field, definition, parent, connection=False) * item(field, named)
        return item(field, named)

    mutation = walk.operation.operation == OperationType.MUTATION
    return sum(
        field_cost(f, d, p) + (MUTATION_COST - 1 if mutation else 0)
        for f, d, p in walk.fields(walk.operation.selection_set, root)
    )


def _is_edge(parent: Any) -> bool:
    fields = getattr(parent, "fields", None) or {}
    return "node" in fields and "cursor" in fields


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    data: Any,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """What an answer cost, priced like :func:`requested_cost` but with the lists as they
    came back: the objects it holds (a connection 2, its items 1 each), plus the mutations."""
    walk = _Walk(schema, document, operation_name, variables)
    root = walk.root()
    if walk.operation is None or root is None or not isinstance(data, dict):
        return 0

    def selection(selection_set: SelectionSetNode | None, parent: Any, value: Any) -> int:
        if not isinstance(value, dict):
            return 0
        total, counted = 0, set()
        for f, d, p in walk.fields(selection_set, parent):
            key = _key(f)
            if key in counted or key not in value:
                continue
            counted.add(key)
            total += field_cost(f, d, p, value[key])
        return total

    def field_cost(field: FieldNode, definition: GraphQLField, parent: Any, value: Any) -> int:
        named = get_named_type(definition.type)
        if value is None or is_leaf_type(named):
            return 0
        if isinstance(value, list):
            return sum(1 + selection(field.selection_set, named, v) for v in value if v is not None)
        if field.name.value == "node" and _is_edge(parent):
            return selection(field.selection_set, named, value)
        own = 2 if _is_connection(named) else 1
        return own + selection(field.selection_set, named, value)

    total = selection(walk.operation.selection_set, root, data)
    if walk.operation.operation == OperationType.MUTATION:
        total += (MUTATION_COST - 1) * sum(1 for key in data if not key.startswith("__"))
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
    """Leaky buckets of query cost per API key, in Redis when configured.

    While Redis does not answer (see :mod:`crossdock.redis_link`) each server process keeps
    the buckets itself, and goes back to Redis's once it answers again."""

    def __init__(self, redis_url: str | None = None, *, link: RedisLink | None = None) -> None:
        self._local: dict[str, tuple[float, float]] = {}
        self._redis: Any = None
        self._settings: dict[int, tuple[float, int, float]] = {}  # tenant -> (read at, size, rate)
        self.link = link or RedisLink()
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(
                redis_url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CALL_TIMEOUT
            )
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
            try:
                taken, points = await self.link.call(
                    lambda: self._script(keys=[f"crossdock:cost:{key}"], args=[capacity, rate, now, want]),
                    "charging query cost",
                )
            except RedisUnavailable:
                pass  # this process's own bucket until Redis answers again
            else:
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
        key = principal.caller_key
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
        actual = actual_cost(
            schema, document, getattr(result, "data", None), ctx.operation_name, ctx.variables
        )
        actual = min(actual, requested)
        state.app.usage.add(principal.tenant_id, actual)  # usage: written by the meter's flush
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
