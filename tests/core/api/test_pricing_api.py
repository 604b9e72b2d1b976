"""One SKU priced for five markets over GraphQL, matching the hand calculation below;
repricing against competitors never goes below the floor."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from crossdock import FxRates, hookimpl
from crossdock.money import Money
from crossdock.services import catalog, connections

DAY = date(2026, 11, 20)


class Rates:
    """Reference rates per 1 EUR for the test."""

    @hookimpl
    def crossdock_fx_rates(self, day: date) -> FxRates | None:
        rates = {"USD": "1.10", "GBP": "0.85", "JPY": "160", "SGD": "1.45"}
        return FxRates(day=day, base="EUR", rates={c: Decimal(r) for c, r in rates.items()}, source="test")


@pytest.fixture
def extra_plugins(testmarket: Any) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("rates", Rates())]


# market: (channel, site, tax rate, tax included, commission, payment fee rate, fixed fee, step, ending)
MARKETS = {
    "US": ("amazon", "US", "0.0725", False, "0.15", "0", "0", "1", "0.99"),
    "DE": ("amazon", "DE", "0.19", True, "0.15", "0", "0", "1", "0.99"),
    "UK": ("amazon", "UK", "0.20", True, "0.15", "0", "0", "1", "0.99"),
    "JP": ("amazon", "JP", "0.10", True, "0.15", "0", "0", "100", "80"),
    "SG": ("shopee", "SG", "0.09", True, "0.12", "0.02", "0.50", "1", "0.90"),
}

# Worked by hand. Cost USD 8.00 + freight 1.50, duty 5 % of both: landed USD 9.975. Target
# margin 20 % of net revenue. With the cross rates USD->EUR 1/1.10, ->GBP 0.85/1.10,
# ->JPY 160/1.10, ->SGD 1.45/1.10 (ten places):
#   DE: landed 9.975 x 0.9090909091 = 9.0682 EUR; net = 9.0682 / (1 - 0.20 - 0.15 x 1.19) = 14.5909;
#       price = 14.5909 x 1.19 = 17.36 -> point 17.99; break-even 9.0682 / 0.8215 x 1.19 = 13.14;
#       at 17.99: VAT 17.99 - 17.99/1.19 = 2.87, commission 2.70, profit 15.1176 - 2.6985 - 9.0682 = 3.35
#   US: tax added at checkout: 9.975 / 0.65 = 15.35 -> 15.99; sales tax 15.99 x 7.25 % = 1.16; profit 3.62
#   UK: 7.7080 / (1 - 0.20 - 0.18) x 1.20 = 14.92 -> 14.99; VAT 2.50; profit 2.54
#   JP: 1450.91 / 0.635 x 1.10 = 2513 -> the next x80 is 2580; tax 235; profit 508
#   SG: (13.1489 + 0.50) / (1 - 0.20 - 0.14 x 1.09) x 1.09 = 22.98 -> 23.90; fee 23.90 x 2 % + 0.50 = 0.98
EXPECTED = {
    "USD": {
        "computed": "15.35",
        "final": "15.99",
        "floor": "11.74",
        "tax": "1.16",
        "commission": "2.40",
        "profit": "3.62",
    },
    "EUR": {
        "computed": "17.36",
        "final": "17.99",
        "floor": "13.14",
        "tax": "2.87",
        "commission": "2.70",
        "profit": "3.35",
    },
    "GBP": {
        "computed": "14.92",
        "final": "14.99",
        "floor": "11.28",
        "tax": "2.50",
        "commission": "2.25",
        "profit": "2.54",
    },
    "JPY": {
        "computed": "2513",
        "final": "2580",
        "floor": "1912",
        "tax": "235",
        "commission": "387",
        "profit": "508",
    },
    "SGD": {
        "computed": "22.98",
        "final": "23.90",
        "floor": "17.56",
        "tax": "1.97",
        "commission": "2.87",
        "profit": "4.93",
    },
}

BREAKDOWNS = """query($v: ID!, $d: Date) { priceBreakdowns(variantId: $v, day: $d) {
  listingId market landed { amount currency } fxRate
  computed { amount } pricePoint { amount } floor { amount } final { amount currency }
  tax { amount } commission { amount } paymentFee { amount } profit { amount } margin } }"""

RULE = """mutation($i: PriceRuleInput!) { priceRuleSet(input: $i) {
  breakdown { final { amount currency } } userErrors { field code } } }"""


async def _setup(app: Any, tenant: Any) -> tuple[str, dict[str, str]]:
    from sqlalchemy import select

    from crossdock.api.schema.relay import encode_id
    from crossdock.db.models import Listing, Variant

    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        await catalog.create_product(
            session,
            title="Trail Backpack",
            variants=[catalog.VariantSpec(sku="BP-1", cost=Money.of("8.00", "USD"))],
        )
        variant_id = await session.scalar(select(Variant.id))
        listings = {}
        for market, (channel, site, *_rest) in MARKETS.items():
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                channel=channel,
                name=f"{channel}-{site}",
                site=site,
                credentials={"k": "v"},
            )
            row = Listing(connection_id=conn.id, variant_id=variant_id, channel_sku="BP-1")
            session.add(row)
            await session.flush()
            listings[market] = encode_id("Listing", row.id)
    return encode_id("Variant", variant_id), listings


async def test_one_sku_five_markets_matches_the_hand_calculation(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    variant, listings = await _setup(app, tenant)
    for market, (_c, _s, tax, included, commission, fee, fixed, step, ending) in MARKETS.items():
        result = await api.data(
            RULE,
            {
                "i": {
                    "listingId": listings[market],
                    "freight": "1.50",
                    "dutyRate": "0.05",
                    "commissionRate": commission,
                    "paymentFeeRate": fee,
                    "paymentFeeFixed": fixed,
                    "taxRate": tax,
                    "taxIncluded": included,
                    "targetMargin": "0.20",
                    "priceStep": step,
                    "priceEnding": ending,
                }
            },
            key=tenant.key,
        )
        assert result["priceRuleSet"]["userErrors"] == []
    shown = (await api.data(BREAKDOWNS, {"v": variant, "d": DAY.isoformat()}, key=tenant.key))[
        "priceBreakdowns"
    ]
    assert [b["market"] for b in shown] == ["USD", "EUR", "GBP", "JPY", "SGD"]
    for b in shown:
        want = EXPECTED[b["market"]]
        got = {
            "computed": b["computed"]["amount"],
            "final": b["final"]["amount"],
            "floor": b["floor"]["amount"],
            "tax": b["tax"]["amount"],
            "commission": b["commission"]["amount"],
            "profit": b["profit"]["amount"],
        }
        assert got == want, b["market"]
        assert b["landed"] == {"amount": "9.98", "currency": "USD"}  # 9.975 shown half-even
        assert Decimal(b["margin"]) >= Decimal("0.20")  # the price point only ever adds margin


async def test_repricing_undercuts_competitors_but_never_the_floor(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    _, listings = await _setup(app, tenant)
    de = listings["DE"]
    rule = {
        "listingId": de,
        "freight": "1.50",
        "dutyRate": "0.05",
        "commissionRate": "0.15",
        "taxRate": "0.19",
        "targetMargin": "0.20",
        "priceEnding": "0.99",
        "reprice": "UNDERCUT",
        "undercutStep": "0.10",
    }
    assert (await api.data(RULE, {"i": rule}, key=tenant.key))["priceRuleSet"]["userErrors"] == []
    record = """mutation($l: ID!, $p: Decimal!) { competitorPriceRecord(input: {listingId: $l, competitor: "rival",
      price: {amount: $p, currency: "EUR"}}) { userErrors { code } } }"""
    apply = "mutation($l: ID!) { priceApply(input: {listingIds: [$l]}) { listings { price { amount } } userErrors { code } } }"

    await api.data(record, {"l": de, "p": "16.50"}, key=tenant.key)
    applied = (await api.data(apply, {"l": de}, key=tenant.key))["priceApply"]
    assert applied["listings"][0]["price"] == {"amount": "16.40"}  # 10 cents under the rival
    await api.data(record, {"l": de, "p": "9.99"}, key=tenant.key)  # a rival selling at a loss
    applied = (await api.data(apply, {"l": de}, key=tenant.key))["priceApply"]
    assert applied["listings"][0]["price"] == {"amount": "13.14"}  # break-even, not 9.89

    bad = await api.data(RULE, {"i": {"listingId": de, "targetMargin": "0.90"}}, key=tenant.key)
    assert bad["priceRuleSet"]["userErrors"] == [{"field": ["targetMargin"], "code": "IMPOSSIBLE_MARGIN"}]
    bad = await api.data(RULE, {"i": {"listingId": de, "commissionRate": "1.5"}}, key=tenant.key)
    assert bad["priceRuleSet"]["userErrors"] == [{"field": ["commissionRate"], "code": "INVALID"}]
