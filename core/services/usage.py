"""Usage per tenant and calendar month, for an agency's billing.

Months are UTC calendar months (``YYYY-MM``): a counter never moves when a tenant changes
its time zone, and an agency's brands in different zones are billed over the same month.

How each :class:`~crossdock.db.models.UsageMetric` is kept:

* ``ORDERS_INGESTED``, ``LABELS_BOUGHT``, ``WEBHOOK_DELIVERIES``: :func:`count` in the
  transaction that does the thing (an order row inserted by ``ingest_orders``, a label's
  numbers first recorded by ``record_label``, the attempts ``record_results`` writes for
  the deliveries still claimed) inserts a :class:`~crossdock.db.models.UsageDelta`: it
  commits or rolls back with the change it counts, so a counter is never lost nor doubled
  (a re-delivered page updates its orders, and is not counted again; a resumed label
  purchase is counted once). A delta is a row of its own, not ``value = value + n`` on one
  row per tenant and month: that row would be locked by every ingest transaction of the
  tenant until it commits, and two workers ingesting one tenant's pages would take turns.
  :func:`compact` (the periodic ``usage_compact``) adds the deltas into ``usage_monthly``:
  one statement deletes the deltas it takes and returns them (``FOR UPDATE SKIP LOCKED``
  on PostgreSQL: two compactions take disjoint deltas), and their sums are added in the
  same transaction, so a delta is counted once, before or after the compaction. A read
  adds both.
* ``API_COST_POINTS``: the actual cost of each request (what the cost extension charges the
  key's bucket) is added up per process in a :class:`UsageMeter` and written every
  ``usage_flush_seconds`` (default 10) and when the process shuts down. A request never
  waits on it. Loss bound: a process killed without shutting down loses the points of its
  last ``usage_flush_seconds``; a flush whose commit fails is kept and written by the next
  one (a commit that succeeded but whose answer was lost would be counted twice: an
  ambiguous commit, rarer than the kill).
* ``ACTIVE_LISTINGS``: a peak, not a sum: ``usage_snapshot`` (periodic, hourly) records
  the tenant's active listings with ``value = max(value, n)``, and a read of the current
  month takes the live count too. A peak that lasts less than the interval between two
  samples can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import Listing, ListingStatus, Tenant, UsageDelta, UsageMetric, UsageMonthly
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError

__all__ = [
    "COMPACT_BATCH",
    "FLUSH_SECONDS",
    "MonthUsage",
    "UsageMeter",
    "agency_usage",
    "compact",
    "count",
    "month_of",
    "parse_month",
    "record_peak",
    "snapshot_listings",
    "usage_of",
]

log = logging.getLogger(__name__)

#: How often a process writes the API cost points it has counted (seconds).
FLUSH_SECONDS = 10.0
_MONTH = re.compile(r"(\d{4})-(\d{2})")
#: Metrics that are peaks (the most seen at once), not sums.
PEAKS = frozenset({UsageMetric.ACTIVE_LISTINGS})


def month_of(when: datetime | None = None) -> str:
    """The UTC calendar month ``when`` (default now) falls in, as ``YYYY-MM``."""
    return (when or utcnow()).astimezone(UTC).strftime("%Y-%m")


def parse_month(value: str, *, field: str = "month") -> str:
    """``value`` if it is a month written ``YYYY-MM`` (years 2000 to 2999)."""
    found = _MONTH.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2999:
        raise UserError(f"{value!r} is not a month written YYYY-MM", field=field, code="INVALID_MONTH")
    return found.group(0)


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def _upsert(
    session: AsyncSession, rows: Iterable[tuple[int, str, str, int]], *, peak: bool = False
) -> None:
    """Add (or, ``peak``, raise to) each ``(tenant, month, metric, n)`` in one statement,
    in key order (two transactions moving the same counters take their rows in one order)."""
    values = [
        {"tenant_id": t, "month": mo, "metric": str(me), "value": int(n)}
        for t, mo, me, n in sorted(rows)
        if n or peak
    ]
    if not values:
        return
    table = UsageMonthly.__table__
    assert isinstance(table, Table)
    stmt = _insert(session)(table).values(values)
    new = stmt.excluded.value
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "month", "metric"],
        set_={
            "value": case((new > table.c.value, new), else_=table.c.value) if peak else table.c.value + new
        },
    )
    await session.execute(stmt)


async def count(
    session: AsyncSession, metric: UsageMetric, n: int = 1, *, now: datetime | None = None
) -> None:
    """Add ``n`` to the session's tenant's ``metric`` this month, in the session's
    transaction: it stands or falls with the change it counts."""
    if n <= 0:
        return
    tenant = session_tenant(session.sync_session)
    assert tenant is not None, "usage is counted in a tenant's transaction"
    await _add(session, [(tenant, month_of(now), metric, n)])


async def _add(session: AsyncSession, rows: Iterable[tuple[int, str, str, int]]) -> None:
    """Insert one delta per ``(tenant, month, metric, n)`` (no row is locked)."""
    values = [{"tenant_id": t, "month": mo, "metric": str(me), "value": int(n)} for t, mo, me, n in rows if n]
    if values:
        table = UsageDelta.__table__
        assert isinstance(table, Table)
        await session.execute(table.insert(), values)


#: Deltas a compaction takes per transaction.
COMPACT_BATCH = 5000


async def compact(session: AsyncSession, *, limit: int = COMPACT_BATCH) -> int:
    """Add up to ``limit`` of the session's tenant's deltas into its monthly counters and
    delete them, in the caller's transaction; returns how many were taken."""
    d = UsageDelta
    taken = select(d.id).order_by(d.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        taken = taken.with_for_update(skip_locked=True)
    rows = (
        await session.execute(
            delete(d).where(d.id.in_(taken.scalar_subquery())).returning(d.month, d.metric, d.value)
        )
    ).all()
    tenant = session_tenant(session.sync_session)
    assert tenant is not None, "usage is compacted in a tenant's transaction"
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for month, metric, value in rows:
        sums[(month, metric)] += int(value)
    await _upsert(session, [(tenant, mo, me, n) for (mo, me), n in sums.items()])
    return len(rows)


async def record_peak(
    session: AsyncSession, metric: UsageMetric, value: int, *, now: datetime | None = None
) -> None:
    """Raise the session's tenant's ``metric`` this month to ``value`` if it is higher."""
    tenant = session_tenant(session.sync_session)
    assert tenant is not None, "usage is recorded in a tenant's transaction"
    await _upsert(session, [(tenant, month_of(now), metric, value)], peak=True)


async def active_listings(session: AsyncSession) -> int:
    """The session's tenant's active listings now."""
    found = await session.scalar(
        select(func.count()).select_from(Listing).where(Listing.status == ListingStatus.ACTIVE)
    )
    return int(found or 0)


async def snapshot_listings(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Record the tenant's active listings as this month's peak if it is one; returns them."""
    n = await active_listings(session)
    await record_peak(session, UsageMetric.ACTIVE_LISTINGS, n, now=now)
    return n


@dataclass
class MonthUsage:
    """One tenant's counters of one month (every metric, 0 when nothing was counted)."""

    tenant_id: int
    tenant_slug: str
    month: str
    values: dict[UsageMetric, int] = field(default_factory=dict)


async def usage_of(session: AsyncSession, month: str, *, now: datetime | None = None) -> MonthUsage:
    """The session's tenant's usage in ``month`` (``YYYY-MM``); the current month's
    active listings take the live count into the peak."""
    month = parse_month(month)
    tenant = session_tenant(session.sync_session)
    assert tenant is not None
    stored: dict[str, int] = defaultdict(int)
    for metric, value in (
        await session.execute(
            select(UsageMonthly.metric, UsageMonthly.value)
            .where(UsageMonthly.month == month)
            .union_all(
                select(UsageDelta.metric, func.sum(UsageDelta.value))
                .where(UsageDelta.month == month)
                .group_by(UsageDelta.metric)
            )
        )
    ).all():
        stored[metric] += int(value or 0)
    values = {metric: stored.get(str(metric), 0) for metric in UsageMetric}
    if month == month_of(now):
        live = await active_listings(session)
        values[UsageMetric.ACTIVE_LISTINGS] = max(values[UsageMetric.ACTIVE_LISTINGS], live)
    slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant))
    return MonthUsage(tenant, str(slug or ""), month, values)


async def agency_usage(
    db: Any, principal: Any, month: str, *, now: datetime | None = None
) -> list[MonthUsage]:
    """:func:`usage_of` for every brand (tenant) the API key reaches, in tenant order."""
    from crossdock.services.reports import reachable_tenants

    month = parse_month(month)
    async with db.system() as session:
        brands = await reachable_tenants(session, principal, "usage:read")
    found = []
    for brand in brands:
        async with db.tenant(brand.id, brand.slug) as session:
            found.append(await usage_of(session, month, now=now))
    return found


class UsageMeter:
    """API cost points per tenant and month, added up in this process and written in one
    transaction every ``interval`` seconds (see the module's doc for the loss bound)."""

    def __init__(self, interval: float = FLUSH_SECONDS) -> None:
        self.interval = interval
        self._points: dict[tuple[int, str], int] = defaultdict(int)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def add(self, tenant_id: int, points: int, *, now: datetime | None = None) -> None:
        """Count ``points`` for the tenant (no I/O: a request never waits on it)."""
        if points > 0:
            self._points[(tenant_id, month_of(now))] += points

    @property
    def pending(self) -> Mapping[tuple[int, str], int]:
        return dict(self._points)

    async def flush(self, db: Any) -> int:
        """Write what has been counted; returns the points written. On failure they are
        kept for the next flush."""
        async with self._lock:
            taken, self._points = self._points, defaultdict(int)
            if not taken:
                return 0
            try:
                async with db.write(system=True) as session:
                    tenants = {t for t, _ in taken}
                    known = set(
                        (await session.scalars(select(Tenant.id).where(Tenant.id.in_(tenants)))).all()
                    )  # a tenant deleted since is not counted (its rows are gone too)
                    taken = {k: n for k, n in taken.items() if k[0] in known}
                    await _add(
                        session, [(t, mo, UsageMetric.API_COST_POINTS, n) for (t, mo), n in taken.items()]
                    )
            except BaseException:
                for key, n in taken.items():
                    self._points[key] += n
                raise
            return sum(taken.values())

    def start(self, db: Any) -> None:
        """Flush every ``interval`` seconds in the background, until :meth:`stop`."""
        if self._task is not None and not self._task.done():
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval)
                started = time.monotonic()
                try:
                    await self.flush(db)
                except Exception:
                    log.exception("could not write the API cost usage; kept for the next flush")
                log.debug("usage flush took %.3fs", time.monotonic() - started)

        self._task = asyncio.get_running_loop().create_task(loop(), name="crossdock-usage-flush")

    async def stop(self, db: Any) -> None:
        """Stop the background flush and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush(db)
        except Exception:
            log.exception(
                "could not write the API cost usage at shutdown; %d points lost", sum(self._points.values())
            )
