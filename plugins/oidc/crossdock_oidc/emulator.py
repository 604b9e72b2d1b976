"""An OpenID Connect provider emulator: discovery, keys, authorization, token, UserInfo.

It refuses what a real provider refuses, with RFC 6749's error codes (§4.1.2.1 for the
authorization endpoint, §5.2 for the token endpoint): an unknown client or an unregistered
``redirect_uri`` gets an error page (400) and no redirect; a token request with wrong or
missing client credentials gets 401 ``invalid_client``; a code used twice, expired, issued
to another client or for another ``redirect_uri``, or presented with the wrong PKCE
verifier gets 400 ``invalid_grant``; missing or repeated parameters ``invalid_request``;
any grant but ``authorization_code`` ``unsupported_grant_type``.

The browser's step is short-circuited for tests: ``/authorize`` signs in the emulated user
that ``login_hint`` names (an e-mail or a subject), or :attr:`OIDCEmulator.signed_in`, and
answers at once with the 302 back to ``redirect_uri?code=...&state=...``.

Seller-side helpers: :meth:`register_client`, :meth:`add_user`, :meth:`rotate_keys`; and
the faults that prove a client's checks: :meth:`spoil_next_token` (a
:class:`~crossdock.testing.identity.TokenFault`: an unknown key, a bad signature, an expired
token, a wrong audience, issuer or nonce, ``alg: none`` ...), :meth:`fail_next` (the next
requests answer 500) and :meth:`expire_codes`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from crossdock.testing.emulator import Emulator, Faults, Reply, Request
from crossdock.testing.identity import TokenFault

__all__ = ["OIDCEmulator"]

CODE_LIFETIME = 60.0  #: seconds an authorization code may be redeemed (RFC 6749 §4.1.2: short)
TOKEN_LIFETIME = 300  #: seconds an ID token is valid
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1


@dataclass
class Client:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]
    auth_method: str = "client_secret_basic"


@dataclass
class User:
    subject: str
    email: str | None
    email_verified: bool = True
    name: str | None = None


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    subject: str
    nonce: str | None
    challenge: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def _new_key(kid: str | None = None) -> SigningKey:
    return SigningKey(
        kid or secrets.token_hex(8), rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OIDCEmulator(Emulator):
    """An identity provider on loopback; see the module doc."""

    name = "oidc"
    default_site = "global"
    #: the browser's endpoint: the generic faults (throttling, 5xx) are the API's
    fault_free = frozenset({"/authorize"})

    def __init__(self, faults: Faults | None = None, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(faults)
        self.clock = clock
        #: the issuer it claims; None: ``http://{Host}`` of each request
        self.issuer: str | None = None
        #: an issuer the discovery document names instead of the real one (a mix-up)
        self.discovery_issuer: str | None = None
        #: fields of the discovery document replaced (or, with None, left out)
        self.discovery_overrides: dict[str, Any] = {}
        #: claims added to every ID token (before a fault is applied)
        self.extra_claims: dict[str, Any] = {}
        self.signing_algorithms: tuple[str, ...] = ("RS256",)
        self.auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
        #: False: the ID token carries no e-mail or name (they are at the UserInfo endpoint)
        self.email_in_id_token = True
        #: the user /authorize signs in when the request has no login_hint
        self.signed_in: str | None = None
        self.clients: dict[str, Client] = {}
        self.users: dict[str, User] = {}
        self.codes: dict[str, Code] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}
        self.keys: list[SigningKey] = [_new_key()]
        self.token_requests: list[Request] = []
        self._spoiled: list[TokenFault] = []
        self._failing = 0
        self._failing_status = 500
        self.route("GET", "/.well-known/openid-configuration", self._api(self._discovery))
        self.route("GET", "/jwks", self._api(self._jwks))
        self.route("GET", "/authorize", self._authorize)
        self.route("POST", "/token", self._api(self._token))
        self.route("GET", "/userinfo", self._api(self._userinfo))

    # ------------------------------------------------------------ seller side

    def register_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        *,
        auth_method: str = "client_secret_basic",
    ) -> None:
        """Register a confidential client, authenticating with ``auth_method``."""
        self.clients[client_id] = Client(client_id, client_secret, tuple(redirect_uris), auth_method)

    def add_user(
        self, subject: str, email: str | None, *, email_verified: bool = True, name: str | None = None
    ) -> None:
        self.users[subject] = User(subject, email, email_verified, name)

    def rotate_keys(self, *, retire: bool = False) -> str:
        """Sign with a new key from now on, published next to the old one (or instead of
        it, ``retire=True``); returns the new ``kid``."""
        key = _new_key()
        self.keys = [key] if retire else [*self.keys, key]
        return key.kid

    @property
    def current_key(self) -> SigningKey:
        return self.keys[-1]

    def spoil_next_token(self, fault: TokenFault) -> None:
        """The next ID token the token endpoint issues has ``fault``."""
        self._spoiled.append(TokenFault(fault))

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next ``count`` API requests (discovery, keys, token, UserInfo) answer ``status``."""
        self._failing, self._failing_status = count, status

    def expire_codes(self) -> None:
        """Every authorization code handed out so far is past its lifetime."""
        for code in self.codes.values():
            code.expires_at = self.clock() - 1

    # ------------------------------------------------------------ plumbing

    def error_body(self, status: int, code: str, message: str) -> Any:
        return {"error": code, "error_description": message}  # RFC 6749 §5.2

    def _api(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def guarded(request: Request) -> Reply:
            if self._failing > 0:
                self._failing -= 1
                self.injected["fail_next"] += 1
                return self.error(self._failing_status, "server_error", "the provider is having trouble")
            reply: Reply = await handler(request)
            return reply

        return guarded

    def _issuer(self, request: Request) -> str:
        return self.issuer or f"http://{request.headers.get('host', '127.0.0.1')}"

    def _user(self, hint: str | None) -> User | None:
        if not hint:
            return None
        return self.users.get(hint) or next((u for u in self.users.values() if u.email == hint), None)

    # ------------------------------------------------------------ discovery and keys

    async def _discovery(self, request: Request) -> Reply:
        issuer = self._issuer(request)
        document = {
            "issuer": self.discovery_issuer or issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(self.signing_algorithms),
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "name",
            ],
        } | self.discovery_overrides
        return Reply(200, {k: v for k, v in document.items() if v is not None})

    async def _jwks(self, request: Request) -> Reply:
        return Reply(200, {"keys": [key.jwk() for key in self.keys]})

    # ------------------------------------------------------------ authorization endpoint

    def _page(self, status: int, message: str) -> Reply:
        body = (
            f"<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1><p>{html.escape(message)}</p>"
        )
        return Reply(status, body.encode(), {"content-type": "text/html; charset=utf-8"})

    async def _authorize(self, request: Request) -> Reply:
        query = request.query
        client = self.clients.get(query.get("client_id", ""))
        # RFC 6749 §4.1.2.1: with an unknown client or a redirect URI not registered, the
        # provider MUST NOT redirect; it tells the user
        if client is None:
            return self._page(400, "unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return self._page(400, "redirect_uri is not registered for this client")

        def back(**params: str) -> Reply:
            if "state" in query:
                params["state"] = query["state"]
            joiner = "&" if "?" in redirect_uri else "?"
            location = redirect_uri + joiner + urlencode(params)
            return Reply(302, b"", {"location": location, "cache-control": "no-store"})

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="only code is supported")
        scopes = tuple(query.get("scope", "").split())
        if "openid" not in scopes:
            return back(error="invalid_scope", error_description="openid is required")
        challenge, method = query.get("code_challenge", ""), query.get("code_challenge_method", "")
        if not challenge or method != "S256":  # this provider requires PKCE, S256 only
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        user = self._user(query.get("login_hint") or self.signed_in)
        if user is None:
            return back(error="access_denied", error_description="the user did not sign in")
        code = secrets.token_urlsafe(24)
        self.codes[code] = Code(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            subject=user.subject,
            nonce=query.get("nonce"),
            challenge=challenge,
            scopes=scopes,
            expires_at=self.clock() + CODE_LIFETIME,
        )
        return back(code=code)

    # ------------------------------------------------------------ token endpoint

    def _invalid_client(self, message: str, basic: bool) -> Reply:
        # RFC 6749 §5.2: 401, with WWW-Authenticate when the client used the header
        headers = {"www-authenticate": 'Basic realm="emulator"'} if basic else {}
        return self.error(401, "invalid_client", message, headers)

    async def _token(self, request: Request) -> Reply:
        self.token_requests.append(request)
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self.error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        pairs = parse_qsl(request.body.decode(), keep_blank_values=True)
        form = dict(pairs)
        if len(form) != len(pairs):  # RFC 6749 §3.2: no parameter more than once
            return self.error(400, "invalid_request", "a parameter is repeated")
        header = request.headers.get("authorization", "")
        basic = header[:6].lower() == "basic "
        if basic and "client_secret" in form:
            return self.error(400, "invalid_request", "more than one client authentication method")
        if basic:
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True).decode()
                quoted_id, _, quoted_secret = raw.partition(":")
            except (ValueError, UnicodeDecodeError):
                return self._invalid_client("malformed Basic credentials", basic)
            client_id, secret, method = (
                unquote_plus(quoted_id),
                unquote_plus(quoted_secret),
                "client_secret_basic",
            )
            if form.get("client_id", client_id) != client_id:
                return self._invalid_client("client_id differs from the authenticated client", basic)
        elif "client_secret" in form:
            client_id, secret, method = form.get("client_id", ""), form["client_secret"], "client_secret_post"
        else:
            return self._invalid_client("no client authentication", basic)
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(secret.encode(), client.secret.encode()):
            return self._invalid_client("client authentication failed", basic)
        if method != client.auth_method:
            return self._invalid_client(f"this client authenticates with {client.auth_method}", basic)

        grant_type = form.get("grant_type")
        if not grant_type:
            return self.error(400, "invalid_request", "grant_type is missing")
        if grant_type != "authorization_code":
            return self.error(400, "unsupported_grant_type", f"{grant_type} is not supported")
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                return self.error(400, "invalid_request", f"{name} is missing")
        record = self.codes.get(form["code"])
        if record is None:
            return self.error(400, "invalid_grant", "unknown authorization code")
        if record.used:
            # RFC 6749 §4.1.2: a code used twice is refused, and what it gave is revoked
            for token in record.access_tokens:
                self.access_tokens.pop(token, None)
            return self.error(400, "invalid_grant", "the authorization code was already used")
        if record.client_id != client.client_id:
            return self.error(400, "invalid_grant", "the authorization code was issued to another client")
        record.used = True
        if self.clock() >= record.expires_at:
            return self.error(400, "invalid_grant", "the authorization code has expired")
        if form["redirect_uri"] != record.redirect_uri:  # RFC 6749 §4.1.3
            return self.error(400, "invalid_grant", "redirect_uri differs from the authorization request's")
        verifier = form["code_verifier"]
        digest = _b64(hashlib.sha256(verifier.encode()).digest())
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(digest, record.challenge):
            return self.error(400, "invalid_grant", "the PKCE code_verifier does not match")  # RFC 7636 §4.6

        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = (record.subject, self.clock() + 3600)
        record.access_tokens.append(access_token)
        fault = self._spoiled.pop(0) if self._spoiled else None
        return Reply(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": " ".join(record.scopes),
                "id_token": self._id_token(request, record, fault),
            },
            {"cache-control": "no-store", "pragma": "no-cache"},  # RFC 6749 §5.1
        )

    def _id_token(self, request: Request, record: Code, fault: TokenFault | None) -> str:
        now = int(self.clock())
        user = self.users[record.subject]
        claims: dict[str, Any] = {
            "iss": self._issuer(request),
            "sub": user.subject,
            "aud": record.client_id,
            "exp": now + TOKEN_LIFETIME,
            "iat": now,
            "auth_time": now,
        }
        if record.nonce is not None:
            claims["nonce"] = record.nonce
        if self.email_in_id_token and "email" in record.scopes and user.email is not None:
            claims["email"], claims["email_verified"] = user.email, user.email_verified
        if self.email_in_id_token and "profile" in record.scopes and user.name:
            claims["name"] = user.name
        claims.update(self.extra_claims)
        key = self.current_key
        if fault is TokenFault.EXPIRED:
            claims["iat"], claims["exp"] = now - 900, now - 600
        elif fault is TokenFault.ISSUED_IN_FUTURE:
            claims["iat"], claims["exp"] = now + 3600, now + 7200
        elif fault is TokenFault.WRONG_AUDIENCE:
            claims["aud"] = "someone-else"
        elif fault is TokenFault.EXTRA_AUDIENCE:
            claims["aud"] = [record.client_id, "someone-else"]
        elif fault is TokenFault.WRONG_ISSUER:
            claims["iss"] = "https://impostor.example"
        elif fault is TokenFault.WRONG_NONCE:
            claims["nonce"] = secrets.token_urlsafe(16)
        elif fault is TokenFault.NO_NONCE:
            claims.pop("nonce", None)
        elif fault is TokenFault.UNKNOWN_KEY:
            key = _new_key("unpublished-" + secrets.token_hex(4))
        elif fault is TokenFault.BAD_SIGNATURE:
            key = SigningKey(key.kid, _new_key().private)
        elif fault is TokenFault.ALG_NONE:
            return self._unsigned({"alg": "none", "typ": "JWT"}, claims)
        elif fault is TokenFault.HMAC_WITH_PUBLIC_KEY:
            # the forgery RFC 8725 §2.1 describes: HS256 keyed with the published key
            public = key.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            unsigned = self._unsigned({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims)[:-1]
            mac = hmac.new(public, unsigned.encode(), hashlib.sha256).digest()
            return f"{unsigned}.{_b64(mac)}"
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})

    @staticmethod
    def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A JWS with an empty signature part (what ``alg: none`` looks like)."""

        def encode(part: dict[str, Any]) -> str:
            return _b64(json.dumps(part, separators=(",", ":")).encode())

        return f"{encode(header)}.{encode(claims)}."

    # ------------------------------------------------------------ UserInfo

    async def _userinfo(self, request: Request) -> Reply:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        found = self.access_tokens.get(token)
        if found is None or self.clock() >= found[1]:
            # RFC 6750 §3: the Bearer challenge with invalid_token
            return self.error(
                401,
                "invalid_token",
                "the access token is not valid",
                {"www-authenticate": 'Bearer error="invalid_token"'},
            )
        user = self.users[found[0]]
        claims: dict[str, Any] = {"sub": user.subject}
        if user.email is not None:
            claims["email"], claims["email_verified"] = user.email, user.email_verified
        if user.name:
            claims["name"] = user.name
        return Reply(200, claims)
