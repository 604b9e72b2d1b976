"""Staff: users of an organization, their roles per tenant, their sessions, one-time tokens
(password resets, invitations), login attempts, the server's mail, and the organization's
identity providers (single sign-on). :mod:`crossdock.services.users` holds the rules.

None of these rows is tenant-owned: a user, a role and an identity provider belong to the
organization, and what a user reaches is named by its role assignments (a tenant, or every
tenant of the organization when ``tenant_id`` is empty).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, utcnow

__all__ = [
    "IdentityProviderRow",
    "LoginAttempt",
    "LoginMethod",
    "LoginOutcome",
    "MailOutbox",
    "MailStatus",
    "PendingLogin",
    "Role",
    "RoleAssignment",
    "User",
    "UserIdentity",
    "UserSession",
    "UserToken",
    "UserTokenKind",
]


class LoginMethod(StrEnum):
    """How a session was signed in."""

    PASSWORD = "password"
    SSO = "sso"  #: through the organization's identity provider
    INVITATION = "invitation"  #: by accepting an invitation (choosing a password)
    PASSWORD_RESET = "password_reset"  #: by resetting the password


class LoginOutcome(StrEnum):
    """What became of a login attempt (each is recorded)."""

    SUCCEEDED = "succeeded"
    #: an unknown e-mail or a wrong password (the answer does not say which)
    INVALID_CREDENTIALS = "invalid_credentials"
    TOTP_REQUIRED = "totp_required"  #: right password; a second factor is needed
    TOTP_INVALID = "totp_invalid"
    LOCKED = "locked"  #: too many failures: the account waits
    RATE_LIMITED = "rate_limited"  #: too many attempts from one address
    DISABLED = "disabled"  #: the user was disabled
    SSO_REFUSED = "sso_refused"  #: the identity provider's answer did not verify
    SSO_UNKNOWN_USER = "sso_unknown_user"  #: verified, but no such user in the organization


class UserTokenKind(StrEnum):
    PASSWORD_RESET = "password_reset"
    INVITATION = "invitation"


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: no mailer is configured (``CROSSDOCK_MAILER``): kept, never sent
    UNSENT = "unsent"


class User(Base):
    """A staff member of an organization, signed in by e-mail and password (argon2id hash),
    optionally with a TOTP second factor, or through the organization's identity provider.

    ``failed_logins`` counts consecutive failures; reaching the limit sets ``locked_until``.
    An invited user has no password until the invitation is accepted.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    organization_id: Mapped[int] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: the TOTP secret, encrypted with the server's vault; ``totp_enabled`` once confirmed
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: the last TOTP time step accepted (a code is never accepted twice)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class Role(Base):
    """A named set of scopes of an organization. The built-in roles (owner, manager,
    operator, viewer) are rows too, made with the organization; their scopes are the code's
    (:data:`crossdock.services.users.BUILTIN_ROLES`), so new scopes reach them."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[int] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(String(500), default="")
    builtin: Mapped[bool] = mapped_column(default=False)
    scopes: Mapped[list[str]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoleAssignment(Base):
    """A user holds a role on one tenant, or on every tenant of the organization (present
    and future) when ``tenant_id`` is empty: an agency's staff across its brands, a
    brand's own staff on that brand only."""

    __tablename__ = "role_assignments"
    __table_args__ = (Index("ix_role_assignments_user", "user_id"),)

    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ID, ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int | None] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """One signed-in session: a short-lived access token and a refresh token, both stored as
    SHA-256 and looked up by their public prefixes. A refresh replaces both; the refresh
    token it replaced is remembered, and presenting it again (a stolen token replayed)
    revokes the session."""

    __tablename__ = "user_sessions"

    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ID, ForeignKey("organizations.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))
    access_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    access_hash: Mapped[str] = mapped_column(String(64))
    access_expires_at: Mapped[datetime]
    refresh_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    refresh_hash: Mapped[str] = mapped_column(String(64))
    refresh_expires_at: Mapped[datetime]
    #: the prefix of the refresh token the last refresh replaced (its reuse revokes)
    previous_refresh_prefix: Mapped[str | None] = mapped_column(String(16), index=True)
    #: and its SHA-256: only that very token is a replay
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(64))
    refreshed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    source_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)


class UserToken(Base):
    """A one-time token mailed to a user (a password reset, an invitation), stored as
    SHA-256; used once, before it expires."""

    __tablename__ = "user_tokens"

    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    """Every login attempt, successful or not: the audit of logins, and what the per-address
    rate limit counts."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_ip_at", "source_ip", "at"),
        Index("ix_login_attempts_org_at", "organization_id", "at"),
    )

    organization_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(254), default="")
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)


class MailOutbox(Base):
    """A message the server sends (through the mailer plugin, by the mail job). Its text is
    blanked once sent: it may carry a one-time link."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status", "status"),)

    organization_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    #: a sender holds the message until then (a claim, so two workers never both send it)
    claimed_until: Mapped[datetime | None]
    #: when a failed send is tried again
    next_attempt_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class IdentityProviderRow(Base):
    """An organization's single sign-on: an identity plugin (``provider``, e.g. ``oidc``)
    with the issuer and the client the organization registered there; the client secret is
    encrypted with the server's vault."""

    __tablename__ = "identity_providers"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[int] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    provider: Mapped[str] = mapped_column(String(63))
    issuer: Mapped[str] = mapped_column(String(2048))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[bytes] = mapped_column(LargeBinary)
    options: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class PendingLogin(Base):
    """A single sign-on login between its two steps: its ``state`` (stored as SHA-256),
    nonce and PKCE verifier, and where it returns to, for ten minutes, used once."""

    __tablename__ = "pending_logins"

    identity_provider_id: Mapped[int] = mapped_column(
        ID, ForeignKey("identity_providers.id", ondelete="CASCADE"), index=True
    )
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    #: the server's own path the login returns to (``?redirect=`` of its start), if any
    return_to: Mapped[str | None] = mapped_column(String(2048))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserIdentity(Base):
    """A user's account at an identity provider (issuer and subject), linked at its first
    single sign-on; later logins find the user by it."""

    __tablename__ = "user_identities"
    #: per organization: one person at a shared provider may be staff of several
    __table_args__ = (UniqueConstraint("organization_id", "issuer", "subject"),)

    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ID, ForeignKey("organizations.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(String(2048))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
