"""How failures reach a client.

* Expected failures of a mutation are ``userErrors { field message code }`` on its payload,
  and the transaction is rolled back.
* Everything else is a GraphQL error whose ``extensions.code`` says what kind it is
  (``UNAUTHENTICATED``, ``FORBIDDEN``, ``GRAPHQL_VALIDATION_FAILED``, ...); an input error
  keeps the code a mutation would report in ``userErrors`` (``INVALID_ID``, ``NOT_FOUND``).
  An unexpected exception is logged and reaches the client as ``INTERNAL_SERVER_ERROR``
  with no message detail and no stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, Self, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from crossdock.api.context import RequestState, state
from crossdock.api.schema.enums import ERROR_CODE_ENUMS
from crossdock.api.schema.relay import decode_id, model_name_of
from crossdock.db.retry import is_conflict, is_unique_violation, retry_conflicts
from crossdock.errors import CrossdockError, Forbidden, NotFound, Unauthenticated, UserError
from crossdock.services import audit, idempotency

__all__ = [
    "IDEMPOTENCY",
    "USER_ERROR_TYPES",
    "AccountUserError",
    "AnalyticsUserError",
    "BulkUserError",
    "CaseUserError",
    "CatalogUserError",
    "ChannelUserError",
    "ErrorCodes",
    "InventoryUserError",
    "MessagingUserError",
    "OrderUserError",
    "PricingUserError",
    "ShippingUserError",
    "TrackingUserError",
    "UserErrorType",
    "WebhookUserError",
    "audit_of",
    "audited",
    "constraint_error",
    "describe_scopes",
    "in_transaction",
    "main_object",
    "refuse",
    "required_scope",
    "requires",
    "scope_sentence",
]

#: The context key of the request's idempotency claim (set by the Idempotency-Key middleware).
IDEMPOTENCY = "idempotency"

log = logging.getLogger("crossdock.api")
P = TypeVar("P")


@strawberry.interface(
    name="UserError",
    description="An expected failure, on the input field that caused it. Each domain's "
    "payloads carry their own implementation, whose `code` is that domain's error-code enum.",
)
class UserErrorType:
    field: list[str] | None = strawberry.field(
        description='The path of the input field, e.g. ["lines", "0", "quantity"].'
    )
    message: str

    @classmethod
    def from_error(cls, error: UserError) -> Self:
        codes = ERROR_CODE_ENUMS[cls.DOMAIN]
        try:
            code = codes(error.code)
        except ValueError:  # a bug: every raised code is in its domain's enum (tests check)
            log.error("error code %r is not a %s", error.code, codes.__name__)
            code = codes("INVALID")
        field = error.field.split(".") if error.field else None
        return cls(field=field, message=error.message, code=code)  # type: ignore[call-arg]

    DOMAIN = "Catalog"


def _code(domain: str) -> Any:
    return strawberry.field(graphql_type=ERROR_CODE_ENUMS[domain], description="What went wrong.")


@strawberry.type(description="A refused catalog input.")
class CatalogUserError(UserErrorType):
    code: str = _code("Catalog")
    DOMAIN = "Catalog"


@strawberry.type(description="A refused warehouse or stock input.")
class InventoryUserError(UserErrorType):
    code: str = _code("Inventory")
    DOMAIN = "Inventory"


@strawberry.type(description="A refused connection or listing input.")
class ChannelUserError(UserErrorType):
    code: str = _code("Channel")
    DOMAIN = "Channel"


@strawberry.type(description="A refused order, shipment, return or refund input.")
class OrderUserError(UserErrorType):
    code: str = _code("Order")
    DOMAIN = "Order"


@strawberry.type(description="A refused price rule, promotion or other money input.")
class PricingUserError(UserErrorType):
    code: str = _code("Pricing")
    DOMAIN = "Pricing"


@strawberry.type(description="A refused carrier account, routing rule, rate or label input.")
class ShippingUserError(UserErrorType):
    code: str = _code("Shipping")
    DOMAIN = "Shipping"


@strawberry.type(description="A refused conversation or canned-reply input.")
class MessagingUserError(UserErrorType):
    code: str = _code("Messaging")
    DOMAIN = "Messaging"


@strawberry.type(description="A refused tracking input (exceptions, notice rules).")
class TrackingUserError(UserErrorType):
    code: str = _code("Tracking")
    DOMAIN = "Tracking"


@strawberry.type(description="A refused answer to an after-sales case.")
class CaseUserError(UserErrorType):
    code: str = _code("Case")
    DOMAIN = "Case"


@strawberry.type(description="A refused analytics or report input.")
class AnalyticsUserError(UserErrorType):
    code: str = _code("Analytics")
    DOMAIN = "Analytics"


@strawberry.type(description="A refused tenant, settings or API key input.")
class AccountUserError(UserErrorType):
    code: str = _code("Account")
    DOMAIN = "Account"


@strawberry.type(description="A refused webhook endpoint or redelivery input.")
class WebhookUserError(UserErrorType):
    code: str = _code("Webhook")
    DOMAIN = "Webhook"


@strawberry.type(description="A refused bulk export input.")
class BulkUserError(UserErrorType):
    code: str = _code("Bulk")
    DOMAIN = "Bulk"


#: Every domain's user-error type.
USER_ERROR_TYPES: tuple[type[UserErrorType], ...] = (
    CatalogUserError,
    InventoryUserError,
    ChannelUserError,
    OrderUserError,
    PricingUserError,
    MessagingUserError,
    ShippingUserError,
    TrackingUserError,
    CaseUserError,
    AnalyticsUserError,
    AccountUserError,
    WebhookUserError,
    BulkUserError,
)


@cache
def _error_type(payload: type[Any]) -> type[UserErrorType]:
    """The user-error type a payload's ``userErrors`` lists (resolved once per payload)."""
    field = payload.__strawberry_definition__.get_field("user_errors")
    assert field is not None, f"{payload.__name__} has no user_errors"
    of_type = field.type.of_type  # list[XUserError]
    assert isinstance(of_type, type), payload.__name__
    assert issubclass(of_type, UserErrorType), payload.__name__
    return of_type


async def in_transaction(
    info: Info[Any, Any],
    payload: Callable[..., P],
    body: Callable[[AsyncSession, RequestState], Awaitable[dict[str, Any]]],
) -> P:
    """The shape of every mutation: one write transaction around ``body``, whose result is
    the payload's fields; a :class:`UserError` rolls back and becomes ``userErrors``.

    ``body`` locks what it changes (:mod:`crossdock.services.states`); a collision with
    another transaction (deadlock, serialization failure) runs it again, a bounded number of
    times (:func:`crossdock.db.retry.retry_conflicts`), so ``body`` must not act outside the
    database before it returns (jobs and hooks go after commit). A constraint the database
    enforces (a unique key taken by a concurrent request, a check) is a ``userError`` too.
    With an ``Idempotency-Key`` the key is marked used in the same transaction.

    Each attempt records what it changes in the audit log (:mod:`crossdock.services.audit`):
    the entry is written in the transaction, so only the attempt that commits leaves one; a
    refusal is recorded as ``refused`` with its code, after the rollback.
    """
    st = state(info)
    held = info.context.get(IDEMPOTENCY)
    actor, operation, arguments = audit_of(info)

    async def attempt() -> dict[str, Any]:
        async with st.write() as session:
            audit.begin(session, actor, operation, arguments)
            fields = await body(session, st)
            if held is not None:
                await idempotency.mark_committed(session, held)
            await audit.finish(session, *main_object(fields))
        return fields

    def collided(exc: BaseException) -> bool:
        # a unique key taken by a request that committed first: run again, and the
        # service's own check now sees the other's row (TAKEN, or an update for a save)
        return is_conflict(exc) or is_unique_violation(exc)

    try:
        fields = await retry_conflicts(attempt, retry_if=collided)
    except UserError as exc:
        return await refuse(info, payload, exc)
    except IntegrityError as exc:
        return await refuse(info, payload, constraint_error(exc))
    except DBAPIError as exc:
        if not is_conflict(exc):
            raise
        busy = UserError("other changes to the same objects kept colliding; try again", code="CONFLICT")
        return await refuse(info, payload, busy)
    return payload(**fields)


def audit_of(info: Info[Any, Any]) -> tuple[audit.Actor, str, dict[str, Any]]:
    """The audit log's view of a mutation: who calls (key and where from), the field, and
    its arguments (variables substituted; redacted when recorded)."""
    selected = info.selected_fields
    first = selected[0] if selected else None
    arguments = dict(first.arguments) if isinstance(first, SelectedField) else {}
    return state(info).actor(), info.field_name, arguments


def main_object(fields: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The main object of a mutation for its audit entry: the first object with a global
    ID its payload returns (``productUpdate``'s product); ``(None, None)`` if none, and the
    audit log takes the first object the mutation created or updated."""
    for value in fields.values():
        gid = getattr(value, "id", None)
        if isinstance(gid, str):
            try:
                type_name, pk = decode_id(gid)
            except UserError:
                continue
            return model_name_of(type_name), pk
    return None, None


async def refuse(info: Info[Any, Any], payload: Callable[..., P], error: UserError) -> P:
    """The payload of a refused mutation, recorded as ``refused`` with its code (in a
    transaction of its own: the refused one changed nothing)."""
    actor, operation, arguments = audit_of(info)
    st = state(info)
    try:
        await audit.refused(st.app.db, st.principal.tenant_id, actor, operation, error.code, arguments)
    except Exception:
        log.exception("could not record the refusal of %s in the audit log", operation)
    return payload(user_errors=[_error_type(payload).from_error(error)])


@contextmanager
def audited(info: Info[Any, Any]) -> Iterator[None]:
    """For a mutation that works between its own transactions (a carrier or a payment
    provider is called outside any): each tenant write transaction it commits that changes
    something is recorded as the mutation (see :func:`crossdock.services.audit.acting`)."""
    actor, operation, arguments = audit_of(info)
    with audit.acting(actor, operation, arguments):
        yield


def constraint_error(exc: IntegrityError) -> UserError:
    """What a constraint the database refused means to the caller. The services check first;
    this is what a concurrent request that passed the same check at the same time gets."""
    text = str(exc.orig)
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code == "23505" or "UNIQUE constraint failed" in text:
        return UserError("this already exists (made by another request just now)", code="TAKEN")
    if code == "23503" or "FOREIGN KEY constraint failed" in text:
        return UserError("an object this refers to does not exist (any more)", code="NOT_FOUND")
    return UserError("the change would break a rule of the data (a quantity or amount out of range)")


class RequireScope(BasePermission):
    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.message = f"this API key lacks the {scope!r} scope"

    async def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        st = state(info)
        if st.principal.allows(self.scope):
            return True
        if info.path.prev is None and info.operation.operation.value == "mutation":
            # a mutation the key may not make is recorded as refused (FORBIDDEN), as any
            # other refusal of a mutation is
            actor, operation, arguments = audit_of(info)
            try:
                await audit.refused(
                    st.app.db, st.principal.tenant_id, actor, operation, "FORBIDDEN", arguments
                )
            except Exception:
                log.exception("could not record the refusal of %s in the audit log", operation)
        return False


def requires(scope: str) -> list[FieldExtension]:
    """Field extension list: the caller's key must hold ``scope`` (or ``admin``). The
    field's description names the scope (:func:`describe_scopes`)."""
    return [PermissionExtension(permissions=[RequireScope(scope)])]


def scope_sentence(scope: str | None) -> str:
    """What a field's description says about the scope it needs."""
    if scope is None:
        return "Any valid API key may call this."
    return f"Requires the `{scope}` scope (or `admin`)."


def required_scope(field: Any) -> str | None:
    """The scope a field's :func:`requires` extension enforces, if it has one."""
    for extension in getattr(field, "extensions", None) or ():
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                if isinstance(permission, RequireScope):
                    return permission.scope
    return None


def describe_scopes(*types: Any) -> None:
    """End the description of every field of these root types that enforces a scope with
    :func:`requires` with the sentence naming it: the description is made from the same
    declaration as the check, so the two cannot drift. Fields that check a scope
    themselves (a subscription, ``node``) name it with :func:`scope_sentence`."""
    for type_ in types:
        for field in type_.__strawberry_definition__.fields:
            scope = required_scope(field)
            if scope is None:
                continue
            sentence = scope_sentence(scope)
            text = (field.description or "").strip()
            if sentence not in text:
                field.description = f"{text} {sentence}".strip()


_CODES: dict[type[CrossdockError], str] = {
    Unauthenticated: "UNAUTHENTICATED",
    Forbidden: "FORBIDDEN",
    NotFound: "NOT_FOUND",
}


def _code_for(error: GraphQLError) -> tuple[str, str]:
    original = error.original_error
    if original is None:
        existing = (error.extensions or {}).get("code")
        if existing:
            return str(existing), error.message
        if error.message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED", error.message
        return "GRAPHQL_VALIDATION_FAILED", error.message
    if isinstance(original, CrossdockError):
        # a scalar's refusal is wrapped in graphql-core's message naming the variable: keep it
        message = error.message if original.message in error.message else original.message
        for cls in type(original).__mro__:
            if cls in _CODES:
                return _CODES[cls], message
        return original.code, message  # an input error keeps its own code, as in userErrors
    if isinstance(original, GraphQLError):
        return _code_for(original)
    log.error("unexpected error in a resolver", exc_info=original)
    return "INTERNAL_SERVER_ERROR", "internal server error"


class ErrorCodes(SchemaExtension):
    """Give every error a code, and mask the unexpected ones."""

    def _fix(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        fixed = []
        for error in errors:
            code, message = _code_for(error)
            extensions = {**(error.extensions or {}), "code": code}
            fixed.append(
                GraphQLError(
                    message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=None,
                    extensions=extensions,
                )
            )
        return fixed

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result and result.errors:
            result.errors = self._fix(list(result.errors))
        pre = self.execution_context.pre_execution_errors
        if pre:
            self.execution_context.pre_execution_errors = self._fix(list(pre))
