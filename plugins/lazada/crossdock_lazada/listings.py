"""Listing content on Lazada: the category tree, a category's attributes, publishing
(images first, then CreateProduct or UpdateProduct), reading a product back, deactivating.

Calls (Lazada Open Platform product API; sources in the plugin README):

* ``GET /category/tree/get`` (``language_code``): nested ``children``, each node with
  ``category_id``, ``name``, ``leaf``; flattened with parent ids.
* ``GET /category/attributes/get`` (``primary_category_id``, ``language_code``): each
  attribute's ``name`` (the key a payload uses, always English), ``label``,
  ``is_mandatory``, ``input_type``, ``options[].en_name`` / ``name`` and ``attribute_type``
  (``normal``: under ``Attributes``; ``sku``: in each ``Sku``). The list also holds the
  fields Crossdock fills from the draft itself (``name``, ``description``,
  ``short_description``, ``brand``, ``SellerSku``, ``price``, ``quantity``, images ...):
  those are not attribute rules. ``AttributeRule.name`` is Lazada's ``name``.
* ``POST /image/upload`` (multipart ``image``): an image's bytes to Lazada's CDN; an image
  with only a URL goes through ``POST /image/migrate`` (``payload``
  ``{"Request": {"Image": {"Url": ...}}}``). Lazada takes no other image URLs in a product.
* ``POST /product/create`` / ``POST /product/update`` (``payload``: the JSON
  ``{"Request": {"Product": {...}}}`` document; an update names ``ItemId`` and each
  ``SkuId``). Answers ``item_id`` and ``sku_list[{seller_sku, sku_id}]``.
* ``GET /product/item/get?item_id=`` (``seller_sku`` is no longer supported since
  2023-11-15), and ``GET /products/get?filter=all&sku_seller_list=[...]`` to find a product
  by its SellerSku.
* ``POST /product/deactivate`` (``apiRequestBody``: ``ItemId`` and ``Skus.SkuId``; the
  SellerSku is refused there since 2023, code 4193).

A listing's ``external_id`` is ``item_id:sku_id``, as for the stock and price pushes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from crossdock import (
    AttributeRule,
    AttributeType,
    CategoryRules,
    ChannelCategory,
    ChannelConnection,
    ChannelError,
    ListingDraft,
    ListingImage,
    ListingProblem,
    PublishOutcome,
    PublishResult,
)
from crossdock_lazada.client import AUTH_CODES, PERMANENT_CODES, LazadaApiError

__all__ = [
    "CONTENT_FIELDS",
    "IMAGE_HOSTS",
    "NAME_MAX",
    "Listings",
    "bullets_html",
    "bullets_of",
    "language_code",
]

Api = Callable[..., Awaitable[dict[str, Any]]]

#: CreateProduct: "name | Mandatory | Product name. Maximum 255 characters."
NAME_MAX = 255
#: "description | Optional | Maximum 25000 characters. HTML tags are allowed."
DESCRIPTION_MAX = 25_000
#: "a maximum of 8 images passed into each Image field"; a main image is required (4139)
IMAGES_MAX = 8
#: image requirements: at least 330 px a side, at most 3145728 bytes, JPG or PNG
IMAGE_MIN_PX = 330
IMAGE_MAX_BYTES = 3_145_728
#: Lazada's own CDN hosts: an image already there is used as it is
IMAGE_HOSTS = ("slatic.net", "lazcdn.com")
#: GetCategoryAttributes' entries Crossdock fills from the draft's own fields (or the
#: SKU's system fields): not attribute rules, and never taken from ``draft.attributes``.
CONTENT_FIELDS = frozenset(
    {
        "name",
        "description",
        "short_description",
        "brand",
        "brand_id",
        "SellerSku",
        "price",
        "special_price",
        "special_from_date",
        "special_to_date",
        "quantity",
        "__images__",
        "color_thumbnail",
    }
)
#: a SKU's keys in GetProductItem that are not attributes
_SKU_SYSTEM = frozenset(
    {
        "SellerSku",
        "ShopSku",
        "SkuId",
        "Status",
        "quantity",
        "price",
        "special_price",
        "special_from_date",
        "special_to_date",
        "special_from_time",
        "special_to_time",
        "Images",
        "ImageSequence",
        "Url",
        "Available",
        "multiWarehouseInventories",
        "fblWarehouseInventories",
        "saleProp",
        "product_weight",
        "coming_soon",
    }
)
#: unit of the package fields (CreateProduct: "Unit:cm", "Unit:kg")
_UNITS = {"package_weight": "kg", "package_length": "cm", "package_width": "cm", "package_height": "cm"}
#: input_type -> the contract's type. ``enumInput``/``multiEnumInput`` take custom values,
#: so their options are suggestions, not the values allowed: they are text.
_TYPES = {
    "singleSelect": AttributeType.ENUM,
    "multiSelect": AttributeType.MULTI_ENUM,
    "numeric": AttributeType.NUMBER,
}
#: GetCategoryTree / GetCategoryAttributes language codes per site ("en_US" everywhere)
_LANGUAGES = {
    ("th", "TH"): "th_TH",
    ("id", "ID"): "id_ID",
    ("vi", "VN"): "vi_VN",
    ("fil", "PH"): "fil_PH",
    ("tl", "PH"): "fil_PH",
    ("ms", "MY"): "ms_MY",
}
#: GetCategoryAttributes: E057 (no attribute set: not a leaf), 4227 (no such category
#: in the country), 4228 (inactive); CreateProduct: E201 (invalid category), 4134 (not a leaf)
CATEGORY_REFUSALS = frozenset({"57", "4227", "4228", "201", "4134"})
#: GetProductItem: E207 SKU not exist, E208 Item not exist, 4137 ITEM_NOT_FOUND, and an item
#: of another store
NOT_FOUND = frozenset({"207", "208", "4137", "EDIT_ITEM_NOT_BELONG_SELLER"})
#: DeactivateProduct: E0002 product not exists, E0004 not online (already inactive)
DEACTIVATED_ALREADY = frozenset({"E0002", "E0004"})
#: Lazada's field names in ``detail`` -> the draft's fields
_FIELD_OF = {
    "name": "title",
    "description": "description",
    "short_description": "bullets",
    "brand": "brand",
    "brand_id": "brand",
    "price": "price",
    "special_price": "price",
    "quantity": "quantity",
    "SellerSku": "sku",
    "PrimaryCategory": "category_id",
    "Images": "images",
    "Image": "images",
    "__images__": "images",
}
#: codes that name the field when ``detail`` does not
_FIELD_OF_CODE = {
    "201": "category_id",
    "4134": "category_id",
    "4104": "price",
    "4118": "price",
    "4105": "sku",
    "4126": "sku",
    "4141": "sku",
    "4116": "images",
    "4138": "images",
    "4139": "images",
    "IMAGE": "images",
}


def language_code(language: str, site: str) -> str:
    """Lazada's code for ``language`` on ``site``: the site's own language where Lazada
    has it there, else ``en_US`` (available in every country)."""
    base = language.replace("-", "_").split("_")[0].lower()
    return _LANGUAGES.get((base, site.upper()), "en_US")


def bullets_html(bullets: Sequence[str]) -> str:
    """``short_description``: Lazada takes only ``<ul><li>`` / ``<ol><li>`` lists there."""
    items = [b.strip() for b in bullets if b.strip()]
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{html.escape(b, quote=False)}</li>" for b in items) + "</ul>"


_LI = re.compile(r"<li[^>]*>(.*?)</li>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def bullets_of(short_description: str) -> tuple[str, ...]:
    found = [html.unescape(_TAG.sub("", m)).strip() for m in _LI.findall(short_description or "")]
    return tuple(b for b in found if b)


@dataclass(frozen=True)
class _Attribute:
    rule: AttributeRule
    sku_level: bool
    #: option names the payload takes (``en_name``, else ``name``)
    options: tuple[str, ...]


def _attribute(row: Mapping[str, Any]) -> _Attribute | None:
    name = str(row.get("name") or "")
    if not name or name in CONTENT_FIELDS:
        return None
    kind = _TYPES.get(str(row.get("input_type") or ""), AttributeType.TEXT)
    options = tuple(
        str(o.get("en_name") or o.get("name") or "").strip()
        for o in row.get("options") or []
        if isinstance(o, Mapping)
    )
    options = tuple(o for o in options if o)
    if name in _UNITS:
        kind = AttributeType.NUMBER
    rule = AttributeRule(
        name=name,
        label=str(row.get("label") or name),
        required=str(row.get("is_mandatory") or "0") == "1",
        type=kind,
        values=options if kind in (AttributeType.ENUM, AttributeType.MULTI_ENUM) else (),
        unit=_UNITS.get(name),
    )
    return _Attribute(rule, str(row.get("attribute_type") or "normal") == "sku", options)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _number(value: Any) -> Any:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value
    if not number.is_finite():
        return value
    return int(number) if number == number.to_integral_value() else float(number)


def _ids(external_id: str | None) -> tuple[str | None, str | None]:
    item, _, sku = (external_id or "").partition(":")
    return (item if item.isdigit() else None), (sku if sku.isdigit() else None)


def _price(draft: ListingDraft, currency: str) -> str | None:
    if draft.price is None:
        return None
    places = 0 if currency in ("VND", "IDR") else 2
    return f"{draft.price.amount:.{places}f}"


def _on_lazada(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in IMAGE_HOSTS)


class Listings:
    """The listing calls, on the provider's signed, throttled ``_api``; ``upload`` sends
    a multipart image."""

    def __init__(
        self,
        api: Api,
        upload: Callable[[ChannelConnection, ListingImage], Awaitable[dict[str, Any]]],
    ) -> None:
        self._api = api
        self._upload = upload

    # ------------------------------------------------------------ categories

    async def categories(self, conn: ChannelConnection, language: str) -> list[ChannelCategory]:
        answer = await self._api(
            conn,
            "GetCategoryTree",
            "GET",
            "/category/tree/get",
            {"language_code": language_code(language, conn.site)},
        )
        found: dict[str, ChannelCategory] = {}

        def walk(nodes: Iterable[Any], parent: str | None) -> None:
            for node in nodes:
                if not isinstance(node, Mapping) or node.get("category_id") in (None, ""):
                    continue
                ident = str(node["category_id"])
                children = node.get("children") or []
                leaf = node.get("leaf")
                is_leaf = (str(leaf).lower() == "true") if leaf is not None else not children
                found.setdefault(
                    ident,
                    ChannelCategory(
                        id=ident, name=str(node.get("name") or ident), parent_id=parent, leaf=is_leaf
                    ),
                )
                walk(children, ident)

        data = answer.get("data")
        walk(data if isinstance(data, list) else [], None)
        return list(found.values())

    async def _attributes(self, conn: ChannelConnection, category_id: str, language: str) -> list[_Attribute]:
        if not str(category_id).isdigit():
            raise ChannelError(f"lazada has no category {category_id!r}", code="REFUSED")
        try:
            answer = await self._api(
                conn,
                "GetCategoryAttributes",
                "GET",
                "/category/attributes/get",
                {"primary_category_id": category_id, "language_code": language_code(language, conn.site)},
            )
        except LazadaApiError as exc:
            if exc.code in CATEGORY_REFUSALS:
                raise ChannelError(
                    f"lazada refuses category {category_id}: {exc.message}", code="REFUSED"
                ) from exc
            raise
        rows = answer.get("data")
        if not isinstance(rows, list) or not rows:
            # a branch of the tree has no attribute set (E057); so does a category that is gone
            raise ChannelError(f"lazada category {category_id} takes no products", code="REFUSED")
        return [a for a in (_attribute(r) for r in rows if isinstance(r, Mapping)) if a is not None]

    async def rules(self, conn: ChannelConnection, category_id: str, language: str) -> CategoryRules:
        attributes = await self._attributes(conn, category_id, language)
        return _rules(category_id, attributes)

    # ------------------------------------------------------------ finding a product

    async def _item(self, conn: ChannelConnection, item_id: str) -> Mapping[str, Any] | None:
        try:
            answer = await self._api(conn, "GetProductItem", "GET", "/product/item/get", {"item_id": item_id})
        except LazadaApiError as exc:
            if exc.code in NOT_FOUND:
                return None
            raise
        data = answer.get("data")
        return data if isinstance(data, Mapping) and data.get("item_id") else None

    async def _by_seller_sku(self, conn: ChannelConnection, sku: str) -> Mapping[str, Any] | None:
        answer = await self._api(
            conn,
            "GetProducts",
            "GET",
            "/products/get",
            {"filter": "all", "sku_seller_list": json.dumps([sku]), "limit": 10, "offset": 0},
        )
        data = answer.get("data") or {}
        for product in (data.get("products") if isinstance(data, Mapping) else None) or []:
            if isinstance(product, Mapping) and _sku_row(product, sku) is not None:
                return product  # sku_seller_list matches whole SellerSkus only
        return None

    async def find(
        self, conn: ChannelConnection, sku: str, external_id: str | None
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        """The product and its SKU row holding ``sku``: by the item id when known, else by
        the SellerSku (GetProductItem takes no SellerSku since November 2023)."""
        item_id, _ = _ids(external_id)
        product = await self._item(conn, item_id) if item_id else None
        if product is None or not _sku_row(product, sku):
            product = await self._by_seller_sku(conn, sku)
        if product is None:
            return None
        row = _sku_row(product, sku)
        return (product, row) if row is not None else None

    # ------------------------------------------------------------ publishing

    async def publish(self, conn: ChannelConnection, draft: ListingDraft, preview: bool) -> PublishResult:
        if not draft.category_id:
            return PublishResult(
                PublishOutcome.REJECTED,
                problems=[ListingProblem("CATEGORY", "Lazada needs a leaf category", "category_id")],
            )
        try:
            attributes = await self._attributes(conn, draft.category_id, draft.language)
        except ChannelError as exc:
            if exc.code != "REFUSED":
                raise
            return PublishResult(
                PublishOutcome.REJECTED, problems=[ListingProblem("201", exc.message, "category_id")]
            )
        if preview:
            problems = check(draft, _rules(draft.category_id, attributes), attributes, conn.currency)
            if problems:
                return PublishResult(PublishOutcome.REJECTED, draft.external_id, problems)
            return PublishResult(PublishOutcome.VALID, draft.external_id)
        found = await self.find(conn, draft.sku, draft.external_id)
        try:
            images = [await self._image(conn, image) for image in draft.images[:IMAGES_MAX]]
            payload = product_payload(draft, attributes, images, conn.currency, found)
            if found is None:
                answer = await self._api(
                    conn, "CreateProduct", "POST", "/product/create", {"payload": _json(payload)}
                )
                return PublishResult(PublishOutcome.ACCEPTED, _created_id(answer, draft.sku))
            await self._api(conn, "UpdateProduct", "POST", "/product/update", {"payload": _json(payload)})
        except LazadaApiError as exc:
            if exc.retryable or exc.code in AUTH_CODES or exc.code in PERMANENT_CODES:
                raise
            if exc.code == ChannelError.AUTH_EXPIRED:
                raise
            return PublishResult(PublishOutcome.REJECTED, draft.external_id, problems_of(exc))
        product, row = found
        return PublishResult(PublishOutcome.ACCEPTED, f"{product['item_id']}:{row['SkuId']}")

    async def _image(self, conn: ChannelConnection, image: ListingImage) -> str:
        """The image's URL on Lazada's CDN: one already there as it is, bytes uploaded
        (UploadImage), else its URL migrated (MigrateImage)."""
        if image.url and _on_lazada(image.url):
            return image.url
        if image.data:
            answer = await self._upload(conn, image)
        elif image.url:
            request = {"Request": {"Image": {"Url": image.url}}}
            answer = await self._api(
                conn, "MigrateImage", "POST", "/image/migrate", {"payload": _json(request)}
            )
        else:
            raise LazadaApiError(
                f"lazada: image {image.key} has neither bytes nor a URL", code="IMAGE", body={}
            )
        data = answer.get("data") or {}
        url = (data.get("image") or {}).get("url") if isinstance(data, Mapping) else None
        if not url:
            raise ChannelError(
                "lazada answered an image upload without its URL", code="MALFORMED", retryable=True
            )
        return str(url)

    # ------------------------------------------------------------ reading back

    async def read(
        self, conn: ChannelConnection, sku: str, external_id: str | None, language: str
    ) -> ListingDraft | None:
        found = await self.find(conn, sku, external_id)
        if found is None:
            return None
        product, row = found
        category = str(product.get("primary_category") or "")
        kinds: dict[str, AttributeType] = {}
        if category:
            try:
                kinds = {a.rule.name: a.rule.type for a in await self._attributes(conn, category, language)}
            except ChannelError as exc:
                if exc.code != "REFUSED":
                    raise
        raw = product.get("attributes") if isinstance(product.get("attributes"), Mapping) else {}
        assert isinstance(raw, Mapping)
        attributes: dict[str, Any] = {}
        for name, value in list(raw.items()) + [(k, v) for k, v in row.items() if k not in _SKU_SYSTEM]:
            if name in CONTENT_FIELDS or value in (None, ""):
                continue
            kind = kinds.get(name)
            if kind == AttributeType.NUMBER:
                value = _number(value)
            elif kind == AttributeType.MULTI_ENUM and isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            attributes[name] = value
        urls = _urls(row.get("Images")) or _urls(product.get("images"))
        return ListingDraft(
            sku=sku,
            language=language,
            title=str(raw.get("name") or ""),
            category_id=category or None,
            bullets=bullets_of(str(raw.get("short_description") or "")),
            description=str(raw.get("description") or ""),
            brand=str(raw["brand"]) if raw.get("brand") else None,
            attributes=attributes,
            images=[ListingImage(key=url, url=url) for url in urls],
            price=None,
            quantity=int(row["quantity"]) if str(row.get("quantity", "")).isdigit() else None,
            external_id=f"{product['item_id']}:{row['SkuId']}",
        )

    async def deactivate(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        found = await self.find(conn, sku, external_id)
        if found is None:
            return  # Lazada does not know it: nothing is on sale
        product, row = found
        body = {
            "Request": {
                "Product": {"ItemId": str(product["item_id"]), "Skus": {"SkuId": [str(row["SkuId"])]}}
            }
        }
        try:
            await self._api(
                conn, "DeactivateProduct", "POST", "/product/deactivate", {"apiRequestBody": _json(body)}
            )
        except LazadaApiError as exc:
            if exc.code not in DEACTIVATED_ALREADY:
                raise


def _rules(category_id: str, attributes: Sequence[_Attribute]) -> CategoryRules:
    return CategoryRules(
        category_id=str(category_id),
        attributes=[a.rule for a in attributes],
        title_max=NAME_MAX,
        description_max=DESCRIPTION_MAX,
        images_min=1,
        images_max=IMAGES_MAX,
        image_min_px=IMAGE_MIN_PX,
        image_max_bytes=IMAGE_MAX_BYTES,
        image_formats=frozenset({"JPEG", "PNG"}),
    )


def _sku_row(product: Mapping[str, Any], sku: str) -> Mapping[str, Any] | None:
    for row in product.get("skus") or []:
        if isinstance(row, Mapping) and str(row.get("SellerSku")) == sku and row.get("SkuId") is not None:
            return row
    return None


def _urls(value: Any) -> list[str]:
    """Image URLs of GetProductItem: a list with empty slots, or (item level) a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if not isinstance(value, list):
        return []
    return [str(u).strip() for u in value if isinstance(u, str) and u.strip()]


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _created_id(answer: Mapping[str, Any], sku: str) -> str | None:
    data = answer.get("data") or {}
    if not isinstance(data, Mapping) or not data.get("item_id"):
        raise ChannelError("lazada created a product without an item_id", code="MALFORMED")
    rows = [r for r in data.get("sku_list") or [] if isinstance(r, Mapping)]
    row = next((r for r in rows if str(r.get("seller_sku")) == sku), rows[0] if rows else None)
    sku_id = row.get("sku_id") if row else None
    return f"{data['item_id']}:{sku_id}" if sku_id else str(data["item_id"])


def product_payload(
    draft: ListingDraft,
    attributes: Sequence[_Attribute],
    images: Sequence[str],
    currency: str,
    found: tuple[Mapping[str, Any], Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The ``Request.Product`` document of CreateProduct (or, given the product found,
    UpdateProduct: with ``ItemId`` and the SKU's ``SkuId``)."""
    sku_level = {a.rule.name for a in attributes if a.sku_level}
    product_attributes: dict[str, Any] = {"name": draft.title, "brand": draft.brand or "No Brand"}
    if draft.description:
        product_attributes["description"] = draft.description
    if draft.bullets:
        product_attributes["short_description"] = bullets_html(draft.bullets)
    sku: dict[str, Any] = {"SellerSku": draft.sku, "quantity": str(draft.quantity or 0)}
    price = _price(draft, currency)
    if price is not None:
        sku["price"] = price
    for name, value in draft.attributes.items():
        if name in CONTENT_FIELDS or value is None:
            continue
        # a name the category does not list goes with the product's attributes: Lazada
        # answers for it (an unknown attribute is its refusal to give)
        target = sku if name in sku_level else product_attributes
        target[name] = _text(value)
    if images:
        sku["Images"] = {"Image": list(images)}
    product: dict[str, Any] = {"PrimaryCategory": str(draft.category_id)}
    if images:
        product["Images"] = {"Image": list(images)}
    if found is not None:
        item, row = found
        product["ItemId"] = str(item["item_id"])
        sku["SkuId"] = str(row["SkuId"])
    product["Attributes"] = product_attributes
    product["Skus"] = {"Sku": [sku]}
    return {"Request": {"Product": product}}


def check(
    draft: ListingDraft,
    rules: CategoryRules,
    attributes: Sequence[_Attribute],
    currency: str,
) -> list[ListingProblem]:
    """What Lazada would refuse, checked here (Lazada has no validation-only call): the
    category's mandatory attributes, the options of a single or multiple select, numbers,
    the name's and description's length, the images, the price."""
    problems: list[ListingProblem] = []
    if not draft.title.strip():
        problems.append(ListingProblem("4110", "name is mandatory", "title"))
    elif rules.title_max and len(draft.title) > rules.title_max:
        problems.append(ListingProblem("4120", f"name is longer than {rules.title_max} characters", "title"))
    if rules.description_max and len(draft.description) > rules.description_max:
        problems.append(
            ListingProblem(
                "4120", f"description is longer than {rules.description_max} characters", "description"
            )
        )
    for attribute in attributes:
        rule, value = attribute.rule, draft.attributes.get(attribute.rule.name)
        field = f"attributes.{rule.name}"
        if value is None or value == "" or value == [] or value == ():
            if rule.required:
                problems.append(ListingProblem("4110", f"{rule.name} is mandatory", field))
            continue
        if rule.type == AttributeType.ENUM and _text(value) not in attribute.options:
            problems.append(ListingProblem("4115", f"{value!r} is not an option of {rule.name}", field))
        elif rule.type == AttributeType.MULTI_ENUM:
            chosen = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
            wrong = [v for v in chosen if _text(v) not in attribute.options]
            if wrong:
                problems.append(ListingProblem("4115", f"{wrong!r} are not options of {rule.name}", field))
        elif rule.type == AttributeType.NUMBER:
            try:
                number = Decimal(_text(value))
                if not number.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                problems.append(ListingProblem("4107", f"{rule.name} is not a number", field))
    if not draft.images:
        problems.append(ListingProblem("4139", "a main image is required", "images"))
    elif rules.images_max and len(draft.images) > rules.images_max:
        problems.append(ListingProblem("IMAGES", f"at most {rules.images_max} images", "images"))
    for image in draft.images:
        if not image.data and not image.url:
            problems.append(
                ListingProblem("IMAGE", f"image {image.key} has neither bytes nor a URL", "images")
            )
        elif rules.image_max_bytes and len(image.data) > rules.image_max_bytes:
            problems.append(ListingProblem("303", f"image {image.key} is too large", "images"))
        elif image.width and image.height and min(image.width, image.height) < (rules.image_min_px or 0):
            problems.append(
                ListingProblem(
                    "IMAGE", f"image {image.key} is under {rules.image_min_px} px a side", "images"
                )
            )
    if draft.price is None:
        problems.append(ListingProblem("1", "price is mandatory", "price"))
    elif draft.price.currency != currency:
        problems.append(ListingProblem("PRICE", f"the shop sells in {currency}", "price"))
    elif draft.price.amount <= 0:
        problems.append(ListingProblem("4118", "the price must be above 0", "price"))
    return problems


def problems_of(exc: LazadaApiError) -> list[ListingProblem]:
    """Lazada's refusal as problems: one per ``detail`` entry (``field``, ``message``, and
    a ``code`` where given), the field in the draft's terms; else the code's message."""
    detail = exc.body.get("detail") if isinstance(exc.body, Mapping) else None
    problems: list[ListingProblem] = []
    for entry in detail if isinstance(detail, list) else []:
        if not isinstance(entry, Mapping):
            continue
        name = str(entry.get("field") or "")
        code = str(entry.get("code") or exc.code)
        field = _FIELD_OF.get(name) or (f"attributes.{name}" if name else _FIELD_OF_CODE.get(code))
        problems.append(ListingProblem(code, str(entry.get("message") or exc.message), field))
    if not problems:
        problems.append(
            ListingProblem(
                str(exc.code), str(exc.body.get("message") or exc.message), _FIELD_OF_CODE.get(str(exc.code))
            )
        )
    return problems
