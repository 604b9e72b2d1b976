"""Lazada listing content on the wire, against the emulator over real HTTP: the category
tree and attributes, images uploaded (multipart) before CreateProduct, the JSON payload's
shape, a preview checked locally (no call), an update in place, Lazada's refusals as
problems, and what stays an error (throttling, token, permission)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_lazada.client import LazadaClient
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.marketplace import LazadaMarketplace

from crossdock import (
    AttributeType,
    CategoryRules,
    ChannelConnection,
    ChannelError,
    ListingDraft,
    ListingImage,
    MarketplaceCapability,
    Money,
    PublishOutcome,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import Reply, Request, serve
from crossdock.testing.listings import draft_for, sample_image

WATER_BOTTLES = "10002543"


class _Recording(LazadaSellerEmulator):
    """Notes each call as it arrives: (path, content type, the request's parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        for key, handler in list(self.routes.items()):
            self.routes[key] = self._noted(handler)

    def _noted(self, handler: Callable[[Request], Awaitable[Reply]]) -> Callable[[Request], Awaitable[Reply]]:
        async def noted(request: Request) -> Reply:
            self.calls.append((request.path, request.headers.get("content-type", ""), self._params(request)))
            return await handler(request)

        return noted

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.calls]


@dataclass
class Env:
    emulator: _Recording
    base: str
    account: dict[str, Any]
    provider: LazadaMarketplace = field(default_factory=LazadaMarketplace)

    def conn(self, **credentials: Any) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials={**self.account, **credentials},
            base_url=self.base,
            settings={"timeout": 5},
            http=emulator_http(),
        )

    async def rules(self) -> CategoryRules:
        return await self.provider.fetch_category_rules(self.conn(), WATER_BOTTLES, language="en")

    async def draft(self, sku: str = "BOTTLE-1", **changes: Any) -> ListingDraft:
        return replace(draft_for(await self.rules(), sku=sku, currency="SGD"), **changes)

    def payloads(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(p["payload"]) for called, _, p in self.emulator.calls if called == path]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = _Recording()
    async with serve(emulator) as base:
        yield Env(emulator, base, emulator.open_account("SG"))


def test_listing_capabilities_are_declared() -> None:
    declared = LazadaMarketplace().capabilities
    assert {
        MarketplaceCapability.LISTINGS_CATEGORIES,
        MarketplaceCapability.LISTINGS_RULES,
        MarketplaceCapability.LISTINGS_PUBLISH,
        MarketplaceCapability.LISTINGS_READ,
        MarketplaceCapability.LISTINGS_DEACTIVATE,
    } <= declared
    assert MarketplaceCapability.COMPETITORS_READ not in declared  # Lazada shows no rival offers


# ------------------------------------------------------------------ categories and rules


async def test_the_tree_is_flattened_with_parents_and_leaves(env: Env) -> None:
    tree = {c.id: c for c in await env.provider.fetch_categories(env.conn(), language="th")}
    assert tree[WATER_BOTTLES].parent_id == "10000385" and tree[WATER_BOTTLES].leaf
    assert tree["10000385"].parent_id == "10000320" and not tree["10000385"].leaf
    assert tree["10000320"].parent_id is None
    # an SG shop asking for Thai gets Lazada's English (th_TH is Thailand's only)
    assert env.emulator.calls[-1][2]["language_code"] == "en_US"


async def test_rules_come_from_the_category_attributes(env: Env) -> None:
    rules = await env.rules()
    by_name = {rule.name: rule for rule in rules.attributes}
    # the fields a draft has of its own are not attribute rules
    assert not {"name", "description", "short_description", "brand", "SellerSku", "price"} & set(by_name)
    warranty = by_name["warranty_type"]
    assert warranty.required and warranty.type == AttributeType.ENUM
    assert "No Warranty" in warranty.values
    assert by_name["Hazmat"].type == AttributeType.MULTI_ENUM
    assert by_name["material"].type == AttributeType.TEXT and not by_name["material"].values  # custom allowed
    assert (by_name["package_weight"].type, by_name["package_weight"].unit) == (AttributeType.NUMBER, "kg")
    assert (rules.title_max, rules.images_min, rules.images_max) == (255, 1, 8)
    assert rules.image_formats == frozenset({"JPEG", "PNG"})
    for category in ("10000385", "424242"):  # a branch, and a category Lazada does not have
        with pytest.raises(ChannelError) as refused:
            await env.provider.fetch_category_rules(env.conn(), category, language="en")
        assert (refused.value.code, refused.value.retryable) == ("REFUSED", False)


# ------------------------------------------------------------------ publishing


async def test_images_are_uploaded_then_the_product_is_created(env: Env) -> None:
    draft = await env.draft()
    result = await env.provider.publish_listing(env.conn(), draft)
    assert result.outcome == PublishOutcome.ACCEPTED, result.problems
    paths = env.emulator.paths()
    assert paths.index("/image/upload") < paths.index("/product/create")
    upload = next(c for c in env.emulator.calls if c[0] == "/image/upload")
    assert upload[1].startswith("multipart/form-data")
    assert "image" not in upload[2]  # the file is a part of its own, never signed
    assert env.emulator.catalog.uploads == [draft.images[0].data]

    (payload,) = env.payloads("/product/create")
    product = payload["Request"]["Product"]
    assert product["PrimaryCategory"] == WATER_BOTTLES
    attributes = product["Attributes"]
    assert attributes["name"] == draft.title and attributes["brand"] == "Kitbrand"
    assert attributes["short_description"] == (
        "<ul><li>Keeps drinks cold for 24 hours</li><li>Leak-proof lid</li></ul>"
    )
    assert attributes["warranty_type"] == "No Warranty"  # a normal attribute
    (sku,) = product["Skus"]["Sku"]
    assert (sku["SellerSku"], sku["price"], sku["quantity"]) == ("BOTTLE-1", "19.90", "10")
    assert sku["package_weight"] == "1" and "package_weight" not in attributes  # an sku attribute
    (url,) = sku["Images"]["Image"]
    assert url.startswith("https://sg-live-02.slatic.net/p/") and product["Images"]["Image"] == [url]
    item_id, _, sku_id = (result.external_id or "").partition(":")
    live = env.emulator.live_listing(env.account, "BOTTLE-1")
    assert live is not None and (live["item_id"], live["sku_id"]) == (item_id, sku_id)


async def test_an_image_with_only_a_url_is_migrated(env: Env) -> None:
    image = ListingImage(key="remote.jpg", width=800, height=800, url="https://media.example.com/remote.jpg")
    result = await env.provider.publish_listing(env.conn(), await env.draft(images=[image]))
    assert result.outcome == PublishOutcome.ACCEPTED, result.problems
    assert "/image/upload" not in env.emulator.paths()
    (migrate,) = [p for path, _, p in env.emulator.calls if path == "/image/migrate"]
    assert json.loads(migrate["payload"]) == {"Request": {"Image": {"Url": image.url}}}


async def test_a_preview_is_checked_here_and_calls_nothing_that_writes(env: Env) -> None:
    draft = await env.draft()
    assert (
        await env.provider.publish_listing(env.conn(), draft, preview=True)
    ).outcome == PublishOutcome.VALID
    bad = replace(
        draft,
        title="T" * 256,
        attributes={**draft.attributes, "warranty_type": "Lifetime", "Hazmat": ["None", "Radioactive"]},
        price=Money(Decimal("0"), "SGD"),
    )
    del_required = {k: v for k, v in bad.attributes.items() if k != "package_height"}
    result = await env.provider.publish_listing(
        env.conn(), replace(bad, attributes=del_required), preview=True
    )
    assert result.outcome == PublishOutcome.REJECTED
    assert {p.field for p in result.problems} >= {
        "title",
        "attributes.warranty_type",
        "attributes.Hazmat",
        "attributes.package_height",
        "price",
    }
    written = {"/image/upload", "/image/migrate", "/product/create", "/product/update"}
    assert not written & set(env.emulator.paths())
    assert env.emulator.live_listing(env.account, "BOTTLE-1") is None


async def test_a_product_lazada_has_is_updated_in_place(env: Env) -> None:
    draft = await env.draft()
    first = await env.provider.publish_listing(env.conn(), draft)
    # published again without its id: found by SellerSku (GetProducts), then UpdateProduct
    renamed = replace(draft, title="Kit Trail Bottle 750 ml Blue")
    again = await env.provider.publish_listing(env.conn(), renamed)
    assert again.outcome == PublishOutcome.ACCEPTED and again.external_id == first.external_id
    assert env.emulator.paths().count("/product/create") == 1
    (update,) = env.payloads("/product/update")
    item_id, _, sku_id = (first.external_id or "").partition(":")
    product = update["Request"]["Product"]
    assert product["ItemId"] == item_id and product["Skus"]["Sku"][0]["SkuId"] == sku_id
    live = env.emulator.live_listing(env.account, "BOTTLE-1")
    assert live is not None and live["title"] == "Kit Trail Bottle 750 ml Blue"
    assert len(env.emulator.catalog.products) == 1

    back = await env.provider.read_listing(env.conn(), "BOTTLE-1", first.external_id, language="en")
    assert back is not None and back.title == renamed.title
    assert back.bullets == tuple(draft.bullets) and back.brand == "Kitbrand"
    assert back.attributes["package_weight"] == 1 and back.attributes["warranty_type"] == "No Warranty"
    assert all((image.url or "").startswith("https://sg-live-02.slatic.net/") for image in back.images)


async def test_lazadas_refusals_are_problems_with_the_field(env: Env) -> None:
    draft = await env.draft()
    cases: list[tuple[ListingDraft, str, str]] = [
        (replace(draft, price=Money(Decimal("0"), "SGD")), "price", "4118"),
        (
            replace(draft, attributes={**draft.attributes, "warranty_type": "Lifetime"}),
            "attributes.warranty_type",
            "4115",
        ),
        (
            replace(draft, attributes={**draft.attributes, "capacity_ml": "a lot"}),
            "attributes.capacity_ml",
            "4107",
        ),
        (replace(draft, title="T" * 256), "title", "4120"),
        (
            replace(
                draft, images=[replace(sample_image(), data=b"", url="https://sg-live-02.slatic.net/p/x.jpg")]
            ),
            "images",
            "4138",
        ),
        (replace(draft, category_id="10000385"), "category_id", "201"),
    ]
    for bad, where, code in cases:
        result = await env.provider.publish_listing(env.conn(), bad)
        assert result.outcome == PublishOutcome.REJECTED, where
        assert any(p.field == where and p.code == code for p in result.problems), (where, result.problems)
    assert not env.emulator.catalog.products, "nothing was created"


async def test_throttling_tokens_and_permissions_stay_errors(env: Env) -> None:
    draft = await env.draft()
    env.emulator.refuse("/product/create", "901")
    with pytest.raises(ChannelError) as throttled:
        await env.provider.publish_listing(env.conn(), draft)
    assert (throttled.value.code, throttled.value.retryable) == ("901", True)
    with pytest.raises(ChannelError) as expired:
        await env.provider.publish_listing(env.conn(access_token="stale"), draft)
    assert expired.value.code == ChannelError.AUTH_EXPIRED
    env.emulator.denied.add("/product/create")
    with pytest.raises(ChannelError) as denied:
        await env.provider.publish_listing(env.conn(), draft)
    assert (denied.value.code, denied.value.retryable) == ("InsufficientPermission", False)


async def test_the_emulator_refuses_an_unsigned_upload_and_a_branch(env: Env) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        wrong = LazadaClient(env.account["app_key"], "not-the-secret", base_url=env.base, http=http)
        with pytest.raises(ChannelError) as unsigned:
            await wrong.call(
                "POST",
                "/image/upload",
                access_token=env.account["access_token"],
                files={"image": ("a.jpg", sample_image().data, "image/jpeg")},
            )
        assert unsigned.value.code == "IncompleteSignature"
        client = LazadaClient(env.account["app_key"], env.account["app_secret"], base_url=env.base, http=http)
        with pytest.raises(ChannelError) as small:
            await client.call(
                "POST",
                "/image/upload",
                access_token=env.account["access_token"],
                files={"image": ("a.jpg", sample_image(size=200).data, "image/jpeg")},
            )
        assert small.value.code == "300"  # under 330 px a side
        branch = {"Request": {"Product": {"PrimaryCategory": "10000320", "Skus": {"Sku": [{}]}}}}
        with pytest.raises(ChannelError) as refused:
            await client.call(
                "POST",
                "/product/create",
                params={"payload": json.dumps(branch)},
                access_token=env.account["access_token"],
            )
        assert refused.value.code == "4134"


# ------------------------------------------------------------------ reading and deactivating


async def test_read_back_and_deactivate(env: Env) -> None:
    assert await env.provider.read_listing(env.conn(), "NOBODY", None, language="en") is None
    assert await env.provider.read_listing(env.conn(), "NOBODY", "999:1", language="en") is None
    result = await env.provider.publish_listing(env.conn(), await env.draft())
    await env.provider.deactivate_listing(env.conn(), "BOTTLE-1", result.external_id)
    (call,) = [p for path, _, p in env.emulator.calls if path == "/product/deactivate"]
    item_id, _, sku_id = (result.external_id or "").partition(":")
    assert json.loads(call["apiRequestBody"]) == {
        "Request": {"Product": {"ItemId": item_id, "Skus": {"SkuId": [sku_id]}}}
    }
    live = env.emulator.live_listing(env.account, "BOTTLE-1")
    assert live is not None and live["active"] is False
    # again (Lazada: E0004 not online), and a SKU Lazada does not know: both are fine
    await env.provider.deactivate_listing(env.conn(), "BOTTLE-1", result.external_id)
    await env.provider.deactivate_listing(env.conn(), "NOBODY", None)


async def test_a_product_the_shop_has_already_is_updated_not_listed_again(env: Env) -> None:
    """A SellerSku the seller lists already (outside Crossdock) is found with GetProducts and
    updated with UpdateProduct, under its item and SKU ids: never a second product."""
    external_id = env.emulator.add_product(env.account, "TAKEN-1")
    draft = replace(await env.draft(), sku="TAKEN-1")
    result = await env.provider.publish_listing(env.conn(), draft)
    assert result.outcome == PublishOutcome.ACCEPTED, result.problems
    assert result.external_id == external_id
    assert [path for path, _ in env.emulator.catalog.payloads] == ["/product/update"]
    live = env.emulator.live_listing(env.account, "TAKEN-1")
    assert live is not None and live["title"] == draft.title
