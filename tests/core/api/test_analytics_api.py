"""Analytics over GraphQL, checked against figures computed by hand for a small shop with
known fees, a payout that lands late, a refund, a return, landed costs and ads."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from crossdock import AdLevel, AdMetric, AdReportPage, ChannelSettlement, Money, SettlementLine
from crossdock.db.models import (
    AnalyticsDaily,
    AnalyticsLine,
    AnalyticsMark,
    AnalyticsSkuDaily,
    Connection,
    Tenant,
    Variant,
)
from crossdock.jobs import JOBS
from crossdock.services.ads import ingest_ads
from crossdock.services.analytics import mark
from crossdock.services.settlements import ingest_settlements

ZONE = ZoneInfo("Asia/Singapore")

PROFIT = """query($f: AnalyticsFilter!, $g: [ProfitDimension!]) { profit(filter: $f, groupBy: $g) {
  currency truncated
  rows { sku connectionId period figures { revenue { amount } profit { amount } units } }
  total { revenue { amount } tax { amount } marketplaceFees { amount } fulfilmentFees { amount }
    shippingCost { amount } paymentFees { amount } refunds { amount } cogs { amount } writeOff { amount }
    adSpend { amount } adSales { amount } profit { amount currency } margin unitProfit { amount } tacos
    units returnedUnits lines estimatedLines } } }"""

KPIS = """query($f: AnalyticsFilter!) { kpis(filter: $f) {
  currency gmv { amount } orders units averageOrderValue { amount } repeatBuyerRate cancellationRate
  returnRate refundRate lateShipmentRate validTrackingRate sessions conversion
  stock { sku available unitsSold stockOutDays daysOfCover } } }"""


async def _settings(app: Any, shop: Any, **settings: Any) -> None:
    async with app.db.write(system=True) as session:
        await session.execute(update(Tenant).where(Tenant.id == shop.tenant.id).values(settings=settings))


async def _receive(api: Any, shop: Any, units: int, cost: str) -> None:
    data = await api.data(
        """mutation($i: StockReceiveInput!) { stockReceive(input: $i) { userErrors { field code } } }""",
        {
            "i": {
                "variantId": _id("Variant", shop.variants["SKU-1"]),
                "warehouseId": _id("Warehouse", shop.warehouses["SG1"]),
                "quantity": units,
                "unitCost": {"amount": cost, "currency": "SGD"},
                "freight": "0.50",
                "duty": "0.20",
            }
        },
        key=shop.tenant.key,
    )
    assert data["stockReceive"]["userErrors"] == []


def _id(type_name: str, pk: int) -> str:
    from crossdock.api.schema.relay import encode_id

    return str(encode_id(type_name, pk))


async def _refresh(app: Any, shop: Any) -> None:
    while await JOBS["analytics_refresh"](app.job_context(), tenant_id=shop.tenant.id):
        pass


def _today() -> date:
    return datetime.now(UTC).astimezone(ZONE).date()


def _filter(**more: Any) -> dict[str, Any]:
    return {"from": (_today() - timedelta(days=1)).isoformat(), "to": _today().isoformat(), **more}


async def _profit(api: Any, shop: Any, group_by: list[str] | None = None, **flt: Any) -> dict[str, Any]:
    data = await api.data(PROFIT, {"f": _filter(**flt), "g": group_by}, key=shop.tenant.key)
    result: dict[str, Any] = data["profit"]
    return result


async def _mutate(api: Any, shop: Any, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    data = await api.data(query, variables, key=shop.tenant.key)
    payload: dict[str, Any] = next(iter(data.values()))
    assert payload.get("userErrors") in (None, []), payload
    return payload


async def _pack(api: Any, shop: Any, order_id: str, tracking: str) -> dict[str, Any]:
    """The order packed in SG1 with a Ninja Van tracking number."""
    return await _mutate(
        api,
        shop,
        "mutation($o: ID!, $w: ID!, $t: String!) { shipmentPack(input: {orderId: $o, warehouseId: $w, "
        'carrier: "Ninja Van", trackingNumber: $t}) { shipment { id } userErrors { code } } }',
        {"o": order_id, "w": _id("Warehouse", shop.warehouses["SG1"]), "t": tracking},
    )


async def _shop_with_sales(api: Any, app: Any, shop: Any) -> dict[str, int]:
    """Three orders of SKU-1 (10.00 SGD a unit): ORD-1 (2 units, buyer A), ORD-2 (1 unit,
    buyer A again), ORD-3 (1 unit, buyer B, cancelled). Landed costs 3.70 and 4.70 (10
    units each: weighted average 4.20); fees 10 % + 0.50 per order; shipping estimated at
    3.00 an order until a payout says otherwise."""
    await _settings(
        app,
        shop,
        reporting_currency="SGD",
        timezone="Asia/Singapore",
        analytics={
            "cogs_method": "weighted_average",
            "shipping_estimate": {"amount": "3.00", "currency": "SGD"},
        },
    )
    async with shop.write() as session:
        await session.execute(
            update(Connection)
            .where(Connection.id == shop.connections["sg"])
            .values(settings={"fees": {"commission_rate": "0.10", "fixed_per_order": "0.50"}})
        )
    await _receive(api, shop, 10, "3.00")
    await _receive(api, shop, 10, "4.00")
    market = shop.market
    one = dataclasses.replace(
        market.add_order("ORD-1", quantity=2, total="20.00"), buyer_email="a@example.com"
    )
    two = dataclasses.replace(
        market.add_order("ORD-2", quantity=1, total="10.00"), buyer_email="A@example.com "
    )
    three = dataclasses.replace(
        market.add_order("ORD-3", quantity=1, total="10.00"), buyer_email="b@example.com"
    )
    await shop.ingest(one)
    await shop.ingest(two)
    await shop.ingest(three)
    orders = {
        n["externalId"]: n
        for n in (
            await api.data(
                "{ orders(first: 10) { nodes { id externalId lines { id } } } }", key=shop.tenant.key
            )
        )["orders"]["nodes"]
    }
    await _mutate(
        api,
        shop,
        'mutation($o: ID!) { orderCancel(input: {id: $o, reason: "buyer asked"}) { userErrors { code } } }',
        {"o": orders["ORD-3"]["id"]},
    )
    await _mutate(
        api,
        shop,
        'mutation($o: ID!) { refundRecord(input: {orderId: $o, amount: {amount: "4.00", currency: "SGD"}, reason: "late"}) { userErrors { code } } }',
        {"o": orders["ORD-2"]["id"]},
    )
    return {k: v["id"] for k, v in orders.items()} | {"ORD-1-line": orders["ORD-1"]["lines"][0]["id"]}


async def test_profit_kpis_and_drill_down_match_the_hand_computed_figures(
    api: Any, app: Any, shop: Any
) -> None:
    ids = await _shop_with_sales(api, app, shop)
    await _refresh(app, shop)
    before = (await _profit(api, shop))["total"]
    # ORD-1: 20.00 - fees 2.50 - shipping 3.00 - cogs 8.40 = 6.10
    # ORD-2: 10.00 - fees 1.50 - shipping 3.00 - refund 4.00 - cogs 4.20 = -2.70; ORD-3 cancelled
    assert before["revenue"]["amount"] == "30.00"
    assert before["marketplaceFees"]["amount"] == "4.00"
    assert before["shippingCost"]["amount"] == "6.00"
    assert before["refunds"]["amount"] == "4.00"
    assert before["cogs"]["amount"] == "12.60"
    assert before["profit"]["amount"] == "3.40"
    assert (before["units"], before["lines"], before["estimatedLines"]) == (3, 3, 2)

    # the payout for ORD-1 lands: its fees and shipping replace the estimates
    async with shop.write() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == shop.connections["sg"]))
        payout = ChannelSettlement(
            external_id="P-1",
            opened_at=datetime.now(UTC) - timedelta(days=1),
            total=Money.of("14.30", "SGD"),
            status="paid",
            lines=[
                SettlementLine("sale", Money.of("20.00", "SGD"), "ORD-1"),
                SettlementLine("commission", Money.of("-2.20", "SGD"), "ORD-1", "referral fee"),
                SettlementLine("shipping", Money.of("-3.50", "SGD"), "ORD-1", "label"),
            ],
        )
        await ingest_settlements(session, conn, [payout])
        # ads: SKU-1 today, 1.50 spent for 20.00 of attributed sales
        page = AdReportPage(
            metrics=[
                AdMetric(
                    AdLevel.PRODUCT,
                    _today(),
                    "CMP-1",
                    impressions=400,
                    clicks=10,
                    spend=Money.of("1.50", "SGD"),
                    orders=1,
                    sales=Money.of("20.00", "SGD"),
                    sku="SKU-1",
                )
            ]
        )
        await ingest_ads(session, app.plugins, conn, page)
        await ingest_ads(session, app.plugins, conn, page)  # the same report again: counted once
    # ORD-1 ships and one unit comes back sellable: its cost comes off (4.20 x 1)
    packed = await _pack(api, shop, ids["ORD-1"], "NV1")
    await _mutate(
        api,
        shop,
        "mutation($s: ID!) { shipmentShip(input: {id: $s}) { userErrors { code } } }",
        {"s": packed["shipment"]["id"]},
    )
    await _mutate(
        api,
        shop,
        "mutation($o: ID!, $w: ID!, $l: ID!) { returnReceive(input: {orderId: $o, warehouseId: $w, lines: [{orderLineId: $l, quantity: 1, condition: SELLABLE}]}) { userErrors { code } } }",
        {"o": ids["ORD-1"], "w": _id("Warehouse", shop.warehouses["SG1"]), "l": ids["ORD-1-line"]},
    )
    await _refresh(app, shop)
    total = (await _profit(api, shop))["total"]
    # 30.00 - fees (2.20 + 1.50) - shipping (3.50 + 3.00) - refunds 4.00 - cogs (4.20 + 4.20) - ads 1.50
    assert total["marketplaceFees"]["amount"] == "3.70"
    assert total["shippingCost"]["amount"] == "6.50"
    assert total["cogs"]["amount"] == "8.40"
    assert total["adSpend"]["amount"] == "1.50"
    assert total["adSales"]["amount"] == "20.00"
    assert total["profit"] == {"amount": "5.90", "currency": "SGD"}
    assert total["margin"] == "0.1967"
    assert total["tacos"] == "0.0500"
    assert total["unitProfit"]["amount"] == "1.9667"
    assert (total["units"], total["returnedUnits"], total["estimatedLines"]) == (3, 1, 1)

    by_day = await _profit(api, shop, ["SKU", "DAY"])
    assert [(r["sku"], r["period"], r["figures"]["profit"]["amount"]) for r in by_day["rows"]] == [
        ("SKU-1", _today().isoformat(), "5.90")
    ]

    kpis = (await api.data(KPIS, {"f": _filter()}, key=shop.tenant.key))["kpis"]
    assert kpis["gmv"]["amount"] == "30.00"
    assert (kpis["orders"], kpis["units"]) == (3, 3)
    assert kpis["averageOrderValue"]["amount"] == "15.00"
    assert kpis["cancellationRate"] == "0.3333"
    assert (kpis["returnRate"], kpis["refundRate"]) == ("0.5000", "0.5000")
    assert kpis["repeatBuyerRate"] == "0.3333"  # ORD-2 is buyer A's second order
    assert (kpis["lateShipmentRate"], kpis["validTrackingRate"]) == ("0.0000", "0.0000")

    lines = await api.data(
        """query($f: AnalyticsFilter!, $o: ID) { profitLines(filter: $f, orderId: $o) { lines {
             units returnedUnits estimated figures { marketplaceFees { amount } cogs { amount } profit { amount } }
             sources } } }""",
        {"f": _filter(), "o": ids["ORD-1"]},
        key=shop.tenant.key,
    )
    (line,) = lines["profitLines"]["lines"]
    assert (line["units"], line["returnedUnits"], line["estimated"]) == (2, 1, False)
    assert line["figures"]["profit"]["amount"] == "10.10"  # 20.00 - 2.20 - 3.50 - 4.20
    kinds = {(s["figure"], s["kind"]) for s in line["sources"]}
    assert ("marketplace_fees", "settlement_line") in kinds
    assert ("shipping_cost", "settlement_line") in kinds
    (cost,) = [s for s in line["sources"] if s["kind"] == "unit_cost"]
    assert cost["unit_cost"] == "4.2000"
    assert {layer["unit_cost"] for layer in cost["from"]} == {"3.7000", "4.7000"}


async def test_fifo_costs_the_first_units_received_first(api: Any, app: Any, shop: Any) -> None:
    await _settings(
        app, shop, reporting_currency="SGD", timezone="Asia/Singapore", analytics={"cogs_method": "fifo"}
    )
    await _receive(api, shop, 2, "3.00")  # landed 3.70
    await _receive(api, shop, 10, "4.00")  # landed 4.70
    await shop.ingest(shop.market.add_order("F-1", quantity=1))
    await shop.ingest(shop.market.add_order("F-2", quantity=2))
    await _refresh(app, shop)
    # F-1: the first unit (3.70); F-2: the second of the first layer and one of the next
    assert (await _profit(api, shop))["total"]["cogs"]["amount"] == "12.10"
    # recomputed (a payout, a status change): the units keep their places
    async with shop.write() as session:
        mark(session, (await session.scalars(select(AnalyticsLine.order_id))).all())
    await _refresh(app, shop)
    assert (await _profit(api, shop))["total"]["cogs"]["amount"] == "12.10"


async def test_bad_periods_and_foreign_shops_are_refused(
    api: Any, app: Any, shop: Any, tenant_factory: Any
) -> None:
    bad = await api.raw(PROFIT, {"f": {"from": "2026-12-02", "to": "2026-11-01"}}, key=shop.tenant.key)
    assert bad.json()["errors"][0]["extensions"]["code"] == "INVALID_PERIOD"
    long = await api.raw(PROFIT, {"f": {"from": "2020-01-01", "to": "2026-01-01"}}, key=shop.tenant.key)
    assert long.json()["errors"][0]["extensions"]["code"] == "INVALID_PERIOD"
    other = await tenant_factory()
    async with app.db.write(other.id, slug=other.slug) as session:
        from crossdock.services import connections

        conn = await connections.create_connection(
            session, app.plugins, app.vault, channel="testmarket", name="x", site="SG", credentials={"t": "x"}
        )
    foreign = await api.raw(
        PROFIT, {"f": _filter(connectionIds=[_id("ChannelConnection", conn.id)])}, key=shop.tenant.key
    )
    assert foreign.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    no_scope = await tenant_factory(scopes=["orders:read"])
    refused = await api.raw(PROFIT, {"f": _filter()}, key=no_scope.key)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_concurrent_refreshes_count_every_order_once(app: Any, shop: Any, api: Any) -> None:
    """Workers taking marks at once (PostgreSQL: SKIP LOCKED, one order at a time under its
    lock) leave rollups equal to the sum of the lines, whatever the interleaving."""
    await _settings(app, shop, reporting_currency="SGD", timezone="Asia/Singapore")
    await shop.receive("SKU-1", "SG1", 200)
    for n in range(40):
        await shop.ingest(shop.market.add_order(f"C-{n}", quantity=1 + n % 3))
    # every order marked again several times, as busy write paths would
    async with shop.write() as session:
        ids = (await session.scalars(select(AnalyticsMark.order_id))).all()
        for _ in range(3):
            mark(session, ids)
    ctx = app.job_context()
    await asyncio.gather(*(JOBS["analytics_refresh"](ctx, tenant_id=shop.tenant.id) for _ in range(4)))
    await _refresh(app, shop)
    async with shop.read() as session:
        lines = (
            await session.execute(
                select(func.count(), func.sum(AnalyticsLine.revenue), func.sum(AnalyticsLine.units))
            )
        ).one()
        rolled = (
            await session.execute(
                select(
                    func.sum(AnalyticsSkuDaily.lines),
                    func.sum(AnalyticsSkuDaily.revenue),
                    func.sum(AnalyticsSkuDaily.units),
                )
            )
        ).one()
        orders, daily_lines, daily_revenue, daily_units = (
            await session.execute(
                select(
                    func.sum(AnalyticsDaily.orders),
                    func.sum(AnalyticsDaily.lines),
                    func.sum(AnalyticsDaily.revenue),
                    func.sum(AnalyticsDaily.units),
                )
            )
        ).one()
        left = await session.scalar(select(func.count()).select_from(AnalyticsMark))
    assert lines[0] == 40
    assert (rolled[0], Decimal(rolled[1]), rolled[2]) == (lines[0], Decimal(lines[1]), lines[2])
    # the per-shop daily rollup moved with it, by the same figures
    assert (daily_lines, Decimal(daily_revenue), daily_units) == (lines[0], Decimal(lines[1]), lines[2])
    assert Decimal(lines[1]) == sum(Decimal(10 * (1 + n % 3)) for n in range(40))
    assert orders == 40
    assert left == 0


async def test_an_agency_report_covers_the_brands_its_key_reaches_and_no_others(
    api: Any, app: Any, shop: Any, tenant_factory: Any
) -> None:
    from crossdock.db.models import Organization
    from crossdock.services import tenancy

    await _settings(app, shop, reporting_currency="SGD", timezone="Asia/Singapore")
    await shop.ingest(shop.market.add_order("AG-1", quantity=2))
    await _refresh(app, shop)
    async with app.db.write(system=True) as session:
        org = await session.get(Organization, shop.tenant.organization_id)
        assert org is not None
        second = await tenancy.create_tenant(session, org, f"{shop.tenant.slug}-b", "Second brand")
        second.settings = {"reporting_currency": "SGD"}
        _, agency_key = await tenancy.create_api_key(session, org, name="agency", scopes=["admin"])
    stranger = await tenant_factory()
    query = "query($d: Date!) { agencyReport(kind: DAILY, day: $d) }"
    day = {"d": _today().isoformat()}
    mine = (await api.data(query, day, key=agency_key, tenant=shop.tenant.slug))["agencyReport"]
    rows = mine["sections"][0]["table"]["rows"]
    assert sorted(r["brand"] for r in rows) == sorted([shop.tenant.slug, "Second brand"])
    [first] = [r for r in rows if r["brand"] != "Second brand"]
    assert (first["orders"], first["revenue"], first["currency"]) == ("1", "20.00", "SGD")
    assert mine["sections"][0]["chart"]["x"] == [r["brand"] for r in rows]
    theirs = (await api.data(query, day, key=stranger.key))["agencyReport"]
    assert [r["brand"] for r in theirs["sections"][0]["table"]["rows"]] == [stranger.slug]


async def test_concurrent_imports_of_a_revised_ad_day_move_the_rollup_once(app: Any, shop: Any) -> None:
    """Two syncs of one shop storing the same revised report at once (PostgreSQL: they take
    the connection's lock in turn) leave the rollup equal to the stored row."""
    await _settings(app, shop, reporting_currency="SGD", timezone="Asia/Singapore")

    def page(spend: str) -> AdReportPage:
        metric = AdMetric(AdLevel.PRODUCT, _today(), "CMP-9", 100, 5, Money.of(spend, "SGD"), sku="SKU-1")
        return AdReportPage(metrics=[metric])

    async def store(spend: str) -> None:
        async with shop.write() as session:
            conn = await session.scalar(select(Connection).where(Connection.id == shop.connections["sg"]))
            await ingest_ads(session, app.plugins, conn, page(spend))

    await store("2.00")
    await asyncio.gather(*(store("5.00") for _ in range(4)))
    async with shop.read() as session:
        rolled = await session.scalar(select(func.sum(AnalyticsSkuDaily.ad_spend)))
    assert Decimal(rolled) == Decimal("5.00")


async def test_stock_kpis_come_from_the_daily_stock_snapshots(app: Any, shop: Any, api: Any) -> None:
    """Stock-out days, sell-through and days of cover, from the snapshots the tenant's days
    keep: a day counts as a stock-out if any snapshot of it found nothing available."""
    from crossdock.services import inventory
    from crossdock.services.analytics_read import snapshot_stock

    await _settings(app, shop, reporting_currency="SGD", timezone="Asia/Singapore")
    today = _today()

    async def snapshot(day: date) -> None:
        async with shop.write() as session:
            await snapshot_stock(
                session, now=datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=12)
            )

    async def adjust(delta: int) -> None:
        async with shop.unit_of_work() as uow:
            await inventory.adjust_stock(
                uow,
                variant_id=shop.variants["SKU-1"],
                warehouse_id=shop.warehouses["SG1"],
                delta=delta,
                note="kpi",
            )

    await snapshot(today - timedelta(days=2))  # 5 on hand
    await adjust(-5)
    await snapshot(today - timedelta(days=1))  # out of stock ...
    await shop.receive("SKU-1", "SG1", 2)
    await snapshot(today - timedelta(days=1))  # ... and back later that day: still a stock-out day
    await shop.receive("SKU-1", "SG1", 7)
    await shop.ingest(shop.market.add_order("STK-1", quantity=3))
    await snapshot(today)
    await _refresh(app, shop)
    on_hand, reserved = await shop.level("SKU-1")
    assert (on_hand, reserved) == (9, 3)  # the order is allocated, not shipped

    data = await api.data(
        """query($f: AnalyticsFilter!) { kpis(filter: $f) { sellThrough
             stock { sku available unitsSold stockOutDays daysOfCover } } }""",
        {"f": {"from": (today - timedelta(days=2)).isoformat(), "to": today.isoformat()}},
        key=shop.tenant.key,
    )
    stock = {row["sku"]: row for row in data["kpis"]["stock"]}
    assert stock["SKU-1"]["stockOutDays"] == 1
    assert (stock["SKU-1"]["available"], stock["SKU-1"]["unitsSold"]) == (6, 3)
    assert stock["SKU-1"]["daysOfCover"] == "56.0"  # 6 available over 3 sold in 28 days
    assert stock.get("SKU-2", {"stockOutDays": 0})["stockOutDays"] == 0
    # sold 3 over 3 sold + 9 on hand at the period's last snapshot
    assert data["kpis"]["sellThrough"] == "0.2500"


async def test_a_report_ranks_the_best_and_worst_skus_in_the_database(app: Any, shop: Any, api: Any) -> None:
    """The report's top and bottom SKUs are the ends of the SKUs ranked by profit, read
    without loading every SKU's figures."""
    from crossdock.services import catalog
    from crossdock.services.analytics_read import Dimension, Filter, profit, profit_extremes

    await _settings(app, shop, reporting_currency="SGD", timezone="Asia/Singapore")
    async with shop.write() as session:
        await catalog.create_product(
            session, title="More fans", variants=[catalog.VariantSpec(sku=f"SKU-{n}") for n in range(3, 8)]
        )
        shop.variants = {v.sku: v.id for v in (await session.scalars(select(Variant))).all()}
    await shop.connect("more")
    for n in range(1, 8):  # SKU-n sells n units at 10.00: profit grows with n
        await shop.ingest(shop.market.add_order(f"RANK-{n}", sku=f"SKU-{n}", quantity=n), connection="more")
    await _refresh(app, shop)
    flt = Filter(_today() - timedelta(days=1), _today())
    async with shop.read() as session:
        _, everything, _ = await profit(session, flt, [Dimension.SKU])
        ends, count = await profit_extremes(session, flt, 2)
        all_of_them, small = await profit_extremes(session, flt, 4)
    ranked = sorted(everything, key=lambda r: r.profit, reverse=True)
    assert count == small == 7
    assert [r.key["sku"] for r in ends] == ["SKU-7", "SKU-6", "SKU-2", "SKU-1"]
    assert [(r.key["sku"], r.profit) for r in ends] == [
        (r.key["sku"], r.profit) for r in ranked[:2] + ranked[-2:]
    ]
    assert [r.key["sku"] for r in all_of_them] == [r.key["sku"] for r in ranked]  # 7 <= 2 x 4


async def test_the_weekly_report_counts_what_waits_and_how_fast_buyers_were_answered(
    app: Any, shop: Any, api: Any
) -> None:
    """The report's queues as an operator reads them on a Monday: late and due orders,
    open holds by reason, open shipment exceptions by kind, conversations awaiting a reply
    and those past the deadline, and the share of the week's buyer messages answered
    within 24 hours (a buyer's run of messages is answered by the seller's next one)."""
    from crossdock.api.schema.relay import decode_id
    from crossdock.db.models import (
        Conversation,
        ConversationStatus,
        Message,
        Order,
        OrderHold,
        ShipmentException,
    )
    from crossdock.services.analytics_read import Filter, kpis
    from crossdock.services.reports import ReportKind, report_data

    await _settings(app, shop, reporting_currency="SGD", timezone="Asia/Singapore")
    await _receive(api, shop, 10, "3.00")
    now = datetime.now(UTC)
    due = {"LATE": -2, "SOON": 5, "LATER": 72, "GONE": -5}  # hours from now; GONE is cancelled
    for name, hours in due.items():
        await shop.ingest(
            shop.market.add_order(f"ORD-{name}", buyer=f"Buyer {name}", ship_by=now + timedelta(hours=hours))
        )
    orders = {
        n["externalId"]: n["id"]
        for n in (await api.data("{ orders(first: 10) { nodes { id externalId } } }", key=shop.tenant.key))[
            "orders"
        ]["nodes"]
    }
    packed = await _pack(api, shop, orders["ORD-LATER"], "NV9")
    await _mutate(
        api,
        shop,
        'mutation($o: ID!) { orderCancel(input: {id: $o, reason: "buyer asked"}) { userErrors { code } } }',
        {"o": orders["ORD-GONE"]},
    )
    # a week in the past, its Wednesday 10:00 in Singapore: four threads
    monday = _today() - timedelta(days=_today().weekday() + 14)
    wednesday = datetime.combine(monday + timedelta(days=2), datetime.min.time(), tzinfo=ZONE) + timedelta(
        hours=10
    )
    threads = {
        # asked twice, answered 2 h after the first question: on time
        "ON-TIME": [(0, "inbound"), (1, "inbound"), (2, "outbound")],
        # answered after 30 h, then asked and answered again after 4 h: one late, one on time
        "LATE": [(0, "inbound"), (30, "outbound"), (31, "inbound"), (35, "outbound")],
        # still waiting, one past its deadline, one not yet
        "OVERDUE": [(3, "inbound")],
        "WAITING": [(4, "inbound")],
    }
    async with shop.write() as session:
        by_ext = {o.external_id: o for o in (await session.scalars(select(Order))).all()}
        assert not (await session.scalars(select(OrderHold))).all()  # ingest held none of them
        session.add_all(
            [
                OrderHold(order_id=by_ext["ORD-LATE"].id, reason="address"),
                OrderHold(order_id=by_ext["ORD-SOON"].id, reason="fraud"),
                OrderHold(order_id=by_ext["ORD-LATER"].id, reason="address", released_at=now),
            ]
        )
        _, shipment_id = decode_id(packed["shipment"]["id"], "Shipment")
        session.add_all(
            [
                ShipmentException(
                    shipment_id=shipment_id, order_id=by_ext["ORD-LATER"].id, kind="customs_delay"
                ),
                ShipmentException(
                    shipment_id=shipment_id, order_id=by_ext["ORD-LATER"].id, kind="lost", resolved_at=now
                ),
            ]
        )
        for ext, messages in threads.items():
            waiting = ext in ("OVERDUE", "WAITING")
            conversation = Conversation(
                connection_id=shop.connections["sg"],
                external_id=ext,
                language="en",
                status=ConversationStatus.AWAITING_REPLY if waiting else ConversationStatus.ANSWERED,
                last_message_at=wednesday + timedelta(hours=messages[-1][0]),
                reply_due_at=(now - timedelta(hours=1) if ext == "OVERDUE" else now + timedelta(hours=10))
                if waiting
                else None,
            )
            session.add(conversation)
            await session.flush()
            session.add_all(
                Message(
                    conversation_id=conversation.id,
                    external_id=f"{ext}-{i}",
                    direction=direction,
                    body="…",
                    sent_at=wednesday + timedelta(hours=at),
                )
                for i, (at, direction) in enumerate(messages)
            )
    async with shop.read() as session:
        data = await report_data(session, app.plugins, ReportKind.WEEKLY, monday, now=now)
        numbers = await kpis(session, Filter(monday, monday + timedelta(days=6)))
    sections = {s["key"]: s for s in data["sections"]}

    def figures(key: str) -> dict[str, Any]:
        return {f["label"]: f["value"] for f in sections[key]["figures"]}

    assert figures("shipping")["Late now"] == "1"
    assert figures("shipping")["Due within 24 h"] == "1"
    assert [r["order"] for r in sections["shipping"]["table"]["rows"]] == ["ORD-LATE", "ORD-SOON"]
    queues = figures("queues")
    assert (queues["Open holds"], queues["Held: address"], queues["Held: fraud"]) == ("2", "1", "1")
    assert (queues["Shipment exceptions"], queues["Exception: customs_delay"]) == ("1", "1")
    assert "Exception: lost" not in queues
    assert (queues["Unanswered conversations"], queues["Past the reply deadline"]) == ("2", "1")
    # three answers in the week: 2 h, 30 h and 4 h; two of them within 24 h
    assert queues["Answered within 24 h"] == "0.6667"
    assert (numbers.replies, numbers.replied_on_time, numbers.reply_hours_median) == (3, 2, 4.0)
    assert numbers.awaiting_reply == 2
