"""ShipBob's REST API on the wire: the account's keys, the headers, paging, and what each
answer means as a ``ChannelError``.

Sources (the README lists them all, with what each one settles):

* Endpoints, query parameters, body and answer fields, which endpoints require the
  ``shipbob_channel_id`` header, the ``{"field": ["message"]}`` body of a 400/422: ShipBob's
  OpenAPI document (version 1.0 and 2.0 paths) as vendored in stryd/shipbob-go
  ``api/openapi.yaml``, and the 1.0 reference pages on developer.shipbob.com
  (``/v1.0/api/inventory/list-inventory-items``: ``Limit`` 1..250, snake_case fields).
* Personal Access Token as ``Authorization: Bearer``; production and sandbox hosts:
  developer.shipbob.com (authentication page, the 2026-01 reference "Servers" lists).
* Paging: "If there is an additional page you will see next-page in the header"
  (developer.shipbob.com/faq); the 2.0 receiving list documents ``Next-Page``,
  ``Page-Number``, ``Total-Pages`` headers (OpenAPI).
* Throttling: 150 requests a minute per user and application, HTTP 429 with
  ``x-retry-after`` seconds and ``x-remaining-calls`` (developer.shipbob.com/rate-limit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crossdock import ChannelError, URLNotAllowed, UserError, WarehouseAccount

__all__ = [
    "MAX_PAGE",
    "SHIPBOB_API",
    "SHIPBOB_SANDBOX_API",
    "ShipBobError",
    "ShipBobOptions",
    "call",
    "error_for",
    "message_of",
    "parse_time",
    "retry_after",
]

#: Production host (OpenAPI ``servers``).
SHIPBOB_API = "https://api.shipbob.com"
#: The sandbox host (developer.shipbob.com, "Servers" of every reference page).
SHIPBOB_SANDBOX_API = "https://sandbox-api.shipbob.com"
#: ``Limit`` of ``GET /1.0/inventory`` and ``GET /1.0/product``: "1 <= x <= 250".
MAX_PAGE = 250
#: Pages followed at most in one listing (a guard against a server that always says more).
MAX_PAGES = 10_000

DEFAULT_SHIPPING_METHOD = "Standard"
PACKAGE_TYPES = ("Package", "Pallet", "FloorLoadedContainer")
BOX_PACKAGING_TYPES = ("EverythingInOneBox", "OneSkuPerBox", "MultipleSkuPerBox")


class ShipBobError(ChannelError):
    """A ``ChannelError`` keeping ShipBob's HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, retry_after=retry_after)
        self.status = status


def _config(message: str) -> ShipBobError:
    return ShipBobError(f"shipbob: {message}", code="CONFIG")


@dataclass(frozen=True)
class ShipBobOptions:
    """What one warehouse account carries.

    Credentials: ``token`` (required), a Personal Access Token, sent as
    ``Authorization: Bearer``; ``channel_id`` (required to push ASNs' products and orders,
    and to pull shipments), the channel ShipBob writes on behalf of (``GET /1.0/channel``),
    sent as the ``shipbob_channel_id`` header. Settings: ``fulfillment_center_id`` (required to push an
    ASN; ``GET /1.0/fulfillmentCenter``), ``shipping_method`` (default ``Standard``),
    ``package_type`` (default ``Package``), ``box_packaging_type`` (default
    ``EverythingInOneBox``), ``create_products`` (default true), ``receipts_lookback_days``
    (default 180), ``timeout``.
    """

    token: str
    base_url: str
    channel_id: str | None = None
    fulfillment_center_id: int | None = None
    shipping_method: str = DEFAULT_SHIPPING_METHOD
    package_type: str = "Package"
    box_packaging_type: str = "EverythingInOneBox"
    create_products: bool = True
    receipts_lookback_days: int = 180

    @classmethod
    def of(cls, account: WarehouseAccount) -> ShipBobOptions:
        creds, settings = account.credentials, account.settings
        token = creds.get("token")
        if not isinstance(token, str) or not token.strip():
            raise ShipBobError("shipbob needs a Personal Access Token: credential token", code="CREDENTIALS")
        channel = creds.get("channel_id", settings.get("channel_id"))
        if channel is not None and not str(channel).strip().isdigit():
            raise ShipBobError("shipbob credential channel_id is a number", code="CREDENTIALS")
        base_url = (account.base_url or SHIPBOB_API).rstrip("/")
        try:
            account.outbound().policy.check_url(base_url, field="base_url")
        except UserError as exc:
            raise URLNotAllowed(f"shipbob base_url: {exc.message}") from None
        center = settings.get("fulfillment_center_id")
        if center is not None and (isinstance(center, bool) or not str(center).strip().isdigit()):
            raise _config(f"setting fulfillment_center_id is a number: {center!r}")
        package_type = str(settings.get("package_type") or "Package")
        if package_type not in PACKAGE_TYPES:
            raise _config(f"setting package_type is one of {', '.join(PACKAGE_TYPES)}")
        packaging = str(settings.get("box_packaging_type") or "EverythingInOneBox")
        if packaging not in BOX_PACKAGING_TYPES:
            raise _config(f"setting box_packaging_type is one of {', '.join(BOX_PACKAGING_TYPES)}")
        try:
            lookback = int(settings.get("receipts_lookback_days", 180))
        except (TypeError, ValueError):
            raise _config("setting receipts_lookback_days is a number of days") from None
        return cls(
            token=token.strip(),
            base_url=base_url,
            channel_id=str(channel).strip() if channel is not None else None,
            fulfillment_center_id=int(str(center).strip()) if center is not None else None,
            shipping_method=str(settings.get("shipping_method") or DEFAULT_SHIPPING_METHOD),
            package_type=package_type,
            box_packaging_type=packaging,
            create_products=bool(settings.get("create_products", True)),
            receipts_lookback_days=max(1, lookback),
        )

    def headers(self, *, channel: bool = False) -> dict[str, str]:
        """JSON both ways, the token, and the channel header when the endpoint needs it
        (every write but ``POST /2.0/receiving``, per the OpenAPI document)."""
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token}",
        }
        if self.channel_id is not None:
            headers["shipbob_channel_id"] = self.channel_id
        elif channel:
            raise ShipBobError(
                "shipbob needs the channel to write on behalf of: credential channel_id "
                "(GET /1.0/channel lists the token's channels)",
                code="CREDENTIALS",
            )
        return headers


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def retry_after(value: str | None) -> float | None:
    """Seconds to wait: ShipBob's ``x-retry-after`` is seconds; ``Retry-After`` may also be an
    HTTP date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def message_of(body: Any, status: int) -> str:
    """ShipBob's words: a validation body ``{"field": ["message", ...]}`` (400/422), a
    ProblemDetails ``{"title", "detail", "errors"}``, or ``{"message"}`` (429)."""
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    if not isinstance(body, dict):
        return f"HTTP {status}"
    for key in ("message", "Message"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    if isinstance(body.get("errors"), dict):
        return message_of(body["errors"], status)
    if isinstance(body.get("title"), str) or isinstance(body.get("detail"), str):
        parts = [body.get("title"), body.get("detail")]
        return ": ".join(p for p in parts if isinstance(p, str) and p) or f"HTTP {status}"
    said: list[str] = []
    for field, words in body.items():
        texts = words if isinstance(words, list) else [words]
        for text in texts:
            if isinstance(text, str) and text:
                said.append(f"{field}: {text}" if field else text)
    return "; ".join(said) if said else f"HTTP {status}"


def error_for(response: httpx.Response) -> ShipBobError:
    """The typed error of an answer that is not a success."""
    status = response.status_code
    said = f"shipbob: {message_of(_json(response), status)} (HTTP {status})"
    if status in (401, 403):
        return ShipBobError(said, code="CREDENTIALS", status=status)
    if status == 429:
        wait = retry_after(response.headers.get("x-retry-after") or response.headers.get("retry-after"))
        return ShipBobError(said, code="THROTTLED", status=status, retryable=True, retry_after=wait)
    if status >= 500 or status == 408:
        wait = retry_after(response.headers.get("retry-after"))
        return ShipBobError(said, code="UNAVAILABLE", status=status, retryable=True, retry_after=wait)
    if status == 404:
        return ShipBobError(said, code="NOT_FOUND", status=status)
    return ShipBobError(said, code="REFUSED", status=status)


async def call(
    account: WarehouseAccount,
    options: ShipBobOptions,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    channel: bool = False,
) -> httpx.Response:
    """One request through the account's guarded pool; a non-2xx answer raises."""
    headers = options.headers(channel=channel)
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        response = await account.http_client().request(
            method,
            f"{options.base_url}{path}",
            params=dict(params) if params else None,
            headers=headers,
            content=json.dumps(body).encode() if body is not None else None,
        )
    except ChannelError:
        raise
    except httpx.TransportError as exc:
        raise ShipBobError(
            f"shipbob could not be reached: {exc.__class__.__name__}", code="NETWORK", retryable=True
        ) from exc
    if not 200 <= response.status_code < 300:
        raise error_for(response)
    return response


def json_of(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer; an unreadable one is retryable (a truncated answer)."""
    body = _json(response)
    if body is None:
        raise ShipBobError(
            f"shipbob answered {response.status_code} without JSON",
            code="MALFORMED",
            status=response.status_code,
            retryable=True,
        )
    return body


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time ShipBob writes (``2019-08-24T14:15:22Z``, or with an offset) as aware
    UTC; one without an offset is taken as UTC (ShipBob's examples are UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # .NET may write 7 fractional digits; Python reads up to 6
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def has_next_page(response: httpx.Response) -> bool:
    """ShipBob says there is more with a ``next-page`` header (FAQ; ``Next-Page`` in the
    2.0 OpenAPI; header names are case-insensitive)."""
    return bool(response.headers.get("next-page", "").strip())
