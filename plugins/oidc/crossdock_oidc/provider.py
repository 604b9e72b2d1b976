"""The ``oidc`` identity provider: both steps of an OpenID Connect login.

``authorization_url`` is the authentication request of Core §3.1.2.1 with PKCE (RFC 7636
§4.3); ``complete`` is the token request (§3.1.3.1) and the ID token's validation
(§3.1.3.7), then the identity from its claims (or from UserInfo, §5.3, when the ID token
carries no e-mail).

Options read from :attr:`crossdock.IdentityConfig.options` (all optional):

``scopes``
    extra scopes to request besides ``openid email profile`` (a list, or a space-separated
    string).
``email_claim``
    the claim holding the e-mail (default ``email``; e.g. ``upn`` for some directories).
``token_auth_method``
    ``client_secret_basic`` or ``client_secret_post``, when the client was registered for
    one the provider's discovery document does not put first.
``trusted_audiences``
    other audiences an ID token may also name (Core §3.1.3.7 item 3); none by default.
``timeout``
    seconds each call to the provider may take (default 10).

Every call goes through the configuration's guarded pool,
:meth:`crossdock.IdentityConfig.outbound` (the server's, or outside a server the
process-wide one under ``CROSSDOCK_ALLOWED_HOSTS``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from crossdock import (
    AuthorizationRequest,
    ChannelError,
    IdentityBase,
    IdentityCapability,
    IdentityConfig,
    OutboundHTTP,
    VerifiedIdentity,
)
from crossdock_oidc.client import Discovery, OIDCClient, refused, s256_challenge

__all__ = ["BASE_SCOPES", "OIDCProvider"]

BASE_SCOPES = ("openid", "email", "profile")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
DEFAULT_TIMEOUT = 10.0


class OIDCProvider(IdentityBase):
    """OpenID Connect login with any provider that publishes a discovery document.

    Its calls go through each configuration's pool (:meth:`crossdock.IdentityConfig.outbound`):
    the issuer and every discovered endpoint are checked with that pool's policy, and each
    connection again after DNS. ``clock`` is the time ID tokens are checked against.
    """

    name = "oidc"
    display_name = "OpenID Connect"
    version = "0.1.0"
    capabilities = frozenset({IdentityCapability.LOGIN})

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.client = OIDCClient(clock)

    # ------------------------------------------------------------ step 1

    async def authorization_url(self, config: IdentityConfig, request: AuthorizationRequest) -> str:
        discovery = await self.client.discover(
            config.issuer, http=config.outbound(), call_timeout=_timeout(config.options)
        )
        methods = discovery.code_challenge_methods
        if methods is not None and "S256" not in methods:
            raise refused(f"{config.issuer} does not offer PKCE with S256 (it offers {list(methods)})")
        params = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": request.redirect_uri,
            "scope": " ".join(scopes(config.options)),
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": s256_challenge(request.code_verifier),
            "code_challenge_method": "S256",
        }
        # RFC 6749 §3.1: a query the endpoint already has is kept
        return str(httpx.URL(discovery.authorization_endpoint).copy_merge_params(params))

    # ------------------------------------------------------------ step 2

    async def complete(
        self, config: IdentityConfig, request: AuthorizationRequest, code: str
    ) -> VerifiedIdentity:
        if not code:
            raise refused("the provider sent the browser back without a code")
        options = config.options
        call_timeout = _timeout(options)
        http = config.outbound()
        discovery = await self.client.discover(config.issuer, http=http, call_timeout=call_timeout)
        tokens = await self.client.exchange(
            discovery,
            client_id=config.client_id,
            client_secret=config.client_secret,
            code=code,
            redirect_uri=request.redirect_uri,
            code_verifier=request.code_verifier,
            auth_method=auth_method(discovery, options),
            http=http,
            call_timeout=call_timeout,
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            # Core §3.1.3.3: the token response of an openid request carries an ID token
            raise refused("the token endpoint answered without an id_token")
        trusted = options.get("trusted_audiences") or ()
        claims = await self.client.verify_id_token(
            discovery,
            id_token,
            client_id=config.client_id,
            nonce=request.nonce,
            trusted_audiences=[str(a) for a in trusted] if isinstance(trusted, list | tuple) else (),
            http=http,
            call_timeout=call_timeout,
        )
        email_claim = str(options.get("email_claim") or "email")
        if claims.get(email_claim) is None:
            claims = await self._with_userinfo(http, discovery, tokens, claims, call_timeout)
        return identity(config.issuer, claims, email_claim)

    async def _with_userinfo(
        self,
        http: OutboundHTTP,
        discovery: Discovery,
        tokens: Mapping[str, Any],
        claims: dict[str, Any],
        call_timeout: float,
    ) -> dict[str, Any]:
        """The ID token's claims completed from UserInfo (Core §5.3), when the provider has
        the endpoint and gave an access token; the ID token's own claims win, and a UserInfo
        answer about another subject is refused (Core §5.3.4)."""
        access_token = tokens.get("access_token")
        if discovery.userinfo_endpoint is None or not isinstance(access_token, str) or not access_token:
            return claims
        extra = await self.client.userinfo(discovery, access_token, http=http, call_timeout=call_timeout)
        if extra.get("sub") != claims["sub"]:
            raise refused("the userinfo endpoint answered about another subject than the ID token's")
        return {**extra, **{k: v for k, v in claims.items() if v is not None}}


def scopes(options: Mapping[str, Any]) -> list[str]:
    """``openid email profile`` and the configured extras, each once, in order."""
    extra = options.get("scopes") or ()
    if isinstance(extra, str):
        extra = extra.split()
    if not isinstance(extra, list | tuple) or not all(isinstance(s, str) for s in extra):
        raise ChannelError("options.scopes must be a list of scope names", code="REFUSED")
    return list(dict.fromkeys([*BASE_SCOPES, *(s.strip() for s in extra if s.strip())]))


def auth_method(discovery: Discovery, options: Mapping[str, Any]) -> str:
    """How the client authenticates at the token endpoint (RFC 6749 §2.3.1, Core §9):
    ``client_secret_basic`` unless the provider only supports ``client_secret_post``, or
    ``options.token_auth_method`` chose one the provider supports."""
    chosen = options.get("token_auth_method")
    if chosen is not None:
        if chosen not in AUTH_METHODS:
            raise refused(f"options.token_auth_method must be one of {', '.join(AUTH_METHODS)}")
        if chosen not in discovery.auth_methods:
            raise refused(f"{discovery.issuer} does not support {chosen}")
        return str(chosen)
    for method in AUTH_METHODS:
        if method in discovery.auth_methods:
            return method
    raise refused(
        f"{discovery.issuer} supports neither client_secret_basic nor client_secret_post "
        f"(it supports {', '.join(discovery.auth_methods)})"
    )


def identity(issuer: str, claims: Mapping[str, Any], email_claim: str = "email") -> VerifiedIdentity:
    """The :class:`VerifiedIdentity` of verified claims. ``email_verified`` is true only
    when the provider says so (a boolean, or the string ``"true"`` some providers send),
    and only of the ``email`` claim: ``email_verified`` says nothing of another claim read
    as the e-mail (``upn``), which is therefore never reported as verified."""
    email = claims.get(email_claim)
    verified = claims.get("email_verified") if email_claim == "email" else False
    name = claims.get("name")
    if not isinstance(name, str) or not name:
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p) or None
    return VerifiedIdentity(
        issuer=issuer,
        subject=str(claims["sub"]),
        email=email.strip() if isinstance(email, str) and email.strip() else None,
        email_verified=verified is True or (isinstance(verified, str) and verified.lower() == "true"),
        name=name,
    )


def _timeout(options: Mapping[str, Any]) -> float:
    try:
        return float(options.get("timeout", DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
