"""The HTTP client: signing, the error envelope, and what counts as retryable.

Every call carries ``partner_id``, ``timestamp`` and ``sign`` (plus ``access_token`` and
``shop_id`` for shop APIs) in the query string; POST bodies are JSON and unsigned. An
answer whose ``error`` is non-empty is a failure: throttling (``error_rate_limit``, HTTP
429), ``error_system_busy``, ``error_server``/``error_inner`` and HTTP 5xx are transient;
``error_auth`` is read by its message (:func:`auth_refusal`): only an invalid or expired
access token asks for a refresh, the other meanings are permanent; the rest are permanent.

Sources: the API reference JSON mirrored in ``congminh1254/shopee-sdk`` (``schemas/*.json``:
each API's ``error_list`` and the ``common_error_list`` every API shares).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import httpx

from crossdock import ChannelError
from crossdock_shopee.signing import base_string, sign

__all__ = ["AUTH_EXPIRED", "DEFAULT_HOST", "AuthRefusal", "ShopeeClient", "auth_refusal", "error_for"]

DEFAULT_HOST = "https://partner.shopeemobile.com"
#: ChannelError code for an access token the shop no longer accepts (refresh, then retry).
AUTH_EXPIRED = ChannelError.AUTH_EXPIRED
#: transient: server errors and throttling. ``error_rate_limit`` ("Too many requests. You
#: have reached the rate limit.") is in every API's common_error_list; ``error_system_busy``
#: and ``error_inner`` ("Our system is taking some time to respond, please try later.") in
#: the product APIs' error_list; ``error_server`` and ``error_network`` everywhere.
RETRYABLE_ERRORS = frozenset(
    {
        "error_server",
        "error_busy",
        "error_inner",
        "error_network",
        "error_rate_limit",
        "error_system_busy",
    }
)
#: Shopee's code for an access token it no longer accepts besides ``error_auth`` (sic)
INVALID_TOKEN_ERRORS = frozenset({"invalid_acceess_token", "invalid_access_token"})
#: the Ads module's own throttling codes (every v2.ads.* error_list:
#: ``ads.rate_limit.exceed_partner_api`` "Too many requests, please reduce the request rate
#: and try again later.", ``..exceed_shop_api``, ``..exceed_api``, ``..campaign_level``)
ADS_THROTTLED = "ads.rate_limit."


class AuthRefusal(StrEnum):
    """What an ``error_auth`` answer means, read from its message (the common_error_list
    gives one code to all of these). Only :attr:`TOKEN` is cured by a refresh; spending
    Shopee's single-use refresh token on the others would gain nothing."""

    TOKEN = "AUTH_EXPIRED"  # "Invalid access_token."
    NO_PERMISSION = "AUTH_NO_PERMISSION"  # "No permission to current api.", "You are not authorized"
    PARTNER_INVALID = "AUTH_PARTNER_INVALID"  # "partner_id is invalid", "Invalid partner_id or shopid."
    APP_DELETED = "AUTH_APP_DELETED"  # "The App is deleted, and you'll be unable to make any API call."
    APP_RESTRICTED = "AUTH_APP_RESTRICTED"  # "App developer's permissions ... have been restricted."
    TRANSIENT = "AUTH_TRANSIENT"  # "System error, please try again later."
    REFUSED = "AUTH_REFUSED"  # any other error_auth (e.g. a location_id the shop does not have)


#: message words -> meaning; the first match wins
_AUTH_WORDS: tuple[tuple[tuple[str, ...], AuthRefusal], ...] = (
    (("access_token", "access token"), AuthRefusal.TOKEN),
    (("app is deleted",), AuthRefusal.APP_DELETED),
    (("restricted",), AuthRefusal.APP_RESTRICTED),
    (("partner_id", "partnerid", "shopid"), AuthRefusal.PARTNER_INVALID),
    (("no permission", "not authorized", "does not have permission"), AuthRefusal.NO_PERMISSION),
    (("system error", "try again later"), AuthRefusal.TRANSIENT),
)


def auth_refusal(message: str) -> AuthRefusal:
    lowered = message.lower()
    return next(
        (meaning for words, meaning in _AUTH_WORDS if any(w in lowered for w in words)), AuthRefusal.REFUSED
    )


def error_for(path: str, status: int, data: Any, retry_after: float | None = None) -> ChannelError | None:
    """The typed error of one answer (None when it is a success)."""
    error = str(data.get("error") or "") if isinstance(data, dict) else "malformed"
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    text = f"shopee {path}: {error or status}: {message}".rstrip(": ")
    if status == 429 or error == "error_rate_limit" or error.startswith(ADS_THROTTLED):
        # the reference documents no wait in the answer: a Retry-After header is honoured
        # when one comes, else the core backs off on its own
        return ChannelError(text, code=error or "THROTTLED", retryable=True, retry_after=retry_after)
    if status >= 500 or error in RETRYABLE_ERRORS:
        return ChannelError(text, code=error or "SERVER_ERROR", retryable=True, retry_after=retry_after)
    if error in INVALID_TOKEN_ERRORS:
        return ChannelError(text, code=AUTH_EXPIRED)
    if error == "error_auth":
        meaning = auth_refusal(message)
        return ChannelError(text, code=meaning.value, retryable=meaning is AuthRefusal.TRANSIENT)
    if error:
        return ChannelError(text, code=error)
    return None


class ShopeeClient:
    def __init__(
        self,
        partner_id: int,
        partner_key: str,
        *,
        base_url: str | None = None,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.partner_id = int(partner_id)
        self.partner_key = partner_key
        self.base_url = (base_url or DEFAULT_HOST).rstrip("/")
        # the caller's client: a provider's conn.http_client() (the server's one pool, closed
        # at shutdown), a test's crossdock.testing.emulator_http().client(); never a pool
        # of the client's own, which nothing would close
        self.http = http
        self.clock = clock

    def signed_query(self, path: str, access_token: str = "", shop_id: int | str = "") -> dict[str, Any]:
        ts = int(self.clock())
        query: dict[str, Any] = {
            "partner_id": self.partner_id,
            "timestamp": ts,
            "sign": sign(self.partner_key, base_string(self.partner_id, path, ts, access_token, shop_id)),
        }
        if access_token:
            query["access_token"] = access_token
        if shop_id != "":
            query["shop_id"] = shop_id
        return query

    async def call(
        self,
        method: str,
        path: str,
        *,
        access_token: str = "",
        shop_id: int | str = "",
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call; returns the whole JSON answer or raises :class:`ChannelError`."""
        response = await self._send(method, path, access_token, shop_id, params, body)
        return self._read(path, response)

    async def call_upload(
        self,
        path: str,
        *,
        files: Mapping[str, tuple[str, bytes, str]],
        data: Mapping[str, str] | None = None,
        access_token: str = "",
        shop_id: int | str = "",
    ) -> dict[str, Any]:
        """A ``multipart/form-data`` POST (``v2.media_space.upload_image``): the signature
        is in the query string as for every call; the form itself is not signed."""
        query = self.signed_query(path, access_token, shop_id)
        try:
            response = await self.http.post(self.base_url + path, params=query, files=files, data=data)
        except httpx.TimeoutException as exc:
            raise ChannelError(f"shopee {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"shopee {path}: {exc}", code="NETWORK", retryable=True) from exc
        return self._read(path, response)

    async def call_file(
        self,
        method: str,
        path: str,
        *,
        access_token: str = "",
        shop_id: int | str = "",
        body: Mapping[str, Any] | None = None,
    ) -> tuple[bytes, str]:
        """A call that answers a file on success (``download_shipping_document``) and the
        JSON envelope on failure; returns the bytes and their content type."""
        response = await self._send(method, path, access_token, shop_id, None, body)
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.status_code == 200 and kind != "application/json":
            return response.content, kind
        self._read(path, response)
        raise ChannelError(f"shopee {path} answered JSON, not a file", code="MALFORMED", retryable=True)

    async def _send(
        self,
        method: str,
        path: str,
        access_token: str,
        shop_id: int | str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
    ) -> httpx.Response:
        query = {**(params or {}), **self.signed_query(path, access_token, shop_id)}
        try:
            return await self.http.request(method, self.base_url + path, params=query, json=body)
        except httpx.TimeoutException as exc:
            raise ChannelError(f"shopee {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"shopee {path}: {exc}", code="NETWORK", retryable=True) from exc

    def _read(self, path: str, response: httpx.Response) -> dict[str, Any]:
        retry_after = _seconds(response.headers.get("retry-after"))
        try:
            data = response.json()
        except (json.JSONDecodeError, ValueError):
            if response.status_code == 429:
                data = {}
            else:
                raise ChannelError(
                    f"shopee {path} answered {response.status_code} with invalid JSON",
                    code="MALFORMED",
                    retryable=True,
                ) from None
        failure = error_for(path, response.status_code, data, retry_after)
        if failure is not None:
            raise failure
        if not isinstance(data, dict):
            raise ChannelError(f"shopee {path} answered a non-object", code="MALFORMED", retryable=True)
        return data

    async def refresh(self, shop_id: int, refresh_token: str) -> dict[str, Any]:
        """A new access token and a new (single-use) refresh token."""
        return await self.call(
            "POST",
            "/api/v2/auth/access_token/get",
            body={"refresh_token": refresh_token, "partner_id": self.partner_id, "shop_id": int(shop_id)},
        )


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
