"""Which Stripe methods a checkout offers, ranked, per country, currency and amount."""

from __future__ import annotations

import pytest
from crossdock_payments.stripe_methods import METHODS, stripe_payment_methods
from crossdock_payments.stripe_provider import Stripe

from crossdock import Money


def offered(country: str, amount: str, currency: str) -> list[str]:
    return [o.method for o in Stripe().payment_methods(country, Money.of(amount, currency))]


@pytest.mark.parametrize(
    ("country", "amount", "currency", "expected"),
    [
        # local method dominates: shown before card
        ("NL", "25.00", "EUR", ["ideal", "card", "klarna"]),
        ("BE", "25.00", "EUR", ["bancontact", "card", "klarna"]),
        ("MY", "80.00", "MYR", ["fpx", "card", "grabpay"]),
        ("TH", "990", "THB", ["promptpay", "card"]),
        ("SE", "499", "SEK", ["klarna", "card"]),
        # card leads, local methods follow
        ("SG", "30.00", "SGD", ["card", "paynow", "grabpay"]),
        ("BR", "150.00", "BRL", ["card", "boleto"]),
        ("MX", "350.00", "MXN", ["card", "oxxo"]),
        ("JP", "2400", "JPY", ["card", "konbini"]),
        ("US", "120.00", "USD", ["card", "klarna"]),
        ("GB", "60.00", "GBP", ["card", "klarna"]),
        ("DE", "60.00", "EUR", ["card", "klarna"]),
        # card everywhere, local methods only with their own currency
        ("KE", "1000", "KES", ["card"]),
        ("NL", "25.00", "USD", ["card"]),
        ("MY", "80.00", "SGD", ["card"]),
    ],
)
def test_methods_by_country_and_currency(
    country: str, amount: str, currency: str, expected: list[str]
) -> None:
    assert offered(country, amount, currency) == expected


@pytest.mark.parametrize(
    ("country", "amount", "currency", "missing", "present"),
    [
        ("BR", "4.99", "BRL", "boleto", "card"),  # Boleto from R$5.00
        ("BR", "50000.00", "BRL", "boleto", "card"),  # ... to R$49,999.99
        ("MX", "10000.01", "MXN", "oxxo", "card"),  # OXXO up to MXN 10,000
        ("JP", "119", "JPY", "konbini", "card"),  # Konbini from JPY 120
        ("JP", "300001", "JPY", "konbini", "card"),  # ... to JPY 300,000
        ("GB", "5000.00", "GBP", "klarna", "card"),
        ("US", "50000.00", "USD", "klarna", "card"),
    ],
)
def test_amount_limits(country: str, amount: str, currency: str, missing: str, present: str) -> None:
    methods = offered(country, amount, currency)
    assert missing not in methods
    assert present in methods


def test_limits_are_inclusive() -> None:
    assert "boleto" in offered("BR", "5.00", "BRL")
    assert "boleto" in offered("BR", "49999.99", "BRL")
    assert "konbini" in offered("JP", "300000", "JPY")


def test_below_stripes_minimum_charge_nothing_is_offered() -> None:
    assert offered("US", "0.49", "USD") == []
    assert offered("JP", "49", "JPY") == []
    assert offered("MX", "9.99", "MXN") == []
    assert offered("US", "0", "USD") == []


def test_options_name_the_provider_and_are_sorted_by_rank() -> None:
    options = stripe_payment_methods("NL", Money.of("25.00", "EUR"))
    assert {o.provider for o in options} == {"stripe"}
    assert [o.rank for o in options] == sorted(o.rank for o in options)
    assert options[0].label == "iDEAL"


def test_table_is_consistent() -> None:
    for row in METHODS:
        assert row.flow in {"redirect", "voucher", "qr"}
        assert set(row.limits) <= set(row.countries.values()), row.type
        assert row.dominant_in <= set(row.countries), row.type
        for low, high in row.limits.values():
            assert low is None or high is None or low < high
