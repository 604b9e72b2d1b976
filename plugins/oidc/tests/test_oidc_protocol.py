"""The OpenID Connect wire protocol: the exact token request (client authentication, form
fields), discovery and key caching, the reasons of refusals, UserInfo, the outbound rules,
and what the emulator itself refuses, as a real provider does."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from crossdock_oidc.client import basic_authorization
from crossdock_oidc.emulator import OIDCEmulator
from crossdock_oidc.provider import OIDCProvider

from crossdock import ChannelError, IdentityConfig, IdentityProvider, OutboundHTTP, OutboundPolicy
from crossdock.providers import AuthorizationRequest
from crossdock.testing import emulator_http, load_plugins
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.identity import IdentityConformance, TokenFault, new_request

CLIENT, SECRET = "ops-portal", "pa ss:wörd/+&="
CALLBACK = "https://ops.example/auth/callback"


class Harness(IdentityConformance):
    """The suite's browser and plumbing, reused by these tests."""

    provider = "oidc"


HARNESS = Harness()


@asynccontextmanager
async def idp(
    faults: Faults | None = None, *, auth_method: str = "client_secret_basic", **options: Any
) -> AsyncIterator[tuple[OIDCEmulator, IdentityConfig, OIDCProvider]]:
    emulator = OIDCEmulator(faults)
    emulator.register_client(CLIENT, SECRET, [CALLBACK], auth_method=auth_method)
    emulator.add_user("u-1", "ana@example.com", name="Ana Lima")
    async with serve(emulator) as base_url:
        yield (
            emulator,
            IdentityConfig(base_url, CLIENT, SECRET, {"timeout": 2.0, **options}, http=emulator_http()),
            OIDCProvider(),
        )


async def code_for(
    provider: OIDCProvider, config: IdentityConfig, login_hint: str = "u-1"
) -> tuple[AuthorizationRequest, str]:
    request = new_request(CALLBACK)
    login = await HARNESS.start(provider, config, login_hint=login_hint, request=request)
    return request, login.code


async def refusal(
    provider: OIDCProvider, config: IdentityConfig, request: AuthorizationRequest, code: str
) -> str:
    with pytest.raises(ChannelError) as caught:
        await provider.complete(config, request, code)
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    return caught.value.message


# --------------------------------------------------------------------------- the plugin


def test_the_plugin_registers_through_the_plugin_manager() -> None:
    plugins = load_plugins(["oidc"])
    assert not plugins.failures
    found = [p for batch in plugins.pm.hook.crossdock_identity_providers() for p in batch]
    assert [p.name for p in found] == ["oidc"]
    provider = plugins.identity_provider("oidc")
    assert isinstance(provider, IdentityProvider)
    assert "identity.login" in provider.capabilities
    assert plugins.emulators["oidc"] is OIDCEmulator
    assert [i.kind for i in plugins.infos if i.name == "oidc"] == ["identity"]


# --------------------------------------------------------------------------- the token request


async def test_the_token_request_with_client_secret_basic() -> None:
    async with idp() as (emulator, config, provider):
        request, code = await code_for(provider, config)
        await provider.complete(config, request, code)
    [sent] = emulator.token_requests
    assert sent.method == "POST"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["accept"] == "application/json"
    # RFC 6749 §2.3.1: id and secret form-urlencoded, then "id:secret" in base64
    pair = base64.b64decode(sent.headers["authorization"].removeprefix("Basic ")).decode()
    assert pair == "ops-portal:pa+ss%3Aw%C3%B6rd%2F%2B%26%3D"
    assert dict(parse_qsl(sent.body.decode())) == {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": request.code_verifier,
    }


async def test_client_secret_post_when_the_provider_supports_only_that() -> None:
    async with idp(auth_method="client_secret_post") as (emulator, config, provider):
        emulator.auth_methods = ("client_secret_post",)
        request, code = await code_for(provider, config)
        identity = await provider.complete(config, request, code)
    [sent] = emulator.token_requests
    assert "authorization" not in sent.headers
    assert dict(parse_qsl(sent.body.decode())) == {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": request.code_verifier,
        "client_id": CLIENT,
        "client_secret": SECRET,
    }
    assert identity.subject == "u-1"


async def test_basic_is_preferred_and_the_option_can_choose_post() -> None:
    async with idp(auth_method="client_secret_post", token_auth_method="client_secret_post") as (
        _emulator,
        config,
        provider,
    ):
        request, code = await code_for(provider, config)
        assert (await provider.complete(config, request, code)).subject == "u-1"
        # the client is registered for post; the default (basic) is refused by the provider
        request, code = await code_for(provider, config)
        message = await refusal(provider, replace(config, options={}), request, code)
    assert "invalid_client" in message


async def test_an_auth_method_the_provider_lacks_is_refused() -> None:
    async with idp() as (emulator, config, provider):
        emulator.auth_methods = ("private_key_jwt",)
        request, code = await code_for(provider, config)
        message = await refusal(provider, config, request, code)
    assert "client_secret_basic" in message
    assert not emulator.token_requests


# --------------------------------------------------------------------------- step one


async def test_extra_scopes_are_added_once() -> None:
    async with idp(scopes=["groups", "openid", "offline_access"]) as (_emulator, config, provider):
        url = await provider.authorization_url(config, new_request(CALLBACK))
    assert parse_qs(urlsplit(url).query)["scope"] == ["openid email profile groups offline_access"]


async def test_an_authorization_endpoint_query_is_kept() -> None:
    async with idp() as (emulator, config, provider):
        emulator.discovery_overrides["authorization_endpoint"] = f"{config.issuer}/authorize?p=b2c_signin"
        url = await provider.authorization_url(config, new_request(CALLBACK))
    query = parse_qs(urlsplit(url).query)
    assert query["p"] == ["b2c_signin"]
    assert query["response_type"] == ["code"]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("code_challenge_methods_supported", ["plain"], "S256"),
        ("response_types_supported", ["id_token"], "authorization code"),
        ("jwks_uri", None, "jwks_uri"),
        ("issuer", "https://other.example", "names issuer"),
    ],
)
async def test_a_discovery_document_unfit_for_the_login_is_refused(
    field: str, value: Any, words: str
) -> None:
    async with idp() as (emulator, config, provider):
        emulator.discovery_overrides[field] = value
        with pytest.raises(ChannelError) as caught:
            await provider.authorization_url(config, new_request(CALLBACK))
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert words in caught.value.message


# --------------------------------------------------------------------------- caching and keys


async def test_discovery_and_keys_are_cached_and_keys_refetched_on_rotation() -> None:
    async with idp() as (emulator, config, provider):
        for _ in range(2):
            request, code = await code_for(provider, config)
            await provider.complete(config, request, code)
        assert emulator.requests["/.well-known/openid-configuration"] == 1
        assert emulator.requests["/jwks"] == 1
        emulator.rotate_keys()
        request, code = await code_for(provider, config)
        await provider.complete(config, request, code)
        assert emulator.requests["/jwks"] == 2, "an unknown kid fetches the keys again"
        request, code = await code_for(provider, config)
        emulator.spoil_next_token(TokenFault.UNKNOWN_KEY)
        await refusal(provider, config, request, code)
        assert emulator.requests["/jwks"] == 3, "once, not more"


async def test_a_token_in_an_algorithm_the_provider_does_not_advertise_is_refused() -> None:
    async with idp() as (emulator, config, provider):
        emulator.signing_algorithms = ("ES256",)
        request, code = await code_for(provider, config)
        message = await refusal(provider, config, request, code)
    assert "RS256" in message and "ES256" in message


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (TokenFault.UNKNOWN_KEY, "does not publish"),
        (TokenFault.BAD_SIGNATURE, "signature"),
        (TokenFault.EXPIRED, "expired"),
        (TokenFault.ISSUED_IN_FUTURE, "not valid yet"),
        (TokenFault.WRONG_AUDIENCE, "audience"),
        (TokenFault.EXTRA_AUDIENCE, "audiences"),
        (TokenFault.WRONG_ISSUER, "issuer"),
        (TokenFault.WRONG_NONCE, "nonce"),
        (TokenFault.NO_NONCE, "nonce"),
        (TokenFault.ALG_NONE, "'none'"),
        (TokenFault.HMAC_WITH_PUBLIC_KEY, "'HS256'"),
    ],
)
async def test_a_refusal_names_its_reason(fault: TokenFault, words: str) -> None:
    async with idp() as (emulator, config, provider):
        request, code = await code_for(provider, config)
        emulator.spoil_next_token(fault)
        assert words in await refusal(provider, config, request, code)


async def test_several_audiences_need_azp_and_trust() -> None:
    async with idp() as (emulator, config, provider):
        emulator.extra_claims = {"aud": [CLIENT, "api.example"], "azp": CLIENT}
        request, code = await code_for(provider, config)
        assert "api.example" in await refusal(provider, config, request, code)
        trusting = replace(config, options={**config.options, "trusted_audiences": ["api.example"]})
        request, code = await code_for(provider, trusting)
        assert (await provider.complete(trusting, request, code)).subject == "u-1"
        emulator.extra_claims = {"aud": [CLIENT, "api.example"], "azp": "api.example"}
        request, code = await code_for(provider, trusting)
        assert "azp" in await refusal(provider, trusting, request, code)


async def test_an_old_token_is_refused() -> None:
    async with idp() as (emulator, config, provider):
        emulator.extra_claims = {"iat": 1_000_000_000}
        request, code = await code_for(provider, config)
        assert "iat" in await refusal(provider, config, request, code)


# --------------------------------------------------------------------------- claims


async def test_userinfo_supplies_the_email_the_id_token_lacks() -> None:
    async with idp() as (emulator, config, provider):
        emulator.email_in_id_token = False
        request, code = await code_for(provider, config)
        identity = await provider.complete(config, request, code)
        assert emulator.requests["/userinfo"] == 1
    assert (identity.email, identity.email_verified, identity.name) == ("ana@example.com", True, "Ana Lima")


async def test_the_id_token_email_needs_no_userinfo() -> None:
    async with idp() as (emulator, config, provider):
        request, code = await code_for(provider, config)
        await provider.complete(config, request, code)
        assert emulator.requests["/userinfo"] == 0


async def test_another_email_claim_is_never_verified() -> None:
    async with idp(email_claim="upn") as (emulator, config, provider):
        emulator.extra_claims = {"upn": "ana@corp.example"}
        request, code = await code_for(provider, config)
        identity = await provider.complete(config, request, code)
    assert (identity.email, identity.email_verified) == ("ana@corp.example", False)


# --------------------------------------------------------------------------- HTTP


async def test_throttling_is_retryable_with_its_delay() -> None:
    async with idp(Faults(throttle=1.0, retry_after=7)) as (_emulator, config, provider):
        with pytest.raises(ChannelError) as caught:
            await provider.authorization_url(config, new_request(CALLBACK))
    assert (caught.value.code, caught.value.retryable, caught.value.retry_after) == ("THROTTLED", True, 7.0)


async def test_a_slow_provider_times_out_retryably() -> None:
    async with idp(Faults(timeout=1.0, timeout_seconds=1.0), timeout=0.2) as (_emulator, config, provider):
        with pytest.raises(ChannelError) as caught:
            await provider.authorization_url(config, new_request(CALLBACK))
    assert (caught.value.code, caught.value.retryable) == ("TIMEOUT", True)


async def test_loopback_is_refused_unless_the_operator_allows_it() -> None:
    async with idp() as (emulator, config, provider):
        strict = replace(config, http=OutboundHTTP(OutboundPolicy()))
        with pytest.raises(ChannelError) as caught:
            await provider.authorization_url(strict, new_request(CALLBACK))
        assert (caught.value.code, caught.value.retryable) == ("URL_NOT_ALLOWED", False)
        assert not emulator.requests, "the refused issuer was never called"
        await provider.authorization_url(config, new_request(CALLBACK))  # allowed: discovered
        with pytest.raises(ChannelError) as cached:  # a discovery cached under another policy
            await provider.authorization_url(strict, new_request(CALLBACK))
    assert (cached.value.code, cached.value.retryable) == ("URL_NOT_ALLOWED", False)


async def test_a_discovered_endpoint_on_an_internal_address_is_refused() -> None:
    async with idp() as (emulator, config, provider):
        emulator.discovery_overrides["token_endpoint"] = "http://169.254.169.254/latest/meta-data"
        with pytest.raises(ChannelError) as caught:
            await provider.authorization_url(config, new_request(CALLBACK))
    assert caught.value.code == "URL_NOT_ALLOWED"
    assert "token_endpoint" in caught.value.message


# --------------------------------------------------------------------------- what the emulator refuses


async def post_token(base_url: str, form: dict[str, str] | str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        if isinstance(form, str):
            headers.setdefault("content-type", "application/x-www-form-urlencoded")
            return await client.post(f"{base_url}/token", content=form, headers=headers)
        return await client.post(f"{base_url}/token", data=form, headers=headers)


def basic(client_id: str = CLIENT, secret: str = SECRET) -> str:
    return basic_authorization(client_id, secret)


async def test_the_emulator_refuses_bad_token_requests() -> None:
    async with idp() as (_emulator, config, provider):
        _request, code = await code_for(provider, config)
        good = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        cases: list[tuple[httpx.Response, int, str]] = [
            (await post_token(config.issuer, good), 401, "invalid_client"),
            (
                await post_token(config.issuer, good, authorization=basic(secret="wrong")),
                401,
                "invalid_client",
            ),
            (await post_token(config.issuer, good, authorization=basic("nobody")), 401, "invalid_client"),
            (
                await post_token(config.issuer, {**good, "client_secret": SECRET}, authorization=basic()),
                400,
                "invalid_request",
            ),
            (
                await post_token(config.issuer, {**good, "grant_type": "password"}, authorization=basic()),
                400,
                "unsupported_grant_type",
            ),
            (
                await post_token(
                    config.issuer, {"code": code, "redirect_uri": CALLBACK}, authorization=basic()
                ),
                400,
                "invalid_request",
            ),
            (
                await post_token(config.issuer, good, authorization=basic()),
                400,
                "invalid_request",
            ),  # no verifier
            (
                await post_token(
                    config.issuer,
                    "grant_type=authorization_code&grant_type=authorization_code",
                    authorization=basic(),
                ),
                400,
                "invalid_request",
            ),
        ]
        async with httpx.AsyncClient() as client:
            json_body = await client.post(
                f"{config.issuer}/token", json=good, headers={"authorization": basic()}
            )
    for response, status, error in cases:
        assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert cases[1][0].headers["www-authenticate"].startswith("Basic")
    assert json_body.status_code == 400 and json_body.json()["error"] == "invalid_request"


async def test_a_reused_code_revokes_its_access_token() -> None:
    async with idp() as (_emulator, config, provider):
        request, code = await code_for(provider, config)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": request.code_verifier,
        }
        first = await post_token(config.issuer, form, authorization=basic())
        assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
        bearer = {"authorization": f"Bearer {first.json()['access_token']}"}
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{config.issuer}/userinfo", headers=bearer)).status_code == 200
            second = await post_token(config.issuer, form, authorization=basic())
            after = await client.get(f"{config.issuer}/userinfo", headers=bearer)
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")
    assert after.status_code == 401


async def test_the_authorization_endpoint_refuses_without_redirecting() -> None:
    async with idp() as (_emulator, config, provider):
        url = httpx.URL(await provider.authorization_url(config, new_request(CALLBACK)))
        async with httpx.AsyncClient() as browser:
            unknown = await browser.get(url.copy_set_param("client_id", "nobody"))
            elsewhere = await browser.get(url.copy_set_param("redirect_uri", "https://evil.example/cb"))
            no_pkce = await browser.get(
                url.copy_remove_param("code_challenge").copy_set_param("login_hint", "u-1")
            )
            no_user = await browser.get(url.copy_set_param("login_hint", "stranger@example.com"))
    for page in (unknown, elsewhere):
        assert page.status_code == 400 and "location" not in page.headers
        assert page.headers["content-type"].startswith("text/html")
    assert parse_qs(urlsplit(no_pkce.headers["location"]).query)["error"] == ["invalid_request"]
    assert parse_qs(urlsplit(no_user.headers["location"]).query)["error"] == ["access_denied"]
