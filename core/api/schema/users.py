"""Staff users, roles and sessions over the API (:mod:`crossdock.services.users` holds the
rules). Signing in is REST (``/auth/login`` …, :mod:`crossdock.api.auth`): a GraphQL
request always carries a key or an access token.

Managing others needs ``users:read`` / ``users:write`` and reaches only users whose every
role is on a tenant the caller reaches; nobody gives, takes or acts on scopes they do not
hold. A user's own account (``me``, ``mySessions``, ``passwordChange``, the second factor)
needs no scope, but a signed-in user: an API key gets ``NOT_A_USER``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.errors import AccountUserError, in_transaction, requires
from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.db import models as m
from crossdock.errors import NotFound, UserError
from crossdock.security import SCOPES, Scope
from crossdock.services import mail
from crossdock.services import users as accounts

__all__ = ["Mutation", "Query"]


@strawberry.type(description="A set of scopes given to users per tenant: built-in or the organization's own.")
class Role:
    id: strawberry.ID
    name: str
    description: str
    builtin: bool = strawberry.field(
        description="owner, manager, operator or viewer: their scopes follow the server's version."
    )
    scopes: list[Scope]

    @classmethod
    def from_row(cls, row: m.Role) -> Role:
        return cls(
            id=encode_id("Role", row.id),
            name=row.name,
            description=row.description or "",
            builtin=row.builtin,
            scopes=sorted((Scope(s) for s in accounts.role_scopes(row) if s in SCOPES), key=str),
        )


@strawberry.type(description="A role a user holds on one tenant, or on every tenant of the organization.")
class RoleGrant:
    role: Role
    tenant: str | None = strawberry.field(
        description="The tenant's slug; none: every tenant, later ones too."
    )


@strawberry.type(description="A staff member of the organization.")
class User:
    id: strawberry.ID
    email: str
    name: str
    roles: list[RoleGrant]
    totp_enabled: bool = strawberry.field(description="Signs in with a second factor (TOTP).")
    sso_only: bool = strawberry.field(
        description="Has no password yet (invited and not accepted, or signs in through SSO only)."
    )
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None
    locked_until: datetime | None = strawberry.field(
        description="Too many failed logins: refused until then."
    )

    @classmethod
    def from_row(
        cls, row: m.User, held: Sequence[tuple[int | None, m.Role]], slugs: Mapping[int, str]
    ) -> User:
        return cls(
            id=encode_id("User", row.id),
            email=row.email,
            name=row.name or "",
            roles=[
                RoleGrant(role=Role.from_row(r), tenant=None if t is None else slugs.get(t, ""))
                for t, r in held
            ],
            totp_enabled=bool(row.totp_enabled),
            sso_only=row.password_hash is None,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
            disabled_at=row.disabled_at,
            locked_until=row.locked_until,
        )


@strawberry.type(description="A signed-in session of a user (its tokens are never shown again).")
class UserSession:
    id: strawberry.ID
    method: m.LoginMethod
    created_at: datetime
    last_used_at: datetime | None
    access_expires_at: datetime
    refresh_expires_at: datetime
    source_ip: str | None
    user_agent: str | None
    current: bool = strawberry.field(description="The session this request is made in.")

    @classmethod
    def from_row(cls, row: m.UserSession, current: int | None) -> UserSession:
        return cls(
            id=encode_id("UserSession", row.id),
            method=m.LoginMethod(row.method),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            access_expires_at=row.access_expires_at,
            refresh_expires_at=row.refresh_expires_at,
            source_ip=row.source_ip,
            user_agent=row.user_agent,
            current=row.id == current,
        )


@strawberry.type(description="One login attempt, whatever became of it.")
class LoginAttempt:
    at: datetime
    email: str = strawberry.field(description="The e-mail given (lower-case).")
    user_id: strawberry.ID | None = strawberry.field(description="The user it matched, if any.")
    method: m.LoginMethod
    outcome: m.LoginOutcome
    source_ip: str | None
    user_agent: str | None

    @classmethod
    def from_row(cls, row: m.LoginAttempt) -> LoginAttempt:
        return cls(
            at=row.at,
            email=row.email,
            user_id=encode_id("User", row.user_id) if row.user_id is not None else None,
            method=m.LoginMethod(row.method),
            outcome=m.LoginOutcome(row.outcome),
            source_ip=row.source_ip,
            user_agent=row.user_agent,
        )


# --------------------------------------------------------------------------- inputs, payloads


@strawberry.input
class RoleGrantInput:
    role: str = strawberry.field(description="The role's name.")
    tenant: str | None = strawberry.field(
        default=None, description="A tenant's slug; none: every tenant (only from one reaching them all)."
    )


@strawberry.input
class UserInviteInput:
    email: str
    name: str = ""
    roles: list[RoleGrantInput]


@strawberry.type
class UserInvitePayload:
    user: User | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.input
class UserRoleInput:
    user_id: strawberry.ID
    role: str
    tenant: str | None = None


@strawberry.type(name="UserPayloadFields")
class _UserPayload:
    user: User | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.type
class UserRoleGrantPayload(_UserPayload):
    pass


@strawberry.type
class UserRoleRevokePayload(_UserPayload):
    pass


@strawberry.type
class UserDisablePayload(_UserPayload):
    pass


@strawberry.type
class UserEnablePayload(_UserPayload):
    pass


@strawberry.type
class PasswordChangePayload(_UserPayload):
    pass


@strawberry.type
class TotpConfirmPayload(_UserPayload):
    pass


@strawberry.type
class TotpDisablePayload(_UserPayload):
    pass


@strawberry.input
class UserIdInput:
    id: strawberry.ID


@strawberry.input
class RoleCreateInput:
    name: str
    scopes: list[Scope]
    description: str = ""


@strawberry.input
class RoleUpdateInput:
    id: strawberry.ID
    scopes: list[Scope] | None = None
    description: str | None = None


@strawberry.input
class RoleDeleteInput:
    id: strawberry.ID


@strawberry.type(name="RolePayloadFields")
class _RolePayload:
    role: Role | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.type
class RoleCreatePayload(_RolePayload):
    pass


@strawberry.type
class RoleUpdatePayload(_RolePayload):
    pass


@strawberry.type
class RoleDeletePayload(_RolePayload):
    pass


@strawberry.input
class SessionRevokeInput:
    id: strawberry.ID


@strawberry.type
class SessionRevokePayload:
    session: UserSession | None = None
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.input
class PasswordChangeInput:
    current_password: str
    new_password: str


@strawberry.input
class TotpConfirmInput:
    code: str


@strawberry.input
class TotpDisableInput:
    password: str


@strawberry.type
class TotpEnrollPayload:
    secret: str | None = strawberry.field(
        default=None, description="The base32 secret, shown this once (for entering by hand)."
    )
    uri: str | None = strawberry.field(
        default=None, description="The `otpauth://` URI for an authenticator app's QR code."
    )
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.input
class UserPasswordResetInput:
    id: strawberry.ID


@strawberry.type
class UserPasswordResetPayload:
    sent: bool = strawberry.field(default=False, description="A reset link was queued to the user's e-mail.")
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


# --------------------------------------------------------------------------- resolvers


async def _user(session: AsyncSession, st: RequestState, row: m.User) -> User:
    held = await accounts.assignments_of(session, row.id)
    return User.from_row(row, held, await accounts.tenant_slugs(session, st.principal.organization_id))


def _pk(value: str, type_name: str, field: str) -> int:
    return decode_id(value, type_name, field=field)[1]


def _mail_after_commit(st: RequestState, mail_id: int | None) -> None:
    if mail_id is not None:
        st.uow.enqueue(mail.JOB, job_id=mail.job_id(mail_id), mail_id=mail_id)


@strawberry.type
class Query:
    @strawberry.field(
        description="The signed-in user (none when the caller is an API key). Any valid API key or "
        "access token may call this."
    )
    async def me(self, info: Info[Any, Any]) -> User | None:
        st = state(info)
        if st.principal.user_id is None:
            return None
        async with st.read() as session:
            row = await session.get(m.User, st.principal.user_id)
            return await _user(session, st, row) if row is not None else None

    @strawberry.field(
        extensions=requires("users:read"),
        description="The organization's users the caller reaches every role of (by e-mail, at most "
        f"{accounts.MAX_LISTED}); `disabled` keeps only disabled (true) or enabled (false) ones.",
    )
    async def users(self, info: Info[Any, Any], disabled: bool | None = None) -> list[User]:
        st = state(info)
        async with st.read() as session:
            found = await accounts.visible_users(session, st.principal, disabled=disabled)
            slugs = await accounts.tenant_slugs(session, st.principal.organization_id)
        return [User.from_row(u, held, slugs) for u, held in found]

    @strawberry.field(
        extensions=requires("users:read"),
        description="The organization's roles: the built-in ones, then its own by name.",
    )
    async def roles(self, info: Info[Any, Any]) -> list[Role]:
        st = state(info)
        async with st.read() as session:
            return [Role.from_row(r) for r in await accounts.roles_of(session, st.principal.organization_id)]

    @strawberry.field(
        description="The signed-in user's live sessions, newest first. Any valid API key may call this "
        "(an API key gets NOT_A_USER)."
    )
    async def my_sessions(self, info: Info[Any, Any]) -> list[UserSession]:
        st = state(info)
        async with st.read() as session:
            rows = await accounts.sessions_of(session, st.principal)
        return [UserSession.from_row(r, st.principal.session_id) for r in rows]

    @strawberry.field(
        extensions=requires("users:read"),
        description="A user's live sessions, newest first (a user the caller reaches every role of).",
    )
    async def user_sessions(self, info: Info[Any, Any], user_id: strawberry.ID) -> list[UserSession]:
        st = state(info)
        async with st.read() as session:
            try:
                rows = await accounts.sessions_of(session, st.principal, _pk(user_id, "User", "userId"))
            except NotFound:  # another organization's user, or none: the same answer
                raise NotFound(f"User {user_id} not found", field="userId") from None
        return [UserSession.from_row(r, st.principal.session_id) for r in rows]

    @strawberry.field(
        extensions=requires("users:read"),
        description="Login attempts, newest first (at most "
        f"{accounts.MAX_LISTED}): every one of the organization for a caller reaching every tenant, "
        "else those of the users it reaches.",
    )
    async def login_attempts(
        self,
        info: Info[Any, Any],
        email: str | None = None,
        outcome: m.LoginOutcome | None = None,
        first: int = 100,
    ) -> list[LoginAttempt]:
        if not 1 <= first <= accounts.MAX_LISTED:
            raise UserError(f"first must be 1 to {accounts.MAX_LISTED}", field="first", code="OUT_OF_RANGE")
        st = state(info)
        async with st.read() as session:
            rows = await accounts.login_attempts(
                session, st.principal, email=email, outcome=outcome, limit=first
            )
        return [LoginAttempt.from_row(r) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Invite a staff member with roles (none beyond the caller's); an invitation link "
        "is mailed through the configured mailer.",
    )
    async def user_invite(self, info: Info[Any, Any], input: UserInviteInput) -> UserInvitePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row, mail_id = await accounts.invite_user(
                session,
                st.principal,
                st.app.settings.public_url,
                email=input.email,
                name=input.name,
                roles=[(g.role, g.tenant) for g in input.roles],
            )
            _mail_after_commit(st, mail_id)
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, UserInvitePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Give a user a role on a tenant (or on every tenant): only a role whose scopes "
        "the caller holds there.",
    )
    async def user_role_grant(self, info: Info[Any, Any], input: UserRoleInput) -> UserRoleGrantPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.grant_role(
                session, st.principal, _pk(input.user_id, "User", "input.userId"), input.role, input.tenant
            )
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, UserRoleGrantPayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Take a role away from a user (what giving it would need).",
    )
    async def user_role_revoke(self, info: Info[Any, Any], input: UserRoleInput) -> UserRoleRevokePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.revoke_role(
                session, st.principal, _pk(input.user_id, "User", "input.userId"), input.role, input.tenant
            )
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, UserRoleRevokePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Disable a user: every session ends at once, logins are refused.",
    )
    async def user_disable(self, info: Info[Any, Any], input: UserIdInput) -> UserDisablePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.set_disabled(session, st.principal, _pk(input.id, "User", "input.id"), True)
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, UserDisablePayload, body)

    @strawberry.mutation(extensions=requires("users:write"), description="Enable a disabled user again.")
    async def user_enable(self, info: Info[Any, Any], input: UserIdInput) -> UserEnablePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.set_disabled(session, st.principal, _pk(input.id, "User", "input.id"), False)
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, UserEnablePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Mail a user a password-reset link (a user the caller may act on).",
    )
    async def user_password_reset(
        self, info: Info[Any, Any], input: UserPasswordResetInput
    ) -> UserPasswordResetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            mail_id = await accounts.send_password_reset(
                session, st.principal, st.app.settings.public_url, _pk(input.id, "User", "input.id")
            )
            _mail_after_commit(st, mail_id)
            return {"sent": mail_id is not None}

        return await in_transaction(info, UserPasswordResetPayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Make a custom role from scopes the caller holds on every tenant it reaches.",
    )
    async def role_create(self, info: Info[Any, Any], input: RoleCreateInput) -> RoleCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.create_role(
                session, st.principal, input.name, [str(s) for s in input.scopes], input.description
            )
            return {"role": Role.from_row(row)}

        return await in_transaction(info, RoleCreatePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Change a custom role's scopes or description; its holders get the new scopes "
        "within a second.",
    )
    async def role_update(self, info: Info[Any, Any], input: RoleUpdateInput) -> RoleUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.update_role(
                session,
                st.principal,
                _pk(input.id, "Role", "input.id"),
                scopes=None if input.scopes is None else [str(s) for s in input.scopes],
                description=input.description,
            )
            return {"role": Role.from_row(row)}

        return await in_transaction(info, RoleUpdatePayload, body)

    @strawberry.mutation(
        extensions=requires("users:write"),
        description="Delete a custom role; whoever held it loses it.",
    )
    async def role_delete(self, info: Info[Any, Any], input: RoleDeleteInput) -> RoleDeletePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.delete_role(session, st.principal, _pk(input.id, "Role", "input.id"))
            return {"role": Role.from_row(row)}

        return await in_transaction(info, RoleDeletePayload, body)

    @strawberry.mutation(
        description="Sign a session out: one's own (any user), or, with `users:write`, one of a user "
        "the caller may act on. Its tokens stop working within a second. Any valid API key may call "
        "this (one without `users:write` ends nothing but its own user's sessions)."
    )
    async def session_revoke(self, info: Info[Any, Any], input: SessionRevokeInput) -> SessionRevokePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.revoke_session(
                session,
                st.principal,
                _pk(input.id, "UserSession", "input.id"),
                manage=st.principal.allows(Scope.USERS_WRITE),
            )
            return {"session": UserSession.from_row(row, st.principal.session_id)}

        return await in_transaction(info, SessionRevokePayload, body)

    @strawberry.mutation(
        description="Change one's own password (the current one proven); every other session ends. "
        "Any valid API key may call this (an API key gets NOT_A_USER)."
    )
    async def password_change(
        self, info: Info[Any, Any], input: PasswordChangeInput
    ) -> PasswordChangePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.change_password(
                session,
                accounts.own_id(st.principal),
                st.principal.session_id,
                input.current_password,
                input.new_password,
            )
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, PasswordChangePayload, body)

    @strawberry.mutation(
        description="Start a second factor for one's own account: a TOTP secret, in force once "
        "`totpConfirm` proves a code from it. Any valid API key may call this (an API key gets NOT_A_USER)."
    )
    async def totp_enroll(self, info: Info[Any, Any]) -> TotpEnrollPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            secret, uri = await accounts.totp_enroll(session, st.app.vault, accounts.own_id(st.principal))
            return {"secret": secret, "uri": uri}

        return await in_transaction(info, TotpEnrollPayload, body)

    @strawberry.mutation(
        description="Turn the enrolled second factor on with a current code from it. Any valid API "
        "key may call this (an API key gets NOT_A_USER)."
    )
    async def totp_confirm(self, info: Info[Any, Any], input: TotpConfirmInput) -> TotpConfirmPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.totp_confirm(
                session, st.app.vault, accounts.own_id(st.principal), input.code
            )
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, TotpConfirmPayload, body)

    @strawberry.mutation(
        description="Turn one's second factor off (the password proven). Any valid API key may call "
        "this (an API key gets NOT_A_USER)."
    )
    async def totp_disable(self, info: Info[Any, Any], input: TotpDisableInput) -> TotpDisablePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            row = await accounts.totp_disable(session, accounts.own_id(st.principal), input.password)
            return {"user": await _user(session, st, row)}

        return await in_transaction(info, TotpDisablePayload, body)
