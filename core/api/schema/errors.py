"""How failures reach a client.

* Expected failures of a mutation are ``userErrors { field message code }`` on its payload,
  and the transaction is rolled back.
* Everything else is a GraphQL error whose ``extensions.code`` says what kind it is
  (``UNAUTHENTICATED``, ``FORBIDDEN``, ``BAD_USER_INPUT``, ``GRAPHQL_VALIDATION_FAILED``,
  ...). An unexpected exception is logged and reaches the client as
  ``INTERNAL_SERVER_ERROR`` with no message detail and no stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.errors import CrossdockError, Forbidden, NotFound, Unauthenticated, UserError

__all__ = ["ErrorCodes", "UserErrorType", "in_transaction", "requires"]

log = logging.getLogger("crossdock.api")
P = TypeVar("P")


@strawberry.type(name="UserError", description="An expected failure, on the input field that caused it.")
class UserErrorType:
    field: list[str] | None
    message: str
    code: str

    @classmethod
    def from_error(cls, error: UserError) -> UserErrorType:
        return cls(
            field=error.field.split(".") if error.field else None, message=error.message, code=error.code
        )


async def in_transaction(
    info: Info[Any, Any],
    payload: Callable[..., P],
    body: Callable[[AsyncSession, RequestState], Awaitable[dict[str, Any]]],
) -> P:
    """The shape of every mutation: one write transaction around ``body``, whose result is
    the payload's fields; a :class:`UserError` rolls back and becomes ``userErrors``."""
    st = state(info)
    try:
        async with st.write() as session:
            fields = await body(session, st)
    except UserError as exc:
        return payload(user_errors=[UserErrorType.from_error(exc)])
    return payload(**fields)


class RequireScope(BasePermission):
    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.message = f"this API key lacks the {scope!r} scope"

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        return state(info).principal.allows(self.scope)


def requires(scope: str) -> list[FieldExtension]:
    """Field extension list: the caller's key must hold ``scope`` (or ``admin``)."""
    return [PermissionExtension(permissions=[RequireScope(scope)])]


_CODES: dict[type[CrossdockError], str] = {
    Unauthenticated: "UNAUTHENTICATED",
    Forbidden: "FORBIDDEN",
    NotFound: "NOT_FOUND",
    UserError: "BAD_USER_INPUT",
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
        for cls in type(original).__mro__:
            if cls in _CODES:
                return _CODES[cls], original.message
        return original.code, original.message
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
