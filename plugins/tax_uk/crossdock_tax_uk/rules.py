"""Prohibited / restricted goods rules for UK destinations, as data (no I/O).

Words are matched whole, case-insensitive, in titles (and listing brand/options/category).
A rule is a prompt for an operator to look, not legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["UK_RULES", "Rule", "check_listing", "check_order_line"]

UK = frozenset({"GB", "UK", "XI"})


@dataclass(frozen=True)
class Rule:
    id: str
    reason: str  # prohibited_item | restricted_item
    message: str
    source: str
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    above: tuple[str, Decimal] | None = None
    unless: tuple[str, ...] = ()
    countries: frozenset[str] = UK


_NICOTINE_FREE = ("nicotine-free", "nicotine free", "0mg", "0 mg", "0mg/ml", "0 mg/ml", "shortfill")

UK_RULES: tuple[Rule, ...] = (
    Rule(
        id="uk-offensive-weapons",
        reason="prohibited_item",
        message="offensive weapon whose sale is banned in the UK",
        source=(
            "Restriction of Offensive Weapons Act 1959 s. 1 (flick/gravity knives); Criminal Justice Act "
            "1988 s. 141 and the Criminal Justice Act 1988 (Offensive Weapons) Order 1988 Schedule "
            "(knuckledusters, push daggers, butterfly knives, throwing stars; zombie-style knives added "
            "from 24 Sept 2024 - date UNCONFIRMED)"
        ),
        keywords=(
            "flick knife",
            "switchblade",
            "gravity knife",
            "butterfly knife",
            "balisong",
            "knuckleduster",
            "knuckle duster",
            "brass knuckles",
            "push dagger",
            "throwing star",
            "shuriken",
            "zombie knife",
        ),
    ),
    Rule(
        id="uk-knives-age",
        reason="restricted_item",
        message=(
            "bladed article: may not be sold to under-18s; a remote sale needs age verification and "
            "delivery to an adult"
        ),
        source=(
            "Criminal Justice Act 1988 s. 141A (sale of knives to persons under 18); Offensive Weapons "
            "Act 2019 ss. 38-40 (remote sale and delivery of bladed products)"
        ),
        keywords=("knife", "knives", "dagger", "machete", "sword", "cleaver", "bayonet", "axe"),
        categories=("knives", "cutlery", "blades"),
    ),
    Rule(
        id="uk-trpr-refill-volume",
        reason="prohibited_item",
        message="nicotine e-liquid in a refill container above 10 ml may not be sold in the UK",
        source="Tobacco and Related Products Regulations 2016 (SI 2016/507) reg. 36",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nic salt", "nicotine"),
        above=("ml", Decimal(10)),
        unless=_NICOTINE_FREE,
    ),
    Rule(
        id="uk-trpr-nicotine-strength",
        reason="prohibited_item",
        message="e-liquid with more than 20 mg/ml nicotine may not be sold in the UK",
        source="Tobacco and Related Products Regulations 2016 (SI 2016/507) reg. 36",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nic salt", "nicotine"),
        above=("mg/ml", Decimal(20)),
        unless=_NICOTINE_FREE,
    ),
    Rule(
        id="uk-single-use-vapes",
        reason="prohibited_item",
        message="single-use (disposable) vapes may not be sold or supplied from 1 June 2025",
        source=(
            "Environmental Protection (Single-use Vapes) (England) Regulations 2024 (SI 2024/1215) and "
            "the equivalent Scottish, Welsh and Northern Ireland regulations, in force 1 June 2025"
        ),
        keywords=("disposable vape", "single-use vape", "single use vape", "disposable e-cigarette"),
    ),
)

_QTY = re.compile(r"(\d+(?:[.,]\d+)?)\s*(mg/ml|ml)\b", re.IGNORECASE)


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9/.,\-]+", " ", text.lower()) + " "


def _has_any(text: str, words: Iterable[str]) -> bool:
    return any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", text) for w in words)


def _exceeds(text: str, unit: str, limit: Decimal) -> bool:
    return any(
        found.lower() == unit and Decimal(number.replace(",", ".")) > limit
        for number, found in _QTY.findall(text)
    )


def _fires(rule: Rule, text: str, category: str) -> bool:
    hit = (rule.keywords and _has_any(text, rule.keywords)) or (
        rule.categories and _has_any(category, rule.categories)
    )
    if not hit or (rule.unless and _has_any(text, rule.unless)):
        return False
    return rule.above is None or _exceeds(text, *rule.above)


def check_listing(listing: Mapping[str, object], country: object) -> list[tuple[str, str]]:
    state = str(country or "").strip().upper()
    options = listing.get("options") or {}
    option_text = " ".join(str(v) for v in options.values()) if isinstance(options, Mapping) else ""
    text = _words(
        " ".join(str(listing.get(k) or "") for k in ("title", "product_title", "brand")) + " " + option_text
    )
    category = _words(str(listing.get("category") or ""))
    return [
        (rule.reason, f"{state}: {rule.message} [{rule.source}]")
        for rule in UK_RULES
        if state in rule.countries and _fires(rule, text, category)
    ]


def check_order_line(title: str, sku: str, country: object) -> list[tuple[str, str]]:
    state = str(country or "").strip().upper()
    text = _words(f"{title} {sku}")
    return [
        (rule.reason, f"{sku} to {state}: {rule.message} [{rule.source}]")
        for rule in UK_RULES
        if state in rule.countries and _fires(rule, text, "")
    ]
