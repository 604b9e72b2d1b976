"""Prohibited / restricted goods rules for EU destinations, as data.

Each rule names the member states it applies to, the words that trigger it (matched as
whole words, case-insensitive, in the listing's or order line's titles), optional category
words, an optional numeric limit read from the text (``10 ml``, ``5 mW``), and its legal
source. The checks are pure functions of the mappings the hooks receive: no I/O.

Keep this modest: a rule here is a prompt for an operator to look, not legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from crossdock_tax_eu.rates import EU_MEMBER_STATES

__all__ = ["EU_RULES", "Rule", "check_listing", "check_order_line"]


@dataclass(frozen=True)
class Rule:
    id: str
    countries: frozenset[str]
    reason: str  # prohibited_item | restricted_item | needs_certificate
    message: str
    source: str
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: (unit, limit): the rule fires only when a quantity in that unit above ``limit`` is
    #: named in the text (e.g. ("ml", 10) for refill containers).
    above: tuple[str, Decimal] | None = None
    #: words that switch the rule off (e.g. "nicotine-free")
    unless: tuple[str, ...] = ()
    #: order lines are held only for rules that say so (certificates concern listings)
    holds_orders: bool = True


_ALL = EU_MEMBER_STATES
_NICOTINE_FREE = ("nicotine-free", "nicotine free", "0mg", "0 mg", "0mg/ml", "0 mg/ml", "shortfill")

EU_RULES: tuple[Rule, ...] = (
    Rule(
        id="eu-tpd-refill-volume",
        countries=_ALL,
        reason="prohibited_item",
        message=(
            "nicotine-containing e-liquid in a refill container above 10 ml may not be placed "
            "on the EU market"
        ),
        source="Directive 2014/40/EU (Tobacco Products Directive) Art. 20(3)(a), OJ L 127, 29.4.2014",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nicotine shot", "nic salt", "nicotine"),
        above=("ml", Decimal(10)),
        unless=_NICOTINE_FREE,
    ),
    Rule(
        id="eu-tpd-nicotine-strength",
        countries=_ALL,
        reason="prohibited_item",
        message="e-liquid with more than 20 mg/ml nicotine may not be placed on the EU market",
        source="Directive 2014/40/EU (Tobacco Products Directive) Art. 20(3)(c), OJ L 127, 29.4.2014",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nic salt", "nicotine"),
        above=("mg/ml", Decimal(20)),
        unless=_NICOTINE_FREE,
    ),
    Rule(
        id="eu-consumer-laser",
        countries=_ALL,
        reason="restricted_item",
        message=(
            "laser pointer above 1 mW (class 3R or higher) is not a permitted consumer laser product; "
            "several member states also ban possession or sale"
        ),
        source=(
            "Commission Decision 2014/59/EU (safety requirements for consumer laser products, EN 50689), "
            "OJ L 38, 7.2.2014; national bans vary (UNCONFIRMED per state)"
        ),
        keywords=("laser pointer", "laser pen", "laserpointer"),
        above=("mw", Decimal(1)),
    ),
    Rule(
        id="eu-toy-ce",
        countries=_ALL,
        reason="needs_certificate",
        message="toys need CE marking, an EU declaration of conformity and an EU economic operator",
        source="Directive 2009/48/EC (Toy Safety Directive) Art. 15-17; Regulation (EU) 2019/1020 Art. 4",
        categories=("toy", "toys"),
        holds_orders=False,
    ),
)

_QTY = re.compile(r"(\d+(?:[.,]\d+)?)\s*(mg/ml|ml|mw)\b", re.IGNORECASE)


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9/.,\-]+", " ", text.lower()) + " "


def _has_any(text: str, words: Iterable[str]) -> bool:
    return any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", text) for w in words)


def _exceeds(text: str, unit: str, limit: Decimal) -> bool:
    for number, found in _QTY.findall(text):
        if found.lower() == unit and Decimal(number.replace(",", ".")) > limit:
            return True
    return False


def _fires(rule: Rule, text: str, category: str) -> bool:
    hit = (rule.keywords and _has_any(text, rule.keywords)) or (
        rule.categories and _has_any(category, rule.categories)
    )
    if not hit or (rule.unless and _has_any(text, rule.unless)):
        return False
    return rule.above is None or _exceeds(text, *rule.above)


def _country(code: object) -> str:
    upper = str(code or "").strip().upper()
    return "GR" if upper == "EL" else upper


def check_listing(listing: Mapping[str, object], country: object) -> list[tuple[str, str]]:
    """Problems for offering ``listing`` to buyers in ``country``."""
    state = _country(country)
    options = listing.get("options") or {}
    option_text = " ".join(str(v) for v in options.values()) if isinstance(options, Mapping) else ""
    text = _words(
        " ".join(str(listing.get(k) or "") for k in ("title", "product_title", "brand")) + " " + option_text
    )
    category = _words(str(listing.get("category") or ""))
    return [
        (rule.reason, f"{state}: {rule.message} [{rule.source}]")
        for rule in EU_RULES
        if state in rule.countries and _fires(rule, text, category)
    ]


def check_order_line(title: str, sku: str, country: object) -> list[tuple[str, str]]:
    """Holds for one order line shipped to ``country`` (titles only: orders carry no category)."""
    state = _country(country)
    text = _words(f"{title} {sku}")
    return [
        (rule.reason, f"{sku} to {state}: {rule.message} [{rule.source}]")
        for rule in EU_RULES
        if rule.holds_orders and state in rule.countries and _fires(rule, text, "")
    ]
