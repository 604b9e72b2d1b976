"""The listing publishing job: one content version sent to its channel
(:func:`crossdock.services.listing_content.publish`)."""

from __future__ import annotations

from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext
from crossdock.jobs.registry import job as register
from crossdock.services import listing_content

__all__ = ["listing_publish"]


@register
async def listing_publish(ctx: JobContext, *, tenant_id: int, content_id: int) -> str:
    """Check the content and publish its current version to its shop's channel (validated
    there first). Returns the publish status it ends in (``published``, ``pending``,
    ``rejected`` with the problems kept on the content, ``failed`` when the channel refused
    the request itself); a retryable channel error is raised again for the job system to
    retry, the content's attempt counted."""
    slug = await tenant_slug(ctx, tenant_id)
    return await listing_content.publish(ctx, tenant_id, slug, content_id)
