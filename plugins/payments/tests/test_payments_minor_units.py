"""Money <-> Stripe's integer amounts, exactly, by Stripe's own table of decimals."""

from __future__ import annotations

import pytest
from crossdock_payments.minor_units import from_minor, stripe_exponent, to_minor

from crossdock import Money, UserError


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("10.00", "USD", 1000),
        ("0.01", "EUR", 1),
        ("1234.5", "GBP", 123450),
        ("500", "JPY", 500),
        ("500.00", "JPY", 500),  # trailing zeros are not extra precision
        ("55000", "KRW", 55000),
        ("250000", "VND", 250000),
        ("3000", "CLP", 3000),
        ("15000", "UGX", 15000),
        # IDR and HUF: ISO/babel say 0 decimals, Stripe says 2
        ("15000", "IDR", 1500000),
        ("1990", "HUF", 199000),
        ("5.120", "KWD", 5120),
        ("12.5", "BHD", 12500),
        ("7", "ISK", 700),  # two-decimal in the API, whole krónur only
    ],
)
def test_to_and_from_minor_units(amount: str, currency: str, minor: int) -> None:
    money = Money.of(amount, currency)
    assert to_minor(money) == minor
    back = from_minor(minor, currency.lower())
    assert back == Money.of(back.amount, currency)
    assert back.amount == money.amount  # Decimal equality: same value


def test_exponents_follow_stripe_not_iso() -> None:
    assert [stripe_exponent(c) for c in ("USD", "JPY", "vnd", "KRW", "IDR", "KWD", "ISK")] == [
        2,
        0,
        0,
        0,
        2,
        3,
        2,
    ]


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("10.001", "USD"),  # more precision than the currency has
        ("100.5", "JPY"),  # no fractional yen
        ("5.125", "KWD"),  # three-decimal: last digit must be 0
        ("7.50", "ISK"),  # whole krónur only
        ("1000.1", "VND"),
    ],
)
def test_amounts_that_would_need_rounding_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(UserError) as caught:
        to_minor(Money.of(amount, currency))
    assert caught.value.code == "INVALID_AMOUNT"


def test_large_amounts_stay_exact() -> None:
    money = Money.of("99999999.99", "EUR")
    assert to_minor(money) == 9999999999
    assert from_minor(9999999999, "eur").amount == money.amount


def test_from_minor_refuses_non_integers() -> None:
    with pytest.raises(TypeError):
        from_minor(10.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_minor(True, "EUR")
