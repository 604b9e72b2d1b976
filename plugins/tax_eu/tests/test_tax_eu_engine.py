"""EU VAT schemes, with figures from the official rate tables.

Rates: European Commission TEDB (as republished in eu-vat-rates-data, version 2026-08-13):
DE 19 % / 7 %, FR 20 % / 5.5 %, IE 23 % / books 0 %, FI 25.5 % (from 1.9.2024) and 13.5 %
(from 1.1.2026), EE 24 % (from 1.7.2025), RO 21 % / 11 % (Law 141/2025, from 1.8.2025),
SK 23 % (Act 278/2024, from 1.1.2025), ES 21 % / books 4 %.
Schemes: Council Directive 2006/112/EC as amended by Directives (EU) 2017/2455 and
2019/1995 - Art. 59c (EUR 10,000), Art. 14a (deemed supplier), Art. 369l (IOSS, EUR 150),
Art. 138 (intra-Community supply, reverse charge).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from crossdock_tax_eu import EuVatEngine
from crossdock_tax_eu.engine import rate_for

from crossdock import Money, TaxContext, TaxLine, TaxQuote, TaxTally, UserError


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def ctx(**kw: Any) -> TaxContext:
    base: dict[str, Any] = {
        "tenant": "t",
        "seller_country": "DE",
        "destination_country": "FR",
        "ship_from_country": "DE",
    }
    base.update(kw)
    return TaxContext(**base)


@pytest.fixture
def engine() -> EuVatEngine:
    return EuVatEngine()


def one(
    engine: EuVatEngine, context: TaxContext, amount: str = "100.00", tax_class: str = "standard"
) -> TaxQuote:
    [quote] = engine.quote(context, [TaxLine(sku="SKU1", amount=eur(amount), tax_class=tax_class)])
    return quote


def test_rates_match_tedb_2026() -> None:
    assert rate_for("DE", "standard") == Decimal("0.19")
    assert rate_for("DE", "books") == Decimal("0.07")
    assert rate_for("FR", "books") == Decimal("0.055")
    assert rate_for("FR", "super_reduced") == Decimal("0.021")
    assert rate_for("FI", "standard") == Decimal("0.255")
    assert rate_for("FI", "food") == Decimal("0.135")
    assert rate_for("EE", "standard") == Decimal("0.24")
    assert rate_for("RO", "standard") == Decimal("0.21")
    assert rate_for("RO", "reduced") == Decimal("0.11")
    assert rate_for("SK", "standard") == Decimal("0.23")
    assert rate_for("IE", "books") == Decimal("0")
    assert rate_for("IE", "children_clothing") == Decimal("0")
    assert rate_for("ES", "books") == Decimal("0.04")
    assert rate_for("HU", "standard") == Decimal("0.27")
    # a class the state has no reduced rate for falls back to standard
    assert rate_for("DK", "books") == Decimal("0.25")
    assert rate_for("DE", "super_reduced") == Decimal("0.19")


def test_domestic(engine: EuVatEngine) -> None:
    q = one(engine, ctx(destination_country="DE"))
    assert (q.scheme, q.collected_by, q.jurisdiction, q.rate, q.amount) == (
        "domestic",
        "seller",
        "DE",
        Decimal("0.19"),
        eur("19.00"),
    )
    assert q.counts_towards is None


def test_domestic_reduced_class(engine: EuVatEngine) -> None:
    q = one(engine, ctx(seller_country="FR", ship_from_country="FR"), "20.00", "books")
    assert (q.rate, q.amount) == (Decimal("0.055"), eur("1.10"))


def test_distance_sale_below_threshold_uses_origin_vat(engine: EuVatEngine) -> None:
    c = ctx(year_to_date={"EU-OSS": TaxTally(sales=eur("5000.00"), transactions=40)})
    q = one(engine, c)
    assert (q.scheme, q.jurisdiction, q.rate, q.amount) == (
        "distance_below_threshold",
        "DE",
        Decimal("0.19"),
        eur("19.00"),
    )
    assert q.counts_towards == "EU-OSS"


def test_distance_sale_reaching_exactly_10000_is_still_below(engine: EuVatEngine) -> None:
    # Art. 59c: the threshold is crossed only when the total EXCEEDS EUR 10,000.
    c = ctx(year_to_date={"EU-OSS": TaxTally(sales=eur("9900.00"))})
    assert one(engine, c).scheme == "distance_below_threshold"


def test_distance_sale_crossing_threshold_on_this_sale_is_destination_vat(engine: EuVatEngine) -> None:
    c = ctx(year_to_date={"EU-OSS": TaxTally(sales=eur("9950.00"))})
    q = one(engine, c)
    assert (q.scheme, q.jurisdiction, q.rate, q.amount, q.collected_by) == (
        "oss",
        "FR",
        Decimal("0.20"),
        eur("20.00"),
        "seller",
    )
    assert q.counts_towards == "EU-OSS"


def test_distance_sale_above_threshold(engine: EuVatEngine) -> None:
    c = ctx(destination_country="FI", year_to_date={"EU-OSS": TaxTally(sales=eur("25000.00"))})
    q = one(engine, c)
    assert (q.scheme, q.jurisdiction, q.amount) == ("oss", "FI", eur("25.50"))


def test_registered_for_oss_uses_destination_vat_from_the_first_euro(engine: EuVatEngine) -> None:
    q = one(engine, ctx(destination_country="EE", registrations=frozenset({"EU-OSS"})))
    assert (q.scheme, q.jurisdiction, q.amount) == ("oss", "EE", eur("24.00"))


def test_goods_dispatched_from_another_state_than_the_seller_get_no_threshold(engine: EuVatEngine) -> None:
    # Art. 59c(1)(b): goods must be dispatched from the state of establishment.
    q = one(engine, ctx(ship_from_country="PL"))
    assert (q.scheme, q.jurisdiction) == ("oss", "FR")


def test_ioss_registered_low_value_import(engine: EuVatEngine) -> None:
    c = ctx(
        seller_country="CN",
        ship_from_country="CN",
        destination_country="RO",
        consignment_value=eur("80.00"),
        registrations=frozenset({"IOSS"}),
    )
    q = one(engine, c, "80.00")
    assert (q.scheme, q.collected_by, q.jurisdiction, q.amount) == ("ioss", "seller", "RO", eur("16.80"))


def test_low_value_import_without_ioss_is_import_vat_paid_by_buyer(engine: EuVatEngine) -> None:
    c = ctx(
        seller_country="CN", ship_from_country="CN", destination_country="DE", consignment_value=eur("150.00")
    )
    q = one(engine, c, "150.00")
    assert (q.scheme, q.collected_by, q.jurisdiction, q.amount) == ("import", "buyer", "DE", eur("28.50"))


def test_import_above_150_is_import_even_with_ioss(engine: EuVatEngine) -> None:
    c = ctx(
        seller_country="US",
        ship_from_country="US",
        destination_country="DE",
        consignment_value=eur("150.01"),
        registrations=frozenset({"IOSS"}),
    )
    q = one(engine, c, "150.01")
    assert (q.scheme, q.collected_by) == ("import", "buyer")


def test_deemed_supplier_low_value_import_via_marketplace(engine: EuVatEngine) -> None:
    # Art. 14a(1): the marketplace is the deemed supplier for imports <= EUR 150.
    c = ctx(
        seller_country="CN",
        ship_from_country="CN",
        destination_country="SK",
        channel="amazon",
        consignment_value=eur("100.00"),
    )
    q = one(engine, c)
    assert (q.scheme, q.collected_by, q.jurisdiction, q.amount) == (
        "deemed_supplier",
        "marketplace",
        "SK",
        eur("23.00"),
    )


def test_marketplace_import_above_150_is_not_deemed_supply(engine: EuVatEngine) -> None:
    c = ctx(seller_country="CN", ship_from_country="CN", channel="amazon", consignment_value=eur("400.00"))
    assert one(engine, c, "400.00").scheme == "import"


def test_deemed_supplier_non_eu_seller_goods_already_in_eu(engine: EuVatEngine) -> None:
    # Art. 14a(2): non-EU seller, goods in an EU warehouse, B2C via marketplace - any value.
    c = ctx(seller_country="US", ship_from_country="DE", destination_country="DE", channel="amazon")
    q = one(engine, c, "1000.00")
    assert (q.scheme, q.collected_by, q.jurisdiction, q.amount) == (
        "deemed_supplier",
        "marketplace",
        "DE",
        eur("190.00"),
    )


def test_eu_seller_on_marketplace_is_not_deemed_supply(engine: EuVatEngine) -> None:
    q = one(engine, ctx(destination_country="DE", channel="amazon"))
    assert (q.scheme, q.collected_by) == ("domestic", "seller")


def test_reverse_charge_with_valid_vat_number(engine: EuVatEngine) -> None:
    # FR40303265045 is a check-digit-valid French VAT number (python-stdnum test data).
    q = one(engine, ctx(buyer_vat_number="FR40303265045"))
    assert (q.scheme, q.collected_by, q.rate, q.amount) == (
        "reverse_charge",
        "buyer",
        Decimal(0),
        eur("0.00"),
    )


def test_invalid_vat_number_is_treated_as_b2c(engine: EuVatEngine) -> None:
    q = one(engine, ctx(buyer_vat_number="FR40303265046"))
    assert q.scheme == "distance_below_threshold"


def test_b2b_same_state_is_domestic(engine: EuVatEngine) -> None:
    q = one(engine, ctx(destination_country="DE", buyer_vat_number="DE136695976"))
    assert (q.scheme, q.amount) == ("domestic", eur("19.00"))


def test_vat_number_validation_per_state(engine: EuVatEngine) -> None:
    good = ["DE136695976", "FR40303265045", "EL094259216", "NL004495445B01", "ATU13585627", "BE0776091951"]
    bad = ["DE136695977", "FR40303265046", "NL004495446B01", "XX123", "", "DE12345678"]
    assert all(engine.validate_vat_number(n) for n in good)
    assert not any(engine.validate_vat_number(n) for n in bad)


def test_non_eur_threshold_comparison_needs_fx(engine: EuVatEngine) -> None:
    line = TaxLine(sku="S", amount=Money.of("400", "PLN"))
    c = ctx(seller_country="PL", ship_from_country="PL", destination_country="DE")
    with pytest.raises(UserError, match="must be compared in EUR"):
        engine.quote(c, [line])
    with_rates = dataclasses.replace(c, fx=lambda m, cur: Money(m.amount / 4, cur))
    converted = engine.quote(with_rates, [line])
    assert converted[0].scheme == "distance_below_threshold"
    assert converted[0].amount == Money.of("92.00", "PLN")  # PL 23 %


def test_domestic_in_other_currency_needs_no_fx(engine: EuVatEngine) -> None:
    c = ctx(seller_country="PL", ship_from_country="PL", destination_country="PL")
    [q] = engine.quote(c, [TaxLine(sku="S", amount=Money.of("100", "PLN"))])
    assert q.amount == Money.of("23.00", "PLN")


def test_non_eu_destination_is_refused(engine: EuVatEngine) -> None:
    with pytest.raises(UserError):
        engine.quote(ctx(destination_country="GB"), [TaxLine(sku="S", amount=eur("1"))])
