"""Prohibited / restricted goods rules for EU destinations, as data for the core's
compliance engine (:class:`crossdock.ComplianceRules`: whole words, case-insensitive, in
titles, and for listings also brand, category and options; an optional quantity limit read
from the text, ``10 ml``, ``5 mW``). Each rule cites its legal source.

Keep this modest: a rule here is a prompt for an operator to look, not legal advice.
"""

from __future__ import annotations

from decimal import Decimal

from crossdock import (
    CheckKind,
    ComplianceReason,
    ComplianceRule,
    ComplianceRules,
    QuantityLimit,
    QuantityUnit,
)
from crossdock_tax_eu.rates import EU_MEMBER_STATES

__all__ = ["EU_RULES"]

_ALL = EU_MEMBER_STATES
_NICOTINE_FREE = ("nicotine-free", "nicotine free", "0mg", "0 mg", "0mg/ml", "0 mg/ml", "shortfill")

_RULES: tuple[ComplianceRule, ...] = (
    ComplianceRule(
        id="eu-tpd-refill-volume",
        where=_ALL,
        reason=ComplianceReason.PROHIBITED_ITEM,
        message=(
            "nicotine-containing e-liquid in a refill container above 10 ml may not be placed "
            "on the EU market"
        ),
        source="Directive 2014/40/EU (Tobacco Products Directive) Art. 20(3)(a), OJ L 127, 29.4.2014",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nicotine shot", "nic salt", "nicotine"),
        limit=QuantityLimit(QuantityUnit.ML, Decimal(10)),
        unless=_NICOTINE_FREE,
    ),
    ComplianceRule(
        id="eu-tpd-nicotine-strength",
        where=_ALL,
        reason=ComplianceReason.PROHIBITED_ITEM,
        message="e-liquid with more than 20 mg/ml nicotine may not be placed on the EU market",
        source="Directive 2014/40/EU (Tobacco Products Directive) Art. 20(3)(c), OJ L 127, 29.4.2014",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nic salt", "nicotine"),
        limit=QuantityLimit(QuantityUnit.MG_PER_ML, Decimal(20)),
        unless=_NICOTINE_FREE,
    ),
    ComplianceRule(
        id="eu-consumer-laser",
        where=_ALL,
        reason=ComplianceReason.RESTRICTED_ITEM,
        message=(
            "laser pointer above 1 mW (class 3R or higher) is not a permitted consumer laser product; "
            "several member states also ban possession or sale"
        ),
        source=(
            "Commission Decision 2014/59/EU (safety requirements for consumer laser products, EN 50689), "
            "OJ L 38, 7.2.2014; national bans vary (UNCONFIRMED per state)"
        ),
        keywords=("laser pointer", "laser pen", "laserpointer"),
        limit=QuantityLimit(QuantityUnit.MW, Decimal(1)),
    ),
    ComplianceRule(
        id="eu-toy-ce",
        where=_ALL,
        reason=ComplianceReason.NEEDS_CERTIFICATE,
        message="toys need CE marking, an EU declaration of conformity and an EU economic operator",
        source="Directive 2009/48/EC (Toy Safety Directive) Art. 15-17; Regulation (EU) 2019/1020 Art. 4",
        categories=("toy", "toys"),
        checks=frozenset({CheckKind.LISTING}),  # certificates concern listings,
    ),
)

#: ``EL`` is Greece's VAT prefix; the rules use the ISO code ``GR``.
EU_RULES = ComplianceRules(rules=_RULES, aliases={"EL": "GR"})
