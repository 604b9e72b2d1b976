"""The ``Idempotency-Key`` header on ``POST /graphql`` (see :mod:`crossdock.services.idempotency`).

An ASGI middleware in front of the GraphQL route: it reads the body, claims the key for the
caller's tenant, lets the request run with the claim in its scope (each mutation marks the
key in its own transaction, :func:`crossdock.api.schema.errors.in_transaction`), then keeps
the answer. A repeat gets the kept answer with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from crossdock.bootstrap import App
from crossdock.errors import CrossdockError
from crossdock.services import idempotency
from crossdock.services.tenancy import authenticate

__all__ = ["SCOPE_KEY", "idempotency_middleware"]

log = logging.getLogger(__name__)

SCOPE_KEY = "crossdock.idempotency"
#: ASGI messages, read and written as plain dicts (they pass through unchanged).
Message = dict[str, Any]
HEADER = b"idempotency-key"


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_json(send: Any, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    payload = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def _error(message: str, code: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def idempotency_middleware(crossdock: App, *, path: str = "/graphql", max_body: int) -> Any:
    """A Litestar middleware factory: ``Litestar(middleware=[idempotency_middleware(app, …)])``."""

    def factory(app: ASGIApp) -> ASGIApp:
        next_app: Any = app  # called with the plain-dict callables below

        async def middleware(asgi_scope: Scope, asgi_receive: Receive, asgi_send: Send) -> None:
            # plain dicts and callables here: the messages pass through as they are
            scope: Any = asgi_scope
            receive: Any = asgi_receive
            send: Any = asgi_send
            raw_key = _header(scope, HEADER) if scope["type"] == "http" else None
            if raw_key is None or scope.get("method") != "POST" or scope.get("path") != path:
                await next_app(scope, receive, send)
                return
            try:
                key = idempotency.validate_key(raw_key)
            except CrossdockError as exc:
                await _send_json(send, 400, _error(exc.message, "BAD_IDEMPOTENCY_KEY"), [])
                return
            buffered: list[Message] = []
            size = 0
            while True:
                message = await receive()
                buffered.append(message)
                if message["type"] != "http.request":
                    break
                size += len(message.get("body", b""))
                if size > max_body or not message.get("more_body", False):
                    break

            async def replay() -> Message:
                return buffered.pop(0) if buffered else await receive()

            try:
                principal = await authenticate(
                    crossdock.db, _header(scope, b"authorization"), _header(scope, b"x-tenant")
                )
            except CrossdockError:
                await next_app(scope, replay, send)  # the route refuses the caller itself
                return
            if size > max_body:
                await next_app(scope, replay, send)  # and refuses the body as too large
                return
            body = b"".join(m.get("body", b"") for m in buffered if m["type"] == "http.request")
            digest = hashlib.sha256(body).hexdigest()
            tenant = principal.tenant_id
            found = await idempotency.claim(crossdock.db, tenant, key, digest)
            if isinstance(found, idempotency.Refusal):
                await _send_json(send, found.status_code, _error(found.message, found.code), [])
                return
            if isinstance(found, idempotency.Replay):
                content_type = (found.content_type or "application/json").encode("latin-1")
                await send(
                    {
                        "type": "http.response.start",
                        "status": found.status_code,
                        "headers": [(b"content-type", content_type), (b"idempotent-replayed", b"true")],
                    }
                )
                await send({"type": "http.response.body", "body": found.body.encode(), "more_body": False})
                return
            status = 500
            answered_type: str | None = None
            chunks: list[bytes] = []
            held_back: list[Message] = []
            finished = False

            async def finish() -> None:
                nonlocal finished
                if finished:
                    return
                finished = True
                try:  # kept if the request committed something; otherwise the key is free
                    await idempotency.finish(
                        crossdock.db,
                        tenant,
                        found,
                        status,
                        answered_type,
                        b"".join(chunks).decode("utf-8", "replace"),
                    )
                except Exception:
                    # the client still gets its answer; a repeat is told the request was
                    # carried out (IDEMPOTENCY_KEY_USED) once the lease runs out
                    log.exception("could not keep the answer of Idempotency-Key request")

            async def capture(message: Message) -> None:
                # The answer is stored before its last byte leaves: a client that has it and
                # sends the request again gets it replayed, never "still running".
                nonlocal status, answered_type
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    for name, value in message.get("headers", ()):
                        if bytes(name).lower() == b"content-type":
                            answered_type = bytes(value).decode("latin-1")
                    held_back.append(message)
                    return
                if message["type"] == "http.response.body":
                    chunks.append(bytes(message.get("body", b"")))
                    held_back.append(message)
                    if message.get("more_body", False):
                        return
                    await finish()
                    for pending in held_back:
                        await send(pending)
                    held_back.clear()
                    return
                await send(message)

            scope[SCOPE_KEY] = found
            try:
                await next_app(scope, replay, capture)
            finally:
                await finish()  # an app that raised (500) or never answered completely

        return middleware

    return factory
