"""Restricted goods and warning rules for US destinations, as data (no I/O).

Orders are checked against the destination state (``shipping_address.region``); a listing
is offered to every state, so a listing on a US connection gets the problems of every
state a rule names. Words are matched whole and case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crossdock_tax_us.states import NO_SALES_TAX, STATES

__all__ = ["US_RULES", "Rule", "check_listing", "check_order_line"]

ALL_STATES = frozenset(STATES) | NO_SALES_TAX


@dataclass(frozen=True)
class Rule:
    id: str
    states: frozenset[str]
    message: str
    source: str
    keywords: tuple[str, ...]
    #: when set, one of these words must also appear (e.g. a flavour for a flavour ban)
    also: tuple[str, ...] = ()
    order_reason: str | None = None  # hold on orders to these states
    listing_reason: str | None = None  # problem on listings offered in the US


_VAPE = ("vape", "vapes", "e-cigarette", "e-cigarettes", "e-liquid", "eliquid", "vape juice", "pod", "pods")

US_RULES: tuple[Rule, ...] = (
    Rule(
        id="ca-prop65",
        states=frozenset({"CA"}),
        message=(
            "product may expose buyers to a Proposition 65 listed chemical: a clear and reasonable "
            "warning must be shown to California buyers before purchase"
        ),
        source=(
            "Safe Drinking Water and Toxic Enforcement Act of 1986 (Proposition 65), Cal. Health & "
            "Safety Code s. 25249.6; Cal. Code Regs. tit. 27, s. 25600-25607.2 (internet sales: s. 25602(b))"
        ),
        keywords=("lead", "brass", "pvc", "vinyl", "bpa", "bisphenol", "phthalate", "phthalates", "cadmium"),
        listing_reason="needs_warning",
    ),
    Rule(
        id="us-pact-ends",
        states=ALL_STATES,
        message=(
            "electronic nicotine delivery system: delivery sales need age verification at delivery, "
            "registration with ATF and the state, and cannot be mailed by USPS"
        ),
        source=(
            "Prevent All Cigarette Trafficking (PACT) Act, 15 U.S.C. 375-378, as amended by the Preventing "
            "Online Sales of E-Cigarettes to Children Act (Pub. L. 116-260, div. FF, title VI, 2020)"
        ),
        keywords=_VAPE,
        order_reason="restricted_item",
        listing_reason="restricted_item",
    ),
    Rule(
        id="state-flavored-ends-ban",
        states=frozenset({"CA", "MA", "NJ", "NY", "RI"}),
        message="flavoured e-cigarette products may not be sold to buyers in this state",
        source=(
            "CA Health & Safety Code s. 104559.5 (Prop. 31, 2022); MA St. 2019 c. 133; NJ P.L. 2019 c. 425; "
            "NY Public Health Law s. 1399-mm-1; RI Gen. Laws s. 23-1-56 (2022) - "
            "UNCONFIRMED scope for remote sales"
        ),
        keywords=_VAPE,
        also=(
            "flavored",
            "flavoured",
            "menthol",
            "mint",
            "fruit",
            "strawberry",
            "mango",
            "vanilla",
            "candy",
            "berry",
        ),
        order_reason="prohibited_item",
        listing_reason="restricted_item",
    ),
)


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9\-]+", " ", text.lower()) + " "


def _has_any(text: str, words: Iterable[str]) -> bool:
    return any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", text) for w in words)


def _fires(rule: Rule, text: str) -> bool:
    return _has_any(text, rule.keywords) and (not rule.also or _has_any(text, rule.also))


def check_listing(listing: Mapping[str, object], country: object) -> list[tuple[str, str]]:
    if str(country or "").strip().upper() not in {"US", "USA"}:
        return []
    options = listing.get("options") or {}
    option_text = " ".join(str(v) for v in options.values()) if isinstance(options, Mapping) else ""
    text = _words(
        " ".join(str(listing.get(k) or "") for k in ("title", "product_title", "brand", "category"))
        + " "
        + option_text
    )
    return [
        (
            rule.listing_reason,
            f"{', '.join(sorted(rule.states)) if len(rule.states) < 10 else 'US'}: "
            f"{rule.message} [{rule.source}]",
        )
        for rule in US_RULES
        if rule.listing_reason and _fires(rule, text)
    ]


def check_order_line(title: str, sku: str, country: object, region: object) -> list[tuple[str, str]]:
    if str(country or "").strip().upper() not in {"US", "USA"}:
        return []
    state = str(region or "").strip().upper().removeprefix("US-")
    text = _words(f"{title} {sku}")
    return [
        (rule.order_reason, f"{sku} to US-{state}: {rule.message} [{rule.source}]")
        for rule in US_RULES
        if rule.order_reason and state in rule.states and _fires(rule, text)
    ]
