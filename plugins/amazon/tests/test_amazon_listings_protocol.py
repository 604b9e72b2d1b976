"""Amazon listing content on the wire, over HTTP against the emulator: product types and
their JSON Schemas (with Amazon's own keywords), putListingsItem bodies in Amazon's attribute
shape, issues mapped to content fields, VALIDATION_PREVIEW storing nothing, the quantity-0
patch that takes a listing off sale, and getItemOffers without the seller's own offer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from crossdock_amazon.emulator import AmazonEmulator, asin_of
from crossdock_amazon.listings_emulator import PRODUCT_TYPES, AmazonValidator, product_type_schema
from crossdock_amazon.marketplace import AmazonMarketplace

from crossdock import ChannelConnection, ChannelError, Money
from crossdock.providers import AttributeType, CategoryRules, ListingDraft, PublishOutcome
from crossdock.testing import emulator_http
from crossdock.testing.emulator import serve
from crossdock.testing.listings import draft_for, sample_image

US = "ATVPDKIKX0DER"
SKU = "BOTTLE-1"


@asynccontextmanager
async def shop() -> AsyncIterator[tuple[AmazonEmulator, dict[str, Any], ChannelConnection, str]]:
    emulator = AmazonEmulator()
    async with serve(emulator) as base_url:
        account = emulator.open_account("US")
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="amazon",
            site="US",
            currency="USD",
            credentials=emulator.issue_token(account),
            base_url=base_url,
            settings={},
            http=emulator_http(),
        )
        yield emulator, account, conn, base_url


async def call(
    base_url: str, conn: ChannelConnection, method: str, path: str, body: Any = None, **params: str
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.request(
            method,
            base_url + path,
            params=params,
            json=body,
            headers={"x-amz-access-token": str(conn.credentials["access_token"])},
        )


async def rules(
    conn: ChannelConnection, product_type: str = "WATER_BOTTLE", provider: AmazonMarketplace | None = None
) -> CategoryRules:
    return await (provider or AmazonMarketplace()).fetch_category_rules(conn, product_type, language="en")


async def bottle(conn: ChannelConnection, **changes: Any) -> ListingDraft:
    draft = draft_for(await rules(conn), sku=SKU, currency="USD")
    return replace(draft, **changes)


async def test_product_types_are_the_categories() -> None:
    async with shop() as (_, _, conn, _):
        tree = await AmazonMarketplace().fetch_categories(conn, language="en")
    names = {c.id: c.name for c in tree}
    assert {"WATER_BOTTLE", "LUGGAGE", "BACKPACK"} <= set(names)
    assert names["WATER_BOTTLE"] == "Water Bottle"
    assert all(c.leaf and c.parent_id is None for c in tree)


async def test_the_rules_come_from_the_product_types_json_schema() -> None:
    async with shop() as (emulator, _, conn, _):
        provider = AmazonMarketplace()
        got = await rules(conn, provider=provider)
        luggage = await rules(conn, "LUGGAGE", provider=provider)
        schema_reads = emulator.requests["/definitions-schemas/WATER_BOTTLE.json"]
        await rules(conn, provider=provider)  # the same checksum: the schema is not fetched again
        assert emulator.requests["/definitions-schemas/WATER_BOTTLE.json"] == schema_reads == 1
        with pytest.raises(ChannelError) as refused:
            await rules(conn, "NO_SUCH_TYPE")
    assert refused.value.code == "REFUSED"
    assert got.schema is not None
    amazons = got.schema["x-amazon-schema"]  # Amazon's own, as downloaded
    assert amazons["$schema"].endswith("/product-types/meta-schema/v1")
    assert (
        amazons["properties"]["generic_keyword"]["items"]["properties"]["value"]["maxUtf8ByteLength"] == 250
    )
    assert (got.title_max, got.bullets_max, got.bullet_max_length, got.description_max) == (200, 5, 500, 2000)
    assert got.keywords_max_length == 250  # bytes, as Amazon counts search terms
    assert (got.images_min, got.images_max, got.image_min_px, got.white_main_image) == (1, 9, 1000, True)
    assert got.requires_brand
    by_name = {r.name: r for r in got.attributes}
    # the content fields' own attributes are the draft's title, bullets, images, price...
    assert not {
        "item_name",
        "bullet_point",
        "brand",
        "main_product_image_locator",
        "purchasable_offer",
    } & set(by_name)
    assert {n for n, r in by_name.items() if r.required} == {
        "condition_type",
        "material",
        "color",
        "number_of_items",
    }
    assert by_name["condition_type"].type == AttributeType.ENUM
    assert by_name["condition_type"].values[0] == "new_new"
    assert by_name["number_of_items"].type == AttributeType.NUMBER
    assert by_name["is_dishwasher_safe"].type == AttributeType.BOOLEAN
    assert not by_name["is_dishwasher_safe"].required
    assert by_name["material"].max_length == 100
    assert {r.name for r in luggage.attributes if r.required} >= {"size", "shell_type"}
    assert next(r for r in luggage.attributes if r.name == "shell_type").values == ["hard", "soft"]


async def test_the_attribute_values_go_in_amazons_shape() -> None:
    async with shop() as (_, account, conn, base_url):
        draft = await bottle(
            conn, images=[sample_image(), replace(sample_image(), url="https://media.example.com/2.jpg")]
        )
        result = await AmazonMarketplace().publish_listing(conn, draft)
        assert result.outcome == PublishOutcome.ACCEPTED, result.problems
        assert result.external_id == SKU
        raw = await call(
            base_url,
            conn,
            "GET",
            f"/listings/2021-08-01/items/{account['seller_id']}/{SKU}",
            marketplaceIds=US,
            includedData="summaries,attributes",
        )
    item = raw.json()
    attributes = item["attributes"]
    assert attributes["item_name"] == [{"value": draft.title, "language_tag": "en_US", "marketplace_id": US}]
    assert [e["value"] for e in attributes["bullet_point"]] == list(draft.bullets)
    assert attributes["generic_keyword"][0]["value"] == "bottle flask"
    # an enumerated code has no language (the schema's entry has no language_tag)
    assert attributes["condition_type"] == [{"value": "new_new", "marketplace_id": US}]
    assert attributes["number_of_items"] == [{"value": 1, "marketplace_id": US}]
    assert attributes["main_product_image_locator"] == [
        {"media_location": draft.images[0].url, "marketplace_id": US}
    ]
    assert (
        attributes["other_product_image_locator_1"][0]["media_location"] == "https://media.example.com/2.jpg"
    )
    offer = attributes["purchasable_offer"][0]
    assert (offer["currency"], offer["our_price"][0]["schedule"][0]["value_with_tax"]) == ("USD", 19.9)
    assert attributes["fulfillment_availability"] == [{"fulfillment_channel_code": "DEFAULT", "quantity": 10}]
    summary = item["summaries"][0]
    assert (summary["productType"], summary["asin"], summary["status"]) == (
        "WATER_BOTTLE",
        asin_of(SKU),
        ["BUYABLE", "DISCOVERABLE"],
    )


async def test_a_listing_reads_back_with_its_content() -> None:
    async with shop() as (_, _, conn, _):
        draft = await bottle(
            conn, attributes={**(await bottle(conn)).attributes, "capacity": {"value": 750, "unit": "ml"}}
        )
        # the schema's capacity entry takes no unit: Amazon says so, on that attribute
        refused = await AmazonMarketplace().publish_listing(conn, draft)
        assert refused.outcome == PublishOutcome.REJECTED
        assert {p.field for p in refused.problems} == {"attributes.capacity"}
        draft = replace(draft, attributes={**draft.attributes, "capacity": 750, "is_dishwasher_safe": False})
        assert (await AmazonMarketplace().publish_listing(conn, draft)).outcome == PublishOutcome.ACCEPTED
        back = await AmazonMarketplace().read_listing(conn, SKU, SKU, language="en")
    assert back is not None
    assert (back.title, back.category_id, back.brand, back.description) == (
        draft.title,
        "WATER_BOTTLE",
        "Kitbrand",
        draft.description,
    )
    assert back.bullets == tuple(draft.bullets)
    assert back.keywords == ("bottle", "flask")
    assert back.price == Money(Decimal("19.90"), "USD")
    assert back.quantity == 10
    assert [i.url for i in back.images] == [draft.images[0].url]
    assert back.attributes["capacity"] == 750
    assert back.attributes["is_dishwasher_safe"] is False
    assert back.attributes["condition_type"] == "new_new"
    assert back.external_id == SKU


async def test_amazons_issues_name_the_content_fields() -> None:
    async with shop() as (emulator, account, conn, _):
        provider = AmazonMarketplace()
        draft = await bottle(conn)
        cases = {
            "title": replace(draft, title="T" * 201),
            # 200 characters, 400 bytes in UTF-8: Amazon's maxUtf8ByteLength (250) refuses it
            "keywords": replace(draft, keywords=("é" * 200,)),
            "bullets": replace(draft, bullets=tuple(f"Point {n}" for n in range(6))),
            "attributes.material": replace(
                draft, attributes={k: v for k, v in draft.attributes.items() if k != "material"}
            ),
            "attributes.condition_type": replace(
                draft, attributes={**draft.attributes, "condition_type": "broken"}
            ),
            "images": replace(draft, images=[]),
        }
        for field_name, bad in cases.items():
            result = await provider.publish_listing(conn, bad)
            assert result.outcome == PublishOutcome.REJECTED, field_name
            assert result.external_id is None
            assert any(p.field == field_name and p.severity == "error" for p in result.problems), (
                field_name,
                result.problems,
            )
        missing = await provider.publish_listing(conn, cases["attributes.material"])
        assert missing.problems[0].code == "90220"
        assert "'material' is required" in missing.problems[0].message
        assert "bytes" in next(
            p.message for p in (await provider.publish_listing(conn, cases["keywords"])).problems
        )
        assert emulator.live_listing(account, SKU) is None, "Amazon stores nothing INVALID"


async def test_the_rules_schema_checks_a_drafts_plain_attributes() -> None:
    """``CategoryRules.schema`` describes ``ListingDraft.attributes`` (what the core checks on
    save): plain values by Amazon's names, Amazon's entries and content attributes unwrapped."""
    async with shop() as (_, _, conn, _):
        got = await rules(conn)
    assert got.schema is not None
    check = AmazonValidator(got.schema)
    good = dict(draft_for(got).attributes)
    assert not list(check.iter_errors(good))
    assert not list(check.iter_errors({**good, "material": ["steel", "silicone"], "capacity": 750}))
    assert set(got.schema["required"]) == {"condition_type", "material", "color", "number_of_items"}
    assert "item_name" not in got.schema["properties"]
    bad = {
        **{k: v for k, v in good.items() if k != "color"},
        "condition_type": "broken",
        "number_of_items": 0,
    }
    errors = {(tuple(e.absolute_path)[:1], e.validator) for e in check.iter_errors(bad)}
    assert ((), "required") in errors
    assert (("condition_type",), "enum") in errors
    assert (("number_of_items",), "minimum") in errors
    assert any(e.validator == "maxUtf8ByteLength" for e in check.iter_errors({**good, "color": "€" * 50}))


async def test_amazons_own_keywords_are_enforced() -> None:
    schema = product_type_schema(PRODUCT_TYPES["WATER_BOTTLE"], US)
    validator = AmazonValidator(schema)

    def brand_errors(value: str) -> list[str]:
        attributes = {"brand": [{"value": value, "language_tag": "en_US"}]}
        return [
            str(e.validator)
            for e in validator.iter_errors(attributes)
            if list(e.absolute_path)[:1] == ["brand"]
        ]

    assert brand_errors("Kitbrand") == []
    # maxUtf8ByteLength 100 on the brand's value: 34 characters (under maxLength 50), 102 bytes
    assert brand_errors("€" * 34) == ["maxUtf8ByteLength"]
    assert brand_errors("ü" * 50) == []
    unique = AmazonValidator({"type": "array", "maxUniqueItems": 2, "selectors": ["value"]})
    assert not list(unique.iter_errors([{"value": "a"}, {"value": "a"}, {"value": "b"}]))
    assert [e.validator for e in unique.iter_errors([{"value": "a"}, {"value": "b"}, {"value": "c"}])] == [
        "maxUniqueItems"
    ]


async def test_a_preview_stores_nothing() -> None:
    async with shop() as (emulator, account, conn, base_url):
        provider = AmazonMarketplace()
        draft = await bottle(conn)
        valid = await provider.publish_listing(conn, draft, preview=True)
        invalid = await provider.publish_listing(conn, replace(draft, title="T" * 201), preview=True)
        assert await provider.read_listing(conn, SKU, None, language="en") is None
        assert emulator.live_listing(account, SKU) is None
        # an existing listing is not touched by a preview of a new title either
        await provider.publish_listing(conn, draft)
        await provider.publish_listing(conn, replace(draft, title="Previewed only"), preview=True)
        live = emulator.live_listing(account, SKU)
        raw = await call(
            base_url,
            conn,
            "PUT",
            f"/listings/2021-08-01/items/{account['seller_id']}/{SKU}",
            {"productType": "WATER_BOTTLE", "attributes": {}},
            marketplaceIds=US,
            mode="VALIDATION_PREVIEW",
        )
    assert valid.outcome == PublishOutcome.VALID, valid.problems
    assert invalid.outcome == PublishOutcome.REJECTED
    assert any(p.field == "title" for p in invalid.problems)
    assert live is not None and live["title"] == draft.title
    assert raw.json()["status"] == "INVALID"
    assert {n for i in raw.json()["issues"] for n in i["attributeNames"]} >= {"item_name", "brand"}


async def test_the_emulator_refuses_what_amazon_refuses() -> None:
    async with shop() as (emulator, account, conn, base_url):
        path = f"/listings/2021-08-01/items/{account['seller_id']}/{SKU}"
        body = {"productType": "WATER_BOTTLE", "requirements": "LISTING", "attributes": {}}
        unknown_type = await call(
            base_url, conn, "PUT", path, {**body, "productType": "TOASTER"}, marketplaceIds=US
        )
        other_marketplace = await call(base_url, conn, "PUT", path, body, marketplaceIds="A1PA6795UKMFR9")
        two = await call(base_url, conn, "PUT", path, body, marketplaceIds=f"{US},A2EUQ1WTGCTBG2")
        none = await call(base_url, conn, "PUT", path, body)
        bad_mode = await call(base_url, conn, "PUT", path, body, marketplaceIds=US, mode="DRY_RUN")
        definition = await call(
            base_url, conn, "GET", "/definitions/2020-09-01/productTypes/TOASTER", marketplaceIds=US
        )
        no_sku = await call(base_url, conn, "GET", path, marketplaceIds=US)
        # a draft without an image URL is not sent: Amazon fetches images itself
        puts = emulator.requests[path]
        no_url = replace(await bottle(conn), images=[replace(sample_image(), url=None)])
        refused = await AmazonMarketplace().publish_listing(conn, no_url)
        assert emulator.requests[path] == puts
        unknown = await AmazonMarketplace().publish_listing(
            conn, replace(no_url, images=[sample_image()], category_id="TOASTER")
        )
    for response in (unknown_type, other_marketplace, two, none, bad_mode, definition):
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    assert no_sku.status_code == 404
    assert refused.outcome == PublishOutcome.REJECTED
    assert [p.field for p in refused.problems] == ["images"]
    assert unknown.outcome == PublishOutcome.REJECTED
    assert [p.field for p in unknown.problems] == ["category_id"]


async def test_publishing_again_updates_the_same_listing() -> None:
    async with shop() as (emulator, account, conn, _):
        provider = AmazonMarketplace()
        draft = await bottle(conn)
        first = await provider.publish_listing(conn, draft)
        again = await provider.publish_listing(
            conn, replace(draft, title="Renamed", quantity=3, external_id=first.external_id)
        )
        live = emulator.live_listing(account, SKU)
    assert first.external_id == again.external_id == SKU
    assert live is not None
    assert (live["title"], live["active"]) == ("Renamed", True)
    assert list(emulator.sellers[account["seller_id"]].listings) == [SKU]


async def test_deactivating_sets_quantity_zero_and_keeps_the_content() -> None:
    async with shop() as (emulator, account, conn, base_url):
        provider = AmazonMarketplace()
        await provider.publish_listing(conn, await bottle(conn))
        await provider.deactivate_listing(conn, SKU, SKU)
        await provider.deactivate_listing(conn, "NOBODY", None)
        live = emulator.live_listing(account, SKU)
        raw = await call(
            base_url,
            conn,
            "GET",
            f"/listings/2021-08-01/items/{account['seller_id']}/{SKU}",
            marketplaceIds=US,
        )
    assert live is not None
    assert live["active"] is False
    assert live["title"].startswith("Kit Trail Bottle")
    assert raw.json()["summaries"][0]["status"] == ["DISCOVERABLE"]
    assert emulator.availability(account, SKU)["quantity"] == 0


async def test_competitors_offers_leave_out_the_sellers_own() -> None:
    async with shop() as (emulator, account, conn, base_url):
        provider = AmazonMarketplace()
        await provider.publish_listing(conn, await bottle(conn))  # the seller's own offer, 19.90
        emulator.add_competitor_offer(account, SKU, seller="Rival One", price="18.50", fba=True)
        emulator.add_competitor_offer(account, SKU, seller="Rival Two", price="21.00")
        offers = await provider.fetch_competitor_offers(conn, SKU, SKU)
        raw = await call(
            base_url,
            conn,
            "GET",
            f"/products/pricing/v0/items/{asin_of(SKU)}/offers",
            MarketplaceId=US,
            ItemCondition="New",
        )
        nobody = await provider.fetch_competitor_offers(conn, "NOBODY", None)
        bad = await call(
            base_url, conn, "GET", f"/products/pricing/v0/items/{asin_of(SKU)}/offers", MarketplaceId=US
        )
    assert sorted(o.price.amount for o in offers) == [Decimal("18.50"), Decimal("21.00")]
    cheapest = min(offers, key=lambda o: o.price.amount)
    assert (cheapest.fulfilled_by_channel, cheapest.featured, cheapest.condition) == (True, True, "new")
    assert cheapest.shipping == Money(Decimal("0"), "USD")
    assert all(o.seller.startswith("A") for o in offers)
    assert [o.get("MyOffer", False) for o in raw.json()["payload"]["Offers"]].count(True) == 1
    assert nobody == []
    assert bad.status_code == 400
