"""Document downloads over plain HTTP: stored documents, packing slips, label batches.

``GET /documents/{id}``, ``GET /shipments/{id}/packing-slip``, ``GET /labels?...``,
``GET /reports/{id}.{csv,xlsx,html,pdf}`` (scope ``analytics:read``) and
``GET /bulk-exports/{id}.jsonl`` (scope ``bulk:read`` and the read scope of its rows; a
completed export only, else 400 ``INVALID_STATE``) take
the API key as ``/graphql`` does (``Authorization: Bearer <key>``, ``X-Tenant`` when the
key reaches several tenants) and need the scope reading orders needs (``orders:read``).
IDs are the GraphQL global IDs. Refusals are JSON ``{"code", "message"}``: 401
``UNAUTHENTICATED`` without a valid key, 403 ``FORBIDDEN`` without the scope, 400
``INVALID_ID`` for a malformed ID (or one of another type), 400 ``INVALID`` for another bad
parameter, and 404 ``NOT_FOUND`` for an unknown ID and another tenant's alike.

``GET /media/{token}`` serves a listing image without a key, to the channels that fetch
images themselves: the token (in the URLs the API and the channels are given) seals the
image's storage key with the server's key, so nothing else can be asked for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.api.schema.document_types import BATCH_FORMATS, MAX_BATCH, MISSING_HEADER
from crossdock.api.schema.relay import decode_id, encode_id, resolve_id, resolve_ids
from crossdock.bootstrap import App
from crossdock.db.models import Order, Shipment, ShipmentDocument, Warehouse
from crossdock.errors import CrossdockError, Forbidden, NotFound, Unauthenticated, UserError
from crossdock.providers import DocumentFormat
from crossdock.security import Scope
from crossdock.services.documents import (
    CONTENT_TYPES,
    EXTENSIONS,
    label_batch,
    packing_slip,
    pick_list_shipments,
)
from crossdock.services.listing_content import media_key
from crossdock.services.tenancy import Principal, authenticate
from crossdock.storage import StorageError

__all__ = ["download_routes"]

log = logging.getLogger(__name__)

#: The scope every download needs: documents belong to orders.
SCOPE = Scope.ORDERS_READ


def _refusal(exc: CrossdockError) -> Response[Any]:
    if isinstance(exc, Unauthenticated):
        status, headers = 401, {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, Forbidden):
        status, headers = 403, {}
    elif isinstance(exc, NotFound):
        status, headers = 404, {}
    else:
        status, headers = 400, {}
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, UserError) and exc.field:
        body["field"] = exc.field
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _attachment(content: bytes, media_type: str, filename: str, **headers: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            **headers,
        },
    )


def download_routes(app: App) -> list[HTTPRouteHandler]:
    """The download routes of ``app``."""

    async def as_caller(
        request: Request[Any, Any, Any],
        answer: Callable[[AsyncSession], Awaitable[Response[Any]]],
        scope: Scope = SCOPE,
    ) -> Response[Any]:
        """Authenticate, check the scope, and answer within the caller's tenant."""
        try:
            principal: Principal = await authenticate(
                app.db, request.headers.get("authorization"), request.headers.get("x-tenant")
            )
            if not principal.allows(scope):
                raise Forbidden(f"this API key lacks the {scope.value!r} scope")
            async with app.db.tenant(principal.tenant_id, principal.tenant_slug) as session:
                return await answer(session)
        except (Unauthenticated, Forbidden, UserError) as exc:
            return _refusal(exc)
        except StorageError as exc:
            log.error("document storage failed: %s", exc.message)
            return Response(
                {"code": exc.code, "message": "the document storage is unavailable; try again"},
                status_code=503,
                media_type=MediaType.JSON,
            )

    @get("/documents/{document_id:str}", include_in_schema=False)
    async def document(request: Request[Any, Any, Any], document_id: str) -> Response[Any]:
        async def answer(session: AsyncSession) -> Response[Any]:
            _, pk = decode_id(document_id, "ShipmentDocument")
            row = await session.scalar(select(ShipmentDocument).where(ShipmentDocument.id == pk))
            if row is None:
                raise NotFound(f"ShipmentDocument {document_id} not found", field="id")
            content = await app.storage.get(row.storage_key)
            fmt = DocumentFormat(row.format)
            return _attachment(
                content,
                CONTENT_TYPES[fmt],
                f"{row.kind}-{row.shipment_id}-{row.sha256[:8]}.{EXTENSIONS[fmt]}",
                ETag=f'"{row.sha256}"',
            )

        return await as_caller(request, answer)

    @get("/shipments/{shipment_id:str}/packing-slip", include_in_schema=False)
    async def slip(request: Request[Any, Any, Any], shipment_id: str) -> Response[Any]:
        async def answer(session: AsyncSession) -> Response[Any]:
            pk = await resolve_id(session, shipment_id, Shipment)
            content = await packing_slip(session, pk)
            order_number = await session.scalar(
                select(Order.external_id)
                .join(Shipment, Shipment.order_id == Order.id)
                .where(Shipment.id == pk)
            )
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(order_number))[:64]
            return _attachment(content, "application/pdf", f"packing-slip-{safe}-{pk}.pdf")

        return await as_caller(request, answer)

    @get("/labels", include_in_schema=False)
    async def labels(request: Request[Any, Any, Any]) -> Response[Any]:
        async def answer(session: AsyncSession) -> Response[Any]:
            params = request.query_params
            fmt_value = (params.get("format") or "pdf").lower()
            if fmt_value not in {f.value for f in BATCH_FORMATS}:
                raise UserError("format is pdf or zpl", field="format", code="INVALID")
            fmt = DocumentFormat(fmt_value)
            shipments, warehouse = params.get("shipments"), params.get("warehouse")
            if (shipments is None) == (warehouse is None):
                raise UserError(
                    "name either shipments=ID,ID or warehouse=ID", field="shipments", code="REQUIRED"
                )
            if shipments is not None:
                values = [v for v in shipments.split(",") if v.strip()]
                if not values or len(values) > MAX_BATCH:
                    raise UserError(
                        f"name 1 to {MAX_BATCH} shipments", field="shipments", code="OUT_OF_RANGE"
                    )
                ids = await resolve_ids(session, [v.strip() for v in values], Shipment, field="shipments")
            else:
                assert warehouse is not None
                ids = await pick_list_shipments(
                    session, await resolve_id(session, warehouse, Warehouse, field="warehouse")
                )
            content, missing = await label_batch(session, app.storage, ids, fmt)
            missing_ids = ",".join(encode_id("Shipment", s) for s in missing)
            if len(missing) == len(set(ids)):
                return Response(
                    {
                        "code": "NOT_FOUND",
                        "message": f"no {fmt.value} label for these shipments",
                        "missing": missing_ids.split(",") if missing_ids else [],
                    },
                    status_code=404,
                    media_type=MediaType.JSON,
                )
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            return _attachment(
                content,
                CONTENT_TYPES[fmt],
                f"labels-{stamp}.{EXTENSIONS[fmt]}",
                **{MISSING_HEADER: missing_ids},
            )

        return await as_caller(request, answer)

    @get("/reports/{report_file:str}", include_in_schema=False)
    async def report(request: Request[Any, Any, Any], report_file: str) -> Response[Any]:
        """``/reports/<id>.<csv|xlsx|html|pdf>``: a stored report, rendered (``analytics:read``)."""

        async def answer(session: AsyncSession) -> Response[Any]:
            from crossdock.db.models import Report
            from crossdock.services.report_render import ReportFormat, render

            name, _, extension = report_file.rpartition(".")
            try:
                fmt = ReportFormat(extension.lower())
            except ValueError:
                raise UserError(
                    "ask for .csv, .xlsx, .html or .pdf", field="format", code="INVALID"
                ) from None
            _, pk = decode_id(name, "Report")
            row = await session.scalar(select(Report).where(Report.id == pk))
            if row is None:
                raise NotFound(f"Report {name} not found", field="id")
            content = await asyncio.to_thread(render, row.data, fmt)
            return _attachment(
                content, fmt.media_type, f"{row.kind}-report-{row.period_start.isoformat()}.{fmt.extension}"
            )

        return await as_caller(request, answer, scope=Scope.ANALYTICS_READ)

    @get("/agency-reports/{kind:str}/{report_file:str}", include_in_schema=False)
    async def agency(request: Request[Any, Any, Any], kind: str, report_file: str) -> Response[Any]:
        """``/agency-reports/<daily|weekly>/<YYYY-MM-DD>.<format>``: the report across every
        brand the key reaches (``analytics:read``)."""

        async def answer(session: AsyncSession) -> Response[Any]:
            from crossdock.db.models import ReportKind
            from crossdock.services.report_render import ReportFormat, render
            from crossdock.services.reports import agency_report

            name, _, extension = report_file.rpartition(".")
            try:
                fmt, which, day = ReportFormat(extension.lower()), ReportKind(kind), date.fromisoformat(name)
            except ValueError:
                raise UserError(
                    "ask for /agency-reports/<daily|weekly>/<YYYY-MM-DD>.<csv|xlsx|html|pdf>",
                    field="path",
                    code="INVALID",
                ) from None
            principal = await authenticate(
                app.db, request.headers.get("authorization"), request.headers.get("x-tenant")
            )
            data = await agency_report(app.db, app.plugins, principal, which, day)
            content = await asyncio.to_thread(render, data, fmt)
            return _attachment(
                content, fmt.media_type, f"agency-{which}-report-{day.isoformat()}.{fmt.extension}"
            )

        return await as_caller(request, answer, scope=Scope.ANALYTICS_READ)

    @get("/bulk-exports/{export_file:str}", include_in_schema=False)
    async def bulk_export(request: Request[Any, Any, Any], export_file: str) -> Response[Any]:
        """``/bulk-exports/<id>.jsonl``: a completed bulk export's file, streamed part by part
        (``bulk:read`` and the read scope of its rows)."""

        async def answer(session: AsyncSession) -> Response[Any]:
            from crossdock.db.models import BulkExport, BulkExportKind, BulkExportStatus
            from crossdock.services.bulk import CONTENT_TYPE, KIND_SCOPES

            name, _, extension = export_file.rpartition(".")
            if extension.lower() != "jsonl":
                raise UserError("ask for /bulk-exports/<id>.jsonl", field="format", code="INVALID")
            _, pk = decode_id(name, "BulkExport")
            row = await session.scalar(select(BulkExport).where(BulkExport.id == pk))
            if row is None:
                raise NotFound(f"BulkExport {name} not found", field="id")
            principal = await authenticate(
                app.db, request.headers.get("authorization"), request.headers.get("x-tenant")
            )
            scope = KIND_SCOPES[BulkExportKind(row.kind)]
            if not principal.allows(scope):
                raise Forbidden(f"this API key lacks the {scope.value!r} scope")
            if row.status != BulkExportStatus.COMPLETED:
                raise UserError(
                    f"the export is {row.status}: its file can be downloaded once it is completed",
                    field="id",
                    code="INVALID_STATE",
                )
            keys = [str(part[0]) for part in row.parts or []]
            first = (
                await app.storage.get(keys[0]) if keys else b""
            )  # a missing file fails here, not mid-stream

            async def parts() -> AsyncIterator[bytes]:
                yield first
                for key in keys[1:]:
                    yield await app.storage.get(key)

            return Stream(
                parts(),
                media_type=CONTENT_TYPE,
                headers={
                    "Content-Disposition": f'attachment; filename="{row.kind}-export-{row.id}.jsonl"',
                    "Content-Length": str(row.file_size),
                    "X-Content-Type-Options": "nosniff",
                    "Cache-Control": "private, no-store",
                },
            )

        return await as_caller(request, answer, scope=Scope.BULK_READ)

    @get("/media/{token:str}", include_in_schema=False)
    async def media(token: str) -> Response[Any]:
        """A listing image, for a channel that fetches images itself (Amazon): the token
        seals the image's key with the server's key, so only images the server handed out
        are served, to anyone holding the link, and nothing else of the storage."""
        key = media_key(app.vault, token)
        if key is None:
            return Response(
                {"code": "NOT_FOUND", "message": "no such image"}, status_code=404, media_type=MediaType.JSON
            )
        try:
            data = await app.storage.get(key)
        except StorageError:
            return Response(
                {"code": "NOT_FOUND", "message": "no such image"}, status_code=404, media_type=MediaType.JSON
            )
        kind = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
        return Response(
            data,
            media_type=kind.get(key.rsplit(".", 1)[-1], "application/octet-stream"),
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    return [document, slip, labels, report, agency, bulk_export, media]
