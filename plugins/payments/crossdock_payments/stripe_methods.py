"""Which Stripe payment methods a buyer in a country can use for an amount, and in which order.

One table, kept readable on purpose. Each row names the Stripe ``payment_method_types`` value,
the buyer countries with the presentment currency each must use, optional amount limits per
currency, and the countries where the method (not cards) is how most people pay online, which
ranks it above card there.

Sources (checked 2026-11):

* methods, buyer countries and presentment currencies: each method's page under
  https://docs.stripe.com/payments/payment-methods (iDEAL, Bancontact, Klarna, Boleto,
  OXXO, GrabPay, PayNow, FPX, PromptPay, Konbini);
* limits confirmed on those pages: Boleto BRL 5.00-49,999.99, OXXO MXN 10.00-10,000.00,
  Konbini JPY 120-300,000;
* card minimum charge amounts: https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts.

UNCONFIRMED (judgement, not read from Stripe): the Klarna per-currency ceilings (Klarna decides
per buyer; the values are conservative caps from Klarna's own published ranges), the
GrabPay/PayNow/FPX/PromptPay limits, and which methods "dominate" where (market-share
reports, not Stripe). Stripe also offers many more methods than listed here; a method must
also be enabled on the seller's Stripe account, which this table cannot know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from crossdock import Money, PaymentMethodOption

__all__ = ["CARD_MINIMUM", "METHODS", "StripeMethod", "stripe_payment_methods"]

D = Decimal


@dataclass(frozen=True)
class StripeMethod:
    type: str  #: Stripe's payment_method_types value
    label: str
    #: buyer country -> the presentment currency Stripe requires for it
    countries: Mapping[str, str]
    #: how the buyer completes it: "card", "redirect", "voucher" or "qr"
    flow: str
    #: currency -> (minimum, maximum); None on a side means no limit known
    limits: Mapping[str, tuple[Decimal | None, Decimal | None]] = field(default_factory=dict)
    #: countries where this method, rather than cards, leads online payments
    dominant_in: frozenset[str] = frozenset()


_EUR_KLARNA = ("AT", "BE", "DE", "ES", "FI", "FR", "GR", "IE", "IT", "NL", "PT")

METHODS: tuple[StripeMethod, ...] = (
    StripeMethod("ideal", "iDEAL", {"NL": "EUR"}, "redirect", dominant_in=frozenset({"NL"})),
    StripeMethod("bancontact", "Bancontact", {"BE": "EUR"}, "redirect", dominant_in=frozenset({"BE"})),
    StripeMethod(
        "klarna",
        "Klarna",
        {
            **dict.fromkeys(_EUR_KLARNA, "EUR"),
            "CZ": "CZK",
            "DK": "DKK",
            "NO": "NOK",
            "PL": "PLN",
            "SE": "SEK",
            "CH": "CHF",
            "GB": "GBP",
            "US": "USD",
            "CA": "CAD",
            "AU": "AUD",
            "NZ": "NZD",
        },
        "redirect",
        limits={  # UNCONFIRMED ceilings, see the module docstring
            "EUR": (D("1.00"), D("10000")),
            "GBP": (D("1.00"), D("4000")),
            "USD": (D("1.00"), D("10000")),
            "CAD": (D("1.00"), D("10000")),
            "AUD": (D("1.00"), D("10000")),
            "NZD": (D("1.00"), D("10000")),
            "CHF": (D("1.00"), D("5000")),
            "CZK": (D("25.00"), D("100000")),
            "DKK": (D("7.50"), D("100000")),
            "NOK": (D("10.00"), D("100000")),
            "PLN": (D("5.00"), D("20000")),
            "SEK": (D("10.00"), D("150000")),
        },
        dominant_in=frozenset({"SE"}),
    ),
    StripeMethod("boleto", "Boleto", {"BR": "BRL"}, "voucher", limits={"BRL": (D("5.00"), D("49999.99"))}),
    StripeMethod("oxxo", "OXXO", {"MX": "MXN"}, "voucher", limits={"MXN": (D("10.00"), D("10000.00"))}),
    StripeMethod(
        "konbini",
        "Konbini (convenience store)",
        {"JP": "JPY"},
        "voucher",
        limits={"JPY": (D("120"), D("300000"))},
    ),
    StripeMethod("paynow", "PayNow", {"SG": "SGD"}, "qr"),
    StripeMethod(
        "grabpay",
        "GrabPay",
        {"SG": "SGD", "MY": "MYR"},
        "redirect",
        limits={"SGD": (D("1.00"), D("5000")), "MYR": (D("1.00"), D("1500"))},  # UNCONFIRMED
    ),
    StripeMethod(
        "fpx",
        "FPX online banking",
        {"MY": "MYR"},
        "redirect",
        limits={"MYR": (D("2.00"), D("30000"))},  # UNCONFIRMED
        dominant_in=frozenset({"MY"}),
    ),
    StripeMethod(
        "promptpay",
        "PromptPay",
        {"TH": "THB"},
        "qr",
        limits={"THB": (D("10.00"), D("150000"))},  # UNCONFIRMED
        dominant_in=frozenset({"TH"}),
    ),
)

#: Stripe's minimum charge per presentment currency (cards and everything else); currencies
#: not listed here have a minimum equivalent to USD 0.50 that depends on the exchange rate.
CARD_MINIMUM: Mapping[str, Decimal] = {
    "USD": D("0.50"),
    "AED": D("2.00"),
    "AUD": D("0.50"),
    "BGN": D("1.00"),
    "BRL": D("0.50"),
    "CAD": D("0.50"),
    "CHF": D("0.50"),
    "CZK": D("15.00"),
    "DKK": D("2.50"),
    "EUR": D("0.50"),
    "GBP": D("0.30"),
    "HKD": D("4.00"),
    "HUF": D("175.00"),
    "INR": D("0.50"),
    "JPY": D("50"),
    "MXN": D("10"),
    "MYR": D("2"),
    "NOK": D("3.00"),
    "NZD": D("0.50"),
    "PLN": D("2.00"),
    "RON": D("2.00"),
    "SEK": D("3.00"),
    "SGD": D("0.50"),
    "THB": D("10"),
}

_BY_TYPE = {m.type: m for m in METHODS}

#: ranks: a dominant local method, then card, then the other local methods
RANK_DOMINANT = 10
RANK_CARD = 20
RANK_LOCAL = 30


def method(type_: str) -> StripeMethod | None:
    return _BY_TYPE.get(type_)


def _within(limits: tuple[Decimal | None, Decimal | None] | None, amount: Decimal) -> bool:
    if limits is None:
        return True
    low, high = limits
    return (low is None or amount >= low) and (high is None or amount <= high)


def stripe_payment_methods(
    country: str, amount: Money, provider: str = "stripe"
) -> Sequence[PaymentMethodOption]:
    """The Stripe methods for a buyer in ``country`` paying ``amount``, best first."""
    country = country.upper()
    options: list[PaymentMethodOption] = []
    card_minimum = CARD_MINIMUM.get(amount.currency)
    if amount.amount > 0 and (card_minimum is None or amount.amount >= card_minimum):
        options.append(PaymentMethodOption(provider, "card", "Card", RANK_CARD))
    for index, row in enumerate(METHODS):
        if row.countries.get(country) != amount.currency:
            continue
        if not _within(row.limits.get(amount.currency), amount.amount):
            continue
        if card_minimum is not None and amount.amount < card_minimum:
            continue
        rank = RANK_DOMINANT if country in row.dominant_in else RANK_LOCAL
        options.append(PaymentMethodOption(provider, row.type, row.label, rank + index))
    return sorted(options, key=lambda o: o.rank)
