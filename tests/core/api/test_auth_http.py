"""``/auth``: staff sign-in over real HTTP through the ASGI app. Every refusal has its
status and typed code, a malformed body is a 400 ``INVALID_INPUT``, and what the tokens
open (``/graphql``) closes again on logout, replay and reset."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pyotp
import pytest
import pytest_asyncio
from sqlalchemy import select, update

from crossdock.db import utcnow
from crossdock.db.models import LoginAttempt, MailOutbox, User
from crossdock.services import tenancy, users
from crossdock.services.tenancy import authenticate
from crossdock.testing import make_staff

PASSWORD = "correct horse battery"
VIEWER = "{ viewer { tenantSlug scopes } }"


@pytest_asyncio.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the ASGI app from an address of its own (the per-address login limit
    counts by address, and the database outlives the test)."""
    from crossdock.api.app import create_app

    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=create_app(app, run_jobs=False), client=(address, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def invite(app: Any, tenant: Any, email: str = "ana@example.com") -> str:
    """Invite ``email`` as an operator of the tenant; the invitation's token."""
    principal = await authenticate(app.db, f"Bearer {tenant.key}", tenant.slug)
    async with app.db.write(system=True) as session:
        _, mail_id = await users.invite_user(
            session,
            principal,
            "https://ops.example.com",
            email=email,
            name="Ana",
            roles=[("operator", tenant.slug)],
        )
        mail = await session.get(MailOutbox, mail_id)
        assert mail is not None
        return mail.text.rsplit("\n\n", 1)[1].strip()


async def staff(
    app: Any, http: httpx.AsyncClient, tenant: Any, email: str = "ana@example.com"
) -> dict[str, Any]:
    """A user invited and signed in over HTTP: the invitation's answer."""
    token = await invite(app, tenant, email)
    answer = await http.post("/auth/invitation/accept", json={"token": token, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def login(http: httpx.AsyncClient, tenant: Any, **changes: Any) -> httpx.Response:
    body = {"organization": tenant.organization_slug, "email": "ana@example.com", "password": PASSWORD}
    return await http.post("/auth/login", json={**body, **changes})


async def graphql(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"})


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body["message"]
    return body


async def test_a_login_returns_tokens_that_open_graphql(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    await staff(app, http, tenant)
    answer = await login(http, tenant, email="  Ana@Example.COM ", totp=None)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    tokens = answer.json()
    assert set(tokens) == {
        "accessToken",
        "refreshToken",
        "accessExpiresAt",
        "refreshExpiresAt",
        "sessionId",
        "userId",
    }
    assert tokens["accessToken"].startswith("cda_") and tokens["refreshToken"].startswith("cdr_")
    assert isinstance(tokens["sessionId"], int)
    viewer = await graphql(http, tokens["accessToken"])
    assert viewer.status_code == 200, viewer.text
    assert viewer.json()["data"]["viewer"]["tenantSlug"] == tenant.slug
    async with app.db.system() as session:
        attempt = await session.scalar(
            select(LoginAttempt)
            .where(LoginAttempt.user_id == tokens["userId"])
            .order_by(LoginAttempt.id.desc())
        )
    assert attempt is not None
    assert (attempt.method, attempt.outcome) == ("password", "succeeded")
    assert attempt.source_ip is not None and attempt.source_ip.startswith("10.")
    assert attempt.user_agent and "python-httpx" in attempt.user_agent


async def test_wrong_credentials_and_a_disabled_user_are_refused_alike_401(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    body = await staff(app, http, tenant)
    wrong = refused(await login(http, tenant, password="not the password"), 401, "INVALID_CREDENTIALS")
    unknown = refused(await login(http, tenant, email="nobody@example.com"), 401, "INVALID_CREDENTIALS")
    assert wrong == unknown, "an unknown e-mail is answered as a wrong password"
    refused(await login(http, tenant, organization="no-such-org"), 401, "INVALID_CREDENTIALS")
    async with app.db.write(system=True) as session:
        await session.execute(update(User).where(User.id == body["userId"]).values(disabled_at=utcnow()))
    refused(await login(http, tenant), 401, "DISABLED")


async def test_a_second_factor_is_asked_for_then_checked(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    body = await staff(app, http, tenant)
    async with app.db.write(system=True) as session:
        secret, _ = await users.totp_enroll(session, app.vault, body["userId"])
    code = pyotp.TOTP(secret).now()
    async with app.db.write(system=True) as session:
        await users.totp_confirm(session, app.vault, body["userId"], code)
    refused(await login(http, tenant), 401, "TOTP_REQUIRED")
    refused(await login(http, tenant, totp="abcdef"), 401, "TOTP_INVALID")
    refused(await login(http, tenant, totp=code), 401, "TOTP_INVALID")  # spent confirming it


async def test_the_lock_out_answers_429_with_retry_after(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    await staff(app, http, tenant)
    for i in range(users.MAX_FAILURES):
        refused(await login(http, tenant, password=f"guess number {i}"), 401, "INVALID_CREDENTIALS")
    locked = refused(await login(http, tenant), 429, "LOCKED")
    assert locked["message"]
    answer = await login(http, tenant)
    assert answer.status_code == 429
    assert 60 < int(answer.headers["retry-after"]) <= users.LOCK_MINUTES * 60 + 1


async def test_an_address_spending_its_failures_is_rate_limited(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    await staff(app, http, tenant)
    for i in range(users.ADDRESS_LIMIT):
        refused(await login(http, tenant, email=f"guess{i}@example.com"), 401, "INVALID_CREDENTIALS")
    answer = await login(http, tenant)  # even the right password, from this address
    refused(answer, 429, "RATE_LIMITED")
    assert int(answer.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b'{"organization": "o", "email": "e@example.com"}',  # no password
        b'{"organization": "o", "email": "e@example.com", "password": 12345678901}',
        b'{"organization": "o", "email": "e@example.com", "password": null}',
        b'{"organization": "o", "email": ["e@example.com"], "password": "pw"}',
        b'{"organization": "o", "email": "e@example.com", "password": "pw", "totp": 123456}',
        b'{"organization": "o", "email": "e@example.com", "password": "pw", "admin": true}',
        b'{"organization": "o", "email": "e@example.com", "password": NaN}',
        b'{"organization": "o\\u0000", "email": "e@example.com", "password": "pw"}',
        b'{"organization": "o", "email": "e@example.com", "password": "\\ud800"}',
        b'{"organization": "o", "email": "\xff\xfe", "password": "pw"}',
        b'{"organization": "o", "email": "e@example.com", "password": "' + b"p" * 5000 + b'"}',
        b'{"organization": "' + b"o" * 20_000 + b'", "email": "e", "password": "pw"}',
        b"[" * 10_000,
    ],
)
async def test_a_malformed_login_body_is_a_typed_400(http: httpx.AsyncClient, content: bytes) -> None:
    answer = await http.post("/auth/login", content=content, headers={"content-type": "application/json"})
    refused(answer, 400, "INVALID_INPUT")


async def test_malformed_bodies_on_every_endpoint(http: httpx.AsyncClient) -> None:
    for path in (
        "/auth/refresh",
        "/auth/password-reset",
        "/auth/password-reset/confirm",
        "/auth/invitation/accept",
    ):
        refused(await http.post(path, content=b"{"), 400, "INVALID_INPUT")
        refused(await http.post(path, json={}), 400, "INVALID_INPUT")
        refused(await http.post(path, json={"token": 1, "refreshToken": 2, "email": 3}), 400, "INVALID_INPUT")


async def test_a_refresh_rotates_and_a_replay_revokes_the_session(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    first = await staff(app, http, tenant)
    answer = await http.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert answer.status_code == 200, answer.text
    second = answer.json()
    assert second["sessionId"] == first["sessionId"]
    assert second["refreshToken"] != first["refreshToken"]
    assert (await graphql(http, first["accessToken"])).status_code == 401
    assert (await graphql(http, second["accessToken"])).status_code == 200
    replay = await http.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    refused(replay, 401, "REFRESH_REUSED")
    assert (await graphql(http, second["accessToken"])).status_code == 401, "the whole session ended"
    refused(
        await http.post("/auth/refresh", json={"refreshToken": second["refreshToken"]}),
        401,
        "REFRESH_INVALID",
    )
    refused(await http.post("/auth/refresh", json={"refreshToken": "cdr_nonsense"}), 401, "REFRESH_INVALID")
    refused(
        await http.post("/auth/refresh", json={"refreshToken": first["accessToken"]}), 401, "REFRESH_INVALID"
    )


async def test_logout_ends_the_session_and_only_that_one(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    one = await staff(app, http, tenant)
    other = (await login(http, tenant)).json()
    assert (await graphql(http, one["accessToken"])).status_code == 200  # remembered by the auth cache
    answer = await http.post("/auth/logout", headers={"Authorization": f"Bearer {one['accessToken']}"})
    assert answer.status_code == 204, answer.text
    closed = await graphql(http, one["accessToken"])
    assert closed.status_code == 401
    assert closed.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await graphql(http, other["accessToken"])).status_code == 200
    refused(
        await http.post("/auth/refresh", json={"refreshToken": one["refreshToken"]}), 401, "REFRESH_INVALID"
    )
    again = await http.post("/auth/logout", headers={"Authorization": f"Bearer {one['accessToken']}"})
    assert again.status_code == 204  # signing out twice is no error
    refused(await http.post("/auth/logout"), 401, "UNAUTHENTICATED")
    key = await http.post("/auth/logout", headers={"Authorization": f"Bearer {tenant.key}"})
    refused(key, 403, "FORBIDDEN")


async def test_a_user_on_several_tenants_or_none_signs_out_without_naming_one(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    async with app.db.write(system=True) as session:
        org = await tenancy.get_organization(session, tenant.organization_slug)
        await tenancy.create_tenant(session, org, f"{tenant.slug}-b")
        _, every = await tenancy.create_api_key(session, org, name="agency", scopes=["admin"])
    agent = await make_staff(app, replace(tenant, key=every), [("viewer", "*")])
    assert (await graphql(http, agent.access_token)).status_code == 403  # which tenant?
    answer = await http.post("/auth/logout", headers={"Authorization": f"Bearer {agent.access_token}"})
    assert answer.status_code == 204, answer.text
    assert (await graphql(http, agent.access_token)).status_code == 401


def _reset_token(text: str) -> str:
    found = re.search(r"\?token=([A-Za-z0-9_-]+)", text)
    assert found is not None, text
    return found.group(1)


async def test_a_password_reset_is_answered_alike_for_anyone_and_mails_the_user(
    app: Any, http: httpx.AsyncClient, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    before = await staff(app, http, tenant)
    org = tenant.organization_slug
    answers = [
        await http.post("/auth/password-reset", json={"organization": org, "email": "ana@example.com"}),
        await http.post("/auth/password-reset", json={"organization": org, "email": "nobody@example.com"}),
        await http.post(
            "/auth/password-reset", json={"organization": "no-such-org", "email": "ana@example.com"}
        ),
        await http.post("/auth/password-reset", json={"organization": org, "email": "not an address"}),
    ]
    assert [a.status_code for a in answers] == [202] * 4
    assert len({a.content for a in answers}) == 1
    async with app.db.system() as session:
        mails = (
            await session.scalars(
                select(MailOutbox).where(
                    MailOutbox.organization_id == tenant.organization_id, MailOutbox.tag == "password_reset"
                )
            )
        ).all()
    assert [m.to for m in mails] == ["ana@example.com"]
    token = _reset_token(mails[0].text)

    weak = await http.post("/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert refused(weak, 400, "WEAK_PASSWORD")["field"] == "password"
    confirmed = await http.post(
        "/auth/password-reset/confirm", json={"token": token, "password": "a new passphrase"}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (await graphql(http, confirmed.json()["accessToken"])).status_code == 200
    assert (await graphql(http, before["accessToken"])).status_code == 401, "a reset ends every other session"
    used = await http.post(
        "/auth/password-reset/confirm", json={"token": token, "password": "a new passphrase"}
    )
    refused(used, 400, "INVALID_TOKEN")
    refused(await login(http, tenant), 401, "INVALID_CREDENTIALS")
    assert (await login(http, tenant, password="a new passphrase")).status_code == 200


async def test_an_invitation_is_accepted_once(app: Any, http: httpx.AsyncClient, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    token = await invite(app, tenant, "bo@example.com")
    weak = await http.post("/auth/invitation/accept", json={"token": token, "password": "bo@example.com"})
    refused(weak, 400, "WEAK_PASSWORD")
    answer = await http.post(
        "/auth/invitation/accept", json={"token": token, "password": PASSWORD, "name": "Bo Berg"}
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    viewer = await graphql(http, tokens["accessToken"])
    assert viewer.json()["data"]["viewer"]["tenantSlug"] == tenant.slug
    async with app.db.system() as session:
        user = await session.get(User, tokens["userId"])
    assert user is not None and user.name == "Bo Berg"
    again = await http.post("/auth/invitation/accept", json={"token": token, "password": PASSWORD})
    refused(again, 400, "INVALID_TOKEN")
    refused(
        await http.post("/auth/invitation/accept", json={"token": "forged", "password": PASSWORD}),
        400,
        "INVALID_TOKEN",
    )
