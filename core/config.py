"""Settings read from ``CROSSDOCK_*`` environment variables.

The defaults are the embedded mode: a SQLite file in the working directory, the in-process
job runner, and a secret key generated on first run and kept in ``.crossdock/``. Setting
``CROSSDOCK_DATABASE_URL`` and ``CROSSDOCK_REDIS_URL`` switches to the production shape
(PostgreSQL + arq workers) without any other change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

__all__ = ["Settings"]


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _json_object(value: str | None, name: str) -> dict[str, Any]:
    if not value or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} must be a JSON object")
    return parsed


def _async_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``sqlite:///x``) and pick async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None = None
    secret_keys: tuple[str, ...] = ()
    plugins: tuple[str, ...] | None = None
    sync_interval_seconds: int = 60
    #: Coalescing windows: at most one stock push per connection, and one run of the
    #: waiting-order allocator per tenant, per window.
    push_window_seconds: float = 2.0
    #: Run the periodic jobs (sync scheduler, sweeps) in this process; a deployment may
    #: keep them to some workers only.
    periodic_jobs: bool = True
    allocate_window_seconds: float = 1.0
    #: How often the tracking sweep polls carriers for shipments on their way.
    tracking_interval_seconds: int = 900
    #: How often advertising and traffic reports are read from each channel offering them.
    report_sync_interval_seconds: int = 3600
    #: How often the webhook sweep looks for endpoints with events or retries due.
    webhook_interval_seconds: int = 5
    #: How often a server process writes the API cost points it has counted (usage).
    usage_flush_seconds: float = 10.0
    #: How long a finished bulk export (its row and its file) is kept.
    bulk_retention_days: int = 7
    data_dir: Path = field(default_factory=lambda: Path.cwd() / ".crossdock")
    graphiql_assets: Path | None = None
    #: Hosts, addresses and networks (optionally ``:port``) that tenant-supplied URLs may
    #: reach although they are not public, or over plain http (``CROSSDOCK_ALLOWED_HOSTS``;
    #: see :mod:`crossdock.net`). Empty: public https hosts only.
    allowed_hosts: tuple[str, ...] = ()
    #: Where shipping documents are kept (``CROSSDOCK_STORAGE_URL``, see
    #: :mod:`crossdock.storage`): ``file:///abs/path`` or ``s3://bucket/prefix?...``. Empty:
    #: a ``crossdock-documents`` folder beside the SQLite database (in the data folder for
    #: another database).
    storage_url: str = ""
    #: The mailer plugin the server sends its mail through (``CROSSDOCK_MAILER``, a name a
    #: ``crossdock_mailers`` plugin registers); empty: no mail is sent (password resets and
    #: invitations are then made with the CLI).
    mailer: str = ""
    #: The From address of the server's mail (``CROSSDOCK_MAIL_FROM``).
    mail_from: str = "Crossdock <no-reply@localhost>"
    #: The mailer's own settings, a JSON object (``CROSSDOCK_MAIL_OPTIONS``: its token ...).
    mail_options: Mapping[str, Any] = field(default_factory=dict)
    #: Where people reach this server (``CROSSDOCK_PUBLIC_URL``): the start of the links in
    #: its mail, of the single sign-on return address, and of the listing images' URLs a
    #: channel fetches (``/media/...``).
    public_url: str = "http://127.0.0.1:8000"
    #: The machine translation engine listing content is translated with
    #: (``CROSSDOCK_TRANSLATOR``, a name a ``crossdock_translators`` plugin registers); empty:
    #: only the tenant's glossary translates (fixed terms: attribute values, units, sizes).
    translator: str = ""
    #: The engine's own settings, a JSON object (``CROSSDOCK_TRANSLATOR_OPTIONS``: its key ...).
    translator_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.storage_url:
            object.__setattr__(self, "storage_url", _default_storage(self.database_url, self.data_dir))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded_jobs(self) -> bool:
        return self.redis_url is None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("CROSSDOCK_DATA_DIR", Path.cwd() / ".crossdock"))
        database_url = _async_url(
            env.get("CROSSDOCK_DATABASE_URL") or f"sqlite:///{Path.cwd() / 'crossdock.db'}"
        )
        keys = _split(env.get("CROSSDOCK_SECRET_KEY")) or (_embedded_secret(data_dir),)
        assets = env.get("CROSSDOCK_GRAPHIQL_ASSETS")
        return cls(
            database_url=database_url,
            redis_url=env.get("CROSSDOCK_REDIS_URL") or None,
            secret_keys=keys,
            plugins=_split(env.get("CROSSDOCK_PLUGINS")),
            sync_interval_seconds=int(env.get("CROSSDOCK_SYNC_INTERVAL", "60")),
            push_window_seconds=float(env.get("CROSSDOCK_PUSH_WINDOW", "2")),
            tracking_interval_seconds=int(env.get("CROSSDOCK_TRACKING_INTERVAL", "900")),
            report_sync_interval_seconds=int(env.get("CROSSDOCK_REPORT_SYNC_INTERVAL", "3600")),
            webhook_interval_seconds=int(env.get("CROSSDOCK_WEBHOOK_INTERVAL", "5")),
            usage_flush_seconds=float(env.get("CROSSDOCK_USAGE_FLUSH", "10")),
            bulk_retention_days=int(env.get("CROSSDOCK_BULK_RETENTION_DAYS", "7")),
            periodic_jobs=env.get("CROSSDOCK_PERIODIC", "1") not in ("0", "false", "no"),
            data_dir=data_dir,
            graphiql_assets=Path(assets) if assets else None,
            allowed_hosts=_split(env.get("CROSSDOCK_ALLOWED_HOSTS")) or (),
            storage_url=env.get("CROSSDOCK_STORAGE_URL") or "",
            mailer=env.get("CROSSDOCK_MAILER", "").strip(),
            mail_from=env.get("CROSSDOCK_MAIL_FROM") or "Crossdock <no-reply@localhost>",
            mail_options=_json_object(env.get("CROSSDOCK_MAIL_OPTIONS"), "CROSSDOCK_MAIL_OPTIONS"),
            public_url=(env.get("CROSSDOCK_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            translator=env.get("CROSSDOCK_TRANSLATOR", "").strip(),
            translator_options=_json_object(
                env.get("CROSSDOCK_TRANSLATOR_OPTIONS"), "CROSSDOCK_TRANSLATOR_OPTIONS"
            ),
        )


def _default_storage(database_url: str, data_dir: Path) -> str:
    """A ``crossdock-documents`` folder beside a SQLite database file (the default database
    is ``crossdock.db`` in the working directory); the data folder's ``documents`` for
    another database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folder = Path(url.database).resolve().parent / "crossdock-documents"
    else:
        folder = data_dir.resolve() / "documents"
    return folder.as_uri()


def _embedded_secret(data_dir: Path) -> str:
    """Generate the embedded-mode encryption key once and keep it beside the database.

    Production sets ``CROSSDOCK_SECRET_KEY`` (comma-separated Fernet keys, newest first,
    so old credentials stay readable while they are re-encrypted).
    """
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
