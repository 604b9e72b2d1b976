"""The HTTP client: OAuth tokens, FedEx's error envelope, and what counts as retryable.

FedEx APIs take a bearer token from ``POST /oauth/token`` (form ``grant_type=
client_credentials``, ``client_id``, ``client_secret``; the answer's ``expires_in`` is about
an hour). Tokens are cached per account and fetched again shortly before they expire, and
once when an API answers 401 (``NOT.AUTHORIZED.ERROR``, "Access token expired"); a 401
after that refresh is bad credentials. Every error answer is ``{transactionId, errors:
[{code, message, parameterList}]}``.

How errors map: 429 is retryable with ``Retry-After``; 5xx, timeouts, network errors and
unreadable answers are retryable; 400/422 (and 404 of a known endpoint) are FedEx refusing
the request: ``REFUSED`` with FedEx's message; 401 after a refresh and 403 are permanent
``CREDENTIALS`` errors.
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
from crossdock.providers import CarrierAccount

__all__ = [
    "CREDENTIALS",
    "DEFAULT_HOST",
    "REFUSED",
    "SANDBOX_HOST",
    "FedExClient",
    "TokenCache",
    "error_messages",
]

DEFAULT_HOST = "https://apis.fedex.com"
SANDBOX_HOST = "https://apis-sandbox.fedex.com"
TOKEN_PATH = "/oauth/token"
REFUSED = "REFUSED"
CREDENTIALS = "CREDENTIALS"
#: a token is fetched again this many seconds before FedEx says it expires
EXPIRY_MARGIN = 60.0
#: the one rate-limit bucket: FedEx limits a project across its endpoints (1,400
#: transactions per 10 seconds, developer.fedex.com "Quotas & rate limits guide")
OPERATION = "api"


@dataclass
class Token:
    value: str
    expires_at: float


class TokenCache:
    """Bearer tokens by account (and host and client id, so a changed key is a new entry)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[Any, ...], Token] = {}
        self._locks: dict[tuple[Any, ...], asyncio.Lock] = {}
        #: tokens fetched from FedEx (tests count them)
        self.fetched = 0

    def valid(self, key: tuple[Any, ...]) -> str | None:
        token = self._tokens.get(key)
        if token is None or self.clock() >= token.expires_at - EXPIRY_MARGIN:
            return None
        return token.value

    def lock(self, key: tuple[Any, ...]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def put(self, key: tuple[Any, ...], value: str, expires_in: float) -> None:
        self.fetched += 1
        self._tokens[key] = Token(value, self.clock() + expires_in)

    def drop(self, key: tuple[Any, ...], value: str | None = None) -> None:
        token = self._tokens.get(key)
        if token is not None and (value is None or token.value == value):
            del self._tokens[key]


def error_messages(data: Any) -> tuple[str, str]:
    """(first error code, every "code: message" joined) of FedEx's error envelope."""
    errors = data.get("errors") if isinstance(data, Mapping) else None
    if not isinstance(errors, list) or not errors:
        return "", ""
    parts, first = [], ""
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        code = str(error.get("code") or "")
        first = first or code
        message = str(error.get("message") or "")
        parts.append(f"{code}: {message}" if code and message else code or message)
    return first, "; ".join(p for p in parts if p)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class FedExClient:
    """One account's calls. ``http`` is the account's guarded client
    (:meth:`CarrierAccount.http_client`)."""

    def __init__(
        self, account: CarrierAccount, tokens: TokenCache, http: httpx.AsyncClient | None = None
    ) -> None:
        self.account = account
        self.tokens = tokens
        self.http = http or account.http_client()
        creds = account.credentials
        self.client_id = str(creds.get("client_id") or "")
        self.client_secret = str(creds.get("client_secret") or "")
        self.account_number = str(creds.get("account_number") or "")
        sandbox = str(account.settings.get("sandbox", "")).lower() in ("1", "true", "yes")
        self.base_url = (account.base_url or (SANDBOX_HOST if sandbox else DEFAULT_HOST)).rstrip("/")
        self.key = (account.id, account.tenant, self.base_url, self.client_id)

    # ------------------------------------------------------------ tokens

    async def token(self, *, stale: str | None = None) -> str:
        """A valid bearer token; ``stale``: the one FedEx just refused (fetch another,
        unless a concurrent call already did)."""
        if stale is not None:
            self.tokens.drop(self.key, stale)
        cached = self.tokens.valid(self.key)
        if cached:
            return cached
        async with self.tokens.lock(self.key):
            cached = self.tokens.valid(self.key)
            if cached:
                return cached
            if not self.client_id or not self.client_secret:
                raise ChannelError("fedex: the account has no client_id/client_secret", code=CREDENTIALS)
            await self.account.throttle(OPERATION)
            response = await self._send(
                "POST",
                TOKEN_PATH,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            data = self._decode(response, TOKEN_PATH)
            if response.status_code in (400, 401, 403):
                _, message = error_messages(data)
                raise ChannelError(
                    f"fedex refused the API key: {message or response.status_code}", code=CREDENTIALS
                )
            self._raise_for(response, data, TOKEN_PATH)
            value = data.get("access_token")
            if not isinstance(value, str) or not value:
                raise ChannelError(
                    "fedex /oauth/token answered without access_token", code="MALFORMED", retryable=True
                )
            try:
                expires_in = float(data.get("expires_in") or 3600)
            except (TypeError, ValueError):
                expires_in = 3600.0
            self.tokens.put(self.key, value, expires_in)
            return value

    # ------------------------------------------------------------ calls

    async def call(
        self, method: str, path: str, body: Mapping[str, Any], *, transaction_id: str | None = None
    ) -> dict[str, Any]:
        """One API call with a bearer token (refreshed once on 401); the JSON answer."""
        token = await self.token()
        for attempt in (1, 2):
            await self.account.throttle(OPERATION)
            headers = {"authorization": f"Bearer {token}", "x-locale": "en_US"}
            if transaction_id:
                headers["x-customer-transaction-id"] = transaction_id
            response = await self._send(method, path, json_body=body, headers=headers)
            data = self._decode(response, path)
            if response.status_code == 401:
                if attempt == 1:
                    token = await self.token(stale=token)
                    continue
                _, message = error_messages(data)
                raise ChannelError(f"fedex {path}: {message or 'unauthorized'}", code=CREDENTIALS)
            self._raise_for(response, data, path)
            return data
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self.http.request(
                method, self.base_url + path, data=data, json=json_body, headers=dict(headers or {})
            )
        except httpx.TimeoutException as exc:
            raise ChannelError(f"fedex {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"fedex {path}: {exc}", code="NETWORK", retryable=True) from exc

    @staticmethod
    def _decode(response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except (json.JSONDecodeError, ValueError):
            data = None
        if isinstance(data, dict):
            return data
        if response.status_code == 429 or response.status_code >= 500:
            return {}
        raise ChannelError(
            f"fedex {path} answered {response.status_code} with no JSON object",
            code="MALFORMED",
            retryable=True,
        )

    @staticmethod
    def _raise_for(response: httpx.Response, data: Mapping[str, Any], path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        code, message = error_messages(data)
        text = message or f"HTTP {status}"
        if status == 429:
            raise ChannelError(
                f"fedex throttled {path}: {text}",
                code="THROTTLED",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        if status >= 500:
            raise ChannelError(f"fedex {path}: {text}", code=code or "SERVER_ERROR", retryable=True)
        if status == 403:
            raise ChannelError(f"fedex {path}: {text}", code=CREDENTIALS)
        # 400, 404 (NOT.FOUND.ERROR of a known endpoint), 409, 422: FedEx will not do it
        raise ChannelError(text, code=REFUSED)
