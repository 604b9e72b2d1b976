"""The audit log's guarantees in the database (append-only, the purge the only delete), its
retention, and what a recording captures (savepoints undone, secrets redacted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from crossdock.db.models import AuditActorKind, AuditEntry, Product, Tenant
from crossdock.errors import UserError
from crossdock.jobs import JOBS
from crossdock.services import audit
from crossdock.services.tenancy import validate_tenant_settings

ACTOR = audit.Actor(AuditActorKind.API_KEY, 7, "ops", "198.51.100.4", "test")


async def _entries(app: Any, tenant: Any) -> list[AuditEntry]:
    async with app.db.tenant(tenant.id, tenant.slug) as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def _write_entry(app: Any, tenant: Any, operation: str = "productUpdate") -> None:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        audit.begin(session, ACTOR, operation, {"input": {"title": "x"}})
        await audit.finish(session)


async def test_an_entry_cannot_be_changed_nor_deleted_outside_the_purge(
    app: Any, tenant_factory: Any, backend: str
) -> None:
    a = await tenant_factory()
    await _write_entry(app, a)
    with pytest.raises(DBAPIError, match="append-only"):
        async with app.db.write(a.id, slug=a.slug) as session:
            await session.execute(update(AuditEntry).values(operation="forged"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with app.db.write(system=True) as session:  # nor by raw SQL, across tenants
            await session.execute(text("UPDATE audit_log SET actor_name = 'someone else'"))
    if backend == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.db.write(a.id, slug=a.slug) as session:
                await session.execute(delete(AuditEntry))
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.db.write(system=True) as session:
                await session.execute(text("TRUNCATE audit_log"))
        # the purge's setting is the transaction's own: the next one is refused again
        async with app.db.write(a.id, slug=a.slug) as session:
            await audit.allow_purge(session)
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.db.write(a.id, slug=a.slug) as session:
                await session.execute(delete(AuditEntry))
    [entry] = await _entries(app, a)
    assert entry.operation == "productUpdate" and entry.actor_name == "ops"
    async with app.db.write(a.id, slug=a.slug) as session:
        assert await audit.purge(session, datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert await _entries(app, a) == []


async def test_the_purge_keeps_each_tenants_retention(app: Any, tenant_factory: Any) -> None:
    short = await tenant_factory()
    default = await tenant_factory()
    async with app.db.write(system=True) as session:
        row = await session.scalar(select(Tenant).where(Tenant.id == short.id))
        assert row is not None
        row.settings = {**row.settings, "audit": {"retention_days": 30}}
    for _ in range(5):
        await _write_entry(app, short)
        await _write_entry(app, default)
    ctx = app.job_context()
    now = datetime.now(UTC)

    async def counts() -> tuple[int, int]:
        return len(await _entries(app, short)), len(await _entries(app, default))

    # (the job purges every tenant of the session's database: count these two)
    await JOBS["audit_purge"](ctx, now=now + timedelta(days=29))
    assert await counts() == (5, 5)
    # a month on: the short tenant's go, two at a time; the other keeps a year's
    assert await JOBS["audit_purge"](ctx, now=now + timedelta(days=31), batch=2) >= 5
    assert await counts() == (0, 5)
    await JOBS["audit_purge"](ctx, now=now + timedelta(days=364))
    assert await counts() == (0, 5)
    await JOBS["audit_purge"](ctx, now=now + timedelta(days=366))
    assert await counts() == (0, 0)


@pytest.mark.parametrize(
    "setting",
    [
        {"retention_days": 0},
        {"retention_days": 3651},
        {"retention_days": "30"},
        {"retention_days": True},
        {"keep": 1},
        5,
    ],
)
def test_the_retention_setting_is_checked(setting: Any) -> None:
    with pytest.raises(UserError) as refused:
        validate_tenant_settings({"audit": setting})
    assert refused.value.field is not None and refused.value.field.startswith("audit")


def test_a_valid_retention_setting() -> None:
    validate_tenant_settings({"audit": {"retention_days": 1}})
    validate_tenant_settings({"audit": {"retention_days": 3650}})
    assert audit.retention_days({"audit": {"retention_days": 90}}) == 90
    assert audit.retention_days({}) == audit.DEFAULT_RETENTION_DAYS


async def test_a_savepoint_rolled_back_takes_its_changes_out(app: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    async with app.db.write(a.id, slug=a.slug) as session:
        audit.begin(session, ACTOR, "productCreate")
        kept = Product(title="kept")
        session.add(kept)
        await session.flush()

        async def undone() -> None:
            async with session.begin_nested():
                session.add(Product(title="undone"))
                await session.flush()
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await undone()
        kept.title = "kept, renamed"
        await audit.finish(session)
    [entry] = await _entries(app, a)
    assert [(c["object"], c["fields"]["title"]) for c in entry.changes] == [
        ("Product", {"after": "kept, renamed"})
    ]
    assert (entry.object_type, entry.object_id) == ("Product", kept.id)
    # a rolled-back transaction writes nothing

    async def rolled_back() -> None:
        async with app.db.write(a.id, slug=a.slug) as session:
            audit.begin(session, ACTOR, "productCreate")
            session.add(Product(title="never"))
            await session.flush()
            await audit.finish(session)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await rolled_back()
    assert len(await _entries(app, a)) == 1


async def test_a_tenants_settings_change_is_recorded_redacted(app: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    async with app.db.write(a.id, slug=a.slug) as session:
        audit.begin(session, ACTOR, "tenantSettingsSet")
        row = await session.scalar(select(Tenant).where(Tenant.id == a.id))
        assert row is not None
        row.settings = {
            "payments": {"stripe": {"credentials": {"secret_key": "sk_live_1"}}},
            "audit": {"retention_days": 9},
        }
        await audit.finish(session)
    [entry] = await _entries(app, a)
    [change] = entry.changes
    assert change["object"] == "Tenant" and change["id"] == a.id
    assert change["fields"]["settings"]["after"] == {
        "payments": {"stripe": {"credentials": "[redacted]"}},
        "audit": {"retention_days": 9},
    }
    assert "sk_live_1" not in str(entry.changes)


def test_values_are_made_json_and_secrets_redacted() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert audit.safe({"a": Decimal("1.50"), "b": when, "c": b"\x00" * 5, "d": AuditActorKind.JOB}) == {
        "a": "1.50",
        "b": "2026-01-02T03:04:05+00:00",
        "c": "<5 bytes>",
        "d": "job",
    }
    assert audit.redact(
        {"input": {"apiKey": "x", "accessToken": "y", "password": "z", "apiKeyId": 3, "note": "n"}}
    ) == {
        "input": {
            "apiKey": "[redacted]",
            "accessToken": "[redacted]",
            "password": "[redacted]",
            "apiKeyId": 3,
            "note": "n",
        }
    }
    assert audit.safe("cdk_0123456789ab_secretpart") == "[redacted]"
    assert audit.safe("x" * 5000).endswith("(5000 characters)")
    for harmless in ("footprint", "author", "sku", "tracking_number", "api_key_id"):
        assert not audit.is_secret(harmless), harmless
    for secret in ("webhook_key", "credentials_encrypted", "client_secret", "Authorization", "refreshToken"):
        assert audit.is_secret(secret), secret


async def test_a_long_change_list_is_cut_with_a_count(app: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    async with app.db.write(a.id, slug=a.slug) as session:
        audit.begin(session, ACTOR, "bulk")
        session.add_all(Product(title=f"p{i}") for i in range(audit.MAX_CHANGES + 5))
        await audit.finish(session)
    [entry] = await _entries(app, a)
    assert len(entry.changes) == audit.MAX_CHANGES + 1 and entry.changes[-1] == {"truncated": 5}
    async with app.db.tenant(a.id, a.slug) as session:
        assert await session.scalar(select(func.count()).select_from(Product)) == audit.MAX_CHANGES + 5


async def test_under_acting_each_transaction_that_changes_something_is_an_entry(
    app: Any, tenant_factory: Any
) -> None:
    """A mutation working between its transactions (a label bought, a refund through a
    provider): one entry per transaction it commits with a change; a read-only one, none;
    a job inside the block is not the mutation's."""
    a = await tenant_factory()
    with audit.acting(ACTOR, "shipmentBuyLabel", {"input": {"shipmentId": "x", "token": "t0p"}}):
        async with app.db.write(a.id, slug=a.slug) as session:
            session.add(Product(title="first"))
        async with app.db.write(a.id, slug=a.slug) as session:
            await session.scalar(select(Product.id).limit(1))  # reads only
        async with app.db.write(a.id, slug=a.slug) as session:
            row = await session.scalar(select(Product).where(Product.title == "first"))
            assert row is not None
            row.title = "second"
            audit.begin_job(session, "label.bought")  # the mutation's entry holds it
        with audit.running_job("label_resume"):
            async with app.db.write(a.id, slug=a.slug) as session:
                audit.begin_job(session, "label.bought", main=("LabelPurchase", 1))
                session.add(Product(title="by the job"))
    entries = await _entries(app, a)
    assert [(e.operation, e.actor_kind, e.actor_name) for e in entries] == [
        ("shipmentBuyLabel", "api_key", "ops"),
        ("shipmentBuyLabel", "api_key", "ops"),
        ("label.bought", "job", "label_resume"),
    ]
    assert entries[0].input == {"input": {"shipmentId": "x", "token": "[redacted]"}}
    assert entries[1].changes[0]["fields"] == {"title": {"before": "first", "after": "second"}}
    assert (entries[2].object_type, entries[2].object_id) == ("LabelPurchase", 1)
    assert entries[2].source_ip is None
