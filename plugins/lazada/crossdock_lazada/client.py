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


- throttling is retryable, with ``retry_after``: the gateway's ``ApiCallLimit`` (the ban's
  length is in its message) and HTTP 429, the services' ``901`` ("Limit service request
  speed in server side temporarily": per-API QPS, "retry in the next second") and ``998``
  (the API switched off for stability during a campaign's traffic peak);
- Lazada's system errors are retryable: ``type`` ``SYSTEM``, HTTP 5xx, timeouts, network
  errors, malformed JSON, and the service codes that mean "internal error, try again"
  (``6``, ``21``, ``106``, ``513``, ``1000``, ``ServiceTimeout``, ...);
- ``IllegalAccessToken`` ("The specified access token is invalid or expired") is the one
  code that means the token is no longer accepted: :data:`ChannelError.AUTH_EXPIRED`, so the
  core refreshes and retries once;
- an app or a seller that may not call the API (the app lacks the API's permission group,
  the seller is not active or not verified, an IP outside the app's white list, an MP3
  seller) is refused permanently under Lazada's own code: no refresh helps, and treating it
  as expiry would spend the refresh token for nothing;
- a bad app key, signature, timestamp or parameter is permanent.

Sources: the API reference pages as mirrored in ``lazykern/ecommerce-api-docs``
(``data/raw/lazada/apis/*/*.json``, their ``errorCodes``: e.g. ``order-api/getorders.json``,
``product-api/updatepricequantity.json``, ``seller-api/getseller.json``), its guides
``developers-guide/error-messages.md`` (SYSTEM / ISV / ISP) and
``product-operation/product-management/create-update-product-q-a.md`` (``998``,
``ApiCallLimit`` "ban will last 1 seconds", ``ServiceTimeout``), and
../shared/marketplaces.md. See the plugin README for what is UNCONFIRMED.
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
    "INVALID_ORDER_ID",
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

#: The access token is unknown, expired or revoked: refresh it. The reference documents
#: this one code for it on every seller API (e.g. seller-api/getseller.json).
AUTH_CODES = frozenset({"IllegalAccessToken"})
#: Throttling: the gateway's per-app/per-API flow control (``ApiCallLimit``; ``AppCallLimit``
#: is the same ban at app level), the services' per-API QPS limit ``901`` and ``998``, an
#: API switched off for a campaign's peak ("To ensure stability of service, this API service
#: is disabled"). Retried after ``retry_after``.
THROTTLE_CODES = frozenset({"ApiCallLimit", "AppCallLimit", "901", "998", "OPEN_API_CALL_EXCEED_LIMIT"})
#: How long to wait when the answer does not say: the next second for the QPS limits; a
#: campaign's switch-off lasts longer (the announcement gives hours), so a minute.
THROTTLE_WAIT = {"998": 60.0}
#: Transient failures of the service behind the gateway ("internal error, please retry").
RETRYABLE_CODES = frozenset(
    {
        "ServiceTimeout",
        "ServiceUnavailable",
        "InternalError",
        "6",  # E006: Unexpected internal error / System Error
        "21",  # E021: Internal System Error
        "106",  # E0106: ROC internal error
        "513",  # Internal call exception ("a small number of occurrences are normal")
        "1000",  # Internal Application Error
        "SYSTEM_ERROR",
        "SYS_ERROR",
        "INTERNAL_SYSTEM_ERROR",
        "THIRD_SERVICE_ERROR",
        "SELLER_SERVICE_FAIL",
        "BIZ_DEGRADATION_ERROR",  # "The service is not available now, please retry"
    }
)
#: The app or the seller may not make this call: permanent, and not token expiry.
PERMISSION_CODES = frozenset(
    {
        "InsufficientPermission",  # the app lacks the API's permission group (IOP gateway)
        "InsufficientIsvPermissions",
        "AppWhiteIpLimit",  # a call from outside the app's IP white list
        "Mp3SellerApiLimit",  # "MP3 sellers cannot call the current API"
        "SellerNotActive",  # "Seller not active, please check seller status"
        "SellerNotVerified",  # "Seller not verified, please check seller status"
        "BIZ_USER_NOT_PERMITTED",  # "No permission"
        "AUTH_TYPE_UNSUPPORTED",  # a service-market app's token cannot be refreshed
        "APP_KEY_INVALID",
    }
)
#: GetOrder / GetOrderItems: "E016: Invalid Order ID", the order is not the seller's.
INVALID_ORDER_ID = "16"
#: Never worth retrying, whatever ``type`` the gateway gives them.
PERMANENT_CODES = PERMISSION_CODES | frozenset(
    {
        "IncompleteSignature",
        "InvalidSignature",
        "InvalidAppKey",
        "InvalidTimestamp",
        "MissingParameter",
        "InvalidParameter",
        "InvalidApiPath",
        "IllegalRefreshToken",
        "InvalidCode",
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
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """One API call; returns the whole JSON answer or raises :class:`ChannelError`.
        ``auth=True`` sends it to the auth host (token endpoints). ``files`` (name ->
        (filename, bytes, content type)) makes it a multipart POST: the signed parameters
        as form fields, each file a part of its own, never signed (UploadImage's
        ``image``), as Lazada's SDKs send files."""
        url = (self.auth_url if auth else self.base_url) + path
        signed = self.signed_params(path, params, access_token)
        try:
            if files:
                response = await self.http.post(url, data=signed, files=dict(files))
            elif method.upper() == "GET":
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
            wait = _ban(message) or THROTTLE_WAIT.get(code, 1.0)
            raise LazadaApiError(text, code=code, retryable=True, retry_after=wait, body=data)
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
