"""Prohibited / restricted goods rules for UK destinations, as data for the core's
compliance engine (:class:`crossdock.ComplianceRules`: whole words, case-insensitive, in
titles, and for listings also brand, category and options). Each rule cites its legal
source. A rule is a prompt for an operator to look, not legal advice.
"""

from __future__ import annotations

from decimal import Decimal

from crossdock import ComplianceReason, ComplianceRule, ComplianceRules, QuantityLimit, QuantityUnit

__all__ = ["UK", "UK_RULES"]

#: Great Britain and Northern Ireland (``XI``, its VAT prefix); ``UK`` is an alias of ``GB``.
UK = frozenset({"GB", "XI"})

_NICOTINE_FREE = ("nicotine-free", "nicotine free", "0mg", "0 mg", "0mg/ml", "0 mg/ml", "shortfill")

_RULES: tuple[ComplianceRule, ...] = (
    ComplianceRule(
        id="uk-offensive-weapons",
        where=UK,
        reason=ComplianceReason.PROHIBITED_ITEM,
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
    ComplianceRule(
        id="uk-knives-age",
        where=UK,
        reason=ComplianceReason.RESTRICTED_ITEM,
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
    ComplianceRule(
        id="uk-trpr-refill-volume",
        where=UK,
        reason=ComplianceReason.PROHIBITED_ITEM,
        message="nicotine e-liquid in a refill container above 10 ml may not be sold in the UK",
        source="Tobacco and Related Products Regulations 2016 (SI 2016/507) reg. 36",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nic salt", "nicotine"),
        limit=QuantityLimit(QuantityUnit.ML, Decimal(10)),
        unless=_NICOTINE_FREE,
    ),
    ComplianceRule(
        id="uk-trpr-nicotine-strength",
        where=UK,
        reason=ComplianceReason.PROHIBITED_ITEM,
        message="e-liquid with more than 20 mg/ml nicotine may not be sold in the UK",
        source="Tobacco and Related Products Regulations 2016 (SI 2016/507) reg. 36",
        keywords=("e-liquid", "eliquid", "e liquid", "vape juice", "nic salt", "nicotine"),
        limit=QuantityLimit(QuantityUnit.MG_PER_ML, Decimal(20)),
        unless=_NICOTINE_FREE,
    ),
    ComplianceRule(
        id="uk-single-use-vapes",
        where=UK,
        reason=ComplianceReason.PROHIBITED_ITEM,
        message="single-use (disposable) vapes may not be sold or supplied from 1 June 2025",
        source=(
            "Environmental Protection (Single-use Vapes) (England) Regulations 2024 (SI 2024/1215) and "
            "the equivalent Scottish, Welsh and Northern Ireland regulations, in force 1 June 2025"
        ),
        keywords=("disposable vape", "single-use vape", "single use vape", "disposable e-cigarette"),
    ),
)

UK_RULES = ComplianceRules(rules=_RULES, aliases={"UK": "GB"})
