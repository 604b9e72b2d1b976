"""The demo's listing content: for each live demo shop, the first variant's content written in
English and in the shop's market language (filled from the channel's own category rules,
with a product image), the English one published to the emulated channel by the job
runner, so ``listingContents`` shows a listing in several languages and its publication.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from sqlalchemy import select

from crossdock.bootstrap import App
from crossdock.db.models import FieldStatus, ListingContent, Variant
from crossdock.providers import AttributeType, CategoryRules
from crossdock.services import listing_content

__all__ = ["LANGUAGES", "seed_listings"]

log = logging.getLogger(__name__)

#: The second language of a demo shop, by site (Spanish elsewhere).
LANGUAGES = {"SG": "zh-Hans", "MY": "ms", "US": "es"}
#: The demo's text in each language (written by a person: ``manual``).
TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Trail Backpack 30L, water-resistant",
        "bullets": ["30 litres, padded laptop sleeve", "Water-resistant ripstop nylon"],
        "description": "A light daypack for the trail and the city.",
        "keywords": ["backpack", "daypack", "hiking"],
    },
    "zh-Hans": {
        "title": "登山背包 30 升 防泼水",
        "bullets": ["30 升容量 带笔记本电脑隔层", "防泼水防撕裂尼龙"],
        "description": "适合山路和城市的轻便背包。",
        "keywords": ["背包", "登山"],
    },
    "ms": {
        "title": "Beg Galas Denai 30L, kalis air",
        "bullets": ["30 liter, sarung komputer riba", "Nilon ripstop kalis air"],
        "description": "Beg galas ringan untuk denai dan bandar.",
        "keywords": ["beg galas", "mendaki"],
    },
    "es": {
        "title": "Mochila de senderismo 30 L, resistente al agua",
        "bullets": ["30 litros, funda acolchada para portátil", "Nailon ripstop resistente al agua"],
        "description": "Una mochila ligera para el sendero y la ciudad.",
        "keywords": ["mochila", "senderismo"],
    },
}


def _image() -> bytes:
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (1200, 1200), (255, 255, 255))
    ImageDraw.Draw(picture).rounded_rectangle((380, 220, 820, 1000), radius=90, fill=(40, 90, 60))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=88)
    return out.getvalue()


def _value(rule: Any) -> Any:
    if rule.values:
        return [rule.values[0]] if rule.type == AttributeType.MULTI_ENUM else rule.values[0]
    if rule.type == AttributeType.NUMBER:
        return 1
    if rule.type == AttributeType.BOOLEAN:
        return True
    return "Nylon"


async def seed_listings(
    app: App, tenant_id: int, slug: str, connection_id: int, category_id: str, site: str
) -> None:
    """Write the first variant's content for the shop in English and its second language
    (from the channel's rules for ``category_id``), and queue the English one's publication."""
    ctx = app.job_context()
    try:
        rules: CategoryRules = await listing_content.category_rules(
            ctx, tenant_id, slug, connection_id, category_id, language="en"
        )
    except Exception:  # the demo goes on without listing content for this shop
        log.exception("demo: no category rules for shop %s", connection_id)
        return
    attributes = {rule.name: _value(rule) for rule in rules.attributes if rule.required}
    async with app.unit_of_work(tenant_id, slug) as uow:
        variant = await uow.session.scalar(select(Variant).order_by(Variant.id))
        if variant is None:
            return
        image = await listing_content.store_image(uow.session, app.storage, _image())
        made: list[ListingContent] = []
        for language in ("en", LANGUAGES.get(site, "es")):
            text = TEXT.get(language) or TEXT["es"]
            made.append(
                await listing_content.save_content(
                    uow,
                    app.storage,
                    variant_id=variant.id,
                    connection_id=connection_id,
                    language=language,
                    changes={
                        **text,
                        "brand": "Acme Outdoor",
                        "category_id": category_id,
                        "attributes": attributes,
                        "images": [image["key"]],
                    },
                    actor="demo",
                    status=FieldStatus.MANUAL,
                )
            )
        # after the demo's start-up writes (SQLite takes one writer at a time)
        await listing_content.request_publish(uow, [made[0].id], defer_by=5)
