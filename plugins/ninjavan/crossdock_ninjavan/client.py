"""The HTTP client: OAuth client-credentials tokens (cached per account), the country
prefix, Ninja Van's error envelope, and what counts as retryable.

Every path is prefixed by the account's country code (``/sg/4.2/orders``). A token comes
from ``POST /{countryCode}/2.0/oauth/access_token`` (``client_id``, ``client_secret``,
``grant_type=client_credentials`` -> ``access_token``, ``expires`` (epoch seconds),
``expires_in``) and is sent as ``Authorization: Bearer``. Ninja Van asks shippers to cache it
and to take a new one shortly before it expires or when a call answers 401: the cache
renews five minutes early, and a 401 drops the token and retries the call once with a new
one; a second 401 is ``CREDENTIALS`` (permanent). 429 (``Retry-After``), 5xx, timeouts and
unreadable answers are retryable; 400/422 are ``REFUSED`` with Ninja Van's message; 403 is
``FORBIDDEN`` (an API the account was not granted, e.g. waybills before approval).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from crossdock import ChannelError
from crossdock_ninjavan.mapping import error_message

__all__ = ["PRODUCTION", "SANDBOX", "NinjaVanClient", "NinjaVanError", "TokenCache"]

PRODUCTION = "https://api.ninjavan.co"
SANDBOX = "https://api-sandbox.ninjavan.co"
#: renew a cached token this many seconds before Ninja Van's ``expires``
EARLY = 300.0


class NinjaVanError(ChannelError):
    """A ``ChannelError`` that keeps Ninja Van's HTTP status and error body."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        body: Any = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, retry_after=retry_after)
        self.status = status
        self.body = body


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Access tokens by (host, country, client id): one per shipper account, shared by
    every call the provider makes for it (a provider is a singleton in the server)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    def get(self, key: tuple[str, str, str], now: float) -> str | None:
        token = self._tokens.get(key)
        return token.value if token is not None and now < token.expires_at - EARLY else None

    def put(self, key: tuple[str, str, str], value: str, expires_at: float) -> None:
        self._tokens[key] = _Token(value, expires_at)

    def drop(self, key: tuple[str, str, str], value: str | None = None) -> None:
        token = self._tokens.get(key)
        if token is not None and (value is None or token.value == value):
            del self._tokens[key]

    def lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())


class NinjaVanClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        country: str,
        http: httpx.AsyncClient,
        tokens: TokenCache,
        base_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id or not client_secret:
            raise ChannelError("ninjavan needs client_id and client_secret", code="CREDENTIALS")
        self.client_id = client_id
        self.client_secret = client_secret
        self.country = country.strip().lower()
        self.base_url = (base_url or PRODUCTION).rstrip("/")
        # the caller's pool (account.http_client(): the server's shared, SSRF-guarded one)
        self.http = http
        self.tokens = tokens
        self.clock = clock
        self.key = (self.base_url, self.country, client_id)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.country}{path}"

    # ------------------------------------------------------------ tokens

    async def token(self) -> str:
        cached = self.tokens.get(self.key, self.clock())
        if cached is not None:
            return cached
        async with self.tokens.lock(self.key):
            cached = self.tokens.get(self.key, self.clock())
            if cached is not None:
                return cached
            return await self._login()

    async def _login(self) -> str:
        path = "/2.0/oauth/access_token"
        body = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "client_credentials",
        }
        response = await self._send("POST", path, json_body=body, headers={"Accept": "application/json"})
        if response.status_code in (400, 401, 403):
            words = error_message(_json(response), response.status_code)
            raise NinjaVanError(
                f"ninjavan refused the client credentials: {words}",
                code="CREDENTIALS",
                status=response.status_code,
            )
        data = self._checked(response, path)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise NinjaVanError("ninjavan token answer has no access_token", code="MALFORMED", retryable=True)
        expires = data.get("expires")
        expires_in = data.get("expires_in")
        if isinstance(expires, int | float) and not isinstance(expires, bool):
            expires_at = float(expires)
        elif isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            expires_at = self.clock() + float(expires_in)
        else:
            expires_at = self.clock() + EARLY + 60  # use once, then ask again
        self.tokens.put(self.key, token, expires_at)
        return token

    # ------------------------------------------------------------ calls

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: list[tuple[str, str]] | None = None,
        pdf: bool = False,
    ) -> Any:
        """One authenticated call: the decoded JSON answer (or the PDF's bytes with
        ``pdf=True``), or a :class:`NinjaVanError`."""
        for attempt in (1, 2):
            token = await self.token()
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/pdf" if pdf else "application/json",
            }
            response = await self._send(method, path, json_body=json_body, params=params, headers=headers)
            if response.status_code == 401:
                self.tokens.drop(self.key, token)
                if attempt == 1:
                    continue
                raise NinjaVanError(
                    f"ninjavan {path}: {error_message(_json(response), 401)} (after a new token)",
                    code="CREDENTIALS",
                    status=401,
                    body=_json(response),
                )
            if pdf and response.status_code == 200:
                content = response.content
                if not content.startswith(b"%PDF-"):
                    raise NinjaVanError(
                        f"ninjavan {path} answered 200 without a PDF", code="MALFORMED", retryable=True
                    )
                return content
            return self._checked(response, path)
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        try:
            query = tuple(params) if params is not None else None  # repeated keys kept, in order
            return await self.http.request(
                method, self.url(path), json=json_body, params=query, headers=dict(headers)
            )
        except httpx.TimeoutException as exc:
            raise NinjaVanError(f"ninjavan {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise NinjaVanError(f"ninjavan {path}: {exc}", code="NETWORK", retryable=True) from exc

    def _checked(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        body = _json(response)
        if status == 429:
            raise NinjaVanError(
                "ninjavan throttled the request",
                code="THROTTLED",
                status=429,
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        if status >= 500:
            raise NinjaVanError(
                f"ninjavan {path}: {error_message(body, status)}",
                code="SERVER_ERROR",
                status=status,
                body=body,
                retryable=True,
            )
        if status == 403:
            raise NinjaVanError(
                f"ninjavan {path}: {error_message(body, status)}", code="FORBIDDEN", status=403, body=body
            )
        if status == 404:
            raise NinjaVanError(
                f"ninjavan {path}: {error_message(body, status)}", code="NOT_FOUND", status=404, body=body
            )
        if status >= 400:
            raise NinjaVanError(error_message(body, status), code="REFUSED", status=status, body=body)
        if body is _INVALID or not isinstance(body, dict):
            raise NinjaVanError(
                f"ninjavan {path} answered {status} with invalid JSON", code="MALFORMED", retryable=True
            )
        return body


_INVALID: Any = object()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, ValueError):
        return _INVALID


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
