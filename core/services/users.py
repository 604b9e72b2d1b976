"""Staff users: passwords, second factor, sessions, roles per tenant, invitations, resets.

**Passwords** are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
recommended parameters) and verified off the event loop. A login that names no user still
verifies against a dummy hash, so the answer takes as long and says as little.

**Failures.** Each wrong password (or second-factor code) adds one to the user's
``failed_logins`` under the user row's lock; the :data:`MAX_FAILURES`-th locks the account
for :data:`LOCK_MINUTES` minutes (a success resets the count). Every attempt is a
``login_attempts`` row: the audit of logins, and what the per-address limit counts
(:data:`ADDRESS_LIMIT` failures in :data:`ADDRESS_WINDOW` from one address, whatever the
accounts). Attempts on one account are serialised by its row lock, so parallel guesses
cannot slip past the limit.

**Sessions.** A login returns an access token (``cda_…``, :data:`ACCESS_TTL`) and a
refresh token (``cdr_…``, :data:`REFRESH_TTL`), stored as SHA-256. A refresh replaces both
and remembers the refresh token it replaced: presenting that one again is a replay (the
token was stolen, or copied) and revokes the session. Sessions are listed and revoked;
a password change or reset revokes every other session, disabling a user revokes all.

**Roles.** A role is a set of scopes; a user holds roles per tenant, or on every tenant of
the organization (present and future). On a tenant a user holds the union of the scopes
of the roles given for that tenant and for all tenants. Nobody gives a role with scopes
they do not hold on that tenant, or on a tenant they do not reach (the rule API keys
follow).

**Mail** (password resets, invitations) is written to ``mail_outbox`` in the same
transaction and sent by the ``send_mail`` job through the mailer plugin
(:mod:`crossdock.services.mail`).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import Database, utcnow
from crossdock.db.models import (
    LoginAttempt,
    LoginMethod,
    LoginOutcome,
    Organization,
    Role,
    RoleAssignment,
    Tenant,
    User,
    UserSession,
    UserToken,
    UserTokenKind,
)
from crossdock.errors import CrossdockError, Forbidden, NotFound, Unauthenticated, UserError
from crossdock.security import (
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    SCOPES,
    Scope,
    Vault,
    generate_token,
    hash_secret,
    split_token,
)

__all__ = [
    "ACCESS_TTL",
    "ADDRESS_LIMIT",
    "ADDRESS_WINDOW",
    "BUILTIN_ROLES",
    "LOCK_MINUTES",
    "MAX_FAILURES",
    "REFRESH_TTL",
    "Access",
    "LoginRefused",
    "Tokens",
    "accept_invitation",
    "access_of",
    "change_password",
    "confirm_password_reset",
    "ensure_builtin_roles",
    "hash_password",
    "login",
    "logout",
    "refresh",
    "request_password_reset",
]

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
RESET_TTL = timedelta(hours=1)
INVITATION_TTL = timedelta(days=7)
MAX_FAILURES = 5
LOCK_MINUTES = 15
ADDRESS_LIMIT = 30
ADDRESS_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 256
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

_READ = frozenset(s for s in SCOPES if s.endswith(":read"))
_STAFF_ONLY = frozenset({Scope.KEYS_READ, Scope.USERS_READ, Scope.AUDIT_READ, Scope.USAGE_READ})

#: The built-in roles: name -> (scopes, description). Their scopes are the code's, so a
#: scope added later reaches them.
BUILTIN_ROLES: Mapping[str, tuple[frozenset[str], str]] = {
    "owner": (frozenset({Scope.ADMIN}), "everything, on the tenants it is given for"),
    "manager": (
        frozenset(SCOPES) - {Scope.ADMIN, Scope.KEYS_WRITE, Scope.TENANTS_WRITE, Scope.USERS_WRITE},
        "runs the operation: every read and write but API keys, tenants and staff",
    ),
    "operator": (
        (_READ - _STAFF_ONLY)
        | {
            Scope.CATALOG_WRITE,
            Scope.INVENTORY_WRITE,
            Scope.ORDERS_WRITE,
            Scope.MESSAGES_WRITE,
            Scope.ANALYTICS_WRITE,
            Scope.BULK_WRITE,
        },
        "day-to-day work: orders, stock, catalog, buyer messages",
    ),
    "viewer": (_READ - _STAFF_ONLY, "reads what operators see"),
}

_hasher = PasswordHasher()
#: Verified against when no user matches, so an unknown e-mail costs what a known one does.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginRefused(CrossdockError):
    """A login (or refresh) that did not succeed: ``code`` says why (a
    :class:`~crossdock.db.models.LoginOutcome`'s upper-case name, or ``REFRESH_INVALID`` /
    ``REFRESH_REUSED``); ``retry_after`` in seconds for ``LOCKED`` and ``RATE_LIMITED``."""

    def __init__(self, message: str, *, code: str, retry_after: int | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Tokens:
    """What a login or a refresh returns (the plaintexts are never stored)."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    session_id: int
    user_id: int


# --------------------------------------------------------------------------- passwords


def check_password(password: str, email: str = "") -> None:
    """Refuse a password too short, too long, or the e-mail itself (NIST SP 800-63B's
    rules: length, not composition)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(
            f"a password of {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            field="password",
            code="WEAK_PASSWORD",
        )
    if email and password.strip().lower() == email.lower():
        raise UserError("the password cannot be the e-mail address", field="password", code="WEAK_PASSWORD")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs rehash); an empty or broken hash never matches."""

    def run() -> tuple[bool, bool]:
        try:
            _hasher.verify(password_hash or _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if password_hash is None:
            return False, False
        return True, _hasher.check_needs_rehash(password_hash)

    return await asyncio.to_thread(run)


def normal_email(email: str, field: str = "email") -> str:
    value = email.strip().lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise UserError("not an e-mail address", field=field, code="INVALID_EMAIL")
    return value


# --------------------------------------------------------------------------- roles


def role_scopes(role: Role) -> frozenset[str]:
    builtin = BUILTIN_ROLES.get(role.name) if role.builtin else None
    return builtin[0] if builtin else frozenset(role.scopes or ())


async def ensure_builtin_roles(session: AsyncSession, organization_id: int) -> dict[str, Role]:
    """The organization's built-in role rows, made if missing (a new organization)."""
    found = {
        r.name: r
        for r in (
            await session.scalars(
                select(Role).where(Role.organization_id == organization_id, Role.builtin.is_(True))
            )
        ).all()
    }
    for name, (_, description) in BUILTIN_ROLES.items():
        if name not in found:
            role = Role(organization_id=organization_id, name=name, description=description, builtin=True)
            session.add(role)
            found[name] = role
    await session.flush()
    return found


@dataclass(frozen=True)
class Access:
    """What a user reaches: per tenant id, its scopes; and the scopes given on every tenant
    (present and future) when ``all_tenants``."""

    organization_id: int
    all_tenants: bool
    everywhere: frozenset[str]
    per_tenant: Mapping[int, frozenset[str]]

    def scopes_on(self, tenant_id: int) -> frozenset[str]:
        return self.everywhere | self.per_tenant.get(tenant_id, frozenset())

    def reaches(self, tenant_id: int) -> bool:
        return self.all_tenants or tenant_id in self.per_tenant

    def common_scopes(self) -> frozenset[str]:
        """The scopes held on every tenant reached (what may be given to a key or a role
        reaching them all)."""
        if self.all_tenants:
            return self.everywhere
        sets = [self.scopes_on(t) for t in self.per_tenant]
        if not sets:
            return frozenset()
        common = sets[0]
        for s in sets[1:]:
            common &= s
        return common


async def access_of(session: AsyncSession, user_id: int, organization_id: int) -> Access:
    rows = (
        await session.execute(
            select(RoleAssignment.tenant_id, Role)
            .join(Role, Role.id == RoleAssignment.role_id)
            .where(RoleAssignment.user_id == user_id)
        )
    ).all()
    everywhere: set[str] = set()
    per: dict[int, set[str]] = {}
    all_tenants = False
    for tenant_id, role in rows:
        scopes = role_scopes(role)
        if tenant_id is None:
            all_tenants = True
            everywhere |= scopes
        else:
            per.setdefault(tenant_id, set()).update(scopes)
    return Access(
        organization_id,
        all_tenants,
        frozenset(everywhere),
        {t: frozenset(s) for t, s in per.items()},
    )


def holds(scopes: Iterable[str], wanted: Iterable[str]) -> bool:
    have = set(scopes)
    return Scope.ADMIN in have or set(wanted) <= have


# --------------------------------------------------------------------------- login


@dataclass(frozen=True)
class Client:
    """Where a login comes from (for the audit and the per-address limit)."""

    ip: str | None = None
    user_agent: str | None = None


def record_attempt(
    session: AsyncSession,
    outcome: LoginOutcome,
    *,
    client: Client,
    method: LoginMethod,
    email: str = "",
    organization_id: int | None = None,
    user_id: int | None = None,
) -> None:
    """Write one ``login_attempts`` row (every login is one, whatever became of it)."""
    session.add(
        LoginAttempt(
            organization_id=organization_id,
            user_id=user_id,
            email=email[:254],
            method=method,
            outcome=outcome,
            source_ip=client.ip,
            user_agent=(client.user_agent or "")[:1000] or None,
        )
    )


async def _address_limited(session: AsyncSession, client: Client, now: datetime) -> int | None:
    """Seconds to wait when the address spent its failures, else None."""
    if not client.ip:
        return None
    since = now - ADDRESS_WINDOW
    failed = [
        LoginOutcome.INVALID_CREDENTIALS,
        LoginOutcome.TOTP_INVALID,
        LoginOutcome.LOCKED,
        LoginOutcome.RATE_LIMITED,
    ]
    row = (
        await session.execute(
            select(func.count(), func.min(LoginAttempt.at)).where(
                LoginAttempt.source_ip == client.ip,
                LoginAttempt.at > since,
                LoginAttempt.outcome.in_(failed),
            )
        )
    ).one()
    if (row[0] or 0) < ADDRESS_LIMIT:
        return None
    oldest: datetime = row[1]
    return max(1, int((oldest + ADDRESS_WINDOW - now).total_seconds()) + 1)


def _totp_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step ``code`` is valid for (this one or its neighbours, for clock drift),
    if later than ``after`` (a code is never accepted twice)."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def _new_session(
    session: AsyncSession, user: User, method: LoginMethod, client: Client, now: datetime
) -> Tokens:
    access, refresh_token = generate_token(ACCESS_TOKEN), generate_token(REFRESH_TOKEN)
    row = UserSession(
        user_id=user.id,
        organization_id=user.organization_id,
        method=method,
        access_prefix=access.prefix,
        access_hash=access.key_hash,
        access_expires_at=now + ACCESS_TTL,
        refresh_prefix=refresh_token.prefix,
        refresh_hash=refresh_token.key_hash,
        refresh_expires_at=now + REFRESH_TTL,
        last_used_at=now,
        source_ip=client.ip,
        user_agent=(client.user_agent or "")[:1000] or None,
    )
    session.add(row)
    user.last_login_at = now
    await session.flush()
    return Tokens(
        access.plaintext,
        refresh_token.plaintext,
        row.access_expires_at,
        row.refresh_expires_at,
        row.id,
        user.id,
    )


async def login(
    db: Database,
    vault: Vault,
    *,
    organization: str,
    email: str,
    password: str,
    totp: str | None = None,
    client: Client = Client(),
) -> Tokens:
    """Sign a user in with e-mail and password (and a TOTP code when enabled). Raises
    :class:`LoginRefused`; every attempt is recorded, the failures committed too."""
    refused: LoginRefused | None = None
    tokens: Tokens | None = None
    address = email.strip().lower()[:254]
    async with db.write(system=True) as session:
        now = utcnow()
        org = await session.scalar(select(Organization).where(Organization.slug == organization))
        org_id = org.id if org is not None else None
        wait = await _address_limited(session, client, now)
        if wait is not None:
            record_attempt(
                session,
                LoginOutcome.RATE_LIMITED,
                client=client,
                method=LoginMethod.PASSWORD,
                email=address,
                organization_id=org_id,
            )
            refused = LoginRefused(
                "too many failed logins from this address; wait", code="RATE_LIMITED", retry_after=wait
            )
        else:
            user = (
                await session.scalar(
                    select(User)
                    .where(User.organization_id == org_id, User.email == address)
                    .with_for_update()
                )
                if org_id is not None
                else None
            )
            tokens, refused = await _check_login(
                session, vault, user, org_id, address, password, totp, client, now
            )
    if refused is not None:
        raise refused
    assert tokens is not None
    return tokens


async def _check_login(
    session: AsyncSession,
    vault: Vault,
    user: User | None,
    org_id: int | None,
    address: str,
    password: str,
    totp: str | None,
    client: Client,
    now: datetime,
) -> tuple[Tokens | None, LoginRefused | None]:
    def record(outcome: LoginOutcome) -> None:
        record_attempt(
            session,
            outcome,
            client=client,
            method=LoginMethod.PASSWORD,
            email=address,
            organization_id=org_id,
            user_id=user.id if user is not None else None,
        )

    invalid = LoginRefused("wrong e-mail or password", code="INVALID_CREDENTIALS")
    if user is not None and user.locked_until is not None and user.locked_until > now:
        record(LoginOutcome.LOCKED)
        wait = int((user.locked_until - now).total_seconds()) + 1
        return None, LoginRefused(
            "too many failed logins; the account waits", code="LOCKED", retry_after=wait
        )
    matches, rehash = await _verify(user.password_hash if user is not None else None, password)
    if user is None or not matches:
        record(LoginOutcome.INVALID_CREDENTIALS)
        if user is not None:
            _fail(user, now)
        return None, invalid
    if user.disabled_at is not None:
        record(LoginOutcome.DISABLED)
        return None, LoginRefused("this user is disabled", code="DISABLED")
    if user.totp_enabled and user.totp_secret is not None:
        if not totp:
            record(LoginOutcome.TOTP_REQUIRED)
            return None, LoginRefused("a second-factor code is needed", code="TOTP_REQUIRED")
        secret = str(vault.decrypt(user.totp_secret)["secret"])
        step = _totp_step(secret, totp, now, user.totp_last_step)
        if step is None:
            record(LoginOutcome.TOTP_INVALID)
            _fail(user, now)
            return None, LoginRefused("wrong or used second-factor code", code="TOTP_INVALID")
        user.totp_last_step = step
    if rehash:
        user.password_hash = await hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    record(LoginOutcome.SUCCEEDED)
    return await _new_session(session, user, LoginMethod.PASSWORD, client, now), None


def _fail(user: User, now: datetime) -> None:
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= MAX_FAILURES:
        user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        user.failed_logins = 0


async def sign_in(
    session: AsyncSession, user: User, method: LoginMethod, client: Client, *, email: str = ""
) -> Tokens:
    """A session for a user whose identity was proven otherwise (single sign-on, an
    invitation accepted, a password reset), recorded as a successful login."""
    now = utcnow()
    if user.disabled_at is not None:
        raise LoginRefused("this user is disabled", code="DISABLED")
    record_attempt(
        session,
        LoginOutcome.SUCCEEDED,
        client=client,
        method=method,
        email=email or user.email,
        organization_id=user.organization_id,
        user_id=user.id,
    )
    user.failed_logins = 0
    user.locked_until = None
    return await _new_session(session, user, method, client, now)


async def refresh(db: Database, refresh_token: str, *, client: Client = Client()) -> Tokens:
    """New access and refresh tokens for a live session's current refresh token. The token
    a refresh replaced, presented again, revokes the session (``REFRESH_REUSED``)."""
    parts = split_token(refresh_token.strip())
    if parts is None or parts[0] != REFRESH_TOKEN:
        raise LoginRefused("not a refresh token", code="REFRESH_INVALID")
    prefix = parts[1]
    reused = False
    tokens: Tokens | None = None
    async with db.write(system=True) as session:
        now = utcnow()
        row = await session.scalar(
            select(UserSession).where(UserSession.refresh_prefix == prefix).with_for_update()
        )
        if row is None or not hmac.compare_digest(row.refresh_hash, hash_secret(refresh_token.strip())):
            replayed = await session.scalar(
                select(UserSession).where(UserSession.previous_refresh_prefix == prefix).with_for_update()
            )
            if (
                replayed is not None
                and replayed.revoked_at is None
                and replayed.previous_refresh_hash is not None
                and hmac.compare_digest(replayed.previous_refresh_hash, hash_secret(refresh_token.strip()))
            ):
                replayed.revoked_at = now
                reused = True
        elif row.revoked_at is None and row.refresh_expires_at > now:
            user = await session.get(User, row.user_id)
            if user is not None and user.disabled_at is None:
                access, renewed = generate_token(ACCESS_TOKEN), generate_token(REFRESH_TOKEN)
                row.previous_refresh_prefix = row.refresh_prefix
                row.previous_refresh_hash = row.refresh_hash
                row.access_prefix, row.access_hash = access.prefix, access.key_hash
                row.access_expires_at = now + ACCESS_TTL
                row.refresh_prefix, row.refresh_hash = renewed.prefix, renewed.key_hash
                row.refresh_expires_at = now + REFRESH_TTL
                row.refreshed += 1
                row.last_used_at = now
                if client.ip:
                    row.source_ip = client.ip
                tokens = Tokens(
                    access.plaintext,
                    renewed.plaintext,
                    row.access_expires_at,
                    row.refresh_expires_at,
                    row.id,
                    row.user_id,
                )
    if reused:
        from crossdock.services.tenancy import forget_resolved_keys

        forget_resolved_keys()
        raise LoginRefused(
            "this refresh token was already used: the session is revoked", code="REFRESH_REUSED"
        )
    if tokens is None:
        raise LoginRefused("the refresh token is unknown, expired or revoked", code="REFRESH_INVALID")
    return tokens


async def revoke_sessions(
    session: AsyncSession, user_id: int, *, keep: int | None = None, only: int | None = None
) -> int:
    """Revoke a user's live sessions (all, all but ``keep``, or just ``only``)."""
    from crossdock.services.tenancy import _forget_on_commit

    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    if only is not None:
        stmt = stmt.where(UserSession.id == only)
    result = await session.execute(stmt.values(revoked_at=utcnow()))
    _forget_on_commit(session)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def logout(db: Database, user_id: int, session_id: int) -> None:
    async with db.write(system=True) as session:
        await revoke_sessions(session, user_id, only=session_id)


async def sign_out(db: Database, authorization: str | None) -> None:
    """End the session of ``Authorization: Bearer <access token>``, whatever tenants its
    user reaches (none, or several without ``X-Tenant``); signing out twice is no error.
    :class:`Unauthenticated` for anything but a known access token, :class:`Forbidden` for
    an API key (it has no session: revoke it instead)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    parts = split_token(token) if scheme.lower() == "bearer" else None
    if parts is None or parts[0] == REFRESH_TOKEN:
        raise Unauthenticated("send 'Authorization: Bearer <access token>'")
    if parts[0] != ACCESS_TOKEN:
        raise Forbidden("an API key has no session to sign out of; revoke the key instead")
    async with db.write(system=True) as session:
        row = await session.scalar(
            select(UserSession).where(UserSession.access_prefix == parts[1]).with_for_update()
        )
        if row is None or not hmac.compare_digest(row.access_hash, hash_secret(token)):
            raise Unauthenticated("unknown access token")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            _forget(session)


async def change_password(
    session: AsyncSession, user_id: int, session_id: int | None, current: str, new: str
) -> User:
    """Change one's own password (the current one proven); every other session ends."""
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    matches, _ = await _verify(user.password_hash, current)
    if not matches:
        raise UserError(
            "the current password is wrong", field="input.currentPassword", code="INVALID_CREDENTIALS"
        )
    check_password(new, user.email)
    user.password_hash = await hash_password(new)
    user.password_changed_at = utcnow()
    await revoke_sessions(session, user.id, keep=session_id)
    return user


# --------------------------------------------------------------------------- one-time tokens


async def _issue(session: AsyncSession, user: User, kind: UserTokenKind, ttl: timedelta) -> str:
    """A fresh one-time token (earlier unused ones of the kind stop working)."""
    await session.execute(
        delete(UserToken).where(
            UserToken.user_id == user.id, UserToken.kind == kind, UserToken.used_at.is_(None)
        )
    )
    plaintext = secrets.token_urlsafe(32)
    session.add(
        UserToken(user_id=user.id, kind=kind, token_hash=hash_secret(plaintext), expires_at=utcnow() + ttl)
    )
    await session.flush()
    return plaintext


async def issue_invitation(session: AsyncSession, user: User) -> str:
    """A fresh invitation token for a user (the one mailed before stops working): what
    ``crossdock users invite`` prints, or a resent invitation."""
    return await _issue(session, user, UserTokenKind.INVITATION, INVITATION_TTL)


async def _redeem(session: AsyncSession, token: str, kind: UserTokenKind) -> User:
    """The user a live token of ``kind`` was made for, marking it used (once: the row is
    locked, so two redemptions at once find it used the second time)."""
    row = await session.scalar(
        select(UserToken)
        .where(UserToken.token_hash == hash_secret(token.strip()), UserToken.kind == kind)
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise UserError("the link is unknown, used or expired", field="token", code="INVALID_TOKEN")
    row.used_at = utcnow()
    user = await session.scalar(select(User).where(User.id == row.user_id).with_for_update())
    if user is None or user.disabled_at is not None:
        raise UserError("the link is unknown, used or expired", field="token", code="INVALID_TOKEN")
    return user


async def request_password_reset(
    session: AsyncSession, public_url: str, *, organization: str, email: str
) -> int | None:
    """Mail a reset link to the user, if there is one (the caller answers the same either
    way, so nobody learns which e-mails have accounts). Returns the mail's id, if any."""
    try:
        address = normal_email(email)
    except UserError:
        return None
    user = await session.scalar(
        select(User)
        .join(Organization, Organization.id == User.organization_id)
        .where(Organization.slug == organization, User.email == address, User.disabled_at.is_(None))
        .with_for_update()
    )
    if user is None or user.password_hash is None:
        return None
    return await _reset_mail(session, user, public_url)


async def send_password_reset(
    session: AsyncSession, principal: Any, public_url: str, user_id: int
) -> int | None:
    """Mail a reset link to a user the caller may act on (an administrator's help); None
    when the user has no password to reset (invited, not accepted yet) or is disabled."""
    user, caller = await visible_user(session, principal, user_id, lock=True)
    _may_act_on(caller, await assignments_of(session, user.id))
    if user.password_hash is None or user.disabled_at is not None:
        return None
    return await _reset_mail(session, user, public_url)


async def _reset_mail(session: AsyncSession, user: User, public_url: str) -> int:
    from crossdock.services import mail

    token = await _issue(session, user, UserTokenKind.PASSWORD_RESET, RESET_TTL)
    link = f"{public_url}/auth/password-reset?token={token}"
    return await mail.queue(
        session,
        organization_id=user.organization_id,
        to=user.email,
        subject="Reset your Crossdock password",
        text=(
            f"Someone asked to reset the password of {user.email}.\n\n"
            f"Send the token below to POST {public_url}/auth/password-reset/confirm within an hour "
            f"(or open {link}):\n\n{token}\n\nIf it was not you, ignore this message."
        ),
        tag="password_reset",
    )


async def confirm_password_reset(
    session: AsyncSession, token: str, password: str, client: Client = Client()
) -> Tokens:
    """Set a new password with a reset token; every session ends and a new one begins."""
    user = await _redeem(session, token, UserTokenKind.PASSWORD_RESET)
    check_password(password, user.email)
    user.password_hash = await hash_password(password)
    user.password_changed_at = utcnow()
    await revoke_sessions(session, user.id)
    return await sign_in(session, user, LoginMethod.PASSWORD_RESET, client)


async def accept_invitation(
    session: AsyncSession, token: str, password: str, name: str | None = None, client: Client = Client()
) -> Tokens:
    """Choose a password with an invitation token, and sign in."""
    user = await _redeem(session, token, UserTokenKind.INVITATION)
    check_password(password, user.email)
    user.password_hash = await hash_password(password)
    user.password_changed_at = utcnow()
    if name is not None and name.strip():
        user.name = name.strip()[:200]
    return await sign_in(session, user, LoginMethod.INVITATION, client)


# --------------------------------------------------------------------------- second factor


async def totp_enroll(
    session: AsyncSession, vault: Vault, user_id: int, issuer: str = "Crossdock"
) -> tuple[str, str]:
    """A new TOTP secret for the user (not in force until confirmed): the secret and its
    ``otpauth://`` URI for an authenticator app."""
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    if user.totp_enabled:
        raise UserError("a second factor is already on; turn it off first", code="INVALID_STATE")
    secret = pyotp.random_base32()
    user.totp_secret = vault.encrypt({"secret": secret})
    await session.flush()
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


async def totp_confirm(session: AsyncSession, vault: Vault, user_id: int, code: str) -> User:
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    if user.totp_secret is None or user.totp_enabled:
        raise UserError("enroll first", code="INVALID_STATE")
    step = _totp_step(str(vault.decrypt(user.totp_secret)["secret"]), code, utcnow(), None)
    if step is None:
        raise UserError("wrong code", field="input.code", code="TOTP_INVALID")
    user.totp_enabled, user.totp_last_step = True, step
    return user


async def totp_disable(session: AsyncSession, user_id: int, password: str) -> User:
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    matches, _ = await _verify(user.password_hash, password)
    if not matches:
        raise UserError("the password is wrong", field="input.password", code="INVALID_CREDENTIALS")
    user.totp_enabled, user.totp_secret, user.totp_last_step = False, None, None
    return user


# --------------------------------------------------------------------------- management


@dataclass(frozen=True)
class Grant:
    """A role to give: a role row of the organization, on a tenant or (None) on all."""

    role: Role
    tenant: Tenant | None


async def caller_access(session: AsyncSession, principal: Any) -> Access:
    """What the caller (a user, or an API key) may hand on, as an :class:`Access`."""
    if principal.user_id is not None:
        return await access_of(session, principal.user_id, principal.organization_id)
    from crossdock.services.tenancy import reach_of

    reach = await reach_of(session, principal)
    if reach.all_tenants:
        return Access(reach.organization_id, True, reach.scopes, {})
    return Access(reach.organization_id, False, frozenset(), {t: reach.scopes for t in reach.tenant_ids})


async def reaches_every_tenant(session: AsyncSession, principal: Any) -> bool:
    """Whether the caller reaches every tenant the organization has (on all of them, or
    on each one there is): who may change what holds for the whole organization."""
    caller = await caller_access(session, principal)
    if caller.all_tenants:
        return True
    every = set(
        (
            await session.scalars(select(Tenant.id).where(Tenant.organization_id == caller.organization_id))
        ).all()
    )
    return every <= set(caller.per_tenant)


def _may_give(caller: Access, grant: Grant, field: str) -> None:
    scopes = role_scopes(grant.role)
    if grant.tenant is None:
        if not caller.all_tenants:
            raise UserError(
                "only someone reaching every tenant can give a role on all of them",
                field=field,
                code="TENANT_NOT_REACHED",
            )
        held = caller.everywhere
    else:
        if not caller.reaches(grant.tenant.id):
            raise UserError(
                f"you do not reach tenant {grant.tenant.slug!r}", field=field, code="TENANT_NOT_REACHED"
            )
        held = caller.scopes_on(grant.tenant.id)
    if not holds(held, scopes):
        beyond = sorted(set(scopes) - set(held))
        raise UserError(
            f"you cannot give a role with scopes you do not hold there: {', '.join(beyond)}",
            field=field,
            code="SCOPE_NOT_HELD",
        )


def covers(caller: Access, assignments: Sequence[tuple[int | None, Role]]) -> bool:
    """Whether the caller reaches every tenant a user's roles are on (so may see and manage
    the user); a user with no role is seen by those reaching every tenant only."""
    if caller.all_tenants:
        return True
    return bool(assignments) and all(t is not None and caller.reaches(t) for t, _ in assignments)


async def resolve_grants(
    session: AsyncSession, organization_id: int, wanted: Sequence[tuple[str, str | None]], field: str
) -> list[Grant]:
    """``(role name, tenant slug or None)`` pairs as :class:`Grant`s of the organization."""
    await ensure_builtin_roles(session, organization_id)
    grants: list[Grant] = []
    for i, (role_name, slug) in enumerate(wanted):
        role = await session.scalar(
            select(Role).where(Role.organization_id == organization_id, Role.name == role_name)
        )
        if role is None:
            raise NotFound(f"no role {role_name!r}", field=f"{field}.{i}.role")
        tenant = None
        if slug is not None:
            tenant = await session.scalar(
                select(Tenant).where(Tenant.organization_id == organization_id, Tenant.slug == slug)
            )
            if tenant is None:
                raise UserError(
                    f"you do not reach tenant {slug!r}",
                    field=f"{field}.{i}.tenant",
                    code="TENANT_NOT_REACHED",
                )
        grants.append(Grant(role, tenant))
    return grants


async def add_user(
    session: AsyncSession, organization_id: int, email: str, name: str, grants: Sequence[Grant]
) -> User:
    """A new user of the organization holding ``grants``, with no password yet (what an
    invitation or ``crossdock users invite`` makes; the caller checked the grants)."""
    address = normal_email(email, "input.email")
    user = User(organization_id=organization_id, email=address, name=name.strip()[:200])
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"{address} is already a user", field="input.email", code="TAKEN") from None
    for grant in grants:
        session.add(
            RoleAssignment(
                user_id=user.id, role_id=grant.role.id, tenant_id=grant.tenant.id if grant.tenant else None
            )
        )
    await session.flush()
    return user


async def issue_password_reset(session: AsyncSession, user: User) -> str:
    """A fresh password-reset token for a user (what ``crossdock users reset`` prints)."""
    return await _issue(session, user, UserTokenKind.PASSWORD_RESET, RESET_TTL)


async def invite_user(
    session: AsyncSession,
    principal: Any,
    public_url: str,
    *,
    email: str,
    name: str,
    roles: Sequence[tuple[str, str | None]],
) -> tuple[User, int | None]:
    """Invite a staff member with roles (at least one, none beyond the caller's); mails an
    invitation link. Returns the user and the mail's id."""
    from crossdock.services import mail

    address = normal_email(email, "input.email")
    if not roles:
        raise UserError("give the new user at least one role", field="input.roles", code="REQUIRED")
    caller = await caller_access(session, principal)
    grants = await resolve_grants(session, principal.organization_id, roles, "input.roles")
    for i, grant in enumerate(grants):
        _may_give(caller, grant, f"input.roles.{i}")
    user = await add_user(session, principal.organization_id, address, name, grants)
    token = await _issue(session, user, UserTokenKind.INVITATION, INVITATION_TTL)
    org = await session.get(Organization, principal.organization_id)
    mail_id = await mail.queue(
        session,
        organization_id=principal.organization_id,
        to=address,
        subject=f"You are invited to {org.name if org else 'Crossdock'} on Crossdock",
        text=(
            f"You were invited to {org.name if org else 'an organization'} on Crossdock.\n\n"
            f"Choose your password within {INVITATION_TTL.days} days: send the token below to "
            f"POST {public_url}/auth/invitation/accept\n\n{token}\n"
        ),
        tag="invitation",
    )
    await session.flush()
    return user, mail_id


async def visible_user(
    session: AsyncSession, principal: Any, user_id: int, *, lock: bool = False, field: str = "id"
) -> tuple[User, Access]:
    """A user of the caller's organization the caller covers (:func:`covers`); NOT_FOUND
    otherwise (another organization's looks the same)."""
    stmt = select(User).where(User.id == user_id, User.organization_id == principal.organization_id)
    if lock:
        stmt = stmt.with_for_update()
    user = await session.scalar(stmt)
    caller = await caller_access(session, principal)
    if user is None or not covers(caller, await assignments_of(session, user.id)):
        raise NotFound("no such user", field=field)
    return user, caller


async def assignments_of(session: AsyncSession, user_id: int) -> list[tuple[int | None, Role]]:
    return [
        (t, r)
        for t, r in (
            await session.execute(
                select(RoleAssignment.tenant_id, Role)
                .join(Role, Role.id == RoleAssignment.role_id)
                .where(RoleAssignment.user_id == user_id)
                .order_by(RoleAssignment.id)
            )
        ).all()
    ]


async def grant_role(
    session: AsyncSession, principal: Any, user_id: int, role: str, tenant: str | None
) -> User:
    user, caller = await visible_user(session, principal, user_id, lock=True, field="userId")
    [grant] = await resolve_grants(session, principal.organization_id, [(role, tenant)], "input")
    _may_give(caller, grant, "input.role")
    tenant_id = grant.tenant.id if grant.tenant else None
    existing = await session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.role_id == grant.role.id,
            RoleAssignment.tenant_id.is_(None)
            if tenant_id is None
            else RoleAssignment.tenant_id == tenant_id,
        )
    )
    if existing is None:  # the user row's lock serialises two grants of the same role
        session.add(RoleAssignment(user_id=user.id, role_id=grant.role.id, tenant_id=tenant_id))
        await session.flush()
        _forget(session)
    return user


async def revoke_role(
    session: AsyncSession, principal: Any, user_id: int, role: str, tenant: str | None
) -> User:
    user, caller = await visible_user(session, principal, user_id, lock=True, field="userId")
    [grant] = await resolve_grants(session, principal.organization_id, [(role, tenant)], "input")
    _may_give(caller, grant, "input.role")  # taking a role away needs what giving it does
    tenant_id = grant.tenant.id if grant.tenant else None
    await session.execute(
        delete(RoleAssignment).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.role_id == grant.role.id,
            RoleAssignment.tenant_id.is_(None)
            if tenant_id is None
            else RoleAssignment.tenant_id == tenant_id,
        )
    )
    _forget(session)
    return user


async def set_disabled(session: AsyncSession, principal: Any, user_id: int, disabled: bool) -> User:
    user, caller = await visible_user(session, principal, user_id, lock=True)
    if principal.user_id == user.id and disabled:
        raise UserError("you cannot disable yourself", field="input.id", code="INVALID_STATE")
    _may_act_on(caller, await assignments_of(session, user.id))
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        await revoke_sessions(session, user.id)
    elif not disabled:
        user.disabled_at = None
    return user


def _check_role_input(name: str, scopes: Iterable[str]) -> tuple[str, list[str]]:
    text = name.strip()
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", text):
        raise UserError(
            "1-63 lower-case letters, digits, hyphens and underscores", field="input.name", code="INVALID"
        )
    if text in BUILTIN_ROLES:
        raise UserError(f"{text!r} is a built-in role", field="input.name", code="TAKEN")
    wanted = sorted(set(scopes))
    if not wanted:
        raise UserError("a role needs at least one scope", field="input.scopes", code="REQUIRED")
    return text, wanted


async def create_role(
    session: AsyncSession, principal: Any, name: str, scopes: Iterable[str], description: str = ""
) -> Role:
    text, wanted = _check_role_input(name, scopes)
    caller = await caller_access(session, principal)
    if not holds(caller.common_scopes(), wanted):
        raise UserError(
            "a role cannot hold scopes you do not hold", field="input.scopes", code="SCOPE_NOT_HELD"
        )
    await ensure_builtin_roles(session, principal.organization_id)
    role = Role(
        organization_id=principal.organization_id, name=text, scopes=wanted, description=description[:500]
    )
    session.add(role)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"a role {text!r} exists", field="input.name", code="TAKEN") from None
    return role


async def _custom_role(session: AsyncSession, principal: Any, role_id: int) -> Role:
    role = await session.scalar(
        select(Role)
        .where(Role.id == role_id, Role.organization_id == principal.organization_id)
        .with_for_update()
    )
    if role is None:
        raise NotFound("no such role", field="id")
    if role.builtin:
        raise UserError("the built-in roles cannot be changed", field="input.id", code="INVALID_STATE")
    caller = await caller_access(session, principal)
    if not holds(caller.common_scopes(), role_scopes(role)):
        raise UserError("this role holds scopes you do not hold", field="input.id", code="SCOPE_NOT_HELD")
    return role


async def update_role(
    session: AsyncSession,
    principal: Any,
    role_id: int,
    *,
    scopes: Iterable[str] | None,
    description: str | None,
) -> Role:
    role = await _custom_role(session, principal, role_id)
    if scopes is not None:
        _, wanted = _check_role_input(role.name, scopes)
        caller = await caller_access(session, principal)
        if not holds(caller.common_scopes(), wanted):
            raise UserError(
                "a role cannot hold scopes you do not hold", field="input.scopes", code="SCOPE_NOT_HELD"
            )
        role.scopes = wanted
        _forget(session)
    if description is not None:
        role.description = description[:500]
    return role


async def delete_role(session: AsyncSession, principal: Any, role_id: int) -> Role:
    role = await _custom_role(session, principal, role_id)
    await session.delete(role)  # its assignments go with it (ON DELETE CASCADE)
    await session.flush()
    _forget(session)
    return role


def _forget(session: AsyncSession) -> None:
    from crossdock.services.tenancy import _forget_on_commit

    _forget_on_commit(session)


# --------------------------------------------------------------------------- authentication


async def resolve_access_token(
    session: AsyncSession, token: str, prefix: str, tenant_slug: str | None
) -> dict[str, Any]:
    """The live session of an access token and the tenant it acts on, as
    :func:`crossdock.services.tenancy.authenticate` builds a principal from:
    ``{user_id, session_id, organization_id, name, tenant_id, tenant_slug, scopes}``."""
    now = utcnow()
    row = (
        await session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.access_prefix == prefix)
        )
    ).first()
    if row is None or not hmac.compare_digest(row[0].access_hash, hash_secret(token)):
        raise Unauthenticated("unknown access token")
    sess, user = row
    if sess.revoked_at is not None:
        raise Unauthenticated("this session was signed out")
    if sess.access_expires_at <= now:
        raise Unauthenticated("the access token expired; refresh it")
    if user.disabled_at is not None:
        raise Unauthenticated("this user is disabled")
    access = await access_of(session, user.id, user.organization_id)
    stmt = (
        select(Tenant.id, Tenant.slug)
        .where(Tenant.organization_id == user.organization_id)
        .order_by(Tenant.id)
    )
    if not access.all_tenants:
        stmt = stmt.where(Tenant.id.in_(list(access.per_tenant) or [-1]))
    from crossdock.services.tenancy import choose_tenant

    tenant = choose_tenant(
        [(t[0], t[1]) for t in (await session.execute(stmt)).all()], tenant_slug, "your roles"
    )
    return {
        "user_id": user.id,
        "session_id": sess.id,
        "organization_id": user.organization_id,
        "name": user.email,
        "tenant_id": tenant[0],
        "tenant_slug": tenant[1],
        "scopes": access.scopes_on(tenant[0]),
    }


# --------------------------------------------------------------------------- reading

#: The most users, sessions or login attempts one list shows.
MAX_LISTED = 500


async def roles_of(session: AsyncSession, organization_id: int) -> list[Role]:
    """The organization's roles: the built-in ones first, then the custom ones by name."""
    await ensure_builtin_roles(session, organization_id)
    rows = (await session.scalars(select(Role).where(Role.organization_id == organization_id))).all()
    order = {name: i for i, name in enumerate(BUILTIN_ROLES)}
    return sorted(rows, key=lambda r: (not r.builtin, order.get(r.name, 0), r.name))


async def visible_users(
    session: AsyncSession, principal: Any, *, disabled: bool | None = None
) -> list[tuple[User, list[tuple[int | None, Role]]]]:
    """The organization's users the caller covers (:func:`covers`), with their roles, by
    e-mail; ``disabled`` keeps only disabled (True) or enabled (False) ones."""
    caller = await caller_access(session, principal)
    stmt = (
        select(User)
        .where(User.organization_id == principal.organization_id)
        .order_by(User.email)
        .limit(MAX_LISTED)
    )
    if disabled is not None:
        stmt = stmt.where(User.disabled_at.is_not(None) if disabled else User.disabled_at.is_(None))
    found = list((await session.scalars(stmt)).all())
    held: dict[int, list[tuple[int | None, Role]]] = {u.id: [] for u in found}
    if found:
        for user_id, tenant_id, role in (
            await session.execute(
                select(RoleAssignment.user_id, RoleAssignment.tenant_id, Role)
                .join(Role, Role.id == RoleAssignment.role_id)
                .where(RoleAssignment.user_id.in_(list(held)))
                .order_by(RoleAssignment.id)
            )
        ).all():
            held[user_id].append((tenant_id, role))
    return [(u, held[u.id]) for u in found if covers(caller, held[u.id])]


async def tenant_slugs(session: AsyncSession, organization_id: int) -> dict[int, str]:
    return {
        t: s
        for t, s in (
            await session.execute(
                select(Tenant.id, Tenant.slug).where(Tenant.organization_id == organization_id)
            )
        ).all()
    }


def own_id(principal: Any) -> int:
    """The signed-in user's id; ``NOT_A_USER`` for an API key."""
    if principal.user_id is None:
        raise UserError("only a signed-in user has an account of their own", code="NOT_A_USER")
    return int(principal.user_id)


async def sessions_of(session: AsyncSession, principal: Any, user_id: int | None = None) -> list[UserSession]:
    """A user's live sessions, newest first: the caller's own (``user_id`` None), or a user
    the caller covers."""
    if user_id is None or user_id == principal.user_id:
        owner = own_id(principal)
    else:
        owner = (await visible_user(session, principal, user_id))[0].id
    now = utcnow()
    return list(
        (
            await session.scalars(
                select(UserSession)
                .where(
                    UserSession.user_id == owner,
                    UserSession.revoked_at.is_(None),
                    UserSession.refresh_expires_at > now,
                )
                .order_by(UserSession.id.desc())
                .limit(MAX_LISTED)
            )
        ).all()
    )


async def revoke_session(
    session: AsyncSession, principal: Any, session_id: int, *, manage: bool
) -> UserSession:
    """End one session: the caller's own, or (``manage``: the caller holds ``users:write``)
    one of a user the caller covers and holds no scope beyond the caller's."""
    row = await session.scalar(
        select(UserSession)
        .where(UserSession.id == session_id, UserSession.organization_id == principal.organization_id)
        .with_for_update()
    )
    if row is None or (row.user_id != principal.user_id and not manage):
        raise NotFound("no such session", field="id")
    if row.user_id != principal.user_id:
        try:
            _, caller = await visible_user(session, principal, row.user_id)
        except NotFound:
            raise NotFound("no such session", field="id") from None
        _may_act_on(caller, await assignments_of(session, row.user_id))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _forget(session)
    return row


def _may_act_on(caller: Access, assignments: Sequence[tuple[int | None, Role]]) -> None:
    for tenant_id, role in assignments:
        held = caller.everywhere if tenant_id is None else caller.scopes_on(tenant_id)
        if not holds(held, role_scopes(role)):
            raise UserError("that user holds scopes you do not hold", field="input.id", code="SCOPE_NOT_HELD")


async def login_attempts(
    session: AsyncSession,
    principal: Any,
    *,
    email: str | None = None,
    outcome: LoginOutcome | None = None,
    limit: int = 100,
) -> list[LoginAttempt]:
    """The organization's login attempts, newest first: all of them for a caller reaching
    every tenant, else those of the users the caller covers."""
    caller = await caller_access(session, principal)
    stmt = (
        select(LoginAttempt)
        .where(LoginAttempt.organization_id == principal.organization_id)
        .order_by(LoginAttempt.id.desc())
        .limit(max(1, min(limit, MAX_LISTED)))
    )
    if email:
        stmt = stmt.where(LoginAttempt.email == email.strip().lower())
    if outcome is not None:
        stmt = stmt.where(LoginAttempt.outcome == outcome)
    if not caller.all_tenants:
        seen = [u.id for u, _ in await visible_users(session, principal)]
        stmt = stmt.where(LoginAttempt.user_id.in_(seen or [-1]))
    return list((await session.scalars(stmt)).all())


# --------------------------------------------------------------------------- retention

#: How long login attempts are kept (the audit log's default retention).
LOGIN_RETENTION = timedelta(days=365)
#: How long an ended session is kept, and mail (whose text holds a one-time link).
ENDED_KEPT = timedelta(days=30)


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    """Delete what no longer serves: single sign-on logins and one-time tokens a day past
    their expiry, sessions ended or expired more than :data:`ENDED_KEPT` ago, mail written
    that long ago (its links expired), login attempts older than
    :data:`LOGIN_RETENTION`. Returns how many rows of each went."""
    from crossdock.db.models import MailOutbox, PendingLogin

    now = now or utcnow()
    ended = now - ENDED_KEPT
    statements = {
        "pending_logins": delete(PendingLogin).where(PendingLogin.expires_at < now - timedelta(days=1)),
        "user_tokens": delete(UserToken).where(UserToken.expires_at < now - timedelta(days=1)),
        "user_sessions": delete(UserSession).where(
            (UserSession.refresh_expires_at < ended) | (UserSession.revoked_at < ended)
        ),
        # whatever its status: the one-time link it carries is long expired
        "mail_outbox": delete(MailOutbox).where(MailOutbox.created_at < ended),
        "login_attempts": delete(LoginAttempt).where(LoginAttempt.at < now - LOGIN_RETENTION),
    }
    counts: dict[str, int] = {}
    for name, statement in statements.items():
        result = await session.execute(statement)
        counts[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return counts
