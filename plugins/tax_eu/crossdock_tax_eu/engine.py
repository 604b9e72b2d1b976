"""The ``eu_vat`` tax engine: which VAT scheme applies to a B2C/B2B sale of goods into the EU.

Legal basis (Council Directive 2006/112/EC, "VAT Directive", as amended by Council
Directives (EU) 2017/2455 and 2019/1995, in force since 1 July 2021; Commission
*Explanatory Notes on VAT e-commerce rules*, September 2020):

* Art. 33 + Art. 59c: intra-Community distance sales of goods are taxed where the goods
  arrive, unless the supplier is established in one member state only, dispatches from
  that state, and its intra-Community distance sales (plus TBE services) did not exceed
  EUR 10,000 in the current and the preceding calendar year. The supply that makes the
  total exceed EUR 10,000 is itself taxed at destination. Art. 369a-369k: Union OSS.
* Art. 14a(1): an electronic interface (marketplace) facilitating distance sales of goods
  imported in consignments of intrinsic value <= EUR 150 is the deemed supplier.
* Art. 14a(2): an electronic interface facilitating supplies within the EU by a supplier
  not established in the EU to a non-taxable person is the deemed supplier.
* Art. 369l-369x (IOSS) + Art. 143(1)(ca): consignments <= EUR 150 declared under IOSS
  are exempt on import; VAT of the destination is charged at the sale.
* Art. 138 + Art. 200: intra-Community supply to a buyer identified for VAT in another
  member state is exempt; the buyer accounts for the acquisition (reverse charge).

Amounts: the EUR thresholds are compared in EUR, through ``TaxContext.in_currency`` (the
core's converter at the supply day's reference rates; without one, ``FX_REQUIRED``). Sales
that need no threshold comparison (domestic, reverse charge) work in any currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from stdnum.eu import vat as eu_vat

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
from crossdock_tax_eu.rates import EU_MEMBER_STATES, EU_RATES, RATES_VERSION

__all__ = ["EU_OSS_KEY", "EU_OSS_THRESHOLD", "IOSS_KEY", "IOSS_LIMIT", "EuVatEngine", "rate_for"]

#: Art. 59c(1)(c) VAT Directive (as amended by Directive (EU) 2017/2455): EUR 10,000 per
#: calendar year, all intra-EU distance sales of goods and TBE services together.
EU_OSS_KEY = "EU-OSS"
EU_OSS_THRESHOLD = Money.of("10000", "EUR")
#: Art. 14a(1), Art. 369l VAT Directive (as amended by Directive (EU) 2017/2455): consignments
#: of an intrinsic value not exceeding EUR 150.
IOSS_KEY = "IOSS"
IOSS_LIMIT = Money.of("150", "EUR")


def _country(code: str | None) -> str | None:
    if code is None:
        return None
    upper = code.strip().upper()
    return "GR" if upper == "EL" else upper


def rate_for(country: str, tax_class: str) -> Decimal:
    """The VAT rate (a fraction, 0.19 for 19 %) of ``country`` for ``tax_class``.

    ``reduced`` is the state's lowest reduced rate, ``reduced_2`` its second one,
    ``zero`` a zero-rated supply (the seller asserts the goods qualify). A class the state
    does not have falls back to the standard rate.
    """
    rates = EU_RATES[country]
    cls = tax_class.strip().lower()
    pct: Decimal | None
    if cls == "standard":
        pct = rates.standard
    elif cls == "zero":
        pct = Decimal(0)
    elif cls == "reduced":
        pct = rates.reduced[0] if rates.reduced else None
    elif cls == "reduced_2":
        pct = rates.reduced[1] if len(rates.reduced) > 1 else None
    elif cls == "super_reduced":
        pct = rates.super_reduced
    elif cls == "parking":
        pct = rates.parking
    else:
        pct = rates.classes.get(cls)
    if pct is None:
        pct = rates.standard
    return pct / 100


def _vat_country(number: str) -> str | None:
    """Member state of a VAT number's prefix (``EL`` -> ``GR``), None for ``XI``/unknown."""
    compact = eu_vat.compact(number)
    return _country(compact[:2]) if compact[:2].upper() in {*EU_MEMBER_STATES, "EL"} else None


class EuVatEngine(TaxBase):
    name = "eu_vat"
    display_name = "EU VAT (OSS / IOSS / deemed supplier)"
    version = "0.1.0"
    capabilities = frozenset({TaxCapability.QUOTE, TaxCapability.VAT_NUMBERS})
    rates_version = RATES_VERSION

    # ------------------------------------------------------------------ contract

    def applies_to(self, country: str) -> bool:
        return _country(country) in EU_MEMBER_STATES

    def thresholds(self) -> Sequence[Threshold]:
        return (
            Threshold(
                key=EU_OSS_KEY,
                sales=EU_OSS_THRESHOLD,
                description=(
                    "EU-wide threshold for intra-EU B2C distance sales of goods (and TBE services); "
                    "VAT Directive 2006/112/EC Art. 59c as amended by Directive (EU) 2017/2455. "
                    "Crossed when the calendar year's total EXCEEDS EUR 10,000; the preceding "
                    "year counts too."
                ),
            ),
        )

    def validate_vat_number(self, number: str) -> bool:
        """Format and check digits (python-stdnum ``stdnum.eu.vat``); not a VIES lookup."""
        try:
            return bool(eu_vat.is_valid(number))
        except Exception:
            return False

    def quote(self, context: TaxContext, lines: Sequence[TaxLine]) -> Sequence[TaxQuote]:
        dest = _country(context.destination_country)
        if dest not in EU_MEMBER_STATES:
            raise UserError(f"eu_vat does not tax destination {context.destination_country!r}")
        origin = _country(context.ship_from_country) or _country(context.seller_country)
        seller = _country(context.seller_country)
        if not lines:
            return []
        buyer_vat_state = self._valid_buyer_vat_state(context.buyer_vat_number)
        b2b = buyer_vat_state is not None

        if origin not in EU_MEMBER_STATES:
            return self._imports(context, lines, dest, b2b)

        # Intra-EU reverse charge: a valid VAT number of a state other than the dispatch state.
        if b2b and buyer_vat_state != origin:
            return [self._line(line, dest, Decimal(0), "buyer", TaxScheme.REVERSE_CHARGE) for line in lines]

        seller_established = seller in EU_MEMBER_STATES
        if context.channel and not seller_established and not b2b:
            # Art. 14a(2): goods already in the EU, non-EU seller, via an electronic interface.
            return [self._taxed(line, dest, dest, "marketplace", TaxScheme.DEEMED_SUPPLIER) for line in lines]

        if origin == dest:
            return [self._taxed(line, dest, dest, "seller", TaxScheme.DOMESTIC) for line in lines]

        # Intra-EU distance sale (B2C, or B2B with a number of the dispatch state itself).
        if self._below_threshold(context, lines, origin, seller):
            return [
                self._taxed(
                    line, origin, origin, "seller", TaxScheme.DISTANCE_BELOW_THRESHOLD, counts=EU_OSS_KEY
                )
                for line in lines
            ]
        return [self._taxed(line, dest, dest, "seller", TaxScheme.OSS, counts=EU_OSS_KEY) for line in lines]

    # ------------------------------------------------------------------ schemes

    def _imports(self, context: TaxContext, lines: Sequence[TaxLine], dest: str, b2b: bool) -> list[TaxQuote]:
        value = context.consignment_value or self._total(lines)
        low_value = self._eur(value, context) <= IOSS_LIMIT.amount
        if low_value and not b2b:
            if context.channel:
                # Art. 14a(1): the marketplace is the deemed supplier and charges destination VAT.
                return [
                    self._taxed(line, dest, dest, "marketplace", TaxScheme.DEEMED_SUPPLIER) for line in lines
                ]
            if IOSS_KEY in context.registrations:
                return [self._taxed(line, dest, dest, "seller", TaxScheme.IOSS) for line in lines]
        # Import VAT at the border, paid by the importer (usually the buyer, via the carrier);
        # above EUR 150 customs duty is due as well (not computed here).
        return [self._taxed(line, dest, dest, "buyer", TaxScheme.IMPORT) for line in lines]

    def _below_threshold(
        self, context: TaxContext, lines: Sequence[TaxLine], origin: str, seller: str | None
    ) -> bool:
        if EU_OSS_KEY in context.registrations:
            return False
        # Art. 59c(1)(a)/(b): only a supplier established in one member state, dispatching
        # from that state, may use the threshold.
        if seller not in EU_MEMBER_STATES or origin != seller:
            return False
        tally = context.year_to_date.get(EU_OSS_KEY)
        so_far = self._eur(tally.sales, context) if tally is not None else Decimal(0)
        return so_far + self._eur(self._total(lines), context) <= EU_OSS_THRESHOLD.amount

    # ------------------------------------------------------------------ helpers

    def _valid_buyer_vat_state(self, number: str | None) -> str | None:
        if not number or not self.validate_vat_number(number):
            return None
        return _vat_country(number)

    @staticmethod
    def _total(lines: Sequence[TaxLine]) -> Money:
        total = lines[0].amount
        for line in lines[1:]:
            total = total + line.amount
        return total

    @staticmethod
    def _eur(money: Money, context: TaxContext) -> Decimal:
        return context.in_currency(money, "EUR").amount

    @staticmethod
    def _line(line: TaxLine, jurisdiction: str, rate: Decimal, by: str, scheme: str) -> TaxQuote:
        amount = line.tax_at(rate)
        return TaxQuote(
            sku=line.sku, rate=rate, amount=amount, collected_by=by, jurisdiction=jurisdiction, scheme=scheme
        )

    def _taxed(
        self,
        line: TaxLine,
        rate_country: str,
        jurisdiction: str,
        by: str,
        scheme: str,
        counts: str | None = None,
    ) -> TaxQuote:
        quote = self._line(line, jurisdiction, rate_for(rate_country, line.tax_class), by, scheme)
        if counts is None:
            return quote
        return TaxQuote(
            sku=quote.sku,
            rate=quote.rate,
            amount=quote.amount,
            collected_by=quote.collected_by,
            jurisdiction=quote.jurisdiction,
            scheme=quote.scheme,
            counts_towards=counts,
        )
