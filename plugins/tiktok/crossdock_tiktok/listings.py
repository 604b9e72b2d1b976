"""Listing content on TikTok Shop (Products API, 202309 versions): the category tree, a
category's attributes and rules, publishing a product (create, or edit in place), the
listing pre-check, reading a product back, deactivating it.

* Categories: ``GET /product/202309/categories`` (``locale``, ``category_version``: US
  shops must ask for ``v2``, the 7-level tree, every other market ``v1``). A root's
  ``parent_id`` is ``"0"``.
* Rules: ``GET /product/202309/categories/{id}/attributes`` and ``…/rules``. Only
  ``PRODUCT_PROPERTY`` attributes become :class:`AttributeRule` (``SALES_PROPERTY`` ones
  define variants; a product with one SKU may omit them). ``AttributeRule.name`` is the
  attribute **id** as a string, ``label`` its name; a draft's ``attributes`` are keyed by
  these ids and hold value names (a list for a multiple-selection attribute). Values of an
  attribute sellers cannot customise are an enum; a customisable one is free text (or a
  number, ``value_data_format`` POSITIVE_INT_OR_DECIMAL).
* Publish: every image is uploaded first (``POST /product/202309/images/upload``,
  multipart, ``use_case=MAIN_IMAGE``; TikTok takes no image URL it does not host), its
  ``uri`` remembered per connection and image key. Then ``POST /product/202309/products``
  (a new product) or ``PUT /product/202309/products/{id}`` (the product of
  ``draft.external_id``, else the one holding the seller SKU, found with
  ``POST /product/202309/products/search``). An edit replaces the whole product: the other
  SKUs of the product are sent back as TikTok holds them (ids, prices, warehouses,
  quantities), and this SKU keeps its warehouses and quantities (stock is Crossdock's
  stock push's business), so nothing else changes. A preview is
  ``POST /product/202309/products/listing_check`` with the same body: ``PASS`` is VALID,
  ``FAILED`` REJECTED with its ``fail_reasons``.
* Read: ``GET /product/202309/products/{id}``; the category is the leaf of
  ``category_chains``.
* Deactivate: ``POST /product/202309/products/deactivate`` (a TikTok product: every SKU of
  it goes off sale).

Connection settings used here: ``package_weight`` (``{"value": "0.5", "unit":
"KILOGRAM"}``, required by Create Product; Crossdock's draft carries no weight),
``package_dimensions`` (``{"length", "width", "height", "unit"}``, when the category needs
them), ``brand_ids`` (brand name -> TikTok brand id; a brand not in it is not sent), and
``warehouse_id`` (the warehouse of a new SKU; default the shop's default sales warehouse).

TikTok's refusals of the content (``code`` != 0 on create / edit, or a pre-check's fail
reasons) become REJECTED with a :class:`ListingProblem` per reason, its ``field`` from the
code (``title``, ``description``, ``images``, ``category_id``, ``price``, ``sku``,
``attributes.<id>`` when the message names one of the category's attribute ids, ...).
Authentication, throttling and server errors are raised as the client raises them.

Source: TikTok Shop Partner Center, API reference, Products (Get Categories, Get
Attributes, Get Category Rules, Upload Product Image, Create Product, Edit Product, Check
Product Listing, Search Products, Get Product, Deactivate Products), mirrored in
``lazykern/ecommerce-api-docs`` ``data/raw/tiktok/api-reference/products/``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

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
    Money,
    PublishOutcome,
    PublishResult,
)

__all__ = [
    "CATEGORY_CODES",
    "LISTING_OPERATIONS",
    "TITLE_MAX",
    "category_version",
    "deactivate_listing",
    "fetch_categories",
    "fetch_category_rules",
    "locale",
    "problem_field",
    "publish_listing",
    "read_listing",
]

PRODUCTS = "/product/202309/products"
CATEGORIES = "/product/202309/categories"
IMAGE_UPLOAD = "/product/202309/images/upload"
#: rate-limit buckets of these calls
LISTING_OPERATIONS = (
    "products.categories",
    "products.attributes",
    "products.category_rules",
    "products.image_upload",
    "products.create",
    "products.edit",
    "products.listing_check",
    "products.search",
    "products.deactivate",
)
# Create Product: "Title length: DE, ES, FR, IE, IT, JP, UK, US: [1, 255]; BR, MX: [1, 300];
# Other regions: [25, 255]"
TITLE_MAX = 255
TITLE_MAX_LATAM = 300
DESCRIPTION_MAX = 10_000  # characters of HTML
IMAGES_MAX = 9  # main_images "Max count: 9"
IMAGE_MIN_PX = 300  # use_case MAIN_IMAGE: 300x300 .. 4000x4000 px
IMAGE_MAX_BYTES = 10 * 1024 * 1024  # Upload Product Image: "Max size: 10MB"
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP"})  # also HEIC, which Pillow does not name
QUANTITY_MAX = 99_999
SEARCH_PAGE = 100
MAX_URIS = 10_000  # uploaded image URIs remembered (per process)
#: Get Attributes / Get Category Rules: the category is not one a product can be listed in
CATEGORY_CODES = frozenset(
    {
        "12052023",
        "12052024",
        "12052025",
        "12052217",
        "12052220",
        "12052223",
        "12052226",
        "12052230",
        "12052446",
    }
)
#: the product id is not the shop's (Get Product, Edit Product, Deactivate Products)
GONE_CODES = frozenset({"12052048", "12052032", "12052260"})
_FIELDS: Mapping[str, frozenset[str]] = {
    "title": frozenset({"12052051", "12052261", "12052262", "12052263", "12052931"}),
    "description": frozenset(
        {"12019006", "12052013", "12052015", "12052056", "12052324"}
        | {str(c) for c in range(12052340, 12052353)}
    ),
    "images": frozenset({"12052028", *(str(c) for c in range(12052300, 12052307))}),
    "category_id": CATEGORY_CODES | {"12052002", "12052221", "12052225", "12052227"},
    "price": frozenset({"12052012", "12052073", "12052084", "12052092", "12052570"}),
    "sku": frozenset({"12052054", "12052553", "12052559"}),
    "quantity": frozenset({"12052055", "12052097", "12052530", "12052531", "12052532"}),
    "brand": frozenset({"12019013", "12052026", "12052200", "12052201", "12052208"}),
    "package_weight": frozenset({"12019011", "12052006", "12052181"}),
    "package_dimensions": frozenset({"12019012", "12052003", "12052004", "12052005", "12052116"}),
    "attributes": frozenset(
        {"12052104", "12052151", "12052182", "12052183", "12052529"}
        | {str(c) for c in range(12052240, 12052257)}
    ),
}
_NUMBER = re.compile(r"\d+")
#: Product statuses that are the product's end (Search Products ``status``)
_GONE_STATUSES = frozenset({"DELETED"})
_LOCALES = {
    "de": "de-DE",
    "es": "es-ES",
    "fr": "fr-FR",
    "id": "id-ID",
    "it": "it-IT",
    "ja": "ja-JP",
    "ms": "ms-MY",
    "pt": "pt-BR",
    "th": "th-TH",
    "vi": "vi-VN",
    "zh": "zh-CN",
}
_ENGLISH = {"US": "en-US", "GB": "en-GB", "IE": "en-IE"}


class Shop(Protocol):
    """What the provider offers these functions."""

    _image_uris: dict[tuple[Any, ...], str]

    async def _shop_call(
        self, conn: ChannelConnection, method: str, path: str, operation: str, **kwargs: Any
    ) -> dict[str, Any]: ...

    async def _upload(
        self, conn: ChannelConnection, image: ListingImage, use_case: str
    ) -> dict[str, Any]: ...

    async def _default_warehouse(self, conn: ChannelConnection) -> str | None: ...

    @staticmethod
    def _conn_key(conn: ChannelConnection) -> tuple[Any, ...]: ...


# --------------------------------------------------------------------------- helpers


def category_version(conn: ChannelConnection) -> str:
    """``v2`` (the 7-level tree) for US shops, which must use it; ``v1`` elsewhere."""
    return "v2" if conn.site == "US" else "v1"


def locale(conn: ChannelConnection, language: str) -> str:
    """The BCP-47 locale TikTok takes for a Crossdock language (``en`` -> ``en-US`` in a US
    shop, ``en-GB`` in the UK; a language given as a locale passes as it is)."""
    if "-" in language:
        return language
    base = language.lower()
    if base == "en":
        return _ENGLISH.get(conn.site, "en-US")
    return _LOCALES.get(base, "en-US")


def _title_limits(site: str) -> tuple[int, int]:
    if site in ("US", "GB", "DE", "ES", "FR", "IE", "IT", "JP"):
        return 1, TITLE_MAX
    if site in ("BR", "MX"):
        return 1, TITLE_MAX_LATAM
    return 25, TITLE_MAX


def _reason(exc: ChannelError) -> str:
    """TikTok's own message, without the client's ``tiktok <path>: <code>:`` prefix."""
    return exc.message.split(": ", 2)[-1]


def problem_field(code: str, message: str, attribute_ids: Sequence[str] = ()) -> str | None:
    """The draft field a TikTok error code is about (``attributes.<id>`` when the message
    names one of ``attribute_ids``)."""
    for name, codes in _FIELDS.items():
        if code in codes:
            if name == "attributes":
                named = [n for n in _NUMBER.findall(message) if n in attribute_ids]
                return f"attributes.{named[0]}" if named else "attributes"
            return name
    return None


def _content_error(exc: ChannelError) -> bool:
    """A refusal of the listing's content (not of the connection, not passing)."""
    from crossdock_tiktok.marketplace import CONNECTION_CODES

    return not exc.retryable and exc.code not in CONNECTION_CODES and exc.code.isdigit()


def _rejected(
    reasons: Sequence[tuple[str, str]], attribute_ids: Sequence[str], external_id: str | None = None
) -> PublishResult:
    return PublishResult(
        PublishOutcome.REJECTED,
        external_id=external_id,
        problems=[
            ListingProblem(code=code, message=message, field=problem_field(code, message, attribute_ids))
            for code, message in reasons
        ],
    )


def _product_id(external_id: str | None) -> str | None:
    """This plugin's listing ids are ``<product_id>:<sku_id>``; a bare product id passes."""
    if not external_id:
        return None
    product_id = external_id.split(":", 1)[0].strip()
    return product_id if product_id.isdigit() else None


# --------------------------------------------------------------------------- categories and rules


async def fetch_categories(shop: Shop, conn: ChannelConnection, *, language: str) -> list[ChannelCategory]:
    data = await shop._shop_call(
        conn,
        "GET",
        CATEGORIES,
        "products.categories",
        params={"locale": locale(conn, language), "category_version": category_version(conn)},
    )
    found: list[ChannelCategory] = []
    seen: set[str] = set()
    for raw in data.get("categories") or []:
        if not isinstance(raw, dict) or not raw.get("id") or str(raw["id"]) in seen:
            continue
        seen.add(str(raw["id"]))
        parent = str(raw.get("parent_id") or "0")
        found.append(
            ChannelCategory(
                id=str(raw["id"]),
                name=str(raw.get("local_name") or raw["id"]),
                parent_id=None if parent == "0" else parent,
                leaf=bool(raw.get("is_leaf")),
            )
        )
    return found


async def _attributes(
    shop: Shop, conn: ChannelConnection, category_id: str, language: str = "en"
) -> list[dict[str, Any]]:
    """The category's attributes as TikTok gives them; an unknown or non-leaf category is
    refused (``REFUSED``, permanent)."""
    if not category_id.isdigit():
        raise ChannelError(f"tiktok has no category {category_id!r}", code="REFUSED")
    try:
        data = await shop._shop_call(
            conn,
            "GET",
            f"{CATEGORIES}/{category_id}/attributes",
            "products.attributes",
            params={"locale": locale(conn, language), "category_version": category_version(conn)},
        )
    except ChannelError as exc:
        if exc.code in CATEGORY_CODES:
            raise ChannelError(
                f"tiktok refuses category {category_id}: {_reason(exc)}", code="REFUSED"
            ) from exc
        raise
    return [a for a in data.get("attributes") or [] if isinstance(a, dict) and a.get("id")]


def _rule(raw: Mapping[str, Any]) -> AttributeRule:
    values = [str(v["name"]) for v in raw.get("values") or [] if isinstance(v, dict) and v.get("name")]
    customizable = bool(raw.get("is_customizable"))
    if values and not customizable:
        kind = AttributeType.MULTI_ENUM if raw.get("is_multiple_selection") else AttributeType.ENUM
        allowed: Sequence[str] = values
    else:
        number = raw.get("value_data_format") == "POSITIVE_INT_OR_DECIMAL"
        kind = AttributeType.NUMBER if number else AttributeType.TEXT
        allowed = ()
    return AttributeRule(
        name=str(raw["id"]),
        label=str(raw.get("name") or raw["id"]),
        # the reference spells the flag "is_requried"; accept the corrected spelling too
        required=bool(raw.get("is_requried", raw.get("is_required", False))),
        type=kind,
        values=tuple(allowed),
        max_length=None if allowed else 2000,  # a custom value name: "Max length: 2000 characters"
    )


async def fetch_category_rules(
    shop: Shop, conn: ChannelConnection, category_id: str, *, language: str
) -> CategoryRules:
    attributes = await _attributes(shop, conn, category_id, language)
    try:
        await shop._shop_call(
            conn,
            "GET",
            f"{CATEGORIES}/{category_id}/rules",
            "products.category_rules",
            params={"locale": locale(conn, language), "category_version": category_version(conn)},
        )
    except ChannelError as exc:
        if exc.code in CATEGORY_CODES:
            raise ChannelError(
                f"tiktok refuses category {category_id}: {_reason(exc)}", code="REFUSED"
            ) from exc
        raise
    # The rules (certifications, size chart, package dimensions, COD, EPR...) have no place
    # in CategoryRules; they are read so that a restricted category is refused here.
    rules = [_rule(a) for a in attributes if a.get("type", "PRODUCT_PROPERTY") == "PRODUCT_PROPERTY"]
    return CategoryRules(
        category_id=category_id,
        attributes=rules,
        title_max=_title_limits(conn.site)[1],
        description_max=DESCRIPTION_MAX,
        images_min=1,
        images_max=IMAGES_MAX,
        image_min_px=IMAGE_MIN_PX,
        image_max_bytes=IMAGE_MAX_BYTES,
        image_formats=IMAGE_FORMATS,
    )


# --------------------------------------------------------------------------- publish


def _description(draft: ListingDraft) -> str:
    """The draft's text as TikTok's HTML description: paragraphs, then the bullets as a list."""
    parts = [f"<p>{html.escape(p.strip())}</p>" for p in re.split(r"\n\s*\n", draft.description) if p.strip()]
    if draft.bullets:
        parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in draft.bullets) + "</ul>")
    return "".join(parts)


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("Yes" if item else "No")
        elif item is not None and str(item).strip():
            out.append(str(item))
    return out


def _product_attributes(
    draft: ListingDraft, attributes: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[ListingProblem]]:
    """``product_attributes`` of the body: a value TikTok offers goes by its id, any other by
    name; a key that is not one of the category's attributes is left out, with a warning."""
    known = {str(a["id"]): a for a in attributes}
    body: list[dict[str, Any]] = []
    warnings: list[ListingProblem] = []
    for key, value in draft.attributes.items():
        attribute = known.get(str(key))
        if attribute is None:
            warnings.append(
                ListingProblem(
                    code="UNKNOWN_ATTRIBUTE",
                    message=f"category {draft.category_id} has no attribute {key}: not sent",
                    field=f"attributes.{key}",
                    severity="warning",
                )
            )
            continue
        offered = {
            str(v.get("name")): str(v.get("id"))
            for v in attribute.get("values") or []
            if isinstance(v, dict) and v.get("id")
        }
        values = [{"id": offered[v]} if v in offered else {"name": v} for v in _values(value)]
        if values:
            body.append({"id": str(key), "values": values})
    return body, warnings


def _setting_object(conn: ChannelConnection, name: str) -> dict[str, str] | None:
    raw = conn.settings.get(name)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ChannelError(f"tiktok: setting {name} must be an object", code="BAD_SETTING")
    return {str(k): str(v) for k, v in raw.items()}


async def _find_product(shop: Shop, conn: ChannelConnection, sku: str) -> str | None:
    """The product holding seller SKU ``sku`` (Search Products), not a deleted one."""
    token = ""
    for _ in range(50):
        params: dict[str, Any] = {"page_size": SEARCH_PAGE}
        if token:
            params["page_token"] = token
        data = await shop._shop_call(
            conn, "POST", f"{PRODUCTS}/search", "products.search", params=params, body={"seller_skus": [sku]}
        )
        for product in data.get("products") or []:
            if not isinstance(product, dict) or product.get("status") in _GONE_STATUSES:
                continue
            if any(isinstance(s, dict) and s.get("seller_sku") == sku for s in product.get("skus") or []):
                return str(product["id"])
        token = str(data.get("next_page_token") or "")
        if not token:
            return None
    return None


async def _product(shop: Shop, conn: ChannelConnection, product_id: str) -> dict[str, Any] | None:
    try:
        return await shop._shop_call(conn, "GET", f"{PRODUCTS}/{product_id}", "products.detail")
    except ChannelError as exc:
        if exc.code in GONE_CODES:
            return None
        raise


def _price(raw: Mapping[str, Any]) -> dict[str, str]:
    given = raw.get("price")
    price: Mapping[str, Any] = given if isinstance(given, dict) else {}
    amount = price.get("tax_exclusive_price") or price.get("sale_price") or price.get("amount") or "0"
    return {"amount": str(amount), "currency": str(price.get("currency") or "")}


def _kept_sku(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A SKU of an edited product, named by its id so that TikTok keeps it (a SKU id left
    out is a SKU deleted). Its price and inventory are left out: Edit Product keeps them
    when omitted ("Exceptions to this rule are the price and inventory fields, which will
    remain unchanged if they are omitted from the request")."""
    kept: dict[str, Any] = {"id": str(raw["id"])}
    if raw.get("seller_sku"):
        kept["seller_sku"] = str(raw["seller_sku"])
    sales = [
        {k: a[k] for k in ("id", "value_id", "name", "value_name") if a.get(k)}
        for a in raw.get("sales_attributes") or []
        if isinstance(a, dict)
    ]
    if sales:
        kept["sales_attributes"] = sales
    return kept


async def _images(
    shop: Shop, conn: ChannelConnection, draft: ListingDraft
) -> tuple[list[dict[str, str]], list[ListingProblem]]:
    uris: list[dict[str, str]] = []
    problems: list[ListingProblem] = []
    for n, image in enumerate(draft.images):
        key = (*shop._conn_key(conn), image.key)
        uri = shop._image_uris.get(key)
        if uri is None:
            if not image.data:
                problems.append(
                    ListingProblem(
                        code="IMAGE_BYTES",
                        message=f"image {image.key}: TikTok Shop takes uploaded images only, and "
                        "this one has no bytes",
                        field=f"images[{n}]",
                    )
                )
                continue
            try:
                data = await shop._upload(conn, image, "MAIN_IMAGE")
            except ChannelError as exc:
                if not _content_error(exc):
                    raise
                problems.append(ListingProblem(code=exc.code, message=_reason(exc), field=f"images[{n}]"))
                continue
            uri = str(data["uri"])
            shop._image_uris[key] = uri
            while len(shop._image_uris) > MAX_URIS:
                del shop._image_uris[next(iter(shop._image_uris))]
        uris.append({"uri": uri})
    return uris, problems


async def publish_listing(
    shop: Shop, conn: ChannelConnection, draft: ListingDraft, *, preview: bool = False
) -> PublishResult:
    problems: list[ListingProblem] = []
    if not draft.category_id:
        problems.append(
            ListingProblem("CATEGORY_REQUIRED", "TikTok Shop needs a leaf category", "category_id")
        )
    if draft.price is None:
        problems.append(ListingProblem("PRICE_REQUIRED", "TikTok Shop needs the SKU's price", "price"))
    elif draft.price.currency != conn.currency:
        problems.append(
            ListingProblem(
                "CURRENCY", f"the shop sells in {conn.currency}, not {draft.price.currency}", "price"
            )
        )
    if not draft.images:
        problems.append(ListingProblem("IMAGES_REQUIRED", "TikTok Shop needs at least one image", "images"))
    weight = _setting_object(conn, "package_weight")
    if weight is None:
        problems.append(
            ListingProblem(
                "PACKAGE_WEIGHT",
                "TikTok Shop needs the package weight: set the connection's package_weight "
                '({"value": "0.5", "unit": "KILOGRAM"})',
                "package_weight",
            )
        )
    if problems:
        return PublishResult(PublishOutcome.REJECTED, external_id=draft.external_id, problems=problems)
    assert draft.category_id is not None
    assert draft.price is not None
    try:
        attributes = await _attributes(shop, conn, draft.category_id, draft.language)
    except ChannelError as exc:
        if exc.code != "REFUSED":
            raise
        problem = ListingProblem("CATEGORY", exc.message, "category_id")
        return PublishResult(PublishOutcome.REJECTED, external_id=draft.external_id, problems=[problem])
    attribute_ids = [str(a["id"]) for a in attributes]
    product_attributes, warnings = _product_attributes(draft, attributes)
    main_images, image_problems = await _images(shop, conn, draft)
    if image_problems:
        return PublishResult(PublishOutcome.REJECTED, external_id=draft.external_id, problems=image_problems)

    product_id = _product_id(draft.external_id)
    existing = await _product(shop, conn, product_id) if product_id else None
    if existing is None:
        found = await _find_product(shop, conn, draft.sku)
        existing = await _product(shop, conn, found) if found else None
    product_id = str(existing["id"]) if existing else None

    price = {"amount": str(draft.price.amount), "currency": draft.price.currency}
    mine = next(
        (
            s
            for s in (existing or {}).get("skus") or []
            if isinstance(s, dict) and s.get("seller_sku") == draft.sku
        ),
        None,
    )
    held = [
        str(i["warehouse_id"])
        for i in (mine or {}).get("inventory") or []
        if isinstance(i, dict) and i.get("warehouse_id")
    ]
    warehouse = held[0] if held else str(conn.settings.get("warehouse_id") or "")
    if not warehouse:
        warehouse = await shop._default_warehouse(conn) or ""
    level: dict[str, Any] = {"warehouse_id": warehouse}
    if draft.quantity and draft.quantity > 0:
        level["quantity"] = min(int(draft.quantity), QUANTITY_MAX)
    #: the SKU as a new product lists it (Create Product, and the pre-check of either)
    fresh: dict[str, Any] = {"seller_sku": draft.sku, "price": price, "inventory": [level]}
    if mine is not None:  # edit: this SKU keeps its warehouses and stock, takes the price
        sku: dict[str, Any] = {**_kept_sku(mine), "seller_sku": draft.sku, "price": price}
    else:
        if not warehouse:
            raise ChannelError(
                "tiktok: the shop has no sales warehouse for a new SKU (set warehouse_id)",
                code="NO_WAREHOUSE",
            )
        sku = fresh
    others = [
        _kept_sku(s)
        for s in (existing or {}).get("skus") or []
        if isinstance(s, dict) and s.get("id") and s is not mine
    ]
    body: dict[str, Any] = {
        "save_mode": "LISTING",
        "title": draft.title,
        "description": _description(draft),
        "category_id": draft.category_id,
        "category_version": category_version(conn),
        "main_images": main_images,
        "skus": [sku, *others],
        "product_attributes": product_attributes,
        "package_weight": weight,
    }
    dimensions = _setting_object(conn, "package_dimensions")
    if dimensions:
        body["package_dimensions"] = dimensions
    brands = conn.settings.get("brand_ids") or {}
    if draft.brand and isinstance(brands, Mapping) and brands.get(draft.brand):
        body["brand_id"] = str(brands[draft.brand])
    external = _external_id(product_id, mine) if product_id else None

    if preview:
        # Check Product Listing takes a product as Create Product does (no SKU ids): this
        # SKU alone, as it would be listed
        data = await shop._shop_call(
            conn,
            "POST",
            f"{PRODUCTS}/listing_check",
            "products.listing_check",
            body={**body, "skus": [fresh]},
        )
        reasons = [
            (str(r.get("code")), str(r.get("message") or ""))
            for r in data.get("fail_reasons") or []
            if isinstance(r, dict)
        ]
        if data.get("check_result") == "FAILED" or reasons:
            return _rejected(reasons or [("FAILED", "the listing pre-check failed")], attribute_ids, external)
        return PublishResult(PublishOutcome.VALID, external_id=external, problems=warnings)

    try:
        if product_id:
            data = await shop._shop_call(conn, "PUT", f"{PRODUCTS}/{product_id}", "products.edit", body=body)
        else:
            data = await shop._shop_call(conn, "POST", PRODUCTS, "products.create", body=body)
    except ChannelError as exc:
        if not _content_error(exc):
            raise
        return _rejected([(exc.code, _reason(exc))], attribute_ids, external)
    product_id = str(data.get("product_id") or product_id)
    made = next(
        (s for s in data.get("skus") or [] if isinstance(s, dict) and s.get("seller_sku") == draft.sku), None
    )
    notes = [
        ListingProblem("WARNING", str(w.get("message")), severity="warning")
        for w in data.get("warnings") or []
        if isinstance(w, dict) and w.get("message")
    ]
    return PublishResult(
        PublishOutcome.ACCEPTED, external_id=_external_id(product_id, made or mine), problems=warnings + notes
    )


def _external_id(product_id: str, sku: Mapping[str, Any] | None) -> str:
    return f"{product_id}:{sku['id']}" if sku and sku.get("id") else product_id


# --------------------------------------------------------------------------- read back, deactivate


def _typed(value: str, rule: AttributeRule | None) -> Any:
    if rule is not None and rule.type == AttributeType.NUMBER:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return int(number) if number == number.to_integral_value() else number
    return value


async def read_listing(
    shop: Shop, conn: ChannelConnection, sku: str, external_id: str | None, *, language: str
) -> ListingDraft | None:
    product_id = _product_id(external_id) or await _find_product(shop, conn, sku)
    raw = await _product(shop, conn, product_id) if product_id else None
    if raw is None or raw.get("status") in _GONE_STATUSES:
        return None
    chains = [c for c in raw.get("category_chains") or [] if isinstance(c, dict)]
    leaf = next((c for c in chains if c.get("is_leaf")), chains[-1] if chains else None)
    category_id = str(leaf["id"]) if leaf else None
    rules: dict[str, AttributeRule] = {}
    if category_id:
        try:
            rules = {
                r.name: r for r in (_rule(a) for a in await _attributes(shop, conn, category_id, language))
            }
        except ChannelError as exc:
            if exc.code != "REFUSED":
                raise
    attributes: dict[str, Any] = {}
    for attribute in raw.get("product_attributes") or []:
        if not isinstance(attribute, dict) or not attribute.get("id"):
            continue
        key = str(attribute["id"])
        rule = rules.get(key)
        names = [
            _typed(str(v["name"]), rule)
            for v in attribute.get("values") or []
            if isinstance(v, dict) and v.get("name")
        ]
        multiple = rule.type == AttributeType.MULTI_ENUM if rule else len(names) > 1
        if names:
            attributes[key] = names if multiple else names[0]
    images = []
    for n, image in enumerate(raw.get("main_images") or []):
        if not isinstance(image, dict):
            continue
        urls = [u for u in image.get("urls") or [] if isinstance(u, str) and u]
        images.append(
            ListingImage(
                key=str(image.get("uri") or f"tiktok/{product_id}/{n}"),
                width=int(image.get("width") or 0),
                height=int(image.get("height") or 0),
                url=urls[0] if urls else None,
            )
        )
    mine = next(
        (s for s in raw.get("skus") or [] if isinstance(s, dict) and s.get("seller_sku") == sku), None
    )
    price = quantity = None
    if mine is not None:
        shown = _price(mine)
        try:
            price = Money(Decimal(shown["amount"]), shown["currency"] or conn.currency)
        except (InvalidOperation, ValueError):
            price = None
        quantity = sum(
            int(i.get("quantity") or 0) for i in mine.get("inventory") or [] if isinstance(i, dict)
        )
    given = raw.get("brand")
    brand: Mapping[str, Any] = given if isinstance(given, dict) else {}
    return ListingDraft(
        sku=sku,
        language=language,
        title=str(raw.get("title") or ""),
        category_id=category_id,
        description=str(raw.get("description") or ""),
        brand=str(brand["name"]) if brand.get("name") else None,
        attributes=attributes,
        images=images,
        price=price,
        quantity=quantity,
        external_id=_external_id(str(raw["id"]), mine),
    )


async def deactivate_listing(shop: Shop, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
    """Take the product off sale; a product TikTok does not have (or has off sale already)
    is fine."""
    product_id = _product_id(external_id) or await _find_product(shop, conn, sku)
    if not product_id:
        return
    try:
        data = await shop._shop_call(
            conn, "POST", f"{PRODUCTS}/deactivate", "products.deactivate", body={"product_ids": [product_id]}
        )
    except ChannelError as exc:
        if exc.code in GONE_CODES:
            return
        raise
    for error in data.get("errors") or []:
        if not isinstance(error, dict):
            continue
        code = str(error.get("code"))
        if code in GONE_CODES or code == "12052901":  # gone, or not in a status to deactivate
            continue
        raise ChannelError(
            f"tiktok could not deactivate product {product_id}: {error.get('message')}", code=code
        )
