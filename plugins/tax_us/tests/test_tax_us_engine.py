"""US sales tax: nexus, marketplace facilitators, no-tax states.

Figures: state base rates per Tax Foundation "State and Local Sales Tax Rates, 2025"
(CA 7.25 %, TX 6.25 %, NY 4 %, CT 6.35 %, AR 6.5 %, LA 5 % from 2025-01-01 per HB 10/2024);
thresholds per Avior "Economic nexus by state" (updated 2025-12-31), Sales Tax Institute
"Economic Nexus State by State Chart" and the Texas Comptroller "Remote Sellers and
Marketplace FAQ" (TX $500,000 incl. marketplace sales); Illinois Public Act 104-0006
(200-transaction test removed from 2026-01-01); handsoffsalestax.com chart (AL, AZ, AR, CO
exclude marketplace sales; CA includes them). Wayfair: 585 U.S. 162 (2018).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from crossdock_tax_us import UsSalesTaxEngine

from crossdock import Money, TaxContext, TaxLine, TaxQuote, TaxTally, UserError


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def ctx(state: str | None, **kw: Any) -> TaxContext:
    return TaxContext(
        tenant="t", seller_country="US", destination_country="US", destination_region=state, **kw
    )


def tally(sales: str, transactions: int = 0) -> TaxTally:
    return TaxTally(sales=usd(sales), transactions=transactions)


@pytest.fixture
def engine() -> UsSalesTaxEngine:
    return UsSalesTaxEngine()


def one(
    engine: UsSalesTaxEngine, context: TaxContext, amount: str = "100.00", tax_class: str = "standard"
) -> TaxQuote:
    [q] = engine.quote(context, [TaxLine(sku="S", amount=usd(amount), tax_class=tax_class)])
    return q


def test_below_threshold_no_nexus_but_counts(engine: UsSalesTaxEngine) -> None:
    q = one(engine, ctx("CA", year_to_date={"US-CA": tally("499999.99", 5000)}))
    assert (q.scheme, q.amount, q.counts_towards, q.jurisdiction) == (
        "no_nexus",
        usd("0.00"),
        "US-CA",
        "US-CA",
    )


def test_nexus_crossed_by_sales(engine: UsSalesTaxEngine) -> None:
    q = one(engine, ctx("CA", year_to_date={"US-CA": tally("500000.00", 3)}))
    assert (q.scheme, q.collected_by, q.rate, q.amount, q.counts_towards) == (
        "nexus",
        "seller",
        Decimal("0.0725"),
        usd("7.25"),
        "US-CA",
    )


def test_nexus_crossed_by_transactions(engine: UsSalesTaxEngine) -> None:
    # Arkansas: $100,000 OR 200 transactions.
    q = one(engine, ctx("AR", year_to_date={"US-AR": tally("5000.00", 200)}))
    assert (q.scheme, q.amount) == ("nexus", usd("6.50"))


def test_transactions_no_longer_count_in_illinois_2026(engine: UsSalesTaxEngine) -> None:
    q = one(engine, ctx("IL", year_to_date={"US-IL": tally("5000.00", 1000)}))
    assert q.scheme == "no_nexus"


def test_both_required_state_new_york(engine: UsSalesTaxEngine) -> None:
    # New York: $500,000 AND 100 transactions.
    assert one(engine, ctx("NY", year_to_date={"US-NY": tally("600000.00", 99)})).scheme == "no_nexus"
    assert one(engine, ctx("NY", year_to_date={"US-NY": tally("499999.00", 5000)})).scheme == "no_nexus"
    q = one(engine, ctx("NY", year_to_date={"US-NY": tally("500000.00", 100)}))
    assert (q.scheme, q.amount) == ("nexus", usd("4.00"))


def test_both_required_state_connecticut(engine: UsSalesTaxEngine) -> None:
    assert one(engine, ctx("CT", year_to_date={"US-CT": tally("150000.00", 150)})).scheme == "no_nexus"
    assert one(engine, ctx("CT", year_to_date={"US-CT": tally("100000.00", 200)})).amount == usd("6.35")


def test_registration_gives_nexus(engine: UsSalesTaxEngine) -> None:
    q = one(engine, ctx("TX", registrations=frozenset({"US-TX"})))
    assert (q.scheme, q.amount) == ("nexus", usd("6.25"))


def test_marketplace_facilitator_collects(engine: UsSalesTaxEngine) -> None:
    q = one(engine, ctx("CA", channel="amazon"))
    assert (q.scheme, q.collected_by, q.amount) == ("marketplace_facilitator", "marketplace", usd("7.25"))
    # California counts marketplace sales towards the seller's own $500,000.
    assert q.counts_towards == "US-CA"


def test_marketplace_sales_excluded_from_seller_threshold(engine: UsSalesTaxEngine) -> None:
    # Alabama and Arizona exclude marketplace-facilitated sales from the seller's threshold.
    for state in ("AL", "AZ", "CO"):
        q = one(engine, ctx(state, channel="ebay"))
        assert (q.scheme, q.counts_towards) == ("marketplace_facilitator", None)


def test_texas_marketplace_sales_count(engine: UsSalesTaxEngine) -> None:
    assert one(engine, ctx("TX", channel="amazon")).counts_towards == "US-TX"


def test_marketplace_collects_even_when_seller_has_nexus(engine: UsSalesTaxEngine) -> None:
    q = one(engine, ctx("TX", channel="amazon", registrations=frozenset({"US-TX"})))
    assert q.collected_by == "marketplace"


@pytest.mark.parametrize("state", ["DE", "MT", "NH", "OR", "AK", "US-OR"])
def test_no_sales_tax_states(engine: UsSalesTaxEngine, state: str) -> None:
    q = one(engine, ctx(state, channel="amazon"))
    assert (q.scheme, q.rate, q.amount, q.counts_towards) == ("exempt", Decimal(0), usd("0.00"), None)


def test_louisiana_2025_rate_and_exempt_class(engine: UsSalesTaxEngine) -> None:
    c = ctx("LA", registrations=frozenset({"US-LA"}))
    assert one(engine, c).amount == usd("5.00")
    assert one(engine, c, tax_class="exempt").amount == usd("0.00")


def test_unknown_or_missing_state_is_refused(engine: UsSalesTaxEngine) -> None:
    with pytest.raises(UserError):
        one(engine, ctx("ZZ"))
    with pytest.raises(UserError):
        one(engine, ctx(None))


def test_state_names_as_marketplaces_send_them(engine: UsSalesTaxEngine) -> None:
    # TikTok and others send "California", Amazon "CA": both are California at 7.25 %
    by_name = one(engine, ctx("California", registrations=frozenset({"US-CA"})))
    by_code = one(engine, ctx("CA", registrations=frozenset({"US-CA"})))
    assert (
        (by_name.jurisdiction, by_name.rate)
        == (by_code.jurisdiction, by_code.rate)
        == ("US-CA", Decimal("0.0725"))
    )
    with pytest.raises(UserError):
        one(engine, ctx("Atlantis"))
