"""Shopee listings on the wire, through the provider against the emulator over HTTP: the
rules' mapping, images uploaded before ``add_item``, the ``attribute_list`` Shopee takes,
the local preview (Shopee has no validation-only call), an update in place (by item id
or found by ``item_sku``), reading back, unlisting, the mapping of Shopee's refusals, and
each refusal the emulator makes as the product API reference words it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_shopee.client import ShopeeClient
from crossdock_shopee.emulator import INTEGRATED, ShopeeSellerEmulator
from crossdock_shopee.marketplace import ShopeeMarketplace

from crossdock import (
    AttributeType,
    CategoryRules,
    ChannelConnection,
    ChannelError,
    ListingDraft,
    Money,
    PublishOutcome,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve
from crossdock.testing.listings import draft_for, sample_image

UPLOAD = "/api/v2/media_space/upload_image"
ADD = "/api/v2/product/add_item"
UPDATE = "/api/v2/product/update_item"
SAMPLE = "101210"  # Water Bottles
SETTINGS = {"logistics_channel_ids": [INTEGRATED], "item_weight_kg": 0.45}


@dataclass
class Shop:
    emu: ShopeeSellerEmulator
    account: dict[str, Any]
    base: str

    def conn(self, **settings: Any) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="shopee",
            site="SG",
            currency="SGD",
            credentials=self.account,
            base_url=self.base,
            settings={**SETTINGS, **settings},
            http=emulator_http(),
        )

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.emu.listings.wire]

    def bodies(self, path: str) -> list[Any]:
        return [body for p, _, body in self.emu.listings.wire if p == path]

    async def rules(self) -> CategoryRules:
        return await ShopeeMarketplace().fetch_category_rules(self.conn(), SAMPLE, language="en")

    async def draft(self, **changes: Any) -> ListingDraft:
        return replace(draft_for(await self.rules(), sku="BOTTLE-1", currency="SGD"), **changes)


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    emu = ShopeeSellerEmulator()
    async with serve(emu) as base:
        yield Shop(emu, emu.open_account("SG"), base)


# ------------------------------------------------------------------ categories and rules


async def test_the_tree_and_the_rules_are_shopees(shop: Shop) -> None:
    tree = {c.id: c for c in await ShopeeMarketplace().fetch_categories(shop.conn(), language="en")}
    assert tree["100001"].parent_id is None and not tree["100001"].leaf
    assert tree[SAMPLE].parent_id == "100010" and tree[SAMPLE].leaf
    assert tree[SAMPLE].name == "Water Bottles"
    rules = await shop.rules()
    by_key = {rule.name: rule for rule in rules.attributes}
    assert (by_key["100037"].label, by_key["100037"].type, by_key["100037"].required) == (
        "Material",
        AttributeType.ENUM,
        True,
    )
    assert list(by_key["100037"].values) == ["Stainless Steel", "Plastic", "Glass"]
    assert (by_key["100131"].type, by_key["100131"].unit) == (AttributeType.NUMBER, "ml")
    assert by_key["100150"].type == AttributeType.MULTI_ENUM
    # a combo box takes the seller's own value: its values are suggestions
    assert (by_key["100040"].type, by_key["100040"].required) == (AttributeType.TEXT, False)
    assert (rules.title_max, rules.description_max, rules.images_min, rules.images_max) == (120, 3000, 1, 9)


async def test_a_category_that_is_no_leaf_or_unknown_is_refused(shop: Shop) -> None:
    for category in ("100010", "999999", "bottles"):
        with pytest.raises(ChannelError) as refused:
            await ShopeeMarketplace().fetch_category_rules(shop.conn(), category, language="en")
        assert refused.value.code == "REFUSED"
        assert not refused.value.retryable


# ------------------------------------------------------------------ publishing


async def test_images_are_uploaded_before_the_item_is_added(shop: Shop) -> None:
    draft = await shop.draft(
        images=[sample_image(), sample_image(800)],
        attributes={
            "100037": "Stainless Steel",
            "100131": 750,
            "100150": ["Leak-proof", "Insulated"],
            "100040": "Japan",
        },
    )
    result = await ShopeeMarketplace().publish_listing(shop.conn(), draft)
    assert result.outcome == PublishOutcome.ACCEPTED, result.problems
    writes = [p for p in shop.paths() if p in (UPLOAD, ADD, UPDATE)]
    assert writes == [UPLOAD, UPLOAD, ADD], "every image first (one upload per distinct image), then the item"
    assert shop.bodies(UPLOAD) == [["image", "scene"], ["image", "scene"]]
    (body,) = shop.bodies(ADD)
    assert body["image"]["image_id_list"] == list(shop.emu.listings.images)
    assert sorted(body["attribute_list"], key=lambda a: a["attribute_id"]) == [
        {"attribute_id": 100037, "attribute_value_list": [{"value_id": 6001}]},
        {"attribute_id": 100040, "attribute_value_list": [{"value_id": 0, "original_value_name": "Japan"}]},
        {
            "attribute_id": 100131,
            "attribute_value_list": [{"value_id": 0, "original_value_name": "750", "value_unit": "ml"}],
        },
        {"attribute_id": 100150, "attribute_value_list": [{"value_id": 6101}, {"value_id": 6102}]},
    ]
    assert body["brand"] == {"brand_id": 0, "original_brand_name": "Kitbrand"}
    assert body["logistic_info"] == [{"logistic_id": INTEGRATED, "enabled": True}]
    assert (body["item_sku"], body["original_price"], body["weight"]) == ("BOTTLE-1", 19.9, 0.45)
    assert body["seller_stock"] == [{"stock": 10}]
    assert body["category_id"] == 101210 and body["item_name"] == draft.title
    live = shop.emu.live_listing(shop.account, "BOTTLE-1")
    assert live is not None and live["active"] and live["images"] == 2
    assert result.external_id == str(live["item_id"])
    # the new item is a listing like any other: its stock is pushed on its id
    assert shop.emu.stock(shop.account, "BOTTLE-1") == 10


async def test_a_preview_is_checked_here_and_sends_nothing(shop: Shop) -> None:
    provider = ShopeeMarketplace()
    draft = await shop.draft()
    valid = await provider.publish_listing(shop.conn(), draft, preview=True)
    assert valid.outcome == PublishOutcome.VALID, valid.problems
    bad = replace(
        draft,
        title="Short",
        description="x" * 3001,
        images=[replace(sample_image(), key=f"k{i}") for i in range(10)],
        attributes={**draft.attributes, "100037": "Bamboo", "100150": []},
        price=Money(Decimal("0"), "SGD"),
    )
    rejected = await provider.publish_listing(shop.conn(), bad, preview=True)
    assert rejected.outcome == PublishOutcome.REJECTED
    fields = {p.field for p in rejected.problems if p.severity == "error"}
    assert fields == {"title", "description", "images", "attributes.100037", "attributes.100150", "price"}
    unconfigured = await provider.publish_listing(
        shop.conn(logistics_channel_ids=[], item_weight_kg=None), draft, preview=True
    )
    assert {p.field for p in unconfigured.problems} == {"logistics", "weight"}
    assert not {UPLOAD, ADD, UPDATE} & set(shop.paths()), "no upload, no item"
    assert shop.emu.live_listing(shop.account, "BOTTLE-1") is None


async def test_a_published_item_is_updated_in_place(shop: Shop) -> None:
    provider = ShopeeMarketplace()
    draft = await shop.draft()
    first = await provider.publish_listing(shop.conn(), draft)
    assert first.outcome == PublishOutcome.ACCEPTED
    # by its id
    again = await provider.publish_listing(
        shop.conn(), replace(draft, title="Trail Bottle Blue", external_id=first.external_id)
    )
    # without it: found by its item_sku, also once taken off sale
    await provider.deactivate_listing(shop.conn(), "BOTTLE-1", None)
    third = await provider.publish_listing(shop.conn(), replace(draft, title="Trail Bottle Green"))
    assert first.external_id == again.external_id == third.external_id
    assert [p for p in shop.paths() if p in (ADD, UPDATE)] == [ADD, UPDATE, UPDATE]
    update = shop.bodies(UPDATE)[-1]
    assert update["item_id"] == int(str(first.external_id))
    assert "original_price" not in update and "seller_stock" not in update, (
        "price and stock have their pushes"
    )
    live = shop.emu.live_listing(shop.account, "BOTTLE-1")
    assert live is not None and live["title"] == "Trail Bottle Green"
    assert (
        len(
            [
                i
                for i in shop.emu.shops[int(shop.account["shop_id"])].items.values()
                if i["item_sku"] == "BOTTLE-1"
            ]
        )
        == 1
    )


async def test_read_back_and_unlist(shop: Shop) -> None:
    provider = ShopeeMarketplace()
    draft = await shop.draft(attributes={"100037": "Glass", "100131": 500, "100150": ["BPA-free"]})
    published = await provider.publish_listing(shop.conn(), draft)
    back = await provider.read_listing(shop.conn(), "BOTTLE-1", None, language="en")
    assert back is not None
    assert (back.external_id, back.title, back.category_id) == (published.external_id, draft.title, SAMPLE)
    assert back.attributes == {"100037": "Glass", "100131": 500, "100150": ["BPA-free"], "weight_kg": 0.45}
    assert back.price == Money(Decimal("19.90"), "SGD")
    assert back.brand == "Kitbrand" and back.description == draft.description
    assert [i.url for i in back.images] == list(shop.emu.listings.images.values())
    assert await provider.read_listing(shop.conn(), "BOTTLE", None, language="en") is None, (
        "a search matches loosely"
    )
    await provider.deactivate_listing(shop.conn(), "BOTTLE-1", published.external_id)
    live = shop.emu.live_listing(shop.account, "BOTTLE-1")
    assert live is not None and live["active"] is False
    assert shop.bodies("/api/v2/product/unlist_item")[-1] == {
        "item_list": [{"item_id": int(str(published.external_id)), "unlist": True}]
    }
    await provider.deactivate_listing(shop.conn(), "NOBODY", None)
    await provider.deactivate_listing(shop.conn(), "NOBODY", "77777")  # Shopee: "Product not found"


# ------------------------------------------------------------------ Shopee's refusals


async def test_shopees_refusals_are_rejections_naming_the_field(shop: Shop) -> None:
    provider = ShopeeMarketplace()
    draft = await shop.draft()
    # a channel the shop does not have: only Shopee knows
    result = await provider.publish_listing(shop.conn(logistics_channel_ids=[99999]), draft)
    assert result.outcome == PublishOutcome.REJECTED
    assert [(p.code, p.field) for p in result.problems] == [("error_invalid_logistic_info", "logistics")]
    for error, message, field in (
        (
            "error_param",
            "Parameter is not match the constraints, item_name length should be 10 to 120.",
            "title",
        ),
        (
            "error_less_required_attribute",
            "Mandatory attribute information required, attribute_id 100131",
            "attributes.100131",
        ),
        ("error_param", "Image not exist.", "images"),
        ("error_invalid_brand", "Brand information required", "brand"),
        ("error_invalid_category", "Invalid category ID 101210", "category_id"),
    ):
        shop.emu.fail_next(ADD, error, message)
        result = await provider.publish_listing(shop.conn(), draft)
        assert result.outcome == PublishOutcome.REJECTED, error
        assert [(p.code, p.field) for p in result.problems] == [(error, field)]
    assert shop.emu.live_listing(shop.account, "BOTTLE-1") is None


async def test_credentials_throttling_and_outages_are_errors(shop: Shop) -> None:
    provider = ShopeeMarketplace()
    draft = await shop.draft()
    shop.emu.fail_next(ADD, "error_auth", "Invalid access_token.", status=403)
    with pytest.raises(ChannelError) as expired:
        await provider.publish_listing(shop.conn(), draft)
    assert expired.value.code == ChannelError.AUTH_EXPIRED
    shop.emu.fail_next(ADD, "error_auth", "No permission to current api.", status=403)
    with pytest.raises(ChannelError) as denied:
        await provider.publish_listing(shop.conn(), draft)
    assert (denied.value.code, denied.value.retryable) == ("AUTH_NO_PERMISSION", False)
    for error, status in (("error_rate_limit", 429), ("error_server", 500), ("error_system_busy", 200)):
        shop.emu.fail_next(ADD, error, status=status)
        with pytest.raises(ChannelError) as transient:
            await provider.publish_listing(shop.conn(), draft)
        assert transient.value.retryable, error
    # an upload answered busy is retried in place
    shop.emu.fail_next(UPLOAD, "error_server", status=503)
    assert (await provider.publish_listing(shop.conn(), draft)).outcome == PublishOutcome.ACCEPTED


# ------------------------------------------------------------------ the emulator refuses what Shopee refuses


async def test_the_emulator_refuses_what_shopee_refuses(shop: Shop) -> None:
    creds = shop.account
    auth = {"access_token": creds["access_token"], "shop_id": creds["shop_id"]}
    async with httpx.AsyncClient() as http:
        client = ShopeeClient(creds["partner_id"], creds["partner_key"], base_url=shop.base, http=http)
        uploaded = await client.call_upload(
            UPLOAD, files={"image": ("a.jpg", sample_image().data, "image/jpeg")}
        )
        image_id = uploaded["response"]["image_info"]["image_id"]
        good: dict[str, Any] = {
            "item_name": "Trail Bottle 750 ml",
            "description": "A double-walled stainless steel bottle.",
            "original_price": 19.9,
            "weight": 0.45,
            "category_id": 101210,
            "image": {"image_id_list": [image_id]},
            "logistic_info": [{"logistic_id": INTEGRATED, "enabled": True}],
            "brand": {"brand_id": 0, "original_brand_name": "NoBrand"},
            "item_sku": "RAW-1",
            "attribute_list": [
                {"attribute_id": 100037, "attribute_value_list": [{"value_id": 6001}]},
                {
                    "attribute_id": 100131,
                    "attribute_value_list": [{"value_id": 0, "original_value_name": "750"}],
                },
                {"attribute_id": 100150, "attribute_value_list": [{"value_id": 6101}]},
            ],
        }
        attributes = good["attribute_list"]
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({**good, "attribute_list": attributes[1:]}, "error_less_required_attribute", "100037"),
            ({**good, "item_name": "Bottle"}, "error_param", "item_name length"),
            ({**good, "item_name": "B" * 121}, "error_param", "item_name length"),
            ({**good, "image": {"image_id_list": ["sg-not-issued"]}}, "error_param", "Image not exist."),
            ({**good, "category_id": 555555}, "error_invalid_category", "Invalid category ID"),
            ({**good, "category_id": 100010}, "error_invalid_category", "Invalid category ID"),
            (
                {
                    **good,
                    "attribute_list": [
                        {"attribute_id": 100037, "attribute_value_list": [{"value_id": 9}]},
                        *attributes[1:],
                    ],
                },
                "error_param",
                "Invalid attribute",
            ),
            (
                {
                    **good,
                    "attribute_list": [
                        {
                            "attribute_id": 100037,
                            "attribute_value_list": [{"value_id": 0, "original_value_name": "Bamboo"}],
                        },
                        *attributes[1:],
                    ],
                },
                "error_param",
                "Invalid attribute",
            ),
            (
                {
                    **good,
                    "attribute_list": [
                        *attributes,
                        {"attribute_id": 100041, "attribute_value_list": [{"value_id": 6301}]},
                    ],
                },
                "error_invalid_category_attribute",
                "Category and attribute not match.",
            ),
            ({**good, "original_price": 0}, "error_invalid_price", "Invalid price"),
            ({**good, "original_price": -5}, "error_invalid_price", "Invalid price"),
            ({**good, "weight": 0}, "error_param", "Invalid Weight."),
            (
                {**good, "logistic_info": [{"logistic_id": 99999, "enabled": True}]},
                "error_invalid_logistic_info",
                "invalid logistic info",
            ),
            (
                {k: v for k, v in good.items() if k != "logistic_info"},
                "error_param",
                "logistic_info is required",
            ),
        ]
        for body, code, words in cases:
            with pytest.raises(ChannelError) as refused:
                await client.call("POST", ADD, body=body, **auth)
            assert refused.value.code == code, (body, refused.value)
            assert words in refused.value.message, refused.value.message
        # an update of an item the shop does not have
        with pytest.raises(ChannelError) as unknown:
            await client.call(
                "POST", UPDATE, body={"item_id": 4242, "item_name": "Trail Bottle 750 ml"}, **auth
            )
        assert unknown.value.code == "error_item_not_found"
        # not an image
        with pytest.raises(ChannelError) as not_image:
            await client.call_upload(UPLOAD, files={"image": ("a.gif", b"GIF89a....", "image/gif")})
        assert not_image.value.code == "error_param"
        assert shop.emu.live_listing(creds, "RAW-1") is None, "nothing was created"
        assert (await client.call("POST", ADD, body=good, **auth))["response"]["item_id"]
    # a signature made with another key
    async with httpx.AsyncClient() as http:
        forged = ShopeeClient(creds["partner_id"], "0" * 64, base_url=shop.base, http=http)
        with pytest.raises(ChannelError) as wrong_sign:
            await forged.call("POST", ADD, body=good, **auth)
        assert wrong_sign.value.code == "error_sign"
        with pytest.raises(ChannelError) as wrong_upload:
            await forged.call_upload(UPLOAD, files={"image": ("a.jpg", sample_image().data, "image/jpeg")})
        assert wrong_upload.value.code == "error_sign"
