"""Staff sign-in over REST (``/auth/...``): GraphQL refuses a request without a key or a
token, so getting one happens here.

Bodies are JSON objects, answers too. A refusal is ``{"code", "message"}`` (and ``field``
for an input's): 400 for a body that is not a JSON object of the fields and types the
endpoint takes (``INVALID_INPUT``) and for bad input (``INVALID_TOKEN``, ``WEAK_PASSWORD``,
``SSO_STATE_INVALID``, ``SSO_REFUSED`` when the provider sent an error back); 401 for a
login refused (``INVALID_CREDENTIALS``, ``TOTP_REQUIRED``, ``TOTP_INVALID``, ``DISABLED``,
``REFRESH_INVALID``, ``REFRESH_REUSED``, ``SSO_REFUSED``, ``SSO_UNKNOWN_USER``); 429 with
``Retry-After`` for ``LOCKED`` and ``RATE_LIMITED``; 502 ``SSO_UNAVAILABLE`` when the
identity provider does not answer.

* ``POST /auth/login`` ``{organization, email, password, totp?}``: tokens.
* ``POST /auth/refresh`` ``{refreshToken}``: new tokens (the old refresh token, presented
  again, revokes the session).
* ``POST /auth/logout`` with ``Authorization: Bearer <access token>``: 204, the session
  ends (an API key is refused, 403 ``FORBIDDEN``).
* ``POST /auth/password-reset`` ``{organization, email}``: 202 whether the user exists or
  not; the mail is sent by the ``send_mail`` job.
* ``POST /auth/password-reset/confirm`` ``{token, password}``: tokens, every other
  session ended.
* ``POST /auth/invitation/accept`` ``{token, password, name?}``: tokens.
* ``GET /auth/sso/{organization}/{name}/start?redirect=/path``: 302 to the identity
  provider (``INVALID_REDIRECT`` for a ``redirect`` that is not a path of this server's);
  ``GET /auth/sso/{organization}/{name}/callback?code=&state=``: tokens, and ``redirect``
  (the path given at the start, or null) (:mod:`crossdock.services.sso`).

Tokens are ``{accessToken, refreshToken, accessExpiresAt, refreshExpiresAt, sessionId,
userId}`` (ISO 8601 times), sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from crossdock.bootstrap import App
from crossdock.db.validation import BAD_TEXT
from crossdock.errors import (
    ChannelError,
    CrossdockError,
    Forbidden,
    NotFound,
    Unauthenticated,
    UserError,
)
from crossdock.services import mail, sso, users
from crossdock.services.users import Client, LoginRefused, Tokens

__all__ = ["MAX_AUTH_BODY", "MAX_FIELD", "auth_routes"]

log = logging.getLogger(__name__)

#: Bytes an ``/auth`` body may have, and characters any of its strings.
MAX_AUTH_BODY = 16_384
MAX_FIELD = 1_024
_NO_STORE = {"Cache-Control": "no-store"}


def _answer(body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(
        dict(body), status_code=status, media_type=MediaType.JSON, headers={**_NO_STORE, **(headers or {})}
    )


def _refusal(exc: CrossdockError) -> Response[Any]:
    """The status and body of a refusal (see the module doc)."""
    headers: dict[str, str] = {}
    if isinstance(exc, LoginRefused):
        status = 429 if exc.retry_after is not None else 401
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, Unauthenticated):
        status, headers = 401, {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, Forbidden):
        status = 403
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, ChannelError):
        status = 502
    else:
        status = 400
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, UserError) and exc.field:
        body["field"] = exc.field
    return _answer(body, status, headers)


def _invalid(message: str, field: str | None = None) -> UserError:
    return UserError(message, field=field, code="INVALID_INPUT")


def _tokens(tokens: Tokens, **extra: Any) -> Response[Any]:
    body = {
        "accessToken": tokens.access_token,
        "refreshToken": tokens.refresh_token,
        "accessExpiresAt": tokens.access_expires_at.isoformat(),
        "refreshExpiresAt": tokens.refresh_expires_at.isoformat(),
        "sessionId": tokens.session_id,
        "userId": tokens.user_id,
    }
    return _answer({**body, **extra}, 200)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string", field)
    if len(value) > MAX_FIELD:
        raise _invalid(f"{field} is longer than {MAX_FIELD} characters", field)
    if BAD_TEXT.search(value):
        raise _invalid(f"{field} contains a NUL character or a lone surrogate", field)
    return value


async def _fields(
    request: Request[Any, Any, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, str | None]:
    """The body's string fields: every ``required`` one, the ``optional`` ones given (null:
    not given), nothing else; ``INVALID_INPUT`` otherwise."""
    raw = await request.body()
    if len(raw) > MAX_AUTH_BODY:
        raise _invalid(f"the body is larger than {MAX_AUTH_BODY} bytes")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise _invalid(f"unknown fields: {', '.join(k[:64] for k in unknown[:5])}", unknown[0][:64])
    found: dict[str, str | None] = {}
    for name in required:
        if body.get(name) is None:
            raise _invalid(f"{name} is required", name)
        found[name] = _text(body[name], name)
    for name in optional:
        found[name] = None if body.get(name) is None else _text(body[name], name)
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _client(request: Request[Any, Any, Any]) -> Client:
    peer = request.client
    return Client(peer.host if peer is not None else None, request.headers.get("user-agent"))


def auth_routes(app: App) -> list[HTTPRouteHandler]:
    """The ``/auth`` routes of ``app`` (see the module doc)."""

    @post("/auth/login", status_code=200, include_in_schema=False)
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await _fields(request, ("organization", "email", "password"), ("totp",))
            tokens = await users.login(
                app.db,
                app.vault,
                organization=body["organization"] or "",
                email=body["email"] or "",
                password=body["password"] or "",
                totp=body["totp"],
                client=_client(request),
            )
        except CrossdockError as exc:
            return _refusal(exc)
        return _tokens(tokens)

    @post("/auth/refresh", status_code=200, include_in_schema=False)
    async def refresh(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await _fields(request, ("refreshToken",))
            tokens = await users.refresh(app.db, body["refreshToken"] or "", client=_client(request))
        except CrossdockError as exc:
            return _refusal(exc)
        return _tokens(tokens)

    @post("/auth/logout", status_code=200, include_in_schema=False)  # answers 204
    async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            await users.sign_out(app.db, request.headers.get("authorization"))
        except CrossdockError as exc:
            return _refusal(exc)
        return Response(b"", status_code=204, media_type=MediaType.TEXT)

    @post("/auth/password-reset", status_code=202, include_in_schema=False)
    async def password_reset(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await _fields(request, ("organization", "email"))
            async with app.db.write(system=True) as session:
                mail_id = await users.request_password_reset(
                    session,
                    app.settings.public_url,
                    organization=body["organization"] or "",
                    email=body["email"] or "",
                )
        except CrossdockError as exc:
            return _refusal(exc)
        if mail_id is not None:
            await _send(mail_id)
        return _answer({"message": "if the address is a user's, a reset link is on its way"}, 202)

    async def _send(mail_id: int) -> None:
        """Queue the mail's job; if the queue is down, the mail sweep sends it later."""
        try:
            await app.queue.enqueue(mail.JOB, job_id=mail.job_id(mail_id), mail_id=mail_id)
        except CrossdockError as exc:
            log.warning("mail %s waits for the sweep: %s", mail_id, exc.message)

    @post("/auth/password-reset/confirm", status_code=200, include_in_schema=False)
    async def password_reset_confirm(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await _fields(request, ("token", "password"))
            async with app.db.write(system=True) as session:
                tokens = await users.confirm_password_reset(
                    session, body["token"] or "", body["password"] or "", _client(request)
                )
        except CrossdockError as exc:
            return _refusal(exc)
        return _tokens(tokens)

    @post("/auth/invitation/accept", status_code=200, include_in_schema=False)
    async def invitation_accept(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            body = await _fields(request, ("token", "password"), ("name",))
            async with app.db.write(system=True) as session:
                tokens = await users.accept_invitation(
                    session, body["token"] or "", body["password"] or "", body["name"], _client(request)
                )
        except CrossdockError as exc:
            return _refusal(exc)
        return _tokens(tokens)

    @get("/auth/sso/{organization:str}/{name:str}/start", include_in_schema=False)
    async def sso_start(request: Request[Any, Any, Any], organization: str, name: str) -> Response[Any]:
        try:
            redirect = request.query_params.get("redirect")
            url = await sso.start_login(
                app.db,
                app.plugins,
                app.vault,
                app.http,
                app.settings.public_url,
                organization=_text(organization, "organization"),
                name=_text(name, "name"),
                return_to=redirect,  # checked by sso.return_path
            )
        except ChannelError as exc:
            return _unavailable(exc)
        except CrossdockError as exc:
            return _refusal(exc)
        return Response(
            b"", status_code=302, media_type=MediaType.TEXT, headers={**_NO_STORE, "Location": url}
        )

    @get("/auth/sso/{organization:str}/{name:str}/callback", include_in_schema=False)
    async def sso_callback(request: Request[Any, Any, Any], organization: str, name: str) -> Response[Any]:
        query = request.query_params
        try:
            state = _text(query.get("state", ""), "state")
            code, error = query.get("code"), query.get("error")
            described = query.get("error_description")
            signed_in = await sso.complete_login(
                app.db,
                app.plugins,
                app.vault,
                app.http,
                organization=_text(organization, "organization"),
                name=_text(name, "name"),
                state=state,
                code=None if code is None else _text(code, "code"),
                error=None if error is None else _text(error, "error"),
                error_description=None if described is None else _text(described, "error_description"),
                client=_client(request),
            )
        except ChannelError as exc:
            return _unavailable(exc)
        except CrossdockError as exc:
            return _refusal(exc)
        return _tokens(signed_in.tokens, redirect=signed_in.return_to)

    return [
        login,
        refresh,
        logout,
        password_reset,
        password_reset_confirm,
        invitation_accept,
        sso_start,
        sso_callback,
    ]


def _unavailable(exc: ChannelError) -> Response[Any]:
    """The identity provider failed: 502 ``SSO_UNAVAILABLE`` when it did not answer (try
    again), 502 ``SSO_REFUSED`` when it refused the configuration."""
    code = "SSO_UNAVAILABLE" if exc.retryable else "SSO_REFUSED"
    log.warning("identity provider failed (%s): %s", exc.code, exc.message)
    headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else {}
    return _answer({"code": code, "message": f"the identity provider failed: {exc.message}"}, 502, headers)
