"""UK prohibited/restricted goods through the plugin's hooks.

Sources: Criminal Justice Act 1988 s. 141A and Offensive Weapons Act 2019 ss. 38-40 (knives,
under-18s, remote sales); Restriction of Offensive Weapons Act 1959 s. 1 (flick knives);
Tobacco and Related Products Regulations 2016 reg. 36; Environmental Protection
(Single-use Vapes) (England) Regulations 2024 (from 1 June 2025).
"""

from __future__ import annotations

from datetime import UTC, datetime

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money
from crossdock.testing import load_plugins

CONN = {"id": 1, "channel": "ebay", "site": "UK", "currency": "GBP"}


def order(country: str, title: str) -> ChannelOrder:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    line = ChannelOrderLine(
        external_id="1", sku="K1", quantity=1, unit_price=Money.of("10", "GBP"), title=title
    )
    return ChannelOrder(
        external_id="o",
        status="pending",
        channel_status="new",
        placed_at=now,
        updated_at=now,
        total=Money.of("10", "GBP"),
        lines=[line],
        shipping_address=Address(country=country),
    )


def holds(o: ChannelOrder) -> list[tuple[str, str]]:
    return load_plugins(allow=["tax_uk"]).order_checks(tenant="t", order=o, connection=CONN)


def test_kitchen_knife_to_gb_is_age_restricted() -> None:
    [(reason, message)] = holds(order("GB", "Chef's knife 20cm"))
    assert reason == "restricted_item"
    assert "s. 141A" in message


def test_flick_knife_is_prohibited() -> None:
    reasons = {r for r, _ in holds(order("GB", "Flick knife"))}
    assert "prohibited_item" in reasons


def test_disposable_vape_is_prohibited_and_other_countries_unaffected() -> None:
    assert [r for r, _ in holds(order("GB", "Disposable vape 600 puffs"))] == ["prohibited_item"]
    assert holds(order("FR", "Chef's knife 20cm")) == []
    assert holds(order("GB", "Cotton tea towel")) == []


def test_listing_check_by_category() -> None:
    results = load_plugins(allow=["tax_uk"]).listing_checks(
        tenant="t",
        listing={"sku": "K", "title": "Santoku 18cm", "category": "Kitchen > Knives"},
        connection={**CONN, "country": "GB"},
    )
    assert [r for r, _ in results] == ["restricted_item"]
