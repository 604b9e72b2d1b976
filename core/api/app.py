"""The HTTP application: ``/graphql`` (API and IDE), ``/health``, the IDE's assets, the
document downloads (:mod:`crossdock.api.downloads`)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress
from typing import Any

from graphql import GraphQLError
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.serialization import encode_json
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN, HTTP_503_SERVICE_UNAVAILABLE
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.unset import UNSET

from crossdock.api.auth import auth_routes
from crossdock.api.context import CONTEXT_KEY, RequestState
from crossdock.api.downloads import download_routes
from crossdock.api.edge import StrictRequests
from crossdock.api.ide import default_assets_dir, ide_assets_handler, ide_page
from crossdock.api.idempotency import SCOPE_KEY as IDEMPOTENCY_SCOPE
from crossdock.api.idempotency import idempotency_middleware
from crossdock.api.schema import schema
from crossdock.api.schema.errors import IDEMPOTENCY
from crossdock.bootstrap import App
from crossdock.errors import CrossdockError, Forbidden, NotFound, Unauthenticated, UserError
from crossdock.jobs.refunds import receive_payment_push
from crossdock.services.tenancy import authenticate
from crossdock.services.tracking import receive_carrier_push
from crossdock.services.webhooks import receive_webhook

__all__ = ["create_app"]

#: Seconds each backend may take to answer ``/health`` before it counts as down.
HEALTH_TIMEOUT = 0.8
MAX_BODY = 1_000_000  # bytes; a GraphQL request bigger than this is refused with 413


async def _within(check: Awaitable[bool]) -> bool:
    try:
        return await asyncio.wait_for(check, HEALTH_TIMEOUT)
    except TimeoutError:
        return False


def _wants_ide(request: Request[Any, Any, Any]) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


def _auth_error(request: Request[Any, Any, Any], exc: CrossdockError) -> Response[Any]:
    status = HTTP_401_UNAUTHORIZED if isinstance(exc, Unauthenticated) else HTTP_403_FORBIDDEN
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTP_401_UNAUTHORIZED else {}
    return Response(
        {"data": None, "errors": [{"message": exc.message, "extensions": {"code": exc.code}}]},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


#: Websocket close codes for a key refused after the connection was accepted, as
#: graphql-transport-ws uses them: 4401 Unauthorized (revoked or unknown), 4403 Forbidden.
_CLOSE_CODES = {Unauthenticated: 4401, Forbidden: 4403}


class _ReauthenticatingHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, checking the key again for every operation sent on the socket.

    A refused key answers the operation with a typed ``error`` message and closes the
    socket (4401/4403); a subscription that finds its key refused while running (it checks
    on every poll, see ``crossdock.api.schema.events``) ends with a typed error, and the
    socket is then closed the same way.
    """

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        request_state: RequestState = self.context[CONTEXT_KEY]
        if self.connection_acknowledged:
            try:
                await request_state.reauthenticate()
            except (Unauthenticated, Forbidden) as exc:
                error = GraphQLError(exc.message, extensions={"code": exc.code})
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                await self._close_refused(exc)
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        try:
            await super().run_operation(operation)
        finally:
            refused = self.context[CONTEXT_KEY].refused
            if refused is not None:
                await self._close_refused(refused)

    async def _close_refused(self, exc: Unauthenticated | Forbidden) -> None:
        with suppress(Exception):  # the client may be gone already
            await self.websocket.close(code=_CLOSE_CODES[type(exc)], reason=exc.message[:120])


def _settle_heap() -> None:
    """Move everything alive after start-up (modules, the schema, mappers: hundreds of
    thousands of objects) out of the collector's sight. Without this each full collection
    walks them all again, which cost a GraphQL request about a fifth of its CPU time."""
    gc.collect()
    gc.freeze()


def create_app(
    app: App,
    *,
    migrate: bool = False,
    run_jobs: bool = True,
    live_demo: bool = False,
    server_process: bool = False,
) -> Litestar:
    """Build the Litestar app around an :class:`~crossdock.bootstrap.App`.

    ``migrate`` upgrades the database at start-up (the embedded default); ``run_jobs``
    starts the in-process job runner when no Redis is configured; ``server_process`` says
    the process exists to serve this app (``crossdock.api.asgi``), so it may tune the
    process-wide garbage collector at start-up (tests build many apps in one process).
    """
    assets_dir = app.settings.graphiql_assets or default_assets_dir()

    async def context_getter(request: Request[Any, Any, Any]) -> AsyncIterator[dict[str, Any]]:
        principal = None
        # websockets authenticate in ``connection_init`` (browsers cannot set headers there)
        if str(request.scope["type"]) != "websocket" and not _wants_ide(request):
            principal = await authenticate(
                app.db, request.headers.get("authorization"), request.headers.get("x-tenant")
            )
        client = request.client
        request_state = RequestState(
            app,
            principal,
            source_ip=client.host if client is not None else None,
            user_agent=request.headers.get("user-agent"),
        )
        try:
            yield {CONTEXT_KEY: request_state, IDEMPOTENCY: request.scope.get(IDEMPOTENCY_SCOPE)}
        finally:
            await request_state.close()

    # graphql-transport-ws only: its handler checks the key again on every operation (the
    # legacy subscriptions-transport-ws protocol's would not)
    base = make_graphql_controller(
        schema,
        path="/graphql",
        context_getter=context_getter,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )

    class GraphQLController(StrictRequests, base):  # type: ignore[valid-type,misc]
        # StrictRequests: bodies read strictly, HTTP refusals as JSON GraphQL errors (400)
        graphql_transport_ws_handler_class = _ReauthenticatingHandler

        def encode_json(self, data: object) -> str:
            """msgspec instead of the standard library: a page of orders encodes several
            times faster. Text, not bytes, so websocket messages stay text frames."""
            return encode_json(data).decode()

        async def render_graphql_ide(self, request: Request[Any, Any, Any]) -> Response[str]:
            return Response(ide_page(assets_dir), media_type=MediaType.HTML)

        async def on_ws_connect(self, context: dict[str, Any]) -> Any:
            """Authenticate a websocket from its ``connection_init`` payload (``Authorization``
            and ``X-Tenant`` keys, any case), falling back to the upgrade request's headers."""
            params = {str(k).lower(): v for k, v in (context.get("connection_params") or {}).items()}
            socket = context["socket"]
            authorization = params.get("authorization") or socket.headers.get("authorization")
            tenant = params.get("x-tenant") or socket.headers.get("x-tenant")
            try:
                principal = await authenticate(app.db, authorization, tenant)
            except (Unauthenticated, Forbidden) as exc:
                raise ConnectionRejectionError({"message": exc.message, "code": exc.code}) from None
            context[CONTEXT_KEY].authenticate(principal, authorization)  # kept: checked again
            return UNSET

    @get("/health")
    async def health() -> Response[dict[str, Any]]:
        """Both backends checked at once, each within HEALTH_TIMEOUT: a load balancer gets its
        answer in under a second even when one of them does not answer at all."""
        db_ok, jobs_ok = await asyncio.gather(_within(app.db.ping()), _within(app.queue.ping()))
        body = {
            "status": "ok" if db_ok and jobs_ok else "degraded",
            "database": {"backend": app.db.dialect, "ok": db_ok},
            "jobs": {"backend": "embedded" if app.settings.embedded_jobs else "arq", "ok": jobs_ok},
            "plugins": {"loaded": len(app.plugins.infos), "failed": app.plugins.failures},
        }
        return Response(body, status_code=200 if db_ok and jobs_ok else HTTP_503_SERVICE_UNAVAILABLE)

    @post("/webhooks/{channel:str}/{key:str}", status_code=200, include_in_schema=False)
    async def webhook(request: Request[Any, Any, Any], channel: str, key: str) -> Response[Any]:
        """Channel pushes: verified by the plugin, stored once, acknowledged with an empty
        200 (a push delivered again too). Refusals are typed, ``{"code", "message"}``: 404
        for an unknown URL, 401 for a signature that does not verify, 400 for a malformed
        push; nothing is stored for them."""
        try:
            await receive_webhook(
                app.units, app.vault, channel, key, dict(request.headers), await request.body()
            )
        except (NotFound, Unauthenticated, UserError) as exc:
            status = 404 if isinstance(exc, NotFound) else 401 if isinstance(exc, Unauthenticated) else 400
            return Response({"code": exc.code, "message": exc.message}, status_code=status)
        return Response(b"", status_code=200, media_type=MediaType.TEXT)

    @post("/webhooks/carriers/{carrier:str}/{key:str}", status_code=200, include_in_schema=False)
    async def carrier_webhook(request: Request[Any, Any, Any], carrier: str, key: str) -> Response[Any]:
        """Carrier tracking pushes: verified by the plugin and recorded at once (scans are
        de-duplicated, so a push delivered again changes nothing); refusals as for channel
        pushes: 404 unknown URL, 401 bad signature, 400 malformed."""
        try:
            await receive_carrier_push(
                app.units, app.vault, carrier, key, dict(request.headers), await request.body()
            )
        except (NotFound, Unauthenticated, UserError) as exc:
            status = 404 if isinstance(exc, NotFound) else 401 if isinstance(exc, Unauthenticated) else 400
            return Response({"code": exc.code, "message": exc.message}, status_code=status)
        return Response(b"", status_code=200, media_type=MediaType.TEXT)

    @post("/webhooks/payments/{provider:str}/{tenant:str}", status_code=200, include_in_schema=False)
    async def payment_webhook(request: Request[Any, Any, Any], provider: str, tenant: str) -> Response[Any]:
        """Payment provider pushes (refunds the bank returned ...): verified by the plugin with
        the tenant's account and applied at once; refusals as for channel pushes: 404 unknown
        URL, 401 bad signature, 400 malformed."""
        try:
            await receive_payment_push(
                app.job_context(), provider, tenant, dict(request.headers), await request.body()
            )
        except (NotFound, Unauthenticated, UserError) as exc:
            status = 404 if isinstance(exc, NotFound) else 401 if isinstance(exc, Unauthenticated) else 400
            return Response({"code": exc.code, "message": exc.message}, status_code=status)
        return Response(b"", status_code=200, media_type=MediaType.TEXT)

    demo: list[Any] = []

    async def on_startup() -> None:
        await app.start(migrate=migrate, run_jobs=run_jobs)
        if live_demo:
            from crossdock.demo import start_live_demo

            demo.append(await start_live_demo(app))
        if server_process:
            _settle_heap()

    async def on_shutdown() -> None:
        for running in demo:
            if running is not None:
                await running.close()
        await app.close()

    return Litestar(
        route_handlers=[
            GraphQLController,
            health,
            webhook,
            carrier_webhook,
            payment_webhook,
            *download_routes(app),  # documents, packing slips, label batches
            *auth_routes(app),  # staff sign-in: /auth/login, /auth/sso/..., ...
            ide_assets_handler(assets_dir),
        ],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers={Unauthenticated: _auth_error, Forbidden: _auth_error},
        request_max_body_size=MAX_BODY,
        middleware=[idempotency_middleware(app, max_body=MAX_BODY)],
        # logging is set up once by the CLI (crossdock.cli.log_config), not per app
        logging_config=None,
    )
