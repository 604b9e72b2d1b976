"""Money: a Decimal amount with an ISO 4217 currency. Never a float.

Kept deliberately small (py-moneyed is unmaintained); babel supplies the currency list and
minor units so JPY rounds to 0 places, BHD to 3 and most others to 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies

from crossdock.errors import UserError

__all__ = ["Money", "currency_exponent", "validate_currency"]


@cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def validate_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code or raise :class:`UserError`."""
    upper = code.strip().upper()
    if upper not in _currencies():
        raise UserError(f"{code!r} is not an ISO 4217 currency code", code="INVALID_CURRENCY")
    return upper


@cache
def currency_exponent(code: str) -> int:
    """Minor units of a currency (2 for EUR, 0 for JPY, 3 for KWD)."""
    return int(get_currency_precision(code))


def _to_decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError("Money does not accept float; pass a Decimal or a string")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise UserError(f"{value!r} is not a decimal amount", code="INVALID_AMOUNT") from exc
    if not result.is_finite():
        raise UserError(f"{value!r} is not a finite amount", code="INVALID_AMOUNT")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _to_decimal(self.amount))
        object.__setattr__(self, "currency", validate_currency(self.currency))

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        return cls(_to_decimal(amount), currency)

    def rounded(self) -> Money:
        """Round half-even to the currency's minor unit (banker's rounding, as ledgers do)."""
        quantum = Decimal(1).scaleb(-currency_exponent(self.currency))
        return Money(self.amount.quantize(quantum, rounding=ROUND_HALF_EVEN), self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise TypeError("Money does not multiply by float")
        return Money(self.amount * factor, self.currency)

    def __str__(self) -> str:
        return f"{self.rounded().amount} {self.currency}"
