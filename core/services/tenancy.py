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

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import Database, utcnow
from crossdock.db.engine import after_commit
from crossdock.db.models import ApiKey, Organization, Tenant, api_key_tenants
from crossdock.errors import Forbidden, NotFound, Unauthenticated, UserError
from crossdock.security import SCOPES, generate_api_key, hash_secret, split_api_key, verify_secret

__all__ = [
    "AUTH_CACHE_SECONDS",
    "Principal",
    "authenticate",
    "create_api_key",
    "create_organization",
    "create_tenant",
    "forget_resolved_keys",
    "revoke_api_key",
    "validate_tenant_settings",
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
    """Who is calling, for which tenant, with which scopes."""

    api_key_id: int
    organization_id: int
    tenant_id: int
    tenant_slug: str
    scopes: frozenset[str]
    #: The key's name, as the audit log shows who acted
    api_key_name: str = ""

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


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
        raise Unauthenticated("missing Authorization header; send 'Bearer <api key>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Authorization must be 'Bearer <api key>'")
    prefix = split_api_key(token)
    if prefix is None:
        raise Unauthenticated("malformed API key")
    cache = _resolved.get(db)
    if cache is None:
        cache = _resolved[db] = {}
    cache_key = (hash_secret(token), tenant_slug or None)
    now = time.monotonic()
    hit = cache.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    principal = await _resolve(db, token, prefix, tenant_slug)
    if len(cache) >= _AUTH_CACHE_SIZE:
        cache.clear()
    cache[cache_key] = (now + AUTH_CACHE_SECONDS, principal)
    return principal


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
    if tenant_slug:
        matches = [t for t in candidates if t[1] == tenant_slug]
        if not matches:
            raise Forbidden(f"this API key has no access to tenant {tenant_slug!r}")
        tenant = matches[0]
    elif len(candidates) == 1:
        tenant = candidates[0]
    elif not candidates:
        raise Forbidden("this API key reaches no tenant")
    else:
        raise Forbidden("this API key spans several tenants; name one with the X-Tenant header")
    return Principal(
        api_key_id=key.id,
        organization_id=key.organization_id,
        tenant_id=tenant[0],
        tenant_slug=tenant[1],
        scopes=frozenset(key.scopes),
        api_key_name=key.name,
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
