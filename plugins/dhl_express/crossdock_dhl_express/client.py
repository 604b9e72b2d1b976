"""The HTTP client: Basic auth, the message headers, the problem envelope, and what counts
as retryable.

Every call carries ``Authorization: Basic`` (API key and secret), the interface version
``x-version``, a ``Message-Reference`` (28 to 36 characters: a UUID's 36) and a
``Message-Reference-Date`` (an HTTP-date). An
error answer is DHL's problem detail: ``{instance, detail, title, message, status,
additionalDetails[]}``. 429, 5xx and timeouts are transient (``Retry-After`` honoured);
400 and 422 are DHL refusing the request (``REFUSED`` with DHL's ``detail``); 401 and 403
are the account's credentials (``CREDENTIALS``, permanent).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx

from crossdock import ChannelError
from crossdock_dhl_express import __version__
from crossdock_dhl_express.settings import DhlExpressSettings

__all__ = ["API_VERSION", "DhlExpressClient", "problem_message"]

#: the interface version MyDHL 2.12 requires in ``x-version`` ("do not change this field value")
API_VERSION = "2.12.0"

Query = Mapping[str, str | Sequence[str]]


def problem_message(body: Any, fallback: str) -> str:
    """DHL's words from a problem detail: ``detail`` (and ``additionalDetails``), else
    ``title``/``message``."""
    if not isinstance(body, Mapping):
        return fallback
    detail = body.get("detail") or body.get("title") or body.get("message")
    extra = [str(x) for x in body.get("additionalDetails") or () if x]
    text = str(detail) if detail else fallback
    if extra:
        text = f"{text}: {'; '.join(extra)}"
    return text


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class DhlExpressClient:
    def __init__(
        self,
        settings: DhlExpressSettings,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        # the account's guarded pool (account.http_client()): shared, never closed here
        self.http = http
        self.clock = clock

    def headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.settings.api_key}:{self.settings.api_secret}".encode()).decode()
        return {
            "Authorization": f"Basic {token}",
            "Message-Reference": str(uuid.uuid4()),
            "Message-Reference-Date": format_datetime(self.clock(), usegmt=True),
            "Shipping-System-Platform-Name": "Crossdock",
            "Shipping-System-Platform-Version": __version__,
            "x-version": API_VERSION,
            "Accept": "application/json",
        }

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        body: Mapping[str, Any] | None = None,
        not_found: bool = False,
    ) -> dict[str, Any] | None:
        """One call; the JSON answer, ``None`` for a 404 when ``not_found`` (DHL's "no data
        found"), else raises :class:`ChannelError`."""
        url = self.settings.base_url + path
        try:
            response = await self.http.request(method, url, params=params, json=body, headers=self.headers())
        except httpx.TimeoutException as exc:
            raise ChannelError(f"DHL Express {path} timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"DHL Express {path}: {exc}", code="NETWORK", retryable=True) from exc
        status = response.status_code
        try:
            answer: Any = response.json() if response.content else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        if status == 404 and not_found:
            return None
        if status == 429:
            raise ChannelError(
                problem_message(answer, "DHL Express: too many requests"),
                code="THROTTLED",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        if status >= 500:
            raise ChannelError(
                problem_message(answer, f"DHL Express answered {status}"),
                code="SERVER_ERROR",
                retryable=True,
                retry_after=_seconds(response.headers.get("retry-after")),
            )
        if status in (401, 403):
            raise ChannelError(
                problem_message(answer, "DHL Express refused the API key and secret"), code="CREDENTIALS"
            )
        if status >= 400:
            raise ChannelError(problem_message(answer, f"DHL Express refused: HTTP {status}"), code="REFUSED")
        if answer is None or not isinstance(answer, dict):
            raise ChannelError(f"DHL Express {path}: malformed answer", code="MALFORMED", retryable=True)
        return answer
