"""Listing content on Shopee (``v2.product`` and ``v2.media_space``).

* categories: ``GET v2.product.get_category`` (``category_list``: ``category_id``,
  ``parent_category_id`` (0 at the top), ``original_category_name`` /
  ``display_category_name``, ``has_children``: a leaf has none);
* rules: ``GET v2.product.get_attribute_tree`` (``category_id_list``; the older
  ``get_attributes`` is not in the current reference) for the attributes, and
  ``GET v2.product.get_item_limit`` for the limits on the name, description and images;
* publish: every image uploaded with ``POST v2.media_space.upload_image`` (multipart, a
  Public API), then ``POST v2.product.add_item`` (a new item) or ``update_item`` (an item
  Shopee has: the draft's ``external_id`` or the item whose ``item_sku`` is the draft's
  SKU, found with ``search_item``). Shopee has no validation-only call: a draft is checked
  here against the category's rules first, always, and a preview stops there;
* read: ``GET v2.product.get_item_base_info``; deactivate: ``POST v2.product.unlist_item``.

**Attribute keys.** A draft's ``attributes`` and an :class:`AttributeRule`'s ``name`` are
Shopee's ``attribute_id`` as a decimal string (``"100037"``), the rule's ``label`` its
name. A value is the value's ``name`` as the attribute tree spells it (a list of names for
a multi-select), a number for a number field, text otherwise. Two keys outside that scheme
are read: ``weight_kg`` (the item's weight, else ``settings.item_weight_kg``) and nothing
else (other non-numeric keys are reported as warnings and not sent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any

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
    with_retries,
)

if TYPE_CHECKING:
    from crossdock_shopee.marketplace import ShopeeMarketplace

__all__ = ["INPUT_TYPES", "Listings", "ShopeeRules", "check_draft", "problem_for"]

GET_CATEGORY = "/api/v2/product/get_category"
ATTRIBUTE_TREE = "/api/v2/product/get_attribute_tree"
ITEM_LIMIT = "/api/v2/product/get_item_limit"
UPLOAD_IMAGE = "/api/v2/media_space/upload_image"
ADD_ITEM = "/api/v2/product/add_item"
UPDATE_ITEM = "/api/v2/product/update_item"
SEARCH_ITEM = "/api/v2/product/search_item"
BASE_INFO = "/api/v2/product/get_item_base_info"
UNLIST_ITEM = "/api/v2/product/unlist_item"

#: get_attribute_tree ``attribute_info.input_type``: SINGLE_DROP_DOWN = 1,
#: SINGLE_COMBO_BOX = 2, FREE_TEXT_FILED = 3, MULTI_DROP_DOWN = 4, MULTI_COMBO_BOX = 5
INPUT_TYPES = {
    1: "SINGLE_DROP_DOWN",
    2: "SINGLE_COMBO_BOX",
    3: "FREE_TEXT_FILED",
    4: "MULTI_DROP_DOWN",
    5: "MULTI_COMBO_BOX",
}
#: ``input_validation_type``: VALIDATOR_INT_TYPE = 1, VALIDATOR_FLOAT_TYPE = 3
NUMERIC_VALIDATION = frozenset({1, 3})
#: upload_image: "Max 10.0 MB each. Image format accepted: JPG, JPEG, PNG"
IMAGE_MAX_BYTES = 10 * 1024 * 1024
#: item statuses search_item is asked for, one at a time (a listing taken off sale is
#: still the seller's: publishing it again updates it)
FIND_STATUSES = ("NORMAL", "UNLIST")
GONE_STATUSES = frozenset({"SELLER_DELETE", "SHOPEE_DELETE"})
#: codes about the shop or the call, not the listing: raised, never a REJECTED result
SHOP_ERRORS = frozenset(
    {
        "error_sign",
        "error_shop",
        "error_auth_shop_not_found",
        "error_param_shop_id_not_found",
        "error_get_shop_fail",
        "error_busi_invalid_shop_status",
        "error_busi_invalid_account_status",
    }
)
WEIGHT_KEY = "weight_kg"


@dataclass(frozen=True)
class Attribute:
    """One attribute of the tree as the plugin needs it to build ``attribute_list``."""

    attribute_id: int
    name: str
    mandatory: bool
    input_type: int
    numeric: bool
    #: value name -> value_id
    values: Mapping[str, int] = field(default_factory=dict)
    unit: str | None = None

    @property
    def multi(self) -> bool:
        return self.input_type in (4, 5)

    @property
    def closed(self) -> bool:
        """A drop-down: only its values (a combo box also takes the seller's own)."""
        return self.input_type in (1, 4)


@dataclass(frozen=True)
class ShopeeRules:
    rules: CategoryRules
    attributes: Mapping[str, Attribute]
    title_min: int = 1
    description_min: int = 0
    price_min: Decimal | None = None
    price_max: Decimal | None = None


def _rule(attribute: Attribute) -> AttributeRule:
    if attribute.multi:
        kind = AttributeType.MULTI_ENUM
    elif attribute.closed:
        kind = AttributeType.ENUM
    elif attribute.numeric:
        kind = AttributeType.NUMBER
    else:
        kind = AttributeType.TEXT  # a combo box's values are suggestions
    return AttributeRule(
        name=str(attribute.attribute_id),
        label=attribute.name,
        required=attribute.mandatory,
        type=kind,
        values=tuple(attribute.values),
        unit=attribute.unit,
    )


def _attribute(raw: Mapping[str, Any], language: str) -> Attribute:
    info = raw.get("attribute_info") or {}
    units = [str(u) for u in info.get("attribute_unit_list") or []]
    values: dict[str, int] = {}
    for value in raw.get("attribute_value_list") or []:
        values[str(value.get("name") or "")] = int(value.get("value_id") or 0)
    return Attribute(
        attribute_id=int(raw["attribute_id"]),
        name=_translated(raw, language) or str(raw.get("name") or raw["attribute_id"]),
        mandatory=bool(raw.get("mandatory")),
        input_type=int(info.get("input_type") or 3),
        numeric=int(info.get("input_validation_type") or 0) in NUMERIC_VALIDATION,
        values=values,
        unit=units[0] if len(units) == 1 else None,
    )


def _translated(raw: Mapping[str, Any], language: str) -> str:
    for entry in raw.get("multi_lang") or []:
        if str(entry.get("language", "")).lower() == language.lower() and entry.get("value"):
            return str(entry["value"])
    return ""


def _limit(limits: Mapping[str, Any], name: str, bound: str) -> int | None:
    value = (limits.get(name) or {}).get(bound)
    return (
        int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    )


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | set):
        return any(_present(v) for v in value)
    return True


def check_draft(draft: ListingDraft, shopee: ShopeeRules, conn: ChannelConnection) -> list[ListingProblem]:
    """What Shopee would refuse in ``draft`` (its rules for the category, the limits of
    ``get_item_limit``, and what add_item requires), as problems naming the field."""
    rules = shopee.rules
    problems: list[ListingProblem] = []

    def refuse(code: str, message: str, where: str | None, severity: str = "error") -> None:
        problems.append(ListingProblem(code=code, message=message, field=where, severity=severity))

    title = draft.title.strip()
    if len(title) < shopee.title_min or (rules.title_max and len(title) > rules.title_max):
        refuse(
            "item_name_length",
            f"the item name must be {shopee.title_min} to {rules.title_max or 'any'} characters"
            f" ({len(title)})",
            "title",
        )
    description = draft.description.strip()
    if len(description) < shopee.description_min or (
        rules.description_max and len(description) > rules.description_max
    ):
        refuse(
            "description_length",
            f"the description must be {shopee.description_min} to {rules.description_max or 'any'} characters"
            f" ({len(description)})",
            "description",
        )
    images = _unique_images(draft.images)
    if len(images) < rules.images_min or (rules.images_max and len(images) > rules.images_max):
        refuse(
            "image_count",
            f"Shopee takes {rules.images_min} to {rules.images_max or 'any'} images ({len(images)})",
            "images",
        )
    for image in images:
        if not image.data:
            refuse("image_data", f"image {image.key} has no bytes to upload", "images")
        elif len(image.data) > IMAGE_MAX_BYTES:
            refuse("image_size", f"image {image.key} is over 10 MB", "images")
        elif not image.data.startswith((b"\xff\xd8\xff", b"\x89PNG")):
            refuse("image_format", f"image {image.key} is not a JPEG or PNG", "images")
    if draft.price is None:
        refuse("price_required", "Shopee needs the item's price", "price")
    elif draft.price.currency != conn.currency:
        refuse("price_currency", f"the shop sells in {conn.currency}, not {draft.price.currency}", "price")
    elif draft.price.amount <= 0 or (shopee.price_min is not None and draft.price.amount < shopee.price_min):
        refuse("price_range", f"the price {draft.price.amount} is below Shopee's minimum", "price")
    elif shopee.price_max is not None and draft.price.amount > shopee.price_max:
        refuse("price_range", f"the price {draft.price.amount} is above Shopee's maximum", "price")
    if _weight(draft, conn) is None:
        refuse(
            "weight_required",
            f"add_item needs a weight: attributes.{WEIGHT_KEY} or settings.item_weight_kg",
            "weight",
        )
    if not _logistics(conn):
        refuse(
            "logistics_required",
            "add_item needs the shop's logistics channels: settings.logistics_channel_ids",
            "logistics",
        )
    for key, attribute in shopee.attributes.items():
        value = draft.attributes.get(key)
        if not _present(value):
            if attribute.mandatory:
                refuse(
                    "attribute_required",
                    f"{attribute.name} ({key}) is mandatory in this category",
                    f"attributes.{key}",
                )
            continue
        names = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        if len(names) > 1 and not attribute.multi:
            refuse("attribute_single", f"{attribute.name} ({key}) takes one value", f"attributes.{key}")
        if attribute.closed:
            unknown = [n for n in names if n not in attribute.values]
            if unknown:
                refuse(
                    "attribute_value",
                    f"{attribute.name} ({key}) has no value {', '.join(unknown)}",
                    f"attributes.{key}",
                )
        if attribute.numeric and not attribute.closed:
            for name in names:
                try:
                    Decimal(name)
                except InvalidOperation:
                    refuse(
                        "attribute_number", f"{attribute.name} ({key}) takes a number", f"attributes.{key}"
                    )
    for key in draft.attributes:
        if key.isdigit() and key not in shopee.attributes:
            refuse(
                "attribute_unknown",
                f"category {rules.category_id} has no attribute {key}",
                f"attributes.{key}",
            )
        elif not key.isdigit() and key != WEIGHT_KEY:
            refuse(
                "attribute_ignored",
                f"{key} is not a Shopee attribute id: not sent",
                f"attributes.{key}",
                "warning",
            )
    return problems


def _unique_images(images: Sequence[ListingImage]) -> list[ListingImage]:
    """The draft's images, each once (the same ``key`` is the same image)."""
    return list({image.key: image for image in images}.values())


def _weight(draft: ListingDraft, conn: ChannelConnection) -> float | None:
    for value in (draft.attributes.get(WEIGHT_KEY), conn.settings.get("item_weight_kg")):
        try:
            weight = float(value) if value is not None and value != "" else None
        except (TypeError, ValueError):
            weight = None
        if weight is not None and weight > 0:
            return weight
    return None


def _logistics(conn: ChannelConnection) -> list[int]:
    """``settings.logistics_channel_ids``: the shop's enabled channels (v2.logistics
    get_channel_list ``logistics_channel_id``) a new item ships on; a list or a
    comma-separated string."""
    raw = conn.settings.get("logistics_channel_ids") or []
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    return [int(p) for p in (str(x).strip() for x in parts) if p.isdigit()]


_FIELD_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("item_name", "item name", "name length"), "title"),
    (("description",), "description"),
    (("category_attribute", "attribute", "value_name", "value_id", "value name"), "attributes"),
    (("image",), "images"),
    (("price",), "price"),
    (("brand",), "brand"),
    (("category",), "category_id"),
    (("logistic",), "logistics"),
    (("weight",), "weight"),
    (("dimension",), "dimension"),
    (("stock",), "quantity"),
    (("item_sku", "mtsku"), "sku"),
)


def problem_for(error: ChannelError, draft: ListingDraft) -> ListingProblem:
    """Shopee's refusal of an item as a problem naming the content field it is about,
    read from the code and the message (an attribute error naming an attribute id of the
    draft names that attribute)."""
    text = f"{error.code} {error.message}".lower()
    where: str | None = None
    for words, name in _FIELD_WORDS:
        if any(w in text for w in words):
            where = name
            break
    if where == "attributes":
        ids = [n for n in re.findall(r"\d+", error.message) if n in draft.attributes]
        where = f"attributes.{ids[0]}" if ids else "attributes"
    return ListingProblem(code=error.code or "refused", message=error.message, field=where)


def _content_error(error: ChannelError) -> bool:
    """A refusal of the listing's content (REJECTED), not of the shop, the credentials or
    the moment (those are raised)."""
    code = error.code or ""
    return not (error.retryable or code.startswith("AUTH_") or code in SHOP_ERRORS or code == "error_auth")


class Listings:
    """The listings operations of one provider (``ShopeeMarketplace``)."""

    def __init__(self, provider: ShopeeMarketplace) -> None:
        self.provider = provider

    async def _get(self, conn: ChannelConnection, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        answer = await with_retries(partial(self.provider._shop_call, conn, "GET", path, params=params))
        response = answer.get("response")
        return dict(response) if isinstance(response, Mapping) else {}

    # ------------------------------------------------------------ categories and rules

    async def categories(self, conn: ChannelConnection, language: str) -> list[ChannelCategory]:
        response = await self._get(conn, GET_CATEGORY, {"language": language})
        rows = [r for r in response.get("category_list") or [] if isinstance(r, Mapping)]
        ids = {str(r["category_id"]) for r in rows}
        tree: list[ChannelCategory] = []
        for row in rows:
            parent = str(row.get("parent_category_id") or 0)
            tree.append(
                ChannelCategory(
                    id=str(row["category_id"]),
                    name=str(
                        row.get("display_category_name")
                        or row.get("original_category_name")
                        or row["category_id"]
                    ),
                    # 0 is the top; a parent Shopee did not list is left out rather than dangling
                    parent_id=parent if parent != "0" and parent in ids else None,
                    leaf=not row.get("has_children"),
                )
            )
        return tree

    async def shopee_rules(self, conn: ChannelConnection, category_id: str, language: str) -> ShopeeRules:
        """The category's attribute tree and item limits; an unknown (or non-numeric)
        category is ``REFUSED`` (Shopee: ``error_invalid_category`` "Invalid category ID")."""
        if not category_id.isdigit():
            raise ChannelError(f"shopee has no category {category_id}", code="REFUSED")
        try:
            tree = await self._get(
                conn, ATTRIBUTE_TREE, {"category_id_list": category_id, "language": language}
            )
            limits = await self._get(conn, ITEM_LIMIT, {"category_id": category_id})
        except ChannelError as exc:
            if "category" in (exc.code or "") or "category" in exc.message.lower():
                raise ChannelError(
                    f"shopee refuses category {category_id}: {exc.message}", code="REFUSED"
                ) from exc
            raise
        entries = [e for e in tree.get("list") or [] if str(e.get("category_id")) == category_id]
        if not entries:
            raise ChannelError(f"shopee has no attribute tree for category {category_id}", code="REFUSED")
        attributes = {
            str(a["attribute_id"]): _attribute(a, language)
            for a in entries[0].get("attribute_tree") or []
            if isinstance(a, Mapping) and "attribute_id" in a
        }
        price = limits.get("price_limit") or {}
        rules = CategoryRules(
            category_id=category_id,
            attributes=tuple(_rule(a) for a in attributes.values()),
            title_max=_limit(limits, "item_name_length_limit", "max_limit"),
            description_max=_limit(limits, "item_description_length_limit", "max_limit"),
            images_min=_limit(limits, "item_image_count_limit", "min_limit") or 1,
            images_max=_limit(limits, "item_image_count_limit", "max_limit"),
            image_max_bytes=IMAGE_MAX_BYTES,
            image_formats=frozenset({"JPEG", "PNG"}),
        )
        return ShopeeRules(
            rules=rules,
            attributes=attributes,
            title_min=_limit(limits, "item_name_length_limit", "min_limit") or 1,
            description_min=_limit(limits, "item_description_length_limit", "min_limit") or 0,
            price_min=Decimal(str(price["min_limit"])) if price.get("min_limit") else None,
            price_max=Decimal(str(price["max_limit"])) if price.get("max_limit") else None,
        )

    # ------------------------------------------------------------ publishing

    async def publish(self, conn: ChannelConnection, draft: ListingDraft, preview: bool) -> PublishResult:
        if not draft.category_id:
            return _rejected(
                [ListingProblem("category_required", "a Shopee item needs a category", "category_id")]
            )
        try:
            shopee = await self.shopee_rules(conn, draft.category_id, draft.language)
        except ChannelError as exc:
            if exc.code != "REFUSED":
                raise
            return _rejected([ListingProblem("error_invalid_category", exc.message, "category_id")])
        problems = check_draft(draft, shopee, conn)
        if any(p.severity == "error" for p in problems):
            return _rejected(problems)
        item_id = await self._find(conn, draft.sku, draft.external_id)
        if preview:
            return PublishResult(
                PublishOutcome.VALID, external_id=str(item_id) if item_id else None, problems=problems
            )
        try:
            image_ids = [await self._upload(conn, image) for image in _unique_images(draft.images)]
            body = self._item_body(conn, draft, shopee, image_ids)
            if item_id is not None:
                try:
                    await self.provider._shop_call(
                        conn, "POST", UPDATE_ITEM, body={"item_id": item_id, **body}
                    )
                except ChannelError as exc:
                    if exc.code != "error_item_not_found":
                        raise
                    item_id = None  # gone on Shopee's side: listed anew
            if item_id is None:
                answer = await self.provider._shop_call(
                    conn, "POST", ADD_ITEM, body=self._new_item(conn, draft, body)
                )
                item_id = int((answer.get("response") or {}).get("item_id") or 0)
                if not item_id:
                    raise ChannelError(
                        "shopee add_item answered no item_id", code="MALFORMED", retryable=True
                    )
        except ChannelError as exc:
            if not _content_error(exc):
                raise
            return _rejected([*problems, problem_for(exc, draft)])
        return PublishResult(PublishOutcome.ACCEPTED, external_id=str(item_id), problems=problems)

    async def _upload(self, conn: ChannelConnection, image: ListingImage) -> str:
        """``upload_image`` (a Public API: signed without the shop's token), ``scene``
        normal (an item image, made square); the ``image_id`` Shopee issued."""
        name = image.key.rsplit("/", 1)[-1] or "image.jpg"
        client = self.provider.client(conn)
        answer = await with_retries(
            partial(
                client.call_upload,
                UPLOAD_IMAGE,
                files={"image": (name, image.data, image.content_type)},
                data={"scene": "normal"},
            )
        )
        response = answer.get("response") or {}
        info: Any = response.get("image_info") or next(
            (e.get("image_info") for e in response.get("image_info_list") or [] if e.get("image_info")), {}
        )
        image_id = str((info or {}).get("image_id") or "")
        if not image_id:
            raise ChannelError("shopee upload_image answered no image_id", code="MALFORMED", retryable=True)
        return image_id

    def _item_body(
        self, conn: ChannelConnection, draft: ListingDraft, shopee: ShopeeRules, image_ids: list[str]
    ) -> dict[str, Any]:
        """What add_item and update_item share: the content."""
        attribute_list: list[dict[str, Any]] = []
        for key, attribute in shopee.attributes.items():
            value = draft.attributes.get(key)
            if not _present(value):
                continue
            names = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
            values: list[dict[str, Any]] = []
            for name in names:
                value_id = attribute.values.get(name)
                entry: dict[str, Any] = (
                    {"value_id": value_id} if value_id else {"value_id": 0, "original_value_name": name}
                )
                if attribute.unit and not value_id:
                    entry["value_unit"] = attribute.unit
                values.append(entry)
            attribute_list.append({"attribute_id": attribute.attribute_id, "attribute_value_list": values})
        weight = _weight(draft, conn)
        return {
            "item_name": draft.title.strip(),
            "description": draft.description.strip(),
            "category_id": int(str(draft.category_id)),
            "image": {"image_id_list": image_ids},
            "attribute_list": attribute_list,
            # brand_id 0 is Shopee's "No Brand"; a brand Crossdock names goes by its name
            "brand": {"brand_id": 0, "original_brand_name": draft.brand or "NoBrand"},
            "item_sku": draft.sku,
            "weight": weight,
        }

    def _new_item(
        self, conn: ChannelConnection, draft: ListingDraft, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """add_item's own fields: the price, the stock, the logistics channels, the status."""
        location_id = conn.settings.get("stock_location_id")
        stock: dict[str, Any] = {"stock": max(0, draft.quantity or 0)}
        if location_id:
            stock["location_id"] = str(location_id)
        assert draft.price is not None  # check_draft refused a draft without one
        return {
            **body,
            "original_price": float(draft.price.rounded().amount),
            "seller_stock": [stock],
            "logistic_info": [{"logistic_id": channel, "enabled": True} for channel in _logistics(conn)],
            "condition": "NEW",
            "item_status": "NORMAL",
        }

    # ------------------------------------------------------------ finding, reading, unlisting

    async def _find(self, conn: ChannelConnection, sku: str, external_id: str | None) -> int | None:
        """The item: the listing's own id when Crossdock knows it, else the item whose
        ``item_sku`` is the SKU (``search_item`` matches loosely: the answer is checked)."""
        item = (external_id or "").partition(":")[0]
        if item.isdigit():
            return int(item)
        for status in FIND_STATUSES:
            response = await self._get(
                conn, SEARCH_ITEM, {"item_sku": sku, "page_size": 50, "item_status": status}
            )
            ids = [int(i) for i in response.get("item_id_list") or [] if str(i).isdigit()]
            if not ids:
                continue
            for found in await self._base_info(conn, ids[:50]):
                if str(found.get("item_sku") or "") == sku:
                    return int(found["item_id"])
        return None

    async def _base_info(self, conn: ChannelConnection, item_ids: Sequence[int]) -> list[dict[str, Any]]:
        response = await self._get(conn, BASE_INFO, {"item_id_list": ",".join(str(i) for i in item_ids)})
        return [dict(i) for i in response.get("item_list") or [] if isinstance(i, Mapping)]

    async def read(
        self, conn: ChannelConnection, sku: str, external_id: str | None, language: str
    ) -> ListingDraft | None:
        item_id = await self._find(conn, sku, external_id)
        if item_id is None:
            return None
        found = [i for i in await self._base_info(conn, [item_id]) if int(i.get("item_id") or 0) == item_id]
        if not found or found[0].get("item_status") in GONE_STATUSES:
            return None
        item = found[0]
        category = str(item.get("category_id") or "")
        attributes: Mapping[str, Attribute] = {}
        if category.isdigit():
            try:
                attributes = (await self.shopee_rules(conn, category, language)).attributes
            except ChannelError as exc:
                if exc.code != "REFUSED":
                    raise
        image = item.get("image") or {}
        urls = [str(u) for u in image.get("image_url_list") or []]
        image_ids = [str(i) for i in image.get("image_id_list") or []]
        prices = item.get("price_info") or []
        price = None
        if prices and prices[0].get("original_price") is not None:
            price = Money(
                Decimal(str(prices[0]["original_price"])), str(prices[0].get("currency") or conn.currency)
            )
        brand = (item.get("brand") or {}).get("original_brand_name")
        values: dict[str, Any] = {}
        for entry in item.get("attribute_list") or []:
            key = str(entry.get("attribute_id"))
            names = [str(v.get("original_value_name") or "") for v in entry.get("attribute_value_list") or []]
            values[key] = _read_value(names, attributes.get(key))
        weight = item.get("weight")
        if weight not in (None, ""):
            values[WEIGHT_KEY] = float(weight)
        return ListingDraft(
            sku=str(item.get("item_sku") or sku),
            language=language,
            title=str(item.get("item_name") or ""),
            category_id=category or None,
            description=str(item.get("description") or ""),
            brand=None if not brand or brand in ("NoBrand", "No Brand") else str(brand),
            attributes=values,
            images=[
                ListingImage(key=image_ids[i] if i < len(image_ids) else url, url=url)
                for i, url in enumerate(urls)
            ],
            price=price,
            external_id=str(item_id),
        )

    async def deactivate(self, conn: ChannelConnection, sku: str, external_id: str | None) -> None:
        item_id = await self._find(conn, sku, external_id)
        if item_id is None:
            return
        try:
            answer = await self.provider._shop_call(
                conn, "POST", UNLIST_ITEM, body={"item_list": [{"item_id": item_id, "unlist": True}]}
            )
        except ChannelError as exc:
            if exc.code == "error_item_not_found":
                return  # Shopee does not know it: off sale already
            raise
        for failure in (answer.get("response") or {}).get("failure_list") or []:
            reason = str(failure.get("failed_reason") or "refused")
            if "not found" in reason.lower() or "not exist" in reason.lower():
                continue
            raise ChannelError(
                f"shopee would not unlist item {item_id}: {reason}", code="error_unlist_item_failed"
            )


def _read_value(names: list[str], attribute: Attribute | None) -> Any:
    if attribute is not None and attribute.multi:
        return names
    if len(names) != 1:
        return names
    name = names[0]
    if attribute is not None and attribute.numeric and not attribute.closed:
        try:
            number = Decimal(name)
        except InvalidOperation:
            return name
        return int(number) if number == number.to_integral_value() else float(number)
    return name


def _rejected(problems: Sequence[ListingProblem]) -> PublishResult:
    return PublishResult(PublishOutcome.REJECTED, problems=tuple(problems))
