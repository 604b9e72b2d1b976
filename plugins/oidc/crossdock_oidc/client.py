"""OpenID Connect, client side: discovery, the JWKS, the token request and ID token checks.

The references, cited where each rule is applied:

* OpenID Connect Core 1.0 (``Core``): the authorization code flow (§3.1), the token
  response (§3.1.3.3), ID token validation (§3.1.3.7), the ID token's claims (§2), the
  UserInfo endpoint (§5.3).
* OpenID Connect Discovery 1.0 (``Discovery``): where the provider's metadata is (§4) and
  that its ``issuer`` is the configured one exactly (§4.3); its fields (§3).
* RFC 6749, OAuth 2.0: client password authentication (§2.3.1), the token request
  (§4.1.3), the token endpoint's error answer (§5.2).
* RFC 7636, PKCE: ``code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))``, method
  ``S256`` (§4.2).
* RFC 8725, JWT best current practice: accept only the algorithms expected for the key
  (§2.1, §3.1), so neither ``none`` nor an HMAC keyed with a public key gets through.

Signatures are verified by PyJWT (``jwt.decode`` with a ``PyJWK``); this module chooses the
key and the algorithm and checks what PyJWT leaves to the caller (the nonce, ``azp``,
the age of ``iat``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
import jwt

from crossdock import ChannelError, OutboundHTTP, URLNotAllowed, UserError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DISCOVERY_TTL",
    "JWKS_TTL",
    "LEEWAY",
    "MAX_TOKEN_AGE",
    "Discovery",
    "OIDCClient",
    "basic_authorization",
    "s256_challenge",
]

#: Seconds a discovery document and a key set are kept before they are fetched again.
DISCOVERY_TTL = 3600.0
JWKS_TTL = 3600.0
#: Clock skew allowed on ``exp`` and ``iat`` (Core §3.1.3.7 items 9-10: "small leeway").
LEEWAY = 60
#: An ID token from the token endpoint was made just now: one issued longer ago than this
#: is refused (Core §3.1.3.7 item 10 leaves the range to the client).
MAX_TOKEN_AGE = 600
#: The signature algorithms a public key can verify (RFC 7518 §3.1). HMAC (``HS*``) and
#: ``none`` are never accepted: an HS256 "signature" keyed with the provider's published
#: key is the classic algorithm-confusion forgery (RFC 8725 §2.1).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: The key type each algorithm family needs (RFC 7518 §6.1, RFC 8037 §2).
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def s256_challenge(verifier: str) -> str:
    """The PKCE ``S256`` challenge of ``verifier`` (RFC 7636 §4.2): the unpadded base64url
    of the SHA-256 of its ASCII octets."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` header of ``client_secret_basic``: RFC 6749 §2.3.1 has the id
    and the secret form-urlencoded first, then joined by ``:`` and base64-encoded."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def refused(message: str) -> ChannelError:
    return ChannelError(message, code="REFUSED", retryable=False)


@dataclass(frozen=True)
class Discovery:
    """The parts of a provider's metadata (Discovery §3) the login uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    signing_algorithms: tuple[str, ...]
    auth_methods: tuple[str, ...]
    code_challenge_methods: tuple[str, ...] | None

    @classmethod
    def parse(cls, issuer: str, document: Any, check_url: Callable[[str, str], str]) -> Discovery:
        if not isinstance(document, dict):
            raise refused(f"the discovery document of {issuer} is not a JSON object")
        # Discovery §4.3: the issuer in the document MUST be identical to the one the
        # document was fetched for, or an attacker's provider could pose as another.
        if document.get("issuer") != issuer:
            raise refused(f"the discovery document names issuer {document.get('issuer')!r}, not {issuer!r}")

        def url(name: str, *, required: bool = True) -> str | None:
            value = document.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str) or not value:
                raise refused(f"the discovery document of {issuer} has no {name}")
            return check_url(value, name)

        def names(field: str) -> tuple[str, ...] | None:
            value = document.get(field)
            if value is None:
                return None
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise refused(f"the discovery document's {field} is not a list of names")
            return tuple(value)

        responses = names("response_types_supported")
        if responses is not None and "code" not in responses:
            raise refused(f"{issuer} does not offer the authorization code flow (response_type code)")
        return cls(
            issuer=issuer,
            authorization_endpoint=str(url("authorization_endpoint")),
            token_endpoint=str(url("token_endpoint")),
            jwks_uri=str(url("jwks_uri")),
            userinfo_endpoint=url("userinfo_endpoint", required=False),
            # Discovery §3: REQUIRED, and RS256 MUST be in it; a document without it is
            # read as the default
            signing_algorithms=names("id_token_signing_alg_values_supported") or ("RS256",),
            # Discovery §3: "If omitted, the default is client_secret_basic"
            auth_methods=names("token_endpoint_auth_methods_supported") or ("client_secret_basic",),
            code_challenge_methods=names("code_challenge_methods_supported"),
        )


class OIDCClient:
    """HTTP calls to identity providers, with the discovery documents and key sets cached
    per issuer and per ``jwks_uri`` (one client per provider object, shared by every
    organization's configuration).

    Every call is made through the ``http`` it is given (the configuration's guarded pool,
    :meth:`crossdock.IdentityConfig.outbound`). A discovery document is cached per issuer
    and per allow-list of the pool whose policy checked its endpoints, so a pool with a
    stricter policy checks them again."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._discovery: dict[tuple[str, tuple[str, ...]], tuple[float, Discovery]] = {}
        self._keys: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def check_url(http: OutboundHTTP, value: str, field: str) -> str:
        """A URL the login will use (the issuer, the document's endpoints) under the server's
        outbound rules (``http``'s policy): https to a public host unless the operator
        allows more."""
        try:
            # the endpoints may carry a query (RFC 6749 §3.1 keeps it; Azure AD B2C names its
            # policy so); the issuer may not (Discovery §2, RFC 8414 §2)
            return http.policy.check_url(value, field=field, query=field != "issuer")
        except UserError as exc:
            raise URLNotAllowed(f"{field} {value!r}: {exc}") from None

    async def _send(
        self, http: OutboundHTTP, method: str, url: str, what: str, *, call_timeout: float, **kwargs: Any
    ) -> httpx.Response:
        client = http.client(timeout=call_timeout)  # the shared pool: never closed here
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ChannelError(
                f"the identity provider's {what} timed out", code="TIMEOUT", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            raise ChannelError(
                f"the identity provider's {what} is unreachable: {exc}", code="NETWORK", retryable=True
            ) from exc
        if response.status_code == 429:
            raise ChannelError(
                f"the identity provider's {what} throttled the request",
                code="THROTTLED",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        if response.status_code >= 500:
            raise ChannelError(
                f"the identity provider's {what} answered {response.status_code}",
                code="SERVER_ERROR",
                retryable=True,
            )
        return response

    async def _json(self, http: OutboundHTTP, url: str, what: str, call_timeout: float) -> Any:
        response = await self._send(
            http, "GET", url, what, call_timeout=call_timeout, headers={"Accept": "application/json"}
        )
        if response.status_code != 200:
            raise refused(f"the identity provider's {what} answered {response.status_code}")
        try:
            return response.json()
        except (json.JSONDecodeError, ValueError):
            raise refused(f"the identity provider's {what} is not JSON") from None

    # ------------------------------------------------------------ discovery and keys

    async def discover(self, issuer: str, *, http: OutboundHTTP, call_timeout: float) -> Discovery:
        """The provider's metadata, cached for :data:`DISCOVERY_TTL` seconds."""
        key = (issuer, http.policy.allowed)
        cached = self._discovery.get(key)
        if cached is not None and self.clock() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        self.check_url(http, issuer, "issuer")
        # Discovery §4: the issuer, any terminating "/" removed, then the well-known path
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._json(http, url, "discovery document", call_timeout)
        found = Discovery.parse(issuer, document, lambda value, name: self.check_url(http, value, name))
        self._discovery[key] = (self.clock(), found)
        return found

    async def signing_key(
        self, discovery: Discovery, header: Mapping[str, Any], *, http: OutboundHTTP, call_timeout: float
    ) -> jwt.PyJWK:
        """The published key that signed a token with this JOSE ``header``, for its ``alg``.

        The key set is cached; a ``kid`` it lacks makes it fetched once more (the provider
        rotated its keys, Core §10.1.1), and a ``kid`` still unknown then is refused."""
        alg = header.get("alg")
        allowed = [a for a in discovery.signing_algorithms if a in ASYMMETRIC_ALGORITHMS]
        if not isinstance(alg, str) or alg not in allowed:
            raise refused(
                f"the ID token is signed with {alg!r}; this provider's tokens are accepted only "
                f"with {', '.join(allowed) or 'an asymmetric algorithm it does not advertise'}"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise refused("the ID token's kid is not a string")
        keys = await self._key_set(http, discovery.jwks_uri, call_timeout=call_timeout, fresh=False)
        candidates = _matching(keys, kid, alg)
        if not candidates and kid is not None:
            keys = await self._key_set(http, discovery.jwks_uri, call_timeout=call_timeout, fresh=True)
            candidates = _matching(keys, kid, alg)
        if not candidates:
            raise refused(
                f"the ID token is signed with a key the provider does not publish (kid {kid!r}, {alg})"
            )
        if len(candidates) > 1:
            # Core §10.1: with several keys, the kid MUST say which one signed
            raise refused(f"the ID token names no kid and the provider publishes several {alg} keys")
        try:
            return jwt.PyJWK(candidates[0], algorithm=alg)
        except jwt.PyJWKError as exc:
            raise refused(f"the provider's key {kid!r} is not a usable {alg} key: {exc}") from None

    async def _key_set(
        self, http: OutboundHTTP, jwks_uri: str, *, call_timeout: float, fresh: bool
    ) -> list[dict[str, Any]]:
        cached = self._keys.get(jwks_uri)
        if not fresh and cached is not None and self.clock() - cached[0] < JWKS_TTL:
            return cached[1]
        document = await self._json(http, jwks_uri, "key set (jwks_uri)", call_timeout)
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise refused("the provider's key set (jwks_uri) has no keys list")
        found = [key for key in keys if isinstance(key, dict)]
        self._keys[jwks_uri] = (self.clock(), found)
        return found

    # ------------------------------------------------------------ the token request

    async def exchange(
        self,
        discovery: Discovery,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        auth_method: str,
        http: OutboundHTTP,
        call_timeout: float,
    ) -> dict[str, Any]:
        """POST the code to the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5) and return
        the token response (Core §3.1.3.3); its errors (RFC 6749 §5.2) are refusals."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if auth_method == "client_secret_basic":
            headers["Authorization"] = basic_authorization(client_id, client_secret)
        else:  # client_secret_post: RFC 6749 §2.3.1, the credentials in the form body
            form["client_id"] = client_id
            form["client_secret"] = client_secret
        response = await self._send(
            http,
            "POST",
            discovery.token_endpoint,
            "token endpoint",
            call_timeout=call_timeout,
            data=form,
            headers=headers,
        )
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            body = None
        if response.status_code != 200:
            raise refused(_oauth_error(body, response.status_code))
        if not isinstance(body, dict):
            raise refused("the token endpoint's answer is not a JSON object")
        return body

    async def userinfo(
        self, discovery: Discovery, access_token: str, *, http: OutboundHTTP, call_timeout: float
    ) -> dict[str, Any]:
        """The UserInfo claims (Core §5.3), fetched with the access token as a Bearer token."""
        assert discovery.userinfo_endpoint is not None
        response = await self._send(
            http,
            "GET",
            discovery.userinfo_endpoint,
            "userinfo endpoint",
            call_timeout=call_timeout,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise refused(f"the userinfo endpoint answered {response.status_code}")
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            # a signed or encrypted UserInfo answer (application/jwt) is not supported
            raise refused("the userinfo endpoint's answer is not a JSON object") from None
        if not isinstance(body, dict):
            raise refused("the userinfo endpoint's answer is not a JSON object")
        return body

    # ------------------------------------------------------------ ID token validation

    async def verify_id_token(
        self,
        discovery: Discovery,
        token: str,
        *,
        client_id: str,
        nonce: str,
        trusted_audiences: Sequence[str] = (),
        http: OutboundHTTP,
        call_timeout: float,
    ) -> dict[str, Any]:
        """The claims of an ID token that passes Core §3.1.3.7 (the numbers below are its
        items), else a ``REFUSED`` naming what failed."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise refused(f"the ID token is not a JWS: {exc}") from None
        if header.get("crit"):
            raise refused("the ID token carries critical header parameters this client does not know")
        # 6-7: the signature, with a key the issuer publishes, in an algorithm it advertises
        key = await self.signing_key(discovery, header, http=http, call_timeout=call_timeout)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=client_id,  # 3: aud contains our client_id
                issuer=discovery.issuer,  # 2: iss is the issuer, exactly
                leeway=LEEWAY,  # 9: exp not passed, with a small leeway
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},  # Core §2
            )
        except jwt.ExpiredSignatureError:
            raise refused("the ID token has expired (exp)") from None
        except jwt.InvalidAudienceError:
            raise refused(f"the ID token's audience (aud) is not this client ({client_id})") from None
        except jwt.InvalidIssuerError:
            raise refused(f"the ID token's issuer (iss) is not {discovery.issuer}") from None
        except jwt.InvalidSignatureError:
            raise refused("the ID token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise refused(f"the ID token lacks the {exc.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise refused("the ID token is not valid yet (iat or nbf in the future)") from None
        except jwt.InvalidTokenError as exc:
            raise refused(f"the ID token does not verify: {exc}") from None
        now = self.clock()
        audiences = [claims["aud"]] if isinstance(claims["aud"], str) else list(claims["aud"])
        # 3: "MUST be rejected if ... it contains additional audiences not trusted by the Client"
        untrusted = [a for a in audiences if a != client_id and a not in trusted_audiences]
        if untrusted:
            raise refused(f"the ID token is also meant for audiences this client does not trust: {untrusted}")
        # 4-5: with several audiences, azp must be present and be us; if present, it is us
        azp = claims.get("azp")
        if len(audiences) > 1 and azp is None:
            raise refused("the ID token has several audiences and no authorized party (azp)")
        if azp is not None and azp != client_id:
            raise refused(f"the ID token's authorized party (azp) is {azp!r}, not this client")
        # 10: iat sane: not in the future, not long ago
        iat = claims["iat"]
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise refused("the ID token's iat is not a number")
        if iat > now + LEEWAY:
            raise refused("the ID token was issued in the future (iat)")
        if now - iat > MAX_TOKEN_AGE:
            raise refused(f"the ID token was issued {int(now - iat)} s ago (iat); a fresh one is expected")
        # 11: the nonce of the authentication request, exactly
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise refused("the ID token's nonce is not this login's")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > 255:  # Core §2
            raise refused("the ID token's subject (sub) is not a string of 1 to 255 characters")
        return claims


def _matching(keys: Sequence[Mapping[str, Any]], kid: str | None, alg: str) -> list[dict[str, Any]]:
    """The published keys that may have signed with ``alg`` under ``kid``: same kid (any
    when the token names none), the algorithm's key type, meant for signatures, and with
    no other algorithm pinned (RFC 7517 §4.2-4.4)."""
    kty = _KEY_TYPE.get(alg[:2])
    found = []
    for key in keys:
        if kid is not None and key.get("kid") != kid:
            continue
        if key.get("kty") != kty or key.get("use", "sig") != "sig" or key.get("alg", alg) != alg:
            continue
        found.append(dict(key))
    return found


def _oauth_error(body: Any, status: int) -> str:
    """The refusal of an RFC 6749 §5.2 error answer: its ``error`` code and description."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        words = f"the identity provider refused the code: {body['error']}"
        description = body.get("error_description")
        return f"{words} ({description})" if isinstance(description, str) and description else words
    return f"the identity provider's token endpoint answered {status}"


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
