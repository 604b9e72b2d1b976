"""The mailer conformance suite, and what mail-service emulators share.

One small subclass per mailer plugin::

    from crossdock.testing.mailers import MailerConformance

    class TestPigeonMailConformance(MailerConformance):
        mailer = "pigeonmail"

        def make_emulator(self, faults):
            return PigeonMailEmulator(faults)

The emulator satisfies :class:`MailerEmulator`. Every test talks to it over real HTTP on
loopback through the plugin itself, loaded as the server loads it: a message is delivered
with all its fields and its reference; the receipt names the service's id of the message
and when it was accepted (aware, UTC); a refused token, an unknown sender, malformed and
suppressed recipients and an over-long tag are permanent ``ChannelError``\\ s with the codes
:class:`~crossdock.providers.Mailer` names (``CREDENTIALS``, ``REFUSED``) and send nothing;
missing credentials and a base URL the server may not call are refused before any request;
throttling (with ``retry_after``), outages and an unreachable service are retryable; and a
retry after an answer that was lost sends the message again with the same reference,
which is how the two can be matched at the service; and the mailer calls through the
account's pool, not one of its own.

A mailer calls through the :class:`~crossdock.OutboundHTTP` its
:class:`~crossdock.MailAccount` carries (``account.http_client()``, ``account.outbound()``),
as the server hands it its own: the suite's accounts carry the kit's guarded pool
(:func:`crossdock.testing.emulator_http`), which allows the emulators' loopback address
(:data:`crossdock.testing.EMULATOR_HOSTS`) as an operator allows a sandbox, and nothing
else internal.

:meth:`MailerConformance.account` builds the account (the emulator's credentials and
``base_url`` in its options, the kit's pool); override it when the mailer names its
options differently.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol

import pytest

from crossdock.errors import ChannelError
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.plugins import load_plugins
from crossdock.providers import MailAccount, MailCapability, Mailer, MailMessage
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import EMULATOR_HOSTS, emulator_http

__all__ = ["MailerConformance", "MailerEmulator", "ReceivedMail", "sample_message"]

SENDER = "Crossdock Conformance <mail@conformance.example>"


def sample_message(reference: str, **changes: Any) -> MailMessage:
    """A password reset with every field set (a non-ASCII subject included)."""
    message = MailMessage(
        to="Erika Mustermann <erika@example.de>",
        subject="Réinitialisez votre mot de passe",
        text="Open https://ops.example.com/reset/abc to choose a new password.",
        reference=reference,
        html='<p>Open <a href="https://ops.example.com/reset/abc">this link</a>.</p>',
        tag="password_reset",
        reply_to="support@conformance.example",
    )
    return replace(message, **changes) if changes else message


@dataclass(frozen=True)
class ReceivedMail:
    """A message a mail-service emulator accepted, as the service recorded it."""

    message_id: str
    sender: str
    to: str
    subject: str | None
    text: str | None
    html: str | None
    tag: str | None
    reply_to: str | None
    #: the core's reference, as the mailer sent it (in metadata, or an idempotency key)
    reference: str | None
    accepted_at: datetime
    #: the service's per-message metadata, as sent
    metadata: Mapping[str, str] = field(default_factory=dict)
    stream: str | None = None


class MailerEmulator(Protocol):
    """What the suite needs from a mail-service emulator besides serving its API."""

    faults: Faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    def open_account(self) -> Mapping[str, Any]:
        """A sending account; returns the options the mailer needs (its token ...)."""

    def add_sender(self, address: str) -> None:
        """Allow ``address`` (``Name <a@b>`` or ``a@b``) as a From of this account."""

    def deactivate_recipient(self, address: str) -> None:
        """The service suppresses ``address`` (a hard bounce, a complaint)."""

    def received(self, reference: str | None = None) -> Sequence[ReceivedMail]:
        """The messages accepted so far (those carrying ``reference``), oldest first."""

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """The next ``count`` API requests answer ``status`` without being carried out."""

    def lose_next_answers(self, count: int) -> None:
        """The next ``count`` API requests are carried out, and their answers lost."""


def _address(text: str) -> str:
    return parseaddr(text)[1].lower()


class MailerConformance:
    """Subclass with ``mailer`` and ``make_emulator``; see the module doc."""

    mailer: str = ""
    sender: str = SENDER
    #: options every account carries; the short timeout keeps lost answers quick
    options: Mapping[str, Any] = {"timeout": 2.0}
    #: the plugins to load (None: every installed one)
    plugins_allowed: Sequence[str] | None = None
    #: the longest tag the service takes (None: it documents none; the test is skipped)
    tag_limit: int | None = None

    def make_emulator(self, faults: Faults) -> Any:
        raise NotImplementedError("return your emulator, built with these faults")

    def account(self, emulator: Any, base_url: str) -> MailAccount:
        """The account the tests send with: the emulator's credentials and ``base_url``,
        and the kit's guarded pool allowing the emulator's loopback address."""
        options = {**self.options, **emulator.open_account(), "base_url": base_url}
        return MailAccount(sender=self.sender, options=options, http=emulator_http())

    def without_credentials(self, emulator: Any, account: MailAccount) -> MailAccount:
        """The account with the credentials :meth:`account` put in left out."""
        secret = set(emulator.open_account())
        return replace(account, options={k: v for k, v in account.options.items() if k not in secret})

    def with_wrong_credentials(self, emulator: Any, account: MailAccount) -> MailAccount:
        """The account with credentials the service does not know."""
        secret = set(emulator.open_account())
        return replace(
            account,
            options={k: (f"wrong-{v}" if k in secret else v) for k, v in account.options.items()},
        )

    def message(self, reference: str, **changes: Any) -> MailMessage:
        return sample_message(reference, **changes)

    # ------------------------------------------------------------ plumbing

    @pytest.fixture
    def provider(self) -> Mailer:
        plugins = load_plugins(self.plugins_allowed)
        if self.mailer not in plugins.mailers:
            pytest.fail(f"no mailer plugin named {self.mailer!r} is installed ({plugins.failures})")
        mailer = plugins.mailers[self.mailer]
        assert MailCapability.SEND in mailer.capabilities
        return mailer

    @asynccontextmanager
    async def served(self, faults: Faults | None = None) -> AsyncIterator[tuple[Any, MailAccount]]:
        emulator = self.make_emulator(faults or Faults())
        async with serve(emulator) as base_url:
            account = self.account(emulator, base_url)
            emulator.add_sender(account.sender)
            yield emulator, account

    async def _refused(
        self, provider: Mailer, account: MailAccount, message: MailMessage, code: str = "REFUSED"
    ) -> ChannelError:
        with pytest.raises(ChannelError) as caught:
            await provider.send(account, message)
        error = caught.value
        assert error.code == code, f"{error.code}: {error.message}"
        assert not error.retryable, error.message
        assert error.message
        return error

    # ------------------------------------------------------------ delivery

    async def test_a_message_is_delivered_with_all_its_fields(self, provider: Mailer) -> None:
        message = self.message("conf-mail-1")
        async with self.served() as (emulator, account):
            receipt = await provider.send(account, message)
            received = list(emulator.received())
        assert len(received) == 1
        mail = received[0]
        assert mail.message_id == receipt.message_id
        assert _address(mail.sender) == _address(account.sender)
        assert _address(mail.to) == _address(message.to)
        assert mail.subject == message.subject
        assert mail.text == message.text
        assert mail.html == message.html
        assert mail.tag == message.tag
        assert mail.reply_to is not None
        assert _address(mail.reply_to) == _address(message.reply_to or "")
        assert mail.reference == message.reference

    async def test_a_text_only_message_is_delivered(self, provider: Mailer) -> None:
        message = self.message("conf-mail-text", html=None, tag=None, reply_to=None, to="ops@example.org")
        async with self.served() as (emulator, account):
            await provider.send(account, message)
            (mail,) = emulator.received()
        assert (mail.text, mail.html, mail.tag, mail.reply_to) == (message.text, None, None, None)
        assert mail.reference == "conf-mail-text"

    async def test_the_receipt_names_the_message_and_when(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            before = datetime.now(UTC)
            first = await provider.send(account, self.message("conf-receipt-1"))
            second = await provider.send(account, self.message("conf-receipt-2"))
            after = datetime.now(UTC)
            received = {m.reference: m for m in emulator.received()}
        assert first.message_id
        assert second.message_id
        assert first.message_id != second.message_id
        assert received["conf-receipt-1"].message_id == first.message_id
        for receipt in (first, second):
            assert receipt.accepted_at.utcoffset() == timedelta(0), "accepted_at is aware and in UTC"
            assert before - timedelta(seconds=2) <= receipt.accepted_at <= after + timedelta(seconds=2)

    # ------------------------------------------------------------ refusals

    async def test_missing_credentials_are_refused_before_any_request(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            bare = self.without_credentials(emulator, account)
            await self._refused(provider, bare, self.message("conf-no-token"), "CREDENTIALS")
            assert sum(emulator.requests.values()) == 0, "a request was made without credentials"

    async def test_wrong_credentials_are_credentials(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            wrong = self.with_wrong_credentials(emulator, account)
            await self._refused(provider, wrong, self.message("conf-bad-token"), "CREDENTIALS")
            assert not emulator.received()

    async def test_an_unknown_sender_is_refused(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            stranger = replace(account, sender="Someone Else <someone@elsewhere.example>")
            await self._refused(provider, stranger, self.message("conf-sender"))
            assert not emulator.received()

    @pytest.mark.parametrize(
        "changes",
        [
            {"to": "not-an-address"},
            {"to": "erika@@example.de"},
            {"to": "erika..m@example.de"},
            {"to": ""},
            {"reply_to": "support at conformance"},
        ],
        ids=["no-at", "two-ats", "double-dot", "empty", "reply-to"],
    )
    async def test_a_malformed_address_is_refused(self, provider: Mailer, changes: dict[str, str]) -> None:
        async with self.served() as (emulator, account):
            error = await self._refused(provider, account, self.message("conf-malformed", **changes))
            assert not emulator.received(), error.message

    async def test_an_inactive_recipient_is_refused(self, provider: Mailer) -> None:
        message = self.message("conf-inactive")
        async with self.served() as (emulator, account):
            emulator.deactivate_recipient(message.to)
            error = await self._refused(provider, account, message)
            assert not emulator.received()
            other = await provider.send(account, self.message("conf-active", to="someone@example.org"))
        assert _address(message.to) in error.message.lower() or "inactive" in error.message.lower()
        assert other.message_id

    async def test_a_tag_too_long_is_refused(self, provider: Mailer) -> None:
        if self.tag_limit is None:
            pytest.skip(f"{self.mailer} documents no tag limit")
        async with self.served() as (emulator, account):
            fits = await provider.send(account, self.message("conf-tag-fits", tag="t" * self.tag_limit))
            await self._refused(
                provider, account, self.message("conf-tag-long", tag="t" * (self.tag_limit + 1))
            )
            assert [m.reference for m in emulator.received()] == ["conf-tag-fits"]
        assert fits.message_id

    async def test_a_base_url_the_server_may_not_call_is_refused(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            for url in ("http://mail.example.com", "https://169.254.169.254", "https://localhost:8443"):
                bad = replace(account, options={**account.options, "base_url": url})
                await self._refused(provider, bad, self.message("conf-url"), "URL_NOT_ALLOWED")
            assert sum(emulator.requests.values()) == 0

    async def test_the_accounts_pool_is_the_one_called_through(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            # a pool whose policy allows nothing internal: the emulator's loopback is refused
            strict = replace(account, http=OutboundHTTP(OutboundPolicy()))
            await self._refused(provider, strict, self.message("conf-strict"), "URL_NOT_ALLOWED")
            assert sum(emulator.requests.values()) == 0, "the mailer called through a pool of its own"
            receipt = await provider.send(account, self.message("conf-pool"))
            assert [m.message_id for m in emulator.received()] == [receipt.message_id]

    # ------------------------------------------------------------ transient failures

    async def test_throttling_is_retryable_with_retry_after(self, provider: Mailer) -> None:
        async with self.served() as (emulator, account):
            emulator.fail_next(1, status=429, retry_after=3)
            with pytest.raises(ChannelError) as caught:
                await provider.send(account, self.message("conf-throttled"))
            assert not emulator.received()
            receipt = await provider.send(account, self.message("conf-throttled"))
            assert [m.message_id for m in emulator.received()] == [receipt.message_id]
        assert caught.value.retryable
        assert caught.value.retry_after == pytest.approx(3, abs=1)

    @pytest.mark.parametrize("status", [500, 503])
    async def test_an_outage_is_retryable(self, provider: Mailer, status: int) -> None:
        async with self.served() as (emulator, account):
            emulator.fail_next(2, status=status)
            for _ in range(2):
                with pytest.raises(ChannelError) as caught:
                    await provider.send(account, self.message("conf-outage"))
                assert caught.value.retryable, caught.value.message
            assert not emulator.received()
            await provider.send(account, self.message("conf-outage"))
            assert len(emulator.received("conf-outage")) == 1

    async def test_an_unreachable_service_is_retryable(self, provider: Mailer) -> None:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind((EMULATOR_HOSTS[0], 0))
            port = probe.getsockname()[1]
        emulator = self.make_emulator(Faults())
        account = self.account(emulator, f"http://{EMULATOR_HOSTS[0]}:{port}")
        with pytest.raises(ChannelError) as caught:
            await provider.send(account, self.message("conf-unreachable"))
        assert caught.value.retryable, caught.value.message

    async def test_a_retry_after_a_lost_answer_carries_the_same_reference(self, provider: Mailer) -> None:
        message = self.message("conf-lost")
        async with self.served() as (emulator, account):
            emulator.lose_next_answers(1)
            with pytest.raises(ChannelError) as caught:
                await provider.send(account, message)
            assert caught.value.retryable, "a lost answer must be retried (the mail job does)"
            receipt = await provider.send(account, message)
            sent = list(emulator.received("conf-lost"))
        # the service accepted it twice: both carry the reference, so they can be matched
        assert len(sent) == 2
        assert {m.reference for m in sent} == {"conf-lost"}
        assert sent[-1].message_id == receipt.message_id
        assert sent[0].message_id != sent[1].message_id
