"""The HTTP client: signing, the ``{code, message, request_id, data}`` envelope, and what
counts as retryable.

Every shop API call carries ``app_key``, ``timestamp`` (seconds) and ``sign`` in the query
string, plus ``shop_cipher`` for shop-scoped resources; the access token travels in the
``x-tts-access-token`` header (never in the signed string). JSON bodies are sent exactly as
signed. ``code`` 0 is success; anything else is an error:

* HTTP 429 / ``36009002``: throttled, retryable (``retry_after`` from ``Retry-After``);
* ``36009003`` ("Internal error. Please try again", in every API's code table) and
  ``36009007`` ("Request timeout ... Please try again"): retryable (``TRY_AGAIN``);
* ``105002``: the access token expired -> ``ChannelError.AUTH_EXPIRED`` (refresh, retry),
  and only that code: ``36009004`` (an invalid access token, app key, signature or
  timestamp) is permanent, refreshing would not help;
* ``106001`` (bad sign), ``106013`` (missing shop_cipher), ``101000`` (token and
  shop_cipher do not match) and other codes: permanent;
* HTTP 5xx (503 is TikTok's overload protection), timeouts, transport errors and answers
  that are not JSON: retryable.

Codes and their meaning: TikTok Shop Partner Center, Developer guide, "Common errors" and
"Rate limits" (mirrored in ``lazykern/ecommerce-api-docs``
``data/raw/tiktok/developer-guide/tiktok-shop-api-concepts/``), and each API reference
page's error table (``data/raw/tiktok/api-reference/``).

Tokens come from the auth host (``auth.tiktok-shops.com``), unsigned, with the app secret
in the query, in the same envelope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from crossdock import ChannelError
from crossdock_tiktok.signing import sign

__all__ = [
    "AUTH_EXPIRED",
    "BAD_CREDENTIALS",
    "BAD_SIGN",
    "DEFAULT_AUTH_HOST",
    "DEFAULT_HOST",
    "EXPIRED_TOKEN",
    "MISSING_SHOP_CIPHER",
    "SHOP_MISMATCH",
    "THROTTLED",
    "TRANSIENT_CODES",
    "TRY_AGAIN",
    "TikTokShopClient",
]

DEFAULT_HOST = "https://open-api.tiktokglobalshop.com"
DEFAULT_AUTH_HOST = "https://auth.tiktok-shops.com"
#: ChannelError code for an access token the shop no longer accepts (refresh, then retry).
AUTH_EXPIRED = ChannelError.AUTH_EXPIRED

# TikTok's envelope codes (developer guide "Common errors")
THROTTLED = 36009002  # "Too many requests" (also HTTP 429)
INTERNAL_ERROR = 36009003  # "Internal error. Please try again."
REQUEST_TIMEOUT = 36009007  # "Request timeout ... Please try again"
EXPIRED_TOKEN = 105002  # "Expired credentials": the only code that means refresh
BAD_SIGN = 106001
BAD_CREDENTIALS = 36009004  # invalid token / app_key / timestamp, missing sign
MISSING_SHOP_CIPHER = 106013
SHOP_MISMATCH = 101000  # the token's shop does not match the shop_cipher
#: envelope codes TikTok documents as "please try again": retried, never permanent
TRANSIENT_CODES = frozenset({INTERNAL_ERROR, REQUEST_TIMEOUT})
#: ChannelError code for them
TRY_AGAIN = "TRY_AGAIN"

Throttle = Callable[[str], Awaitable[None]]


async def _no_throttle(operation: str) -> None:
    return None


class TikTokShopClient:
    def __init__(
        self,
        app_key: str,
        app_secret: str,
        *,
        base_url: str | None = None,
        auth_base_url: str | None = None,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        throttle: Throttle = _no_throttle,
    ) -> None:
        self.app_key = str(app_key)
        self.app_secret = str(app_secret)
        self.base_url = (base_url or DEFAULT_HOST).rstrip("/")
        self.auth_base_url = (auth_base_url or base_url or DEFAULT_AUTH_HOST).rstrip("/")
        # the caller's client: a provider's conn.http_client() (the server's one pool, closed
        # at shutdown), a test's crossdock.testing.emulator_http().client(); never a pool
        # of the client's own, which nothing would close
        self.http = http
        self.clock = clock
        self.throttle = throttle

    def signed_query(
        self, path: str, params: Mapping[str, Any] | None = None, body: bytes = b""
    ) -> dict[str, str]:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        query["app_key"] = self.app_key
        query["timestamp"] = str(int(self.clock()))
        query["sign"] = sign(self.app_secret, path, query, body)
        return query

    async def call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        access_token: str = "",
        shop_cipher: str = "",
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One signed API call; returns the envelope's ``data`` (``{}`` when absent) or
        raises :class:`ChannelError`. ``operation`` names the rate-limit bucket."""
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        query = dict(params or {})
        if shop_cipher:
            query["shop_cipher"] = shop_cipher
        signed = self.signed_query(path, query, raw)
        headers = {"content-type": "application/json"}
        if access_token:
            headers["x-tts-access-token"] = access_token
        await self.throttle(operation)
        answer = await self._send(method, self.base_url + path, path, signed, headers, raw)
        if _code(answer.get("code")) == EXPIRED_TOKEN and access_token:
            raise ChannelError(f"tiktok {path}: {answer.get('message')}", code=AUTH_EXPIRED)
        return self._data(path, answer)

    async def upload(
        self,
        path: str,
        *,
        operation: str,
        access_token: str,
        file: tuple[str, bytes, str],
        fields: Mapping[str, str] | None = None,
        shop_cipher: str = "",
    ) -> dict[str, Any]:
        """One signed ``multipart/form-data`` call (Upload Product Image): ``file`` is the
        ``data`` part (file name, bytes, content type), ``fields`` the other form fields.
        The body stays out of the signature (developer guide, "Sign your API request")."""
        query: dict[str, Any] = {"shop_cipher": shop_cipher} if shop_cipher else {}
        signed = self.signed_query(path, query, b"")  # a multipart body is not signed
        headers = {"x-tts-access-token": access_token} if access_token else {}
        await self.throttle(operation)
        answer = await self._send(
            "POST", self.base_url + path, path, signed, headers, b"", files={"data": file}, form=fields
        )
        if _code(answer.get("code")) == EXPIRED_TOKEN and access_token:
            raise ChannelError(f"tiktok {path}: {answer.get('message')}", code=AUTH_EXPIRED)
        return self._data(path, answer)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """``GET /api/v2/token/refresh`` on the auth host: a new access token (and the
        refresh token to use next time)."""
        path = "/api/v2/token/refresh"
        query = {
            "app_key": self.app_key,
            "app_secret": self.app_secret,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }
        answer = await self._send("GET", self.auth_base_url + path, path, query, {}, b"")
        return self._data(path, answer)

    async def get_token(self, auth_code: str) -> dict[str, Any]:
        """``GET /api/v2/token/get``: exchange a seller's authorization code for tokens."""
        path = "/api/v2/token/get"
        query = {
            "app_key": self.app_key,
            "app_secret": self.app_secret,
            "auth_code": auth_code,
            "grant_type": "authorized_code",
        }
        answer = await self._send("GET", self.auth_base_url + path, path, query, {}, b"")
        return self._data(path, answer)

    # ------------------------------------------------------------------ internals

    async def _send(
        self,
        method: str,
        url: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw: bytes,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            if files is not None:  # httpx writes the multipart body and its boundary
                response = await self.http.request(
                    method, url, params=query, headers=headers, files=dict(files), data=dict(form or {})
                )
            else:
                response = await self.http.request(
                    method, url, params=query, headers=headers, content=raw or None
                )
        except httpx.TimeoutException as exc:
            raise ChannelError(f"tiktok {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"tiktok {path}: {exc}", code="NETWORK", retryable=True) from exc
        try:
            answer = response.json()
        except (json.JSONDecodeError, ValueError):
            answer = None
        code = _code(answer.get("code")) if isinstance(answer, dict) else None
        if response.status_code == 429 or code == THROTTLED:
            raise ChannelError(
                "tiktok throttled the request",
                code="THROTTLED",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        if response.status_code >= 500:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise ChannelError(
                f"tiktok {path}: HTTP {response.status_code} {message or ''}".rstrip(),
                code="SERVER_ERROR",
                retryable=True,
            )
        if not isinstance(answer, dict) or "code" not in answer:
            raise ChannelError(
                f"tiktok {path} answered {response.status_code} without its JSON envelope",
                code="MALFORMED",
                retryable=True,
            )
        return answer

    @staticmethod
    def _data(path: str, answer: Mapping[str, Any]) -> dict[str, Any]:
        code = answer.get("code")
        if _code(code) in TRANSIENT_CODES:
            raise ChannelError(
                f"tiktok {path}: {code}: {answer.get('message')}", code=TRY_AGAIN, retryable=True
            )
        if _code(code) != 0:
            raise ChannelError(f"tiktok {path}: {code}: {answer.get('message')}", code=str(code))
        data = answer.get("data")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ChannelError(f"tiktok {path}: data is not an object", code="MALFORMED", retryable=True)
        return data


def _code(value: Any) -> int | None:
    """The envelope's ``code`` as a number (TikTok sends ints; tolerate numeric strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
