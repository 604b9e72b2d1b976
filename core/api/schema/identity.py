"""The organization's single sign-on over the API: ``identityProviders``,
``identityProviderCreate|Update|Delete`` (:mod:`crossdock.services.sso` holds the rules:
``users:read``/``users:write`` and reaching every tenant; the client secret is stored
encrypted and never shown; the issuer passes the server's outbound rules). Users sign in
through one at ``/auth/sso/{organization}/{name}/start``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import AccountUserError, in_transaction, requires
from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.services import sso

__all__ = ["Mutation", "Query"]


@strawberry.type(description="An identity provider the organization's staff sign in through.")
class IdentityProvider:
    id: strawberry.ID
    name: str = strawberry.field(description="Its name in the sign-in URL.")
    provider: str = strawberry.field(description="The identity plugin (`oidc`).")
    issuer: str
    client_id: str
    options: JSON
    sign_in_url: str = strawberry.field(description="Where a user's browser starts the login.")
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, info: sso.IdentityProviderInfo, public_url: str, organization: str) -> IdentityProvider:
        return cls(
            id=encode_id("IdentityProvider", info.id),
            name=info.name,
            provider=info.provider,
            issuer=info.issuer,
            client_id=info.client_id,
            options=cast(JSON, dict(info.options)),
            sign_in_url=f"{public_url}/auth/sso/{organization}/{info.name}/start",
            created_at=info.created_at,
            disabled_at=info.disabled_at,
        )


@strawberry.input
class IdentityProviderCreateInput:
    name: str
    provider: str = "oidc"
    issuer: str
    client_id: str
    client_secret: str
    options: JSON | None = None


@strawberry.input
class IdentityProviderUpdateInput:
    id: strawberry.ID
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    options: JSON | None = None
    disabled: bool | None = strawberry.field(
        default=None, description="A disabled provider starts and completes no login."
    )


@strawberry.input
class IdentityProviderDeleteInput:
    id: strawberry.ID


@strawberry.type
class IdentityProviderCreatePayload:
    identity_provider: IdentityProvider | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.type
class IdentityProviderUpdatePayload:
    identity_provider: IdentityProvider | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.type
class IdentityProviderDeletePayload:
    identity_provider: IdentityProvider | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


async def _shown(session: AsyncSession, st: RequestState, info: sso.IdentityProviderInfo) -> IdentityProvider:
    from crossdock.db.models import Organization

    org = await session.get(Organization, st.principal.organization_id)
    return IdentityProvider.of(info, st.app.settings.public_url, org.slug if org else "")


def _pk(value: str) -> int:
    return decode_id(value, "IdentityProvider", field="input.id")[1]


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("users:read"),
        description="The organization's identity providers by name (for a caller reaching every tenant).",
    )
    async def identity_providers(self, info: Info[Any, Any]) -> list[IdentityProvider]:
        st = state(info)
        async with st.read() as session:
            found = await sso.list_identity_providers(session, st.principal)
            return [await _shown(session, st, i) for i in found]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Add an identity provider: an installed identity plugin, the issuer (an https URL "
        "the server may call) and the client registered there.",
    )
    async def identity_provider_create(
        self, info: Info[Any, Any], input: IdentityProviderCreateInput
    ) -> IdentityProviderCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            made = await sso.create_identity_provider(
                session,
                st.principal,
                st.app.plugins,
                st.app.vault,
                st.app.http.policy,
                name=input.name,
                provider=input.provider,
                issuer=input.issuer,
                client_id=input.client_id,
                client_secret=input.client_secret,
                options=cast(Any, input.options),
            )
            return {"identity_provider": await _shown(session, st, made)}

        return await in_transaction(info, IdentityProviderCreatePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Change what is given of an identity provider, or disable it.",
    )
    async def identity_provider_update(
        self, info: Info[Any, Any], input: IdentityProviderUpdateInput
    ) -> IdentityProviderUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            changed = await sso.update_identity_provider(
                session,
                st.principal,
                st.app.vault,
                st.app.http.policy,
                _pk(input.id),
                issuer=input.issuer,
                client_id=input.client_id,
                client_secret=input.client_secret,
                options=cast(Any, input.options),
                disabled=input.disabled,
            )
            return {"identity_provider": await _shown(session, st, changed)}

        return await in_transaction(info, IdentityProviderUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Remove an identity provider (the identities linked through it stay).",
    )
    async def identity_provider_delete(
        self, info: Info[Any, Any], input: IdentityProviderDeleteInput
    ) -> IdentityProviderDeletePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            gone = await sso.delete_identity_provider(session, st.principal, _pk(input.id))
            return {"identity_provider": await _shown(session, st, gone)}

        return await in_transaction(info, IdentityProviderDeletePayload, body)
