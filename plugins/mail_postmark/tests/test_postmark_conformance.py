"""The mailer conformance suite against the Postmark emulator."""

from __future__ import annotations

from typing import Any

from crossdock_mail_postmark.emulator import TAG_LIMIT, PostmarkEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.mailers import MailerConformance


class TestPostmarkConformance(MailerConformance):
    mailer = "postmark"
    tag_limit = TAG_LIMIT

    def make_emulator(self, faults: Faults) -> Any:
        return PostmarkEmulator(faults)
