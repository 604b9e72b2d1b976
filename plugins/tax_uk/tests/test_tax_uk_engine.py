"""UK VAT schemes.

Sources: HMRC "VAT and overseas goods sold directly to customers in the UK" and "VAT and
overseas goods sold to customers in the UK using online marketplaces" (gov.uk, rules in
force from 1 January 2021): GBP 135 consignment limit, point-of-sale supply VAT, online
marketplace liability, import VAT above GBP 135, NI imports from outside UK/EU.
HMRC "VAT rates on different goods and services": 20 % standard, 5 % reduced, 0 % zero
(books: VAT Act 1994 Sch. 8 Group 3; children's clothing: Group 16).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from crossdock_tax_uk import UkVatEngine

from crossdock import Money, NotSupported, TaxContext, TaxLine, TaxQuote, UserError


def gbp(amount: str) -> Money:
    return Money.of(amount, "GBP")


def ctx(**kw: Any) -> TaxContext:
    base: dict[str, Any] = {
        "tenant": "t",
        "seller_country": "CN",
        "destination_country": "GB",
        "ship_from_country": "CN",
    }
    base.update(kw)
    return TaxContext(**base)


@pytest.fixture
def engine() -> UkVatEngine:
    return UkVatEngine()


def one(
    engine: UkVatEngine, context: TaxContext, amount: str = "100.00", tax_class: str = "standard"
) -> TaxQuote:
    [q] = engine.quote(context, [TaxLine(sku="S1", amount=gbp(amount), tax_class=tax_class)])
    return q


def test_domestic_rates(engine: UkVatEngine) -> None:
    c = ctx(seller_country="GB", ship_from_country="GB")
    assert one(engine, c).amount == gbp("20.00")
    assert (one(engine, c, tax_class="reduced").rate, one(engine, c, tax_class="reduced").amount) == (
        Decimal("0.05"),
        gbp("5.00"),
    )
    assert one(engine, c, tax_class="books").amount == gbp("0.00")
    assert one(engine, c, tax_class="children_clothing").amount == gbp("0.00")
    q = one(engine, c)
    assert (q.scheme, q.collected_by, q.jurisdiction) == ("domestic", "seller", "GB")


def test_low_value_direct_sale_seller_charges_at_point_of_sale(engine: UkVatEngine) -> None:
    q = one(engine, ctx(consignment_value=gbp("135.00")), "135.00")
    assert (q.collected_by, q.jurisdiction, q.rate, q.amount) == (
        "seller",
        "GB",
        Decimal("0.2"),
        gbp("27.00"),
    )
    assert q.scheme == "domestic"  # UK supply VAT at the point of sale (no dedicated scheme in the contract)


def test_low_value_via_marketplace_marketplace_collects(engine: UkVatEngine) -> None:
    q = one(engine, ctx(channel="amazon", consignment_value=gbp("50.00")), "50.00")
    assert (q.scheme, q.collected_by, q.amount) == ("deemed_supplier", "marketplace", gbp("10.00"))


def test_above_135_is_import_vat_at_the_border(engine: UkVatEngine) -> None:
    q = one(engine, ctx(channel="amazon", consignment_value=gbp("135.01")), "135.01")
    assert (q.scheme, q.collected_by, q.amount) == ("import", "buyer", gbp("27.00"))


def test_consignment_value_not_line_value_decides(engine: UkVatEngine) -> None:
    c = ctx(consignment_value=gbp("200.00"))
    assert one(engine, c, "60.00").scheme == "import"


def test_goods_in_uk_overseas_seller_via_marketplace(engine: UkVatEngine) -> None:
    q = one(engine, ctx(seller_country="US", ship_from_country="GB", channel="ebay"), "1000.00")
    assert (q.scheme, q.collected_by, q.amount) == ("deemed_supplier", "marketplace", gbp("200.00"))


def test_goods_in_uk_overseas_seller_own_store_seller_collects(engine: UkVatEngine) -> None:
    q = one(engine, ctx(seller_country="US", ship_from_country="GB"))
    assert (q.scheme, q.collected_by) == ("domestic", "seller")


def test_uk_seller_on_marketplace_collects_itself(engine: UkVatEngine) -> None:
    q = one(engine, ctx(seller_country="GB", ship_from_country="GB", channel="amazon"))
    assert (q.scheme, q.collected_by) == ("domestic", "seller")


def test_b2b_low_value_import_with_valid_vat_number_is_reverse_charge(engine: UkVatEngine) -> None:
    # GB980780684: check-digit-valid GB VAT number (python-stdnum test data).
    q = one(
        engine, ctx(channel="amazon", consignment_value=gbp("80.00"), buyer_vat_number="GB980780684"), "80.00"
    )
    assert (q.scheme, q.collected_by, q.amount) == ("reverse_charge", "buyer", gbp("0.00"))
    q = one(
        engine, ctx(channel="amazon", consignment_value=gbp("80.00"), buyer_vat_number="GB980780685"), "80.00"
    )
    assert q.scheme == "deemed_supplier"


def test_vat_numbers(engine: UkVatEngine) -> None:
    assert engine.validate_vat_number("GB980780684")
    assert engine.validate_vat_number("GB 980 7806 84")
    assert engine.validate_vat_number("XI980780684")
    assert not engine.validate_vat_number("GB980780685")
    assert not engine.validate_vat_number("DE136695976")


def test_northern_ireland_import_from_outside_uk_and_eu_is_import_vat(engine: UkVatEngine) -> None:
    q = one(engine, ctx(destination_region="NIR", channel="amazon", consignment_value=gbp("20.00")), "20.00")
    assert (q.scheme, q.collected_by, q.jurisdiction) == ("import", "buyer", "XI")


def test_northern_ireland_from_gb_is_domestic(engine: UkVatEngine) -> None:
    q = one(engine, ctx(seller_country="GB", ship_from_country="GB", destination_region="NIR"))
    assert (q.scheme, q.jurisdiction, q.amount) == ("domestic", "XI", gbp("20.00"))


def test_northern_ireland_from_eu_is_not_modelled(engine: UkVatEngine) -> None:
    with pytest.raises(NotSupported):
        one(engine, ctx(seller_country="IE", ship_from_country="IE", destination_region="NIR"))


def test_non_gbp_limit_check_needs_fx(engine: UkVatEngine) -> None:
    line = TaxLine(sku="S", amount=Money.of("100", "USD"))
    with pytest.raises(UserError, match="must be compared in GBP"):
        engine.quote(ctx(), [line])
    with_rates = dataclasses.replace(ctx(), fx=lambda m, cur: Money(m.amount * Decimal("0.8"), cur))
    [q] = engine.quote(with_rates, [line])
    assert (q.scheme, q.amount) == ("domestic", Money.of("20.00", "USD"))
