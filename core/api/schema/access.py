"""API keys and tenants managed over the API: ``apiKeys``, ``apiKeyCreate``,
``apiKeyRevoke``, ``tenantCreate`` (:mod:`crossdock.services.tenancy` holds the rules: a key
never makes or sees a key reaching further than itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import AccountUserError, in_transaction, requires
from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.db.models import ApiKey as ApiKeyRow
from crossdock.db.models import Tenant as TenantRow
from crossdock.security import SCOPES, Scope
from crossdock.services import tenancy

__all__ = ["Mutation", "Query"]


@strawberry.type(description="An API key of the organization (its secret is shown only when it is made).")
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(
        description="The key's public start, as `crossdock apikeys list` shows it."
    )
    scopes: list[Scope]
    all_tenants: bool = strawberry.field(
        description="Reaches every tenant of the organization, later ones too."
    )
    tenants: list[str] = strawberry.field(
        description="The slugs of the tenants it reaches (not all-tenants keys)."
    )
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=encode_id("ApiKey", row.id),
            name=row.name,
            prefix=row.prefix,
            scopes=[Scope(s) for s in row.scopes if s in SCOPES],
            all_tenants=row.all_tenants,
            tenants=sorted(t.slug for t in row.tenants),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A client brand of the organization.")
class Tenant:
    slug: str
    name: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: TenantRow) -> Tenant:
        return cls(slug=row.slug, name=row.name, created_at=row.created_at)


@strawberry.input
class ApiKeyCreateInput:
    name: str
    scopes: list[Scope]
    tenants: list[str] | None = strawberry.field(
        default=None, description="Slugs of the tenants it reaches; none named: the caller's tenant."
    )
    all_tenants: bool = strawberry.field(
        default=False, description="Reach every tenant, later ones too (only from a key that does)."
    )


@strawberry.type
class ApiKeyCreatePayload:
    api_key: ApiKey | None = None
    secret: str | None = strawberry.field(
        default=None, description="The key itself: shown this once, never again."
    )
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.input
class ApiKeyRevokeInput:
    id: strawberry.ID


@strawberry.type
class ApiKeyRevokePayload:
    api_key: ApiKey | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.input
class TenantCreateInput:
    slug: str
    name: str | None = None


@strawberry.type
class TenantCreatePayload:
    tenant: Tenant | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("keys:read"),
        description="The organization's API keys that reach no tenant the caller's key does not "
        f"(newest first, at most {tenancy.MAX_KEYS}).",
    )
    async def api_keys(self, info: Info[Any, Any], revoked: bool = False) -> list[ApiKey]:
        st = state(info)
        async with st.read() as session:
            rows = await tenancy.visible_api_keys(session, st.principal, revoked=revoked)
        return [ApiKey.from_row(r) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("keys:write"),
        description="Make an API key with no scope and no tenant beyond the caller's key.",
    )
    async def api_key_create(self, info: Info[Any, Any], input: ApiKeyCreateInput) -> ApiKeyCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row, secret = await tenancy.create_api_key_for(
                session,
                st.principal,
                name=input.name,
                scopes=[str(s) for s in input.scopes],
                tenant_slugs=input.tenants,
                all_tenants=input.all_tenants,
            )
            return {"api_key": ApiKey.from_row(row), "secret": secret}

        return await in_transaction(info, ApiKeyCreatePayload, body)

    @strawberry.mutation(
        extensions=requires("keys:write"),
        description="Revoke an API key the caller may see (its own included); it stops working within "
        "a second on every server process.",
    )
    async def api_key_revoke(self, info: Info[Any, Any], input: ApiKeyRevokeInput) -> ApiKeyRevokePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            _, pk = decode_id(input.id, "ApiKey", field="input.id")
            row = await tenancy.revoke_api_key_for(session, st.principal, pk)
            return {"api_key": ApiKey.from_row(row)}

        return await in_transaction(info, ApiKeyRevokePayload, body)

    @strawberry.mutation(
        extensions=requires("tenants:write"),
        description="Add a tenant (a client brand) to the organization; only a key reaching every "
        "tenant may, and then reaches the new one.",
    )
    async def tenant_create(self, info: Info[Any, Any], input: TenantCreateInput) -> TenantCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await tenancy.create_tenant_for(session, st.principal, input.slug, input.name)
            return {"tenant": Tenant.from_row(row)}

        return await in_transaction(info, TenantCreatePayload, body)
