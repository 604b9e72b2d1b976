"""Migrations run on SQLite and PostgreSQL and match the models exactly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crossdock.db.base import Base
from crossdock.db.migrate import current_revision, head_revision


async def test_database_is_at_head(app: Any) -> None:
    assert await current_revision(app.db) == head_revision()


async def test_models_and_migrations_do_not_drift(app: Any) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with app.db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], "models differ from migrations; add a migration:\n" + "\n".join(map(str, changes))
