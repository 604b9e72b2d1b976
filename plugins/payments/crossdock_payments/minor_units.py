"""Exact conversion between :class:`crossdock.Money` and Stripe's integer ``amount``.

Stripe wants every amount as an integer in the currency's minor unit, by *Stripe's* table
of decimals, which is not always ISO 4217's (nor babel's):

* zero-decimal currencies: the amount is the whole number (JPY 500 -> ``500``);
* three-decimal currencies (BHD, JOD, KWD, OMR, TND): thousandths, and the last digit must
  be 0 (KWD 5.120 -> ``5120``; KWD 5.125 cannot be charged);
* ISK stays two-decimal in the API but only whole krónur can be charged (ISK 5 -> ``500``);
* everything else is two-decimal, including IDR and HUF, which ISO/babel list with 0.

Source: https://docs.stripe.com/currencies (sections "Zero-decimal currencies",
"Three-decimal currencies", "Special cases"), checked 2026-11.
"""

from __future__ import annotations

from decimal import Decimal

from crossdock import Money, UserError

__all__ = ["STRIPE_THREE_DECIMAL", "STRIPE_ZERO_DECIMAL", "from_minor", "stripe_exponent", "to_minor"]

STRIPE_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
#: two-decimal in the API, but the fractional part must be zero (Stripe "special cases")
_WHOLE_UNITS_ONLY = frozenset({"ISK"})


def stripe_exponent(currency: str) -> int:
    """How many decimal places Stripe's integer amount carries for ``currency``."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def to_minor(money: Money) -> int:
    """``money`` as Stripe's integer amount; refuses anything that would need rounding."""
    exponent = stripe_exponent(money.currency)
    scaled = money.amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise UserError(
            f"{money.amount} {money.currency} has more decimals than Stripe accepts ({exponent})",
            code="INVALID_AMOUNT",
        )
    minor = int(scaled)
    if money.currency in STRIPE_THREE_DECIMAL and minor % 10:
        raise UserError(
            f"{money.amount} {money.currency}: Stripe only charges three-decimal currencies "
            "in multiples of 0.010",
            code="INVALID_AMOUNT",
        )
    if money.currency in _WHOLE_UNITS_ONLY and minor % 100:
        raise UserError(
            f"{money.amount} {money.currency}: Stripe only charges whole units of this currency",
            code="INVALID_AMOUNT",
        )
    return minor


def from_minor(amount: int, currency: str) -> Money:
    """Stripe's integer ``amount`` in ``currency`` (any case) as Money, exactly."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Stripe amounts are integers, got {amount!r}")
    code = currency.upper()
    return Money(Decimal(amount).scaleb(-stripe_exponent(code)), code)
