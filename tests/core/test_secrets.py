"""Channel credentials: encrypted at rest, re-encrypted under a new key by
``crossdock secrets rotate``, never returned by the API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select

from crossdock.bootstrap import App
from crossdock.config import Settings
from crossdock.db.models import Connection
from crossdock.security import Vault
from crossdock.services import connections
from crossdock.testing.kit import make_tenant


async def test_rotation_moves_every_credential_to_the_new_key(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite+aiosqlite:///{tmp_path / 'rotate.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
    env.update(CROSSDOCK_DATABASE_URL=url, CROSSDOCK_DATA_DIR=str(tmp_path), CROSSDOCK_PLUGINS="amazon")

    app = App.build(Settings.from_env({**env, "CROSSDOCK_SECRET_KEY": old}))
    await app.start(migrate=True, run_jobs=False)
    tenant = await make_tenant(app)
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        for name in ("us", "de"):
            await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                channel="amazon",
                name=name,
                site=name.upper(),
                credentials={"refresh_token": f"Atzr|{name}-secret"},
            )
    await app.close()

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crossdock.cli", "secrets", "rotate"],
        env={**env, "CROSSDOCK_SECRET_KEY": f"{new},{old}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "re-encrypted the credentials of 2 connections" in result.stdout

    app = App.build(Settings.from_env({**env, "CROSSDOCK_SECRET_KEY": new}))  # the old key is gone
    async with app.db.system() as session:
        stored = (await session.scalars(select(Connection).order_by(Connection.name))).all()
    assert [Vault([new]).decrypt(c.credentials_encrypted)["refresh_token"] for c in stored] == [
        "Atzr|de-secret",
        "Atzr|us-secret",
    ]
    for row in stored:
        assert b"secret" not in row.credentials_encrypted
    await app.close()
