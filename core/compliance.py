"""Declarative compliance rules: which goods may not (or only with care) be sold where.

Region plugins declare their prohibited / restricted goods as data, :class:`ComplianceRule`
values gathered in a :class:`ComplianceRules` book, and answer the
``crossdock_order_checks`` and ``crossdock_listing_checks`` hooks with it::

    RULES = ComplianceRules(
        rules=(
            ComplianceRule(
                id="xx-refill-volume",
                where=frozenset({"XX"}),
                reason=ComplianceReason.PROHIBITED_ITEM,
                message="nicotine refill containers above 10 ml may not be sold",
                source="Tobacco Act 2016 s. 36",
                keywords=("e-liquid", "nicotine"),
                limit=QuantityLimit(QuantityUnit.ML, Decimal(10)),
            ),
        )
    )

    @hookimpl
    def crossdock_order_checks(order):
        return RULES.order_holds(order) or None

How a rule is matched (the same for every plugin):

* Words are matched whole and case-insensitive: ``knife`` matches "Chef's Knife 20cm" but
  not "knifes" nor "penknife". A word may contain spaces or ``-`` (``e-liquid``,
  ``laser pointer``).
* An order line's text is its title and SKU (orders carry no category). A listing's text is
  its title, the product's title, brand and category, and the variant's option values; its
  category is also matched on its own against ``categories``.
* A rule fires when one of its ``keywords`` is in the text, or one of its ``categories`` in
  the category; and, when it has them, one of the ``also`` words is in the text too; and
  none of its ``unless`` words is; and, with a ``limit``, the text names a quantity in the
  limit's unit strictly above it (``"50ml"`` is above 10 ml, ``"10 ml"`` is not).
* ``where`` holds ISO 3166-1 country codes (``"FR"``) and ISO 3166-2 subdivision codes
  (``"US-CA"``). An order is judged where it is shipped: its country, or its country and
  region. A listing is offered to a whole country, so it gets the problems of every rule
  for that country or for one of its subdivisions.
* Every finding's message names where it applies and cites the rule's legal source.

The checks are pure functions of their arguments (no I/O), as the policy hooks require.
A rule is a prompt for an operator to look, not legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crossdock.providers import ChannelOrder

__all__ = [
    "CheckKind",
    "ComplianceFinding",
    "ComplianceReason",
    "ComplianceRule",
    "ComplianceRules",
    "QuantityLimit",
    "QuantityUnit",
]


class ComplianceReason(StrEnum):
    """Why a rule objects: the hold reason on an order, the issue reason on a listing."""

    #: may not be sold to buyers there; a listing with it gets no stock pushed
    PROHIBITED_ITEM = "prohibited_item"
    #: may be sold only under conditions (age checks, registration, licensed carriers)
    RESTRICTED_ITEM = "restricted_item"
    #: needs a certificate or marking before it is offered (CE marking, declaration)
    NEEDS_CERTIFICATE = "needs_certificate"
    #: needs a warning shown to buyers before purchase
    NEEDS_WARNING = "needs_warning"


class CheckKind(StrEnum):
    """What a rule judges: order lines as they arrive, listings as they are offered."""

    ORDER = "order"
    LISTING = "listing"


class QuantityUnit(StrEnum):
    """Units a :class:`QuantityLimit` reads from a title (``"50ml"``, ``"20 mg/ml"``, ``"5mW"``)."""

    ML = "ml"
    MG_PER_ML = "mg/ml"
    MW = "mw"


@dataclass(frozen=True)
class QuantityLimit:
    """The rule fires only when the text names a quantity in ``unit`` strictly above
    ``above``: with ``QuantityLimit(QuantityUnit.ML, Decimal(10))`` "50ml" fires, "10 ml"
    does not. ``"2,5 ml"`` is read as 2.5."""

    unit: QuantityUnit
    above: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", QuantityUnit(self.unit))
        object.__setattr__(self, "above", Decimal(self.above))


_BOTH = frozenset({CheckKind.ORDER, CheckKind.LISTING})
_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


@dataclass(frozen=True)
class ComplianceRule:
    """One prohibited or restricted kind of goods in some places, with its legal source.

    ``id`` is unique within a book. ``where`` holds country / subdivision codes (module
    doc). ``reason`` is what an order hold or listing issue says; ``listing_reason``, when
    set, is said on listings instead (a ban on orders may be a restriction on a listing
    offered to a whole country). ``checks`` says whether the rule holds orders, judges
    listings, or both. ``source`` cites the law, regulation or decision, as precisely as
    it is known (mark unverified points ``UNCONFIRMED``).
    """

    id: str
    where: frozenset[str]
    reason: ComplianceReason
    message: str
    source: str
    keywords: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    limit: QuantityLimit | None = None
    checks: frozenset[CheckKind] = _BOTH
    listing_reason: ComplianceReason | None = None

    def __post_init__(self) -> None:
        for words in (self.where, self.keywords, self.categories, self.also, self.unless):
            if isinstance(words, str):  # ("knife") is a str, not a tuple: a classic slip
                raise ValueError(f"compliance rule {self.id!r}: {words!r} should be a tuple or set of words")
        problems = []
        if not self.id.strip():
            problems.append("an id")
        if not self.message.strip():
            problems.append("a message")
        if not self.source.strip():
            problems.append("its legal source")
        if not self.keywords and not self.categories:
            problems.append("keywords or categories")
        if not self.where:
            problems.append("where it applies")
        if not self.checks:
            problems.append("what it checks (orders, listings)")
        if problems:
            raise ValueError(f"compliance rule {self.id!r} needs {', '.join(problems)}")
        bad = sorted(code for code in self.where if not _CODE.match(code))
        if bad:
            raise ValueError(
                f"compliance rule {self.id!r}: {', '.join(bad)} are not upper-case ISO 3166 codes "
                '("FR", "US-CA")'
            )
        object.__setattr__(self, "where", frozenset(self.where))
        object.__setattr__(self, "reason", ComplianceReason(self.reason))
        object.__setattr__(self, "checks", frozenset(CheckKind(c) for c in self.checks))
        if self.listing_reason is not None:
            object.__setattr__(self, "listing_reason", ComplianceReason(self.listing_reason))

    def fires(self, text: str, category: str = "") -> bool:
        """Whether the rule objects to goods described by ``text`` (and ``category``)."""
        return _fires(self, _normalized(text), _normalized(category))

    def _reason_for(self, kind: CheckKind) -> ComplianceReason:
        if kind is CheckKind.LISTING and self.listing_reason is not None:
            return self.listing_reason
        return self.reason


@dataclass(frozen=True)
class ComplianceFinding:
    """One rule's objection: ``reason`` and ``message`` are what the hooks return."""

    rule: ComplianceRule
    reason: ComplianceReason
    #: where it applies: a country or subdivision code, or several joined by ", "
    where: str
    message: str

    def pair(self) -> tuple[str, str]:
        """``(reason, message)``, the shape the policy hooks return."""
        return (self.reason.value, self.message)


@dataclass(frozen=True)
class ComplianceRules:
    """A plugin's book of rules and the checks over it.

    ``aliases`` maps codes buyers or channels use to the ISO code the rules use
    (``{"EL": "GR", "UK": "GB", "USA": "US"}``).
    """

    rules: tuple[ComplianceRule, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"compliance rule {rule.id!r} is declared twice")
            seen.add(rule.id)

    # ---------------------------------------------------------------- checks

    def check_order_line(
        self, *, title: str | None, sku: str, country: object, region: object = None
    ) -> list[ComplianceFinding]:
        """Objections to shipping one order line to ``country`` (and ``region``, a state or
        province code such as ``"CA"`` or ``"US-CA"``)."""
        code = self.country(country)
        if not code:
            return []
        subdivision = self._subdivision(code, region)
        text = _normalized(f"{title or ''} {sku}")
        found = []
        for rule in self.rules:
            if CheckKind.ORDER not in rule.checks:
                continue
            if subdivision is not None and subdivision in rule.where:
                where = subdivision
            elif code in rule.where:
                where = code
            else:
                continue
            if _fires(rule, text, ""):
                found.append(self._finding(rule, CheckKind.ORDER, where, f"{sku} to {where}"))
        return found

    def check_listing(self, listing: Mapping[str, Any], country: object) -> list[ComplianceFinding]:
        """Objections to offering ``listing`` (the ``crossdock_listing_checks`` mapping) to
        buyers in ``country``."""
        code = self.country(country)
        if not code:
            return []
        options = listing.get("options") or {}
        option_text = " ".join(str(v) for v in options.values()) if isinstance(options, Mapping) else ""
        fields = ("title", "product_title", "brand", "category")
        text = _normalized(" ".join(str(listing.get(k) or "") for k in fields) + " " + option_text)
        category = _normalized(str(listing.get("category") or ""))
        found = []
        for rule in self.rules:
            if CheckKind.LISTING not in rule.checks:
                continue
            if code in rule.where:
                where = code
            else:
                inside = sorted(w for w in rule.where if w.startswith(f"{code}-"))
                if not inside:
                    continue
                where = ", ".join(inside)
            if _fires(rule, text, category):
                found.append(self._finding(rule, CheckKind.LISTING, where, where))
        return found

    # ---------------------------------------------------------------- hook answers

    def order_holds(self, order: ChannelOrder) -> list[tuple[str, str]]:
        """``crossdock_order_checks``' answer: holds for every line of ``order`` at its
        shipping address (none without an address)."""
        address = order.shipping_address
        if address is None or not address.country:
            return []
        return [
            finding.pair()
            for line in order.lines
            for finding in self.check_order_line(
                title=line.title, sku=line.sku, country=address.country, region=address.region
            )
        ]

    def listing_problems(self, listing: Mapping[str, Any], country: object) -> list[tuple[str, str]]:
        """``crossdock_listing_checks``' answer for buyers in ``country``."""
        return [finding.pair() for finding in self.check_listing(listing, country)]

    # ---------------------------------------------------------------- helpers

    def country(self, code: object) -> str:
        """``code`` as the rules spell it (upper case, aliases applied); ``""`` for none."""
        upper = str(code or "").strip().upper()
        return self.aliases.get(upper, upper)

    @staticmethod
    def _subdivision(country: str, region: object) -> str | None:
        upper = str(region or "").strip().upper()
        if not upper:
            return None
        return upper if upper.startswith(f"{country}-") else f"{country}-{upper}"

    @staticmethod
    def _finding(rule: ComplianceRule, kind: CheckKind, where: str, subject: str) -> ComplianceFinding:
        reason = rule._reason_for(kind)
        return ComplianceFinding(rule, reason, where, f"{subject}: {rule.message} [{rule.source}]")


# --------------------------------------------------------------------------- matching

_QUANTITY = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*("
    + "|".join(re.escape(u.value) for u in sorted(QuantityUnit, key=lambda u: -len(u.value)))
    + r")\b"
)


def _normalized(text: str) -> str:
    """Lower case, runs of anything but letters, digits and ``/ . , -`` as one space."""
    return " " + re.sub(r"[^a-z0-9/.,\-]+", " ", text.lower()) + " "


@cache
def _words(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


def _has_any(text: str, words: tuple[str, ...]) -> bool:
    return bool(words) and _words(words).search(text) is not None


def _exceeds(text: str, limit: QuantityLimit) -> bool:
    return any(
        unit == limit.unit.value and Decimal(number.replace(",", ".")) > limit.above
        for number, unit in _QUANTITY.findall(text)
    )


def _fires(rule: ComplianceRule, text: str, category: str) -> bool:
    if not (_has_any(text, rule.keywords) or _has_any(category, rule.categories)):
        return False
    if rule.also and not _has_any(text, rule.also):
        return False
    if _has_any(text, rule.unless):
        return False
    return rule.limit is None or _exceeds(text, rule.limit)
