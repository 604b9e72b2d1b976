"""Staff users: invitation, login, roles per tenant, lock-out, second factor, refresh."""

from __future__ import annotations

import asyncio
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from crossdock.db import utcnow
from crossdock.db.models import LoginAttempt, MailOutbox, User, UserSession, UserToken
from crossdock.errors import Forbidden, Unauthenticated, UserError
from crossdock.services import tenancy, users
from crossdock.services.tenancy import authenticate
from crossdock.testing import make_staff

PASSWORD = "correct horse battery"


async def _invited(app: Any, tenant: Any, role: str = "operator") -> tuple[str, str]:
    """Invite ana@example.com as ``role`` on the tenant, accept; returns (email, token)."""
    principal = await authenticate(app.db, f"Bearer {tenant.key}", tenant.slug)
    async with app.db.write(system=True) as session:
        _, mail_id = await users.invite_user(
            session,
            principal,
            "https://ops.example.com",
            email="Ana@Example.com",
            name="Ana",
            roles=[(role, tenant.slug)],
        )
        mail = await session.get(MailOutbox, mail_id)
        assert mail is not None and mail.to == "ana@example.com" and mail.tag == "invitation"
        token = mail.text.rsplit("\n\n", 1)[1].strip()
    async with app.db.write(system=True) as session:
        tokens = await users.accept_invitation(session, token, PASSWORD)
    assert tokens.access_token.startswith("cda_")
    return "ana@example.com", token


async def test_an_invited_user_signs_in_with_the_scopes_of_its_role_on_its_tenant(
    app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory(scopes=["admin"])
    email, token = await _invited(app, tenant)
    tokens = await users.login(
        app.db, app.vault, organization=tenant.organization_slug, email=email, password=PASSWORD
    )
    principal = await authenticate(app.db, f"Bearer {tokens.access_token}", None)
    assert (principal.user_id, principal.api_key_id, principal.tenant_slug) == (
        tokens.user_id,
        None,
        tenant.slug,
    )
    assert principal.allows("orders:write") and not principal.allows("keys:write")
    assert not principal.allows("users:read")
    with pytest.raises(UserError) as used:  # an invitation works once
        async with app.db.write(system=True) as session:
            await users.accept_invitation(session, token, PASSWORD)
    assert used.value.code == "INVALID_TOKEN"
    # a tenant of the organization it has no role on stays closed
    async with app.db.write(system=True) as session:
        org = await tenancy.get_organization(session, tenant.organization_slug)
        await tenancy.create_tenant(session, org, f"{tenant.slug}-b")
    tenancy.forget_resolved_keys()
    with pytest.raises(Forbidden):
        await authenticate(app.db, f"Bearer {tokens.access_token}", f"{tenant.slug}-b")


async def test_an_operator_cannot_give_what_it_does_not_hold(app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory(scopes=["orders:read", "users:write"])
    principal = await authenticate(app.db, f"Bearer {tenant.key}", tenant.slug)
    with pytest.raises(UserError) as refused:
        async with app.db.write(system=True) as session:
            await users.invite_user(
                session,
                principal,
                "https://x",
                email="bo@example.com",
                name="Bo",
                roles=[("manager", tenant.slug)],
            )
    assert refused.value.code == "SCOPE_NOT_HELD"


async def test_repeated_failures_lock_the_account_even_against_the_right_password(
    app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    email, _ = await _invited(app, tenant)
    for _ in range(users.MAX_FAILURES):
        with pytest.raises(users.LoginRefused) as wrong:
            await users.login(
                app.db,
                app.vault,
                organization=tenant.organization_slug,
                email=email,
                password="wrong password!",
            )
        assert wrong.value.code == "INVALID_CREDENTIALS"
    with pytest.raises(users.LoginRefused) as locked:
        await users.login(
            app.db, app.vault, organization=tenant.organization_slug, email=email, password=PASSWORD
        )
    assert locked.value.code == "LOCKED" and (locked.value.retry_after or 0) > 60
    async with app.db.system() as session:
        outcomes = [
            a.outcome
            for a in (await session.scalars(select(LoginAttempt).order_by(LoginAttempt.id))).all()
            if a.email == email and a.organization_id == tenant.organization_id
        ]
    assert outcomes == ["succeeded"] + ["invalid_credentials"] * users.MAX_FAILURES + ["locked"]


async def test_parallel_guesses_cannot_slip_past_the_lock(app: Any, tenant_factory: Any) -> None:
    if app.settings.is_sqlite:
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    tenant = await tenant_factory()
    email, _ = await _invited(app, tenant)

    async def guess(i: int) -> str:
        try:
            await users.login(
                app.db,
                app.vault,
                organization=tenant.organization_slug,
                email=email,
                password=f"guess number {i}",
            )
        except users.LoginRefused as exc:
            return exc.code
        return "signed in"

    codes = await asyncio.gather(*(guess(i) for i in range(12)))
    assert codes.count("INVALID_CREDENTIALS") == users.MAX_FAILURES
    assert codes.count("LOCKED") == 12 - users.MAX_FAILURES


async def test_a_link_redeemed_twice_at_once_works_once(app: Any, tenant_factory: Any) -> None:
    """The same password-reset token sent in parallel sets one password and opens one
    session; the others are INVALID_TOKEN. A refresh token sent in parallel rotates once."""
    if app.settings.is_sqlite:
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    tenant = await tenant_factory()
    staff = await make_staff(app, tenant, [("viewer", None)])
    async with app.db.write(system=True) as session:
        user = await session.get(User, staff.user_id)
        assert user is not None
        token = await users.issue_password_reset(session, user)

    async def redeem(i: int) -> str:
        try:
            async with app.db.write(system=True) as session:
                await users.confirm_password_reset(session, token, f"new passphrase number {i}")
        except UserError as exc:
            return exc.code
        return "ok"

    codes = await asyncio.gather(*(redeem(i) for i in range(8)))
    assert sorted(codes) == ["INVALID_TOKEN"] * 7 + ["ok"]
    async with app.db.system() as session:
        opened = await session.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == staff.user_id, UserSession.method == "password_reset")
        )
    assert opened == 1

    signed_in = await users.login(
        app.db,
        app.vault,
        organization=tenant.organization_slug,
        email=staff.email,
        password="new passphrase number " + str(codes.index("ok")),
    )

    async def rotate() -> str:
        try:
            await users.refresh(app.db, signed_in.refresh_token)
        except users.LoginRefused as exc:
            return exc.code
        return "ok"

    rotated = await asyncio.gather(*(rotate() for _ in range(8)))
    # one rotation wins; the first copy after it is a replay of the token it replaced and
    # ends the session (the later ones find it ended): no two clients hold live tokens of it
    assert rotated.count("ok") == 1 and rotated.count("REFRESH_REUSED") >= 1, rotated
    assert set(rotated) <= {"ok", "REFRESH_REUSED", "REFRESH_INVALID"}, rotated
    async with app.db.system() as session:
        ended = await session.get(UserSession, signed_in.session_id)
    assert ended is not None and ended.revoked_at is not None


async def test_a_second_factor_is_asked_for_and_a_code_works_once(app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    email, _ = await _invited(app, tenant)
    async with app.db.system() as session:
        user_id = await session.scalar(
            select(User.id).where(User.email == email, User.organization_id == tenant.organization_id)
        )
    async with app.db.write(system=True) as session:
        secret, uri = await users.totp_enroll(session, app.vault, user_id)
    assert uri.startswith("otpauth://totp/")
    code = pyotp.TOTP(secret).now()
    async with app.db.write(system=True) as session:
        await users.totp_confirm(session, app.vault, user_id, code)
    org = tenant.organization_slug
    with pytest.raises(users.LoginRefused) as needed:
        await users.login(app.db, app.vault, organization=org, email=email, password=PASSWORD)
    assert needed.value.code == "TOTP_REQUIRED"
    with pytest.raises(users.LoginRefused) as replayed:  # the code confirming it is spent
        await users.login(app.db, app.vault, organization=org, email=email, password=PASSWORD, totp=code)
    assert replayed.value.code == "TOTP_INVALID"


async def test_a_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(
    app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    email, _ = await _invited(app, tenant)
    first = await users.login(
        app.db, app.vault, organization=tenant.organization_slug, email=email, password=PASSWORD
    )
    second = await users.refresh(app.db, first.refresh_token)
    assert second.session_id == first.session_id and second.access_token != first.access_token
    # the replaced token's prefix with another secret is no replay: it ends nothing
    forged = "_".join(first.refresh_token.split("_", 2)[:2]) + "_" + "x" * 43
    with pytest.raises(users.LoginRefused) as unknown:
        await users.refresh(app.db, forged)
    assert unknown.value.code == "REFRESH_INVALID"
    with pytest.raises(Unauthenticated):  # the replaced access token is gone
        await authenticate(app.db, f"Bearer {first.access_token}", None)
    await authenticate(app.db, f"Bearer {second.access_token}", None)
    with pytest.raises(users.LoginRefused) as reused:
        await users.refresh(app.db, first.refresh_token)
    assert reused.value.code == "REFRESH_REUSED"
    with pytest.raises(Unauthenticated):  # the whole session is revoked
        await authenticate(app.db, f"Bearer {second.access_token}", None)
    with pytest.raises(users.LoginRefused):
        await users.refresh(app.db, second.refresh_token)


async def test_the_daily_purge_keeps_what_serves_and_drops_what_expired(
    app: Any, tenant_factory: Any
) -> None:
    from datetime import timedelta

    from crossdock.jobs import JOBS

    tenant = await tenant_factory()
    staff = await make_staff(app, tenant, [("viewer", None)])
    with pytest.raises(users.LoginRefused):
        await users.login(
            app.db,
            app.vault,
            organization=tenant.organization_slug,
            email=staff.email,
            password="wrong one!!",
        )
    ctx = app.job_context()
    now = utcnow()

    async def left() -> tuple[int, int, int, int]:
        async with app.db.system() as session:

            async def count(model: Any) -> int:
                return int(
                    await session.scalar(
                        select(func.count()).select_from(model).where(model.user_id == staff.user_id)
                    )
                    or 0
                )

            mails = await session.scalar(
                select(func.count()).select_from(MailOutbox).where(MailOutbox.to == staff.email)
            )
            return (
                await count(UserSession),
                await count(UserToken),
                await count(LoginAttempt),
                int(mails or 0),
            )

    before = await left()
    assert before[0] == 1 and before[2] == 2 and before[3] == 1  # a session; two attempts; the invitation
    await JOBS["account_purge"](ctx, now=now + timedelta(days=29))
    sessions, tokens, attempts, mails = await left()
    assert (sessions, attempts, mails) == (1, 2, 1) and tokens == 0  # the used invitation went
    await JOBS["account_purge"](ctx, now=now + timedelta(days=31))
    assert await left() == (1, 0, 2, 0)  # the mail and its expired link are gone
    await JOBS["account_purge"](ctx, now=now + timedelta(days=61))
    assert await left() == (0, 0, 2, 0)  # the session's refresh expired a month ago
    await JOBS["account_purge"](ctx, now=now + timedelta(days=364))
    assert await left() == (0, 0, 2, 0)
    await JOBS["account_purge"](ctx, now=now + timedelta(days=366))
    assert await left() == (0, 0, 0, 0)
