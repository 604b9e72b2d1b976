"""The domain-event outbox: ``emit`` writes an event in the caller's transaction.

An event exists exactly when its change does (same commit). Readers follow the table in id
order: the ``events`` GraphQL subscription, and anyone integrating over the API.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.engine import enqueue_after_commit
from crossdock.db.models import Event

__all__ = ["emit", "enqueue_coalesced"]


def emit(session: AsyncSession, type: str, subject: str | None = None, **payload: Any) -> None:
    session.add(Event(type=type, subject=subject, payload=payload))


def enqueue_coalesced(
    session: AsyncSession, name: str, key: str, now: float | None = None, **kwargs: Any
) -> None:
    """Enqueue ``name`` at the end of the current window (per job name, from the
    database's ``windows``), once per key.

    Every trigger inside one bucket maps to the same job id, deferred to the bucket's end,
    so a burst of N changes costs one run per window; a trigger after the run has started
    falls in the next bucket, so nothing is missed.
    """
    window = float(session.info.get("windows", {}).get(name, 1.0))
    now = time.time() if now is None else now
    bucket = int(now // window) + 1
    enqueue_after_commit(
        session,
        name,
        job_id=f"{name}:{key}:{bucket}",
        defer_by=max(0.0, bucket * window - now),
        **kwargs,
    )
