"""Bulk exports (a list's rows written to JSONL in the storage, as Shopify's bulk operations
do) and the usage counters an agency bills its brands by.

:mod:`crossdock.services.bulk` explains how an export is claimed, written page by page,
resumed and published; :mod:`crossdock.services.usage` how each counter is kept.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import Base, Json, TenantScoped, Timestamped

__all__ = [
    "BULK_ACTIVE_SQL",
    "BulkExport",
    "BulkExportErrorCode",
    "BulkExportKind",
    "BulkExportStatus",
    "UsageDelta",
    "UsageMetric",
    "UsageMonthly",
]


class BulkExportKind(StrEnum):
    """Which list a bulk export writes out."""

    ORDERS = "orders"  #: orders, each followed by its lines (``__parentId``)
    STOCK = "stock"  #: stock levels (variant x warehouse)
    LISTINGS = "listings"  #: listings on the channels


class BulkExportStatus(StrEnum):
    """Where a bulk export stands."""

    CREATED = "created"  #: asked for; no worker has taken it yet
    RUNNING = "running"  #: a worker is writing it (``objectCount`` grows)
    COMPLETED = "completed"  #: written in full: the file can be downloaded
    FAILED = "failed"  #: given up (``errorCode`` says why); nothing can be downloaded
    CANCELED = "canceled"  #: canceled before it completed; nothing can be downloaded


#: The statuses of an export still to finish: one per tenant at a time.
BULK_ACTIVE = (BulkExportStatus.CREATED, BulkExportStatus.RUNNING)
#: the same, as the partial unique index states it
BULK_ACTIVE_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in BULK_ACTIVE))


class BulkExportErrorCode(StrEnum):
    """Why a bulk export failed."""

    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"  #: the storage kept refusing the file's parts
    INTERNAL_ERROR = "INTERNAL_ERROR"  #: workers kept failing at it (logged); ask for it again
    TIMEOUT = "TIMEOUT"  #: it ran for longer than an export may


class BulkExport(TenantScoped, Timestamped, Base):
    """One export of one list, written as parts (one per page of rows) under
    ``exports/<tenant>/<id>/``; the file is the parts in order.

    ``cursor`` is the id of the last row written; a part is recorded (``parts``) in the
    transaction that moves the cursor, and only by the worker holding the claim.
    """

    __tablename__ = "bulk_exports"
    __table_args__ = (
        # one export running per tenant: two concurrent requests cannot both start one
        Index(
            "uq_bulk_exports_one_active",
            "tenant_id",
            unique=True,
            postgresql_where=text(BULK_ACTIVE_SQL),
            sqlite_where=text(BULK_ACTIVE_SQL),
        ),
        Index("ix_bulk_exports_status", "status", "claimed_until"),
        Index("ix_bulk_exports_expires", "expires_at"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=BulkExportStatus.CREATED)
    #: The filter as given (``crossdock.services.bulk.ExportFilter``'s fields).
    filter: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: Rows with an id above this were made after the export started: left out.
    through_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The id of the last root row written (0: none yet).
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: ``[[storage key, bytes, lines], ...]`` in file order.
    parts: Mapped[list[list[Any]]] = mapped_column(Json, default=list)
    #: Keys a worker may have written and not recorded (deleted when the export finishes).
    stale_keys: Mapped[list[str]] = mapped_column(Json, default=list)
    object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    root_object_count: Mapped[int] = mapped_column(BigInteger, default=0)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Claims made (each worker taking it up); part keys carry the claim's number.
    attempts: Mapped[int] = mapped_column(default=0)
    claim: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    #: When it finished (completed, failed, canceled); the row and its file go at ``expires_at``.
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class UsageMetric(StrEnum):
    """What a tenant's usage is counted in."""

    ORDERS_INGESTED = "orders_ingested"  #: orders stored for the first time
    LABELS_BOUGHT = "labels_bought"  #: carrier labels bought
    API_COST_POINTS = "api_cost_points"  #: GraphQL query cost charged (actual cost)
    ACTIVE_LISTINGS = "active_listings"  #: the most active listings seen at once in the month
    WEBHOOK_DELIVERIES = "webhook_deliveries"  #: outbound webhook requests sent


class UsageMonthly(TenantScoped, Base):
    """One counter of one tenant in one calendar month (UTC): the deltas added up by the
    compaction (sums), or the highest sample (peaks)."""

    __tablename__ = "usage_monthly"
    __table_args__ = (UniqueConstraint("tenant_id", "month", "metric"),)

    #: ``YYYY-MM`` (UTC)
    month: Mapped[str] = mapped_column(String(7))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageDelta(TenantScoped, Base):
    """What one transaction added to a counter: inserted beside the change it counts (no
    row is updated, so concurrent transactions of a tenant never wait on each other), and
    added into :class:`UsageMonthly` by the periodic compaction, which deletes it."""

    __tablename__ = "usage_deltas"
    __table_args__ = (Index("ix_usage_deltas_tenant_month", "tenant_id", "month", "metric"),)

    #: ``YYYY-MM`` (UTC)
    month: Mapped[str] = mapped_column(String(7))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger)
