"""The emulator's listing content: product type definitions, ``putListingsItem`` and a
richer ``getListingsItem``, and the Product Pricing API's ``getItemOffers``.

Served (by :class:`crossdock_amazon.emulator.AmazonEmulator`):

* ``GET /definitions/2020-09-01/productTypes`` (searchDefinitionsProductTypes) and
  ``GET /definitions/2020-09-01/productTypes/{productType}`` (getDefinitionsProductType),
  whose ``schema.link.resource`` is a loopback URL of the product type's JSON Schema
  (``GET /definitions-schemas/{productType}.json``, no token, as Amazon's pre-signed S3
  links need none), with its Base64 MD5 ``checksum``;
* ``PUT /listings/2021-08-01/items/{sellerId}/{sku}`` (putListingsItem): the attributes are
  validated against the product type's schema with ``jsonschema`` (draft 2019-09), extended
  with Amazon's ``maxUtf8ByteLength`` / ``minUtf8ByteLength`` / ``maxUniqueItems``; what fails
  is answered ``INVALID`` with issues naming ``attributeNames``, and nothing is stored.
  ``mode=VALIDATION_PREVIEW`` answers ``VALID`` / ``INVALID`` and never stores;
* ``GET`` of the same path with ``includedData`` (summaries, attributes, issues, offers,
  fulfillmentAvailability; default summaries);
* ``GET /products/pricing/v0/items/{Asin}/offers`` (getItemOffers): the seller's own offer
  (``MyOffer``) and the competitors' a test adds.

Refused as Amazon refuses: an unknown product type (400), ``marketplaceIds`` missing, more
than one or not the seller's (400), a ``requirements`` or ``mode`` Amazon does not have (400).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jsonschema import Draft201909Validator, ValidationError, validators  # type: ignore[import-untyped,unused-ignore]

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_amazon.emulator import AmazonEmulator, Seller

__all__ = ["PRODUCT_TYPES", "USAGE_PLANS", "AmazonValidator", "ListingsDesk", "product_type_schema"]

#: searchDefinitionsProductTypes, getDefinitionsProductType, putListingsItem,
#: getListingsItem (5/s); getItemOffers (1/s) (the models' usage plans)
USAGE_PLANS = {
    "searchDefinitionsProductTypes": 5.0,
    "getDefinitionsProductType": 5.0,
    "putListingsItem": 5.0,
    "getItemOffers": 1.0,
}
META_SCHEMA = "https://schemas.amazon.com/selling-partners/definitions/product-types/meta-schema/v1"
INCLUDED = ("summaries", "attributes", "issues", "offers", "fulfillmentAvailability")
REQUIREMENTS = ("LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY")
CONDITIONS = ("new_new", "new_open_box", "refurbished_refurbished", "used_like_new", "used_good")
OTHER_IMAGES = 8


# ---------------------------------------------------------------- Amazon's vocabulary


def _utf8_max(validator: Any, limit: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and len(instance.encode("utf-8")) > limit:
        yield ValidationError(f"{instance!r} is longer than {limit} bytes in UTF-8")


def _utf8_min(validator: Any, limit: Any, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and len(instance.encode("utf-8")) < limit:
        yield ValidationError(f"{instance!r} is shorter than {limit} bytes in UTF-8")


def _unique_max(validator: Any, limit: Any, instance: Any, schema: Any) -> Any:
    """``maxUniqueItems``: at most ``limit`` entries distinct by the ``selectors`` fields."""
    if not isinstance(instance, list):
        return
    selectors = list(schema.get("selectors") or [])
    keys = {
        json.dumps([e.get(s) for s in selectors] if selectors else e, sort_keys=True, default=str)
        for e in instance
        if isinstance(e, dict)
    }
    if len(keys) > limit:
        yield ValidationError(f"more than {limit} distinct values")


#: Draft 2019-09 with Amazon's validating keywords; ``editable``, ``hidden``,
#: ``enumNames`` and ``selectors`` (on its own) are informational and ignored.
AmazonValidator: Any = validators.extend(  # type: ignore[no-untyped-call]  # untyped in its stubs
    Draft201909Validator,
    {"maxUtf8ByteLength": _utf8_max, "minUtf8ByteLength": _utf8_min, "maxUniqueItems": _unique_max},
)


# ---------------------------------------------------------------- product types


def _text(
    title: str,
    *,
    max_length: int,
    items: int = 1,
    min_bytes: int | None = None,
    max_bytes: int | None = None,
    enum: tuple[str, ...] = (),
) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_length}
    if max_bytes is not None:
        value["maxUtf8ByteLength"] = max_bytes
    if min_bytes is not None:
        value["minUtf8ByteLength"] = min_bytes
    if enum:
        value["enum"] = list(enum)
    return {
        "title": title,
        "editable": True,
        "type": "array",
        "minItems": 1,
        "maxItems": items,
        "items": {
            "type": "object",
            "required": ["language_tag", "value"],
            "additionalProperties": False,
            "properties": {
                "value": value,
                "language_tag": {"$ref": "#/$defs/language_tag"},
                "marketplace_id": {"$ref": "#/$defs/marketplace_id"},
            },
        },
    }


def _plain(title: str, value: dict[str, Any]) -> dict[str, Any]:
    """An attribute without a language (numbers, booleans, enumerated codes)."""
    return {
        "title": title,
        "editable": True,
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {"value": value, "marketplace_id": {"$ref": "#/$defs/marketplace_id"}},
        },
    }


def _image(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["media_location"],
            "additionalProperties": False,
            "properties": {
                "media_location": {
                    "type": "string",
                    "format": "uri",
                    "pattern": "^https://",
                    "maxLength": 2000,
                },
                "marketplace_id": {"$ref": "#/$defs/marketplace_id"},
            },
        },
    }


def _common() -> dict[str, Any]:
    """What every product type has: content, condition, images, offer, availability."""
    props: dict[str, Any] = {
        "item_name": _text("Item Name", max_length=200),
        "brand": _text("Brand Name", max_length=50, min_bytes=1, max_bytes=100),
        "bullet_point": _text("Bullet Point", max_length=500, items=5),
        "product_description": _text("Product Description", max_length=2000),
        # Amazon counts search terms in bytes (250 in the US)
        "generic_keyword": _text("Generic Keyword", max_length=500, max_bytes=250),
        "condition_type": _plain("Item Condition", {"type": "string", "enum": list(CONDITIONS)}),
        "main_product_image_locator": _image("Main Image Location"),
        **{f"other_product_image_locator_{n}": _image(f"Other Image Location {n}") for n in range(1, 9)},
        "purchasable_offer": {
            "title": "Purchasable Offer",
            "type": "array",
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["currency", "our_price"],
                "properties": {
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "marketplace_id": {"$ref": "#/$defs/marketplace_id"},
                    "our_price": {
                        "type": "array",
                        "maxItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["schedule"],
                            "properties": {
                                "schedule": {
                                    "type": "array",
                                    "maxItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["value_with_tax"],
                                        "properties": {"value_with_tax": {"type": "number", "minimum": 0.01}},
                                    },
                                }
                            },
                        },
                    },
                },
            },
        },
        "fulfillment_availability": {
            "title": "Fulfillment Availability",
            "type": "array",
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["fulfillment_channel_code"],
                "properties": {
                    "fulfillment_channel_code": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 0},
                    "lead_time_to_ship_max_days": {"type": "integer", "minimum": 0},
                },
            },
        },
    }
    return props


@dataclass(frozen=True)
class ProductType:
    name: str
    display_name: str
    #: attribute -> its schema, besides the common ones
    own: Mapping[str, Any]
    required: tuple[str, ...]


PRODUCT_TYPES: dict[str, ProductType] = {
    t.name: t
    for t in (
        ProductType(
            "WATER_BOTTLE",
            "Water Bottle",
            {
                "material": _text("Material", max_length=100, items=3),
                "color": _text("Colour", max_length=60, max_bytes=120),
                "capacity": _plain("Capacity (millilitres)", {"type": "number", "minimum": 0}),
                "number_of_items": _plain("Number of Items", {"type": "integer", "minimum": 1}),
                "is_dishwasher_safe": _plain("Is Dishwasher Safe", {"type": "boolean"}),
            },
            (
                "item_name",
                "brand",
                "condition_type",
                "material",
                "color",
                "number_of_items",
                "bullet_point",
                "product_description",
                "main_product_image_locator",
            ),
        ),
        ProductType(
            "LUGGAGE",
            "Luggage",
            {
                "material": _text("Outer Material", max_length=100, items=3),
                "color": _text("Colour", max_length=60, max_bytes=120),
                "size": _text("Size", max_length=50),
                "number_of_wheels": _plain(
                    "Number of Wheels", {"type": "integer", "minimum": 0, "maximum": 8}
                ),
                "shell_type": _plain("Shell Type", {"type": "string", "enum": ["hard", "soft"]}),
            },
            (
                "item_name",
                "brand",
                "condition_type",
                "material",
                "color",
                "size",
                "shell_type",
                "main_product_image_locator",
            ),
        ),
        ProductType(
            "BACKPACK",
            "Backpack",
            {
                "material": _text("Material", max_length=100, items=3),
                "color": _text("Colour", max_length=60, max_bytes=120),
                "volume_capacity_name": _text("Volume", max_length=30),
            },
            ("item_name", "brand", "condition_type", "color", "main_product_image_locator"),
        ),
    )
}


def product_type_schema(product_type: ProductType, marketplace_id: str) -> dict[str, Any]:
    """The JSON Schema of a product type for one marketplace (``requirements=LISTING``)."""
    return {
        "$schema": META_SCHEMA,
        "$id": f"https://schemas.amazon.com/selling-partners/definitions/product-types/schema/v1/{product_type.name}",
        "title": f"Amazon Product Type Schema for {product_type.name}",
        "type": "object",
        "required": list(product_type.required),
        "properties": {**_common(), **product_type.own},
        "$defs": {
            "marketplace_id": {"type": "string", "enum": [marketplace_id]},
            "language_tag": {"type": "string", "pattern": "^[a-z]{2}_[A-Z]{2}$"},
        },
    }


def _schema_bytes(product_type: ProductType, marketplace_id: str) -> bytes:
    return json.dumps(product_type_schema(product_type, marketplace_id), sort_keys=True).encode()


#: content attributes that are not kept as listing attributes in the store
OFFER_ATTRIBUTES = ("purchasable_offer", "fulfillment_availability")


def _issue(code: str, message: str, names: list[str], category: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "attributeNames": names,
        "categories": [category],
    }


def issues_for(schema: Mapping[str, Any], attributes: Any, marketplace_id: str) -> list[dict[str, Any]]:
    """What Amazon says is wrong with ``attributes`` (empty: valid)."""
    if not isinstance(attributes, dict):
        return [_issue("4000001", "attributes must be an object", [], "INVALID_ATTRIBUTE")]
    issues = []
    for error in sorted(AmazonValidator(schema).iter_errors(attributes), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "required" and not path:
            for missing in [r for r in error.validator_value if r not in attributes]:
                category = "MISSING_IMAGE" if "image" in missing else "MISSING_ATTRIBUTE"
                issues.append(
                    _issue("90220", f"'{missing}' is required but not supplied.", [missing], category)
                )
            continue
        name = str(path[0]) if path else ""
        category = "INVALID_IMAGE" if "image" in name else "INVALID_ATTRIBUTE"
        if name == "purchasable_offer":
            category = "INVALID_PRICE"
        issues.append(
            _issue(
                "90000900",
                f"The value of '{name}' is invalid: {error.message}",
                [name] if name else [],
                category,
            )
        )
    for name, entries in attributes.items():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("marketplace_id") not in (None, marketplace_id):
                issues.append(
                    _issue("90000900", f"'{name}' names another marketplace", [name], "INVALID_ATTRIBUTE")
                )
    return issues


def _plain_value(entries: Any) -> Any:
    if not isinstance(entries, list):
        return entries
    values = []
    for entry in entries:
        if isinstance(entry, dict):
            rest = {k: v for k, v in entry.items() if k not in ("marketplace_id", "language_tag")}
            values.append(rest.get("value") if set(rest) == {"value"} else rest)
    return values[0] if len(values) == 1 else values


@dataclass
class Offer:
    seller_id: str
    price: str
    shipping: str = "0.00"
    fba: bool = False


@dataclass
class ListingsDesk:
    """Product types, submitted listings (kept in the seller's ``listings``) and offers."""

    emulator: AmazonEmulator
    clock: Callable[[], float]
    #: (marketplace, ASIN) -> other sellers' offers
    offers: dict[tuple[str, str], list[Offer]] = field(default_factory=dict)

    # ------------------------------------------------------------ helpers

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _marketplace(
        self, request: Request, seller: Seller | None, key: str = "marketplaceIds"
    ) -> str | Reply:
        raw = request.query.get(key, "")
        asked = [m for m in raw.split(",") if m]
        if not asked:
            return self.emulator.error(400, "BAD_REQUEST", f"{key} is required")
        if len(asked) > 1:
            return self.emulator.error(400, "BAD_REQUEST", f"{key} takes one marketplace at this time")
        if asked[0] not in self.emulator.marketplaces() or (
            seller is not None and asked[0] not in seller.marketplaces
        ):
            return self.emulator.error(400, "BAD_REQUEST", f"Invalid {key}: {asked[0]}")
        return asked[0]

    # ------------------------------------------------------------ definitions

    async def search_types(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        marketplace = self._marketplace(request, seller)
        if isinstance(marketplace, Reply):
            return marketplace
        words = [w.strip().upper() for w in request.query.get("keywords", "").split(",") if w.strip()]
        types = [
            {"name": t.name, "displayName": t.display_name, "marketplaceIds": [marketplace]}
            for t in PRODUCT_TYPES.values()
            if not words or any(w in t.name for w in words)
        ]
        return Reply(200, {"productTypes": types, "productTypeVersion": "U1"})

    async def get_type(self, request: Request) -> Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        marketplace = self._marketplace(request, seller)
        if isinstance(marketplace, Reply):
            return marketplace
        product_type = PRODUCT_TYPES.get(request.args[0])
        if product_type is None:
            return self.emulator.error(400, "BAD_REQUEST", f"Invalid productType: {request.args[0]}")
        requirements = request.query.get("requirements", "LISTING")
        if requirements not in REQUIREMENTS:
            return self.emulator.error(400, "BAD_REQUEST", f"Invalid requirements: {requirements}")
        body = _schema_bytes(product_type, marketplace)
        base = self.emulator.own_address or f"http://{request.headers.get('host', '127.0.0.1')}"
        document = f"{base}/definitions-schemas/{product_type.name}.json?marketplace={marketplace}"
        locale = request.query.get("locale", "DEFAULT")
        return Reply(
            200,
            {
                "metaSchema": {
                    "link": {"resource": f"{base}/definitions-schemas/meta-schema-v1.json", "verb": "GET"},
                    "checksum": "",
                },
                "schema": {
                    "link": {
                        "resource": document,
                        "verb": "GET",
                    },
                    "checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
                },
                "requirements": requirements,
                "requirementsEnforced": request.query.get("requirementsEnforced", "ENFORCED"),
                "propertyGroups": {
                    "offer": {"title": "Offer", "propertyNames": ["condition_type", "purchasable_offer"]},
                    "product_identity": {
                        "title": "Product Identity",
                        "propertyNames": ["item_name", "brand"],
                    },
                },
                "locale": "en_US" if locale == "DEFAULT" else locale,
                "marketplaceIds": [marketplace],
                "productType": product_type.name,
                "productTypeVersion": {"version": "U1", "latest": True, "releaseCandidate": False},
            },
        )

    async def schema_document(self, request: Request) -> Reply:
        """The pre-signed link's document (no SP-API token, as on S3)."""
        name = request.args[0]
        product_type = PRODUCT_TYPES.get(name)
        marketplace = request.query.get("marketplace", "")
        if product_type is None or marketplace not in self.emulator.marketplaces():
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", {"content-type": "application/xml"})
        return Reply(200, _schema_bytes(product_type, marketplace))

    # ------------------------------------------------------------ listings

    def _own(self, request: Request) -> tuple[Seller, str] | Reply:
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        if request.args[0] != seller.seller_id:
            return self.emulator.denied("")
        marketplace = self._marketplace(request, seller)
        if isinstance(marketplace, Reply):
            return marketplace
        return seller, marketplace

    async def put_listing(self, request: Request) -> Reply:
        """putListingsItem: the whole listing, validated against its product type."""
        own = self._own(request)
        if isinstance(own, Reply):
            return own
        seller, marketplace = own
        sku = request.args[1]
        mode = request.query.get("mode")
        if mode not in (None, "VALIDATION_PREVIEW"):
            return self.emulator.error(400, "BAD_REQUEST", f"Invalid mode: {mode}")
        body = request.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("productType"), str)
            or "attributes" not in body
        ):
            return self.emulator.error(400, "BAD_REQUEST", "productType and attributes are required")
        product_type = PRODUCT_TYPES.get(body["productType"])
        if product_type is None:
            return self.emulator.error(400, "BAD_REQUEST", f"Invalid productType: {body['productType']}")
        if body.get("requirements", "LISTING") not in REQUIREMENTS:
            return self.emulator.error(
                400, "BAD_REQUEST", f"Invalid requirements: {body.get('requirements')}"
            )
        attributes = body["attributes"]
        issues = issues_for(product_type_schema(product_type, marketplace), attributes, marketplace)
        answer: dict[str, Any] = {"sku": sku, "submissionId": secrets.token_hex(16), "issues": issues}
        if mode == "VALIDATION_PREVIEW":
            answer["status"] = "INVALID" if issues else "VALID"
            return Reply(200, answer)
        if issues:
            answer["status"] = "INVALID"
            return Reply(200, answer)
        self._store(seller, marketplace, sku, product_type.name, attributes)
        answer["status"] = "ACCEPTED"
        return Reply(200, answer)

    def _store(
        self, seller: Seller, marketplace: str, sku: str, product_type: str, attributes: dict[str, Any]
    ) -> None:
        from crossdock_amazon.emulator import asin_of

        known = seller.listings.get(sku) or {}
        availability = (attributes.get("fulfillment_availability") or [None])[0]
        offer = (attributes.get("purchasable_offer") or [None])[0]
        record: dict[str, Any] = {
            "availability": dict(availability)
            if isinstance(availability, dict)
            else {"fulfillment_channel_code": "DEFAULT", "quantity": 0},
            "productType": product_type,
            "attributes": {k: v for k, v in attributes.items() if k not in OFFER_ATTRIBUTES},
            "asin": known.get("asin") or asin_of(sku),
            "created": known.get("created") or self._now(),
            "updated": self._now(),
            "marketplace": marketplace,
        }
        if isinstance(offer, dict):
            record["price"] = str(offer["our_price"][0]["schedule"][0]["value_with_tax"])
            record["currency"] = offer.get("currency")
        seller.listings[sku] = record

    async def get_listing(self, request: Request) -> Reply:
        """getListingsItem with the datasets ``includedData`` names (default summaries)."""
        own = self._own(request)
        if isinstance(own, Reply):
            return own
        seller, marketplace = own
        sku = request.args[1]
        listing = seller.listings.get(sku)
        if listing is None:
            return self.emulator.error(
                404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {marketplace}"
            )
        included = [d for d in request.query.get("includedData", "summaries").split(",") if d]
        unknown = [d for d in included if d not in INCLUDED]
        if unknown:
            return self.emulator.error(400, "BAD_REQUEST", f"Invalid includedData: {','.join(unknown)}")
        return Reply(200, self.item(sku, listing, marketplace, set(included)))

    def item(
        self, sku: str, listing: Mapping[str, Any], marketplace: str, included: set[str]
    ) -> dict[str, Any]:
        from crossdock_amazon.emulator import asin_of

        attributes = dict(listing.get("attributes") or {})
        availability = dict(listing.get("availability") or {})
        attributes["fulfillment_availability"] = [availability]
        if listing.get("price") is not None:
            attributes["purchasable_offer"] = [
                {
                    "marketplace_id": marketplace,
                    "currency": listing.get("currency") or self.emulator.marketplace_currency(marketplace),
                    "our_price": [{"schedule": [{"value_with_tax": float(listing["price"])}]}],
                }
            ]
        buyable = int(availability.get("quantity") or 0) > 0
        out: dict[str, Any] = {"sku": sku}
        if "summaries" in included:
            summary: dict[str, Any] = {
                "marketplaceId": marketplace,
                "asin": listing.get("asin") or asin_of(sku),
                "productType": listing.get("productType") or "PRODUCT",
                "conditionType": _plain_value(attributes.get("condition_type")) or "new_new",
                "status": ["BUYABLE", "DISCOVERABLE"] if buyable else ["DISCOVERABLE"],
                "itemName": _plain_value(attributes.get("item_name")) or f"Product {sku}",
                "createdDate": listing.get("created") or self._now(),
                "lastUpdatedDate": listing.get("updated") or self._now(),
            }
            main = _plain_value(attributes.get("main_product_image_locator"))
            if isinstance(main, dict) and main.get("media_location"):
                summary["mainImage"] = {"link": main["media_location"], "height": 1000, "width": 1000}
            out["summaries"] = [summary]
        if "attributes" in included:
            out["attributes"] = attributes
        if "issues" in included:
            out["issues"] = []
        if "fulfillmentAvailability" in included:
            out["fulfillmentAvailability"] = [
                {
                    "fulfillmentChannelCode": availability.get("fulfillment_channel_code", "DEFAULT"),
                    "quantity": int(availability.get("quantity") or 0),
                }
            ]
        if "offers" in included and listing.get("price") is not None:
            out["offers"] = [
                {
                    "marketplaceId": marketplace,
                    "offerType": "B2C",
                    "price": {
                        "currencyCode": attributes["purchasable_offer"][0]["currency"],
                        "amount": f"{float(listing['price']):.2f}",
                    },
                }
            ]
        return out

    # ------------------------------------------------------------ pricing

    async def item_offers(self, request: Request) -> Reply:
        """getItemOffers: up to 20 offers for the ASIN in the marketplace, New only here."""
        seller = self.emulator.seller_of(request)
        if isinstance(seller, Reply):
            return seller
        marketplace = self._marketplace(request, None, "MarketplaceId")
        if isinstance(marketplace, Reply):
            return Reply(400, {"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]})
        condition = request.query.get("ItemCondition")
        if condition not in ("New", "Used", "Collectible", "Refurbished", "Club"):
            return Reply(400, {"errors": [{"code": "InvalidInput", "message": "Invalid ItemCondition"}]})
        asin = request.args[0]
        currency = self.emulator.marketplace_currency(marketplace)
        offers: list[dict[str, Any]] = []
        if condition == "New":
            for owner in self.emulator.sellers.values():
                if owner.marketplace_id != marketplace:
                    continue  # an offer is on one marketplace
                for sku, listing in owner.listings.items():
                    if (listing.get("asin") or _asin(sku)) == asin and listing.get("price") is not None:
                        offers.append(
                            self._offer(
                                owner.seller_id,
                                str(listing["price"]),
                                "0.00",
                                False,
                                currency,
                                mine=owner.seller_id == seller.seller_id,
                            )
                        )
            for other in self.offers.get((marketplace, asin), []):
                offers.append(
                    self._offer(other.seller_id, other.price, other.shipping, other.fba, currency, mine=False)
                )
        offers.sort(key=lambda o: o["ListingPrice"]["Amount"] + o["Shipping"]["Amount"])
        if offers:
            offers[0]["IsBuyBoxWinner"] = True
        return Reply(
            200,
            {
                "payload": {
                    "ASIN": asin,
                    "status": "Success",
                    "ItemCondition": condition,
                    "MarketplaceID": marketplace,
                    "Identifier": {"MarketplaceId": marketplace, "ItemCondition": condition, "ASIN": asin},
                    "Summary": {"TotalOfferCount": len(offers)},
                    "Offers": offers[:20],
                }
            },
        )

    @staticmethod
    def _offer(
        seller_id: str, price: str, shipping: str, fba: bool, currency: str, *, mine: bool
    ) -> dict[str, Any]:
        offer: dict[str, Any] = {
            "SellerId": seller_id,
            "SubCondition": "new",
            "ListingPrice": {"CurrencyCode": currency, "Amount": float(price)},
            "Shipping": {"CurrencyCode": currency, "Amount": float(shipping)},
            "ShippingTime": {"maximumHours": 48, "minimumHours": 24, "availabilityType": "NOW"},
            "IsFulfilledByAmazon": fba,
            "IsBuyBoxWinner": False,
            "IsFeaturedMerchant": True,
        }
        if mine:
            offer["MyOffer"] = True
        return offer

    # ------------------------------------------------------------ the suite's hooks

    def live_listing(self, seller: Seller, sku: str) -> dict[str, Any] | None:
        listing = seller.listings.get(sku)
        if listing is None:
            return None
        attributes = dict(listing.get("attributes") or {})
        images = sum(
            1
            for name in ["main_product_image_locator"]
            + [f"other_product_image_locator_{n}" for n in range(1, 9)]
            if attributes.get(name)
        )
        return {
            "title": _plain_value(attributes.get("item_name")),
            "category_id": listing.get("productType"),
            "attributes": {k: _plain_value(v) for k, v in attributes.items()},
            "images": images,
            "active": int((listing.get("availability") or {}).get("quantity") or 0) > 0,
            "price": listing.get("price"),
        }

    def add_competitor_offer(
        self, seller: Seller, sku: str, *, name: str, price: str, fba: bool = False, shipping: str = "0.00"
    ) -> None:
        listing = seller.listings.get(sku) or {}
        asin = listing.get("asin") or _asin(sku)
        rival = f"A{hashlib.sha256(name.encode()).hexdigest()[:12].upper()}"
        self.offers.setdefault((seller.marketplace_id, asin), []).append(Offer(rival, price, shipping, fba))


def _asin(sku: str) -> str:
    from crossdock_amazon.emulator import asin_of

    return asin_of(sku)
