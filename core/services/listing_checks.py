"""Quality checks of listing content, run on save and before publishing.

:func:`check_content` gathers every problem a channel would refuse (and some it would
only frown on) from the content, the channel's rules for its category
(:class:`~crossdock.providers.CategoryRules`), and the images themselves (read with Pillow):

* **required fields**: a title, a category, the brand when the category needs one, every
  attribute the category marks required;
* **limits**: the title's length, the number and length of bullet points, the
  description's and the search keywords' length;
* **attributes**: a value the channel does not offer for an enumerated attribute, a number
  that is not one, a text over its length; and, where the channel publishes a JSON Schema
  of its attributes (Amazon's product type definitions), that schema, checked with
  ``jsonschema`` extended by Amazon's own byte-length keywords;
* **words**: the channel's forbidden words and the tenant's own
  (``listings.forbidden_words``) in the title and description, and restricted claims
  (health claims an operator may not make; superlatives the channels frown on, as warnings);
* **images**: how many, their format, their shortest side and size, and, where the channel
  wants it, a main image on pure white.

Each problem is a :class:`~crossdock.providers.ListingProblem` with a code from
:data:`CODES` and the field it is about (``title``, ``bullets.1``, ``attributes.material``,
``images.0``). Errors block publishing; warnings do not.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from crossdock.providers import AttributeType, CategoryRules, ListingProblem

__all__ = ["CLAIMS", "CODES", "WARNING", "check_content", "image_facts"]

#: The problem codes the checks give (the channel's own codes pass through as they come).
CODES = {
    "REQUIRED": "a field the channel requires is empty",
    "TOO_LONG": "longer than the channel allows",
    "TOO_MANY": "more items than the channel allows",
    "TOO_FEW": "fewer items than the channel needs",
    "MISSING_ATTRIBUTE": "an attribute the category requires has no value",
    "INVALID_VALUE": "a value the channel does not offer for this attribute, or of the wrong type",
    "SCHEMA": "the channel's attribute schema refuses the value",
    "FORBIDDEN_WORD": "a word the channel (or the tenant) does not allow",
    "RESTRICTED_CLAIM": "a claim a seller may not make (health claims) or should not (superlatives)",
    "IMAGE_FORMAT": "an image format the channel does not take",
    "IMAGE_TOO_SMALL": "an image smaller than the channel needs",
    "IMAGE_TOO_LARGE": "an image file larger than the channel takes",
    "IMAGE_BACKGROUND": "the main image is not on a pure white background",
    "IMAGE_UNREADABLE": "the image's bytes are not an image",
    "COMPLIANCE": "a region plugin's compliance rule objects to the listing",
}
WARNING = "warning"

#: Restricted claims: (pattern, severity, what it is). Health claims are errors (the
#: channels and most regulators prohibit them for ordinary goods); superlatives warnings.
CLAIMS: tuple[tuple[str, str, str], ...] = (
    (r"\bcures?\b", "error", "a cure claim"),
    (r"\btreats?\b", "error", "a treatment claim"),
    (r"\bheals?\b", "error", "a healing claim"),
    (r"\bprevents? (?:disease|cancer|covid|infection)s?\b", "error", "a disease prevention claim"),
    (r"\bfda[- ]approved\b", "error", "an approval claim"),
    (r"\bclinically proven\b", "error", "a clinical claim"),
    (r"\bkills? (?:\d+(?:\.\d+)?\s*%\s*of\s*)?(?:germs|bacteria|viruses)\b", "error", "a pesticidal claim"),
    (r"\bbest[- ]sell(?:er|ing)\b", WARNING, "a superlative"),
    (r"#\s*1\b", WARNING, "a superlative"),
    (r"\b100\s*% (?:guaranteed|satisfaction)\b", WARNING, "a guarantee"),
    (r"\bfree shipping\b", WARNING, "a shipping promise"),
)
_CLAIMS = [(re.compile(p, re.IGNORECASE), severity, what) for p, severity, what in CLAIMS]

#: A pixel this close to 255 on every channel counts as white.
_WHITE = 245
#: The share of the main image's border that must be white.
_WHITE_SHARE = 0.97


def _problem(code: str, message: str, field: str | None, severity: str = "error") -> ListingProblem:
    return ListingProblem(code=code, message=message, field=field, severity=severity)


def _words(text: str, words: Iterable[str]) -> list[str]:
    lowered = text.lower()
    found = []
    for word in words:
        term = word.strip().lower()
        if term and re.search(rf"(?<!\w){re.escape(term)}(?!\w)", lowered):
            found.append(word.strip())
    return found


def image_facts(data: bytes) -> dict[str, Any]:
    """What Pillow reads from an image: ``format``, ``width``, ``height``, ``bytes``, and
    ``white_border`` (the share of its border pixels that are white). Raises ``ValueError``
    for bytes that are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            fmt = picture.format or ""
            rgb = picture.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not an image: {exc}") from None
    width, height = rgb.size
    step = max(1, min(width, height) // 100)
    border: list[tuple[int, int]] = []
    for x in range(0, width, step):
        border += [(x, 0), (x, height - 1)]
    for y in range(0, height, step):
        border += [(0, y), (width - 1, y)]
    pixels = rgb.load()
    assert pixels is not None
    white = sum(1 for x, y in border if min(cast(tuple[int, int, int], pixels[x, y])) >= _WHITE)
    return {
        "format": fmt,
        "width": width,
        "height": height,
        "bytes": len(data),
        "white_border": round(white / len(border), 4) if border else 0.0,
    }


def _attribute_problems(attributes: Mapping[str, Any], rules: CategoryRules) -> list[ListingProblem]:
    found: list[ListingProblem] = []
    for rule in rules.attributes:
        field = f"attributes.{rule.name}"
        value = attributes.get(rule.name)
        empty = value is None or value == "" or value == []
        if empty:
            if rule.required:
                label = rule.label or rule.name
                found.append(_problem("MISSING_ATTRIBUTE", f"{label} is required in this category", field))
            continue
        values = value if isinstance(value, list) else [value]
        if rule.type in (AttributeType.ENUM, AttributeType.MULTI_ENUM) and rule.values:
            allowed = {str(v) for v in rule.values}
            wrong = [str(v) for v in values if str(v) not in allowed]
            if wrong:
                found.append(
                    _problem(
                        "INVALID_VALUE",
                        f"{', '.join(wrong)} is not a value the channel offers for {rule.label or rule.name}",
                        field,
                    )
                )
            if rule.type == AttributeType.ENUM and len(values) > 1:
                found.append(_problem("INVALID_VALUE", f"{rule.label or rule.name} takes one value", field))
        if rule.type == AttributeType.NUMBER:
            for v in values:
                try:
                    float(cast(Any, v))
                except (TypeError, ValueError):
                    found.append(_problem("INVALID_VALUE", f"{v!r} is not a number", field))
        if rule.max_length is not None:
            for v in values:
                if len(str(v)) > rule.max_length:
                    found.append(_problem("TOO_LONG", f"at most {rule.max_length} characters", field))
    return found


def _schema_problems(attributes: Mapping[str, Any], schema: Mapping[str, Any]) -> list[ListingProblem]:
    import jsonschema
    from jsonschema import validators

    def utf8_max(validator: Any, limit: Any, instance: Any, schema: Any) -> Iterable[Any]:
        if isinstance(instance, str) and len(instance.encode()) > limit:
            yield jsonschema.ValidationError(f"{instance[:40]!r} is longer than {limit} bytes in UTF-8")

    def utf8_min(validator: Any, limit: Any, instance: Any, schema: Any) -> Iterable[Any]:
        if isinstance(instance, str) and len(instance.encode()) < limit:
            yield jsonschema.ValidationError(f"{instance[:40]!r} is shorter than {limit} bytes in UTF-8")

    base = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    checker = validators.extend(  # type: ignore[no-untyped-call]  # untyped in its stubs
        base, {"maxUtf8ByteLength": utf8_max, "minUtf8ByteLength": utf8_min}
    )
    try:
        checker.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        return [
            _problem("SCHEMA", f"the channel's schema cannot be used: {exc.message}", "attributes", WARNING)
        ]
    found = []
    for error in sorted(checker(dict(schema)).iter_errors(dict(attributes)), key=lambda e: list(e.path)):
        path = [str(p) for p in error.path]
        if error.validator == "required" and not path:
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            field = f"attributes.{missing[0]}" if missing else "attributes"
            code = "MISSING_ATTRIBUTE"
        else:
            field = "attributes." + path[0] if path else "attributes"
            code = "SCHEMA"
        found.append(_problem(code, error.message, field))
    return found


def check_content(
    content: Mapping[str, Any],
    rules: CategoryRules | None,
    images: Sequence[Mapping[str, Any]] = (),
    *,
    forbidden_words: Sequence[str] = (),
    compliance: Sequence[tuple[str, str]] = (),
) -> list[ListingProblem]:
    """Every problem with ``content`` (``title``, ``bullets``, ``description``, ``keywords``,
    ``brand``, ``category_id``, ``attributes``) under ``rules`` (``None``: no category rules
    known yet, only what every channel needs is checked). ``images`` are their
    :func:`image_facts` in order (the first the main image); ``forbidden_words`` the
    tenant's own; ``compliance`` the region plugins' ``(reason, message)`` objections."""
    found: list[ListingProblem] = []
    title = str(content.get("title") or "").strip()
    bullets = [str(b) for b in content.get("bullets") or []]
    description = str(content.get("description") or "")
    keywords = [str(k) for k in content.get("keywords") or []]
    attributes = dict(content.get("attributes") or {})
    if not title:
        found.append(_problem("REQUIRED", "a listing needs a title", "title"))
    if not content.get("category_id"):
        found.append(_problem("REQUIRED", "choose the channel's category", "categoryId"))
    if rules is not None:
        if rules.title_max is not None and len(title) > rules.title_max:
            found.append(_problem("TOO_LONG", f"{len(title)} characters, at most {rules.title_max}", "title"))
        if rules.bullets_max is not None and len(bullets) > rules.bullets_max:
            found.append(
                _problem("TOO_MANY", f"{len(bullets)} bullet points, at most {rules.bullets_max}", "bullets")
            )
        if rules.bullet_max_length is not None:
            for i, bullet in enumerate(bullets):
                if len(bullet) > rules.bullet_max_length:
                    found.append(
                        _problem("TOO_LONG", f"at most {rules.bullet_max_length} characters", f"bullets.{i}")
                    )
        if rules.description_max is not None and len(description) > rules.description_max:
            found.append(
                _problem(
                    "TOO_LONG",
                    f"{len(description)} characters, at most {rules.description_max}",
                    "description",
                )
            )
        if (
            rules.keywords_max_length is not None
            and len(" ".join(keywords).encode()) > rules.keywords_max_length
        ):
            found.append(
                _problem("TOO_LONG", f"at most {rules.keywords_max_length} bytes (UTF-8)", "keywords")
            )
        if rules.requires_brand and not content.get("brand"):
            found.append(_problem("REQUIRED", "this category needs the brand", "brand"))
        found += _attribute_problems(attributes, rules)
        if rules.schema:
            seen = {(p.code, p.field) for p in found}
            found += [p for p in _schema_problems(attributes, rules.schema) if (p.code, p.field) not in seen]
    words = [*(rules.forbidden_words if rules else ()), *forbidden_words]
    for field, text in (("title", title), ("description", description)):
        for word in _words(text, words):
            found.append(_problem("FORBIDDEN_WORD", f"{word!r} is not allowed here", field))
        for pattern, severity, what in _CLAIMS:
            match = pattern.search(text)
            if match:
                found.append(_problem("RESTRICTED_CLAIM", f"{match.group(0)!r} is {what}", field, severity))
    for i, bullet in enumerate(bullets):
        for pattern, severity, what in _CLAIMS:
            match = pattern.search(bullet)
            if match:
                found.append(
                    _problem("RESTRICTED_CLAIM", f"{match.group(0)!r} is {what}", f"bullets.{i}", severity)
                )
    found += _image_problems(images, rules)
    for reason, message in compliance:
        found.append(_problem("COMPLIANCE", f"{reason}: {message}", None))
    return found


def _image_problems(images: Sequence[Mapping[str, Any]], rules: CategoryRules | None) -> list[ListingProblem]:
    found: list[ListingProblem] = []
    least = rules.images_min if rules is not None else 1
    if len(images) < least:
        found.append(_problem("TOO_FEW", f"{len(images)} images, at least {least}", "images"))
    if rules is None:
        return found
    if rules.images_max is not None and len(images) > rules.images_max:
        found.append(_problem("TOO_MANY", f"{len(images)} images, at most {rules.images_max}", "images"))
    for i, facts in enumerate(images):
        field = f"images.{i}"
        if facts.get("error"):
            found.append(_problem("IMAGE_UNREADABLE", str(facts["error"]), field))
            continue
        fmt = str(facts.get("format") or "").upper()
        if rules.image_formats and fmt not in rules.image_formats:
            found.append(
                _problem(
                    "IMAGE_FORMAT", f"{fmt or 'unknown'} is not one of {sorted(rules.image_formats)}", field
                )
            )
        side = min(int(facts.get("width") or 0), int(facts.get("height") or 0))
        if rules.image_min_px is not None and side < rules.image_min_px:
            found.append(
                _problem(
                    "IMAGE_TOO_SMALL", f"{side} px on its short side, at least {rules.image_min_px}", field
                )
            )
        if rules.image_max_bytes is not None and int(facts.get("bytes") or 0) > rules.image_max_bytes:
            found.append(
                _problem(
                    "IMAGE_TOO_LARGE", f"{facts.get('bytes')} bytes, at most {rules.image_max_bytes}", field
                )
            )
        if i == 0 and rules.white_main_image and float(facts.get("white_border") or 0) < _WHITE_SHARE:
            found.append(
                _problem("IMAGE_BACKGROUND", "the main image must stand on pure white (RGB 255)", field)
            )
    return found
