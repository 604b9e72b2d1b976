"""The outbox never skips an event: ``events(after:)`` and the subscription read in
(transaction, id) order below the horizon of finished transactions.

On PostgreSQL ids are taken at insert and transactions commit later, in any order; reading
in id order skipped every event whose transaction committed after a later id's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy import insert

from crossdock.db import Database
from crossdock.db.base import Json, UTCDateTime
from crossdock.db.migrate import upgrade
from crossdock.db.models import Event
from crossdock.services.events import START, Position, emit, read_events
from crossdock.testing.pytest_plugin import PG_ADMIN_URL

T = TypeVar("T")

READ = "query($after: String, $types: [String!], $first: Int!) { events(after: $after, filter: {types: $types}, first: $first) { nodes { id type cursor payload } } }"
SUBSCRIBE = "subscription($types: [String!]) { events(filter: {types: $types}) { id type cursor } }"


def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: a second transaction cannot write while one is open")


async def _eventually(
    check: Callable[[], Awaitable[T | None]], what: str | Callable[[], str], deadline_s: float = 30
) -> T:
    """Poll ``check`` until it returns something; the deadline is a safety net only."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        found = await check()
        if found:
            return found
        assert loop.time() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        await asyncio.sleep(0.05)


class Reader:
    """An integration following ``events(after:)`` from its last cursor."""

    def __init__(self, api: Any, key: str, types: list[str] | None = None, first: int = 500) -> None:
        self.api, self.key, self.types, self.first = api, key, types, first
        self.cursor: str | None = None
        self.seen: list[dict[str, Any]] = []

    async def read(self) -> list[dict[str, Any]]:
        """One page after the cursor (moving the cursor past it)."""
        variables = {"after": self.cursor, "types": self.types, "first": self.first}
        body = await self.api(READ, variables, key=self.key)
        if [e["extensions"]["code"] for e in body.get("errors", ())] == ["THROTTLED"]:
            await asyncio.sleep(0.1)  # the key's cost bucket refills; read again later
            return []
        assert not body.get("errors"), body["errors"]
        page: list[dict[str, Any]] = body["data"]["events"]["nodes"]
        if page:
            self.cursor = page[-1]["cursor"]
        self.seen.extend(page)
        return page

    def types_seen(self) -> list[str]:
        return [e["type"] for e in self.seen]


async def _emit(app: Any, tenant_id: int, type: str, **payload: Any) -> None:
    async with app.db.write(tenant_id) as session:
        emit(session, type, **payload)


async def test_a_reader_does_not_skip_an_event_that_commits_after_a_later_one(
    app: Any, api: Any, tenant_factory: Any, backend: str
) -> None:
    _postgresql_only(backend)
    t = await tenant_factory()
    reader = Reader(api, t.key, types=["gap.a", "gap.b"])
    async with app.db.write(t.id) as a:
        emit(a, "gap.a")
        await a.flush()  # A holds the smaller id, uncommitted
        await _emit(app, t.id, "gap.b")  # B: a later id, committed first
        await reader.read()  # sees B's, or nothing, but must not move past A's
        assert "gap.a" not in reader.types_seen()
    # A is committed now: continuing from the cursor delivers it

    async def both() -> bool:
        await reader.read()
        return {"gap.a", "gap.b"} <= set(reader.types_seen())

    await _eventually(both, "A's event after A committed")
    assert sorted(reader.types_seen()) == ["gap.a", "gap.b"]  # each once
    assert await reader.read() == []


async def test_a_subscription_does_not_skip_an_event_that_commits_after_a_later_one(
    app: Any, live_server: str, tenant_factory: Any, backend: str
) -> None:
    _postgresql_only(backend)
    t = await tenant_factory()
    ws = await websockets.connect(
        live_server.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {t.key}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"types": ["gap.a", "gap.b", "gap.ready"]}},
            }
        )
    )

    received: list[str] = []

    async def next_event(wait: float) -> str | None:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=wait))
        except TimeoutError:
            return None
        assert message["type"] == "next" and "errors" not in message["payload"], message
        kind: str = message["payload"]["data"]["events"]["type"]
        received.append(kind)
        return kind

    async def ready() -> bool:  # the subscription runs: it delivers what commits from now
        await _emit(app, t.id, "gap.ready")
        return await next_event(1.0) == "gap.ready"

    await _eventually(ready, "the subscription to deliver")
    async with app.db.write(t.id) as a:
        emit(a, "gap.a")
        await a.flush()
        await _emit(app, t.id, "gap.b")
        # let the subscription poll a few times meanwhile: B's event, or nothing
        while await next_event(wait=4 * 0.5) is not None:
            pass
        assert "gap.a" not in received

    async def both() -> bool:
        await next_event(wait=0.5)
        return {"gap.a", "gap.b"} <= set(received)

    await _eventually(both, "A's event on the subscription")
    assert sorted(k for k in received if k != "gap.ready") == ["gap.a", "gap.b"]
    assert await next_event(wait=1.5) is None  # nothing twice
    await ws.close()


async def test_a_reader_following_many_concurrent_writers_gets_every_committed_event_once(
    app: Any, api: Any, tenant_factory: Any
) -> None:
    t = await tenant_factory()
    writers, transactions = 6, 20
    committed: set[tuple[int, int, int]] = set()
    rolled_back: set[tuple[int, int, int]] = set()
    rng = random.Random(12)

    class Abandon(Exception):
        pass

    async def write(w: int) -> None:
        for n in range(transactions):
            events = [(w, n, k) for k in range(1 + (n + w) % 3)]
            try:
                async with app.db.write(t.id) as session:
                    if w == 0:  # as a page ingest writes them: one multi-row insert
                        rows = [
                            {"tenant_id": t.id, "type": "load", "payload": {"w": w, "n": n, "k": k}}
                            for (_, _, k) in events
                        ]
                        await session.execute(insert(Event.__table__), rows)  # type: ignore[arg-type]
                    else:
                        for _, _, k in events:
                            emit(session, "load", w=w, n=n, k=k)
                    await session.flush()
                    await asyncio.sleep(rng.random() * 0.02)  # commit later, interleaved
                    if n % 7 == 3:
                        raise Abandon
            except Abandon:
                rolled_back.update(events)
            else:
                committed.update(events)

    reader = Reader(api, t.key, types=["load"], first=50)
    done = asyncio.Event()

    async def follow() -> None:
        while not done.is_set():
            if not await reader.read():
                await asyncio.sleep(0.01)

    following = asyncio.create_task(follow())
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    await following

    def seen() -> list[tuple[int, int, int]]:
        return [(e["payload"]["w"], e["payload"]["n"], e["payload"]["k"]) for e in reader.seen]

    async def caught_up() -> bool:
        await reader.read()
        return len(seen()) >= len(committed)

    await _eventually(caught_up, lambda: f"{len(committed)} events, the reader has {len(seen())}")
    assert await reader.read() == []
    assert len(seen()) == len(set(seen())), "an event was delivered twice"
    assert set(seen()) == committed
    assert not set(seen()) & rolled_back
    assert len(committed) > 150 and rolled_back


CURSORS = [
    "x",
    "123",  # an event id: the cursor is opaque now
    "",
    "%%%",
    "MTox=",  # padded
    base64.urlsafe_b64encode(b"1:2:3").decode(),
    base64.urlsafe_b64encode(b"-1:2").decode(),
    base64.urlsafe_b64encode(f"{2**63}:1".encode()).decode(),
    base64.urlsafe_b64encode(f"1:{2**64}".encode()).decode(),
    base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
    "A" * 100_000,
    "\u00e9",
]


@pytest.mark.parametrize("cursor", CURSORS, ids=range(len(CURSORS)))
async def test_a_malformed_cursor_is_a_typed_error(api: Any, tenant_factory: Any, cursor: str) -> None:
    t = await tenant_factory()
    body = await api(READ, {"after": cursor, "first": 10}, key=t.key)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CURSOR"], body


async def test_a_cursor_at_the_end_of_bigint_reads_nothing(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    cursor = Position(2**63 - 1, 2**63 - 1).cursor
    assert (await api.data(READ, {"after": cursor, "first": 10}, key=t.key))["events"]["nodes"] == []


async def test_a_cursor_resumes_after_its_event(app: Any, api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    for n in range(5):
        await _emit(app, t.id, "resume", n=n)
    reader = Reader(api, t.key, types=["resume"], first=2)
    while await reader.read():
        pass
    assert [e["payload"]["n"] for e in reader.seen] == [0, 1, 2, 3, 4]
    again = Reader(api, t.key, types=["resume"])
    again.cursor = reader.seen[1]["cursor"]
    assert [e["payload"]["n"] for e in await again.read()] == [2, 3, 4]


async def test_the_migration_puts_existing_events_first_in_id_order(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url, drop = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", None
    else:
        import asyncpg

        name = f"crossdock_outbox_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    db = Database(url)
    try:
        await upgrade(db, "0007")
        now = datetime.now(UTC)
        orgs = sa.table(
            "organizations", sa.column("slug"), sa.column("name"), sa.column("created_at", UTCDateTime())
        )
        tenants = sa.table(
            "tenants",
            sa.column("organization_id"),
            sa.column("slug"),
            sa.column("name"),
            sa.column("settings", Json),
            sa.column("created_at", UTCDateTime()),
        )
        events = sa.table(
            "events",
            sa.column("tenant_id"),
            sa.column("type"),
            sa.column("payload", Json),
            sa.column("created_at", UTCDateTime()),
        )
        async with db.engine.begin() as conn:
            org = (
                await conn.execute(
                    orgs.insert().values(slug="o", name="o", created_at=now).returning(sa.text("id"))
                )
            ).scalar_one()
            tenant = (
                await conn.execute(
                    tenants.insert()
                    .values(organization_id=org, slug="t", name="t", settings={}, created_at=now)
                    .returning(sa.text("id"))
                )
            ).scalar_one()
            await conn.execute(
                events.insert(),
                [
                    {"tenant_id": tenant, "type": f"old.{n}", "payload": {}, "created_at": now}
                    for n in range(3)
                ],
            )
        await upgrade(db)
        async with db.write(tenant) as session:
            emit(session, "new.0")
        async with db.tenant(tenant) as session:
            rows = await read_events(session, START, None, 10)
        assert [r.type for r in rows] == ["old.0", "old.1", "old.2", "new.0"]
        assert [r.txid for r in rows[:3]] == [0, 0, 0]
        assert (rows[3].txid > 0) == (backend == "postgresql")
        async with db.tenant(tenant) as session:  # resuming after the last old event
            after = await read_events(session, Position(rows[2].txid, rows[2].id), None, 10)
        assert [r.type for r in after] == ["new.0"]
    finally:
        await db.dispose()
        if drop:
            await admin.execute(drop)
            await admin.close()
