"""EU prohibited/restricted goods checks through the plugin's hooks.

Sources: Directive 2014/40/EU Art. 20(3) (refill containers <= 10 ml, <= 20 mg/ml nicotine);
Commission Decision 2014/59/EU (consumer laser products); Directive 2009/48/EC (toy safety).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crossdock import Address, ChannelOrder, ChannelOrderLine, Money
from crossdock.testing import load_plugins


def order(country: str, *titles: str) -> ChannelOrder:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return ChannelOrder(
        external_id="o1",
        status="pending",
        channel_status="new",
        placed_at=now,
        updated_at=now,
        total=Money.of("10", "EUR"),
        lines=[
            ChannelOrderLine(
                external_id=str(i), sku=f"SKU{i}", quantity=1, unit_price=Money.of("10", "EUR"), title=t
            )
            for i, t in enumerate(titles)
        ],
        shipping_address=Address(country=country),
    )


CONN = {"id": 1, "channel": "amazon", "site": "DE", "currency": "EUR"}


def holds(o: ChannelOrder) -> list[tuple[str, str]]:
    return load_plugins(allow=["tax_eu"]).order_checks(tenant="t", order=o, connection=CONN)


def listing_problems(listing: dict[str, Any], country: str) -> list[tuple[str, str]]:
    plugins = load_plugins(allow=["tax_eu"])
    return plugins.listing_checks(tenant="t", listing=listing, connection={**CONN, "country": country})


def test_large_nicotine_refill_is_held_for_eu_destinations() -> None:
    [(reason, message)] = holds(order("FR", "Strawberry e-liquid 50ml 6mg nicotine"))
    assert reason == "prohibited_item"
    assert "2014/40/EU" in message


def test_tpd_compliant_refill_and_shortfill_pass() -> None:
    assert holds(order("DE", "Menthol e-liquid 10ml 12mg nicotine")) == []
    assert holds(order("DE", "Shortfill e-liquid 100ml 0mg")) == []


def test_strong_nicotine_is_held() -> None:
    [(reason, _)] = holds(order("IT", "Nic salt e-liquid 10ml 50mg/ml"))
    assert reason == "prohibited_item"


def test_eu_rules_do_not_apply_outside_the_eu() -> None:
    assert holds(order("US", "Strawberry e-liquid 50ml 6mg nicotine")) == []


def test_laser_pointer_listing_is_restricted() -> None:
    problems = listing_problems(
        {"sku": "L", "title": "Green laser pointer 50mW", "category": "gadgets"}, "NL"
    )
    assert [r for r, _ in problems] == ["restricted_item"]
    assert listing_problems({"sku": "L", "title": "Laser pointer 0.9mW class 2"}, "NL") == []


def test_toys_need_a_certificate_but_orders_are_not_held() -> None:
    problems = listing_problems({"sku": "T", "title": "Wooden train", "category": "Toys & Games"}, "DE")
    assert [r for r, _ in problems] == ["needs_certificate"]
    assert holds(order("DE", "Wooden train toy")) == []
