"""The identity-provider conformance suite, and the faults identity emulators share.

One small subclass per identity plugin::

    from crossdock.testing.identity import IdentityConformance

    class TestMyIdPConformance(IdentityConformance):
        provider = "oidc"

        def make_emulator(self, faults):
            return MyIdPEmulator(faults)

The emulator satisfies :class:`IdentityEmulator`: an OpenID Connect provider (discovery,
keys, ``/authorize``, ``/token``) served on loopback, whose ``/authorize`` signs in the
user ``login_hint`` names and answers with the redirect at once (the suite plays the
browser). Every test talks to it over real HTTP through the plugin: a full login gives the
right :class:`~crossdock.providers.VerifiedIdentity`; the authorization URL carries the
state, the nonce and the S256 challenge of the verifier; every refusal of the token
endpoint and every bad ID token (:class:`TokenFault`) is a ``ChannelError`` with code
``REFUSED``; a rotated signing key is picked up; an outage is retryable; and the provider
calls through the configuration's pool, not one of its own.

A provider calls through the :class:`~crossdock.OutboundHTTP` its
:class:`~crossdock.providers.IdentityConfig` carries (``config.http_client()``,
``config.outbound()``), as the server hands it its own: the suite's configurations carry
the kit's guarded pool (:func:`crossdock.testing.emulator_http`), which allows the
emulator's loopback address and nothing else internal.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crossdock.errors import ChannelError
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import load_plugins
from crossdock.providers import (
    AuthorizationRequest,
    IdentityCapability,
    IdentityConfig,
    IdentityProvider,
    VerifiedIdentity,
)
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import emulator_http

__all__ = ["IdentityConformance", "IdentityEmulator", "Login", "TokenFault", "s256"]

CLIENT_ID = "crossdock-conformance"
CLIENT_SECRET = "s3cret: with spaces & symbols/+="  # form-urlencoding in Basic auth matters
OTHER_CLIENT = "another-app"
REDIRECT_URI = "https://ops.conformance.example/auth/oidc/callback"
OTHER_REDIRECT_URI = "https://ops.conformance.example/auth/other/callback"
USER = ("248289761001", "erika@conformance.example", "Erika Mustermann")


class TokenFault(StrEnum):
    """What is wrong with an ID token an emulator issues on purpose (its
    ``spoil_next_token``); a client must refuse each (OpenID Connect Core §3.1.3.7)."""

    UNKNOWN_KEY = "unknown_key"  #: signed with a key the provider does not publish
    BAD_SIGNATURE = "bad_signature"  #: a published kid, another key's signature
    EXPIRED = "expired"  #: ``exp`` long past
    ISSUED_IN_FUTURE = "issued_in_future"  #: ``iat`` an hour ahead
    WRONG_AUDIENCE = "wrong_audience"  #: ``aud`` is another client
    EXTRA_AUDIENCE = "extra_audience"  #: ``aud`` also names an untrusted party, no ``azp``
    WRONG_ISSUER = "wrong_issuer"  #: ``iss`` is not the provider
    WRONG_NONCE = "wrong_nonce"  #: another login's nonce
    NO_NONCE = "no_nonce"  #: no nonce at all
    ALG_NONE = "alg_none"  #: ``alg: none``, unsigned
    HMAC_WITH_PUBLIC_KEY = "hmac_with_public_key"  #: HS256 keyed with the published key


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL(SHA256(ASCII(code_verifier)))``, unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class IdentityEmulator(Protocol):
    """What the suite needs from an identity emulator besides serving its endpoints."""

    faults: Faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def register_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        *,
        auth_method: str = "client_secret_basic",
    ) -> None:
        """A client of the provider, allowed to come back to ``redirect_uris`` only."""

    def add_user(
        self, subject: str, email: str | None, *, email_verified: bool = True, name: str | None = None
    ) -> None:
        """A user who can sign in (``login_hint`` names the e-mail or the subject)."""

    def rotate_keys(self, *, retire: bool = False) -> str:
        """Sign with a new key from now on; returns its ``kid``."""

    def spoil_next_token(self, fault: TokenFault) -> None:
        """The next ID token issued has ``fault``."""

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next ``count`` API requests answer ``status``."""

    def expire_codes(self) -> None:
        """Every authorization code handed out so far has expired."""


@dataclass(frozen=True)
class Login:
    """A login in progress as the suite runs it: the config, the request, and what the
    browser brought back from the provider."""

    config: IdentityConfig
    request: AuthorizationRequest
    url: str
    code: str
    state: str


def new_request(redirect_uri: str = REDIRECT_URI) -> AuthorizationRequest:
    """A fresh request, made as the core makes one (RFC 7636 §4.1: a 43-character verifier)."""
    return AuthorizationRequest(
        redirect_uri=redirect_uri,
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        code_verifier=secrets.token_urlsafe(48),
    )


class IdentityConformance:
    """Subclass with ``provider`` and ``make_emulator``; see the module doc."""

    provider: str = ""
    #: the provider's own options (:attr:`IdentityConfig.options`) for every login
    options: Mapping[str, Any] = {"timeout": 2.0}
    #: the plugins to load (None: every installed one)
    plugins_allowed: Sequence[str] | None = None

    def make_emulator(self, faults: Faults) -> Any:
        raise NotImplementedError("return your emulator, built with these faults")

    # ------------------------------------------------------------ plumbing

    @pytest.fixture
    def idp(self) -> IdentityProvider:
        plugins = load_plugins(self.plugins_allowed)
        if self.provider not in plugins.identity_providers:
            pytest.fail(f"no identity plugin named {self.provider!r} is installed ({plugins.failures})")
        return plugins.identity_providers[self.provider]

    @asynccontextmanager
    async def served(self, faults: Faults | None = None) -> AsyncIterator[tuple[Any, IdentityConfig]]:
        """The emulator on loopback, with the suite's client and user, and the config of an
        organization using it (carrying the kit's guarded pool, which allows loopback)."""
        emulator = self.make_emulator(faults or Faults())
        emulator.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI, OTHER_REDIRECT_URI])
        emulator.register_client(OTHER_CLIENT, "other-secret", [REDIRECT_URI])
        subject, email, name = USER
        emulator.add_user(subject, email, name=name)
        emulator.add_user("unverified-1", "new@conformance.example", email_verified=False)
        async with serve(emulator) as base_url:
            yield (
                emulator,
                IdentityConfig(base_url, CLIENT_ID, CLIENT_SECRET, dict(self.options), http=emulator_http()),
            )

    async def browse(self, url: str, login_hint: str) -> httpx.Response:
        """The browser at the authorization URL, signed in as ``login_hint``: the provider's
        answer, redirects not followed."""
        async with httpx.AsyncClient(timeout=5.0) as browser:
            signed_in = httpx.URL(url).copy_merge_params({"login_hint": login_hint})
            return await browser.get(signed_in, follow_redirects=False)

    async def start(
        self,
        idp: IdentityProvider,
        config: IdentityConfig,
        *,
        login_hint: str = USER[1],
        request: AuthorizationRequest | None = None,
    ) -> Login:
        """Step one and the browser's round trip: the code the provider sent back."""
        request = request or new_request()
        url = await idp.authorization_url(config, request)
        answer = await self.browse(url, login_hint)
        assert answer.status_code in (302, 303), f"the provider did not redirect: {answer.status_code}"
        location = answer.headers["location"]
        assert location.startswith(request.redirect_uri + "?"), location
        query = parse_qs(urlsplit(location).query)
        assert "code" in query, f"the provider refused the authorization request: {location}"
        return Login(config, request, url, query["code"][0], query.get("state", [""])[0])

    async def refused(self, idp: IdentityProvider, login: Login, **changes: Any) -> ChannelError:
        """``complete`` with ``changes`` to the login's config, request or code, which must
        be refused: the error."""
        config = replace(
            login.config, **{k: v for k, v in changes.items() if k in ("client_id", "client_secret")}
        )
        request = replace(
            login.request,
            **{k: v for k, v in changes.items() if k in ("redirect_uri", "code_verifier", "nonce")},
        )
        with pytest.raises(ChannelError) as caught:
            await idp.complete(config, request, changes.get("code", login.code))
        error = caught.value
        assert error.code == "REFUSED", f"{error.code}: {error.message}"
        assert not error.retryable
        assert error.message
        return error

    # ------------------------------------------------------------ the login

    async def test_the_provider_declares_login(self, idp: IdentityProvider) -> None:
        assert IdentityCapability.LOGIN in idp.capabilities
        assert idp.name == self.provider

    async def test_a_full_login_returns_the_verified_identity(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config)
            identity = await idp.complete(config, login.request, login.code)
        assert login.state == login.request.state, "the provider sends the state back"
        subject, email, name = USER
        assert identity == VerifiedIdentity(config.issuer, subject, email, True, name)

    async def test_an_unverified_email_is_reported_unverified(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config, login_hint="unverified-1")
            identity = await idp.complete(config, login.request, login.code)
        assert identity.subject == "unverified-1"
        assert identity.email == "new@conformance.example"
        assert identity.email_verified is False

    async def test_the_authorization_url_carries_state_nonce_and_s256_challenge(
        self, idp: IdentityProvider
    ) -> None:
        async with self.served() as (_emulator, config):
            request = new_request()
            url = await idp.authorization_url(config, request)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}".startswith(config.issuer.split("/", 3)[0])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["response_type"] == "code"
        assert query["client_id"] == config.client_id
        assert query["redirect_uri"] == request.redirect_uri
        assert "openid" in query["scope"].split()
        assert query["state"] == request.state
        assert query["nonce"] == request.nonce
        assert query["code_challenge_method"] == "S256"
        assert query["code_challenge"] == s256(request.code_verifier)
        assert request.code_verifier not in url, "the verifier never leaves the server in step one"

    # ------------------------------------------------------------ the token endpoint's refusals

    async def test_a_wrong_client_secret_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config)
            error = await self.refused(idp, login, client_secret="not-the-secret")
        assert "invalid_client" in error.message

    async def test_a_code_used_twice_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config)
            await idp.complete(config, login.request, login.code)
            error = await self.refused(idp, login)
        assert "invalid_grant" in error.message

    async def test_an_expired_code_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (emulator, config):
            login = await self.start(idp, config)
            emulator.expire_codes()
            error = await self.refused(idp, login)
        assert "invalid_grant" in error.message

    async def test_a_code_of_another_client_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            theirs = await self.start(
                idp, replace(config, client_id=OTHER_CLIENT, client_secret="other-secret")
            )
            error = await self.refused(idp, replace(theirs, config=config))
        assert "invalid_grant" in error.message

    async def test_a_code_for_another_redirect_uri_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config)
            error = await self.refused(idp, login, redirect_uri=OTHER_REDIRECT_URI)
        assert "invalid_grant" in error.message

    async def test_a_wrong_pkce_verifier_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config)
            error = await self.refused(idp, login, code_verifier=secrets.token_urlsafe(48))
        assert "invalid_grant" in error.message

    async def test_an_unknown_code_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            login = await self.start(idp, config)
            error = await self.refused(idp, login, code="forged-" + secrets.token_urlsafe(16))
        assert "invalid_grant" in error.message

    # ------------------------------------------------------------ bad ID tokens

    @pytest.mark.parametrize("fault", list(TokenFault))
    async def test_a_bad_id_token_is_refused(self, idp: IdentityProvider, fault: TokenFault) -> None:
        async with self.served() as (emulator, config):
            good = await self.start(idp, config)
            await idp.complete(config, good.request, good.code)  # keys and discovery cached
            login = await self.start(idp, config)
            emulator.spoil_next_token(fault)
            await self.refused(idp, login)

    async def test_a_discovery_document_of_another_issuer_is_refused(self, idp: IdentityProvider) -> None:
        async with self.served() as (emulator, config):
            emulator.discovery_issuer = "https://impostor.example"
            with pytest.raises(ChannelError) as caught:
                await idp.authorization_url(config, new_request())
        assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)

    # ------------------------------------------------------------ keys and outages

    async def test_a_rotated_key_is_picked_up(self, idp: IdentityProvider) -> None:
        async with self.served() as (emulator, config):
            first = await self.start(idp, config)
            await idp.complete(config, first.request, first.code)
            emulator.rotate_keys(retire=True)
            second = await self.start(idp, config)
            identity = await idp.complete(config, second.request, second.code)
        assert identity.subject == USER[0]

    async def test_an_outage_is_retryable(self, idp: IdentityProvider) -> None:
        async with self.served() as (emulator, config):
            emulator.fail_next(1000)
            with pytest.raises(ChannelError) as at_start:
                await idp.authorization_url(config, new_request())
            emulator.fail_next(0)
            login = await self.start(idp, config)
            emulator.fail_next(1000)
            with pytest.raises(ChannelError) as at_the_end:
                await idp.complete(config, login.request, login.code)
            emulator.fail_next(0)
            identity = await idp.complete(config, login.request, login.code)
        assert at_start.value.retryable
        assert at_start.value.code != "REFUSED"
        assert at_the_end.value.retryable
        assert at_the_end.value.code != "REFUSED"
        assert identity.subject == USER[0], "the code survives the provider's outage"

    async def test_the_configs_pool_is_the_one_called_through(self, idp: IdentityProvider) -> None:
        async with self.served() as (emulator, config):
            # a pool whose policy allows nothing internal: the emulator's loopback is refused
            strict = replace(config, http=OutboundHTTP(OutboundPolicy()))
            with pytest.raises(ChannelError) as caught:
                await idp.authorization_url(strict, new_request())
            assert (caught.value.code, caught.value.retryable) == ("URL_NOT_ALLOWED", False)
            assert sum(emulator.requests.values()) == 0, "the provider called through a pool of its own"
            login = await self.start(idp, config)  # the kit's pool, after the strict one
            identity = await idp.complete(config, login.request, login.code)
        assert identity.subject == USER[0]

    async def test_an_unreachable_provider_is_retryable(self, idp: IdentityProvider) -> None:
        async with self.served() as (_emulator, config):
            pass  # served, then stopped: nothing listens there any more
        with pytest.raises(ChannelError) as caught:
            await idp.authorization_url(config, new_request())
        assert caught.value.retryable
