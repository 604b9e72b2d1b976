"""Listing content kept in Crossdock and published from it.

**Content** (:func:`save_content`): per variant, shop and language, the title, bullets,
description, keywords, brand, the channel's category and attributes, and images (uploaded
with :func:`store_image`: kept in the storage, read with Pillow). Every save that changes
something is a new version with what changed and who changed it; each field carries its
review status (``manual``, ``machine``, ``reviewed``). :func:`translate_content` writes the
content in another language: the tenant's glossary (``listings.glossary``) translates fixed
terms (attribute values, units, sizes) exactly, and the configured engine
(``CROSSDOCK_TRANSLATOR``) the free text, with the glossary passed along; what it writes is
``machine`` until :func:`review_content`.

**The channel's rules**: :func:`channel_categories` and :func:`category_rules` read the
shop's channel and keep what it says (``channel_category_cache``, ``channel_rules_cache``,
fresh for :data:`CACHE_DAYS`).

**Publishing** (:func:`request_publish`, the ``listing_publish`` job running
:func:`publish`): the checks run first (:mod:`crossdock.services.listing_checks`) and an
error stops it there, as does a machine translation nobody reviewed unless the tenant
allows it (``listings.publish_unreviewed``); the channel then validates the listing
(``preview``) and takes it. Its answer is kept on the content (``publish_status``,
``problems`` in the channel's own words). A listing the channel does not know yet is one to
publish: its shop's ``Listing`` row is made for it, never a failure of the connection.
:func:`content_diff` compares what Crossdock holds with what the channel shows now, and
:func:`refresh_competitors` records other sellers' offers as competitor prices for
repricing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import (
    CONTENT_FIELDS,
    CategoryCache,
    Connection,
    FieldStatus,
    Listing,
    ListingContent,
    ListingContentVersion,
    Product,
    PublishStatus,
    RulesCache,
    Variant,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import ChannelError, NotSupported, UserError
from crossdock.money import Money, currency_exponent
from crossdock.providers import (
    AttributeRule,
    AttributeType,
    CategoryRules,
    ChannelCategory,
    CompetitorOffer,
    ListingDraft,
    ListingImage,
    ListingProblem,
    MarketplaceCapability,
    PublishOutcome,
    TranslationRequest,
    TranslatorAccount,
)
from crossdock.security import Vault
from crossdock.services import listing_checks
from crossdock.services.common import get_or_404
from crossdock.services.events import emit
from crossdock.services.states import lock
from crossdock.services.tenant_settings import read_settings
from crossdock.services.uow import UnitOfWork
from crossdock.storage import Storage

__all__ = [
    "CACHE_DAYS",
    "IMAGE_PREFIX",
    "MAX_IMAGE_BYTES",
    "category_rules",
    "channel_categories",
    "check",
    "content_diff",
    "media_key",
    "media_token",
    "publish",
    "refresh_competitors",
    "request_publish",
    "review_content",
    "rules_from_json",
    "rules_to_json",
    "save_content",
    "store_image",
    "translate_content",
]

CACHE_DAYS = 7
IMAGE_PREFIX = "listing-images/"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
#: field -> (max length of the text or of each item, max items)
_LIMITS: dict[str, tuple[int, int]] = {
    "title": (500, 1),
    "bullets": (1000, 10),
    "description": (20000, 1),
    "keywords": (200, 50),
    "brand": (128, 1),
    "category_id": (128, 1),
}
_FREE_TEXT = ("title", "bullets", "description", "keywords")


# --------------------------------------------------------------------------- content


def _language(value: str, field: str = "language") -> str:
    tag = (value or "").strip()
    if not _LANGUAGE.match(tag):
        raise UserError(f"{value!r} is not a language tag (en, de, zh-Hans)", field=field, code="INVALID")
    return tag


def _clean(field: str, value: Any) -> Any:
    """A field's value as stored, or UserError (field named in the API's camelCase)."""
    api = {"category_id": "categoryId"}.get(field, field)
    if field in ("bullets", "keywords"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError("a list of texts", field=api, code="INVALID")
        size, count = _LIMITS[field]
        items = [v.strip() for v in value if v.strip()]
        if len(items) > count:
            raise UserError(f"at most {count}", field=api, code="OUT_OF_RANGE")
        if any(len(v) > size for v in items):
            raise UserError(f"each at most {size} characters", field=api, code="OUT_OF_RANGE")
        return items
    if field in ("title", "description", "brand", "category_id"):
        if value is None:
            if field == "title":
                raise UserError("a title is text", field=api, code="INVALID")
            return "" if field == "description" else None
        if not isinstance(value, str):
            raise UserError("a text", field=api, code="INVALID")
        size, _ = _LIMITS[field]
        text = value.strip()
        if len(text) > size:
            raise UserError(f"at most {size} characters", field=api, code="OUT_OF_RANGE")
        return text if text or field in ("title", "description") else None
    if field == "attributes":
        if not isinstance(value, Mapping) or len(value) > 300:
            raise UserError("an object of at most 300 attributes", field=api, code="INVALID")
        for key, v in value.items():
            if not isinstance(key, str) or not 0 < len(key) <= 128:
                raise UserError("attribute names are 1 to 128 characters", field=api, code="INVALID")
            if not isinstance(v, (str, int, float, bool, list)) or (
                isinstance(v, list) and not all(isinstance(x, (str, int, float, bool)) for x in v)
            ):
                raise UserError(
                    f"{key}: a text, number, yes/no or a list of them",
                    field=f"attributes.{key}",
                    code="INVALID",
                )
        return dict(value)
    if field == "images":
        if not isinstance(value, list) or len(value) > 20:
            raise UserError("at most 20 images", field=api, code="OUT_OF_RANGE")
        return value
    raise UserError(f"no field {field!r}", field=api, code="INVALID")


async def _images(session: AsyncSession, storage: Storage, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The stored images ``keys`` name, with what Pillow reads of them (the tenant's own only)."""
    tenant = session_tenant(session.sync_session)
    found = []
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not key.startswith(f"{IMAGE_PREFIX}{tenant}/"):
            raise UserError("not an image uploaded for this tenant", field=f"images.{i}", code="NOT_FOUND")
        try:
            data = await storage.get(key)
        except Exception:
            raise UserError("no such image", field=f"images.{i}", code="NOT_FOUND") from None
        facts = listing_checks.image_facts(data)
        found.append({"key": key, "content_type": _content_type(facts["format"]), **facts})
    return found


def _content_type(fmt: str) -> str:
    return {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}.get(
        fmt.upper(), "application/octet-stream"
    )


async def store_image(session: AsyncSession, storage: Storage, data: bytes) -> dict[str, Any]:
    """Keep an image for listings: read it with Pillow (refused when it is not an image or
    over :data:`MAX_IMAGE_BYTES`), store it under its content hash. Returns its facts and key."""
    if not data or len(data) > MAX_IMAGE_BYTES:
        raise UserError(f"an image of 1 byte to {MAX_IMAGE_BYTES} bytes", field="data", code="OUT_OF_RANGE")
    try:
        facts = listing_checks.image_facts(data)
    except ValueError as exc:
        raise UserError(str(exc), field="data", code="INVALID") from None
    tenant = session_tenant(session.sync_session)
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}.get(facts["format"], "bin")
    key = f"{IMAGE_PREFIX}{tenant}/{hashlib.sha256(data).hexdigest()[:40]}.{ext}"
    await storage.put(key, data, _content_type(facts["format"]))
    return {"key": key, "content_type": _content_type(facts["format"]), **facts}


def media_token(vault: Vault, key: str) -> str:
    """The token of ``/media/<token>``: the image's key, sealed with the server's key."""
    return vault.encrypt({"media": key}).decode()


def media_key(vault: Vault, token: str) -> str | None:
    """The image key a ``/media`` token seals, or ``None`` for a token this server did not make."""
    try:
        key = vault.decrypt(token.encode()).get("media")
    except Exception:
        return None
    return key if isinstance(key, str) and key.startswith(IMAGE_PREFIX) else None


async def save_content(
    uow: UnitOfWork,
    storage: Storage,
    *,
    variant_id: int,
    connection_id: int,
    language: str,
    changes: Mapping[str, Any],
    actor: str | None,
    status: FieldStatus = FieldStatus.MANUAL,
) -> ListingContent:
    """Create or change a variant's content for a shop and language. ``changes`` holds the
    fields to set (``images`` as the keys :func:`store_image` gave, in order); a field
    equal to what is held is no change, and a save changing nothing makes no version."""
    session = uow.session
    tag = _language(language)
    # saves of one variant's content go one at a time (the first save creates the row)
    await lock(session, Variant, variant_id, field="variantId")
    await get_or_404(session, Connection, connection_id, field="connectionId")
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "images":
            cleaned[field] = await _images(session, storage, _clean(field, value))
        else:
            cleaned[field] = _clean(field, value)
    row = await session.scalar(
        select(ListingContent)
        .where(
            ListingContent.variant_id == variant_id,
            ListingContent.connection_id == connection_id,
            ListingContent.language == tag,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    created = row is None
    if row is None:
        row = ListingContent(
            variant_id=variant_id,
            connection_id=connection_id,
            language=tag,
            title="",
            bullets=[],
            description="",
            keywords=[],
            attributes={},
            images=[],
            field_status={},
            version=0,
            publish_status=PublishStatus.DRAFT,
            problems=[],
        )
        session.add(row)
    diff: dict[str, Any] = {}
    for field, value in cleaned.items():
        before = getattr(row, field)
        if before != value:
            diff[field] = [before, value]
            setattr(row, field, value)
    if not diff and not created:
        return row
    row.version += 1
    row.updated_by = actor
    row.field_status = {**(row.field_status or {}), **dict.fromkeys(diff, str(status))}
    await session.flush()
    await _listing(session, row)  # the shop's listing: one to publish when the channel lacks it
    session.add(
        ListingContentVersion(
            content_id=row.id,
            version=row.version,
            changes={k: v for k, v in diff.items() if k != "images"}
            | ({"images": [[i["key"] for i in v] for v in diff["images"]]} if "images" in diff else {}),
            actor=actor,
        )
    )
    await session.flush()
    emit(
        session,
        "listing.content_saved",
        f"ListingContent:{row.id}",
        variant_id=variant_id,
        connection_id=connection_id,
        language=tag,
        version=row.version,
        fields=sorted(diff),
    )
    return row


async def review_content(
    uow: UnitOfWork, content_id: int, fields: Sequence[str] | None, *, actor: str | None
) -> ListingContent:
    """A person has read the machine translation of ``fields`` (all of them when ``None``):
    they are ``reviewed`` now (recorded as a version of its own)."""
    row = await lock(uow.session, ListingContent, content_id)
    status = dict(row.field_status or {})
    wanted = (
        list(fields) if fields is not None else [f for f, s in status.items() if s == FieldStatus.MACHINE]
    )
    for i, field in enumerate(wanted):
        if field not in CONTENT_FIELDS:
            raise UserError(f"no field {field!r}", field=f"fields.{i}", code="INVALID")
    changed = [f for f in wanted if status.get(f) == FieldStatus.MACHINE]
    if not changed:
        return row
    for field in changed:
        status[field] = FieldStatus.REVIEWED
    row.field_status = status
    row.version += 1
    row.updated_by = actor
    uow.session.add(
        ListingContentVersion(
            content_id=row.id,
            version=row.version,
            changes={"reviewed": [[], sorted(changed)]},
            actor=actor,
        )
    )
    await uow.session.flush()
    return row


# --------------------------------------------------------------------------- the channel's rules


def rules_to_json(rules: CategoryRules) -> dict[str, Any]:
    data = dataclasses.asdict(rules)
    data["image_formats"] = sorted(rules.image_formats)
    data["attributes"] = [
        {**dataclasses.asdict(a), "type": str(a.type), "values": list(a.values)} for a in rules.attributes
    ]
    data["forbidden_words"] = list(rules.forbidden_words)
    return data


def rules_from_json(data: Mapping[str, Any]) -> CategoryRules:
    values = dict(data)
    values["attributes"] = tuple(
        AttributeRule(
            **{**a, "type": AttributeType(a.get("type", "text")), "values": tuple(a.get("values") or ())}
        )
        for a in values.get("attributes") or ()
    )
    values["image_formats"] = frozenset(values.get("image_formats") or ())
    values["forbidden_words"] = tuple(values.get("forbidden_words") or ())
    known = {f.name for f in dataclasses.fields(CategoryRules)}
    return CategoryRules(**{k: v for k, v in values.items() if k in known})


async def _channel(
    ctx: Any, tenant_id: int, slug: str | None, connection_id: int, needs: MarketplaceCapability
) -> Any:
    from crossdock.jobs.channel import open_channel

    try:
        channel = await open_channel(ctx, tenant_id, connection_id, slug=slug, needs=needs)
    except NotSupported as exc:
        raise UserError(str(exc), field="connectionId", code="NOT_SUPPORTED") from None
    if channel is None:
        raise UserError("the shop is paused, disabled or failed", field="connectionId", code="INVALID_STATE")
    return channel


async def _call(ctx: Any, tenant_id: int, slug: str | None, channel: Any, call: Any) -> Any:
    from crossdock.jobs.channel import with_fresh_credentials

    result, _ = await with_fresh_credentials(ctx, tenant_id, slug, channel.view, call)
    return result


async def channel_categories(
    ctx: Any, tenant_id: int, slug: str | None, connection_id: int, *, language: str, refresh: bool = False
) -> list[ChannelCategory]:
    """The shop's channel category tree in ``language`` (cached for :data:`CACHE_DAYS`)."""
    tag = _language(language)
    async with ctx.db.tenant(tenant_id, slug) as session:
        await get_or_404(session, Connection, connection_id, field="connectionId")
        cached = await session.scalar(
            select(CategoryCache).where(
                CategoryCache.connection_id == connection_id, CategoryCache.language == tag
            )
        )
        if cached is not None and not refresh and cached.fetched_at > utcnow() - timedelta(days=CACHE_DAYS):
            return [ChannelCategory(**c) for c in cached.categories]
    channel = await _channel(ctx, tenant_id, slug, connection_id, MarketplaceCapability.LISTINGS_CATEGORIES)
    tree = list(
        await _call(
            ctx, tenant_id, slug, channel, lambda view: channel.provider.fetch_categories(view, language=tag)
        )
    )
    async with ctx.db.write(tenant_id, slug=slug) as session:
        row = await session.scalar(
            select(CategoryCache)
            .where(CategoryCache.connection_id == connection_id, CategoryCache.language == tag)
            .with_for_update()
        )
        if row is None:
            row = CategoryCache(connection_id=connection_id, language=tag)
            session.add(row)
        row.categories = [dataclasses.asdict(c) for c in tree]
        row.fetched_at = utcnow()
    return tree


async def category_rules(
    ctx: Any,
    tenant_id: int,
    slug: str | None,
    connection_id: int,
    category_id: str,
    *,
    language: str,
    refresh: bool = False,
) -> CategoryRules:
    """What the channel requires of a listing in ``category_id`` (cached for :data:`CACHE_DAYS`);
    a category it does not have is ``UNKNOWN_CATEGORY`` on ``categoryId``."""
    tag = _language(language)
    async with ctx.db.tenant(tenant_id, slug) as session:
        await get_or_404(session, Connection, connection_id, field="connectionId")
        cached = await session.scalar(
            select(RulesCache).where(
                RulesCache.connection_id == connection_id,
                RulesCache.category_id == category_id,
                RulesCache.language == tag,
            )
        )
        if cached is not None and not refresh and cached.fetched_at > utcnow() - timedelta(days=CACHE_DAYS):
            return rules_from_json(cached.rules)
    channel = await _channel(ctx, tenant_id, slug, connection_id, MarketplaceCapability.LISTINGS_RULES)
    try:
        rules = await _call(
            ctx,
            tenant_id,
            slug,
            channel,
            lambda view: channel.provider.fetch_category_rules(view, category_id, language=tag),
        )
    except ChannelError as exc:
        if exc.code == "REFUSED":
            raise UserError(exc.message, field="categoryId", code="UNKNOWN_CATEGORY") from None
        raise
    async with ctx.db.write(tenant_id, slug=slug) as session:
        row = await session.scalar(
            select(RulesCache)
            .where(
                RulesCache.connection_id == connection_id,
                RulesCache.category_id == category_id,
                RulesCache.language == tag,
            )
            .with_for_update()
        )
        if row is None:
            row = RulesCache(connection_id=connection_id, category_id=category_id, language=tag)
            session.add(row)
        row.rules = rules_to_json(rules)
        row.fetched_at = utcnow()
    return rules  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- checks


async def _settings(session: AsyncSession) -> dict[str, Any]:
    """The tenant's listing settings (``listings.*``, checked as the settings API checks them)."""
    view = await read_settings(session)
    return {
        "publish_unreviewed": view.publish_unreviewed,
        "forbidden_words": list(view.forbidden_words),
        "glossary": {k: dict(v) for k, v in view.glossary.items()},
    }


async def check(ctx: Any, tenant_id: int, slug: str | None, content_id: int) -> list[ListingProblem]:
    """Every problem the checks find with the content now (the channel's rules fetched or
    read from the cache; none known yet without a category)."""
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await get_or_404(session, ListingContent, content_id)
        settings = await _settings(session)
        compliance = await _compliance(ctx, session, row)
        snapshot = {f: getattr(row, f) for f in CONTENT_FIELDS}
        connection_id, language = row.connection_id, row.language
    rules = None
    if snapshot["category_id"]:
        try:
            rules = await category_rules(
                ctx, tenant_id, slug, connection_id, snapshot["category_id"], language=language
            )
        except UserError as exc:
            return [ListingProblem(code="UNKNOWN_CATEGORY", message=exc.message, field="categoryId")]
    return listing_checks.check_content(
        snapshot,
        rules,
        snapshot["images"],
        forbidden_words=[str(w) for w in settings.get("forbidden_words") or []],
        compliance=compliance,
    )


async def _compliance(ctx: Any, session: AsyncSession, row: ListingContent) -> list[tuple[str, str]]:
    connection = await get_or_404(session, Connection, row.connection_id)
    variant = await get_or_404(session, Variant, row.variant_id)
    product = await get_or_404(session, Product, variant.product_id)
    return list(
        ctx.plugins.listing_checks(
            tenant=session_tenant_slug(session),
            listing={
                "sku": variant.sku,
                "channel_sku": variant.sku,
                "title": row.title,
                "product_title": product.title,
                "brand": row.brand or product.brand,
                "category": row.category_id or product.category,
                "options": dict(variant.options or {}),
            },
            connection={
                "id": connection.id,
                "channel": connection.channel,
                "site": connection.site,
                "country": connection.country,
                "currency": connection.currency,
            },
        )
    )


# --------------------------------------------------------------------------- translation


def _glossary_for(settings: Mapping[str, Any], source: str, target: str) -> dict[str, str]:
    """The tenant's fixed terms from ``source`` to ``target``: ``listings.glossary`` holds
    ``{"<source>-><target>": {term: translation}}`` (or ``{"<target>": {...}}`` from any source)."""
    glossary = settings.get("glossary") or {}
    found: dict[str, str] = {}
    for key in (target, f"{source}->{target}"):
        terms = glossary.get(key) or {}
        if isinstance(terms, Mapping):
            found.update({str(k): str(v) for k, v in terms.items()})
    return found


def _by_glossary(value: Any, terms: Mapping[str, str]) -> Any:
    """An attribute value translated by the glossary: whole values only (a unit, a size, a colour)."""
    if isinstance(value, list):
        return [_by_glossary(v, terms) for v in value]
    if isinstance(value, str):
        lowered = {k.lower(): v for k, v in terms.items()}
        return lowered.get(value.strip().lower(), value)
    return value


async def translate_content(
    ctx: Any,
    tenant_id: int,
    slug: str | None,
    content_id: int,
    *,
    target_language: str,
    connection_id: int | None = None,
    actor: str | None = None,
) -> ListingContent:
    """Write the content of ``content_id`` in ``target_language`` for its shop (or another
    shop ``connection_id``): attribute values by the tenant's glossary, the title, bullets,
    description and keywords by the translation engine with the glossary; the category and
    images as they are. The translated fields are ``machine`` until reviewed."""
    target = _language(target_language, "targetLanguage")
    async with ctx.db.tenant(tenant_id, slug) as session:
        source = await get_or_404(session, ListingContent, content_id)
        if connection_id is not None:
            await get_or_404(session, Connection, connection_id, field="connectionId")
        settings = await _settings(session)
        snapshot = {f: getattr(source, f) for f in CONTENT_FIELDS}
        variant_id, source_language = source.variant_id, source.language
        shop = connection_id or source.connection_id
        channels = {
            c.id: c.channel
            for c in (
                await session.scalars(
                    select(Connection).where(Connection.id.in_([shop, source.connection_id]))
                )
            ).all()
        }
        # another channel has other categories and attribute names: those are chosen anew
        same_channel = channels.get(shop) == channels.get(source.connection_id)
    if target == source_language:
        raise UserError("the content is in that language already", field="targetLanguage", code="INVALID")
    terms = _glossary_for(settings, source_language, target)
    texts: list[str] = [
        snapshot["title"],
        *snapshot["bullets"],
        snapshot["description"],
        *snapshot["keywords"],
    ]
    translated = await _engine(ctx, texts, source_language, target, terms)
    title, rest = translated[0], translated[1:]
    bullets, rest = rest[: len(snapshot["bullets"])], rest[len(snapshot["bullets"]) :]
    description, keywords = rest[0], rest[1:]
    changes = {
        "title": title,
        "bullets": bullets,
        "description": description,
        "keywords": keywords,
        "brand": snapshot["brand"],
        "category_id": snapshot["category_id"] if same_channel else None,
        "attributes": (
            {k: _by_glossary(v, terms) for k, v in (snapshot["attributes"] or {}).items()}
            if same_channel
            else {}
        ),
        "images": [image["key"] for image in snapshot["images"] or []],
    }
    async with ctx.units(tenant_id, slug) as uow:
        return await save_content(
            uow,
            ctx.storage,
            variant_id=variant_id,
            connection_id=shop,
            language=target,
            changes=changes,
            actor=actor or "translator",
            status=FieldStatus.MACHINE,
        )


async def _engine(
    ctx: Any, texts: Sequence[str], source: str, target: str, terms: Mapping[str, str]
) -> list[str]:
    name = ctx.settings.translator
    if not name:
        raise UserError(
            "no translation engine is configured (CROSSDOCK_TRANSLATOR); only attribute values "
            "can be translated by the glossary",
            field="targetLanguage",
            code="NOT_SUPPORTED",
        )
    engine = ctx.plugins.translators.get(name)
    if engine is None:
        raise UserError(
            f"no translator plugin {name!r} is installed", field="targetLanguage", code="NOT_SUPPORTED"
        )
    index = [i for i, t in enumerate(texts) if t.strip()]
    if not index:
        return list(texts)
    account = TranslatorAccount(options=dict(ctx.settings.translator_options), http=ctx.http)
    request = TranslationRequest(
        texts=[texts[i] for i in index],
        source=source,
        target=target,
        glossary=dict(terms),
        context="product listing",
    )
    try:
        answer = list(await engine.translate(account, request))
    except ChannelError as exc:
        raise UserError(f"{name}: {exc.message}", field="targetLanguage", code="TRANSLATOR_ERROR") from None
    if len(answer) != len(index):
        raise UserError(
            f"{name} answered {len(answer)} texts for {len(index)}",
            field="targetLanguage",
            code="TRANSLATOR_ERROR",
        )
    out = list(texts)
    for i, text in zip(index, answer, strict=True):
        out[i] = text
    return out


# --------------------------------------------------------------------------- publishing


async def request_publish(
    uow: UnitOfWork, content_ids: Sequence[int], *, defer_by: float | None = None
) -> list[ListingContent]:
    """Queue the contents for publishing (the ``listing_publish`` job, one per content and
    version: asking twice for the same version queues it once; ``listing_publish_sweep``
    queues again one left queued)."""
    rows = []
    for content_id in sorted(set(content_ids)):
        row = await lock(uow.session, ListingContent, content_id)
        row.publish_status = PublishStatus.QUEUED
        rows.append(row)
        uow.enqueue(
            "listing_publish",
            job_id=f"listing_publish:{row.id}:v{row.version}",
            defer_by=defer_by,
            tenant_id=row.tenant_id,
            content_id=row.id,
        )
    await uow.session.flush()
    return rows


def _problems(found: Sequence[ListingProblem]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(p) for p in found]


async def _record(
    ctx: Any,
    tenant_id: int,
    slug: str | None,
    content_id: int,
    version: int,
    status: PublishStatus,
    problems: Sequence[ListingProblem],
    *,
    external_id: str | None = None,
) -> str:
    async with ctx.units(tenant_id, slug) as uow:
        session = uow.session
        row = await lock(session, ListingContent, content_id)
        row.publish_status = status
        row.problems = _problems(problems)
        row.publish_attempts += 1
        if status in (PublishStatus.PUBLISHED, PublishStatus.PENDING):
            row.published_version = version
            row.published_at = utcnow()
            listing = await _listing(session, row)
            if external_id:
                listing.external_id = external_id
            listing.title = row.title
        event = {
            PublishStatus.PUBLISHED: "listing.published",
            PublishStatus.PENDING: "listing.published",
            PublishStatus.REJECTED: "listing.rejected",
            PublishStatus.FAILED: "listing.rejected",
        }.get(status)
        if event:
            emit(
                session,
                event,
                f"ListingContent:{row.id}",
                connection_id=row.connection_id,
                language=row.language,
                version=version,
                status=str(status),
                problems=len([p for p in problems if p.severity != listing_checks.WARNING]),
            )
    return str(status)


async def _found(session: AsyncSession, row: ListingContent) -> tuple[Listing | None, str, str | None]:
    """The shop's listing of the content's variant (``None`` when there is none), the SKU the
    channel knows it by and the channel's id of it."""
    listing = await session.scalar(
        select(Listing).where(
            Listing.connection_id == row.connection_id, Listing.variant_id == row.variant_id
        )
    )
    if listing is not None:
        return listing, listing.channel_sku, listing.external_id
    variant = await get_or_404(session, Variant, row.variant_id)
    return None, variant.sku, None


async def _listing(session: AsyncSession, row: ListingContent) -> Listing:
    """The shop's listing of the content's variant, made when the channel does not know it yet."""
    listing, _, _ = await _found(session, row)
    if listing is None:
        variant = await get_or_404(session, Variant, row.variant_id)
        listing = Listing(connection_id=row.connection_id, variant_id=row.variant_id, channel_sku=variant.sku)
        session.add(listing)
        await session.flush()
    return listing


async def _price(ctx: Any, session: AsyncSession, listing: Listing | None, currency: str) -> Money | None:
    """The price to publish: the listing's price rule's, else its own price; none without one."""
    from crossdock.services.pricing import breakdown

    if listing is None:
        return None
    try:
        return (await breakdown(session, ctx.plugins, listing.id)).final
    except UserError:
        if listing.price_amount is not None:
            code = listing.price_currency or currency
            places = Decimal(1).scaleb(-currency_exponent(code))  # the currency's minor units
            return Money(Decimal(listing.price_amount).quantize(places), code)
        return None


async def publish(ctx: Any, tenant_id: int, slug: str | None, content_id: int) -> str:
    """Publish the content's current version (the ``listing_publish`` job): checks, then the
    channel's validation, then the listing itself. Returns the publish status it ends in; a
    retryable channel error is raised again for the job system to retry."""
    try:
        problems = await check(ctx, tenant_id, slug, content_id)
    except ChannelError as exc:  # the channel's rules could not be read
        if exc.retryable:
            raise
        async with ctx.db.tenant(tenant_id, slug) as session:
            version = (await get_or_404(session, ListingContent, content_id)).version
        return await _record(
            ctx,
            tenant_id,
            slug,
            content_id,
            version,
            PublishStatus.FAILED,
            [ListingProblem(exc.code, exc.message, None)],
        )
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await get_or_404(session, ListingContent, content_id)
        settings = await _settings(session)
        version = row.version
        connection = await get_or_404(session, Connection, row.connection_id)
        listing, sku, external_id = await _found(session, row)
        price = await _price(ctx, session, listing, connection.currency)
        unreviewed = sorted(f for f, s in (row.field_status or {}).items() if s == FieldStatus.MACHINE)
        snapshot = {f: getattr(row, f) for f in CONTENT_FIELDS}
        language, connection_id = row.language, row.connection_id
    if unreviewed and not settings.get("publish_unreviewed"):
        problems = [
            *problems,
            *(
                ListingProblem(code="UNREVIEWED", message="machine-translated and not reviewed yet", field=f)
                for f in unreviewed
            ),
        ]
    blocking = [p for p in problems if p.severity != listing_checks.WARNING]
    if blocking:
        return await _record(ctx, tenant_id, slug, content_id, version, PublishStatus.REJECTED, problems)
    images = []
    for image in snapshot["images"]:
        data = await ctx.storage.get(image["key"])
        images.append(
            ListingImage(
                key=image["key"],
                content_type=image["content_type"],
                width=int(image["width"]),
                height=int(image["height"]),
                data=data,
                url=f"{ctx.settings.public_url}/media/{media_token(ctx.vault, image['key'])}",
            )
        )
    draft = ListingDraft(
        sku=sku,
        language=language,
        title=snapshot["title"],
        category_id=snapshot["category_id"],
        bullets=tuple(snapshot["bullets"]),
        description=snapshot["description"],
        keywords=tuple(snapshot["keywords"]),
        brand=snapshot["brand"],
        attributes=dict(snapshot["attributes"]),
        images=tuple(images),
        price=price,
        external_id=external_id,
    )
    try:
        channel = await _channel(ctx, tenant_id, slug, connection_id, MarketplaceCapability.LISTINGS_PUBLISH)
    except UserError as exc:
        return await _record(
            ctx,
            tenant_id,
            slug,
            content_id,
            version,
            PublishStatus.FAILED,
            [ListingProblem(exc.code, exc.message, None)],
        )
    try:
        result = await _call(
            ctx,
            tenant_id,
            slug,
            channel,
            lambda view: channel.provider.publish_listing(view, draft, preview=True),
        )
        if result.outcome == PublishOutcome.VALID:
            result = await _call(
                ctx, tenant_id, slug, channel, lambda view: channel.provider.publish_listing(view, draft)
            )
    except ChannelError as exc:
        if exc.retryable:
            async with ctx.units(tenant_id, slug) as uow:
                row = await lock(uow.session, ListingContent, content_id)
                row.publish_attempts += 1
                row.problems = _problems(
                    [ListingProblem(exc.code, exc.message, None, listing_checks.WARNING)]
                )
            raise
        return await _record(
            ctx,
            tenant_id,
            slug,
            content_id,
            version,
            PublishStatus.FAILED,
            [ListingProblem(exc.code, exc.message, None)],
        )
    status = {
        PublishOutcome.ACCEPTED: PublishStatus.PUBLISHED,
        PublishOutcome.PENDING: PublishStatus.PENDING,
        PublishOutcome.REJECTED: PublishStatus.REJECTED,
        PublishOutcome.VALID: PublishStatus.REJECTED,  # a preview answer to a real publish
    }[result.outcome]
    return await _record(
        ctx,
        tenant_id,
        slug,
        content_id,
        version,
        status,
        [*[p for p in problems if p.severity == listing_checks.WARNING], *result.problems],
        external_id=result.external_id,
    )


async def deactivate(ctx: Any, tenant_id: int, slug: str | None, content_id: int) -> ListingContent:
    """Take the content's listing off sale on its channel."""
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await get_or_404(session, ListingContent, content_id)
        _, sku, external_id = await _found(session, row)
        connection_id = row.connection_id
    channel = await _channel(ctx, tenant_id, slug, connection_id, MarketplaceCapability.LISTINGS_DEACTIVATE)
    await _call(
        ctx,
        tenant_id,
        slug,
        channel,
        lambda view: channel.provider.deactivate_listing(view, sku, external_id),
    )
    async with ctx.units(tenant_id, slug) as uow:
        row = await lock(uow.session, ListingContent, content_id)
        row.publish_status = PublishStatus.DEACTIVATED
        return row


async def content_diff(
    ctx: Any, tenant_id: int, slug: str | None, content_id: int
) -> tuple[bool, list[dict[str, Any]]]:
    """What differs between the content held and the listing as the channel shows it now:
    ``(known, [{field, ours, theirs}])``; ``known`` is false when the channel does not have
    the listing (everything is then to publish)."""
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await get_or_404(session, ListingContent, content_id)
        _, sku, external_id = await _found(session, row)
        ours = {f: getattr(row, f) for f in CONTENT_FIELDS}
        language, connection_id = row.language, row.connection_id
    channel = await _channel(ctx, tenant_id, slug, connection_id, MarketplaceCapability.LISTINGS_READ)
    theirs = await _call(
        ctx,
        tenant_id,
        slug,
        channel,
        lambda view: channel.provider.read_listing(view, sku, external_id, language=language),
    )
    if theirs is None:
        return False, []
    shown: dict[str, Any] = {
        "title": theirs.title,
        "bullets": list(theirs.bullets),
        "description": theirs.description,
        "keywords": list(theirs.keywords),
        "brand": theirs.brand,
        "category_id": theirs.category_id,
    }
    differences = [
        {"field": field, "ours": ours[field], "theirs": value}
        for field, value in shown.items()
        if (ours[field] or None) != (value or None)
    ]
    for name in sorted(set(ours["attributes"]) | set(theirs.attributes)):
        if ours["attributes"].get(name) != theirs.attributes.get(name):
            differences.append(
                {
                    "field": f"attributes.{name}",
                    "ours": ours["attributes"].get(name),
                    "theirs": theirs.attributes.get(name),
                }
            )
    if len(ours["images"]) != len(theirs.images):
        differences.append({"field": "images", "ours": len(ours["images"]), "theirs": len(theirs.images)})
    return True, differences


async def refresh_competitors(
    ctx: Any, tenant_id: int, slug: str | None, listing_id: int
) -> list[CompetitorOffer]:
    """Read other sellers' offers for a listing from its channel and record each as a
    competitor price (source: the channel), for the listing's price rule to match or undercut."""
    from crossdock.services.pricing import record_competitor_price

    async with ctx.db.tenant(tenant_id, slug) as session:
        listing = await get_or_404(session, Listing, listing_id, field="listingId")
        sku, external_id, connection_id = listing.channel_sku, listing.external_id, listing.connection_id
    channel = await _channel(ctx, tenant_id, slug, connection_id, MarketplaceCapability.COMPETITORS_READ)
    offers = list(
        await _call(
            ctx,
            tenant_id,
            slug,
            channel,
            lambda view: channel.provider.fetch_competitor_offers(view, sku, external_id),
        )
    )
    async with ctx.db.write(tenant_id, slug=slug) as session:
        for offer in offers:
            total = offer.price.amount + (offer.shipping.amount if offer.shipping is not None else Decimal(0))
            await record_competitor_price(
                session,
                listing_id,
                offer.seller,
                Money(total, offer.price.currency),
                source=channel.view.channel,
            )
    return offers
