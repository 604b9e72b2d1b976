"""US restricted goods and warnings through the plugin's hooks.

Sources: Cal. Health & Safety Code s. 25249.6 and 27 CCR s. 25602(b) (Proposition 65
warnings for internet sales); PACT Act 15 U.S.C. 375-378 as amended in 2020 (ENDS);
MA St. 2019 c. 133 (flavoured tobacco and vapes ban).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money
from crossdock.testing import load_plugins

CONN = {"id": 1, "channel": "amazon", "site": "US", "currency": "USD"}


def order(region: str, title: str, country: str = "US") -> ChannelOrder:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    line = ChannelOrderLine(
        external_id="1", sku="V1", quantity=1, unit_price=Money.of("10", "USD"), title=title
    )
    return ChannelOrder(
        external_id="o",
        status="pending",
        channel_status="new",
        placed_at=now,
        updated_at=now,
        total=Money.of("10", "USD"),
        lines=[line],
        shipping_address=Address(country=country, region=region),
    )


def holds(o: ChannelOrder) -> list[tuple[str, str]]:
    return load_plugins(allow=["tax_us"]).order_checks(tenant="t", order=o, connection=CONN)


def listing_problems(listing: dict[str, Any]) -> list[tuple[str, str]]:
    plugins = load_plugins(allow=["tax_us"])
    return plugins.listing_checks(tenant="t", listing=listing, connection={**CONN, "country": "US"})


def test_flavoured_vape_to_massachusetts_is_prohibited() -> None:
    reasons = sorted(r for r, _ in holds(order("MA", "Strawberry vape pods")))
    assert reasons == ["prohibited_item", "restricted_item"]


def test_unflavoured_vape_elsewhere_is_restricted_only() -> None:
    assert [r for r, _ in holds(order("TX", "Tobacco vape pods"))] == ["restricted_item"]


def test_ordinary_goods_and_foreign_destinations_pass() -> None:
    assert holds(order("CA", "Cotton t-shirt")) == []
    assert holds(order("", "Strawberry vape pods", country="DE")) == []


def test_prop65_listing_needs_warning() -> None:
    problems = listing_problems({"sku": "F", "title": "Brass faucet", "category": "plumbing"})
    assert [r for r, _ in problems] == ["needs_warning"]
    assert "25249.6" in problems[0][1]
    # Prop 65 is a listing warning, not an order hold
    assert holds(order("CA", "Brass faucet")) == []
