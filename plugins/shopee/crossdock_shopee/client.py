"""The HTTP client: signing, the error envelope, and what counts as retryable.

Every call carries ``partner_id``, ``timestamp`` and ``sign`` (plus ``access_token`` and
``shop_id`` for shop APIs) in the query string; POST bodies are JSON and unsigned. An
answer whose ``error`` is non-empty is a failure: ``error_server`` and HTTP 429/5xx are
transient, ``error_auth`` means the access token must be refreshed, the rest are permanent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from crossdock import ChannelError
from crossdock_shopee.signing import base_string, sign

__all__ = ["AUTH_EXPIRED", "DEFAULT_HOST", "ShopeeClient"]

DEFAULT_HOST = "https://partner.shopeemobile.com"
#: ChannelError code for an access token the shop no longer accepts (refresh, then retry).
AUTH_EXPIRED = ChannelError.AUTH_EXPIRED
#: transient: server errors and throttling (`error_rate_limit`, `error_system_busy`: the API
#: reference JSON as mirrored in congminh1254/shopee-sdk; ../shared/marketplaces.md)
RETRYABLE_ERRORS = {
    "error_server",
    "error_busy",
    "error_inner",
    "error_network",
    "error_rate_limit",
    "error_system_busy",
}


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
        return self._read(path, response, access_token)

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
        self._read(path, response, access_token)
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

    def _read(self, path: str, response: httpx.Response, access_token: str) -> dict[str, Any]:
        if response.status_code == 429:
            retry_after = _seconds(response.headers.get("retry-after"))
            raise ChannelError(
                "shopee throttled the request", code="THROTTLED", retryable=True, retry_after=retry_after
            )
        try:
            data = response.json()
        except (json.JSONDecodeError, ValueError):
            raise ChannelError(
                f"shopee {path} answered {response.status_code} with invalid JSON",
                code="MALFORMED",
                retryable=True,
            ) from None
        error = str(data.get("error") or "") if isinstance(data, dict) else "malformed"
        if response.status_code >= 500 or error in RETRYABLE_ERRORS:
            raise ChannelError(
                f"shopee {path}: {data.get('message') or response.status_code}",
                code=error or "SERVER_ERROR",
                retryable=True,
            )
        if error == "error_auth" and access_token:
            raise ChannelError(f"shopee {path}: {data.get('message')}", code=AUTH_EXPIRED)
        if error:
            raise ChannelError(f"shopee {path}: {error}: {data.get('message')}", code=error)
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
