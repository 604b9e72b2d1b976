"""The listings conformance suite: listing content published to a marketplace and kept in
step (categories, category rules, validation, publish, update, read back, deactivate,
competitors' offers), run by every marketplace plugin against its own emulator::

    from crossdock.testing.listings import ListingsConformance

    class TestMyShopListings(ListingsConformance):
        channel = "myshop"
        site = "SG"

        def make_emulator(self, faults):
            return MyShopEmulator(faults)

The emulator satisfies :class:`ListingsEmulator`. Every test talks to it over real HTTP on
loopback through the plugin, connected as the server connects a shop (each test runs on
SQLite and on PostgreSQL). The draft the suite publishes is built from the channel's own
rules for the emulator's sample category (every required attribute filled with an allowed
value), with a 1,000 x 1,000 JPEG on white. What is checked, for the capabilities the
provider declares:

* the category tree is whole (every parent is in it) and has leaves; a leaf has rules; a
  category the channel does not have is refused (``REFUSED``);
* a preview of a valid draft is ``VALID`` and creates nothing;
* a valid draft is taken (``ACCEPTED`` or ``PENDING``) with the channel's id; published
  again with a new title, it updates that listing (one listing, the new title);
* a draft lacking a required attribute, or with a title over the limit, is ``REJECTED``
  with a problem naming the field, and creates nothing: the emulator refuses what the
  channel refuses;
* the listing reads back as published (title, category, attributes); a SKU the channel
  does not know reads back as ``None``;
* a deactivated listing is off sale; deactivating one the channel does not know is fine;
* other sellers' offers come back with their prices, the shop's own left out.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol, cast

import pytest
from sqlalchemy import select

from crossdock.bootstrap import App
from crossdock.db.models import Listing
from crossdock.errors import ChannelError
from crossdock.money import Money
from crossdock.providers import (
    AttributeRule,
    AttributeType,
    CategoryRules,
    ChannelConnection,
    ListingDraft,
    ListingImage,
    MarketplaceCapability,
    MarketplaceProvider,
    PublishOutcome,
)
from crossdock.testing.conformance import EmulatorHandle, Setup, _Connected

__all__ = ["ListingsConformance", "ListingsEmulator", "draft_for", "sample_image"]

NEW_SKU = "KIT-NEW-1"


class ListingsEmulator(EmulatorHandle, Protocol):
    """What the suite needs from an emulator besides the marketplace helpers."""

    def sample_category(self, site: str) -> str:
        """A leaf category of ``site`` the suite may list in."""

    def live_listing(self, account: Mapping[str, Any], sku: str) -> Mapping[str, Any] | None:
        """What the channel holds for ``sku`` (``None``: nothing): at least ``title``,
        ``category_id``, ``attributes`` (by the channel's attribute names), ``images`` (how
        many) and ``active`` (on sale)."""

    def add_competitor_offer(self, account: Mapping[str, Any], sku: str, *, seller: str, price: str) -> None:
        """Another seller offers ``sku``'s product at ``price`` (the shop's currency)."""


def sample_image(size: int = 1000, colour: tuple[int, int, int] = (200, 40, 40)) -> ListingImage:
    """A JPEG of a red square on a white background (``size`` pixels a side), with its bytes
    (for channels that take uploads) and a public-looking URL (for those that fetch)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(picture).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=colour)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90)
    return ListingImage(
        key=f"kit/square-{size}.jpg",
        content_type="image/jpeg",
        width=size,
        height=size,
        data=out.getvalue(),
        url=f"https://media.example.com/kit/square-{size}.jpg",  # for channels that fetch images
    )


def _value(rule: AttributeRule) -> Any:
    if rule.values:
        return [rule.values[0]] if rule.type == AttributeType.MULTI_ENUM else rule.values[0]
    if rule.type == AttributeType.NUMBER:
        return 1
    if rule.type == AttributeType.BOOLEAN:
        return True
    text = "Kit value"
    return text[: rule.max_length] if rule.max_length else text


def draft_for(
    rules: CategoryRules, *, sku: str = NEW_SKU, currency: str = "USD", language: str = "en"
) -> ListingDraft:
    """A draft the rules accept: every required attribute filled with an allowed value."""
    title = "Kit Trail Bottle 750 ml Stainless Steel"
    if rules.title_max:
        title = title[: rules.title_max]
    bullets: tuple[str, ...] = ("Keeps drinks cold for 24 hours", "Leak-proof lid")
    if rules.bullets_max is not None:
        bullets = bullets[: rules.bullets_max]
    images = [sample_image()] * max(1, rules.images_min)
    return ListingDraft(
        sku=sku,
        language=language,
        title=title,
        category_id=rules.category_id,
        bullets=bullets,
        description="A double-walled stainless steel bottle for the trail.",
        keywords=("bottle", "flask"),
        brand="Kitbrand",
        attributes={rule.name: _value(rule) for rule in rules.attributes if rule.required},
        images=images,
        price=Money(Decimal("19.90"), currency),
        quantity=10,
    )


class ListingsConformance(_Connected):
    """Subclass with ``channel``, ``site`` and ``make_emulator``; see the module doc."""

    @asynccontextmanager
    async def channel_view(
        self, app: App, tenant_factory: Any
    ) -> AsyncIterator[tuple[Setup, MarketplaceProvider, ChannelConnection]]:
        from crossdock.jobs.channel import open_channel

        async with self.connected(app, tenant_factory) as setup:
            channel = await open_channel(app.job_context(), setup.tenant.id, setup.connection_id)
            assert channel is not None
            yield setup, channel.provider, channel.view

    async def _rules(
        self, provider: MarketplaceProvider, view: ChannelConnection, emulator: Any
    ) -> CategoryRules:
        category = emulator.sample_category(self.site)
        rules = await provider.fetch_category_rules(view, category, language="en")
        assert isinstance(rules, CategoryRules)
        assert rules.category_id == category
        return rules

    # ------------------------------------------------------------ categories and rules

    async def test_the_category_tree_is_whole(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_CATEGORIES)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            tree = list(await provider.fetch_categories(view, language="en"))
            sample = cast(ListingsEmulator, setup.emulator).sample_category(self.site)
        ids = [c.id for c in tree]
        assert tree
        assert len(ids) == len(set(ids)), "every category once"
        assert all(c.parent_id is None or c.parent_id in ids for c in tree), "every parent is in the tree"
        assert all(c.name for c in tree)
        assert any(c.leaf for c in tree)
        assert sample in {c.id for c in tree if c.leaf}

    async def test_a_leaf_has_rules_and_an_unknown_category_is_refused(
        self, app: App, tenant_factory: Any
    ) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_RULES)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            rules = await self._rules(provider, view, setup.emulator)
            with pytest.raises(ChannelError) as refused:
                await provider.fetch_category_rules(view, "no-such-category-000", language="en")
        assert refused.value.code == "REFUSED"
        assert not refused.value.retryable
        assert all(rule.name for rule in rules.attributes)

    # ------------------------------------------------------------ publishing

    async def test_a_preview_validates_and_creates_nothing(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_PUBLISH)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            emulator = cast(ListingsEmulator, setup.emulator)
            rules = await self._rules(provider, view, emulator)
            result = await provider.publish_listing(
                view, draft_for(rules, currency=view.currency), preview=True
            )
            assert result.outcome == PublishOutcome.VALID, result.problems
            assert emulator.live_listing(setup.account, NEW_SKU) is None

    async def test_a_listing_is_published_then_updated_in_place(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_PUBLISH)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            emulator = cast(ListingsEmulator, setup.emulator)
            rules = await self._rules(provider, view, emulator)
            draft = draft_for(rules, currency=view.currency)
            first = await provider.publish_listing(view, draft)
            assert first.outcome in (PublishOutcome.ACCEPTED, PublishOutcome.PENDING), first.problems
            assert first.external_id
            live = emulator.live_listing(setup.account, NEW_SKU)
            assert live is not None
            assert live["title"] == draft.title
            assert live["images"] >= 1
            renamed = replace(draft, title="Kit Trail Bottle 750 ml Blue", external_id=first.external_id)
            again = await provider.publish_listing(view, renamed)
            assert again.outcome in (PublishOutcome.ACCEPTED, PublishOutcome.PENDING), again.problems
            assert again.external_id == first.external_id, "updated, not listed twice"
            live = emulator.live_listing(setup.account, NEW_SKU)
            assert live is not None
            assert live["title"] == "Kit Trail Bottle 750 ml Blue"

    async def test_what_the_channel_refuses_is_rejected_with_the_field(
        self, app: App, tenant_factory: Any
    ) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_PUBLISH)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            emulator = cast(ListingsEmulator, setup.emulator)
            rules = await self._rules(provider, view, emulator)
            draft = draft_for(rules, currency=view.currency)
            required = [rule.name for rule in rules.attributes if rule.required]
            if required:
                lacking = replace(
                    draft, attributes={k: v for k, v in draft.attributes.items() if k != required[0]}
                )
                result = await provider.publish_listing(view, lacking)
                assert result.outcome == PublishOutcome.REJECTED
                assert any(p.field == f"attributes.{required[0]}" for p in result.problems), result.problems
            if rules.title_max:
                long = replace(draft, title="X" * (rules.title_max + 1))
                result = await provider.publish_listing(view, long)
                assert result.outcome == PublishOutcome.REJECTED
                assert any(p.field == "title" for p in result.problems), result.problems
            assert required or rules.title_max, "the sample category has a rule to break"
            assert emulator.live_listing(setup.account, NEW_SKU) is None, "nothing was created"

    async def test_a_listing_reads_back_as_published(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_READ)
        self._require(app, MarketplaceCapability.LISTINGS_PUBLISH)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            rules = await self._rules(provider, view, setup.emulator)
            draft = draft_for(rules, currency=view.currency)
            published = await provider.publish_listing(view, draft)
            back = await provider.read_listing(view, NEW_SKU, published.external_id, language="en")
            unknown = await provider.read_listing(view, "KIT-NOBODY", None, language="en")
        assert back is not None
        assert back.sku == NEW_SKU
        assert (back.title, back.category_id) == (draft.title, draft.category_id)
        for name, value in draft.attributes.items():
            assert back.attributes.get(name) == value, name
        assert len(back.images) >= 1
        assert all(image.url for image in back.images)
        assert unknown is None

    async def test_a_deactivated_listing_is_off_sale(self, app: App, tenant_factory: Any) -> None:
        self._require(app, MarketplaceCapability.LISTINGS_DEACTIVATE)
        self._require(app, MarketplaceCapability.LISTINGS_PUBLISH)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            emulator = cast(ListingsEmulator, setup.emulator)
            rules = await self._rules(provider, view, emulator)
            published = await provider.publish_listing(view, draft_for(rules, currency=view.currency))
            await provider.deactivate_listing(view, NEW_SKU, published.external_id)
            live = emulator.live_listing(setup.account, NEW_SKU)
            assert live is not None
            assert live["active"] is False
            await provider.deactivate_listing(view, "KIT-NOBODY", None)  # nothing to do

    async def test_competitors_offers_come_back_without_the_shops_own(
        self, app: App, tenant_factory: Any
    ) -> None:
        self._require(app, MarketplaceCapability.COMPETITORS_READ)
        async with self.channel_view(app, tenant_factory) as (setup, provider, view):
            emulator = cast(ListingsEmulator, setup.emulator)
            sku = "CONF-1"  # listed on the channel by the suite's set-up
            emulator.add_competitor_offer(setup.account, sku, seller="Rival One", price="18.50")
            emulator.add_competitor_offer(setup.account, sku, seller="Rival Two", price="21.00")
            async with setup.app.db.tenant(setup.tenant.id, setup.tenant.slug) as session:
                external_id = await session.scalar(
                    select(Listing.external_id).where(Listing.channel_sku == sku)
                )
            offers = list(await provider.fetch_competitor_offers(view, sku, external_id))
        prices = sorted(offer.price.amount for offer in offers)
        assert prices == [Decimal("18.50"), Decimal("21.00")]
        assert all(offer.price.currency == view.currency for offer in offers)
        assert all(offer.seller for offer in offers)
