"""Restricted goods and warning rules for US destinations, as data for the core's
compliance engine (:class:`crossdock.ComplianceRules`).

Orders are checked against the destination state (``shipping_address.region``, a USPS code,
``US-`` code or state name); a listing is offered to every state, so a listing on a US
connection gets the problems of every rule for the US or one of its states. Words are
matched whole and case-insensitive. Each rule cites its legal source.
"""

from __future__ import annotations

from crossdock import CheckKind, ComplianceReason, ComplianceRule, ComplianceRules

__all__ = ["US_RULES"]

_VAPE = ("vape", "vapes", "e-cigarette", "e-cigarettes", "e-liquid", "eliquid", "vape juice", "pod", "pods")

_RULES: tuple[ComplianceRule, ...] = (
    ComplianceRule(
        id="ca-prop65",
        where=frozenset({"US-CA"}),
        reason=ComplianceReason.NEEDS_WARNING,
        message=(
            "product may expose buyers to a Proposition 65 listed chemical: a clear and reasonable "
            "warning must be shown to California buyers before purchase"
        ),
        source=(
            "Safe Drinking Water and Toxic Enforcement Act of 1986 (Proposition 65), Cal. Health & "
            "Safety Code s. 25249.6; Cal. Code Regs. tit. 27, s. 25600-25607.2 (internet sales: s. 25602(b))"
        ),
        keywords=("lead", "brass", "pvc", "vinyl", "bpa", "bisphenol", "phthalate", "phthalates", "cadmium"),
        checks=frozenset({CheckKind.LISTING}),  # a warning before purchase, not an order hold
    ),
    ComplianceRule(
        id="us-pact-ends",
        where=frozenset({"US"}),  # federal: every state, DC and the territories
        reason=ComplianceReason.RESTRICTED_ITEM,
        message=(
            "electronic nicotine delivery system: delivery sales need age verification at delivery, "
            "registration with ATF and the state, and cannot be mailed by USPS"
        ),
        source=(
            "Prevent All Cigarette Trafficking (PACT) Act, 15 U.S.C. 375-378, as amended by the Preventing "
            "Online Sales of E-Cigarettes to Children Act (Pub. L. 116-260, div. FF, title VI, 2020)"
        ),
        keywords=_VAPE,
    ),
    ComplianceRule(
        id="state-flavored-ends-ban",
        where=frozenset({"US-CA", "US-MA", "US-NJ", "US-NY", "US-RI"}),
        reason=ComplianceReason.PROHIBITED_ITEM,
        # a listing is offered in every state: restricted there, prohibited on orders to these
        listing_reason=ComplianceReason.RESTRICTED_ITEM,
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
    ),
)

US_RULES = ComplianceRules(rules=_RULES, aliases={"USA": "US"})
