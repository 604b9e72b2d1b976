"""Idempotency keys: a request sent again with the same key gets the first answer.

Stripe's model. A client names a request with ``Idempotency-Key``; the first request with
that key (per tenant, for :data:`TTL`) *claims* it, runs, and stores its answer. A repeat
with the same body gets that answer without anything being done again; with another body it
is refused (``IDEMPOTENCY_KEY_REUSED``); while the first is still running it is refused as
``IDEMPOTENCY_KEY_IN_USE`` (try again shortly).

What makes it hold across server processes and crashes:

* the claim is a row under a unique ``(tenant, key)``, so two processes cannot both claim;
* a claim is a lease with a fencing ``token``: a process that dies while holding it stops
  blocking the key when the lease runs out, and the repeat that takes over gets a new token;
* each mutation of the request marks the key ``committed`` **inside its own transaction**,
  conditioned on the token: the effect and the mark commit together or not at all, and a
  request that lost its lease cannot commit;
* a key whose request committed but whose answer was never stored (the process died in
  between) is never run again: a repeat gets ``IDEMPOTENCY_KEY_USED``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import Database, utcnow
from crossdock.db.models import IdempotencyKey, IdempotencyState
from crossdock.db.scoping import session_tenant
from crossdock.errors import UserError

__all__ = [
    "LEASE",
    "TTL",
    "Claim",
    "Refusal",
    "Replay",
    "claim",
    "finish",
    "forget_expired",
    "mark_committed",
    "validate_key",
]

#: How long a key and its answer are kept.
TTL = timedelta(hours=24)
#: How long a running request holds its key before a repeat may take over.
LEASE = timedelta(seconds=60)
MAX_KEY = 255


@dataclass(frozen=True)
class Claim:
    """This request holds the key: run it, then :func:`complete` (or :func:`release`)."""

    id: int
    token: str


@dataclass(frozen=True)
class Replay:
    """The key's first answer, to send again as it was."""

    status_code: int
    content_type: str | None
    body: str


@dataclass(frozen=True)
class Refusal:
    """The request may not run under this key."""

    status_code: int
    code: str
    message: str


def validate_key(key: str) -> str:
    """A key is 1 to 255 printable ASCII characters (a UUID is the usual choice)."""
    if not key or len(key) > MAX_KEY or not all(" " < ch <= "~" for ch in key):
        raise UserError(
            f"an Idempotency-Key is 1 to {MAX_KEY} printable ASCII characters without spaces",
            field="Idempotency-Key",
            code="INVALID",
        )
    return key


async def claim(db: Database, tenant_id: int, key: str, request_hash: str) -> Claim | Replay | Refusal:
    """Claim ``key`` for a request whose body hashes to ``request_hash``, or say why not."""
    for _ in range(3):  # a released key may vanish between the insert and the read
        found = await _claim(db, tenant_id, key, request_hash)
        if found is not None:
            return found
    return Refusal(409, "IDEMPOTENCY_KEY_IN_USE", "this Idempotency-Key is busy; try again shortly")


async def _claim(
    db: Database, tenant_id: int, key: str, request_hash: str
) -> Claim | Replay | Refusal | None:
    async with db.write(tenant_id) as session:
        now = utcnow()
        token = secrets.token_hex(16)
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        new_id = await session.scalar(
            insert(IdempotencyKey)
            .values(
                tenant_id=tenant_id,
                key=key,
                request_hash=request_hash,
                state=IdempotencyState.STARTED,
                token=token,
                locked_until=now + LEASE,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(IdempotencyKey.id)
        )
        if new_id is not None:
            return Claim(new_id, token)
        row = await session.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        if row.created_at <= now - TTL:  # expired: the key is free again
            _take_over(row, token, now, request_hash)
            return Claim(row.id, token)
        if row.request_hash != request_hash:
            return Refusal(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with another request body; use a new key",
            )
        if row.state == IdempotencyState.DONE:
            return Replay(row.status_code or 200, row.content_type, row.response or "")
        if row.state == IdempotencyState.COMMITTED and row.locked_until > now:
            return Refusal(
                409,
                "IDEMPOTENCY_KEY_IN_USE",
                "a request with this Idempotency-Key is still answering; try again shortly",
            )
        if row.state == IdempotencyState.COMMITTED:  # its holder died before keeping the answer
            return Refusal(
                409,
                "IDEMPOTENCY_KEY_USED",
                "the request with this Idempotency-Key was carried out but its answer was not kept;"
                " read the objects it changed",
            )
        if row.locked_until > now:
            return Refusal(
                409,
                "IDEMPOTENCY_KEY_IN_USE",
                "a request with this Idempotency-Key is still running; try again shortly",
            )
        _take_over(row, token, now, request_hash)  # its holder died before committing anything
        return Claim(row.id, token)


def _take_over(row: IdempotencyKey, token: str, now: datetime, request_hash: str) -> None:
    row.token = token
    row.request_hash = request_hash
    row.state = IdempotencyState.STARTED
    row.locked_until = now + LEASE
    row.created_at = now
    row.status_code = row.content_type = row.response = None


async def mark_committed(session: AsyncSession, held: Claim) -> None:
    """In a mutation's transaction: record that the request's effect commits with it.

    Refused (``IDEMPOTENCY_KEY_IN_USE``, rolling the mutation back) when the request no
    longer holds the key."""
    result = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == held.id,
            IdempotencyKey.token == held.token,
            IdempotencyKey.state.in_((IdempotencyState.STARTED, IdempotencyState.COMMITTED)),
        )
        .values(state=IdempotencyState.COMMITTED)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise UserError(
            "this request's Idempotency-Key was taken over by a repeat of it; nothing was changed",
            field="Idempotency-Key",
            code="IDEMPOTENCY_KEY_IN_USE",
        )


async def finish(
    db: Database, tenant_id: int, held: Claim, status_code: int, content_type: str | None, body: str
) -> None:
    """The request has answered: keep the answer if it committed something, else free the key.

    A request that committed nothing (refused before it ran, such as ``THROTTLED`` or a
    validation error; rolled back; crashed) leaves the key free, so the client's retry does
    the work: Stripe keeps no result for a request that did not start executing. A request
    whose mutation marked the key committed stores its answer, which every repeat gets.
    One transaction, conditioned on the fencing token.
    """
    async with db.write(tenant_id) as session:
        mine = (IdempotencyKey.id == held.id, IdempotencyKey.token == held.token)
        freed = await session.execute(
            delete(IdempotencyKey)
            .where(*mine, IdempotencyKey.state == IdempotencyState.STARTED)
            .execution_options(synchronize_session=False)
        )
        if freed.rowcount == 1:  # type: ignore[attr-defined]
            return
        await session.execute(
            update(IdempotencyKey)
            .where(*mine)
            .values(
                state=IdempotencyState.DONE,
                status_code=status_code,
                content_type=content_type,
                response=body,
            )
            .execution_options(synchronize_session=False)
        )


async def forget_expired(session: AsyncSession) -> int:
    """Delete the keys older than :data:`TTL` (a periodic sweep; ``session`` is a system one)."""
    if session_tenant(session.sync_session) is not None:
        raise ValueError("forget_expired sweeps every tenant: give it a system session")
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at <= utcnow() - TTL)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
