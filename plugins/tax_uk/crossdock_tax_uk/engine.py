"""The ``uk_vat`` tax engine: UK VAT on goods sold to customers in the UK.

Sources (checked 2026-11 via the search tool):

* HMRC guidance "VAT and overseas goods sold directly to customers in the UK" and "VAT and
  overseas goods sold to customers in the UK using online marketplaces" (gov.uk, first
  published 2020, in force from 1 January 2021): consignments of GBP 135 or less that are
  outside the UK at the point of sale are charged UK *supply* VAT at the point of sale, by
  the seller, or by the online marketplace where one facilitates the sale; above GBP 135
  import VAT (and duty) is due at the border. Online marketplaces are also liable for goods
  of any value already in the UK sold by an overseas seller. The rules do not cover excise
  goods, nor imports into Northern Ireland from outside the UK and EU (import VAT applies).
* VAT Act 1994 s. 5A (online marketplaces, deemed supply) and s. 7(5A) (goods up to
  GBP 135 treated as supplied in the UK); HMRC manual VATREG37210 (no registration
  threshold for non-established taxable persons).
* Rates: HMRC "VAT rates on different goods and services" (gov.uk, updated 2025):
  standard 20 %, reduced 5 %, zero 0 %; books (VAT Act 1994 Sch. 8 Group 3), most food
  (Sch. 8 Group 1) and children's clothing (Sch. 8 Group 16) are zero-rated.
* B2B: where the customer is UK VAT-registered and gives its number, the seller (or the
  marketplace) does not charge VAT on low-value imports or on goods in the UK sold by an
  overseas seller through a marketplace; the customer accounts by reverse charge (same
  HMRC guidance, "business to business sales").

Northern Ireland (``destination_region == "NIR"`` or destination ``XI``) follows EU rules
for goods under the Windsor Framework: this engine taxes NI sales from Great Britain or NI
as domestic UK VAT and imports from outside the UK/EU as import VAT; sales of goods from an
EU member state to NI (EU OSS with the XI prefix) are refused with ``NotSupported``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from stdnum.gb import vat as gb_vat

from crossdock import (
    Money,
    NotSupported,
    TaxBase,
    TaxCapability,
    TaxContext,
    TaxLine,
    TaxQuote,
    TaxScheme,
    Threshold,
    UserError,
)

__all__ = ["EU_MEMBER_STATES", "LOW_VALUE_LIMIT", "UK_RATES", "UkVatEngine", "rate_for"]

#: VAT Act 1994 s. 7(5A); HMRC "VAT and overseas goods sold directly to customers in the UK".
LOW_VALUE_LIMIT = Money.of("135", "GBP")

#: HMRC "VAT rates on different goods and services" (percent).
UK_RATES: dict[str, Decimal] = {
    "standard": Decimal(20),
    "reduced": Decimal(5),
    "zero": Decimal(0),
    "books": Decimal(0),
    "food": Decimal(0),
    "children_clothing": Decimal(0),
}

EU_MEMBER_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "EL",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
_UK = frozenset({"GB", "UK", "XI"})


def rate_for(tax_class: str) -> Decimal:
    """UK rate (fraction) of a class; unknown classes are standard-rated."""
    return UK_RATES.get(tax_class.strip().lower(), UK_RATES["standard"]) / 100


def _up(code: str | None) -> str | None:
    return code.strip().upper() if code else None


class UkVatEngine(TaxBase):
    name = "uk_vat"
    display_name = "UK VAT (GBP 135 rule, online marketplaces)"
    version = "0.1.0"
    capabilities = frozenset({TaxCapability.QUOTE, TaxCapability.VAT_NUMBERS})

    def applies_to(self, country: str) -> bool:
        return _up(country) in _UK

    def thresholds(self) -> Sequence[Threshold]:
        # No registration threshold for overseas (non-established) sellers (VATREG37210).
        # The GBP 90,000 threshold applies to UK-established businesses' whole taxable
        # turnover, which this engine does not model.
        return ()

    def validate_vat_number(self, number: str) -> bool:
        """GB (or XI, Northern Ireland) VAT number: format and check digits, offline."""
        compact = number.strip().upper().replace(" ", "")
        if compact.startswith("XI"):
            compact = "GB" + compact[2:]
        try:
            return bool(gb_vat.is_valid(compact))
        except Exception:
            return False

    def quote(self, context: TaxContext, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]:
        dest = _up(context.destination_country)
        if dest not in _UK:
            raise UserError(f"uk_vat does not tax destination {context.destination_country!r}")
        if not lines:
            return []
        northern_ireland = dest == "XI" or _up(context.destination_region) == "NIR"
        jurisdiction = "XI" if northern_ireland else "GB"
        origin = _up(context.ship_from_country) or _up(context.seller_country)
        seller_in_uk = _up(context.seller_country) in _UK
        b2b = bool(context.buyer_vat_number) and self.validate_vat_number(context.buyer_vat_number or "")

        def each(by: str, scheme: str, zero: bool = False) -> list[TaxQuote]:
            return [self._line(line, jurisdiction, by, scheme, zero) for line in lines]

        if origin in _UK:
            if not seller_in_uk and context.channel:
                if b2b:
                    return each("buyer", TaxScheme.REVERSE_CHARGE, zero=True)
                # VAT Act 1994 s. 5A: goods in the UK, overseas seller, via an online marketplace.
                return each("marketplace", TaxScheme.DEEMED_SUPPLIER)
            return each("seller", TaxScheme.DOMESTIC)

        if northern_ireland:
            if origin in EU_MEMBER_STATES:
                raise NotSupported(
                    "uk_vat: goods sent from the EU to Northern Ireland follow EU distance-sales/OSS "
                    "rules (XI); not modelled"
                )
            # Imports into NI from outside the UK and EU: import VAT at the border.
            return each("buyer", TaxScheme.IMPORT)

        value = context.consignment_value or self._total(lines)
        if self._gbp(value, context) <= LOW_VALUE_LIMIT.amount:
            if b2b:
                return each("buyer", TaxScheme.REVERSE_CHARGE, zero=True)
            if context.channel:
                return each("marketplace", TaxScheme.DEEMED_SUPPLIER)
            # Supply VAT charged by the seller at the point of sale; the contract has no
            # dedicated scheme for this, so it is reported as a domestic supply (s. 7(5A)).
            return each("seller", TaxScheme.DOMESTIC)
        return each("buyer", TaxScheme.IMPORT)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _total(lines: Sequence[TaxLine]) -> Money:
        total = lines[0].amount
        for line in lines[1:]:
            total = total + line.amount
        return total

    @staticmethod
    def _gbp(money: Money, context: TaxContext) -> Decimal:
        return context.in_currency(money, "GBP").amount

    @staticmethod
    def _line(line: TaxLine, jurisdiction: str, by: str, scheme: str, zero: bool) -> TaxQuote:
        rate = Decimal(0) if zero else rate_for(line.tax_class)
        amount = line.tax_at(rate)
        return TaxQuote(
            sku=line.sku, rate=rate, amount=amount, collected_by=by, jurisdiction=jurisdiction, scheme=scheme
        )
