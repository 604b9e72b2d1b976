"""The listing quality checks against hand-made content, rules and images (read with Pillow)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageDraw

from crossdock.providers import AttributeRule, AttributeType, CategoryRules
from crossdock.services.listing_checks import check_content, image_facts


def _jpeg(
    size: tuple[int, int], background: tuple[int, int, int] = (255, 255, 255), fmt: str = "JPEG"
) -> bytes:
    picture = Image.new("RGB", size, background)
    w, h = size
    ImageDraw.Draw(picture).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(20, 90, 160))
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


RULES = CategoryRules(
    category_id="bottles",
    attributes=(
        AttributeRule(
            "material", "Material", required=True, type=AttributeType.ENUM, values=("steel", "plastic")
        ),
        AttributeRule("capacity_ml", "Capacity", required=True, type=AttributeType.NUMBER, unit="ml"),
        AttributeRule("colour", "Colour", type=AttributeType.TEXT, max_length=10),
    ),
    title_max=40,
    bullets_max=2,
    bullet_max_length=30,
    description_max=100,
    images_min=1,
    images_max=2,
    image_min_px=500,
    image_formats=frozenset({"JPEG"}),
    white_main_image=True,
    forbidden_words=("replica",),
    requires_brand=True,
)


def _content(**changes: Any) -> dict[str, Any]:
    good = {
        "title": "Trail Bottle 750 ml",
        "bullets": ["Keeps cold 24 hours", "Leak-proof lid"],
        "description": "A steel bottle.",
        "keywords": ["bottle"],
        "brand": "Acme",
        "category_id": "bottles",
        "attributes": {"material": "steel", "capacity_ml": 750},
    }
    return {**good, **changes}


def _codes(found: list[Any]) -> list[tuple[str, str | None, str]]:
    return sorted((p.code, p.field, p.severity) for p in found)


def test_content_within_the_rules_has_no_problem() -> None:
    main = image_facts(_jpeg((1000, 1000)))
    assert main["format"] == "JPEG" and (main["width"], main["height"]) == (1000, 1000)
    assert main["white_border"] == 1.0
    assert check_content(_content(), RULES, [main]) == []


def test_every_rule_broken_is_one_problem_on_its_field() -> None:
    content = _content(
        title="A Replica Trail Bottle that is far too long for this channel",
        bullets=["one", "two that is much longer than thirty characters", "three"],
        description="x" * 101,
        brand=None,
        attributes={"material": "glass", "colour": "midnight blue"},
    )
    small = image_facts(_jpeg((400, 600)))
    png = image_facts(_jpeg((800, 800), fmt="PNG"))
    grey = image_facts(_jpeg((1000, 1000), background=(200, 200, 200)))
    found = check_content(content, RULES, [grey, small, png])
    assert _codes(found) == [
        ("FORBIDDEN_WORD", "title", "error"),
        ("IMAGE_BACKGROUND", "images.0", "error"),
        ("IMAGE_FORMAT", "images.2", "error"),
        ("IMAGE_TOO_SMALL", "images.1", "error"),
        ("INVALID_VALUE", "attributes.material", "error"),
        ("MISSING_ATTRIBUTE", "attributes.capacity_ml", "error"),
        ("REQUIRED", "brand", "error"),
        ("TOO_LONG", "attributes.colour", "error"),
        ("TOO_LONG", "bullets.1", "error"),
        ("TOO_LONG", "description", "error"),
        ("TOO_LONG", "title", "error"),
        ("TOO_MANY", "bullets", "error"),
        ("TOO_MANY", "images", "error"),
    ]
    assert "60 characters, at most 40" in next(
        p.message for p in found if p.field == "title" and p.code == "TOO_LONG"
    )


def test_claims_are_errors_or_warnings_and_the_tenants_words_count() -> None:
    main = image_facts(_jpeg((1000, 1000)))
    content = _content(
        title="Best-seller bottle",
        description="Cures hangovers. FDA approved.",
        bullets=["Kills 99.9% of germs", "#1 pick"],
    )
    found = check_content(content, RULES, [main], forbidden_words=["hangovers"])
    assert _codes(found) == [
        ("FORBIDDEN_WORD", "description", "error"),
        ("RESTRICTED_CLAIM", "bullets.0", "error"),
        ("RESTRICTED_CLAIM", "bullets.1", "warning"),
        ("RESTRICTED_CLAIM", "description", "error"),  # a cure claim
        ("RESTRICTED_CLAIM", "description", "error"),  # an approval claim
        ("RESTRICTED_CLAIM", "title", "warning"),
    ]


def test_without_rules_only_what_every_channel_needs_is_checked() -> None:
    assert _codes(check_content(_content(title=" ", category_id=None), None, [])) == [
        ("REQUIRED", "categoryId", "error"),
        ("REQUIRED", "title", "error"),
        ("TOO_FEW", "images", "error"),
    ]


def test_a_channel_schema_is_checked_with_its_own_keywords() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "type": "object",
        "required": ["material", "item_package_quantity"],
        "properties": {
            "material": {"type": "string", "maxUtf8ByteLength": 6},
            "item_package_quantity": {"type": "integer", "minimum": 1},
        },
    }
    rules = CategoryRules(category_id="bottles", schema=schema)
    main = image_facts(_jpeg((1000, 1000)))
    found = check_content(_content(attributes={"material": "stéél!"}), rules, [main])
    assert _codes(found) == [
        ("MISSING_ATTRIBUTE", "attributes.item_package_quantity", "error"),
        ("SCHEMA", "attributes.material", "error"),
    ]
    assert "bytes in UTF-8" in next(p.message for p in found if p.code == "SCHEMA")
    ok = check_content(_content(attributes={"material": "steel", "item_package_quantity": 2}), rules, [main])
    assert ok == []


def test_bytes_that_are_not_an_image_are_refused() -> None:
    with pytest.raises(ValueError, match="not an image"):
        image_facts(b"GIF89a but not really")
