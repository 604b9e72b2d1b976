"""The HTTP client: system parameters, signing, the error envelope, what is retryable.

Every call carries ``app_key``, ``timestamp`` (milliseconds), ``sign_method=sha256``,
``sign`` and, for seller APIs, ``access_token``. GET calls send every parameter in the
query string; POST calls send them form-encoded in the body, as Lazada's own SDK does.
Structured parameters (``packReq``, ``order_ids``) are compact JSON strings and are signed
as sent.

Answers are ``{"code": "0", "request_id": ..., "data": ...}`` on success and ``{"code",
"type": "ISV"|"ISP"|"SYSTEM", "message", "request_id"}`` on failure. The instant-messaging
APIs (``/im/...``) answer their own ``{"success", "err_code", "err_message", "data"}``
envelope, possibly without ``code``: ``success: false`` is a failure whatever ``code`` says.


- ``ApiCallLimit`` (and HTTP 429) is throttling: retryable, with ``retry_after`` when the
  answer says how long the ban lasts;
- ``IllegalAccessToken`` (and the other access-token codes) means the token is no longer
  accepted: :data:`ChannelError.AUTH_EXPIRED`, so the core refreshes and retries once;
- a bad app key, signature, timestamp or parameter is permanent;
- HTTP 5xx, ``SYSTEM`` errors, timeouts, network errors and malformed JSON are retryable.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from crossdock import ChannelError
from crossdock_lazada.signing import sign_request

__all__ = [
    "AUTH_HOST",
    "LazadaApiError",
    "LazadaClient",
    "api_host",
]

#: Regional API gateways (Lazada Open Platform "Service endpoints"); the auth host serves
#: /auth/token/create and /auth/token/refresh for every country.
API_HOSTS = {
    "SG": "https://api.lazada.sg/rest",
    "TH": "https://api.lazada.co.th/rest",
    "MY": "https://api.lazada.com.my/rest",
    "VN": "https://api.lazada.vn/rest",
    "PH": "https://api.lazada.com.ph/rest",
    "ID": "https://api.lazada.co.id/rest",
}
AUTH_HOST = "https://auth.lazada.com/rest"

#: The access token is unknown, expired or revoked: refresh it.
AUTH_CODES = frozenset({"IllegalAccessToken", "AccessTokenExpired", "InvalidAccessToken"})
#: Transient failures of the gateway or of the service behind it.
RETRYABLE_CODES = frozenset({"ApiCallLimit", "AppCallLimit", "ServiceTimeout", "ServiceUnavailable"})
THROTTLE_CODES = frozenset({"ApiCallLimit", "AppCallLimit"})
#: Never worth retrying, whatever ``type`` the gateway gives them.
PERMANENT_CODES = frozenset(
    {
        "IncompleteSignature",
        "InvalidSignature",
        "InvalidAppKey",
        "InvalidTimestamp",
        "MissingParameter",
        "InvalidParameter",
        "InvalidApiPath",
        "IllegalRefreshToken",
        "AppWhiteIpLimit",
    }
)
_BAN_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)


def api_host(site: str) -> str:
    return API_HOSTS.get(site.upper(), API_HOSTS["SG"])


class LazadaApiError(ChannelError):
    """An answer whose ``code`` is not ``"0"``; ``body`` keeps the envelope (some APIs
    name the failing rows in ``detail``)."""

    def __init__(self, message: str, *, body: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.body: Mapping[str, Any] = body or {}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class LazadaClient:
    def __init__(
        self,
        app_key: str,
        app_secret: str,
        *,
        base_url: str | None = None,
        auth_url: str | None = None,
        site: str = "SG",
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_key = str(app_key)
        self.app_secret = app_secret
        self.base_url = (base_url or api_host(site)).rstrip("/")
        # an emulator or sandbox given as base_url serves the auth endpoints too
        self.auth_url = (auth_url or base_url or AUTH_HOST).rstrip("/")
        # the caller's client: a provider's conn.http_client() (the server's one pool, closed
        # at shutdown), a test's crossdock.testing.emulator_http().client(); never a pool
        # of the client's own, which nothing would close
        self.http = http
        self.clock = clock

    def signed_params(
        self, path: str, params: Mapping[str, Any] | None = None, access_token: str = ""
    ) -> dict[str, str]:
        signed = {key: _text(value) for key, value in (params or {}).items() if value is not None}
        signed.update(
            app_key=self.app_key,
            timestamp=str(int(self.clock() * 1000)),
            sign_method="sha256",
        )
        if access_token:
            signed["access_token"] = access_token
        signed["sign"] = sign_request(self.app_secret, path, signed)
        return signed

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        access_token: str = "",
        auth: bool = False,
    ) -> dict[str, Any]:
        """One API call; returns the whole JSON answer or raises :class:`ChannelError`.
        ``auth=True`` sends it to the auth host (token endpoints)."""
        url = (self.auth_url if auth else self.base_url) + path
        signed = self.signed_params(path, params, access_token)
        try:
            if method.upper() == "GET":
                response = await self.http.get(url, params=signed)
            else:
                response = await self.http.request(method.upper(), url, data=signed)
        except httpx.TimeoutException as exc:
            raise ChannelError(f"lazada {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"lazada {path}: {exc}", code="NETWORK", retryable=True) from exc
        try:
            data = response.json()
        except (json.JSONDecodeError, ValueError):
            data = None
        if response.status_code == 429:
            raise ChannelError(
                "lazada throttled the request",
                code="ApiCallLimit",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after"))
                or _ban(data.get("message") if isinstance(data, dict) else None),
            )
        if not isinstance(data, dict):
            raise ChannelError(
                f"lazada {path} answered {response.status_code} with invalid JSON",
                code="MALFORMED",
                retryable=True,
            )
        code = str(data.get("code", "0"))
        message = str(data.get("message") or "")
        if code == "0" and str(data.get("success", "")).lower() == "false":
            # the IM APIs' own envelope: {"success": false, "err_code", "err_message"}, with
            # or without a gateway ``code`` (UNCONFIRMED which one the live API sends)
            code = str(data.get("err_code") or "")
            code = "IM_ERROR" if code in ("", "0") else code
            message = str(data.get("err_message") or message)
        if response.status_code >= 500 and code == "0":
            code = "SERVER_ERROR"
        if code == "0" and response.status_code < 400:
            return data
        text = f"lazada {path}: {code}: {message}".rstrip(": ")
        if code in AUTH_CODES and access_token:
            raise LazadaApiError(text, code=ChannelError.AUTH_EXPIRED, body=data)
        if code in THROTTLE_CODES:
            raise LazadaApiError(text, code=code, retryable=True, retry_after=_ban(message) or 1.0, body=data)
        if code in PERMANENT_CODES or code in AUTH_CODES:
            raise LazadaApiError(text, code=code, body=data)
        retryable = response.status_code >= 500 or code in RETRYABLE_CODES or data.get("type") == "SYSTEM"
        raise LazadaApiError(text, code=code, retryable=retryable, body=data)

    async def create_token(self, code: str) -> dict[str, Any]:
        """Exchange the seller's authorization code for tokens (``/auth/token/create``)."""
        return await self.call("POST", "/auth/token/create", params={"code": code}, auth=True)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """New tokens from the refresh token (``/auth/token/refresh``)."""
        return await self.call(
            "POST", "/auth/token/refresh", params={"refresh_token": refresh_token}, auth=True
        )


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _ban(message: str | None) -> float | None:
    """Lazada's throttling message says how long the ban lasts ("... ban will last 1
    seconds"); the wording is UNCONFIRMED, so this only reads a number of seconds if one
    is there."""
    match = _BAN_SECONDS.search(message or "")
    return float(match.group(1)) if match else None
