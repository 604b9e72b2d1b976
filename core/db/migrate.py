"""Alembic, driven from code: ``crossdock migrate`` and the server's start-up use this.

The migration scripts live in the top-level ``migrations/`` folder, installed as the
``crossdock.migrations`` package so a non-editable install finds them too.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crossdock.db.engine import Database

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    scripts = importlib.import_module("crossdock.migrations").__file__
    assert scripts is not None
    cfg.set_main_option("script_location", str(Path(scripts).parent))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` on one of ``db``'s connections."""

    def _run(sync_conn: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_run)


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
