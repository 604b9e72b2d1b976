"""``crossdock``: serve, worker, migrate, tenants, apikeys, users, plugins."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from crossdock.bootstrap import App
from crossdock.config import Settings
from crossdock.errors import CrossdockError

__all__ = ["main"]

T = TypeVar("T")


#: Libraries that log one line per HTTP request (or migration step) at INFO: shown at DEBUG.
CHATTY = ("httpx", "httpcore", "uvicorn.access", "alembic")


def log_config(spec: str | None = None) -> dict[str, Any]:
    """The logging set-up of every command (``logging.config.dictConfig`` form).

    ``CROSSDOCK_LOG_LEVEL`` (default ``INFO``) is a level, optionally followed by
    ``logger=LEVEL`` pairs: ``INFO,crossdock.jobs=DEBUG``. At INFO a sync writes one line
    (connection, what it fetched, how long it took); the per-request lines of httpx and
    httpcore (and the server's access log) appear only when the level is DEBUG.
    """
    parts = [p.strip() for p in (spec or os.environ.get("CROSSDOCK_LOG_LEVEL") or "INFO").split(",")]
    root = next((p for p in parts if p and "=" not in p), "INFO").upper()
    loggers: dict[str, dict[str, Any]] = {
        name: {"level": "DEBUG" if root == "DEBUG" else "WARNING"} for name in CHATTY
    }
    for name in ("uvicorn", "uvicorn.error"):
        loggers[name] = {"level": root}
    for part in parts:
        if "=" in part:
            name, _, level = part.partition("=")
            loggers[name.strip()] = {"level": level.strip().upper()}
    known = logging.getLevelNamesMapping()
    for level in {root, *(v["level"] for v in loggers.values())}:
        if level not in known:
            raise ValueError(f"unknown level {level!r} (use DEBUG, INFO, WARNING or ERROR)")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"level": root, "handlers": ["console"]},
        "loggers": loggers,
    }


def _configure_logging() -> None:
    import logging.config

    try:
        logging.config.dictConfig(log_config())
    except ValueError as exc:  # an unknown level
        raise click.ClickException(f"CROSSDOCK_LOG_LEVEL: {exc}") from None


def _run(fn: Callable[[App], Awaitable[T]], *, migrate: bool = True) -> T:
    """Build the app, optionally migrate, run ``fn``, and turn our errors into exit code 1."""

    async def go() -> T:
        settings = Settings.from_env()
        _check_sqlite_folder(settings.database_url)
        app = App.build(settings)
        try:
            if migrate:
                from crossdock.db.migrate import upgrade

                await upgrade(app.db)
            return await fn(app)
        finally:
            await app.close()

    try:
        return asyncio.run(go())
    except CrossdockError as exc:
        raise click.ClickException(exc.message) from None
    except (OSError, DBAPIError) as exc:
        raise click.ClickException(_database_problem(exc)) from None


def _check_sqlite_folder(url: str) -> None:
    """A SQLite file in a folder that does not exist is refused before a driver thread opens
    it (aiosqlite's thread can outlive the event loop it answers to and print a traceback)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # a malformed URL: the driver says what is wrong with it
        return
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    folder = Path(parsed.database).expanduser().parent
    if not folder.is_dir():
        raise click.ClickException(
            f"cannot use the database {url}: unable to open database file (no folder {folder})"
        )


def _database_problem(exc: BaseException) -> str:
    """One line for a database that cannot be used (missing, unreachable, refused)."""
    from sqlalchemy.engine import make_url

    url = Settings.from_env().database_url
    with contextlib.suppress(Exception):
        url = make_url(url).render_as_string(hide_password=True)
    reason = getattr(exc, "orig", None) or exc
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return f"cannot use the database {url}: {text}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="crossdock")
def main() -> None:
    """Crossdock: headless commerce operations for cross-border sellers.

    With no configuration it runs embedded: a SQLite file in the working directory and an
    in-process job runner. Set CROSSDOCK_DATABASE_URL (PostgreSQL) and CROSSDOCK_REDIS_URL
    (arq workers) for production; CROSSDOCK_LOG_LEVEL (INFO) sets how much is logged.
    """
    _configure_logging()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Seed a demo organization and print an API key.")
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Upgrade the database at start-up (default: yes on SQLite, no elsewhere).",
)
def serve(host: str, port: int, demo: bool, workers: int, migrate: bool | None) -> None:
    """Run the HTTP server (GraphQL at /graphql, GraphiQL in a browser)."""
    import uvicorn

    if demo:  # live marketplace emulators inside the server, synced every 10 seconds
        os.environ["CROSSDOCK_DEMO"] = "1"
        os.environ.setdefault("CROSSDOCK_SYNC_INTERVAL", "10")
        os.environ.setdefault("CROSSDOCK_PUSH_WINDOW", "1")
        os.environ.setdefault("CROSSDOCK_TRACKING_INTERVAL", "10")  # parcels scanned every 15 s
    settings = Settings.from_env()
    if migrate is None:
        migrate = settings.is_sqlite
    if demo or migrate:
        from crossdock.db.migrate import upgrade

        async def prepare(app: App) -> None:
            await upgrade(app.db)
            if demo:
                from crossdock.demo import seed_demo

                info = await seed_demo(app)
                if info.reset:
                    click.echo("Demo data of an earlier run replaced: the emulated shops start afresh.")
                click.echo(f"Demo tenants: {', '.join(info.tenants)}")
                click.echo(f"Demo API key (admin, all demo tenants): {info.api_key}")
                click.echo(f"Send it as 'Authorization: Bearer <key>' with 'X-Tenant: {info.tenants[0]}'.")
                click.echo(
                    "Live channels: emulated Shopee, Lazada, Amazon and TikTok shops sell to "
                    f"{info.tenants[0]}; see {settings.data_dir / 'demo-emulators.json'} once the "
                    "server is up."
                )
                # the IDE opens with the key in place (read by crossdock.api.ide, every worker)
                os.environ["CROSSDOCK_DEMO_API_KEY"] = info.api_key
                os.environ["CROSSDOCK_DEMO_TENANT"] = info.tenants[0]

        _run(prepare, migrate=False)
    click.echo(f"GraphiQL: http://{host}:{port}/graphql   health: http://{host}:{port}/health")
    uvicorn.run(
        "crossdock.api.asgi:app",
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        log_config=log_config(),
        lifespan="on",
    )


@main.command()
def migrate() -> None:
    """Upgrade the database to the newest schema."""

    async def show(app: App) -> None:
        from crossdock.db.migrate import current_revision

        click.echo(f"database at revision {await current_revision(app.db)}")

    _run(show)


@main.command()
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit.")
def worker(burst: bool) -> None:
    """Run an arq worker (needs CROSSDOCK_REDIS_URL)."""
    from arq.worker import Worker

    from crossdock.jobs.arq_worker import worker_settings

    settings = Settings.from_env()
    if not settings.redis_url:
        raise click.ClickException(
            "CROSSDOCK_REDIS_URL is not set: without Redis, jobs run inside `crossdock serve`"
        )
    Worker(**worker_settings(settings), burst=burst).run()


@main.group()
def tenants() -> None:
    """Manage tenants (client brands)."""


@tenants.command("create")
@click.argument("slug")
@click.option("--org", "org_slug", default=None, help="Organization slug (created if new; default: SLUG).")
@click.option("--name", default=None)
def tenants_create(slug: str, org_slug: str | None, name: str | None) -> None:
    """Create tenant SLUG in an organization."""
    from sqlalchemy import select

    from crossdock.db.models import Organization
    from crossdock.services import tenancy

    async def go(app: App) -> None:
        async with app.db.write(system=True) as session:
            org_key = org_slug or slug
            org = await session.scalar(select(Organization).where(Organization.slug == org_key))
            if org is None:
                org = await tenancy.create_organization(session, org_key)
            tenant = await tenancy.create_tenant(session, org, slug, name)
        click.echo(f"tenant {tenant.slug} created in organization {org.slug}")

    _run(go)


@tenants.command("list")
@click.option("--org", "org_slug", default=None, help="Only this organization's tenants.")
def tenants_list(org_slug: str | None) -> None:
    """List tenants: slug, organization, name, created."""
    from sqlalchemy import select

    from crossdock.db.models import Organization, Tenant

    async def go(app: App) -> list[tuple[str, str, str, str]]:
        async with app.db.system() as session:
            query = (
                select(Tenant.slug, Organization.slug, Tenant.name, Tenant.created_at)
                .join(Organization, Organization.id == Tenant.organization_id)
                .order_by(Organization.slug, Tenant.slug)
            )
            if org_slug:
                query = query.where(Organization.slug == org_slug)
            rows = (await session.execute(query)).all()
        return [(t, o, n or "", f"{c:%Y-%m-%d %H:%M}") for t, o, n, c in rows]

    rows = _run(go)
    if not rows:
        click.echo("no tenants" + (f" in organization {org_slug}" if org_slug else ""), err=True)
        return
    click.echo(f"{'TENANT':<24} {'ORGANIZATION':<24} {'NAME':<28} CREATED (UTC)")
    for tenant, org, name, created in rows:
        click.echo(f"{tenant:<24} {org:<24} {name:<28} {created}")


@main.group()
def apikeys() -> None:
    """Manage API keys."""


@apikeys.command("create")
@click.option("--tenant", "tenant_slugs", multiple=True, help="Tenant the key may reach (repeatable).")
@click.option("--org", "org_slug", default=None, help="Organization: a key for all its tenants.")
@click.option("--scopes", default="admin", show_default=True, help="Comma-separated scopes.")
@click.option("--name", default="cli")
def apikeys_create(tenant_slugs: tuple[str, ...], org_slug: str | None, scopes: str, name: str) -> None:
    """Create an API key; prints the key alone on stdout (it is never shown again)."""
    from sqlalchemy import select

    from crossdock.db.models import Organization, Tenant
    from crossdock.errors import UserError
    from crossdock.services import tenancy

    if not tenant_slugs and not org_slug:
        raise click.UsageError("give --tenant SLUG (repeatable) or --org ORG")

    async def go(app: App) -> str:
        async with app.db.write(system=True) as session:
            if tenant_slugs:
                found = list(
                    (await session.scalars(select(Tenant).where(Tenant.slug.in_(tenant_slugs)))).all()
                )
                missing = set(tenant_slugs) - {t.slug for t in found}
                if missing:
                    raise UserError(f"no tenant {', '.join(sorted(missing))}")
                orgs = {t.organization_id for t in found}
                if len(orgs) > 1:
                    raise UserError("the tenants belong to different organizations")
                org = await session.scalar(select(Organization).where(Organization.id == orgs.pop()))
                assert org is not None
                _, key = await tenancy.create_api_key(
                    session,
                    org,
                    name=name,
                    scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                    tenants=found,
                )
            else:
                assert org_slug is not None
                org = await tenancy.get_organization(session, org_slug)
                _, key = await tenancy.create_api_key(
                    session, org, name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
                )
        return key

    click.echo(_run(go))


@apikeys.command("list")
@click.option("--tenant", "tenant_slug", default=None, help="Only keys that reach this tenant.")
@click.option("--org", "org_slug", default=None, help="Only this organization's keys.")
@click.option("--revoked", is_flag=True, help="Include revoked keys.")
def apikeys_list(tenant_slug: str | None, org_slug: str | None, revoked: bool) -> None:
    """List API keys by prefix (secrets are never stored, so never shown)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from crossdock.db.models import ApiKey, Organization, Tenant
    from crossdock.errors import NotFound

    async def go(app: App) -> list[dict[str, Any]]:
        async with app.db.system() as session:
            query = (
                select(ApiKey, Organization.slug)
                .join(Organization, Organization.id == ApiKey.organization_id)
                .options(selectinload(ApiKey.tenants))
                .order_by(Organization.slug, ApiKey.created_at, ApiKey.id)
            )
            if org_slug:
                query = query.where(Organization.slug == org_slug)
            if not revoked:
                query = query.where(ApiKey.revoked_at.is_(None))
            tenant = None
            if tenant_slug:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
                if tenant is None:
                    raise NotFound(f"no tenant {tenant_slug}")
                query = query.where(ApiKey.organization_id == tenant.organization_id)
            rows = []
            for key, org in (await session.execute(query)).all():
                slugs = sorted(t.slug for t in key.tenants)
                if tenant is not None and not key.all_tenants and tenant.slug not in slugs:
                    continue
                rows.append(
                    {
                        "prefix": key.prefix,
                        "name": key.name,
                        "organization": org,
                        "scopes": ",".join(key.scopes),
                        "tenants": "all" if key.all_tenants else ",".join(slugs),
                        "created": f"{key.created_at:%Y-%m-%d %H:%M}",
                        "last_used": f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                        "status": "revoked" if key.revoked_at else "active",
                    }
                )
        return rows

    rows = _run(go)
    if not rows:
        click.echo("no API keys", err=True)
        return
    click.echo(
        f"{'PREFIX':<14} {'NAME':<12} {'ORGANIZATION':<20} {'TENANTS':<20} {'SCOPES':<20} "
        f"{'CREATED (UTC)':<17} {'LAST USED':<17} STATUS"
    )
    for r in rows:
        click.echo(
            f"{r['prefix']:<14} {r['name']:<12} {r['organization']:<20} {r['tenants']:<20} "
            f"{r['scopes']:<20} {r['created']:<17} {r['last_used']:<17} {r['status']}"
        )


def key_prefix(value: str) -> str | None:
    """The lookup prefix in what a person pastes: the whole key (``cdk_<prefix>_<secret>``),
    ``cdk_<prefix>``, or the 12-hex prefix itself. None if it is none of these."""
    from crossdock.security import KEY_PREFIX, split_api_key

    value = value.strip()
    found = split_api_key(value)
    if found is not None:
        return found
    bare = value.removeprefix(f"{KEY_PREFIX}_").rstrip("_")
    if len(bare) == 12 and all(c in "0123456789abcdef" for c in bare.lower()):
        return bare.lower()
    return None


@apikeys.command("revoke")
@click.argument("key")
def apikeys_revoke(key: str) -> None:
    """Revoke an API key, given whole (cdk_<prefix>_<secret>) or by its 12-hex prefix."""
    from crossdock.services import tenancy

    prefix = key_prefix(key)
    if prefix is None:
        raise click.UsageError("give the API key (cdk_<prefix>_<secret>) or its 12-hex prefix")

    async def go(app: App) -> None:
        async with app.db.write(system=True) as session:
            await tenancy.revoke_api_key(session, prefix)
        click.echo(f"revoked {prefix}")

    _run(go)


@main.group()
def users() -> None:
    """Manage staff users (the first owner of an organization; the rest over the API)."""


def _role_option(value: str) -> tuple[str, str | None]:
    role, _, tenant = value.partition("@")
    return role.strip(), (tenant.strip() or None)


@users.command("invite")
@click.argument("email")
@click.option("--org", "org_slug", required=True, help="The user's organization.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    default=("owner",),
    show_default=True,
    help="ROLE@TENANT, or ROLE alone for every tenant (repeatable).",
)
@click.option("--name", default="")
def users_invite(email: str, org_slug: str, roles: tuple[str, ...], name: str) -> None:
    """Make a user with roles; prints the invitation token to redeem at POST
    /auth/invitation/accept (valid seven days)."""
    from crossdock.services import tenancy
    from crossdock.services import users as accounts

    async def go(app: App) -> str:
        async with app.db.write(system=True) as session:
            org = await tenancy.get_organization(session, org_slug)
            grants = await accounts.resolve_grants(session, org.id, [_role_option(r) for r in roles], "role")
            user = await accounts.add_user(session, org.id, email, name, grants)
            return await accounts.issue_invitation(session, user)

    token = _run(go)
    click.echo("POST /auth/invitation/accept with this token within 7 days:", err=True)
    click.echo(token)


@users.command("reset")
@click.argument("email")
@click.option("--org", "org_slug", required=True, help="The user's organization.")
def users_reset(email: str, org_slug: str) -> None:
    """Print a password-reset token for a user (redeem at POST /auth/password-reset/confirm
    within an hour); the lock-out of failed logins is lifted."""
    from sqlalchemy import select

    from crossdock.db.models import User
    from crossdock.errors import NotFound
    from crossdock.services import tenancy
    from crossdock.services import users as accounts

    async def go(app: App) -> str:
        async with app.db.write(system=True) as session:
            org = await tenancy.get_organization(session, org_slug)
            address = accounts.normal_email(email)
            user = await session.scalar(
                select(User).where(User.organization_id == org.id, User.email == address).with_for_update()
            )
            if user is None:
                raise NotFound(f"no user {address} in organization {org_slug}")
            user.failed_logins, user.locked_until = 0, None
            return await accounts.issue_password_reset(session, user)

    token = _run(go)
    click.echo("POST /auth/password-reset/confirm with this token within an hour:", err=True)
    click.echo(token)


@users.command("list")
@click.option("--org", "org_slug", required=True, help="The organization.")
def users_list(org_slug: str) -> None:
    """List an organization's users: e-mail, roles (ROLE@TENANT, ROLE alone: every tenant),
    last login, disabled."""
    from sqlalchemy import select

    from crossdock.db.models import User
    from crossdock.services import tenancy
    from crossdock.services import users as accounts

    async def go(app: App) -> list[tuple[str, str, str, str]]:
        async with app.db.system() as session:
            org = await tenancy.get_organization(session, org_slug)
            slugs = await accounts.tenant_slugs(session, org.id)
            rows = []
            for user in (
                await session.scalars(select(User).where(User.organization_id == org.id).order_by(User.email))
            ).all():
                held = await accounts.assignments_of(session, user.id)
                roles = ",".join(r.name if t is None else f"{r.name}@{slugs.get(t, t)}" for t, r in held)
                last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
                rows.append((user.email, roles or "-", last, "disabled" if user.disabled_at else ""))
            return rows

    rows = _run(go)
    if not rows:
        click.echo(f"no users in organization {org_slug}", err=True)
        return
    click.echo(f"{'E-MAIL':<32} {'ROLES':<36} {'LAST LOGIN (UTC)':<17} STATE")
    for email, roles, last, state in rows:
        click.echo(f"{email:<32} {roles:<36} {last:<17} {state}")


@main.group()
def secrets() -> None:
    """Encryption keys of the stored channel credentials."""


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every connection's credentials under the first key of CROSSDOCK_SECRET_KEY.

    To rotate: put a new key first in CROSSDOCK_SECRET_KEY (comma-separated, old keys after
    it), restart, run this, then drop the old keys.
    """
    from sqlalchemy import select

    from crossdock.db.models import Connection

    async def go(app: App) -> int:
        async with app.db.write(system=True) as session:
            rows = (await session.scalars(select(Connection).with_for_update())).all()
            for row in rows:
                row.credentials_encrypted = app.vault.rotate(row.credentials_encrypted)
        return len(rows)

    click.echo(f"re-encrypted the credentials of {_run(go)} connections under the newest key")


@main.command()
@click.argument("name")
@click.option("--port", default=0, type=int, help="Port (default: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--orders", default=50, show_default=True, type=int, help="Orders to generate.")
@click.option("--site", default=None, help="Site of the seller account (default: the emulator's).")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--fail-rate", default=0.0, show_default=True, type=float, help="Share of requests that fail.")
def emulate(
    name: str, port: int, host: str, orders: int, site: str | None, seed: int, fail_rate: float
) -> None:
    """Run plugin NAME's marketplace emulator standalone.

    The first line of output is one JSON object: the base URL, the site and the credentials
    a client (Crossdock's connection, or the marketplace's own SDK) needs.
    """
    import socket

    import uvicorn

    from crossdock.plugins import load_plugins
    from crossdock.testing.emulator import Faults

    factory = load_plugins(Settings.from_env().plugins).emulators.get(name)
    if factory is None:
        raise click.ClickException(f"no installed plugin offers an emulator named {name!r}")
    emulator = factory(Faults.failing(fail_rate, seed=seed) if fail_rate else Faults(seed=seed))
    site = site or factory.default_site
    account = emulator.open_account(site)
    listings = {sku: emulator.add_product(account, sku, stock=100) for sku in ("DEMO-1", "DEMO-2", "DEMO-3")}
    emulator.generate_orders(account, orders, seed=seed)
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    click.echo(
        json.dumps(
            {
                "channel": name,
                "base_url": f"http://{host}:{port}",
                "site": site,
                "credentials": dict(account),
                "listings": listings,
                "orders": orders,
            }
        ),
    )
    sys.stdout.flush()
    uvicorn.run(emulator, host=host, port=port, log_level="warning", lifespan="off")


@main.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("new")
@click.argument("name")
@click.option("--path", "target", default=".", show_default=True, type=click.Path(file_okay=False))
@click.option("--title", default=None, help="Display name (default: from NAME).")
def plugins_new(name: str, target: str, title: str | None) -> None:
    """Scaffold crossdock-NAME: a plugin that installs and passes its own tests."""
    from pathlib import Path

    from crossdock.scaffold import scaffold

    try:
        root = scaffold(name, Path(target), title)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {root}; next: pip install -e {root} && pytest {root}/tests")


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_list(as_json: bool) -> None:
    """List the providers every installed plugin registers, and plugins that failed."""
    from crossdock.plugins import load_plugins

    loaded = load_plugins(Settings.from_env().plugins)
    rows: list[dict[str, Any]] = [
        {
            "name": i.name,
            "kind": i.kind.value,
            "version": i.version,
            "plugin": i.plugin,
            "capabilities": list(i.capabilities),
        }
        for i in loaded.infos
    ]
    if as_json:
        click.echo(json.dumps({"providers": rows, "failures": loaded.failures}, indent=2))
        return
    for r in rows:
        caps = ", ".join(r["capabilities"]) or "(none yet)"
        click.echo(f"{r['name']:<16} {r['kind']:<12} {r['version']:<8} {caps}")
    for name, error in loaded.failures.items():
        click.echo(f"FAILED {name}: {error}", err=True)
    if loaded.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
