"""Entry point of the mail_postmark plugin: registers the Postmark mailer and its emulator."""

from __future__ import annotations

from crossdock import Mailer, hookimpl
from crossdock_mail_postmark.mailer import PostmarkMailer


@hookimpl
def crossdock_mailers() -> list[Mailer]:
    return [PostmarkMailer()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_mail_postmark.emulator import PostmarkEmulator

    return [PostmarkEmulator]
