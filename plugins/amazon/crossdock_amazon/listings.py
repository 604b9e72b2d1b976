"""Listing content on Amazon: product types, their rules, publishing, reading back, taking
off sale, and other sellers' offers.

* Categories are Amazon **product types** (Product Type Definitions API v2020-09-01,
  ``searchDefinitionsProductTypes``): a flat list, every one a leaf, ``id`` the product
  type's name (``LUGGAGE``), ``name`` its ``displayName`` where Amazon gives one.
* Rules come from ``getDefinitionsProductType`` (``requirements=LISTING``): its
  ``schema.link.resource`` is a URL (pre-signed S3 on Amazon, no SP-API token) of the
  product type's JSON Schema (draft 2019-09 with Amazon's own vocabulary:
  ``maxUtf8ByteLength``, ``minUtf8ByteLength``, ``maxUniqueItems``, ``selectors``,
  ``editable``, ``enumNames``), fetched through the connection's guarded pool and checked
  against ``schema.checksum`` (Base64 MD5). The schema is kept per checksum.
  ``CategoryRules.schema`` is its view over ``ListingDraft.attributes`` (plain values, the
  content attributes left out: :func:`plain_schema`), which the core checks drafts with;
  Amazon's schema itself is under ``x-amazon-schema`` in it.
* Publishing is ``putListingsItem`` (Listings Items API v2021-08-01): a full replace of
  the SKU's listing, so publishing again updates the same listing. ``mode=VALIDATION_PREVIEW``
  validates without storing (``VALID`` or ``INVALID``). ``external_id`` is the **SKU**: the
  Listings Items API addresses a listing by seller and SKU, and the ASIN is Amazon's
  catalogue id of the product (shared with other sellers, assigned after processing).
* Reading back is ``getListingsItem`` with ``summaries,attributes,issues``; a 404 is
  ``None``.
* Deactivating sets ``fulfillment_availability`` quantity 0 with ``patchListingsItem``
  (``merge``): the listing and its content stay on Amazon, unbuyable, and a later publish
  or stock push puts it back on sale. ``deleteListingsItem`` would drop the content too.
* Competitors' offers are the Product Pricing API v0 ``getItemOffers`` for the listing's
  ASIN (from ``getListingsItem`` summaries), condition New, the seller's own offer
  (``MyOffer``) left out.

Attribute values go on the wire in Amazon's shape, a list of entries
``[{"value": ..., "language_tag": "en_US", "marketplace_id": "ATVPDKIKX0DER"}]``;
``language_tag`` only where the product type's schema has it for the attribute (text
attributes), ``marketplace_id`` where it has that. A draft attribute given as a list becomes
one entry per element; one given as a mapping (``{"value": 750, "unit": "milliliters"}``)
is the entry itself. Reading back turns entries into plain values the same way (one entry:
its value; several: the list; an entry with more than a value: the mapping).

The content fields of a draft map to Amazon's own attributes: ``title`` -> ``item_name``,
``bullets`` -> ``bullet_point``, ``description`` -> ``product_description``, ``keywords`` ->
``generic_keyword`` (one value, space separated), ``brand`` -> ``brand``, images ->
``main_product_image_locator`` and ``other_product_image_locator_1`` .. ``_8``
(``media_location`` = the image's URL: Amazon fetches images itself, so an image without a
URL is refused before anything is sent), ``price`` -> ``purchasable_offer`` (``our_price``
schedule ``value_with_tax``), ``quantity`` -> ``fulfillment_availability`` (``DEFAULT``).
These are left out of ``CategoryRules.attributes``; problems Amazon reports on them name the
content field (``title``, ``bullets``, ``images``, ...), the others ``attributes.<name>``.

Sources: selling-partner-api-models ``listingsItems_2021-08-01.json``,
``definitionsProductTypes_2020-09-01.json``, ``productPricingV0.json``; SP-API docs
"Listings Items API use case guide", "Product Type Definitions API use case guide",
"Amazon Product Type Definitions Meta-Schema (v1)" (README.md lists them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from crossdock import ChannelConnection, ChannelError, Money
from crossdock.providers import (
    AttributeRule,
    AttributeType,
    CategoryRules,
    ChannelCategory,
    CompetitorOffer,
    ListingDraft,
    ListingImage,
    ListingProblem,
    PublishOutcome,
    PublishResult,
    RateLimit,
)
from crossdock_amazon.client import SpApiClient

__all__ = [
    "CONTENT_ATTRIBUTES",
    "LISTINGS_RATE_LIMITS",
    "AmazonListings",
    "from_entries",
    "plain_schema",
    "problem_of",
    "to_entries",
]

#: Usage plans (requests per second, burst) of the operations used here, from the models'
#: operation descriptions.
LISTINGS_RATE_LIMITS: Mapping[str, RateLimit] = {
    "searchDefinitionsProductTypes": RateLimit(rate=5, burst=10),  # definitionsProductTypes_2020-09-01
    "getDefinitionsProductType": RateLimit(rate=5, burst=10),
    "putListingsItem": RateLimit(rate=5, burst=10),  # listingsItems_2021-08-01
    "getListingsItem": RateLimit(rate=5, burst=10),
    "getItemOffers": RateLimit(rate=1, burst=1),  # productPricingV0.json
}

DEFINITIONS = "/definitions/2020-09-01/productTypes"
LISTINGS = "/listings/2021-08-01/items"
#: Amazon's attributes that carry a draft's own content fields -> the field they carry
CONTENT_ATTRIBUTES: Mapping[str, str] = {
    "item_name": "title",
    "bullet_point": "bullets",
    "product_description": "description",
    "generic_keyword": "keywords",
    "brand": "brand",
    "main_product_image_locator": "images",
    "purchasable_offer": "price",
    "fulfillment_availability": "quantity",
    **{f"other_product_image_locator_{n}": "images" for n in range(1, 9)},
}
OTHER_IMAGES = 8
#: Issue categories that name a content field when an issue names no attribute
CATEGORY_FIELDS = {
    "INVALID_IMAGE": "images",
    "MISSING_IMAGE": "images",
    "INVALID_PRICE": "price",
    "MISSING_PRICE": "price",
}
#: Amazon's product image guidance (Seller Central "Product image requirements"): 1,000
#: pixels on the longest side for zoom, JPEG/TIFF/PNG/GIF, the main image on pure white.
IMAGE_MIN_PX = 1000
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "GIF"})
IMAGE_MAX_BYTES = 10 * 1024 * 1024
#: 400/404 codes of a refused product type (the models' sandbox: ``BAD_REQUEST``)
REFUSALS = frozenset({"BAD_REQUEST", "InvalidInput", "NotFound", "NOT_FOUND", "400", "404"})
#: schemas kept in this process, by checksum
SCHEMAS_KEPT = 64
SEVERITIES = {"ERROR": "error", "WARNING": "warning", "INFO": "warning"}


def _language_tag(language: str, country: str) -> str:
    """``en`` on a US site -> ``en_US``; a full tag (``fr_CA``, ``fr-CA``) is kept."""
    text = language.replace("-", "_")
    return text if "_" in text else f"{text.lower()}_{country.upper()}"


def _item_properties(schema: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """The properties an entry of attribute ``name`` may hold (None: the schema does not say)."""
    if not schema:
        return None
    prop = (schema.get("properties") or {}).get(name)
    if not isinstance(prop, Mapping):
        return None
    items = prop.get("items")
    if not isinstance(items, Mapping):
        return None
    props = items.get("properties")
    return props if isinstance(props, Mapping) else None


def to_entries(
    name: str, value: Any, *, marketplace_id: str, language_tag: str, schema: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """A draft's value of attribute ``name`` as Amazon's list of entries."""
    props = _item_properties(schema, name)
    values = list(value) if isinstance(value, list | tuple) else [value]
    entries = []
    for one in values:
        entry = dict(one) if isinstance(one, Mapping) else {"value": one}
        if props is None or "marketplace_id" in props:
            entry.setdefault("marketplace_id", marketplace_id)
        text = isinstance(entry.get("value"), str)
        if (props is None and text) or (props is not None and "language_tag" in props):
            entry.setdefault("language_tag", language_tag)
        entries.append(entry)
    return entries


def _plain(entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    rest = {k: v for k, v in entry.items() if k not in ("marketplace_id", "language_tag")}
    return rest["value"] if set(rest) == {"value"} else rest


def from_entries(entries: Any) -> Any:
    """Amazon's entries of one attribute as a plain value (see the module doc)."""
    if not isinstance(entries, list):
        return entries
    values = [_plain(e) for e in entries]
    return values[0] if len(values) == 1 else values


def _field(attribute: str) -> str:
    return CONTENT_ATTRIBUTES.get(attribute) or f"attributes.{attribute}"


def problem_of(issue: Mapping[str, Any]) -> ListingProblem:
    """One of Amazon's issues (``Issue``: code, message, severity, attributeNames,
    categories) as a listing problem naming the content field it is about."""
    names = [str(n) for n in issue.get("attributeNames") or []]
    field_name = _field(names[0]) if names else None
    if field_name is None:
        field_name = next(
            (CATEGORY_FIELDS[c] for c in issue.get("categories") or [] if c in CATEGORY_FIELDS), None
        )
    return ListingProblem(
        code=str(issue.get("code") or "ISSUE"),
        message=str(issue.get("message") or ""),
        field=field_name,
        severity=SEVERITIES.get(str(issue.get("severity") or "ERROR").upper(), "error"),
    )


def _value_schema(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
    value = (items.get("properties") or {}).get("value") if isinstance(items, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _limit(value: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        if isinstance(value.get(key), int):
            return int(value[key])
    return None


def _rule(name: str, prop: Mapping[str, Any], required: bool) -> AttributeRule:
    value = _value_schema(prop)
    enum = [str(v) for v in value.get("enum") or []]
    kind = str(value.get("type") or "string")
    if enum:
        type_ = AttributeType.ENUM
    elif kind in ("number", "integer"):
        type_ = AttributeType.NUMBER
    elif kind == "boolean":
        type_ = AttributeType.BOOLEAN
    else:
        type_ = AttributeType.TEXT
    items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
    unit_schema = (items.get("properties") or {}).get("unit") if isinstance(items, Mapping) else None
    units = list(unit_schema.get("enum") or []) if isinstance(unit_schema, Mapping) else []
    return AttributeRule(
        name=name,
        label=str(prop.get("title") or name),
        required=required,
        type=type_,
        values=enum,
        unit=str(units[0]) if len(units) == 1 else None,
        max_length=_limit(value, "maxLength", "maxUtf8ByteLength") if type_ == AttributeType.TEXT else None,
    )


#: JSON Schema dialect of the plain view (Amazon's meta-schema extends it)
DRAFT_2019_09 = "https://json-schema.org/draft/2019-09/schema"
#: where the plain view keeps Amazon's own schema (not a keyword: validators ignore it)
RAW_SCHEMA_KEY = "x-amazon-schema"
ENTRY_KEYS = ("marketplace_id", "language_tag")


def _plain_property(prop: Mapping[str, Any]) -> dict[str, Any]:
    """One attribute's schema for the value Crossdock holds (see :func:`plain_schema`)."""
    items = prop.get("items") if isinstance(prop.get("items"), Mapping) else None
    if items is None or not isinstance(items.get("properties"), Mapping):
        return dict(prop)
    entry_props: Mapping[str, Any] = items["properties"]
    value = dict(entry_props.get("value") or {})
    for key in ("title", "description"):
        if key in prop:
            value.setdefault(key, prop[key])
    one: dict[str, Any] = value
    extra = [k for k in entry_props if k not in ("value", *ENTRY_KEYS)]
    if extra or "value" not in entry_props:
        entry = {
            "type": "object",
            "properties": {k: v for k, v in entry_props.items() if k not in ENTRY_KEYS},
            "required": [r for r in items.get("required") or [] if r not in ENTRY_KEYS],
        }
        if "additionalProperties" in items:
            entry["additionalProperties"] = items["additionalProperties"]
        one = {"anyOf": [value, entry]} if "value" in entry_props else entry
    most = prop.get("maxItems")
    if isinstance(most, int) and most <= 1:
        return one
    several: dict[str, Any] = {"type": "array", "items": one, "minItems": 1}
    if isinstance(most, int):
        several["maxItems"] = most
    for key in ("maxUniqueItems", "selectors"):
        if key in prop:
            several[key] = prop[key]
    return {"anyOf": [one, several]}


def plain_schema(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Amazon's product type schema as a schema of ``ListingDraft.attributes``: the
    attributes keyed by Amazon's names, each a plain value (or a list, or an entry mapping
    such as ``{"value": 750, "unit": "milliliters"}``) instead of Amazon's list of entries;
    the content attributes (``item_name``, ``brand``, images, offer...) left out, as they come
    from the draft's own fields. Amazon's keywords (``maxUtf8ByteLength``...) stay on the
    values; Amazon's schema itself is kept under ``x-amazon-schema``."""
    props: Mapping[str, Any] = raw.get("properties") or {}
    plain = {
        name: _plain_property(prop)
        for name, prop in props.items()
        if name not in CONTENT_ATTRIBUTES and isinstance(prop, Mapping)
    }
    derived: dict[str, Any] = {
        "$schema": DRAFT_2019_09,
        "$comment": "the attributes of a Crossdock listing draft, derived from Amazon's product type schema",
        "type": "object",
        "properties": plain,
        "required": [r for r in raw.get("required") or [] if r in plain],
    }
    if isinstance(raw.get("$defs"), Mapping):
        derived["$defs"] = dict(raw["$defs"])
    derived[RAW_SCHEMA_KEY] = dict(raw)
    return derived


def rules_of(category_id: str, schema: Mapping[str, Any]) -> CategoryRules:
    """What a product type's JSON Schema asks of a listing (``schema``: its plain view)."""
    props: Mapping[str, Any] = schema.get("properties") or {}
    required = {str(r) for r in schema.get("required") or []}

    def value_of(name: str) -> Mapping[str, Any]:
        prop = props.get(name)
        return _value_schema(prop) if isinstance(prop, Mapping) else {}

    bullets = props.get("bullet_point")
    others = sum(1 for n in props if n.startswith("other_product_image_locator_"))
    return CategoryRules(
        category_id=category_id,
        attributes=[
            _rule(name, prop, name in required)
            for name, prop in props.items()
            if name not in CONTENT_ATTRIBUTES and isinstance(prop, Mapping)
        ],
        schema=plain_schema(schema),
        title_max=_limit(value_of("item_name"), "maxLength"),
        bullets_max=_limit(bullets, "maxItems") if isinstance(bullets, Mapping) else None,
        bullet_max_length=_limit(value_of("bullet_point"), "maxLength"),
        description_max=_limit(value_of("product_description"), "maxLength"),
        keywords_max_length=_limit(value_of("generic_keyword"), "maxUtf8ByteLength", "maxLength"),
        images_min=1
        if "main_product_image_locator" in required or "main_product_image_locator" in props
        else 0,
        images_max=1 + others if "main_product_image_locator" in props else None,
        image_min_px=IMAGE_MIN_PX,
        image_max_bytes=IMAGE_MAX_BYTES,
        image_formats=IMAGE_FORMATS,
        white_main_image=True,
        requires_brand="brand" in required,
    )


class AmazonListings:
    """The listing operations of one provider instance (it keeps fetched schemas)."""

    def __init__(self) -> None:
        #: checksum -> the product type's JSON Schema
        self._schemas: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # ------------------------------------------------------------ product types

    async def categories(self, api: SpApiClient, marketplace_id: str) -> list[ChannelCategory]:
        answer = await api.call(
            "GET",
            DEFINITIONS,
            params={"marketplaceIds": marketplace_id},
            operation="searchDefinitionsProductTypes",
        )
        seen: dict[str, ChannelCategory] = {}
        for entry in answer.get("productTypes") or []:
            name = str(entry.get("name") or "")
            if name and name not in seen:
                label = str(entry.get("displayName") or name.replace("_", " ").title())
                seen[name] = ChannelCategory(id=name, name=label)
        return list(seen.values())

    async def schema(
        self,
        conn: ChannelConnection,
        api: SpApiClient,
        http: httpx.AsyncClient,
        marketplace_id: str,
        product_type: str,
        locale: str,
    ) -> dict[str, Any]:
        """The product type's JSON Schema (``ChannelError`` ``REFUSED`` for a product type
        Amazon does not have in this marketplace)."""
        try:
            definition = await api.call(
                "GET",
                f"{DEFINITIONS}/{product_type}",
                params={
                    "marketplaceIds": marketplace_id,
                    "requirements": "LISTING",
                    "locale": locale,
                    # seller-specific values (the seller's brands) where Amazon has them
                    **({"sellerId": str(seller)} if (seller := conn.credentials.get("seller_id")) else {}),
                },
                operation="getDefinitionsProductType",
            )
        except ChannelError as exc:
            if exc.retryable or exc.code not in REFUSALS:
                raise
            raise ChannelError(
                f"amazon has no product type {product_type!r} here: {exc.message}", code="REFUSED"
            ) from exc
        link = (definition.get("schema") or {}).get("link") or {}
        checksum = str((definition.get("schema") or {}).get("checksum") or "")
        if checksum and checksum in self._schemas:
            self._schemas.move_to_end(checksum)
            return self._schemas[checksum]
        resource = str(link.get("resource") or "")
        if not resource:
            raise ChannelError(f"amazon product type {product_type} names no schema", code="MALFORMED")
        try:
            response = await http.get(resource)
        except httpx.TimeoutException as exc:
            raise ChannelError("amazon schema download timed out", code="TIMEOUT", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"amazon schema download: {exc}", code="NETWORK", retryable=True) from exc
        if response.status_code != 200:
            raise ChannelError(
                f"amazon schema download answered {response.status_code}",
                code=str(response.status_code),
                retryable=response.status_code >= 500 or response.status_code == 403,  # an expired link
            )
        body = response.content
        if checksum and base64.b64encode(hashlib.md5(body).digest()).decode() != checksum:
            raise ChannelError("amazon schema does not match its checksum", code="MALFORMED", retryable=True)
        try:
            schema = json.loads(body)
        except ValueError:
            raise ChannelError("amazon schema is not JSON", code="MALFORMED", retryable=True) from None
        if not isinstance(schema, dict):
            raise ChannelError("amazon schema is not a JSON object", code="MALFORMED", retryable=True)
        if checksum:
            self._schemas[checksum] = schema
            while len(self._schemas) > SCHEMAS_KEPT:
                self._schemas.popitem(last=False)
        return schema

    # ------------------------------------------------------------ publishing

    def body(
        self, draft: ListingDraft, schema: Mapping[str, Any], marketplace_id: str, language_tag: str
    ) -> dict[str, Any]:
        """The ``putListingsItem`` body for a draft (its images checked by the caller)."""

        def entries(name: str, value: Any) -> list[dict[str, Any]]:
            return to_entries(
                name, value, marketplace_id=marketplace_id, language_tag=language_tag, schema=schema
            )

        attributes: dict[str, Any] = {"item_name": entries("item_name", draft.title)}
        if draft.bullets:
            attributes["bullet_point"] = entries("bullet_point", list(draft.bullets))
        if draft.description:
            attributes["product_description"] = entries("product_description", draft.description)
        if draft.keywords:
            attributes["generic_keyword"] = entries("generic_keyword", " ".join(draft.keywords))
        if draft.brand:
            attributes["brand"] = entries("brand", draft.brand)
        images = list(draft.images)
        if images:
            attributes["main_product_image_locator"] = [
                {"media_location": images[0].url, "marketplace_id": marketplace_id}
            ]
            for n, image in enumerate(images[1:], 1):
                attributes[f"other_product_image_locator_{n}"] = [
                    {"media_location": image.url, "marketplace_id": marketplace_id}
                ]
        if draft.price is not None:
            attributes["purchasable_offer"] = [
                {
                    "marketplace_id": marketplace_id,
                    "currency": draft.price.currency,
                    "our_price": [{"schedule": [{"value_with_tax": float(draft.price.rounded().amount)}]}],
                }
            ]
        if draft.quantity is not None:
            attributes["fulfillment_availability"] = [
                {"fulfillment_channel_code": "DEFAULT", "quantity": max(0, int(draft.quantity))}
            ]
        for name, value in draft.attributes.items():
            if name in CONTENT_ATTRIBUTES or value is None:
                continue
            attributes[name] = entries(name, value)
        return {"productType": draft.category_id, "requirements": "LISTING", "attributes": attributes}

    @staticmethod
    def refused_before_sending(draft: ListingDraft) -> list[ListingProblem]:
        """What Amazon could not take at all: no product type, images it cannot fetch."""
        problems = []
        if not draft.category_id:
            problems.append(
                ListingProblem(
                    "PRODUCT_TYPE_MISSING", "an Amazon listing needs a product type", "category_id"
                )
            )
        if any(not image.url for image in draft.images):
            problems.append(
                ListingProblem(
                    "IMAGE_URL_MISSING",
                    "Amazon fetches images itself: every image needs a public URL (media_location)",
                    "images",
                )
            )
        if len(draft.images) > 1 + OTHER_IMAGES:
            problems.append(
                ListingProblem(
                    "TOO_MANY_IMAGES",
                    f"Amazon takes a main image and {OTHER_IMAGES} others, not {len(draft.images)}",
                    "images",
                )
            )
        return problems

    @staticmethod
    def result(sku: str, answer: Mapping[str, Any], preview: bool) -> PublishResult:
        status = str(answer.get("status") or "")
        problems = [problem_of(i) for i in answer.get("issues") or [] if isinstance(i, Mapping)]
        if status == "VALID":
            return PublishResult(PublishOutcome.VALID, sku if not preview else None, problems)
        if status == "ACCEPTED" and not preview:
            return PublishResult(PublishOutcome.ACCEPTED, sku, problems)
        if not problems:
            problems = [ListingProblem(status or "INVALID", f"amazon answered status {status or 'none'}")]
        return PublishResult(PublishOutcome.REJECTED, None, problems)

    # ------------------------------------------------------------ reading back

    @staticmethod
    async def item(
        api: SpApiClient, seller_id: str, sku: str, marketplace_id: str, included: str
    ) -> dict[str, Any] | None:
        """getListingsItem, or None for a SKU the seller has no listing for (404)."""
        try:
            answer = await api.call(
                "GET",
                f"{LISTINGS}/{seller_id}/{sku}",
                params={"marketplaceIds": marketplace_id, "includedData": included},
                operation="getListingsItem",
            )
        except ChannelError as exc:
            if not exc.retryable and exc.code in ("NotFound", "NOT_FOUND", "404"):
                return None
            raise
        return dict(answer) if isinstance(answer, Mapping) else None

    @staticmethod
    def draft_of(item: Mapping[str, Any], sku: str, language: str, currency: str) -> ListingDraft:
        attributes: Mapping[str, Any] = item.get("attributes") or {}
        summary: Mapping[str, Any] = next(iter(item.get("summaries") or []), {}) or {}

        def first(name: str) -> Any:
            value = from_entries(attributes.get(name) or [])
            return value[0] if isinstance(value, list) and value else value

        def texts(name: str) -> list[str]:
            return [str(_plain(e)) for e in attributes.get(name) or []]

        locators = ["main_product_image_locator"] + [
            f"other_product_image_locator_{n}" for n in range(1, OTHER_IMAGES + 1)
        ]
        images = []
        for name in locators:
            for entry in attributes.get(name) or []:
                url = entry.get("media_location") if isinstance(entry, Mapping) else None
                if url:
                    images.append(ListingImage(key=str(url), url=str(url)))
        price = None
        offers = attributes.get("purchasable_offer") or []
        if offers and isinstance(offers[0], Mapping):
            try:
                amount = offers[0]["our_price"][0]["schedule"][0]["value_with_tax"]
                price = Money(Decimal(str(amount)), str(offers[0].get("currency") or currency))
            except (KeyError, IndexError, TypeError, ValueError, ArithmeticError):
                price = None
        availability = attributes.get("fulfillment_availability") or []
        quantity = None
        if availability and isinstance(availability[0], Mapping) and "quantity" in availability[0]:
            quantity = int(availability[0]["quantity"])
        keywords = first("generic_keyword")
        title = first("item_name") or summary.get("itemName") or ""
        return ListingDraft(
            sku=sku,
            language=language,
            title=str(title),
            category_id=summary.get("productType"),
            bullets=tuple(texts("bullet_point")),
            description=str(first("product_description") or ""),
            keywords=tuple(str(keywords).split()) if keywords else (),
            brand=str(first("brand")) if first("brand") is not None else None,
            attributes={
                name: from_entries(entries)
                for name, entries in attributes.items()
                if name not in CONTENT_ATTRIBUTES
            },
            images=images,
            price=price,
            quantity=quantity,
            external_id=sku,
        )

    # ------------------------------------------------------------ competitors

    @staticmethod
    def offers(payload: Mapping[str, Any], currency: str) -> list[CompetitorOffer]:
        """getItemOffers ``payload.Offers`` without the seller's own (``MyOffer``)."""
        found = []
        condition = str(payload.get("ItemCondition") or "New").lower()
        for offer in payload.get("Offers") or []:
            if not isinstance(offer, Mapping) or offer.get("MyOffer"):
                continue
            listing = offer.get("ListingPrice") or {}
            shipping = offer.get("Shipping")
            found.append(
                CompetitorOffer(
                    seller=str(offer.get("SellerId") or "unknown seller"),
                    price=Money(
                        Decimal(str(listing.get("Amount", 0))), str(listing.get("CurrencyCode") or currency)
                    ),
                    shipping=Money(
                        Decimal(str(shipping.get("Amount", 0))), str(shipping.get("CurrencyCode") or currency)
                    )
                    if isinstance(shipping, Mapping)
                    else None,
                    condition=str(offer.get("SubCondition") or condition).lower(),
                    fulfilled_by_channel=bool(offer.get("IsFulfilledByAmazon")),
                    featured=bool(offer.get("IsBuyBoxWinner")),
                )
            )
        return found
