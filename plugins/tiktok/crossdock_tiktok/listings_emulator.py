"""The TikTok Shop emulator's Products API for listing content (202309): categories, a
category's attributes and rules, Upload Product Image, Create / Edit Product, Check Product
Listing, Search Products, the content of Get Product, Deactivate Products.

Refused as TikTok refuses them (codes of each API reference page's error table): an unknown
category (12052023) or one that is not a leaf (12052024), a ``category_version`` other than
the market's (12052217: US ``v2``, elsewhere ``v1``), a title empty (12052261) or outside
the market's length (12052051; "Other regions: [25, 255]", the too-short case's code is
UNCONFIRMED), no description (12052015) or one over 10,000 characters (12052013), no main
image (12052028), more than 9 (12052306), an image URI this emulator did not issue to the
shop (12052300), a required product attribute missing (12052104, its message naming the
attribute id: the wording is UNCONFIRMED), an attribute the category does not have
(12052240, UNCONFIRMED), a value id not offered (12052529), a custom value for an
attribute that takes none (12052247), several values for a single-selection attribute
(12052246), another currency than the shop's (12052084), a price that is not a positive
amount (12052073), a seller SKU another product of the shop already uses (12052553,
UNCONFIRMED: TikTok documents no code for it), a warehouse not the shop's (12052530), no
package weight (12019011). Listing check answers the same reasons as ``fail_reasons``
(``check_result`` FAILED) and changes nothing. A created product is live at once
(``ACTIVATE``: the emulator's audit passes everything it accepts).
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_tiktok.emulator import Shop, TikTokShopEmulator

__all__ = ["CATEGORIES", "IMAGE_PATH", "SAMPLE_CATEGORY", "TikTokListings"]

IMAGE_PATH = "/emulated-images/"
SAMPLE_CATEGORY = "853000"
TITLE_MAX = 255
DESCRIPTION_MAX = 10_000
IMAGES_MAX = 9
QUANTITY_MAX = 99_999
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP"})
SEARCH_PAGE_MAX = 100
DEACTIVATE_MAX = 20

# Products API error codes (Create Product, Get Attributes, Upload Product Image, ...)
CATEGORY_MISSING = 12052023
CATEGORY_NOT_LEAF = 12052024
CATEGORY_VERSION = 12052217
TITLE_LENGTH = 12052051
TITLE_EMPTY = 12052261
DESCRIPTION_REQUIRED = 12052015
DESCRIPTION_LONG = 12052013
IMAGE_REQUIRED = 12052028
IMAGE_URI = 12052300
IMAGES_TOO_MANY = 12052306
PROPERTY_REQUIRED = 12052104
CUSTOM_PROPERTY = 12052240
NOT_MULTIPLE = 12052246
NO_CUSTOM_VALUE = 12052247
VALUE_ID_UNKNOWN = 12052529
DUPLICATE_ATTRIBUTE = 12052254
CURRENCY = 12052084
PRICE_INVALID = 12052073
PRICE_FORMAT = 12052012
SELLER_SKU_LONG = 12052054
SELLER_SKU_TAKEN = 12052553
TOO_MANY_SKUS = 12052050
WAREHOUSE_NOT_OF_SHOP = 12052530
QUANTITY_LIMITS = 12052055
WEIGHT_INVALID = 12019011
WEIGHT_ZERO = 12052181
PRODUCT_NOT_FOUND = 12052048
TOO_MANY_IDS = 12019120
INVALID_INPUT = 12052910
SKU_NOT_IN_PRODUCT = 12052557
UPLOAD_INVALID = 12038002
UPLOAD_FORMAT = 12038004
UPLOAD_SIZE = 12038005
UPLOAD_DIMENSIONS = 12038014
UPLOAD_PARAM = 11050001
VERSION_MESSAGE = (
    "Incorrect category version. For US shops or global sellers with an active US shop, specify "
    "'category version=v2'. For shops in other regions specify 'category_version=v1'."
)
NOT_LISTED = "You cannot edit the specified product(s) as it isn't listed in your account or shop."


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    parent_id: str = "0"
    leaf: bool = False
    #: Get Attributes entries (leaves only)
    attributes: tuple[Mapping[str, Any], ...] = ()
    package_dimension_required: bool = False


def _attribute(
    id_: str,
    name: str,
    values: Sequence[tuple[str, str]] = (),
    *,
    required: bool = False,
    multiple: bool = False,
    customizable: bool = False,
    sales: bool = False,
) -> Mapping[str, Any]:
    raw: dict[str, Any] = {
        "id": id_,
        "name": name,
        "type": "SALES_PROPERTY" if sales else "PRODUCT_PROPERTY",
        "values": [{"id": vid, "name": vname} for vid, vname in values],
    }
    if not sales:
        raw.update(is_requried=required, is_multiple_selection=multiple, is_customizable=customizable)
    return raw


_BOTTLE_ATTRIBUTES = (
    _attribute(
        "100347",
        "Material",
        [("1000058", "Stainless Steel"), ("1000059", "Plastic"), ("1000060", "Glass")],
        required=True,
    ),
    _attribute(
        "101395",
        "Country of Origin",
        [("1002201", "China"), ("1002202", "United States"), ("1002203", "Malaysia")],
        required=True,
    ),
    _attribute("100392", "Occasion", [("1001533", "Birthday"), ("1001534", "Travel")], multiple=True),
    _attribute("101400", "Capacity", customizable=True),
    _attribute("100000", "Color", [("1000001", "Red"), ("1000002", "Blue")], sales=True),
)
_CASE_ATTRIBUTES = (
    _attribute(
        "100701",
        "Compatible Phone Models",
        [("1003001", "iPhone 15"), ("1003002", "Galaxy S24")],
        required=True,
    ),
)
#: one small tree serves every market (and both category versions)
CATEGORIES: Mapping[str, Category] = {
    c.id: c
    for c in (
        Category("600001", "Home Supplies"),
        Category("600024", "Kitchenware", "600001"),
        Category(SAMPLE_CATEGORY, "Water Bottles", "600024", True, _BOTTLE_ATTRIBUTES),
        Category("853016", "Storage Jars", "600024", True, (_BOTTLE_ATTRIBUTES[0],), True),
        Category("824328", "Phones & Electronics"),
        Category("824584", "Phone Accessories", "824328"),
        Category("909448", "Phone Cases", "824584", True, _CASE_ATTRIBUTES),
    )
}


@dataclass
class Content:
    """What a product shows besides its SKUs (which live in ``Shop.products``)."""

    shop_id: str
    title: str
    description: str
    category_id: str
    images: list[str]
    attributes: list[dict[str, Any]]
    package_weight: dict[str, Any]
    package_dimensions: dict[str, Any] | None = None
    brand_id: str | None = None
    create_time: int = 0
    update_time: int = 0
    history: list[str] = field(default_factory=list)  #: titles it had, oldest first


class TikTokListings:
    """Listing content of the emulator's shops."""

    def __init__(self, emulator: TikTokShopEmulator) -> None:
        self.emu = emulator
        #: uri -> (shop id, image bytes, width, height)
        self.images: dict[str, tuple[str, bytes, int, int]] = {}
        self.content: dict[str, Content] = {}  # product id -> content
        #: (method, path, parsed body) of the content calls answered, oldest first (uploads:
        #: their form fields and the file's name and size), for tests of the wire format
        self.calls: list[tuple[str, str, Any]] = []

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/product/202309/categories", self.categories),
            ("POST", "/product/202309/images/upload", self.upload_image),
            ("POST", "/product/202309/products", self.create_product),
            ("POST", "/product/202309/products/listing_check", self.listing_check),
            ("POST", "/product/202309/products/search", self.search_products),
            ("POST", "/product/202309/products/deactivate", self.deactivate),
        ]

    def pattern_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"/product/202309/categories/([^/]+)/attributes", self.attributes),
            ("GET", r"/product/202309/categories/([^/]+)/rules", self.rules),
            ("PUT", r"/product/202309/products/([^/]+)", self.edit_product),
            ("GET", IMAGE_PATH + r"(.+)", self.image_file),
        ]

    # ------------------------------------------------------------------ helpers for tests

    def live_listing(self, shop: Shop, sku: str) -> dict[str, Any] | None:
        found = self.emu.find_sku(shop, sku)
        if found is None:
            return None
        product_id = found[0]
        status = shop.product_status.get(product_id, "ACTIVATE")
        content = self.content.get(product_id)
        if content is None:
            return {
                "title": f"Product {product_id}",
                "category_id": None,
                "attributes": {},
                "images": 0,
                "active": status == "ACTIVATE",
            }
        return {
            "title": content.title,
            "category_id": content.category_id,
            "attributes": self._attribute_names(content),
            "images": len(content.images),
            "active": status == "ACTIVATE",
            "product_id": product_id,
            "status": status,
            "description": content.description,
        }

    def _attribute_names(self, content: Content) -> dict[str, Any]:
        category = CATEGORIES.get(content.category_id)
        multiple = {
            str(a["id"]) for a in (category.attributes if category else ()) if a.get("is_multiple_selection")
        }
        out: dict[str, Any] = {}
        for attribute in content.attributes:
            names = [str(v["name"]) for v in attribute["values"]]
            out[attribute["id"]] = names if attribute["id"] in multiple else names[0]
        return out

    # ------------------------------------------------------------------ categories

    def _version_problem(self, shop: Shop, version: str | None) -> Reply | None:
        wanted = "v2" if shop.region == "US" else "v1"
        if (version or "v1") != wanted:
            return self.emu._fail(
                CATEGORY_VERSION,
                VERSION_MESSAGE,
            )
        return None

    async def categories(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        refused = self._version_problem(shop, request.query.get("category_version"))
        if refused:
            return refused
        keyword = request.query.get("keyword", "").casefold()
        return self.emu._ok(
            {
                "categories": [
                    {
                        "id": c.id,
                        "parent_id": c.parent_id,
                        "local_name": c.name,
                        "is_leaf": c.leaf,
                        "permission_statuses": ["AVAILABLE"],
                    }
                    for c in CATEGORIES.values()
                    if keyword in c.name.casefold()
                ]
            }
        )

    def _leaf(self, request: Request, category_id: str) -> tuple[Shop, Category] | Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        refused = self._version_problem(shop, request.query.get("category_version"))
        if refused:
            return refused
        category = CATEGORIES.get(category_id)
        if category is None:
            return self.emu._fail(CATEGORY_MISSING, "Category does not exist")
        if not category.leaf:
            return self.emu._fail(CATEGORY_NOT_LEAF, "Category is not final category")
        return shop, category

    async def attributes(self, request: Request) -> Reply:
        found = self._leaf(request, request.args[0])
        if isinstance(found, Reply):
            return found
        return self.emu._ok({"attributes": [dict(a) for a in found[1].attributes]})

    async def rules(self, request: Request) -> Reply:
        found = self._leaf(request, request.args[0])
        if isinstance(found, Reply):
            return found
        category = found[1]
        return self.emu._ok(
            {
                "product_certifications": [],
                "size_chart": {"is_supported": False, "is_required": False},
                "cod": {"is_supported": found[0].region in ("ID", "MY", "PH", "TH", "VN")},
                "package_dimension": {"is_required": category.package_dimension_required},
                "epr": {"is_required": False},
                "responsible_person": {"is_required": False},
                "manufacturer": {"is_required": False},
            }
        )

    # ------------------------------------------------------------------ images

    async def upload_image(self, request: Request) -> Reply:
        """Upload Product Image: multipart ``data`` (the file) and ``use_case``; no
        shop_cipher. JPEG, PNG, WEBP or BMP up to 10 MB, 100..20,000 px a side (300..4,000
        for MAIN_IMAGE)."""
        shop = self.emu._check(request, shop_level=False)
        if isinstance(shop, Reply):
            return shop
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return self.emu._fail(
                UPLOAD_INVALID, "Invalid upload file. Please ensure you are passing the correct file data."
            )
        parts = _multipart(ctype, request.body)
        self.calls.append(
            (
                "POST",
                request.path,
                {k: (v.decode() if k != "data" else len(v)) for k, v in parts.items()},
            )
        )
        data = parts.get("data")
        use_case = parts.get("use_case", b"MAIN_IMAGE").decode() or "MAIN_IMAGE"
        if use_case not in (
            "MAIN_IMAGE",
            "ATTRIBUTE_IMAGE",
            "DESCRIPTION_IMAGE",
            "CERTIFICATION_IMAGE",
            "SIZE_CHART_IMAGE",
        ):
            return self.emu._fail(UPLOAD_PARAM, "invalid param: use_case")
        if not data:
            return self.emu._fail(
                UPLOAD_INVALID, "Invalid upload file. Please ensure you are passing the correct file data."
            )
        if len(data) > IMAGE_MAX_BYTES:
            return self.emu._fail(UPLOAD_SIZE, "The file size exceeds the maximum allowed size.")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as picture:
                kind, (width, height) = picture.format, picture.size
        except (UnidentifiedImageError, OSError):
            return self.emu._fail(
                UPLOAD_FORMAT, "Failed to process the image. The format or content is not supported."
            )
        if kind not in IMAGE_FORMATS:
            return self.emu._fail(
                UPLOAD_FORMAT, "Failed to process the image. The format or content is not supported."
            )
        low, high = (300, 4000) if use_case == "MAIN_IMAGE" else (100, 20000)
        if not (low <= width <= high and low <= height <= high):
            return self.emu._fail(
                UPLOAD_DIMENSIONS,
                f"The image dimensions exceed the allowed limits. Allowed dimensions (width x height in "
                f"pixels): {low} x {low} to {high} x {high}",
            )
        uri = f"tos-emulated-i-{shop.region.lower()}/{secrets.token_hex(16)}"
        self.images[uri] = (shop.shop_id, data, width, height)
        return self.emu._ok(
            {
                "uri": uri,
                "url": self._url(request, uri),
                "width": width,
                "height": height,
                "use_case": use_case,
            }
        )

    @staticmethod
    def _url(request: Request, uri: str) -> str:
        host = request.headers.get("host", "127.0.0.1")
        return f"http://{host}{IMAGE_PATH}{uri}"

    async def image_file(self, request: Request) -> Reply:
        found = self.images.get(request.args[0])
        if found is None:
            return Reply(404, b"", {"content-type": "text/plain"})
        return Reply(200, found[1], {"content-type": "image/jpeg"})

    # ------------------------------------------------------------------ create, edit, check

    def _problems(
        self, shop: Shop, body: Any, product_id: str | None, *, check_duplicates: bool = True
    ) -> list[tuple[int, str]]:
        """Every reason TikTok would refuse this Create / Edit Product body."""
        if not isinstance(body, dict):
            return [(INVALID_INPUT, "Invalid input parameters: the body must be a JSON object.")]
        problems: list[tuple[int, str]] = []
        title = body.get("title")
        shortest = 1 if shop.region in ("US", "GB") else 25
        if not isinstance(title, str) or not title.strip():
            problems.append((TITLE_EMPTY, "product name is empty"))
        elif not shortest <= len(title) <= TITLE_MAX:
            problems.append((TITLE_LENGTH, "The product name exceed max limit characters"))
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            problems.append((DESCRIPTION_REQUIRED, "The product description is required"))
        elif len(description) > DESCRIPTION_MAX:
            problems.append((DESCRIPTION_LONG, "The product description cannot exceed maximum characters"))
        wanted = "v2" if shop.region == "US" else "v1"
        category = CATEGORIES.get(str(body.get("category_id") or ""))
        if (body.get("category_version") or "v1") != wanted:
            problems.append(
                (
                    CATEGORY_VERSION,
                    VERSION_MESSAGE,
                )
            )
        if category is None:
            problems.append((CATEGORY_MISSING, "Category does not exist"))
        elif not category.leaf:
            problems.append((CATEGORY_NOT_LEAF, "Category is not final category"))
        problems += self._image_problems(shop, body.get("main_images"))
        if category is not None and category.leaf:
            problems += self._attribute_problems(category, body.get("product_attributes"))
        problems += self._sku_problems(shop, body.get("skus"), product_id, check_duplicates)
        weight = body.get("package_weight")
        if not isinstance(weight, dict) or weight.get("unit") not in (
            ("KILOGRAM", "POUND") if shop.region == "US" else ("KILOGRAM",)
        ):
            problems.append((WEIGHT_INVALID, "product package weight is invalid"))
        else:
            try:
                value = Decimal(str(weight.get("value")))
            except InvalidOperation:
                value = Decimal("NaN")
            if not value.is_finite() or value < 0:
                problems.append((WEIGHT_INVALID, "product package weight is invalid"))
            elif value == 0:
                problems.append((WEIGHT_ZERO, "The package weight of the product can not be zero."))
        if (
            category is not None
            and category.package_dimension_required
            and not isinstance(body.get("package_dimensions"), dict)
        ):
            problems.append((12019012, "product package size is invalid"))
        return problems

    def _image_problems(self, shop: Shop, images: Any) -> list[tuple[int, str]]:
        if not isinstance(images, list) or not images:
            return [(IMAGE_REQUIRED, "Main product image is required")]
        if len(images) > IMAGES_MAX:
            return [(IMAGES_TOO_MANY, "main product images count exceed limit")]
        for image in images:
            uri = image.get("uri") if isinstance(image, dict) else None
            issued = self.images.get(str(uri))
            if issued is None or issued[0] != shop.shop_id:
                return [(IMAGE_URI, "product main image uri illegal")]
        return []

    def _attribute_problems(self, category: Category, given: Any) -> list[tuple[int, str]]:
        problems: list[tuple[int, str]] = []
        known = {str(a["id"]): a for a in category.attributes if a["type"] == "PRODUCT_PROPERTY"}
        seen: set[str] = set()
        for entry in given if isinstance(given, list) else []:
            if not isinstance(entry, dict) or not entry.get("id"):
                problems.append((12052241, "attribute name or attribute id is empty."))
                continue
            key = str(entry["id"])
            attribute = known.get(key)
            if attribute is None:
                problems.append((CUSTOM_PROPERTY, f"Do not support custom property. attribute id is :{key}"))
                continue
            if key in seen:
                problems.append((DUPLICATE_ATTRIBUTE, f"Duplicate attribute id: {key}"))
                continue
            seen.add(key)
            values = entry.get("values")
            if not isinstance(values, list) or not values:
                problems.append(
                    (
                        12052248,
                        f"The product attribute value name or value id is empty, attribute id is :{key}",
                    )
                )
                continue
            if len(values) > 1 and not attribute.get("is_multiple_selection"):
                problems.append(
                    (
                        NOT_MULTIPLE,
                        f"The product attribute not support multi selected, attribute id is :{key}.",
                    )
                )
            offered = {str(v["id"]): str(v["name"]) for v in attribute["values"]}
            for value in values:
                if not isinstance(value, dict):
                    continue
                if value.get("id"):
                    if str(value["id"]) not in offered:
                        problems.append(
                            (VALUE_ID_UNKNOWN, f"The property value id not exist. attribute id is :{key}")
                        )
                elif not attribute.get("is_customizable") and str(value.get("name")) not in offered.values():
                    problems.append(
                        (NO_CUSTOM_VALUE, f"Do not support custom product attribute. attribute id is :{key}")
                    )
        for key, attribute in known.items():
            if attribute.get("is_requried") and key not in seen:
                problems.append(
                    (PROPERTY_REQUIRED, f"property is required: attribute id {key} ({attribute['name']})")
                )
        return problems

    def _sku_problems(
        self, shop: Shop, skus: Any, product_id: str | None, check_duplicates: bool
    ) -> list[tuple[int, str]]:
        if not isinstance(skus, list) or not skus or not all(isinstance(s, dict) for s in skus):
            return [
                (
                    12052902,
                    "The SKU list is empty. Either omit the list entirely, or provide all required details.",
                )
            ]
        if len(skus) > (300 if shop.region in ("US", "GB") else 100):
            return [(TOO_MANY_SKUS, "A single product cannot have more than 100 different SKUs")]
        problems: list[tuple[int, str]] = []
        mine = shop.products.get(product_id or "", {})
        names: list[str] = []
        for entry in skus:
            if entry.get("id") and str(entry["id"]) not in mine:
                problems.append(
                    (SKU_NOT_IN_PRODUCT, f"The SKU ID {entry['id']} does not belong to the product.")
                )
            seller_sku = entry.get("seller_sku")
            if seller_sku is not None:
                if not isinstance(seller_sku, str) or not 1 <= len(seller_sku) <= 50 or " " in seller_sku:
                    problems.append(
                        (SELLER_SKU_LONG, "The seller SKU text length cannot exceed max limit characters")
                    )
                else:
                    names.append(seller_sku)
            price = entry.get("price")
            kept = bool(entry.get("id")) and str(entry["id"]) in mine
            if kept and price is None:
                pass  # Edit Product: an omitted price stays as it is
            elif not isinstance(price, dict):
                problems.append((INVALID_INPUT, "Invalid input parameters: skus[].price is required."))
            else:
                if price.get("currency") != shop.spec.currency:
                    problems.append(
                        (CURRENCY, "The provided currency is not available for this shop/region.")
                    )
                try:
                    amount = Decimal(str(price.get("amount")))
                except InvalidOperation:
                    amount = Decimal("NaN")
                if not amount.is_finite():
                    problems.append((PRICE_FORMAT, "Incorrect price format"))
                elif amount <= 0 or -amount.as_tuple().exponent > shop.spec.exponent:  # type: ignore[operator]
                    problems.append((PRICE_INVALID, "The product price is invalid"))
            levels = entry.get("inventory")
            if kept and levels is None:
                continue  # an omitted inventory stays as it is
            if not isinstance(levels, list) or not levels:
                problems.append((12052486, "Inventory is required for all SKUs."))
                continue
            for level in levels:
                warehouse = level.get("warehouse_id") if isinstance(level, dict) else None
                if str(warehouse) not in shop.warehouses:
                    problems.append(
                        (
                            WAREHOUSE_NOT_OF_SHOP,
                            f"The warehouse ' {warehouse} ' does not belong to this shop/seller.",
                        )
                    )
                    continue
                quantity = level.get("quantity", 0)
                if (
                    isinstance(quantity, bool)
                    or not isinstance(quantity, int)
                    or not 0 <= quantity <= QUANTITY_MAX
                ):
                    problems.append(
                        (
                            QUANTITY_LIMITS,
                            "The SKU inventory quantity for the warehouse must be within allowed limits.",
                        )
                    )
        if len(set(names)) != len(names):
            problems.append((SELLER_SKU_TAKEN, "Sku id duplicate: a seller SKU is listed twice"))
        if check_duplicates:
            for name in names:
                held = self.emu.find_sku(shop, name)
                if held is not None and held[0] != product_id:
                    problems.append(
                        (
                            SELLER_SKU_TAKEN,
                            f"Sku id duplicate: seller_sku {name} is used by product {held[0]}",
                        )
                    )
        return problems

    def _body(self, request: Request) -> Any:
        try:
            body = request.json() if request.body else {}
        except ValueError:
            body = None
        self.calls.append((request.method, request.path, body))
        return body

    async def listing_check(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        problems = self._problems(shop, self._body(request), None, check_duplicates=False)
        if problems:
            return self.emu._ok(
                {
                    "check_result": "FAILED",
                    "fail_reasons": [{"code": code, "message": message} for code, message in problems],
                    "warnings": {"message": "Your product will not be sent for review."},
                }
            )
        return self.emu._ok({"check_result": "PASS", "fail_reasons": []})

    async def create_product(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        body = self._body(request)
        problems = self._problems(shop, body, None)
        if problems:
            return self.emu._fail(*problems[0])
        if any(s.get("id") for s in body["skus"]):
            return self.emu._fail(INVALID_INPUT, "Invalid input parameters: a new product's SKUs have no id.")
        product_id = self.emu._next_id(1729)
        shop.products[product_id] = {}
        skus = self._store(shop, product_id, body)
        shop.product_status[product_id] = "ACTIVATE"
        return self.emu._ok({"product_id": product_id, "skus": skus, "warnings": []})

    async def edit_product(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        (product_id,) = request.args
        if product_id not in shop.products or shop.product_status.get(product_id) == "DELETED":
            return self.emu._fail(
                PRODUCT_NOT_FOUND,
                NOT_LISTED,
            )
        body = self._body(request)
        problems = self._problems(shop, body, product_id)
        if problems:
            return self.emu._fail(*problems[0])
        skus = self._store(shop, product_id, body)
        return self.emu._ok({"product_id": product_id, "skus": skus, "warnings": []})

    def _store(self, shop: Shop, product_id: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Save a body that passed the checks: the content, and the SKUs it lists (an edit
        drops the SKUs it leaves out, keeps a SKU's stock unless it sends quantities)."""
        now = int(self.emu.clock())
        category = CATEGORIES[str(body["category_id"])]
        offered = {
            str(a["id"]): {str(v["id"]): str(v["name"]) for v in a["values"]} for a in category.attributes
        }
        attributes = [
            {
                "id": str(a["id"]),
                "name": next(str(x["name"]) for x in category.attributes if str(x["id"]) == str(a["id"])),
                "values": [
                    {"id": str(v["id"]), "name": offered[str(a["id"])][str(v["id"])]}
                    if v.get("id")
                    else {"id": self.emu._next_id(7000), "name": str(v["name"])}
                    for v in a["values"]
                ],
            }
            for a in body.get("product_attributes") or []
        ]
        old = self.content.get(product_id)
        self.content[product_id] = Content(
            shop_id=shop.shop_id,
            title=str(body["title"]),
            description=str(body["description"]),
            category_id=category.id,
            images=[str(i["uri"]) for i in body["main_images"]],
            attributes=attributes,
            package_weight=dict(body["package_weight"]),
            package_dimensions=dict(body["package_dimensions"]) if body.get("package_dimensions") else None,
            brand_id=str(body["brand_id"]) if body.get("brand_id") else None,
            create_time=old.create_time if old else now,
            update_time=now,
            history=[*(old.history if old else []), str(body["title"])],
        )
        before = shop.products.get(product_id, {})
        after: dict[str, dict[str, Any]] = {}
        answer = []
        for entry in body["skus"]:
            sku_id = str(entry.get("id") or self.emu._next_id(1730))
            kept = before.get(sku_id)
            levels = {str(lv["warehouse_id"]): lv.get("quantity") for lv in entry.get("inventory") or []}
            stock = dict(kept["stock"]) if kept else {}
            for warehouse, quantity in levels.items():
                if quantity is not None or warehouse not in stock:
                    stock[warehouse] = int(quantity or 0)
            after[sku_id] = {
                "sku": str(entry.get("seller_sku") or (kept or {}).get("sku") or sku_id),
                "stock": stock,
                "price": (
                    str(Decimal(str(entry["price"]["amount"])))
                    if entry.get("price")
                    else (kept or {}).get("price")
                ),
            }
            answer.append({"id": sku_id, "seller_sku": after[sku_id]["sku"]})
        shop.products[product_id] = after
        return answer

    def detail(self, shop: Shop, product_id: str, base: dict[str, Any], request: Request) -> dict[str, Any]:
        """Get Product with the product's content, when it was listed through the API."""
        content = self.content.get(product_id)
        if content is None:
            return base
        category = CATEGORIES[content.category_id]
        chain: list[dict[str, Any]] = []
        node: Category | None = category
        while node is not None:
            chain.insert(
                0, {"id": node.id, "parent_id": node.parent_id, "local_name": node.name, "is_leaf": node.leaf}
            )
            node = CATEGORIES.get(node.parent_id)
        images = []
        for uri in content.images:
            _, _, width, height = self.images[uri]
            url = self._url(request, uri)
            images.append({"uri": uri, "urls": [url], "thumb_urls": [url], "width": width, "height": height})
        return {
            **base,
            "title": content.title,
            "description": content.description,
            "category_chains": chain,
            "main_images": images,
            "product_attributes": content.attributes,
            "package_weight": content.package_weight,
            **({"package_dimensions": content.package_dimensions} if content.package_dimensions else {}),
            **({"brand": {"id": content.brand_id, "name": ""}} if content.brand_id else {}),
            "create_time": content.create_time,
            "update_time": content.update_time,
        }

    # ------------------------------------------------------------------ search, deactivate

    async def search_products(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        try:
            size = int(request.query["page_size"])
        except (KeyError, ValueError):
            return self.emu._fail(INVALID_INPUT, "Invalid input parameters: page_size is required.")
        if not 1 <= size <= SEARCH_PAGE_MAX:
            return self.emu._fail(INVALID_INPUT, "Invalid input parameters: page_size must be 1 to 100.")
        body = self._body(request)
        if not isinstance(body, dict):
            return self.emu._fail(INVALID_INPUT, "Invalid input parameters: the body must be a JSON object.")
        wanted = body.get("seller_skus")
        status = body.get("status", "ALL")
        rows = []
        for product_id, skus in shop.products.items():
            state = shop.product_status.get(product_id, "ACTIVATE")
            if status != "ALL" and state != status:
                continue
            if status == "ALL" and state == "DELETED":
                continue
            if wanted and not any(e["sku"] in wanted for e in skus.values()):
                continue
            content = self.content.get(product_id)
            rows.append(
                {
                    "id": product_id,
                    "title": content.title if content else f"Product {product_id}",
                    "status": state,
                    "skus": [
                        {
                            "id": sku_id,
                            "seller_sku": e["sku"],
                            "price": {
                                "currency": shop.spec.currency,
                                "tax_exclusive_price": e["price"] or "0",
                            },
                            "inventory": [{"warehouse_id": w, "quantity": q} for w, q in e["stock"].items()],
                        }
                        for sku_id, e in skus.items()
                    ],
                    "create_time": content.create_time if content else 0,
                    "update_time": content.update_time if content else 0,
                }
            )
        start = int(request.query["page_token"]) if request.query.get("page_token", "").isdigit() else 0
        chunk = rows[start : start + size]
        following = start + size
        return self.emu._ok(
            {
                "products": chunk,
                "total_count": len(rows),
                "next_page_token": str(following) if following < len(rows) else "",
            }
        )

    async def deactivate(self, request: Request) -> Reply:
        shop = self.emu._check(request)
        if isinstance(shop, Reply):
            return shop
        body = self._body(request)
        ids = body.get("product_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return self.emu._fail(
                INVALID_INPUT, "Invalid input parameters. Refer to the API documentation for details."
            )
        if len(ids) > DEACTIVATE_MAX:
            return self.emu._fail(TOO_MANY_IDS, "The number of provided product IDs exceeds the limit.")
        errors = []
        for product_id in ids:
            state = shop.product_status.get(product_id)
            if product_id not in shop.products or state == "DELETED":
                errors.append(
                    {
                        "code": PRODUCT_NOT_FOUND,
                        "message": NOT_LISTED,
                        "detail": {"product_id": product_id},
                    }
                )
            elif state != "ACTIVATE":
                errors.append(
                    {
                        "code": 12052901,
                        "message": "The product in its current status is not available for this operation. "
                        "Change the product status and try again.",
                        "detail": {"product_id": product_id},
                    }
                )
            else:
                shop.product_status[product_id] = "SELLER_DEACTIVATED"
        return self.emu._ok({"errors": errors} if errors else {})


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The parts of a ``multipart/form-data`` body, by field name."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts: dict[str, bytes] = {}
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts
