"""Bulk exports as GraphQL types (:mod:`crossdock.services.bulk`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from crossdock.api.schema.common import JSON
from crossdock.api.schema.enums import member, optional_member
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m

__all__ = ["BulkExport", "download_path"]


def download_path(gid: str) -> str:
    return f"/bulk-exports/{gid}.jsonl"


@strawberry.type(
    description="An asynchronous export of a list's rows to a JSONL file (one JSON object per "
    "line; an order's lines follow it, each with `__parentId`). Download it from `url` with the "
    "API key once `status` is COMPLETED; it is kept for the retention period (`expiresAt`)."
)
class BulkExport(Node):
    pk: strawberry.Private[int]
    kind: m.BulkExportKind
    status: m.BulkExportStatus
    filter: JSON = strawberry.field(description="The filter it was started with.")
    object_count: int = strawberry.field(description="Lines written so far (roots and their children).")
    root_object_count: int = strawberry.field(
        description="Root rows written so far (orders, levels, listings)."
    )
    file_size: int = strawberry.field(description="Bytes written so far.")
    error_code: m.BulkExportErrorCode | None = strawberry.field(
        description="Why it failed (set while a failed attempt waits to be retried too)."
    )
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    canceled_at: datetime | None
    finished_at: datetime | None = strawberry.field(description="When it completed, failed or was canceled.")
    expires_at: datetime | None = strawberry.field(description="When its file and this record are purged.")

    @strawberry.field(
        description="Where to download the file (send the API key), once COMPLETED; null before."
    )
    def url(self) -> str | None:
        return download_path(self.id) if self.status == m.BulkExportStatus.COMPLETED else None

    @classmethod
    def from_row(cls, row: m.BulkExport) -> BulkExport:
        return cls(
            id=encode_id("BulkExport", row.id),
            pk=row.id,
            kind=member(m.BulkExportKind, row.kind),
            status=member(m.BulkExportStatus, row.status),
            filter=JSON(dict(row.filter or {})),
            object_count=row.object_count,
            root_object_count=row.root_object_count,
            file_size=row.file_size,
            error_code=optional_member(m.BulkExportErrorCode, row.error_code),
            created_at=row.created_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
            canceled_at=row.canceled_at,
            finished_at=row.finished_at,
            expires_at=row.expires_at,
        )
