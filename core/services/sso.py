"""Single sign-on: staff signing in through their organization's identity provider.

**The login** has two steps. :func:`start_login` makes a fresh ``state``, nonce and PKCE
verifier, keeps them (the state as SHA-256) in ``pending_logins`` for :data:`PENDING_TTL`,
and returns the provider's authorization URL. The browser comes back to
``{public_url}/auth/sso/{organization}/{name}/callback``; :func:`complete_login` redeems
the state once (under the pending row's lock, before the provider is called, so the same
callback redeemed twice at once signs in once), has the plugin turn the code into a
:class:`~crossdock.providers.VerifiedIdentity`, and signs in the user it names.

**Who signs in.** The user linked to the identity (``user_identities``: issuer and
subject); else, at the first login, an enabled user of the organization with the identity's
e-mail, when the provider says it verified it, and who has no identity at that issuer yet
(so an address given to someone else later does not take over the account). Nobody else:
users are invited, never made here. Every outcome is a ``login_attempts`` row (method
``sso``); an outage of the provider is none, and gives the state back so the callback may
be tried again.

**Management** (:func:`create_identity_provider` and the rest): the caller holds
``users:write`` (``users:read`` to list) and reaches every tenant of the organization. The
provider is an installed identity plugin, the issuer a URL the server may call, the client
secret encrypted with the vault and never returned.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import Database, utcnow
from crossdock.db.models import (
    IdentityProviderRow,
    LoginMethod,
    LoginOutcome,
    Organization,
    PendingLogin,
    User,
    UserIdentity,
)
from crossdock.db.validation import BAD_TEXT
from crossdock.errors import ChannelError, Forbidden, NotFound, NotSupported, UserError
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import Plugins
from crossdock.providers import AuthorizationRequest, IdentityConfig, IdentityProvider, VerifiedIdentity
from crossdock.security import Scope, Vault
from crossdock.services import users
from crossdock.services.users import Client, LoginRefused, Tokens

__all__ = [
    "PENDING_TTL",
    "IdentityProviderInfo",
    "SignedIn",
    "callback_uri",
    "complete_login",
    "create_identity_provider",
    "delete_identity_provider",
    "identity_config",
    "list_identity_providers",
    "return_path",
    "start_login",
    "update_identity_provider",
]

PENDING_TTL = timedelta(minutes=10)
#: Pending logins older than this are deleted when a new login starts.
PENDING_KEPT = timedelta(days=1)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_OPTIONS = 16_384  # bytes of JSON
MAX_RETURN_PATH = 2048


@dataclass(frozen=True)
class SignedIn:
    """A single sign-on completed: the session, and the path the login returns to (what
    its start was given as ``redirect``), if any."""

    tokens: Tokens
    return_to: str | None


def return_path(value: str | None) -> str | None:
    """A path of this server's to return to after the login (``/orders?x=1``), or None;
    ``INVALID_REDIRECT`` for anything that could leave it (``//host``, ``https://...``,
    a backslash, a control character)."""
    if value is None or value == "":
        return None
    if (
        len(value) > MAX_RETURN_PATH
        or not value.isascii()
        or not value.startswith("/")
        or value.startswith("//")
        or any(ch == "\\" or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value)
    ):
        raise UserError(
            "redirect must be a path of this server's, such as /orders",
            field="redirect",
            code="INVALID_REDIRECT",
        )
    return value


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def callback_uri(public_url: str, organization: str, name: str) -> str:
    """Where the provider sends the browser back (the redirect URI to register there)."""
    return f"{public_url.rstrip('/')}/auth/sso/{organization}/{name}/callback"


def identity_config(row: IdentityProviderRow, vault: Vault, http: OutboundHTTP) -> IdentityConfig:
    """The plugin's view of an identity provider row, its client secret decrypted, calling
    out through ``http``, the server's guarded pool."""
    secret = str(vault.decrypt(row.client_secret)["client_secret"])
    return IdentityConfig(
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret=secret,
        options=dict(row.options or {}),
        http=http,
    )


# --------------------------------------------------------------------------- the login


async def _enabled_provider(
    session: AsyncSession, plugins: Plugins, organization: str, name: str
) -> tuple[Organization, IdentityProviderRow, IdentityProvider]:
    """The organization, its enabled identity provider ``name`` and the plugin; NOT_FOUND
    for an unknown organization or name, a disabled provider, or a plugin not installed
    (all look the same)."""
    org = await session.scalar(select(Organization).where(Organization.slug == organization))
    row = (
        await session.scalar(
            select(IdentityProviderRow).where(
                IdentityProviderRow.organization_id == org.id,
                IdentityProviderRow.name == name,
                IdentityProviderRow.disabled_at.is_(None),
            )
        )
        if org is not None
        else None
    )
    if org is None or row is None:
        raise NotFound("no such identity provider", field="provider")
    try:
        plugin = plugins.identity_provider(row.provider)
    except NotSupported:
        raise NotFound("no such identity provider", field="provider") from None
    return org, row, plugin


async def start_login(
    db: Database,
    plugins: Plugins,
    vault: Vault,
    http: OutboundHTTP,
    public_url: str,
    *,
    organization: str,
    name: str,
    return_to: str | None = None,
) -> str:
    """Begin a login with the organization's identity provider ``name``, to come back to
    the path ``return_to`` (:func:`return_path`): the URL to send the browser to. Raises
    ``NotFound``, ``INVALID_REDIRECT``, or the plugin's ``ChannelError`` (the provider is
    unreachable, or refuses the configuration)."""
    back = return_path(return_to)
    async with db.system() as session:
        _, row, plugin = await _enabled_provider(session, plugins, organization, name)
    request = AuthorizationRequest(
        redirect_uri=callback_uri(public_url, organization, name),
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),  # 64 characters (RFC 7636 §4.1: 43 to 128)
    )
    url = await plugin.authorization_url(identity_config(row, vault, http), request)
    async with db.write(system=True) as session:
        now = utcnow()
        await session.execute(
            delete(PendingLogin).where(
                PendingLogin.identity_provider_id == row.id, PendingLogin.expires_at < now - PENDING_KEPT
            )
        )
        session.add(
            PendingLogin(
                identity_provider_id=row.id,
                state_hash=_hash(request.state),
                nonce=request.nonce,
                code_verifier=request.code_verifier,
                redirect_uri=request.redirect_uri,
                return_to=back,
                expires_at=now + PENDING_TTL,
            )
        )
    return url


def _state_invalid() -> UserError:
    return UserError(
        "the login is unknown, used or expired; start again", field="state", code="SSO_STATE_INVALID"
    )


async def complete_login(
    db: Database,
    plugins: Plugins,
    vault: Vault,
    http: OutboundHTTP,
    *,
    organization: str,
    name: str,
    state: str,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
    client: Client = Client(),
) -> SignedIn:
    """Finish a login from the callback's query: the session of the user it proves, and
    where the login returns to.

    Raises ``UserError`` ``SSO_STATE_INVALID`` (an unknown, used or expired state) and
    ``SSO_REFUSED`` (the provider answered with ``error``); :class:`LoginRefused`
    ``SSO_REFUSED`` (the plugin refused the answer), ``SSO_UNKNOWN_USER`` or ``DISABLED``;
    the plugin's retryable ``ChannelError`` when the provider is unreachable (the state
    may then be redeemed again)."""
    refusal: UserError | None = None
    request: AuthorizationRequest | None = None
    async with db.write(system=True) as session:
        org, row, plugin = await _enabled_provider(session, plugins, organization, name)
        pending = await session.scalar(
            select(PendingLogin)
            .where(PendingLogin.state_hash == _hash(state), PendingLogin.identity_provider_id == row.id)
            .with_for_update()
        )
        now = utcnow()
        if pending is None or pending.used_at is not None or pending.expires_at <= now:
            refusal = _state_invalid()
        else:
            pending.used_at = now
            if error is not None:
                described = f": {error_description[:300]}" if error_description else ""
                refusal = UserError(
                    f"the identity provider refused the login ({error[:64]}{described})",
                    field="error",
                    code="SSO_REFUSED",
                )
            else:
                request = AuthorizationRequest(
                    redirect_uri=pending.redirect_uri,
                    state=state,
                    nonce=pending.nonce,
                    code_verifier=pending.code_verifier,
                )
        if refusal is not None:
            users.record_attempt(
                session,
                LoginOutcome.SSO_REFUSED,
                client=client,
                method=LoginMethod.SSO,
                organization_id=org.id,
            )
        config = identity_config(row, vault, http)
    if refusal is not None:
        raise refusal
    assert request is not None
    assert pending is not None
    pending_id = pending.id
    try:
        identity = await plugin.complete(config, request, code or "")
    except ChannelError as exc:
        if exc.retryable:
            await _release(db, pending_id, now)
            raise
        why = exc.message
    else:
        if identity.issuer == row.issuer:
            return SignedIn(await _sign_in(db, org, identity, client), pending.return_to)
        why = f"an identity of {identity.issuer}, not of {row.issuer}"
    async with db.write(system=True) as session:
        users.record_attempt(
            session, LoginOutcome.SSO_REFUSED, client=client, method=LoginMethod.SSO, organization_id=org.id
        )
    raise LoginRefused(f"the identity provider's answer was refused: {why}", code="SSO_REFUSED")


async def _release(db: Database, pending_id: int, used_at: datetime) -> None:
    """Give a state back after an outage (only if this redemption still holds it)."""
    async with db.write(system=True) as session:
        pending = await session.scalar(
            select(PendingLogin).where(PendingLogin.id == pending_id).with_for_update()
        )
        if pending is not None and pending.used_at == used_at:
            pending.used_at = None


async def _sign_in(db: Database, org: Organization, identity: VerifiedIdentity, client: Client) -> Tokens:
    refused: LoginRefused | None = None
    tokens: Tokens | None = None
    email = (identity.email or "")[:254]
    async with db.write(system=True) as session:
        user = await _user_of(session, org.id, identity)
        if user is None:
            users.record_attempt(
                session,
                LoginOutcome.SSO_UNKNOWN_USER,
                client=client,
                method=LoginMethod.SSO,
                email=email,
                organization_id=org.id,
            )
            refused = LoginRefused("no user of this organization has this identity", code="SSO_UNKNOWN_USER")
        elif user.disabled_at is not None:
            users.record_attempt(
                session,
                LoginOutcome.DISABLED,
                client=client,
                method=LoginMethod.SSO,
                email=email or user.email,
                organization_id=org.id,
                user_id=user.id,
            )
            refused = LoginRefused("this user is disabled", code="DISABLED")
        else:
            tokens = await users.sign_in(session, user, LoginMethod.SSO, client, email=email)
    if refused is not None:
        raise refused
    assert tokens is not None
    return tokens


async def _user_of(session: AsyncSession, organization_id: int, identity: VerifiedIdentity) -> User | None:
    """The user of the organization the identity is linked to, or the one it links to now
    (a verified e-mail of an enabled user with no identity at that issuer); locked."""
    for _ in range(2):
        linked = await session.scalar(
            select(User)
            .join(UserIdentity, UserIdentity.user_id == User.id)
            .where(
                UserIdentity.organization_id == organization_id,
                UserIdentity.issuer == identity.issuer,
                UserIdentity.subject == identity.subject,
            )
            .with_for_update()
        )
        if linked is not None:
            return linked
        if not identity.email or not identity.email_verified:
            return None
        try:
            address = users.normal_email(identity.email)
        except UserError:
            return None
        user = await session.scalar(
            select(User)
            .where(User.organization_id == organization_id, User.email == address, User.disabled_at.is_(None))
            .with_for_update()
        )
        if user is None:
            return None
        other = await session.scalar(
            select(UserIdentity.id).where(
                UserIdentity.user_id == user.id, UserIdentity.issuer == identity.issuer
            )
        )
        if other is not None:
            return None  # linked to another subject there: the address changed hands
        try:
            async with session.begin_nested():
                session.add(
                    UserIdentity(
                        user_id=user.id,
                        organization_id=organization_id,
                        issuer=identity.issuer,
                        subject=identity.subject,
                    )
                )
                await session.flush()
        except IntegrityError:
            continue  # linked at the same moment by another login
        return user
    return None


# --------------------------------------------------------------------------- management


@dataclass(frozen=True)
class IdentityProviderInfo:
    """An identity provider as its administrators see it (never its client secret)."""

    id: int
    name: str
    provider: str
    issuer: str
    client_id: str
    options: Mapping[str, Any]
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, row: IdentityProviderRow) -> IdentityProviderInfo:
        return cls(
            row.id,
            row.name,
            row.provider,
            row.issuer,
            row.client_id,
            dict(row.options or {}),
            row.created_at,
            row.disabled_at,
        )


async def _may_manage(session: AsyncSession, principal: Any, scope: Scope = Scope.USERS_WRITE) -> None:
    if not principal.allows(scope):
        raise Forbidden(f"this caller lacks the {scope.value!r} scope")
    if not await users.reaches_every_tenant(session, principal):
        raise UserError(
            "only someone reaching every tenant manages the organization's sign-on",
            field="input",
            code="TENANT_NOT_REACHED",
        )


def _text(value: str, field: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise UserError("a value must be given", field=field, code="REQUIRED")
    if len(text) > limit:
        raise UserError(f"at most {limit} characters", field=field, code="TOO_LONG")
    if BAD_TEXT.search(text):
        raise UserError("a character that cannot be stored", field=field, code="INVALID_STRING")
    return text


def _options(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        encoded = ""
    if not isinstance(value, Mapping) or not encoded or len(encoded) > MAX_OPTIONS:
        raise UserError(
            f"options must be a JSON object of at most {MAX_OPTIONS} bytes",
            field="input.options",
            code="INVALID_JSON",
        )
    return dict(json.loads(encoded))


async def _own(session: AsyncSession, principal: Any, provider_id: int) -> IdentityProviderRow:
    row = await session.scalar(
        select(IdentityProviderRow)
        .where(
            IdentityProviderRow.id == provider_id,
            IdentityProviderRow.organization_id == principal.organization_id,
        )
        .with_for_update()
    )
    if row is None:
        raise NotFound("no such identity provider", field="id")
    return row


async def create_identity_provider(
    session: AsyncSession,
    principal: Any,
    plugins: Plugins,
    vault: Vault,
    policy: OutboundPolicy,
    *,
    name: str,
    provider: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    options: Mapping[str, Any] | None = None,
) -> IdentityProviderInfo:
    """Add a sign-on to the caller's organization: ``provider`` an installed identity
    plugin (NOT_FOUND otherwise), ``name`` a slug unique in the organization (its login
    starts at ``/auth/sso/{organization}/{name}/start``), ``issuer`` a URL the server may
    call (``URL_NOT_ALLOWED``)."""
    await _may_manage(session, principal)
    text = name.strip() if isinstance(name, str) else ""
    if not NAME.match(text):
        raise UserError(
            "1-63 lower-case letters, digits, hyphens and underscores",
            field="input.name",
            code="INVALID_SLUG",
        )
    if provider not in plugins.identity_providers:
        raise NotFound(f"no identity plugin {provider!r} is installed", field="input.provider")
    row = IdentityProviderRow(
        organization_id=principal.organization_id,
        name=text,
        provider=provider,
        issuer=policy.check_url(issuer, field="input.issuer"),
        client_id=_text(client_id, "input.clientId", 255),
        client_secret=vault.encrypt({"client_secret": _text(client_secret, "input.clientSecret", 4096)}),
        options=_options(options),
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise UserError(f"an identity provider {text!r} exists", field="input.name", code="TAKEN") from None
    return IdentityProviderInfo.of(row)


async def update_identity_provider(
    session: AsyncSession,
    principal: Any,
    vault: Vault,
    policy: OutboundPolicy,
    provider_id: int,
    *,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    options: Mapping[str, Any] | None = None,
    disabled: bool | None = None,
) -> IdentityProviderInfo:
    """Change what is given (None: unchanged) of one of the organization's identity
    providers; a disabled one starts no login and completes none."""
    row = await _own(session, principal, provider_id)  # another organization's: NOT_FOUND first
    await _may_manage(session, principal)
    if issuer is not None:
        row.issuer = policy.check_url(issuer, field="input.issuer")
    if client_id is not None:
        row.client_id = _text(client_id, "input.clientId", 255)
    if client_secret is not None:
        row.client_secret = vault.encrypt({"client_secret": _text(client_secret, "input.clientSecret", 4096)})
    if options is not None:
        row.options = _options(options)
    if disabled is not None:
        row.disabled_at = (row.disabled_at or utcnow()) if disabled else None
    await session.flush()
    return IdentityProviderInfo.of(row)


async def delete_identity_provider(
    session: AsyncSession, principal: Any, provider_id: int
) -> IdentityProviderInfo:
    """Remove one of the organization's identity providers (its logins in progress go with
    it; the identities linked stay, so it may be added again)."""
    row = await _own(session, principal, provider_id)  # another organization's: NOT_FOUND first
    await _may_manage(session, principal)
    info = IdentityProviderInfo.of(row)
    await session.delete(row)
    await session.flush()
    return info


async def list_identity_providers(session: AsyncSession, principal: Any) -> list[IdentityProviderInfo]:
    """The organization's identity providers by name (``users:read`` is enough)."""
    await _may_manage(session, principal, Scope.USERS_READ)
    rows = await session.scalars(
        select(IdentityProviderRow)
        .where(IdentityProviderRow.organization_id == principal.organization_id)
        .order_by(IdentityProviderRow.name)
    )
    return [IdentityProviderInfo.of(r) for r in rows.all()]
