"""Listing content over the API (:mod:`crossdock.services.listing_content` holds the rules):
``listingContents``, ``channelCategories``, ``channelCategoryRules``, ``listingContentCheck``,
``listingContentDiff``; ``listingImageUpload``, ``listingContentSave``,
``listingContentReview``, ``listingContentTranslate``, ``listingPublish``,
``listingDeactivate``, ``competitorOffersRefresh``. Reading needs ``channels:read``,
changing ``channels:write``."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.catalog_types import Variant
from crossdock.api.schema.channel_types import ChannelConnection
from crossdock.api.schema.common import JSON, Money
from crossdock.api.schema.errors import ChannelUserError, audited, in_transaction, refuse, requires
from crossdock.api.schema.loaders import children, same_tenant
from crossdock.api.schema.relay import (
    Connection,
    Node,
    decode_id,
    encode_id,
    paginate,
    resolve_id,
    resolve_ids,
)
from crossdock.db import models as m
from crossdock.errors import ChannelError, UserError
from crossdock.providers import AttributeType
from crossdock.providers import ListingProblem as DomainProblem
from crossdock.services import listing_content as service

__all__ = ["ListingContent", "Mutation", "Query"]

P = TypeVar("P")


@strawberry.type(description="An image of a listing, as stored (read with Pillow on upload).")
class ListingImage:
    key: str = strawberry.field(description="What `listingContentSave` takes in `images`.")
    url: str = strawberry.field(description="Where a channel (or a console) can fetch it.")
    content_type: str
    format: str
    width: int
    height: int
    bytes: int
    white_border: float = strawberry.field(description="The share of its border that is pure white (0-1).")


def _image(st: RequestState, facts: dict[str, Any]) -> ListingImage:
    return ListingImage(
        key=facts["key"],
        url=f"{st.app.settings.public_url}/media/{service.media_token(st.app.vault, facts['key'])}",
        content_type=facts.get("content_type", ""),
        format=facts.get("format", ""),
        width=int(facts.get("width") or 0),
        height=int(facts.get("height") or 0),
        bytes=int(facts.get("bytes") or 0),
        white_border=float(facts.get("white_border") or 0),
    )


@strawberry.type(description="Something wrong with a listing: from the checks, or the channel's own words.")
class ListingProblem:
    code: str
    message: str
    field: str | None = strawberry.field(
        description="`title`, `bullets.1`, `attributes.material`, `images.0` ..."
    )
    severity: str = strawberry.field(description="`error` blocks publishing, `warning` does not.")

    @classmethod
    def of(cls, p: DomainProblem | dict[str, Any]) -> ListingProblem:
        data = dataclasses.asdict(p) if isinstance(p, DomainProblem) else p
        return cls(
            code=data["code"],
            message=data["message"],
            field=data.get("field"),
            severity=data.get("severity", "error"),
        )


@strawberry.type(description="The review status of one field of listing content.")
class FieldReview:
    field: str
    status: m.FieldStatus


@strawberry.type(description="One saved version of listing content.")
class ListingContentVersion:
    version: int
    actor: str | None
    created_at: datetime
    changes: JSON = strawberry.field(description="Field -> [before, after].")


@strawberry.type(
    description="A variant's listing content for one shop in one language: title, bullets, description, "
    "keywords, brand, the channel's category and attributes, images; versioned, each field with its "
    "review status, and how its publication went."
)
class ListingContent(Node):
    pk: strawberry.Private[int]
    variant_pk: strawberry.Private[int]
    connection_pk: strawberry.Private[int]
    image_facts: strawberry.Private[list[dict[str, Any]]]
    language: str
    title: str
    bullets: list[str]
    description: str
    keywords: list[str]
    brand: str | None
    category_id: str | None
    attributes: JSON
    field_status: list[FieldReview]
    version: int
    updated_by: str | None
    publish_status: m.PublishStatus
    problems: list[ListingProblem] = strawberry.field(description="Of the last version checked or sent.")
    published_version: int | None
    published_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.ListingContent) -> ListingContent:
        return cls(
            id=encode_id("ListingContent", row.id),
            pk=row.id,
            variant_pk=row.variant_id,
            connection_pk=row.connection_id,
            image_facts=list(row.images or []),
            language=row.language,
            title=row.title,
            bullets=list(row.bullets or []),
            description=row.description,
            keywords=list(row.keywords or []),
            brand=row.brand,
            category_id=row.category_id,
            attributes=cast(JSON, dict(row.attributes or {})),
            field_status=[
                FieldReview(field=f, status=m.FieldStatus(s))
                for f, s in sorted((row.field_status or {}).items())
            ],
            version=row.version,
            updated_by=row.updated_by,
            publish_status=m.PublishStatus(row.publish_status),
            problems=[ListingProblem.of(p) for p in row.problems or []],
            published_version=row.published_version,
            published_at=row.published_at,
            updated_at=row.updated_at,
        )

    @strawberry.field
    def images(self, info: Info[Any, Any]) -> list[ListingImage]:
        return [_image(state(info), facts) for facts in self.image_facts]

    @strawberry.field
    async def variant(self, info: Info[Any, Any]) -> Variant:
        return Variant.from_row(await same_tenant(info, m.Variant, self.variant_pk))

    @strawberry.field
    async def shop(self, info: Info[Any, Any]) -> ChannelConnection:
        return ChannelConnection.from_row(await same_tenant(info, m.Connection, self.connection_pk))

    @strawberry.field(description="Every version, newest first.")
    async def versions(self, info: Info[Any, Any]) -> list[ListingContentVersion]:
        rows = await children(state(info), m.ListingContentVersion, "content_id").load(self.pk)
        return [
            ListingContentVersion(
                version=r.version, actor=r.actor, created_at=r.created_at, changes=cast(JSON, r.changes)
            )
            for r in sorted(rows, key=lambda r: -r.version)
        ]

    @strawberry.field(description="The version the channel has, behind the one held when older.")
    def changed_since_published(self) -> bool:
        return self.published_version is None or self.published_version != self.version


@strawberry.type(description="A node of a channel's category tree.")
class ChannelCategory:
    id: str
    name: str
    parent_id: str | None
    leaf: bool


@strawberry.type(description="An attribute a channel category asks for.")
class CategoryAttribute:
    name: str = strawberry.field(description="The channel's own key: what `attributes` are keyed by.")
    label: str
    required: bool
    type: str = strawberry.field(description="text, number, boolean, enum or multi_enum.")
    values: list[str]
    unit: str | None
    max_length: int | None


@strawberry.type(description="What a channel requires of a listing in one category.")
class CategoryRules:
    category_id: str
    attributes: list[CategoryAttribute]
    schema: JSON | None = strawberry.field(
        description="The channel's JSON Schema of the attributes, if it has one."
    )
    title_max: int | None
    bullets_max: int | None
    bullet_max_length: int | None
    description_max: int | None
    images_min: int
    images_max: int | None
    image_min_px: int | None
    image_formats: list[str]
    white_main_image: bool
    forbidden_words: list[str]
    requires_brand: bool


def _rules(rules: Any) -> CategoryRules:
    return CategoryRules(
        category_id=rules.category_id,
        attributes=[
            CategoryAttribute(
                name=a.name,
                label=a.label or a.name,
                required=a.required,
                type=str(AttributeType(a.type)),
                values=[str(v) for v in a.values],
                unit=a.unit,
                max_length=a.max_length,
            )
            for a in rules.attributes
        ],
        schema=cast(JSON, dict(rules.schema)) if rules.schema else None,
        title_max=rules.title_max,
        bullets_max=rules.bullets_max,
        bullet_max_length=rules.bullet_max_length,
        description_max=rules.description_max,
        images_min=rules.images_min,
        images_max=rules.images_max,
        image_min_px=rules.image_min_px,
        image_formats=sorted(rules.image_formats),
        white_main_image=rules.white_main_image,
        forbidden_words=list(rules.forbidden_words),
        requires_brand=rules.requires_brand,
    )


@strawberry.type(description="A field where Crossdock's content and the channel's listing differ.")
class ContentDifference:
    field: str
    ours: JSON | None
    theirs: JSON | None


@strawberry.type(description="Crossdock's content against the listing as the channel shows it now.")
class ContentDiff:
    known: bool = strawberry.field(
        description="Whether the channel has the listing at all (else: all to publish)."
    )
    differences: list[ContentDifference]


@strawberry.type(description="Another seller's offer on the channel.")
class CompetitorOffer:
    seller: str
    price: Money
    shipping: Money | None
    condition: str
    fulfilled_by_channel: bool
    featured: bool


# --------------------------------------------------------------------------- inputs


@strawberry.input
class ListingContentFilter:
    variant_id: strawberry.ID | None = None
    connection_id: strawberry.ID | None = None
    language: str | None = None
    publish_status: list[m.PublishStatus] | None = None


@strawberry.input
class ListingImageUploadInput:
    data_base64: str = strawberry.field(
        description="The image file, base64 (JPEG, PNG, WebP; at most 10 MiB)."
    )


@strawberry.type
class ListingImageUploadPayload:
    image: ListingImage | None = None
    user_errors: list[ChannelUserError] = strawberry.field(default_factory=list)


@strawberry.input
class ListingContentSaveInput:
    variant_id: strawberry.ID
    connection_id: strawberry.ID
    language: str = strawberry.field(description="BCP 47: en, de, ms, zh-Hans.")
    title: str | None = None
    bullets: list[str] | None = None
    description: str | None = None
    keywords: list[str] | None = None
    brand: str | None = None
    category_id: str | None = None
    attributes: JSON | None = None
    images: list[str] | None = strawberry.field(
        default=None, description="Keys from `listingImageUpload`, main first."
    )


@strawberry.input
class ListingContentReviewInput:
    id: strawberry.ID
    fields: list[str] | None = strawberry.field(
        default=None, description="None: every machine-translated field."
    )


@strawberry.input
class ListingContentTranslateInput:
    id: strawberry.ID
    target_language: str
    connection_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Another shop to write it for (its category and attributes are then chosen anew).",
    )


@strawberry.input
class PublishTarget:
    connection_id: strawberry.ID
    language: str


@strawberry.input
class ListingPublishInput:
    ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Contents to publish.")
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Or every variant of a product, to each of `targets`."
    )
    targets: list[PublishTarget] | None = None


@strawberry.input
class ListingContentIdInput:
    id: strawberry.ID


@strawberry.input
class CompetitorOffersRefreshInput:
    listing_id: strawberry.ID


@strawberry.type(name="ListingContentPayloadFields")
class _ContentPayload:
    listing_content: ListingContent | None = None
    user_errors: list[ChannelUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ListingContentSavePayload(_ContentPayload):
    pass


@strawberry.type
class ListingContentReviewPayload(_ContentPayload):
    pass


@strawberry.type
class ListingContentTranslatePayload(_ContentPayload):
    pass


@strawberry.type
class ListingDeactivatePayload(_ContentPayload):
    pass


@strawberry.type
class ListingPublishPayload:
    listing_contents: list[ListingContent] = strawberry.field(
        default_factory=list, description="Queued for publishing."
    )
    user_errors: list[ChannelUserError] = strawberry.field(default_factory=list)


@strawberry.type
class CompetitorOffersRefreshPayload:
    offers: list[CompetitorOffer] = strawberry.field(default_factory=list)
    user_errors: list[ChannelUserError] = strawberry.field(default_factory=list)


# --------------------------------------------------------------------------- resolvers


def _refused(exc: ChannelError, field: str) -> UserError:
    code = "CHANNEL_UNAVAILABLE" if exc.retryable else "CHANNEL_REFUSED"
    return UserError(f"the channel says: {exc.message}", field=field, code=code)


async def _between(
    info: Info[Any, Any],
    payload: Callable[..., P],
    call: Callable[[RequestState], Awaitable[dict[str, Any]]],
    field: str = "id",
) -> P:
    """A mutation that calls a channel or an engine between its own transactions."""
    st = state(info)
    try:
        with audited(info):
            return payload(**await call(st))
    except UserError as exc:
        return await refuse(info, payload, exc)
    except ChannelError as exc:
        return await refuse(info, payload, _refused(exc, field))


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("channels:read"), description="Listing content, per variant, shop and language."
    )
    async def listing_contents(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ListingContentFilter | None = None,
    ) -> Connection[ListingContent]:
        stmt = select(m.ListingContent)
        if filter and filter.variant_id:
            stmt = stmt.where(
                m.ListingContent.variant_id
                == decode_id(filter.variant_id, "Variant", field="filter.variantId")[1]
            )
        if filter and filter.connection_id:
            pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")[1]
            stmt = stmt.where(m.ListingContent.connection_id == pk)
        if filter and filter.language:
            stmt = stmt.where(m.ListingContent.language == filter.language)
        if filter and filter.publish_status:
            stmt = stmt.where(m.ListingContent.publish_status.in_([str(s) for s in filter.publish_status]))
        return await paginate(
            state(info), stmt, m.ListingContent, ListingContent.from_row, first=first, after=after
        )

    @strawberry.field(
        extensions=requires("channels:read"),
        description="A shop's channel category tree (read from the channel, kept a week; `refresh` to read "
        "it again).",
    )
    async def channel_categories(
        self, info: Info[Any, Any], connection_id: strawberry.ID, language: str = "en", refresh: bool = False
    ) -> list[ChannelCategory]:
        st = state(info)
        p = st.principal
        async with st.read() as session:
            pk = await resolve_id(session, connection_id, m.Connection, field="connectionId")
        tree = await service.channel_categories(
            st.app.job_context(), p.tenant_id, p.tenant_slug, pk, language=language, refresh=refresh
        )
        return [ChannelCategory(id=c.id, name=c.name, parent_id=c.parent_id, leaf=c.leaf) for c in tree]

    @strawberry.field(
        extensions=requires("channels:read"),
        description="What a channel category requires of a listing (kept a week; `refresh` to read it "
        "again).",
    )
    async def channel_category_rules(
        self,
        info: Info[Any, Any],
        connection_id: strawberry.ID,
        category_id: str,
        language: str = "en",
        refresh: bool = False,
    ) -> CategoryRules:
        st = state(info)
        p = st.principal
        async with st.read() as session:
            pk = await resolve_id(session, connection_id, m.Connection, field="connectionId")
        rules = await service.category_rules(
            st.app.job_context(),
            p.tenant_id,
            p.tenant_slug,
            pk,
            category_id,
            language=language,
            refresh=refresh,
        )
        return _rules(rules)

    @strawberry.field(
        extensions=requires("channels:read"),
        description="Run the quality checks on listing content now (the channel's rules, images, words, "
        "claims, "
        "compliance).",
    )
    async def listing_content_check(self, info: Info[Any, Any], id: strawberry.ID) -> list[ListingProblem]:
        st = state(info)
        p = st.principal
        async with st.read() as session:
            pk = await resolve_id(session, id, m.ListingContent, field="id")
        return [
            ListingProblem.of(x)
            for x in await service.check(st.app.job_context(), p.tenant_id, p.tenant_slug, pk)
        ]

    @strawberry.field(
        extensions=requires("channels:read"),
        description="Crossdock's content against the listing as the channel shows it now (read back from "
        "it).",
    )
    async def listing_content_diff(self, info: Info[Any, Any], id: strawberry.ID) -> ContentDiff:
        st = state(info)
        p = st.principal
        async with st.read() as session:
            pk = await resolve_id(session, id, m.ListingContent, field="id")
        known, found = await service.content_diff(st.app.job_context(), p.tenant_id, p.tenant_slug, pk)
        return ContentDiff(
            known=known,
            differences=[
                ContentDifference(
                    field=d["field"], ours=cast(JSON, d["ours"]), theirs=cast(JSON, d["theirs"])
                )
                for d in found
            ],
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Keep an image for listings (checked with Pillow); returns its key for "
        "`listingContentSave`.",
    )
    async def listing_image_upload(
        self, info: Info[Any, Any], input: ListingImageUploadInput
    ) -> ListingImageUploadPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            try:
                data = base64.b64decode(input.data_base64, validate=True)
            except (binascii.Error, ValueError):
                raise UserError("not base64", field="dataBase64", code="INVALID") from None
            facts = await service.store_image(session, st.app.storage, data)
            return {"image": _image(st, facts)}

        return await in_transaction(info, ListingImageUploadPayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Create or change a variant's listing content for a shop and language (a new version "
        "when "
        "something changed; the fields given are `manual`).",
    )
    async def listing_content_save(
        self, info: Info[Any, Any], input: ListingContentSaveInput
    ) -> ListingContentSavePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            variant = await resolve_id(session, input.variant_id, m.Variant, field="variantId")
            connection = await resolve_id(session, input.connection_id, m.Connection, field="connectionId")
            names = (
                "title",
                "bullets",
                "description",
                "keywords",
                "brand",
                "category_id",
                "attributes",
                "images",
            )
            changes = {name: getattr(input, name) for name in names if getattr(input, name) is not None}
            row = await service.save_content(
                st.uow,
                st.app.storage,
                variant_id=variant,
                connection_id=connection,
                language=input.language,
                changes=changes,
                actor=st.principal.name or None,
            )
            return {"listing_content": ListingContent.from_row(row)}

        return await in_transaction(info, ListingContentSavePayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Mark machine-translated fields as reviewed by a person.",
    )
    async def listing_content_review(
        self, info: Info[Any, Any], input: ListingContentReviewInput
    ) -> ListingContentReviewPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.ListingContent, field="id")
            row = await service.review_content(st.uow, pk, input.fields, actor=st.principal.name or None)
            return {"listing_content": ListingContent.from_row(row)}

        return await in_transaction(info, ListingContentReviewPayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Write the content in another language (attribute values by the tenant's glossary, the "
        "text "
        "by the translation engine with it); the translated fields are `machine` until reviewed.",
    )
    async def listing_content_translate(
        self, info: Info[Any, Any], input: ListingContentTranslateInput
    ) -> ListingContentTranslatePayload:
        async def call(st: RequestState) -> dict[str, Any]:
            p = st.principal
            async with st.read() as session:
                pk = await resolve_id(session, input.id, m.ListingContent, field="id")
                shop = (
                    await resolve_id(session, input.connection_id, m.Connection, field="connectionId")
                    if input.connection_id
                    else None
                )
            row = await service.translate_content(
                st.app.job_context(),
                p.tenant_id,
                p.tenant_slug,
                pk,
                target_language=input.target_language,
                connection_id=shop,
                actor=p.name or None,
            )
            return {"listing_content": ListingContent.from_row(row)}

        return await _between(info, ListingContentTranslatePayload, call, "targetLanguage")

    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Publish listing content to its channels (a retried job each: checks, the channel's "
        "validation, then the listing): contents by id, or every variant of a product to several shops, each "
        "in its language.",
    )
    async def listing_publish(
        self, info: Info[Any, Any], input: ListingPublishInput
    ) -> ListingPublishPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            ids: list[int] = []
            if input.ids:
                ids += await resolve_ids(session, [str(i) for i in input.ids], m.ListingContent, field="ids")
            if input.product_id is not None:
                product = await resolve_id(session, input.product_id, m.Product, field="productId")
                variants = list(
                    (await session.scalars(select(m.Variant.id).where(m.Variant.product_id == product))).all()
                )
                for i, target in enumerate(input.targets or []):
                    shop = await resolve_id(
                        session, target.connection_id, m.Connection, field=f"targets.{i}.connectionId"
                    )
                    found = (
                        await session.scalars(
                            select(m.ListingContent.id).where(
                                m.ListingContent.variant_id.in_(variants),
                                m.ListingContent.connection_id == shop,
                                m.ListingContent.language == target.language,
                            )
                        )
                    ).all()
                    if len(found) < len(variants):
                        raise UserError(
                            f"{len(variants) - len(found)} of the product's variants have no content for "
                            f"this shop in "
                            f"{target.language!r}: save or translate it first",
                            field=f"targets.{i}.language",
                            code="REQUIRED",
                        )
                    ids += found
            if not ids:
                raise UserError("name contents, or a product and its targets", field="ids", code="REQUIRED")
            rows = await service.request_publish(st.uow, ids)
            return {"listing_contents": [ListingContent.from_row(r) for r in rows]}

        return await in_transaction(info, ListingPublishPayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"), description="Take a content's listing off sale on its channel."
    )
    async def listing_deactivate(
        self, info: Info[Any, Any], input: ListingContentIdInput
    ) -> ListingDeactivatePayload:
        async def call(st: RequestState) -> dict[str, Any]:
            p = st.principal
            async with st.read() as session:
                pk = await resolve_id(session, input.id, m.ListingContent, field="id")
            row = await service.deactivate(st.app.job_context(), p.tenant_id, p.tenant_slug, pk)
            return {"listing_content": ListingContent.from_row(row)}

        return await _between(info, ListingDeactivatePayload, call)

    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Read other sellers' offers for a listing from its channel, recorded as competitor "
        "prices for repricing.",
    )
    async def competitor_offers_refresh(
        self, info: Info[Any, Any], input: CompetitorOffersRefreshInput
    ) -> CompetitorOffersRefreshPayload:
        async def call(st: RequestState) -> dict[str, Any]:
            p = st.principal
            async with st.read() as session:
                pk = await resolve_id(session, input.listing_id, m.Listing, field="listingId")
            offers = await service.refresh_competitors(st.app.job_context(), p.tenant_id, p.tenant_slug, pk)
            return {
                "offers": [
                    CompetitorOffer(
                        seller=o.seller,
                        price=Money.exact(o.price.amount, o.price.currency),
                        shipping=Money.exact(o.shipping.amount, o.shipping.currency) if o.shipping else None,
                        condition=o.condition,
                        fulfilled_by_channel=o.fulfilled_by_channel,
                        featured=o.featured,
                    )
                    for o in offers
                ]
            }

        return await _between(info, CompetitorOffersRefreshPayload, call, "listingId")
