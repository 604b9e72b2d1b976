"""The product side of the Shopee emulator: a category tree with attribute trees and item
limits, image uploads, and items added, updated, searched and unlisted as ``v2.product``
and ``v2.media_space`` show them.

Served paths: ``GET /api/v2/product/get_category``, ``get_attribute_tree``,
``get_item_limit``, ``search_item``; ``POST /api/v2/media_space/upload_image`` (multipart,
a Public API: signed without the shop's token), ``/api/v2/product/add_item``,
``update_item``, ``unlist_item``. ``get_item_base_info`` stays the emulator's own
(:mod:`crossdock_shopee.emulator`) and shows what is kept here.

Refusals, with the codes and words of each API's ``error_list`` (``schemas/v2.product.*``
and ``v2.media_space.upload_image`` in the ``congminh1254/shopee-sdk`` mirror): a category
that is not a leaf of the tree, or not in it (``error_invalid_category`` "Invalid category
ID ..."); required fields (``error_param`` "Wrong parameters, detail: ..."); the item
limits (``error_param`` "Parameter is not match the constraints, ..."); an image id this
emulator did not issue (``error_param`` "Image not exist."); a weight not above 0
(``error_param`` "Invalid Weight."); a price outside the limits or not a number
(``error_invalid_price``); a logistics channel the shop does not have
(``error_invalid_logistic_info``); an attribute of another category
(``error_invalid_category_attribute`` "Category and attribute not match."); a value not
in a drop-down's list, several values for a single one (``error_param`` "Invalid
attribute. ..."); a custom value without its name (``error_value_name_required``); a
mandatory attribute left out (``error_less_required_attribute`` "Mandatory attribute
information required"); an item the shop does not have (``error_item_not_found``).
UNCONFIRMED (the emulator's own): the tree, its attributes and limits; the detail after
each message (the reference words it ``{{.error_info}}`` or gives none: here a missing
attribute is named ``attribute_id N (Name)``); the image URLs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any, TypeGuard

from crossdock.testing.emulator import Reply, Request

if TYPE_CHECKING:
    from crossdock_shopee.emulator import Shop, ShopeeEmulator

__all__ = ["CATEGORIES", "SAMPLE_CATEGORY", "ListingsDesk"]

#: (category_id, parent_category_id, name, has_children)
CATEGORIES: tuple[tuple[int, int, str, bool], ...] = (
    (100001, 0, "Home & Living", True),
    (100010, 100001, "Kitchenware", True),
    (101210, 100010, "Water Bottles", False),
    (101211, 100010, "Lunch Boxes", False),
    (100011, 100001, "Home Decor", False),
    (100002, 0, "Sports & Outdoors", True),
    (100020, 100002, "Camping & Hiking", False),
)
SAMPLE_CATEGORY = 101210
LEAVES = frozenset(c for c, _, _, children in CATEGORIES if not children)


def _attr(
    attribute_id: int,
    name: str,
    mandatory: bool,
    input_type: int,
    values: tuple[tuple[int, str], ...] = (),
    *,
    validation: int = 0,
    units: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "attribute_id": attribute_id,
        "mandatory": mandatory,
        "name": name,
        "attribute_value_list": [
            {
                "value_id": value_id,
                "name": value,
                "value_unit": "",
                "child_attribute_list": [],
                "multi_lang": [],
            }
            for value_id, value in values
        ],
        "attribute_info": {
            "input_type": input_type,
            "input_validation_type": validation,
            "format_type": 2 if units else 1,
            "date_format_type": 0,
            "attribute_unit_list": list(units),
            "max_value_count": 3 if input_type in (4, 5) else 1,
            "introduction": "",
            "is_oem": False,
            "support_search_value": False,
        },
        "multi_lang": [],
    }


MATERIAL = ((6001, "Stainless Steel"), (6002, "Plastic"), (6003, "Glass"))
#: category -> its attribute tree (input types: 1 single drop-down, 2 single combo box,
#: 3 free text, 4 multi drop-down, 5 multi combo box)
ATTRIBUTE_TREES: dict[int, list[dict[str, Any]]] = {
    101210: [
        _attr(100037, "Material", True, 1, MATERIAL),
        _attr(100131, "Capacity", True, 3, validation=1, units=("ml",)),
        _attr(100150, "Features", True, 4, ((6101, "Leak-proof"), (6102, "Insulated"), (6103, "BPA-free"))),
        _attr(100040, "Country of Origin", False, 2, ((6201, "Singapore"), (6202, "China"))),
    ],
    101211: [_attr(100037, "Material", False, 1, MATERIAL)],
    100011: [_attr(100041, "Style", False, 2, ((6301, "Modern"), (6302, "Classic")))],
    100020: [_attr(100037, "Material", False, 1, MATERIAL)],
}
LIMITS: dict[str, Any] = {
    "price_limit": {"min_limit": 0.1, "max_limit": 100000.0},
    "stock_limit": {"min_limit": 0, "max_limit": 999999},
    "item_name_length_limit": {"min_limit": 10, "max_limit": 120},
    "item_image_count_limit": {"min_limit": 1, "max_limit": 9},
    "item_description_length_limit": {"min_limit": 20, "max_limit": 3000},
    "weight_limit": {"weight_mandatory": True},
    "dimension_limit": {"dimension_mandatory": False},
}
#: "Max 10.0 MB each. Image format accepted: JPG, JPEG, PNG"
IMAGE_MAX_BYTES = 10 * 1024 * 1024


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class ListingsDesk:
    """The items of one emulator's shops beyond their models; routed on the emulator."""

    def __init__(self, emulator: ShopeeEmulator) -> None:
        self.emu = emulator
        #: image_id -> URL: every image this emulator issued
        self.images: dict[str, str] = {}
        #: every call here as received: (path, query, JSON body, or the form's field names)
        self.wire: list[tuple[str, dict[str, str], Any]] = []

    def install(self) -> None:
        for method, path, handler in (
            ("GET", "/api/v2/product/get_category", self._category),
            ("GET", "/api/v2/product/get_attribute_tree", self._attribute_tree),
            ("GET", "/api/v2/product/get_item_limit", self._item_limit),
            ("GET", "/api/v2/product/search_item", self._search_item),
            ("POST", "/api/v2/media_space/upload_image", self._upload_image),
            ("POST", "/api/v2/product/add_item", self._add_item),
            ("POST", "/api/v2/product/update_item", self._update_item),
            ("POST", "/api/v2/product/unlist_item", self._unlist_item),
        ):
            self.emu.route(method, path, handler)

    # ------------------------------------------------------------------ plumbing

    def _shop(self, request: Request, body: Any = None) -> Shop | Reply:
        self.wire.append((request.path, dict(request.query), body))
        shop = self.emu._check_sign(request, shop_level=True)
        assert shop is not None
        return shop

    def _json(self, request: Request) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return self.emu._fail("error_param", "The request body is not a valid json format")
        if not isinstance(body, dict):
            return self.emu._wrong("the body should be an object")
        return body

    def _invalid_category(self, category: Any) -> Reply | None:
        if not _int(category):
            return self.emu._wrong("category_id should be int32")
        if category not in LEAVES:
            return self.emu._fail("error_invalid_category", f"Invalid category ID {category}")
        return None

    # ------------------------------------------------------------------ categories

    async def _category(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        language = request.query.get("language", "en")
        if not language.replace("-", "").isalpha():
            return self.emu._fail("error_invalid_language", "Invalid language.")
        return self.emu._ok(
            {
                "category_list": [
                    {
                        "category_id": category,
                        "parent_category_id": parent,
                        "original_category_name": name,
                        "display_category_name": name,
                        "has_children": children,
                    }
                    for category, parent, name, children in CATEGORIES
                ]
            }
        )

    async def _attribute_tree(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        parts = [
            p.strip() for p in request.query.get("category_id_list", "").strip("[]").split(",") if p.strip()
        ]
        if not parts:
            return self.emu._wrong("category_id_list is required")
        if not all(p.isdigit() for p in parts):
            return self.emu._wrong("category_id_list should be a list of int")
        if len(parts) > 20:
            return self.emu._wrong("category_id_list max count is 20")
        found = []
        for category in (int(p) for p in parts):
            if category not in LEAVES:
                return self.emu._fail("error_invalid_category", f"Invalid category ID {category}")
            found.append(
                {"category_id": category, "attribute_tree": ATTRIBUTE_TREES.get(category, []), "warning": ""}
            )
        return self.emu._ok({"list": found})

    async def _item_limit(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        category = request.query.get("category_id", "")
        if category and (not category.isdigit() or int(category) not in LEAVES):
            return self.emu._fail("error_invalid_category", f"Invalid category ID {category}")
        return self.emu._ok(LIMITS)

    # ------------------------------------------------------------------ images

    async def _upload_image(self, request: Request) -> Reply:
        kind = request.headers.get("content-type", "")
        fields: dict[str, list[bytes]] = {}
        if kind.lower().startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + kind.encode() + b"\r\n\r\n" + request.body
            )
            for part in message.iter_parts() if message.is_multipart() else []:
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if isinstance(name, str) and isinstance(payload, bytes):
                    fields.setdefault(name, []).append(payload)
        self.wire.append((request.path, dict(request.query), sorted(fields)))
        denied = self.emu._check_sign(request, shop_level=False)  # a Public API
        if denied is not None:
            return denied  # type: ignore[return-value]
        if not kind.lower().startswith("multipart/form-data"):
            return self.emu._wrong("the body should be multipart/form-data")
        images = fields.get("image") or []
        if not images:
            return self.emu._wrong("image is required")
        if len(images) > 8:  # "image number should be less than 9"
            return self.emu._wrong("image number should be less than 9")
        scene = (fields.get("scene") or [b"normal"])[0].decode(errors="replace")
        if scene not in ("normal", "desc"):
            return self.emu._wrong("scene should be normal or desc")
        issued = []
        for data in images:
            if len(data) > IMAGE_MAX_BYTES:
                return self.emu._wrong("image size should be less than 10.0 MB")
            if not data.startswith((b"\xff\xd8\xff", b"\x89PNG")):
                return self.emu._wrong("image format should be JPG, JPEG or PNG")
            image_id = f"sg-11134201-{secrets.token_hex(12)}"
            url = f"https://cf.shopee.emulator/file/{image_id}"
            self.images[image_id] = url
            issued.append(
                {"image_id": image_id, "image_url_list": [{"image_url_region": "SG", "image_url": url}]}
            )
        return self.emu._ok(
            {
                "image_info": issued[0],
                "image_info_list": [
                    {"id": i, "error": "", "message": "", "image_info": info} for i, info in enumerate(issued)
                ],
            }
        )

    # ------------------------------------------------------------------ items

    def _check_item(self, shop: Shop, body: Mapping[str, Any], *, new: bool, category: int) -> Reply | None:
        """The content of add_item (``new``) or update_item (only what is sent)."""
        fail, wrong = self.emu._fail, self.emu._wrong
        if new:
            for name in (
                "original_price",
                "description",
                "weight",
                "item_name",
                "logistic_info",
                "category_id",
                "image",
            ):
                if name not in body:
                    return wrong(f"{name} is required")
        if "category_id" in body:
            refused = self._invalid_category(body["category_id"])
            if refused is not None:
                return refused
        if "original_price" in body:
            price = body["original_price"]
            if isinstance(price, bool) or not isinstance(price, int | float):
                return fail("error_invalid_price", "Invalid price, please use the correct format")
            low, high = LIMITS["price_limit"]["min_limit"], LIMITS["price_limit"]["max_limit"]
            if not low <= price <= high:
                return fail(
                    "error_invalid_price", f"Invalid price, original_price should be between {low} and {high}"
                )
        for name, limit in (
            ("item_name", "item_name_length_limit"),
            ("description", "item_description_length_limit"),
        ):
            if name in body:
                text = body[name]
                low, high = LIMITS[limit]["min_limit"], LIMITS[limit]["max_limit"]
                if not isinstance(text, str):
                    return wrong(f"{name} should be string")
                if not low <= len(text) <= high:
                    return fail(
                        "error_param",
                        f"Parameter is not match the constraints, {name} length should be {low} to {high}.",
                    )
        if "weight" in body:
            weight = body["weight"]
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                return fail("error_param", "Invalid Weight.")
        if "image" in body:
            image = body["image"]
            ids = image.get("image_id_list") if isinstance(image, dict) else None
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                return wrong("image.image_id_list is required")
            low, high = (
                LIMITS["item_image_count_limit"]["min_limit"],
                LIMITS["item_image_count_limit"]["max_limit"],
            )
            if not low <= len(ids) <= high:
                return fail(
                    "error_param",
                    "Parameter is not match the constraints, "
                    f"image_id_list length should be {low} to {high}.",
                )
            if any(i not in self.images for i in ids):
                return fail("error_param", "Image not exist.")
        if "logistic_info" in body:
            logistics = body["logistic_info"]
            if (
                not isinstance(logistics, list)
                or not logistics
                or not all(isinstance(x, dict) for x in logistics)
            ):
                return wrong("logistic_info is required")
            from crossdock_shopee.emulator import CHANNELS

            for entry in logistics:
                if not _int(entry.get("logistic_id")) or not isinstance(entry.get("enabled"), bool):
                    return wrong("logistic_info.logistic_id and enabled are required")
                if entry["logistic_id"] not in CHANNELS:
                    return fail(
                        "error_invalid_logistic_info",
                        "invalid logistic info , "
                        f"logistic_id {entry['logistic_id']} is not a channel of the shop",
                    )
            if not any(entry["enabled"] for entry in logistics):
                return fail("error_invalid_logistic_info", "invalid logistic info , no channel is enabled")
        if "brand" in body:
            brand = body["brand"]
            if not isinstance(brand, dict) or not _int(brand.get("brand_id")):
                return fail("error_invalid_brand", "Brand ID required")
            if brand["brand_id"] == 0 and not str(brand.get("original_brand_name") or "").strip():
                return fail("error_invalid_brand", "Brand name required")
        if "seller_stock" in body:
            stock = body["seller_stock"]
            if not isinstance(stock, list) or not all(
                isinstance(x, dict) and _int(x.get("stock")) for x in stock
            ):
                return wrong("seller_stock.stock should be int32")
            if any(x["stock"] < 0 for x in stock):
                return fail(
                    "error_param", "Parameter is not match the constraints, stock should be 0 to 999999."
                )
        if "attribute_list" in body or new:
            return self._check_attributes(body.get("attribute_list") or [], category)
        return None

    def _check_attributes(self, attribute_list: Any, category: int) -> Reply | None:
        fail, wrong = self.emu._fail, self.emu._wrong
        tree = {a["attribute_id"]: a for a in ATTRIBUTE_TREES.get(category, [])}
        if not isinstance(attribute_list, list) or not all(isinstance(a, dict) for a in attribute_list):
            return wrong("attribute_list should be a list of objects")
        sent: set[int] = set()
        for entry in attribute_list:
            attribute_id = entry.get("attribute_id")
            if not _int(attribute_id):
                return wrong("attribute_id is required")
            attribute = tree.get(attribute_id)
            if attribute is None:
                return fail("error_invalid_category_attribute", "Category and attribute not match.")
            values = entry.get("attribute_value_list") or []
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                return wrong("attribute_value_list should be a list of objects")
            input_type = attribute["attribute_info"]["input_type"]
            known = {v["value_id"] for v in attribute["attribute_value_list"]}
            if len(values) > 1 and input_type not in (4, 5):
                return fail("error_param", f"Invalid attribute. attribute_id {attribute_id} takes one value")
            for value in values:
                value_id = value.get("value_id")
                if not _int(value_id):
                    return wrong("value_id is required")
                if value_id == 0:
                    if not str(value.get("original_value_name") or "").strip():
                        return fail("error_value_name_required", "Value_name is required.")
                    if input_type in (1, 4):
                        return fail(
                            "error_param",
                            f"Invalid attribute. attribute_id {attribute_id} takes a value_id of its list",
                        )
                    if attribute["attribute_info"]["input_validation_type"] in (1, 3):
                        try:
                            float(str(value["original_value_name"]))
                        except ValueError:
                            return fail(
                                "error_param",
                                f"Invalid attribute. attribute_id {attribute_id} takes a number",
                            )
                elif value_id not in known:
                    return fail(
                        "error_param",
                        "Invalid attribute. "
                        f"value_id {value_id} is not a value of attribute_id {attribute_id}",
                    )
            if values:
                sent.add(attribute_id)
        for attribute_id, attribute in tree.items():
            if attribute["mandatory"] and attribute_id not in sent:
                return fail(
                    "error_less_required_attribute",
                    "Mandatory attribute information required, "
                    f"attribute_id {attribute_id} ({attribute['name']})",
                )
        return None

    def _keep(self, shop: Shop, item_id: int, body: Mapping[str, Any]) -> None:
        item = shop.items[item_id]
        for name in (
            "item_name",
            "description",
            "category_id",
            "attribute_list",
            "brand",
            "weight",
            "item_status",
        ):
            if name in body:
                item[name] = body[name]
        if "item_sku" in body:
            item["item_sku"] = str(body["item_sku"])
        if "image" in body:
            item["image_id_list"] = list(body["image"]["image_id_list"])
        if "logistic_info" in body:
            item["logistic_info"] = body["logistic_info"]
        item["listed"] = True

    async def _add_item(self, request: Request) -> Reply:
        body = self._json(request)
        shop = self._shop(request, body if isinstance(body, dict) else None)
        if isinstance(shop, Reply):
            return shop
        if isinstance(body, Reply):
            return body
        category = body.get("category_id")
        refused = self._check_item(shop, body, new=True, category=category if _int(category) else 0)
        if refused is not None:
            return refused
        item_id = shop.shop_id * 1_000 + len(shop.items) + 1
        stock = sum(x["stock"] for x in body.get("seller_stock") or [])
        sku = str(body.get("item_sku") or "")
        # an item without variations: its one model (0) carries the stock and the price
        self.emu.add_model(shop.shop_id, item_id, 0, sku, stock, price=float(body["original_price"]))
        shop.items[item_id] = {"item_sku": sku, "item_name": body["item_name"], "item_status": "NORMAL"}
        self._keep(shop, item_id, {**body, "item_status": body.get("item_status") or "NORMAL"})
        return self.emu._ok(
            {
                "item_id": item_id,
                "item_name": body["item_name"],
                "description": body["description"],
                "category_id": category,
                "item_status": shop.items[item_id]["item_status"],
                "images": {
                    "image_id_list": shop.items[item_id]["image_id_list"],
                    "image_url_list": [self.images[i] for i in shop.items[item_id]["image_id_list"]],
                },
                "price_info": {
                    "original_price": body["original_price"],
                    "current_price": body["original_price"],
                },
                "weight": body["weight"],
                "attribute": body.get("attribute_list") or [],
                "logistic_info": body["logistic_info"],
            }
        )

    async def _update_item(self, request: Request) -> Reply:
        body = self._json(request)
        shop = self._shop(request, body if isinstance(body, dict) else None)
        if isinstance(shop, Reply):
            return shop
        if isinstance(body, Reply):
            return body
        item_id = body.get("item_id")
        if not _int(item_id):
            return self.emu._wrong("item_id is required")
        item = shop.items.get(item_id)
        if item is None or item.get("item_status") in ("SELLER_DELETE", "SHOPEE_DELETE"):
            return self.emu._fail("error_item_not_found", "Item_id is not found.")
        category = body.get("category_id", item.get("category_id", 0))
        refused = self._check_item(shop, body, new=False, category=category if _int(category) else 0)
        if refused is not None:
            return refused
        if "item_status" in body and body["item_status"] not in ("NORMAL", "UNLIST"):
            return self.emu._fail("error_busi_item_status_invalid", "Invalid item status.")
        self._keep(shop, item_id, body)
        if "item_sku" in body and (item_id, 0) in shop.models:
            shop.models[(item_id, 0)]["sku"] = str(body["item_sku"])
        return self.emu._ok({"item_id": item_id, "item_name": item.get("item_name")})

    async def _unlist_item(self, request: Request) -> Reply:
        body = self._json(request)
        shop = self._shop(request, body if isinstance(body, dict) else None)
        if isinstance(shop, Reply):
            return shop
        if isinstance(body, Reply):
            return body
        entries = body.get("item_list")
        if not isinstance(entries, list) or not entries or len(entries) > 50:
            return self.emu._fail(
                "error_param",
                "Parameter is not match the constraints, item_list length should be between 1 to 50.",
            )
        success, failure = [], []
        for entry in entries:
            if (
                not isinstance(entry, dict)
                or not _int(entry.get("item_id"))
                or not isinstance(entry.get("unlist"), bool)
            ):
                return self.emu._wrong("item_list.item_id and unlist are required")
            item = shop.items.get(entry["item_id"])
            if item is None or item.get("item_status") in ("SELLER_DELETE", "SHOPEE_DELETE"):
                failure.append({"item_id": entry["item_id"], "failed_reason": "Product not found"})
                continue
            item["item_status"] = "UNLIST" if entry["unlist"] else "NORMAL"
            success.append({"item_id": entry["item_id"], "unlist": entry["unlist"]})
        return self.emu._ok({"success_list": success, "failure_list": failure})

    async def _search_item(self, request: Request) -> Reply:
        shop = self._shop(request)
        if isinstance(shop, Reply):
            return shop
        q = request.query
        if not q.get("page_size", "").isdigit() or not 1 <= int(q["page_size"]) <= 100:
            return self.emu._wrong("page_size should be 1 to 100")
        sku, name = q.get("item_sku", ""), q.get("item_name", "")
        if not (sku or name or q.get("attribute_status")):
            return self.emu._fail("error_param", "request must set one of [item_name,attribute_status]")
        status = q.get("item_status", "")
        offset = int(q["offset"]) if q.get("offset", "").isdigit() else 0
        # a search: a part of the SKU or name matches (the caller checks what it finds)
        found = [
            item_id
            for item_id, item in sorted(shop.items.items())
            if (not sku or sku.lower() in str(item.get("item_sku", "")).lower())
            and (sku or name.lower() in str(item.get("item_name", "")).lower())
            and (not status or item.get("item_status", "NORMAL") == status)
        ]
        page = found[offset : offset + int(q["page_size"])]
        more = offset + len(page) < len(found)
        return self.emu._ok(
            {
                "item_id_list": page,
                "total_count": len(found),
                "next_offset": str(offset + len(page)) if more else "",
            }
        )

    # ------------------------------------------------------------------ what get_item_base_info shows

    def base_info(self, item: Mapping[str, Any], currency: str, price: float | None) -> dict[str, Any]:
        """An added item's content for ``get_item_base_info`` (nothing for a kit product)."""
        if not item.get("listed"):
            return {}
        ids = list(item.get("image_id_list") or [])
        tree = {a["attribute_id"]: a for a in ATTRIBUTE_TREES.get(int(item.get("category_id") or 0), [])}
        attributes = []
        for entry in item.get("attribute_list") or []:
            attribute = tree.get(entry["attribute_id"], {})
            names = {v["value_id"]: v["name"] for v in attribute.get("attribute_value_list") or []}
            attributes.append(
                {
                    "attribute_id": entry["attribute_id"],
                    "original_attribute_name": attribute.get("name", ""),
                    "is_mandatory": bool(attribute.get("mandatory")),
                    "attribute_value_list": [
                        {
                            "value_id": v.get("value_id", 0),
                            "original_value_name": names.get(v.get("value_id", 0))
                            or str(v.get("original_value_name", "")),
                            "value_unit": str(v.get("value_unit") or ""),
                        }
                        for v in entry.get("attribute_value_list") or []
                    ],
                }
            )
        shown: dict[str, Any] = {
            "category_id": item.get("category_id"),
            "description": item.get("description", ""),
            "attribute_list": attributes,
            "image": {
                "image_id_list": ids,
                "image_url_list": [self.images.get(i, "") for i in ids],
                "image_ratio": "1:1",
            },
            "weight": f"{float(item.get('weight') or 0):g}",
            "brand": item.get("brand") or {"brand_id": 0, "original_brand_name": "NoBrand"},
            "logistic_info": item.get("logistic_info") or [],
            "item_status": item.get("item_status", "NORMAL"),
        }
        if price is not None:
            shown["price_info"] = [{"currency": currency, "original_price": price, "current_price": price}]
        return shown

    def live(self, shop: Shop, sku: str) -> dict[str, Any] | None:
        """What the shop lists under ``sku``, in the plugin's key scheme (attribute ids as
        strings; value names, a list for a multi-select, a number for a number field)."""
        for item_id, item in sorted(shop.items.items()):
            if item.get("item_sku") != sku or item.get("item_status") in ("SELLER_DELETE", "SHOPEE_DELETE"):
                continue
            shown = self.base_info(item, "", None)
            tree = {a["attribute_id"]: a for a in ATTRIBUTE_TREES.get(int(item.get("category_id") or 0), [])}
            attributes: dict[str, Any] = {}
            for entry in shown.get("attribute_list") or []:
                info = tree.get(entry["attribute_id"], {}).get("attribute_info", {})
                names = [v["original_value_name"] for v in entry["attribute_value_list"]]
                if info.get("input_type") in (4, 5):
                    attributes[str(entry["attribute_id"])] = names
                elif info.get("input_validation_type") in (1, 3) and len(names) == 1:
                    number = float(names[0])
                    attributes[str(entry["attribute_id"])] = int(number) if number.is_integer() else number
                else:
                    attributes[str(entry["attribute_id"])] = names[0] if len(names) == 1 else names
            return {
                "item_id": item_id,
                "title": item.get("item_name"),
                "category_id": str(item.get("category_id") or ""),
                "attributes": attributes,
                "images": len(item.get("image_id_list") or []),
                "active": item.get("item_status", "NORMAL") == "NORMAL",
                "description": item.get("description", ""),
            }
        return None
