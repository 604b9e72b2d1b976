"""Postmark's Email API on the wire: the options a server reads, the request ``POST /email``
is, and what its answers mean.

Sources (see the README for the full list):

* Send a single email, its headers and the test token: Postmark's user guide
  https://postmarkapp.com/developer/user-guide/send-email-with-api
* Endpoint, authentication, HTTP statuses, the ``{"ErrorCode", "Message"}`` body of an API
  error (HTTP 422): https://postmarkapp.com/developer/api/overview
* The body's field names and the answer's (``To``, ``SubmittedAt``, ``MessageID``,
  ``ErrorCode``, ``Message``): the official SDKs' models, ActiveCampaign/postmark-python
  ``postmark/models/messages/schemas.py`` and ActiveCampaign/postmark.js
  ``Message.d.ts``.
* Which statuses are which failure: ActiveCampaign/postmark.js
  ``src/client/errors/ErrorHandler.ts`` (401 a bad key, 422 an input error, 429 the rate
  limit, 500/503 Postmark's own trouble).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crossdock import ChannelError, MailMessage, MailReceipt

__all__ = [
    "DEFAULT_STREAM",
    "DEFAULT_TIMEOUT",
    "POSTMARK_API",
    "REFERENCE_KEY",
    "PostmarkError",
    "PostmarkOptions",
    "email_body",
    "error_for",
    "receipt_of",
    "request_headers",
]

#: Postmark's API host (https only: "We enforce TLS encryption", API overview).
POSTMARK_API = "https://api.postmarkapp.com"
#: The default transactional Message Stream (user guide, "MessageStream": "outbound").
DEFAULT_STREAM = "outbound"
#: The Metadata key carrying :attr:`MailMessage.reference`. Metadata is Postmark's
#: per-message key/value store, kept for the message's whole life and searchable
#: (``/messages/outbound?metadata_<key>=``): custom metadata FAQ,
#: https://postmarkapp.com/support/article/1125-custom-metadata-faq
REFERENCE_KEY = "crossdock_reference"
DEFAULT_TIMEOUT = 10.0

#: ErrorCode 10: "Bad or missing API token" (API overview, error codes).
TOKEN_REFUSED = 10


class PostmarkError(ChannelError):
    """A ``ChannelError`` keeping Postmark's HTTP status and ``ErrorCode``."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        error_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, retry_after=retry_after)
        self.status = status
        self.error_code = error_code


@dataclass(frozen=True)
class PostmarkOptions:
    """The keys of ``CROSSDOCK_MAIL_OPTIONS`` this mailer reads.

    ``server_token`` (required): the Postmark server's API token, sent as
    ``X-Postmark-Server-Token``. ``message_stream`` (default ``outbound``). ``base_url``
    (default ``https://api.postmarkapp.com``; an emulator's or a proxy's, subject to the
    server's outbound rules). ``timeout`` in seconds (default 10).
    """

    server_token: str
    base_url: str = POSTMARK_API
    message_stream: str = DEFAULT_STREAM
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> PostmarkOptions:
        token = options.get("server_token")
        if not isinstance(token, str) or not token.strip():
            raise PostmarkError(
                "postmark needs the server's API token: option server_token", code="CREDENTIALS"
            )
        base_url = options.get("base_url") or POSTMARK_API
        stream = options.get("message_stream") or DEFAULT_STREAM
        if not isinstance(base_url, str) or not isinstance(stream, str):
            raise PostmarkError(
                "postmark options base_url and message_stream are texts", code="INVALID_OPTIONS"
            )
        raw_timeout = options.get("timeout", DEFAULT_TIMEOUT)
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            raise PostmarkError(
                f"postmark option timeout is not a number of seconds: {raw_timeout!r}", code="INVALID_OPTIONS"
            ) from None
        if not timeout > 0:
            raise PostmarkError("postmark option timeout must be above 0 seconds", code="INVALID_OPTIONS")
        return cls(
            server_token=token.strip(), base_url=base_url.rstrip("/"), message_stream=stream, timeout=timeout
        )

    @property
    def email_url(self) -> str:
        """``POST /email``: "Send a single email" (user guide)."""
        return f"{self.base_url}/email"


def request_headers(server_token: str) -> dict[str, str]:
    """Both JSON headers are required (without them Postmark answers ErrorCode 409, "JSON
    required", API overview); the token authenticates the server (user guide)."""
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Postmark-Server-Token": server_token,
    }


def email_body(sender: str, message: MailMessage, stream: str) -> dict[str, Any]:
    """The JSON body of ``POST /email`` for one message. Fields the message leaves empty
    are left out (Postmark takes either body, or both; ``ReplyTo`` and ``Tag`` are
    optional). The reference rides in ``Metadata`` so that a message sent twice (a retry
    after an answer that never came) can be found and matched: Postmark keeps Metadata
    with the message and returns it from its Messages API and webhooks."""
    body: dict[str, Any] = {
        "From": sender,
        "To": message.to,
        "Subject": message.subject,
        "TextBody": message.text,
    }
    if message.html:
        body["HtmlBody"] = message.html
    if message.reply_to:
        body["ReplyTo"] = message.reply_to
    if message.tag:
        body["Tag"] = message.tag
    body["Metadata"] = {REFERENCE_KEY: message.reference}
    body["MessageStream"] = stream
    return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3)."""
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


def _words(body: Any, status: int) -> tuple[str, int | None]:
    if isinstance(body, dict):
        message = body.get("Message")
        code = body.get("ErrorCode")
        text = message if isinstance(message, str) and message else f"HTTP {status}"
        return text, code if isinstance(code, int) and not isinstance(code, bool) else None
    return f"HTTP {status}", None


def error_for(response: httpx.Response) -> PostmarkError:
    """The typed error of a non-200 answer (or of a 200 whose ErrorCode is not 0)."""
    status = response.status_code
    message, code = _words(_json(response), status)
    said = f"postmark: {message}" + (f" (ErrorCode {code})" if code is not None else "")
    if status == 401 or code == TOKEN_REFUSED:
        return PostmarkError(said, code="CREDENTIALS", status=status, error_code=code)
    if status == 429:
        return PostmarkError(
            said,
            code="THROTTLED",
            status=status,
            error_code=code,
            retryable=True,
            retry_after=retry_after(response.headers.get("retry-after")),
        )
    if status >= 500 or status == 408:
        return PostmarkError(
            said,
            code="SERVER_ERROR",
            status=status,
            error_code=code,
            retryable=True,
            retry_after=retry_after(response.headers.get("retry-after")),
        )
    # 422 with an ErrorCode (300 invalid email request, 400/401 sender signature, 406
    # inactive recipient ...), 413 too large, and any other refusal: Postmark will refuse
    # the same message again.
    return PostmarkError(said, code="REFUSED", status=status, error_code=code)


def _submitted_at(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError("no SubmittedAt")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # .NET writes 7 fractional digits; Python reads up to 6
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"SubmittedAt {value!r} has no offset")
    return when.astimezone(UTC)


def receipt_of(response: httpx.Response) -> MailReceipt:
    """The receipt of a 200: ``MessageID`` and ``SubmittedAt`` (an ISO 8601 time with an
    offset, ``2014-02-17T07:25:01.4178645-05:00``), as aware UTC."""
    body = _json(response)
    if not isinstance(body, dict):
        raise PostmarkError(
            "postmark answered 200 without a JSON object", code="MALFORMED", status=200, retryable=True
        )
    if body.get("ErrorCode", 0) != 0:
        raise error_for(response)
    message_id = body.get("MessageID")
    if not isinstance(message_id, str) or not message_id:
        raise PostmarkError(
            "postmark answered 200 without a MessageID", code="MALFORMED", status=200, retryable=True
        )
    try:
        accepted_at = _submitted_at(body.get("SubmittedAt"))
    except ValueError as exc:
        raise PostmarkError(
            f"postmark answered 200 with an unreadable SubmittedAt: {exc}",
            code="MALFORMED",
            status=200,
            retryable=True,
        ) from None
    return MailReceipt(message_id=message_id, accepted_at=accepted_at)
