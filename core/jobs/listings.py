"""The listing publishing jobs: one content version sent to its channel
(:func:`crossdock.services.listing_content.publish`), and the sweep that sends again what a
lost or failed job left queued."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import ListingContent, PublishStatus
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, periodic
from crossdock.jobs.registry import job as register
from crossdock.services import listing_content

__all__ = ["PUBLISH_SWEEP_EVERY", "listing_publish", "listing_publish_sweep"]

#: How often contents still queued (their job lost or failed) are queued again, in seconds.
PUBLISH_SWEEP_EVERY = 60


@register
async def listing_publish(ctx: JobContext, *, tenant_id: int, content_id: int) -> str:
    """Check the content and publish its current version to its shop's channel (validated
    there first). Returns the publish status it ends in (``published``, ``pending``,
    ``rejected`` with the problems kept on the content, ``failed`` when the channel refused
    the request itself); a retryable channel error is raised again for the job system to
    retry, the content's attempt counted."""
    slug = await tenant_slug(ctx, tenant_id)
    return await listing_content.publish(ctx, tenant_id, slug, content_id)


@periodic(lambda settings: PUBLISH_SWEEP_EVERY)
async def listing_publish_sweep(ctx: JobContext) -> int:
    """Every minute, a ``listing_publish`` job for each content queued for publishing more
    than a minute ago and still queued: its job was lost (a process stopped) or failed
    without an answer (a database error), so nothing stays queued for ever."""
    cutoff = utcnow() - timedelta(seconds=PUBLISH_SWEEP_EVERY)
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(ListingContent.tenant_id, ListingContent.id, ListingContent.version).where(
                    ListingContent.publish_status == PublishStatus.QUEUED, ListingContent.updated_at < cutoff
                )
            )
        ).all()
    bucket = int(utcnow().timestamp()) // PUBLISH_SWEEP_EVERY
    for tenant_id, content_id, version in rows:
        await ctx.queue.enqueue(
            "listing_publish",
            job_id=f"listing_publish:{content_id}:v{version}:s{bucket}",
            tenant_id=tenant_id,
            content_id=content_id,
        )
    return len(rows)
