"""The emulator's product side: Lazada's category tree and attributes, the image CDN and
products, refusing what Lazada refuses.

Served (GET or POST, signed, with a seller's token, like every seller API):
``/category/tree/get``, ``/category/attributes/get``, ``/image/upload`` (multipart
``image``), ``/image/migrate``, ``/product/create``, ``/product/update``,
``/product/item/get``, ``/products/get``, ``/product/deactivate``.

CreateProduct and UpdateProduct take the JSON ``payload`` (``{"Request": {"Product":
...}}``; XML, which Lazada also takes, is refused here with E005). A refused product is
answered with the generic code (500 create, 501 update) and ``detail``: one entry per
problem, ``{"field", "message", "code"}`` (the shape UpdatePriceQuantity documents; for
CreateProduct UNCONFIRMED). What is refused: a category Lazada does not have (E201) or that
is not a leaf (4134); a mandatory attribute missing (4110 BIZ_CHECK_CAT_PROP_MANDATORY,
normal ones under ``Attributes``, ``sku`` ones in each ``Sku``); a name over 255 characters
(4120); a single or multiple select value not among the options (4115); a number that is
not one (4107); no image (4139) or one not on the emulator's CDN, i.e. not uploaded or
migrated to it (4138 BIZ_CHECK_EXIST_OUTER_IMAGE); more than 8 images; a price that is not
above 0 or has too many decimals (4118, 4104); a SellerSku the seller has already, on create
(4105 BIZ_CHECK_SELLER_SKU_DUPLICATE).
"""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_lazada.emulator import LazadaEmulator, Seller

__all__ = ["ATTRIBUTES", "CATEGORY_TREE", "SAMPLE_CATEGORY", "ProductDesk", "multipart"]

NAME_MAX = 255
IMAGES_MAX = 8
IMAGE_MAX_BYTES = 3_145_728
IMAGE_MIN_PX = 330
SAMPLE_CATEGORY = "10002543"
CDN = "https://{site}-live-02.slatic.net/p/{digest}.jpg"

#: the tree GetCategoryTree answers (the same for every site; names in English)
CATEGORY_TREE: list[dict[str, Any]] = [
    {
        "category_id": 10000320,
        "name": "Sports & Outdoors",
        "leaf": False,
        "var": False,
        "children": [
            {
                "category_id": 10000385,
                "name": "Outdoor Recreation",
                "leaf": False,
                "var": False,
                "children": [
                    {"category_id": 10002543, "name": "Water Bottles", "leaf": True, "var": True},
                    {"category_id": 10002544, "name": "Camping Tents", "leaf": True, "var": True},
                ],
            }
        ],
    },
    {
        "category_id": 10000211,
        "name": "Mobiles & Tablets",
        "leaf": False,
        "var": False,
        "children": [{"category_id": 10002019, "name": "Smartphones", "leaf": True, "var": True}],
    },
]


def _attr(
    ident: int,
    name: str,
    label: str,
    input_type: str = "text",
    *,
    mandatory: bool = False,
    sku: bool = False,
    options: Sequence[str] = (),
    sale: bool = False,
) -> dict[str, Any]:
    return {
        "id": ident,
        "name": name,
        "label": label,
        "input_type": input_type,
        "is_mandatory": 1 if mandatory else 0,
        "attribute_type": "sku" if sku else "normal",
        "is_sale_prop": 1 if sale else 0,
        "advanced": {"is_key_prop": 0},
        "options": [{"id": i + 1, "name": o, "en_name": o} for i, o in enumerate(options)],
    }


_COMMON = [
    _attr(100005571, "name", "Name", mandatory=True),
    _attr(100005530, "description", "Long Description (Lorikeet)", "richText"),
    _attr(100005505, "short_description", "Short Description", "richText"),
    _attr(100005600, "brand", "Brand", "singleSelect", mandatory=True),
]
_SKU_FIELDS = [
    _attr(100006000, "SellerSku", "SellerSKU", mandatory=True, sku=True),
    _attr(100006001, "quantity", "Quantity", "numeric", sku=True),
    _attr(100006002, "price", "Price", "numeric", mandatory=True, sku=True),
    _attr(100006003, "special_price", "Special Price", "numeric", sku=True),
    _attr(100006010, "package_weight", "Package Weight (kg)", "numeric", mandatory=True, sku=True),
    _attr(100006011, "package_length", "Package Length (cm)", "numeric", mandatory=True, sku=True),
    _attr(100006012, "package_width", "Package Width (cm)", "numeric", mandatory=True, sku=True),
    _attr(100006013, "package_height", "Package Height (cm)", "numeric", mandatory=True, sku=True),
    _attr(40000, "__images__", "Images", "img", sku=True),
]
#: GetCategoryAttributes per leaf, in Lazada's shape
ATTRIBUTES: dict[str, list[dict[str, Any]]] = {
    "10002543": [
        *_COMMON,
        _attr(
            100006100,
            "warranty_type",
            "Warranty Type",
            "singleSelect",
            mandatory=True,
            options=("No Warranty", "Local seller warranty", "International Manufacturer Warranty"),
        ),
        _attr(
            100006101, "material", "Material", "enumInput", options=("Stainless Steel", "Plastic", "Glass")
        ),
        _attr(100006102, "capacity_ml", "Capacity (ml)", "numeric"),
        _attr(
            100006103, "Hazmat", "Dangerous Goods", "multiSelect", options=("None", "Battery", "Flammable")
        ),
        _attr(
            100006104,
            "color_family",
            "Color Family",
            "singleSelect",
            sku=True,
            sale=True,
            options=("Red", "Blue"),
        ),
        *_SKU_FIELDS,
    ],
    "10002544": [
        *_COMMON,
        _attr(100006200, "tent_capacity", "Capacity (persons)", "numeric", mandatory=True),
        *_SKU_FIELDS,
    ],
    "10002019": [
        *_COMMON,
        _attr(100006300, "model", "Model", mandatory=True),
        _attr(
            100006301,
            "warranty_type",
            "Warranty Type",
            "singleSelect",
            mandatory=True,
            options=("No Warranty", "Local seller warranty"),
        ),
        *_SKU_FIELDS,
    ],
}
_BRANCHES = {"10000320", "10000385", "10000211"}
#: filled by the gateway itself, not by the seller, even when the list says mandatory
_NOT_CHECKED = frozenset({"name", "brand", "SellerSku", "price"})
_SKU_KEYS = frozenset(
    {"SellerSku", "SkuId", "quantity", "price", "special_price", "Images", "saleProp", "Status"}
)


def multipart(request: Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """A multipart/form-data body's fields and files (by part name)."""
    kind = request.headers.get("content-type", "")
    if "multipart/form-data" not in kind:
        return {}, {}
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + kind.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + request.body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode()
    return fields, files


def _image_size(data: bytes) -> tuple[str, int, int] | None:
    """The format and size of a JPEG or PNG (Pillow, as the kit uses it), else None."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as picture:
            return str(picture.format), int(picture.width), int(picture.height)
    except Exception:
        return None


def _document(text: str) -> Mapping[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class ProductDesk:
    """Categories, the image CDN and the sellers' products."""

    def __init__(self, emulator: LazadaEmulator) -> None:
        self.em = emulator
        #: item_id -> {"_seller", "primary_category", "attributes", "images", "skus", "status"}
        self.products: dict[int, dict[str, Any]] = {}
        #: URLs on the emulator's CDN (uploaded or migrated)
        self.cdn: set[str] = set()
        self.uploads: list[bytes] = []
        #: every payload CreateProduct / UpdateProduct took: (path, the document)
        self.payloads: list[tuple[str, Mapping[str, Any]]] = []
        self._item_ids = 4_100_000_000
        for path, handler in (
            ("/category/tree/get", self._tree),
            ("/category/attributes/get", self._attributes),
            ("/image/upload", self._upload),
            ("/image/migrate", self._migrate),
            ("/product/create", self._create),
            ("/product/update", self._update),
            ("/product/item/get", self._item_get),
            ("/products/get", self._products_get),
            ("/product/deactivate", self._deactivate),
        ):
            emulator.route("GET", path, handler)
            emulator.route("POST", path, handler)

    def _checked(self, request: Request) -> tuple[dict[str, str], Seller] | Reply:
        checked = self.em._check(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        assert seller is not None
        return params, seller

    # ------------------------------------------------------------ categories

    async def _tree(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        return self.em._ok(data=json.loads(json.dumps(CATEGORY_TREE)))

    async def _attributes(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, _ = checked
        category = params.get("primary_category_id", "")
        if not category:
            return self.em._fail("1", "E001: Parameter primary_category_id is mandatory")
        if category in _BRANCHES:
            # a branch has no attribute set (UNCONFIRMED: the code Lazada gives a branch)
            return self.em._fail("57", "E057: No attribute sets linked to that category.")
        if category not in ATTRIBUTES:
            return self.em._fail("4227", "Query category is null", "ISP")
        return self.em._ok(data=json.loads(json.dumps(ATTRIBUTES[category])))

    # ------------------------------------------------------------ images

    def _cdn_url(self, seller: Seller, digest: str) -> str:
        url = CDN.format(site=seller.site.lower(), digest=digest)
        self.cdn.add(url)
        return url

    async def _upload(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        _, seller = checked
        _, files = multipart(request)
        data = files.get("image")
        if not data:
            return self.em._fail("30", "E030: Empty Request")
        if len(data) > IMAGE_MAX_BYTES:
            return self.em._fail("303", "E303: The image is too large")
        size = _image_size(data)
        if size is None or size[0] not in ("JPEG", "PNG"):
            return self.em._fail("300", "E300: Upload Image Failed", "ISP")
        if min(size[1], size[2]) < IMAGE_MIN_PX:
            return self.em._fail("300", f"E300: Upload Image Failed: under {IMAGE_MIN_PX} px a side", "ISP")
        self.uploads.append(data)
        digest = hashlib.md5(data).hexdigest()
        return self.em._ok(data={"image": {"hash_code": digest, "url": self._cdn_url(seller, digest)}})

    async def _migrate(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        payload = params.get("payload", "")
        url = ""
        document = _document(payload)
        if document is not None:
            url = str(((document.get("Request") or {}).get("Image") or {}).get("Url") or "")
        else:
            try:
                url = ET.fromstring(payload).findtext("Image/Url") or ""
            except ET.ParseError:
                return self.em._fail("5", "E005: Invalid Request Format")
        if not url.startswith(("http://", "https://")):
            return self.em._fail("302", "Not supported URL")
        digest = hashlib.md5(url.encode()).hexdigest()
        return self.em._ok(data={"image": {"hash_code": digest, "url": self._cdn_url(seller, digest)}})

    # ------------------------------------------------------------ products

    def _payload(self, params: Mapping[str, str]) -> Mapping[str, Any] | Reply:
        text = params.get("payload", "")
        if not text.strip():
            return self.em._fail("30", "E030: Empty Request")
        document = _document(text)
        if document is None:
            return self.em._fail("5", "E005: Invalid Request Format (the emulator takes the JSON payload)")
        product = (document.get("Request") or {}).get("Product")
        if not isinstance(product, Mapping):
            return self.em._fail("1001", "The parameters are not in JSON format")
        skus = (product.get("Skus") or {}).get("Sku")
        images = product.get("Images")
        if (
            not isinstance(skus, list)
            or not skus
            or (images is not None and not isinstance(images.get("Image"), list))
        ):
            # "the Images.Image field must be of array type ... the same applies to Skus.Sku"
            return self.em._fail("1001", "The parameters are not in JSON format")
        return product

    def _problems(
        self, seller: Seller, product: Mapping[str, Any], category: str, *, creating: bool
    ) -> list[dict[str, str]]:
        problems: list[dict[str, str]] = []

        def refuse(code: str, field: str, message: str) -> None:
            problems.append({"code": code, "field": field, "message": message})

        attributes = product.get("Attributes") or {}
        skus = [s for s in (product.get("Skus") or {}).get("Sku") or [] if isinstance(s, Mapping)]
        rules = ATTRIBUTES[category]
        name = str(attributes.get("name") or "")
        if creating and not name.strip():
            refuse("4110", "name", "BIZ_CHECK_CAT_PROP_MANDATORY: name is mandatory")
        if len(name) > NAME_MAX:
            refuse("4120", "name", f"CHK_CATPROP_CPV_MAX_LEGNTH: name is longer than {NAME_MAX} characters")
        for rule in rules:
            key, sku_level = rule["name"], rule["attribute_type"] == "sku"
            if key in _NOT_CHECKED or rule["input_type"] == "img":
                continue
            holders = skus if sku_level else [attributes]
            for holder in holders:
                value = holder.get(key)
                if value in (None, ""):
                    if rule["is_mandatory"] and creating:
                        refuse("4110", key, f"BIZ_CHECK_CAT_PROP_MANDATORY: {key} is mandatory")
                    continue
                options = {o["en_name"] for o in rule["options"]}
                if rule["input_type"] == "singleSelect" and str(value) not in options:
                    refuse("4115", key, f"CHK_CATPROP_CPV_NOT_ENUM: {value} is not an option of {key}")
                elif (
                    rule["input_type"] == "multiSelect"
                    and not {v.strip() for v in str(value).split(",")} <= options
                ):
                    refuse("4115", key, f"CHK_CATPROP_CPV_NOT_ENUM: {value} are not options of {key}")
                elif rule["input_type"] == "numeric" and _decimal(value) is None:
                    refuse("4107", key, f"CHECK_CAT_PROP_INVALID_NUMBER: {key} is not a number")
        product_images = list((product.get("Images") or {}).get("Image") or [])
        for sku in skus:
            seller_sku = str(sku.get("SellerSku") or "")
            if creating and not seller_sku:
                refuse("200", "SellerSku", "E200: Empty SellerSku")
            elif creating and seller_sku in seller.skus:
                refuse("4105", "SellerSku", f"BIZ_CHECK_SELLER_SKU_DUPLICATE: {seller_sku}")
            price = sku.get("price")
            if price in (None, ""):
                if creating:
                    refuse("4110", "price", "BIZ_CHECK_CAT_PROP_MANDATORY: price is mandatory")
            else:
                from crossdock_lazada.emulator import SITES, _price_problem

                problem = _price_problem(str(price), SITES[seller.site][0])
                if problem:
                    code = "4104" if "PRECISION" in problem else "4118"
                    refuse(code, "price", problem)
            images = product_images + list((sku.get("Images") or {}).get("Image") or [])
            if creating and not images:
                refuse("4139", "Images", "BIZ_CHECK_MAIN_IMAGE_REQUIRE: Main image is require")
            if len(set(images)) > IMAGES_MAX * 2 or len(product_images) > IMAGES_MAX:
                refuse("500", "Images", f"at most {IMAGES_MAX} images")
            outer = [u for u in images if u not in self.cdn]
            if outer:
                refuse("4138", "Images", f"BIZ_CHECK_EXIST_OUTER_IMAGE: {outer[0]} is not a Lazada image")
        return problems

    def _category(self, product: Mapping[str, Any]) -> str | Reply:
        category = str(product.get("PrimaryCategory") or "")
        if category in _BRANCHES:
            return self.em._fail("4134", "Please select the last level category.")
        if category not in ATTRIBUTES:
            return self.em._fail("201", f"E201: {category} Invalid CategoryId")
        return category

    def _refused(self, code: str, message: str, problems: list[dict[str, str]]) -> Reply:
        return self.em._fail(code, message, "ISV", detail=problems)

    async def _create(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        product = self._payload(params)
        if isinstance(product, Reply):
            return product
        category = self._category(product)
        if isinstance(category, Reply):
            return category
        problems = self._problems(seller, product, category, creating=True)
        if problems:
            return self._refused("500", "E500: Create product failed", problems)
        self.payloads.append(("/product/create", product))
        self._item_ids += 11
        item_id = self._item_ids
        stored: dict[str, Any] = {
            "_seller": seller.seller_id,
            "item_id": item_id,
            "primary_category": category,
            "attributes": dict(product.get("Attributes") or {}),
            "images": list((product.get("Images") or {}).get("Image") or []),
            "skus": [],
            "status": "Active",
        }
        sku_list = []
        for sku in product["Skus"]["Sku"]:
            sku_id = self.em._next_id()
            row = {k: v for k, v in sku.items() if k not in ("Images",)}
            row.update(
                SellerSku=str(sku["SellerSku"]),
                SkuId=sku_id,
                Status="active",
                Images=list((sku.get("Images") or {}).get("Image") or []),
            )
            stored["skus"].append(row)
            seller.skus[row["SellerSku"]] = {
                "item_id": item_id,
                "sku_id": sku_id,
                "quantity": int(_decimal(sku.get("quantity")) or 0),
                "price": _decimal(sku.get("price")),
            }
            sku_list.append(
                {
                    "seller_sku": row["SellerSku"],
                    "sku_id": str(sku_id),
                    "shop_sku": f"{item_id}_{seller.site}-{sku_id}",
                }
            )
        self.products[item_id] = stored
        return self.em._ok(data={"item_id": str(item_id), "sku_list": sku_list, "item_status": "Active"})

    def _adopt(self, seller: Seller) -> None:
        """Products the seller has from the order side (``add_sku``: listed outside this
        catalogue, as a shop's existing products are) become catalogue products too, with a
        bare content (their SKU as the name), so GetProductItem, GetProducts and UpdateProduct
        know them as Lazada does."""
        held = {(p["item_id"], r["SellerSku"]) for p in self.products.values() for r in p["skus"]}
        for seller_sku, known in seller.skus.items():
            if (known["item_id"], seller_sku) in held:
                continue
            stored = self.products.setdefault(
                known["item_id"],
                {
                    "_seller": seller.seller_id,
                    "item_id": known["item_id"],
                    "primary_category": SAMPLE_CATEGORY,
                    "attributes": {"name": seller_sku},
                    "images": [],
                    "skus": [],
                    "status": "Active",
                },
            )
            stored["skus"].append(
                {"SellerSku": seller_sku, "SkuId": known["sku_id"], "Status": "active", "Images": []}
            )

    def _own(self, seller: Seller, item_id: Any) -> dict[str, Any] | None:
        self._adopt(seller)
        try:
            product = self.products.get(int(str(item_id)))
        except ValueError:
            return None
        return product if product is not None and product["_seller"] == seller.seller_id else None

    async def _update(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        product = self._payload(params)
        if isinstance(product, Reply):
            return product
        stored = self._own(seller, product.get("ItemId"))
        if stored is None:
            return self.em._fail("4137", "ITEM_NOT_FOUND: the item id does not exist in this store")
        category: str | Reply = stored["primary_category"]
        if product.get("PrimaryCategory"):
            category = self._category(product)
            if isinstance(category, Reply):
                return category
        assert isinstance(category, str)
        rows = {}
        for sku in product["Skus"]["Sku"]:
            row = next((r for r in stored["skus"] if str(r["SkuId"]) == str(sku.get("SkuId"))), None)
            if row is None:
                return self.em._fail("207", "SKU not exist")
            rows[id(sku)] = row
        problems = self._problems(seller, product, category, creating=False)
        if problems:
            return self._refused("501", "E501: Update product failed", problems)
        self.payloads.append(("/product/update", product))
        stored["primary_category"] = category
        stored["attributes"].update(product.get("Attributes") or {})
        if product.get("Images"):
            stored["images"] = list(product["Images"]["Image"])
        for sku in product["Skus"]["Sku"]:
            row = rows[id(sku)]
            for key, value in sku.items():
                if key == "Images":
                    row["Images"] = list((value or {}).get("Image") or [])
                elif key not in ("SkuId", "SellerSku"):
                    row[key] = value
            known = seller.skus.get(row["SellerSku"])
            if known is not None:
                if "price" in sku:
                    known["price"] = _decimal(sku["price"])
                if "quantity" in sku:
                    known["quantity"] = int(_decimal(sku["quantity"]) or 0)
        return self.em._ok(data={"item_status": stored["status"]})

    def _public(self, seller: Seller, stored: Mapping[str, Any]) -> dict[str, Any]:
        skus = []
        for row in stored["skus"]:
            known = seller.skus.get(row["SellerSku"]) or {}
            public = {k: v for k, v in row.items() if not k.startswith("_")}
            public["Images"] = list(row["Images"]) + [""] * (IMAGES_MAX - len(row["Images"]))
            if known.get("price") is not None:
                public["price"] = float(known["price"])
            public["quantity"] = known.get("quantity", 0)
            for key in ("package_weight", "package_length", "package_width", "package_height"):
                if key in public:
                    public[key] = f"{_decimal(public[key]) or 0:.2f}"
            skus.append(public)
        return {
            "item_id": str(stored["item_id"]),
            "primary_category": str(stored["primary_category"]),
            "attributes": dict(stored["attributes"]),
            "images": json.dumps(stored["images"]),
            "skus": skus,
            "status": stored["status"],
            "created_time": "0",
            "updated_time": "0",
        }

    async def _item_get(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        item_id = params.get("item_id", "")
        if not item_id:
            # seller_sku "has been deprecated and is no longer supported after November 15th, 2023"
            return self.em._fail("200", "E200: Empty SellerSku")
        stored = self._own(seller, item_id)
        if stored is None:
            return self.em._fail("208", "E208: Item not exist")
        return self.em._ok(data=self._public(seller, stored))

    async def _products_get(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        wanted: set[str] | None = None
        if params.get("sku_seller_list"):
            listed = _document('{"l":' + params["sku_seller_list"] + "}")
            if listed is None or not isinstance(listed.get("l"), list):
                return self.em._fail("5", "E005: Invalid Request Format")
            wanted = {str(s) for s in listed["l"]}
        limit = params.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 50:
            return self.em._fail("InvalidParameter", "limit must be between 1 and 50")
        status = params.get("filter", "all")
        self._adopt(seller)
        found = []
        for stored in self.products.values():
            if stored["_seller"] != seller.seller_id:
                continue
            if wanted is not None and not {r["SellerSku"] for r in stored["skus"]} & wanted:
                continue
            live = any(r["Status"] == "active" for r in stored["skus"])
            if (status == "live" and not live) or (status == "inactive" and live):
                continue
            found.append(self._public(seller, stored))
        offset = int(params.get("offset", "0") or 0)
        chunk = found[offset : offset + int(limit)]
        return self.em._ok(data={"total_products": len(found), "products": chunk})

    async def _deactivate(self, request: Request) -> Reply:
        checked = self._checked(request)
        if isinstance(checked, Reply):
            return checked
        params, seller = checked
        body = params.get("apiRequestBody", "")
        document = _document(body)
        item_id: Any = None
        sku_ids: list[str] = []
        seller_skus: list[str] = []
        if document is not None:
            product = (document.get("Request") or {}).get("Product") or {}
            item_id = product.get("ItemId")
            skus = product.get("Skus") or {}
            raw = skus.get("SkuId") if isinstance(skus, Mapping) else None
            sku_ids = [str(s) for s in (raw if isinstance(raw, list) else [raw] if raw else [])]
            if isinstance(skus, Mapping) and skus.get("SellerSku"):
                seller_skus = [str(skus["SellerSku"])]
        elif body.strip():
            try:
                root = ET.fromstring(body)
            except ET.ParseError:
                return self.em._fail("5", "E005: Invalid Request Format")
            item_id = root.findtext("Product/ItemId")
            sku_ids = [e.text or "" for e in root.findall("Product/Skus/SkuId")]
            seller_skus = [e.text or "" for e in root.findall("Product/Skus/SellerSku")]
        if seller_skus:
            return self.em._fail(
                "4193",
                "The SellerSku parameter is no longer supported. Please update your parameter to use SkuId",
            )
        if not item_id:
            return self.em._fail("E0001", "Parameter ItemId is mandatory")
        stored = self._own(seller, item_id)
        if stored is None:
            return self.em._fail("E0002", "Product:item id not exist")
        rows = [r for r in stored["skus"] if not sku_ids or str(r["SkuId"]) in sku_ids]
        if not any(r["Status"] == "active" for r in rows):
            return self.em._fail("E0004", "Product Status not online")
        for row in rows:
            row["Status"] = "inactive"
        if not any(r["Status"] == "active" for r in stored["skus"]):
            stored["status"] = "InActive"
        return self.em._ok(data={})

    # ------------------------------------------------------------ what the seller has

    def live_listing(self, seller_id: int, sku: str) -> dict[str, Any] | None:
        for stored in self.products.values():
            if stored["_seller"] != seller_id:
                continue
            row = next((r for r in stored["skus"] if r["SellerSku"] == sku), None)
            if row is None:
                continue
            attributes = {k: v for k, v in stored["attributes"].items() if k not in ("name",)}
            attributes.update({k: v for k, v in row.items() if k not in _SKU_KEYS})
            return {
                "title": stored["attributes"].get("name"),
                "category_id": str(stored["primary_category"]),
                "attributes": attributes,
                "images": len(set(stored["images"]) | set(row["Images"])),
                "active": row["Status"] == "active",
                "item_id": str(stored["item_id"]),
                "sku_id": str(row["SkuId"]),
            }
        return None
