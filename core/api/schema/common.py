"""Scalars and small types shared by the domain modules."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

import strawberry
from strawberry.scalars import JSON

from crossdock.errors import UserError
from crossdock.money import Money as MoneyValue
from crossdock.money import currency_exponent

__all__ = ["JSON", "MAX_UNITS", "Money", "MoneyInput", "bounded", "set_fields", "units"]

#: The most units one stock operation, order line or cart line may name (a level's columns
#: hold 2^31 - 1; no single receipt or count is anywhere near this).
MAX_UNITS = 1_000_000_000


@lru_cache(maxsize=512)
def _minor_unit(currency: str) -> Decimal:
    """1, 0.01 or 0.001: looked up in the locale data once per currency, not per amount."""
    return Decimal(1).scaleb(-currency_exponent(currency))


@strawberry.type(description="An amount in an ISO 4217 currency. Amounts are decimal strings.")
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal | None, currency: str | None) -> Money | None:
        if amount is None or currency is None:
            return None
        return cls.exact(amount, currency)

    @classmethod
    def exact(cls, amount: Decimal, currency: str) -> Money:
        """Show at least the currency's minor units ("10.00 SGD", "1200 JPY") and never
        drop a sub-minor digit that is really stored (unit prices like 0.1234)."""
        quantized = amount.quantize(_minor_unit(currency))
        return cls(amount=quantized if quantized == amount else amount.normalize(), currency=currency)


@strawberry.input
class MoneyInput:
    amount: Decimal
    currency: str

    def value(self, field: str, *, positive: bool = False) -> MoneyValue:
        """The amount as money; never negative (no price, cost, refund or payment is), and
        with ``positive`` never zero either."""
        if self.amount < 0 or (positive and self.amount == 0):
            must = "greater than zero" if positive else "zero or more"
            raise UserError(f"the amount must be {must}", field=field, code="OUT_OF_RANGE")
        try:
            return MoneyValue(self.amount, self.currency)
        except UserError as exc:
            exc.field = field
            raise


def units(value: int, field: str) -> int:
    """A count of units, within :data:`MAX_UNITS` either way (OUT_OF_RANGE otherwise)."""
    if not -MAX_UNITS <= value <= MAX_UNITS:
        raise UserError(f"at most {MAX_UNITS:,} units", field=field, code="OUT_OF_RANGE")
    return value


def bounded(value: float, field: str, low: float, high: float) -> float:
    """A number argument within ``low..high`` (OUT_OF_RANGE otherwise)."""
    if not low <= value <= high:
        raise UserError(f"must be between {low:g} and {high:g}", field=field, code="OUT_OF_RANGE")
    return value


def set_fields(obj: Any, names: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments for a service from the input fields the client actually sent.

    ``names`` maps input attribute -> service keyword; an ``UNSET`` field is left out, so
    "not given" and "set to null" stay different.
    """
    return {
        kw: getattr(obj, attr) for attr, kw in names.items() if getattr(obj, attr) is not strawberry.UNSET
    }
