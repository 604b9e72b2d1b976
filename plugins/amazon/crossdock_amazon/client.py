"""Selling Partner API client: LWA tokens, headers, the error envelope, retry semantics.

Calls carry ``x-amz-access-token`` (an LWA access token, or a Restricted Data Token for
PII), ``x-amz-date`` and ``content-type: application/json``; there is no SigV4 signing
any more. Errors come as ``{"errors": [{"code", "message", "details"}]}``: HTTP 429 and
5xx are transient; a 403 ``Unauthorized`` is an expired or invalid token (``AUTH_EXPIRED``:
refresh and retry) only when its ``details`` say so (:func:`token_refused`), else a missing
role or a withdrawn authorisation, permanent; the rest are permanent. Sources: SP-API docs
"Connecting to the Selling Partner API", "Usage Plans and Rate Limits", "Tokens API"
(summarised in ../shared/marketplaces.md); the 403 wordings in issues
amzn/selling-partner-api-docs#2147 and #2553.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx

from crossdock import ChannelConnection, ChannelError

__all__ = ["LWA_HOST", "AccessDenied", "SpApiClient", "lwa_token", "token_refused"]

LWA_HOST = "https://api.amazon.com"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code < 400:
        return
    try:
        errors = response.json().get("errors") or [{}]
    except (json.JSONDecodeError, ValueError, AttributeError):
        errors = [{}]
    code = str(errors[0].get("code") or response.status_code)
    message = str(errors[0].get("message") or response.reason_phrase)
    details = str(errors[0].get("details") or "")
    if response.status_code == 429:
        raise ChannelError(
            f"amazon {what}: throttled",
            code="QuotaExceeded",
            retryable=True,
            retry_after=_retry_after(response),
        )
    if response.status_code >= 500:
        raise ChannelError(f"amazon {what}: {message}", code=code, retryable=True)
    if response.status_code in (401, 403):
        if token_refused(message, details):
            raise ChannelError(f"amazon {what}: {details or message}", code=ChannelError.AUTH_EXPIRED)
        # "Access to requested resource is denied." with no word on the token: the
        # application lacks the role, the seller withdrew it, or a Restricted Data Token
        # was used outside what it was made for. A refresh would not help.
        raise ChannelError(
            f"amazon {what}: {code}: {message}{f' ({details})' if details else ''}",
            code=code if code == AccessDenied.UNAUTHORIZED else AccessDenied.FORBIDDEN,
        )
    raise ChannelError(f"amazon {what}: {code}: {message}{f' ({details})' if details else ''}", code=code)


#: What SP-API says in ``details`` of a 403 ``Unauthorized`` about the access token itself
#: (issues amzn/selling-partner-api-docs#2147, #2553 and the SDKs that refresh on these):
#: only these are cured by a new access token.
TOKEN_REFUSALS = (
    "the access token you provided has expired",
    "the access token you provided is revoked, malformed or invalid",
    "access token is missing in the request header",
)


class AccessDenied(StrEnum):
    """The codes of a refusal a new access token does not cure (permanent)."""

    #: SP-API's own code: a role the application lacks, an authorisation withdrawn, an RDT
    #: used on a path or method it was not made for
    UNAUTHORIZED = "Unauthorized"
    #: a 401/403 in another envelope (e.g. an API gateway's)
    FORBIDDEN = "FORBIDDEN"


def token_refused(message: str, details: str) -> bool:
    """Whether a 401/403 says the access token expired or is invalid (refresh and retry)."""
    words = f"{details} {message}".lower()
    return any(refusal in words for refusal in TOKEN_REFUSALS)


async def lwa_token(http: httpx.AsyncClient, lwa_host: str, form: Mapping[str, str]) -> dict[str, Any]:
    """Login with Amazon: exchange a refresh token (or an authorization code) for tokens."""
    try:
        response = await http.post(f"{lwa_host.rstrip('/')}/auth/o2/token", data=dict(form))
    except httpx.TimeoutException as exc:
        raise ChannelError("amazon LWA timed out", code="TIMEOUT", retryable=True) from exc
    except httpx.TransportError as exc:
        raise ChannelError(f"amazon LWA: {exc}", code="NETWORK", retryable=True) from exc
    if response.status_code == 400 or response.status_code == 401:
        body = response.json() if response.content else {}
        raise ChannelError(
            f"amazon LWA refused: {body.get('error_description') or body.get('error')}",
            code=str(body.get("error") or "invalid_grant"),
        )
    _raise_for(response, "LWA")
    try:
        return dict(response.json())
    except (json.JSONDecodeError, ValueError):
        raise ChannelError("amazon LWA answered invalid JSON", code="MALFORMED", retryable=True) from None


def _announced_rate(response: httpx.Response) -> float | None:
    """``x-amzn-RateLimit-Limit``: the requests per second this selling partner gets now."""
    try:
        return float(response.headers["x-amzn-ratelimit-limit"])
    except (KeyError, ValueError):
        return None


class SpApiClient:
    """Calls for one connection. Given the connection, each call of a named ``operation``
    waits for its token bucket first and reports the rate Amazon announces back to it."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        http: httpx.AsyncClient,
        conn: ChannelConnection | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.http = http
        self.conn = conn

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {
            "x-amz-access-token": token or self.access_token,
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "content-type": "application/json",
            "user-agent": "crossdock-amazon (Language=Python)",
        }

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        token: str | None = None,
        operation: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One call; the parsed JSON (None for 204) or :class:`ChannelError`."""
        if operation and self.conn is not None:
            await self.conn.throttle(operation)
        try:
            response = await self.http.request(
                method,
                self.base_url + path,
                params=params,
                content=json.dumps(body) if body is not None else None,
                headers={**self.headers(token), **(extra_headers or {})},
            )
        except httpx.TimeoutException as exc:
            raise ChannelError(f"amazon {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"amazon {path}: {exc}", code="NETWORK", retryable=True) from exc
        rate = _announced_rate(response)
        if operation and rate and self.conn is not None:
            await self.conn.rate_observed(operation, rate)
        _raise_for(response, path)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, ValueError):
            raise ChannelError(
                f"amazon {path} answered invalid JSON", code="MALFORMED", retryable=True
            ) from None
