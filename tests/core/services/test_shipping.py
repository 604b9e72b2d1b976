"""Routing rules, rate shopping and the shipment request: the rules checked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from crossdock import CustomsItem, ItemFlag, Money, Rate, ServiceLevel, ShipmentRequest
from crossdock.db.models import CarrierAccount, Connection, Order, RateStrategy, RoutingRule, Warehouse
from crossdock.errors import UserError
from crossdock.services import shipping
from crossdock.testing.carriers import sample_request

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _shipping(
    request: ShipmentRequest, *, channel: str = "shopee", ship_by: datetime | None = None
) -> shipping.Shipping:
    order = Order(id=1, external_id="O-1", currency="EUR", ship_by=ship_by)
    conn = Connection(id=7, channel=channel, name="shop", site="SG", currency="SGD")
    warehouse = Warehouse(id=3, code="SG1", name="Singapore", country="SG")
    return shipping.Shipping(request, order, conn, warehouse, ship_by)


def _rule(**conditions: object) -> RoutingRule:
    return RoutingRule(id=1, name="r", priority=1, conditions=conditions, services=[], strategy="cheapest")


def _rate(
    service: str,
    price: str,
    days: int | None,
    *,
    currency: str = "EUR",
    cannot: frozenset[ItemFlag] = frozenset(),
) -> Rate:
    return Rate(
        "dhl_express",
        service,
        f"Service {service}",
        Money.of(price, currency),
        transit_days=days,
        cannot_carry=cannot,
    )


def test_rule_conditions_each_decide() -> None:
    ship = _shipping(sample_request("r"), ship_by=NOW + timedelta(hours=10))  # SG -> DE, 800 g, EUR 59.80
    assert shipping.rule_matches(_rule(), ship, NOW) is None
    assert shipping.rule_matches(_rule(countries=["DE", "FR"]), ship, NOW) is None
    assert "not in ['US']" in (shipping.rule_matches(_rule(countries=["US"]), ship, NOW) or "")
    assert shipping.rule_matches(_rule(channels=["lazada"]), ship, NOW) == "channel shopee not in ['lazada']"
    assert shipping.rule_matches(_rule(max_weight_grams=500), ship, NOW) == "800 g is over 500 g"
    assert shipping.rule_matches(_rule(min_weight_grams=1000), ship, NOW) == "800 g is under 1000 g"
    assert shipping.rule_matches(_rule(max_length_mm=250), ship, NOW) == "a 300 mm side is over 250 mm"
    assert (
        shipping.rule_matches(_rule(max_value="50", value_currency="EUR"), ship, NOW) == "value 59.80 over 50"
    )
    assert shipping.rule_matches(_rule(min_value="50", value_currency="EUR"), ship, NOW) is None
    assert "the rule counts USD" in (
        shipping.rule_matches(_rule(max_value="50", value_currency="USD"), ship, NOW) or ""
    )
    assert shipping.rule_matches(_rule(ship_by_within_hours=12), ship, NOW) is None
    assert shipping.rule_matches(_rule(ship_by_within_hours=6), ship, NOW) == "ship-by not within 6 h"
    assert shipping.rule_matches(_rule(flags_any=["battery"]), ship, NOW) == "carries none of ['battery']"
    battery = sample_request(
        "b",
        items=[CustomsItem("Power bank", 1, Money.of("30", "EUR"), 300, flags=frozenset({ItemFlag.BATTERY}))],
    )
    assert shipping.rule_matches(_rule(flags_any=["battery"]), _shipping(battery), NOW) is None
    assert (
        shipping.rule_matches(_rule(flags_none=["battery"]), _shipping(battery), NOW) == "carries ['battery']"
    )


def test_cheapest_that_keeps_the_promise_with_every_rejection_explained() -> None:
    ship = _shipping(sample_request("c"))
    decision = shipping.Decision(1, "EU parcels", RateStrategy.CHEAPEST)
    quotes = [
        (1, "dhl", [None], [_rate("P", "42.10", 3), _rate("U", "18.00", 9)]),
        (2, "ninja", ["Standard"], [_rate("Standard", "25.50", 5), _rate("Express", "30.00", 2)]),
    ]
    comparable = {
        (1, "P"): Decimal("42.10"),
        (1, "U"): Decimal("18.00"),
        (2, "Standard"): Decimal("25.50"),
        (2, "Express"): Decimal("30.00"),
    }
    shipping.choose(decision, quotes, ship, max_transit_days=6, comparable=comparable)
    assert decision.chosen is not None
    assert (decision.chosen.account_id, decision.chosen.rate.service) == (2, "Standard")
    assert sorted((c.account_id, c.rate.service) for c in decision.candidates) == [(1, "P"), (2, "Standard")]
    reasons = {(r.account_id, r.service): r.reason for r in decision.rejected}
    assert reasons == {
        (1, "U"): "transit 9 days misses the 6-day promise",
        (2, "Express"): "not allowed by the rule",
    }


def test_fastest_and_priority_and_item_flags() -> None:
    battery = sample_request(
        "f",
        items=[CustomsItem("Power bank", 1, Money.of("30", "EUR"), 300, flags=frozenset({ItemFlag.BATTERY}))],
    )
    ship = _shipping(battery)
    rates = [
        _rate("AIR", "40.00", 2, cannot=frozenset({ItemFlag.BATTERY})),
        _rate("ROAD", "22.00", 4),
        _rate("SEA", "9.00", 20),
    ]
    comparable = {(1, r.service): r.price.amount for r in rates}
    fastest = shipping.choose(
        shipping.Decision(1, "r", RateStrategy.FASTEST),
        [(1, "dhl", [None], rates)],
        ship,
        max_transit_days=None,
        comparable=comparable,
    )
    assert (
        fastest.chosen is not None and fastest.chosen.rate.service == "ROAD"
    )  # AIR cannot carry the battery
    assert [(r.service, r.reason) for r in fastest.rejected] == [("AIR", "cannot carry battery")]
    priority = shipping.choose(
        shipping.Decision(1, "r", RateStrategy.PRIORITY),
        [(1, "dhl", ["SEA", "ROAD"], rates)],
        ship,
        max_transit_days=None,
        comparable=comparable,
    )
    assert priority.chosen is not None and priority.chosen.rate.service == "SEA"  # first allowed by the rule
    cheapest = shipping.choose(
        shipping.Decision(1, "r", RateStrategy.CHEAPEST),
        [(1, "dhl", [None], rates)],
        ship,
        max_transit_days=None,
        comparable=comparable,
    )
    assert cheapest.chosen is not None and cheapest.chosen.rate.service == "SEA"
    none_left = shipping.choose(
        shipping.Decision(1, "r", RateStrategy.CHEAPEST),
        [(1, "dhl", [None], rates[:1])],
        ship,
        max_transit_days=None,
        comparable=comparable,
    )
    assert none_left.chosen is None


def test_prices_in_other_currencies_compare_in_the_reporting_currency() -> None:
    ship = _shipping(sample_request("x"))
    rates_sgd = [_rate("SG", "40.00", 3, currency="SGD")]  # ~ EUR 27
    rates_eur = [_rate("EU", "30.00", 3)]
    decision = shipping.choose(
        shipping.Decision(1, "r", RateStrategy.CHEAPEST),
        [(1, "a", [None], rates_sgd), (2, "b", [None], rates_eur)],
        ship,
        max_transit_days=None,
        comparable={(1, "SG"): Decimal("27.40"), (2, "EU"): Decimal("30.00")},
    )
    assert decision.chosen is not None and decision.chosen.rate.service == "SG"
    unpriced = shipping.choose(  # a price that cannot be converted comes last, not first
        shipping.Decision(1, "r", RateStrategy.CHEAPEST),
        [(1, "a", [None], rates_sgd), (2, "b", [None], rates_eur)],
        ship,
        max_transit_days=None,
        comparable={(1, "SG"): None, (2, "EU"): Decimal("30.00")},
    )
    assert unpriced.chosen is not None and unpriced.chosen.rate.service == "EU"


def test_a_contract_rate_card_prices_by_weight() -> None:
    account = CarrierAccount(
        id=4,
        carrier="ninjavan",
        name="ninja",
        settings={
            "services": [
                {
                    "service": "Standard",
                    "currency": "SGD",
                    "base": "3.50",
                    "per_kg": "1.20",
                    "transit_days": 2,
                    "level": "standard",
                },
                {
                    "service": "Nextday",
                    "currency": "SGD",
                    "base": "6",
                    "per_kg": "1.5",
                    "cannot_carry": ["battery"],
                },
            ]
        },
    )

    class Provider:
        name = "ninjavan"

    request = sample_request("w", parcels=2)  # 1,600 g
    standard, nextday = shipping.account_rates(account, Provider(), request)  # type: ignore[arg-type]
    assert standard.price == Money.of("5.42", "SGD")  # 3.50 + 1.20 x 1.6
    assert (standard.transit_days, standard.service_level) == (2, ServiceLevel.STANDARD)
    assert nextday.price == Money.of("8.40", "SGD")
    assert nextday.cannot_carry == {ItemFlag.BATTERY}


def test_a_stored_request_is_the_same_request() -> None:
    request = sample_request("cdl-1", parcels=2, ship_date=date(2026, 12, 3), lines=[("L1", 2), ("L2", 1)])
    assert shipping.request_from_json(shipping.request_to_json(request)) == request


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({"destination": ["DE"]}, "conditions"),
        ({"countries": ["Germany"]}, "conditions.countries"),
        ({"max_value": "100"}, "conditions.value_currency"),
        ({"max_value": "-1", "value_currency": "EUR"}, "conditions.max_value"),
        ({"max_weight_grams": 0}, "conditions.max_weight_grams"),
        ({"max_weight_grams": True}, "conditions.max_weight_grams"),
        ({"flags_any": ["plutonium"]}, "conditions.flags_any"),
        ({"max_transit_days": 365}, "conditions.max_transit_days"),
    ],
)
def test_bad_conditions_are_refused_on_their_field(conditions: dict[str, object], field: str) -> None:
    with pytest.raises(UserError) as caught:
        shipping._conditions(conditions)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "services",
    [
        [],
        [{"currency": "SGD", "base": "1"}],
        [{"service": "S", "currency": "XXQ", "base": "1"}],
        [{"service": "S", "currency": "SGD", "base": "-1"}],
        [{"service": "S", "currency": "SGD", "base": "NaN"}],
        [{"service": "S", "currency": "SGD", "transit_days": 0}],
        [{"service": "S", "currency": "SGD", "level": "warp"}],
    ],
)
def test_bad_rate_cards_are_refused(services: list[dict[str, object]]) -> None:
    with pytest.raises(UserError):
        shipping._rate_card({"services": services})


async def test_a_shops_own_logistics_account_is_made_once(shop: Any) -> None:
    """Two first label purchases for a shop at once make one account (no unique-key error),
    and an operator's account that has the shop's name already is left as it is."""
    import asyncio

    from sqlalchemy import select

    from crossdock.services import connections

    app = shop.app
    async with shop.write() as session:
        taken = CarrierAccount(
            carrier="shopee_logistics",
            name="sea",
            status="active",
            credentials_encrypted=app.vault.encrypt({}),
            settings={},
            webhook_key="k" * 43,
        )
        session.add(taken)
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="shopee",
            name="sea",
            site="SG",
            credentials={"partner_id": 1, "partner_key": "k", "shop_id": 2, "access_token": "a"},
        )
        conn_id, taken_id = conn.id, taken.id

    async def first_use() -> int:
        async with shop.write() as session:
            row = await session.scalar(select(Connection).where(Connection.id == conn_id))
            account = await shipping.channel_account(session, app.plugins, app.vault, row)
            assert account is not None
            return int(account.id)

    ids = await asyncio.gather(*[first_use() for _ in range(4)])
    assert len(set(ids)) == 1 and taken_id not in ids
    async with shop.read() as session:
        accounts = (
            await session.scalars(select(CarrierAccount).where(CarrierAccount.carrier == "shopee_logistics"))
        ).all()
    assert sorted((a.name, a.connection_id) for a in accounts) == [
        ("sea", None),
        (f"sea (shop {conn_id})", conn_id),
    ]
