"""The server's mail reaches the mailer with the App's guarded outbound pool on its
``MailAccount``: the operator's allow-list applies to the mail service's address, as it
does to every marketplace and carrier."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crossdock import MailAccount, MailCapability, MailerBase, MailMessage, MailReceipt, hookimpl
from crossdock.config import Settings
from crossdock.db.models import MailOutbox, MailStatus
from crossdock.jobs import JOBS
from crossdock.services import mail
from crossdock.testing.emulator import serve
from crossdock.testing.pytest_plugin import TEST_SECRET


class Inbox:
    """A tiny mail service's app: accepts every ``POST``, remembers the paths."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


class Wire(MailerBase):
    """A mailer that posts each message to ``options.url`` as every mailer calls out:
    through the account's pool."""

    name = "wire"
    display_name = "Wire"
    version = "1.0"
    capabilities = frozenset({MailCapability.SEND})

    def __init__(self) -> None:
        self.accounts: list[MailAccount] = []

    async def send(self, account: MailAccount, message: MailMessage) -> MailReceipt:
        self.accounts.append(account)
        response = await account.http_client().post(f"{account.options['url']}/send/{message.reference}")
        response.raise_for_status()
        return MailReceipt(message_id=f"wire-{message.reference}", accepted_at=datetime.now(UTC))


class WirePlugin:
    def __init__(self) -> None:
        self.mailer = Wire()

    @hookimpl
    def crossdock_mailers(self) -> list[Wire]:
        return [self.mailer]


@pytest.fixture
def wire() -> WirePlugin:
    return WirePlugin()


@pytest.fixture
def extra_plugins(wire: WirePlugin) -> list[tuple[str, object]]:
    return [("wire", wire)]


async def _queued(app: Any) -> int:
    async with app.db.write(system=True) as session:
        return await mail.queue(
            session, organization_id=None, to="ana@example.com", subject="Hello", text="Hi Ana"
        )


async def _row(app: Any, mail_id: int) -> MailOutbox:
    async with app.db.system() as session:
        row = await session.scalar(select(MailOutbox).where(MailOutbox.id == mail_id))
    assert row is not None
    return row


async def test_the_send_mail_job_hands_the_mailer_the_apps_pool(app: Any, wire: WirePlugin) -> None:
    inbox = Inbox()
    async with serve(inbox) as url:  # loopback: the test server's operator allows it
        ctx = app.job_context()
        ctx.settings = replace(app.settings, mailer="wire", mail_options={"url": url})
        mail_id = await _queued(app)
        assert await JOBS["send_mail"](ctx, mail_id=mail_id) == MailStatus.SENT
        swept = await _queued(app)
        assert await JOBS["mail_sweep"](ctx) >= 1  # the database may hold other tests' mail
    assert inbox.paths[0] == f"/send/mail-{mail_id}"
    assert f"/send/mail-{swept}" in inbox.paths
    assert len(wire.mailer.accounts) == len(inbox.paths)
    assert all(account.http is app.http for account in wire.mailer.accounts)
    for sent in (mail_id, swept):
        row = await _row(app, sent)
        assert (row.status, row.provider_message_id) == (MailStatus.SENT, f"wire-mail-{sent}")


class TestAServerThatAllowsNothingInternal:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return Settings(database_url=database_url, secret_keys=(TEST_SECRET,), data_dir=tmp_path)

    async def test_a_mail_service_on_loopback_is_refused_and_the_message_fails(self, app: Any) -> None:
        inbox = Inbox()
        async with serve(inbox) as url:
            ctx = app.job_context()
            ctx.settings = replace(app.settings, mailer="wire", mail_options={"url": url})
            mail_id = await _queued(app)
            assert await JOBS["send_mail"](ctx, mail_id=mail_id) == MailStatus.FAILED
        assert inbox.paths == [], "the refused call never connected"
        row = await _row(app, mail_id)
        assert (row.error or "").startswith("URL_NOT_ALLOWED"), row.error
        assert row.text == ""


async def test_a_message_sent_by_several_workers_at_once_goes_out_once(app: Any, wire: WirePlugin) -> None:
    """The ``send_mail`` job of one message run by several workers at once (a job sent
    twice, the sweep meeting it): the claim lets one send, the others find it taken or sent."""
    import asyncio

    inbox = Inbox()
    async with serve(inbox) as url:
        ctx = app.job_context()
        ctx.settings = replace(app.settings, mailer="wire", mail_options={"url": url})
        mail_id = await _queued(app)
        await asyncio.gather(*(JOBS["send_mail"](ctx, mail_id=mail_id) for _ in range(6)))
    assert inbox.paths == [f"/send/mail-{mail_id}"]
    assert (await _row(app, mail_id)).status == MailStatus.SENT
