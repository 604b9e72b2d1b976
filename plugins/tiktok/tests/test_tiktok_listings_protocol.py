"""TikTok Shop listing content on the wire, against the emulator over real HTTP: images
uploaded (multipart, signed without the body) before the product is created, the Create
Product body, the listing pre-check as the preview, an edit in place that keeps the
product's other SKUs and stock, and TikTok's refusals mapped to fields (or raised, for the
connection's own problems)."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_tiktok.client import TikTokShopClient
from crossdock_tiktok.emulator import REGIONS, TikTokShopSellerEmulator
from crossdock_tiktok.marketplace import TikTokShopMarketplace

from crossdock import (
    ChannelConnection,
    ChannelError,
    ListingDraft,
    ListingImage,
    Money,
    PublishOutcome,
)
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve
from crossdock.testing.listings import draft_for, sample_image

UPLOAD = "/product/202309/images/upload"
PRODUCTS = "/product/202309/products"
CHECK = "/product/202309/products/listing_check"
BOTTLES = "853000"  # Home Supplies > Kitchenware > Water Bottles (a leaf)
MATERIAL, ORIGIN, OCCASION = "100347", "101395", "100392"
WEIGHT = {"value": "0.6", "unit": "KILOGRAM"}


@pytest.fixture
async def emulator() -> Any:
    emu = TikTokShopSellerEmulator()
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        yield emu


def _conn(emu: Any, creds: Any, site: str = "US", **settings: Any) -> ChannelConnection:
    return ChannelConnection(
        id=1,
        tenant="t",
        channel="tiktok",
        site=site,
        currency=REGIONS[site].currency,
        credentials=dict(creds),
        base_url=emu.base,
        settings={"timeout": 5, "package_weight": WEIGHT, **settings},
        http=emulator_http(),
    )


async def _draft(
    provider: TikTokShopMarketplace, conn: ChannelConnection, sku: str = "BOTTLE-1", **changes: Any
) -> ListingDraft:
    rules = await provider.fetch_category_rules(conn, BOTTLES, language="en")
    draft = draft_for(rules, sku=sku, currency=conn.currency)
    return replace(draft, **changes) if changes else draft


def _calls(emu: Any, path: str) -> list[Any]:
    return [body for _, called, body in emu.listings.calls if called == path]


async def test_images_are_uploaded_then_the_product_created(emulator: Any) -> None:
    creds = emulator.open_account("US")
    conn = _conn(emulator, creds)
    provider = TikTokShopMarketplace()
    draft = await _draft(
        provider, conn, attributes={MATERIAL: "Stainless Steel", ORIGIN: "China", OCCASION: ["Travel"]}
    )
    result = await provider.publish_listing(conn, draft)
    assert result.outcome == PublishOutcome.ACCEPTED, result.problems
    assert result.external_id
    product_id, sku_id = result.external_id.split(":")
    order = [path for _, path, _ in emulator.listings.calls]
    assert order.index(UPLOAD) < order.index(PRODUCTS), "images first, then the product"
    [upload] = _calls(emulator, UPLOAD)
    assert upload["use_case"] == "MAIN_IMAGE"
    assert upload["data"] == len(sample_image().data)
    [body] = _calls(emulator, PRODUCTS)
    uri = next(iter(emulator.listings.images))
    assert body["main_images"] == [{"uri": uri}]
    assert body["title"] == draft.title
    assert body["category_id"] == BOTTLES
    assert body["category_version"] == "v2", "US shops use the 7-level tree"
    assert body["description"].startswith("<p>A double-walled")
    assert "<li>Leak-proof lid</li>" in body["description"]
    assert body["package_weight"] == WEIGHT
    shop = emulator.shop_of(creds)
    [sku] = body["skus"]
    assert sku == {
        "seller_sku": "BOTTLE-1",
        "price": {"amount": "19.90", "currency": "USD"},
        "inventory": [{"warehouse_id": shop.warehouses[0], "quantity": 10}],
    }
    attributes = {a["id"]: a["values"] for a in body["product_attributes"]}
    # values TikTok offers go by their ids
    assert attributes == {
        MATERIAL: [{"id": "1000058"}],
        ORIGIN: [{"id": "1002201"}],
        OCCASION: [{"id": "1001534"}],
    }
    assert emulator.live_listing(creds, "BOTTLE-1")["active"] is True
    assert shop.products[product_id][sku_id]["sku"] == "BOTTLE-1"
    # the same image again is not uploaded again
    again = await provider.publish_listing(conn, replace(draft, title="Kit Trail Bottle 750 ml Red"))
    assert again.external_id == result.external_id
    assert len(_calls(emulator, UPLOAD)) == 1


async def test_the_preview_is_the_listing_check_and_creates_nothing(emulator: Any) -> None:
    creds = emulator.open_account("MY")
    conn = _conn(emulator, creds, site="MY")
    provider = TikTokShopMarketplace()
    draft = await _draft(provider, conn)
    valid = await provider.publish_listing(conn, draft, preview=True)
    assert valid.outcome == PublishOutcome.VALID, valid.problems
    [checked] = _calls(emulator, CHECK)
    assert checked["category_version"] == "v1", "markets other than the US use the 3-level tree"
    lacking = replace(draft, title="Bottle", attributes={ORIGIN: "China"})
    refused = await provider.publish_listing(conn, lacking, preview=True)
    assert refused.outcome == PublishOutcome.REJECTED
    fields = {p.field for p in refused.problems}
    assert {"title", f"attributes.{MATERIAL}"} <= fields, refused.problems  # MY titles: 25..255
    assert _calls(emulator, PRODUCTS) == []
    assert emulator.live_listing(creds, draft.sku) is None


async def test_an_existing_product_is_edited_in_place(emulator: Any) -> None:
    """A SKU TikTok has already (found by seller SKU) is edited with PUT: the product keeps
    its other SKUs, and each SKU its warehouses and stock; the price is the draft's."""
    creds = emulator.open_account("US")
    first = emulator.add_product(creds, "PAIR-A", stock=7)
    second = emulator.add_product(creds, "PAIR-B", stock=3)
    product_id = first.split(":")[0]
    assert second.split(":")[0] == product_id, "one product with two SKUs"
    conn = _conn(emulator, creds)
    provider = TikTokShopMarketplace()
    draft = await _draft(provider, conn, sku="PAIR-A", price=Money(Decimal("24.50"), "USD"))
    checked = await provider.publish_listing(conn, draft, preview=True)
    assert checked.outcome == PublishOutcome.VALID, checked.problems
    assert checked.external_id == first
    [check] = _calls(emulator, CHECK)
    assert [s["seller_sku"] for s in check["skus"]] == ["PAIR-A"]
    assert emulator.live_listing(creds, "PAIR-A")["title"] == f"Product {product_id}", "unchanged"
    result = await provider.publish_listing(conn, draft)
    assert result.outcome == PublishOutcome.ACCEPTED, result.problems
    assert result.external_id == first
    [edit] = [b for m, p, b in emulator.listings.calls if m == "PUT" and p == f"{PRODUCTS}/{product_id}"]
    assert {s["seller_sku"] for s in edit["skus"]} == {"PAIR-A", "PAIR-B"}
    assert _calls(emulator, PRODUCTS) == [], "not created again"
    assert emulator.stock(creds, "PAIR-A") == 7
    assert emulator.stock(creds, "PAIR-B") == 3
    assert emulator.price(creds, "PAIR-A") == "24.50"
    assert emulator.live_listing(creds, "PAIR-B")["title"] == draft.title  # a TikTok title is the product's
    back = await provider.read_listing(conn, "PAIR-A", result.external_id, language="en")
    assert back is not None
    assert (back.title, back.category_id, back.external_id) == (draft.title, BOTTLES, first)
    assert back.price == Money(Decimal("24.50"), "USD")
    assert back.quantity == 7
    assert back.images[0].url and back.images[0].url.startswith(emulator.base)
    # deactivating takes the product off sale; twice, or an unknown SKU, is fine
    await provider.deactivate_listing(conn, "PAIR-A", result.external_id)
    await provider.deactivate_listing(conn, "PAIR-A", result.external_id)
    await provider.deactivate_listing(conn, "NOBODY", None)
    assert emulator.live_listing(creds, "PAIR-B")["active"] is False
    assert await provider.read_listing(conn, "NOBODY", None, language="en") is None
    assert await provider.read_listing(conn, "NOBODY", "1729000000000000001:1", language="en") is None


async def test_content_refusals_name_the_field(emulator: Any) -> None:
    creds = emulator.open_account("US")
    conn = _conn(emulator, creds)
    provider = TikTokShopMarketplace()
    draft = await _draft(provider, conn)
    cases = {
        "price": replace(draft, price=Money(Decimal("0"), "USD")),
        "title": replace(draft, title="T" * 256),
        "description": replace(draft, description="", bullets=()),
        "category_id": replace(draft, category_id="600024"),  # Kitchenware: not a leaf
        f"attributes.{MATERIAL}": replace(draft, attributes={**draft.attributes, MATERIAL: "Bamboo"}),
        f"attributes.{OCCASION}": replace(
            draft, attributes={**draft.attributes, OCCASION: ["Birthday", "Travel", "Picnic"]}
        ),
    }
    for name, bad in cases.items():
        result = await provider.publish_listing(conn, bad)
        assert result.outcome == PublishOutcome.REJECTED, name
        assert name in {p.field for p in result.problems}, (name, result.problems)
        assert all(p.code for p in result.problems)
    small = ListingImage(key="small.jpg", data=_jpeg(120), width=120, height=120)
    tiny = await provider.publish_listing(conn, replace(draft, images=[small]))
    assert tiny.outcome == PublishOutcome.REJECTED
    assert [(p.code, p.field) for p in tiny.problems] == [("12038014", "images[0]")]
    # no weight set: refused before anything is sent
    weightless = _conn(emulator, creds, package_weight=None)
    sent = len(emulator.listings.calls)
    result = await provider.publish_listing(weightless, draft)
    assert [p.field for p in result.problems] == ["package_weight"]
    assert len(emulator.listings.calls) == sent
    assert emulator.live_listing(creds, draft.sku) is None
    with pytest.raises(ChannelError) as refused:
        await provider.fetch_category_rules(conn, "600001", language="en")
    assert (refused.value.code, refused.value.retryable) == ("REFUSED", False)


async def test_the_connections_problems_are_raised_not_rejected(emulator: Any) -> None:
    creds = emulator.open_account("US")
    provider = TikTokShopMarketplace()
    conn = _conn(emulator, creds)
    draft = await _draft(provider, conn)
    emulator.script(PRODUCTS, 36009003)  # "Internal error. Please try again."
    with pytest.raises(ChannelError) as again:
        await provider.publish_listing(conn, draft)
    assert again.value.retryable
    emulator.script(PRODUCTS, 36009002, status=429)
    with pytest.raises(ChannelError) as throttled:
        await provider.publish_listing(conn, draft)
    assert (throttled.value.code, throttled.value.retryable) == ("THROTTLED", True)
    wrong = _conn(emulator, {**creds, "app_secret": "not-the-secret"})
    with pytest.raises(ChannelError) as unsigned:
        await provider.publish_listing(wrong, draft)
    assert (unsigned.value.code, unsigned.value.retryable) == ("106001", False)
    assert emulator.live_listing(creds, draft.sku) is None


async def test_the_emulator_refuses_what_tiktok_refuses(emulator: Any) -> None:
    """Straight through the client: an image URI it never issued, a seller SKU another
    product holds, the wrong category tree version, a bad multipart signature."""
    creds = emulator.open_account("US")
    provider = TikTokShopMarketplace()
    conn = _conn(emulator, creds)
    published = await provider.publish_listing(conn, await _draft(provider, conn, sku="TAKEN-1"))
    assert published.outcome == PublishOutcome.ACCEPTED, published.problems
    shop = emulator.shop_of(creds)
    async with httpx.AsyncClient() as http:
        client = TikTokShopClient(emulator.app_key, emulator.app_secret, base_url=emulator.base, http=http)
        [body] = _calls(emulator, PRODUCTS)

        async def create(**changes: Any) -> str:
            with pytest.raises(ChannelError) as refused:
                await client.call(
                    "POST",
                    PRODUCTS,
                    operation="products.create",
                    access_token=creds["access_token"],
                    shop_cipher=shop.cipher,
                    body={**body, **changes},
                )
            return refused.value.code

        assert await create(main_images=[{"uri": "tos-maliva-i-o3syd03w52-us/forged"}]) == "12052300"
        assert await create() == "12052553", "the seller SKU is another product's"
        assert await create(category_version="v1") == "12052217"
        assert await create(category_id="999999") == "12052023"
        assert await create(product_attributes=[]) == "12052104"
        forged = TikTokShopClient(emulator.app_key, "wrong-secret", base_url=emulator.base, http=http)
        with pytest.raises(ChannelError) as unsigned:
            await forged.upload(
                UPLOAD,
                operation="products.image_upload",
                access_token=creds["access_token"],
                file=("a.jpg", _jpeg(400), "image/jpeg"),
                fields={"use_case": "MAIN_IMAGE"},
            )
        assert unsigned.value.code == "106001"
        uploaded = await client.upload(
            UPLOAD,
            operation="products.image_upload",
            access_token=creds["access_token"],
            file=("a.jpg", _jpeg(400), "image/jpeg"),
            fields={"use_case": "MAIN_IMAGE"},
        )
        assert (uploaded["width"], uploaded["height"]) == (400, 400)
        assert uploaded["uri"] in emulator.listings.images


def _jpeg(size: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), (255, 255, 255)).save(out, format="JPEG")
    return out.getvalue()
