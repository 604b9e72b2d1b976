"""Single sign-on end to end: the ``oidc`` plugin against its identity-provider emulator on
loopback, through ``/auth/sso/...`` of the real ASGI app, the test playing the browser."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from crossdock_oidc.emulator import OIDCEmulator
from sqlalchemy import func, select

from crossdock.db.models import IdentityProviderRow, LoginAttempt, UserIdentity, UserSession
from crossdock.errors import Forbidden, NotFound, UserError
from crossdock.services import sso, tenancy, users
from crossdock.services.tenancy import authenticate
from crossdock.testing.emulator import serve
from crossdock.testing.identity import TokenFault

CLIENT_ID, CLIENT_SECRET = "crossdock-ops", "a client secret: with / and +"
SUBJECT, EMAIL = "sub-erika-1", "erika@example.com"


@dataclass
class Setup:
    app: Any
    http: httpx.AsyncClient
    emulator: OIDCEmulator
    tenant: Any
    issuer: str
    user_id: int

    @property
    def base(self) -> str:
        return f"/auth/sso/{self.tenant.organization_slug}/corp"

    async def authorize(self, login_hint: str = EMAIL, **params: str) -> dict[str, str]:
        """Start, and the browser at the provider: the callback's query it was sent back with."""
        start = await self.http.get(f"{self.base}/start", params=params)
        assert start.status_code == 302, start.text
        async with httpx.AsyncClient(timeout=5.0) as browser:
            url = httpx.URL(start.headers["location"]).copy_merge_params({"login_hint": login_hint})
            answer = await browser.get(url, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        callback = sso.callback_uri(self.app.settings.public_url, self.tenant.organization_slug, "corp")
        assert location.startswith(callback + "?"), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    async def callback(self, query: dict[str, str]) -> httpx.Response:
        return await self.http.get(f"{self.base}/callback", params=query)

    async def login(self, login_hint: str = EMAIL) -> dict[str, Any]:
        answer = await self.callback(await self.authorize(login_hint))
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens


async def admin_of_every_tenant(app: Any, tenant: Any, scopes: tuple[str, ...] = ("admin",)) -> Any:
    async with app.db.write(system=True) as session:
        org = await tenancy.get_organization(session, tenant.organization_slug)
        _, key = await tenancy.create_api_key(session, org, name="sso admin", scopes=scopes)
    return await authenticate(app.db, f"Bearer {key}", tenant.slug)


@pytest_asyncio.fixture
async def setup(app: Any, tenant_factory: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    """An organization with the emulator as its identity provider ``corp`` and a user
    invited with the e-mail the emulator's user has."""
    from crossdock.api.app import create_app

    tenant = await tenant_factory()
    emulator = OIDCEmulator()
    emulator.register_client(
        CLIENT_ID,
        CLIENT_SECRET,
        [sso.callback_uri(app.settings.public_url, tenant.organization_slug, "corp")],
    )
    emulator.add_user(SUBJECT, EMAIL, name="Erika Mustermann")
    principal = await authenticate(app.db, f"Bearer {tenant.key}", tenant.slug)
    async with app.db.write(system=True) as session:
        user, _ = await users.invite_user(
            session,
            principal,
            "https://ops.example.com",
            email=EMAIL,
            name="Erika",
            roles=[("operator", tenant.slug)],
        )
    admin = await admin_of_every_tenant(app, tenant)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=create_app(app, run_jobs=False), client=(address, 40000))  # type: ignore[arg-type]
    async with (
        serve(emulator) as issuer,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        async with app.db.write(system=True) as session:
            await sso.create_identity_provider(
                session,
                admin,
                app.plugins,
                app.vault,
                app.http.policy,
                name="corp",
                provider="oidc",
                issuer=issuer,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                options={"timeout": 2.0},
            )
        yield Setup(app, http, emulator, tenant, issuer, user.id)


async def outcomes(app: Any, organization_id: int) -> list[str]:
    async with app.db.system() as session:
        rows = await session.scalars(
            select(LoginAttempt)
            .where(LoginAttempt.organization_id == organization_id, LoginAttempt.method == "sso")
            .order_by(LoginAttempt.id)
        )
        return [r.outcome for r in rows.all()]


def refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code, answer.text


async def test_a_full_login_links_the_identity_and_its_tokens_open_graphql(setup: Setup) -> None:
    start = await setup.http.get(f"{setup.base}/start")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(setup.issuer + "/authorize?")
    assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 43

    tokens = await setup.login()
    assert tokens["userId"] == setup.user_id
    assert tokens["redirect"] is None
    viewer = await setup.http.post(
        "/graphql",
        json={"query": "{ viewer { tenantSlug } }"},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert viewer.status_code == 200, viewer.text
    assert viewer.json()["data"]["viewer"]["tenantSlug"] == setup.tenant.slug
    async with setup.app.db.system() as session:
        linked = (
            await session.scalars(select(UserIdentity).where(UserIdentity.user_id == setup.user_id))
        ).all()
        method = await session.scalar(select(UserSession.method).where(UserSession.id == tokens["sessionId"]))
    assert [(i.issuer, i.subject) for i in linked] == [(setup.issuer, SUBJECT)]
    assert method == "sso"
    assert await outcomes(setup.app, setup.tenant.organization_id) == ["succeeded"]


async def test_a_state_works_once_and_a_forged_one_never(setup: Setup) -> None:
    query = await setup.authorize()
    assert (await setup.callback(query)).status_code == 200
    refused(await setup.callback(query), 400, "SSO_STATE_INVALID")
    refused(await setup.callback({**query, "state": "forged"}), 400, "SSO_STATE_INVALID")
    refused(await setup.http.get(f"{setup.base}/callback"), 400, "SSO_STATE_INVALID")
    assert await outcomes(setup.app, setup.tenant.organization_id) == ["succeeded"] + ["sso_refused"] * 3


async def test_a_verified_identity_of_nobody_here_is_refused(setup: Setup) -> None:
    setup.emulator.add_user("sub-stranger", "stranger@example.com")
    refused(await setup.callback(await setup.authorize("sub-stranger")), 401, "SSO_UNKNOWN_USER")
    # the user's own address, but the provider did not verify it: not linked
    setup.emulator.add_user("sub-claims-erika", EMAIL, email_verified=False)
    refused(await setup.callback(await setup.authorize("sub-claims-erika")), 401, "SSO_UNKNOWN_USER")
    assert await outcomes(setup.app, setup.tenant.organization_id) == ["sso_unknown_user"] * 2
    async with setup.app.db.system() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(UserIdentity).where(UserIdentity.user_id == setup.user_id)
            )
            == 0
        )


async def test_an_error_from_the_provider_is_refused(setup: Setup) -> None:
    query = await setup.authorize("nobody-signed-in")
    assert query["error"] == "access_denied" and "code" not in query
    refused(await setup.callback(query), 400, "SSO_REFUSED")
    refused(await setup.callback(query), 400, "SSO_STATE_INVALID")  # the state was spent
    assert await outcomes(setup.app, setup.tenant.organization_id) == ["sso_refused"] * 2


@pytest.mark.parametrize(
    "fault", [TokenFault.WRONG_NONCE, TokenFault.BAD_SIGNATURE, TokenFault.WRONG_AUDIENCE]
)
async def test_a_bad_id_token_is_refused(setup: Setup, fault: TokenFault) -> None:
    query = await setup.authorize()
    setup.emulator.spoil_next_token(fault)
    refused(await setup.callback(query), 401, "SSO_REFUSED")
    refused(await setup.callback({**query, "code": "forged"}), 400, "SSO_STATE_INVALID")
    assert await outcomes(setup.app, setup.tenant.organization_id) == ["sso_refused"] * 2
    async with setup.app.db.system() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(UserSession).where(UserSession.user_id == setup.user_id)
            )
            == 0
        )


async def test_the_linked_identity_is_found_by_subject_when_the_email_changed(setup: Setup) -> None:
    first = await setup.login()
    setup.emulator.add_user(SUBJECT, "erika.m@elsewhere.example", name="Erika M.")
    second = await setup.login(SUBJECT)
    assert second["userId"] == first["userId"] == setup.user_id
    # someone given the old address at the provider later is not let in on it
    setup.emulator.add_user("sub-new-hire", EMAIL)
    refused(await setup.callback(await setup.authorize("sub-new-hire")), 401, "SSO_UNKNOWN_USER")


async def test_an_outage_at_the_callback_gives_the_state_back(setup: Setup) -> None:
    query = await setup.authorize()
    setup.emulator.fail_next(1000)
    refused(await setup.callback(query), 502, "SSO_UNAVAILABLE")
    setup.emulator.fail_next(0)
    answer = await setup.callback(query)
    assert answer.status_code == 200, answer.text
    assert await outcomes(setup.app, setup.tenant.organization_id) == ["succeeded"]


async def test_a_disabled_provider_or_an_unknown_one_starts_nothing(setup: Setup) -> None:
    refused(await setup.http.get(f"/auth/sso/{setup.tenant.organization_slug}/other/start"), 404, "NOT_FOUND")
    refused(await setup.http.get("/auth/sso/no-such-org/corp/start"), 404, "NOT_FOUND")
    query = await setup.authorize()
    admin = await admin_of_every_tenant(setup.app, setup.tenant)
    async with setup.app.db.write(system=True) as session:
        [info] = await sso.list_identity_providers(session, admin)
        await sso.update_identity_provider(
            session, admin, setup.app.vault, setup.app.http.policy, info.id, disabled=True
        )
    refused(await setup.http.get(f"{setup.base}/start"), 404, "NOT_FOUND")
    refused(await setup.callback(query), 404, "NOT_FOUND")


async def test_the_same_callback_redeemed_twice_at_once_signs_in_once(setup: Setup) -> None:
    if setup.app.settings.is_sqlite:
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    query = await setup.authorize()
    answers = await asyncio.gather(setup.callback(query), setup.callback(query))
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    async with setup.app.db.system() as session:
        count = await session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == setup.user_id)
        )
    assert count == 1


async def test_identity_providers_are_managed_by_those_reaching_every_tenant(setup: Setup) -> None:
    app, tenant = setup.app, setup.tenant
    admin = await admin_of_every_tenant(app, tenant)
    one_tenant = await authenticate(app.db, f"Bearer {tenant.key}", tenant.slug)
    reader = await admin_of_every_tenant(app, tenant, ("users:read",))

    async def create(principal: Any = admin, **changes: Any) -> Any:
        given = {
            "name": "second",
            "provider": "oidc",
            "issuer": setup.issuer,
            "client_id": "c",
            "client_secret": "s",
            **changes,
        }
        async with app.db.write(system=True) as session:
            return await sso.create_identity_provider(
                session, principal, app.plugins, app.vault, app.http.policy, **given
            )

    await create(one_tenant, name="only-brand")  # the organization's only tenant is every tenant
    async with app.db.write(system=True) as session:
        org = await tenancy.get_organization(session, tenant.organization_slug)
        await tenancy.create_tenant(session, org, f"{tenant.slug}-b")
    with pytest.raises(UserError) as wide:  # a second brand: one brand's key is not enough
        await create(one_tenant)
    assert wide.value.code == "TENANT_NOT_REACHED"
    with pytest.raises(Forbidden):
        await create(reader)
    for changes, code in [
        ({"provider": "saml"}, "NOT_FOUND"),
        ({"issuer": "https://10.0.0.7"}, "URL_NOT_ALLOWED"),
        ({"issuer": "http://idp.example.com"}, "URL_NOT_ALLOWED"),
        ({"name": "corp"}, "TAKEN"),
        ({"name": "Not A Slug"}, "INVALID_SLUG"),
        ({"client_secret": ""}, "REQUIRED"),
        ({"options": {"x": float("nan")}}, "INVALID_JSON"),
    ]:
        with pytest.raises(UserError) as caught:
            await create(**changes)
        assert caught.value.code == code, changes
    made = await create()
    assert not hasattr(made, "client_secret")
    async with app.db.system() as session:
        listed = await sso.list_identity_providers(session, reader)
        stored = await session.get(IdentityProviderRow, made.id)
    assert [i.name for i in listed] == ["corp", "only-brand", "second"]
    assert stored is not None and stored.client_secret != b"s"
    assert app.vault.decrypt(stored.client_secret) == {"client_secret": "s"}
    async with app.db.write(system=True) as session:
        changed = await sso.update_identity_provider(
            session, admin, app.vault, app.http.policy, made.id, client_id="c2", client_secret="s2"
        )
        assert changed.client_id == "c2"
        await sso.delete_identity_provider(session, admin, made.id)
    with pytest.raises(NotFound):
        async with app.db.write(system=True) as session:
            await sso.delete_identity_provider(session, admin, made.id)


async def test_the_login_returns_to_the_path_it_started_with(setup: Setup) -> None:
    answer = await setup.callback(await setup.authorize(redirect="/orders?status=open"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["redirect"] == "/orders?status=open"
    for elsewhere in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "orders",
        "/a b",
        "/" + "x" * 3000,
    ):
        refused(
            await setup.http.get(f"{setup.base}/start", params={"redirect": elsewhere}),
            400,
            "INVALID_REDIRECT",
        )
