"""Idempotency keys between a request's commit and its stored answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from crossdock.db import utcnow
from crossdock.db.models import IdempotencyKey
from crossdock.services import idempotency


async def test_a_committed_request_still_answering_is_in_use_then_replayed(
    app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    held = await idempotency.claim(app.db, tenant.id, "k-1", "hash")
    assert isinstance(held, idempotency.Claim)
    async with app.db.write(tenant.id) as session:
        await idempotency.mark_committed(session, held)

    # committed, answer not stored yet, holder alive: a repeat waits, it is not told "used"
    busy = await idempotency.claim(app.db, tenant.id, "k-1", "hash")
    assert isinstance(busy, idempotency.Refusal) and busy.code == "IDEMPOTENCY_KEY_IN_USE"

    await idempotency.finish(app.db, tenant.id, held, 200, "application/json", '{"data": 1}')
    replay = await idempotency.claim(app.db, tenant.id, "k-1", "hash")
    assert isinstance(replay, idempotency.Replay) and replay.body == '{"data": 1}'


async def test_a_holder_that_died_after_committing_never_runs_again(app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    held = await idempotency.claim(app.db, tenant.id, "k-2", "hash")
    assert isinstance(held, idempotency.Claim)
    async with app.db.write(tenant.id) as session:
        await idempotency.mark_committed(session, held)
        # the process dies here: its lease runs out with the answer never stored
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == held.id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
    used = await idempotency.claim(app.db, tenant.id, "k-2", "hash")
    assert isinstance(used, idempotency.Refusal) and used.code == "IDEMPOTENCY_KEY_USED"


async def test_a_request_that_committed_nothing_frees_its_key(app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    held = await idempotency.claim(app.db, tenant.id, "k-3", "hash")
    assert isinstance(held, idempotency.Claim)
    await idempotency.finish(app.db, tenant.id, held, 200, "application/json", '{"errors": []}')
    again = await idempotency.claim(app.db, tenant.id, "k-3", "other body")
    assert isinstance(again, idempotency.Claim)  # free: even another body may use it now
