"""Organizations, tenants, API keys, and authenticating a request's key.

A resolved key is remembered for :data:`AUTH_CACHE_SECONDS` per process, so a client's
burst of requests does not read the key and its tenants each time. Whatever changes whom
a key reaches (revoking it, a new tenant for an all-tenants key) empties that process's
memory when it commits; the other server processes notice within those seconds.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crossdock.db import Database, utcnow
from crossdock.db.engine import after_commit
from crossdock.db.models import ApiKey, Organization, Tenant, api_key_tenants
from crossdock.errors import Forbidden, NotFound, Unauthenticated, UserError
from crossdock.security import (
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    SCOPES,
    generate_api_key,
    hash_secret,
    split_token,
    verify_secret,
)

__all__ = [
    "AUTH_CACHE_SECONDS",
    "MAX_KEYS",
    "Principal",
    "Reach",
    "authenticate",
    "create_api_key",
    "create_api_key_for",
    "create_organization",
    "create_tenant",
    "create_tenant_for",
    "forget_resolved_keys",
    "reach_of",
    "revoke_api_key",
    "revoke_api_key_for",
    "validate_tenant_settings",
    "visible_api_keys",
]

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

#: Seconds a process trusts a key it resolved without reading it again: the longest a key
#: revoked by another process (the CLI, another server worker) keeps working here.
AUTH_CACHE_SECONDS = 1.0
_AUTH_CACHE_SIZE = 10_000

#: Per database: (key hash, X-Tenant) -> (trusted until, principal). Only successes.
_resolved: weakref.WeakKeyDictionary[Database, dict[tuple[str, str | None], tuple[float, Principal]]] = (
    weakref.WeakKeyDictionary()
)


def forget_resolved_keys() -> None:
    """Make every key be read from the database again on its next request."""
    for cache in list(_resolved.values()):
        cache.clear()


def _forget_on_commit(session: AsyncSession) -> None:
    forget_resolved_keys()
    after_commit(session, forget_resolved_keys)  # and again: a request may re-read it meanwhile


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which tenant, with which scopes: an API key (``api_key_id``) or
    a staff user signed in (``user_id`` and its ``session_id``), never both."""

    api_key_id: int | None
    organization_id: int
    tenant_id: int
    tenant_slug: str
    scopes: frozenset[str]
    #: The key's name or the user's e-mail, as the audit log shows who acted
    name: str = ""
    user_id: int | None = None
    session_id: int | None = None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def caller_key(self) -> str:
        """One string per caller (``key:7``, ``user:3``): what per-caller limits count by."""
        return f"user:{self.user_id}" if self.user_id is not None else f"key:{self.api_key_id}"


def _slug(value: str, field: str) -> str:
    if not SLUG.match(value):
        raise UserError(
            "use 1-63 lower-case letters, digits and hyphens, starting with a letter or digit",
            field=field,
            code="INVALID_SLUG",
        )
    return value


async def create_organization(session: AsyncSession, slug: str, name: str | None = None) -> Organization:
    org = Organization(slug=_slug(slug, "slug"), name=name or slug)
    session.add(org)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"organization {slug!r} exists", field="slug", code="TAKEN") from None
    from crossdock.services.users import ensure_builtin_roles

    await ensure_builtin_roles(session, org.id)
    return org


async def get_organization(session: AsyncSession, slug: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"no organization {slug!r}", field="org")
    return org


async def create_tenant(
    session: AsyncSession, organization: Organization, slug: str, name: str | None = None
) -> Tenant:
    tenant = Tenant(organization_id=organization.id, slug=_slug(slug, "slug"), name=name or slug)
    session.add(tenant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"tenant {slug!r} exists", field="slug", code="TAKEN") from None
    _forget_on_commit(session)  # an all-tenants key now reaches one more
    return tenant


async def create_api_key(
    session: AsyncSession,
    organization: Organization,
    *,
    name: str,
    scopes: Iterable[str],
    tenants: Iterable[Tenant] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is never stored or shown again.

    ``tenants=None`` makes a key for every tenant of the organization, present and future.
    """
    scope_set = sorted(set(scopes))
    unknown = [s for s in scope_set if s not in SCOPES]
    if unknown:
        raise UserError(f"unknown scopes: {', '.join(unknown)}", field="scopes", code="INVALID_SCOPE")
    if not scope_set:
        raise UserError("a key needs at least one scope", field="scopes", code="INVALID_SCOPE")
    tenant_list = list(tenants) if tenants is not None else None
    for t in tenant_list or ():
        if t.organization_id != organization.id:
            raise Forbidden(f"tenant {t.slug!r} belongs to another organization")
    generated = generate_api_key()
    key = ApiKey(
        organization_id=organization.id,
        name=name,
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        scopes=scope_set,
        all_tenants=tenant_list is None,
        tenants=tenant_list or [],
    )
    session.add(key)
    await session.flush()
    return key, generated.plaintext


async def revoke_api_key(session: AsyncSession, prefix: str) -> None:
    result = await session.execute(
        update(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no active API key {prefix!r}")
    _forget_on_commit(session)


async def authenticate(db: Database, authorization: str | None, tenant_slug: str | None) -> Principal:
    """Resolve ``Authorization: Bearer <key>`` and ``X-Tenant`` to a :class:`Principal`.

    Raises :class:`Unauthenticated` for a missing, malformed, unknown or revoked key and
    :class:`Forbidden` for a tenant the key may not reach or an ambiguous one. One query
    reads the key and the tenants it reaches; a success is remembered for
    :data:`AUTH_CACHE_SECONDS` (failures never are).
    """
    if not authorization:
        raise Unauthenticated("missing Authorization header; send 'Bearer <api key or access token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Authorization must be 'Bearer <api key or access token>'")
    parts = split_token(token)
    if parts is None or parts[0] == REFRESH_TOKEN:
        raise Unauthenticated("malformed API key or access token")
    kind, prefix = parts
    cache = _resolved.get(db)
    if cache is None:
        cache = _resolved[db] = {}
    cache_key = (hash_secret(token), tenant_slug or None)
    now = time.monotonic()
    hit = cache.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    if kind == ACCESS_TOKEN:
        principal = await _resolve_user(db, token, prefix, tenant_slug)
    else:
        principal = await _resolve(db, token, prefix, tenant_slug)
    if len(cache) >= _AUTH_CACHE_SIZE:
        cache.clear()
    cache[cache_key] = (now + AUTH_CACHE_SECONDS, principal)
    return principal


def choose_tenant(
    candidates: Iterable[tuple[int, str]], tenant_slug: str | None, caller: str
) -> tuple[int, str]:
    """The tenant a request acts on among the ``(id, slug)`` ones its caller reaches: the one
    ``X-Tenant`` names, else the only one. :class:`Forbidden` for a tenant not reached, none,
    or several without ``X-Tenant``; ``caller`` words the refusal ("this API key", "your
    roles")."""
    reached = list(candidates)
    if tenant_slug:
        for tenant in reached:
            if tenant[1] == tenant_slug:
                return tenant
        raise Forbidden(f"tenant {tenant_slug!r} is out of reach of {caller}")
    if len(reached) == 1:
        return reached[0]
    if not reached:
        raise Forbidden(f"no tenant is in reach of {caller}")
    raise Forbidden(f"several tenants are in reach of {caller}; name one with the X-Tenant header")


async def _resolve_user(db: Database, token: str, prefix: str, tenant_slug: str | None) -> Principal:
    from crossdock.services.users import resolve_access_token

    async with db.system() as session:
        found = await resolve_access_token(session, token, prefix, tenant_slug)
    return Principal(api_key_id=None, **found)


async def _resolve(db: Database, token: str, prefix: str, tenant_slug: str | None) -> Principal:
    reached = or_(
        and_(ApiKey.all_tenants, Tenant.organization_id == ApiKey.organization_id),
        Tenant.id == api_key_tenants.c.tenant_id,
    )
    stmt = (
        select(
            ApiKey.id,
            ApiKey.organization_id,
            ApiKey.name,
            ApiKey.key_hash,
            ApiKey.scopes,
            ApiKey.revoked_at,
            Tenant.id.label("tenant_id"),
            Tenant.slug.label("tenant_slug"),
        )
        .select_from(ApiKey)
        .outerjoin(api_key_tenants, api_key_tenants.c.api_key_id == ApiKey.id)
        .outerjoin(Tenant, reached)
        .where(ApiKey.prefix == prefix)
        .order_by(Tenant.id)
    )
    async with db.system() as session:
        rows = (await session.execute(stmt)).all()
    if not rows or not verify_secret(token, rows[0].key_hash):
        raise Unauthenticated("unknown API key")
    key = rows[0]
    if key.revoked_at is not None:
        raise Unauthenticated("API key has been revoked")
    candidates = list(dict.fromkeys((r.tenant_id, r.tenant_slug) for r in rows if r.tenant_id is not None))
    tenant = choose_tenant(candidates, tenant_slug, "this API key")
    return Principal(
        api_key_id=key.id,
        organization_id=key.organization_id,
        tenant_id=tenant[0],
        tenant_slug=tenant[1],
        scopes=frozenset(key.scopes),
        name=key.name,
    )


def validate_tenant_settings(settings: Mapping[str, Any]) -> None:
    """Refuse tenant settings a service would misread (``UserError`` on the field): for
    now the ``tracking`` section (see :mod:`crossdock.services.tracking`) and the ``audit``
    section (``retention_days``, see :mod:`crossdock.services.audit`)."""
    from crossdock.services.audit import validate_audit_settings
    from crossdock.services.tracking import validate_tracking_settings

    if "tracking" in settings:
        validate_tracking_settings(settings["tracking"])
    if "audit" in settings:
        validate_audit_settings(settings["audit"])


# --------------------------------------------------------------------------- over the API

#: The most keys an organization may hold (revoked ones included); also what a list shows.
MAX_KEYS = 500


@dataclass(frozen=True)
class Reach:
    """What the calling key reaches: its organization, its tenants, its scopes. A key made
    or seen over the API never reaches further than the key asking."""

    organization_id: int
    all_tenants: bool
    tenant_ids: frozenset[int]
    scopes: frozenset[str]

    def covers(self, key: ApiKey) -> bool:
        """Whether ``key`` reaches no tenant this one does not (so the caller may see it)."""
        if key.organization_id != self.organization_id:
            return False
        if self.all_tenants:
            return True
        return not key.all_tenants and {t.id for t in key.tenants} <= self.tenant_ids


async def reach_of(session: AsyncSession, principal: Principal) -> Reach:
    if principal.user_id is not None:
        from crossdock.services.users import access_of

        access = await access_of(session, principal.user_id, principal.organization_id)
        return Reach(
            principal.organization_id,
            access.all_tenants,
            frozenset(access.per_tenant),
            access.common_scopes(),
        )
    key = await session.scalar(
        select(ApiKey)
        .where(ApiKey.id == principal.api_key_id, ApiKey.revoked_at.is_(None))
        .options(selectinload(ApiKey.tenants))
    )
    if key is None:
        raise Unauthenticated("API key has been revoked")
    return Reach(
        key.organization_id, key.all_tenants, frozenset(t.id for t in key.tenants), frozenset(key.scopes)
    )


async def visible_api_keys(
    session: AsyncSession, principal: Principal, *, revoked: bool = False
) -> list[ApiKey]:
    """The organization's keys the caller may see (see :meth:`Reach.covers`), newest first."""
    reach = await reach_of(session, principal)
    stmt = (
        select(ApiKey)
        .where(ApiKey.organization_id == reach.organization_id)
        .options(selectinload(ApiKey.tenants))
        .order_by(ApiKey.id.desc())
        .limit(MAX_KEYS)
    )
    if not revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return [k for k in (await session.scalars(stmt)).all() if reach.covers(k)]


async def create_api_key_for(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    scopes: Iterable[str],
    tenant_slugs: Iterable[str] | None = None,
    all_tenants: bool = False,
) -> tuple[ApiKey, str]:
    """A key made by the caller: with no scope the caller lacks (``admin`` only from an
    admin key) and no tenant it does not reach (``all_tenants`` only from an all-tenants
    key; no tenants named: the caller's current tenant). Returns it and its plaintext."""
    reach = await reach_of(session, principal)
    text = name.strip()
    if not 1 <= len(text) <= 100:
        raise UserError("a name of 1 to 100 characters", field="input.name", code="INVALID")
    wanted = sorted(set(scopes))
    if "admin" not in reach.scopes:
        beyond = [s for s in wanted if s not in reach.scopes]
        if beyond:
            raise UserError(
                f"this key cannot grant scopes it does not hold: {', '.join(beyond)}",
                field="input.scopes",
                code="SCOPE_NOT_HELD",
            )
    slugs = list(dict.fromkeys(tenant_slugs or ()))
    if all_tenants and slugs:
        raise UserError(
            "name tenants or ask for all of them, not both", field="input.tenants", code="INVALID"
        )
    if all_tenants and not reach.all_tenants:
        raise UserError(
            "only a key reaching every tenant can make one that does",
            field="input.allTenants",
            code="TENANT_NOT_REACHED",
        )
    # the organization's row lock serialises two keys made at once, so the count holds
    org = await session.scalar(
        select(Organization).where(Organization.id == reach.organization_id).with_for_update()
    )
    assert org is not None
    count = await session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.organization_id == reach.organization_id)
    )
    if (count or 0) >= MAX_KEYS:
        raise UserError(f"an organization holds at most {MAX_KEYS} keys", code="OUT_OF_RANGE")
    tenants: list[Tenant] | None = None
    if not all_tenants:
        wanted_slugs = slugs or [principal.tenant_slug]
        found = {
            t.slug: t
            for t in (
                await session.scalars(
                    select(Tenant).where(Tenant.organization_id == org.id, Tenant.slug.in_(wanted_slugs))
                )
            ).all()
        }
        for i, slug in enumerate(wanted_slugs):
            tenant = found.get(slug)
            if tenant is None or not (reach.all_tenants or tenant.id in reach.tenant_ids):
                # another organization's tenant, a missing one and one out of reach look the same
                raise UserError(
                    f"this key does not reach a tenant {slug!r}",
                    field=f"input.tenants.{i}",
                    code="TENANT_NOT_REACHED",
                )
        tenants = [found[s] for s in wanted_slugs]
    return await create_api_key(session, org, name=text, scopes=wanted, tenants=tenants)


async def revoke_api_key_for(session: AsyncSession, principal: Principal, key_id: int) -> ApiKey:
    """Revoke a key the caller may see (another's, or its own); NOT_FOUND otherwise. A
    revoked key stays revoked (revoking it again changes nothing)."""
    reach = await reach_of(session, principal)
    key = await session.scalar(
        select(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.organization_id == reach.organization_id)
        .options(selectinload(ApiKey.tenants))
        .with_for_update()
    )
    if key is None or not reach.covers(key):
        raise NotFound("no such API key", field="id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        _forget_on_commit(session)
    return key


async def create_tenant_for(
    session: AsyncSession, principal: Principal, slug: str, name: str | None
) -> Tenant:
    """A new tenant of the caller's organization; only a key reaching every tenant (which
    then reaches the new one too) may make one."""
    reach = await reach_of(session, principal)
    if not reach.all_tenants:
        raise UserError(
            "only a key reaching every tenant of the organization can add one", code="TENANT_NOT_REACHED"
        )
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise UserError("a name of 1 to 200 characters", field="input.name", code="INVALID")
    org = await session.get(Organization, reach.organization_id)
    assert org is not None
    try:
        return await create_tenant(session, org, slug, name.strip() if name else None)
    except UserError as exc:
        exc.field = "input.slug"
        raise
