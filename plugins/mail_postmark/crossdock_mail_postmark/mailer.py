"""The Postmark mailer: one ``POST /email`` per message, through the SSRF-guarded client."""

from __future__ import annotations

import httpx

from crossdock import (
    MailAccount,
    MailCapability,
    MailerBase,
    MailMessage,
    MailReceipt,
    URLNotAllowed,
    UserError,
)
from crossdock_mail_postmark import __version__
from crossdock_mail_postmark.client import (
    PostmarkError,
    PostmarkOptions,
    email_body,
    error_for,
    receipt_of,
    request_headers,
)

__all__ = ["PostmarkMailer"]


class PostmarkMailer(MailerBase):
    """Sends through Postmark's Email API. Reads ``server_token`` (required),
    ``message_stream``, ``base_url`` and ``timeout`` from the account's options
    (:class:`~crossdock_mail_postmark.client.PostmarkOptions`).

    Every call goes through the account's guarded pool (:meth:`crossdock.MailAccount.http_client`:
    the server's, or outside a server the process-wide one under the allow-list
    ``CROSSDOCK_ALLOWED_HOSTS`` describes), which refuses internal addresses and plain
    http. A ``base_url`` that pool's policy refuses is a permanent ``ChannelError`` with
    code ``URL_NOT_ALLOWED``, raised before any request.
    """

    name = "postmark"
    display_name = "Postmark"
    version = __version__
    capabilities: frozenset[str] = frozenset({MailCapability.SEND})

    async def send(self, account: MailAccount, message: MailMessage) -> MailReceipt:
        options = PostmarkOptions.of(account.options)
        try:
            account.outbound().policy.check_url(options.base_url, field="base_url")
        except UserError as exc:
            raise URLNotAllowed(f"postmark base_url: {exc.message}") from None
        body = email_body(account.sender, message, options.message_stream)
        client = account.http_client()  # the shared pool, options.timeout: never closed here
        try:
            response = await client.post(
                options.email_url, json=body, headers=request_headers(options.server_token)
            )
        except httpx.TimeoutException as exc:
            raise PostmarkError("postmark did not answer in time", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise PostmarkError(
                f"postmark could not be reached: {exc}", code="NETWORK", retryable=True
            ) from exc
        if response.status_code != 200:
            raise error_for(response)
        return receipt_of(response)
