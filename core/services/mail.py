"""The server's mail: written to ``mail_outbox`` in the transaction that decides to send it
(a password reset, an invitation), sent afterwards through the mailer plugin that
``CROSSDOCK_MAILER`` names (the ``send_mail`` job, and ``mail_sweep`` for any not sent yet).

Sending is at least once: a message is claimed for :data:`CLAIM_SECONDS` (two workers never
send it at the same time), sent with no transaction open, and its outcome recorded only
under that claim. A send whose answer was lost is sent again with the same
``MailMessage.reference`` (``mail-<id>``), which mailers pass to their service. A
retryable failure waits (30 s doubling, at most an hour) up to :data:`MAX_ATTEMPTS`
attempts; a permanent one fails the message. Once sent or failed the text is blanked: it
may carry a one-time link. With no mailer configured a message stays ``unsent``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.config import Settings
from crossdock.db import Database, utcnow
from crossdock.db.models import MailOutbox, MailStatus
from crossdock.errors import ChannelError, NotSupported
from crossdock.net import OutboundHTTP
from crossdock.plugins import Plugins
from crossdock.providers import MailAccount, MailMessage

__all__ = ["CLAIM_SECONDS", "MAX_ATTEMPTS", "deliver", "due", "queue"]

log = logging.getLogger(__name__)
CLAIM_SECONDS = 60
MAX_ATTEMPTS = 10


#: The job that sends one message.
JOB = "send_mail"


def job_id(mail_id: int) -> str:
    """The ``send_mail`` job's id for a message: one queued at a time, whoever queues it."""
    return f"{JOB}:{mail_id}"


async def queue(
    session: AsyncSession,
    *,
    organization_id: int | None,
    to: str,
    subject: str,
    text: str,
    tag: str | None = None,
    html: str | None = None,
) -> int:
    """Write a message to send once the transaction commits; returns its id (the caller
    queues ``send_mail`` with it after the commit, or the sweep finds it)."""
    row = MailOutbox(
        organization_id=organization_id, to=to, subject=subject[:255], text=text, html=html, tag=tag
    )
    session.add(row)
    await session.flush()
    return row.id


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def due(db: Database, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Ids of messages waiting to be sent now."""
    now = now or utcnow()
    async with db.system() as session:
        return list(
            (
                await session.scalars(
                    select(MailOutbox.id)
                    .where(
                        MailOutbox.status == MailStatus.PENDING,
                        or_(MailOutbox.claimed_until.is_(None), MailOutbox.claimed_until < now),
                        or_(MailOutbox.next_attempt_at.is_(None), MailOutbox.next_attempt_at <= now),
                    )
                    .order_by(MailOutbox.id)
                    .limit(limit)
                )
            ).all()
        )


async def deliver(
    db: Database,
    plugins: Plugins,
    settings: Settings,
    mail_id: int,
    *,
    http: OutboundHTTP | None = None,
    now: datetime | None = None,
) -> MailStatus | None:
    """Send one message if it is due and nobody holds it; its status after, or None when
    it was not this call's to send. ``http`` is the server's guarded outbound pool (the
    job context's), handed to the mailer on its :class:`~crossdock.MailAccount`."""
    started = now or utcnow()
    claim = started + timedelta(seconds=CLAIM_SECONDS)
    async with db.write(system=True) as session:
        row = await session.scalar(
            select(MailOutbox)
            .where(
                MailOutbox.id == mail_id,
                MailOutbox.status == MailStatus.PENDING,
                or_(MailOutbox.claimed_until.is_(None), MailOutbox.claimed_until < started),
                or_(MailOutbox.next_attempt_at.is_(None), MailOutbox.next_attempt_at <= started),
            )
            .with_for_update(skip_locked=True)
        )
        if row is None:
            return None
        if not settings.mailer:
            row.status = MailStatus.UNSENT
            return MailStatus.UNSENT
        row.claimed_until = claim
        row.attempts += 1
        attempts = row.attempts
        message = MailMessage(
            to=row.to,
            subject=row.subject,
            text=row.text,
            html=row.html,
            tag=row.tag,
            reference=f"mail-{row.id}",
        )
    values: dict[str, object]
    try:
        mailer = plugins.mailer(settings.mailer)
        account = MailAccount(sender=settings.mail_from, options=settings.mail_options, http=http)
        receipt = await mailer.send(account, message)
    except ChannelError as exc:
        if exc.retryable and attempts < MAX_ATTEMPTS:
            wait = _backoff(attempts)
            if exc.retry_after:
                wait = max(wait, timedelta(seconds=exc.retry_after))
            status = MailStatus.PENDING
            values = {"next_attempt_at": (now or utcnow()) + wait, "error": f"{exc.code}: {exc}"[:2000]}
        else:
            status = MailStatus.FAILED
            values = {"error": f"{exc.code}: {exc}"[:2000], "text": "", "html": None}
        log.warning("mail %s: %s (%s)", mail_id, exc, status)
    except NotSupported as exc:
        status = MailStatus.FAILED
        values = {"error": str(exc), "text": "", "html": None}
    else:
        status = MailStatus.SENT
        values = {
            "provider_message_id": receipt.message_id[:255],
            "sent_at": receipt.accepted_at,
            "text": "",
            "html": None,
            "error": None,
        }
    async with db.write(system=True) as session:
        result = await session.execute(
            update(MailOutbox)
            .where(MailOutbox.id == mail_id, MailOutbox.claimed_until == claim)
            .values(status=status, claimed_until=None, **values)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None  # the claim ran out and another worker took the message over
    return status
