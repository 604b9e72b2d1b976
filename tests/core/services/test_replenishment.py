"""Replenishment figures against values worked out by hand (pure: no database)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import pytest

from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.services.replenishment import (
    Demand,
    Lane,
    LeadTime,
    OpenOrder,
    Policy,
    PriceBreak,
    Reason,
    ReplenishmentPlan,
    Stock,
    SupplierTerms,
    days_of_cover,
    inventory_position,
    plan_replenishment,
    project_stockout,
    reorder_point,
    safety_stock,
    service_z,
    size_order,
    suggest_transfers,
)

TODAY = date(2026, 3, 2)
Z95 = 1.6448536269514715  # NormalDist().inv_cdf(0.95), tables give 1.6449
DEMAND = Demand(mean=10, std_dev=3)
LEAD = LeadTime(mean=9, std_dev=2)
FLAT = SupplierTerms(currency="EUR", price_breaks=(PriceBreak(1, Decimal("2.50")),))


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def plan(
    stock: Stock,
    *,
    demand: Demand = DEMAND,
    lead_time: LeadTime = LEAD,
    terms: SupplierTerms = FLAT,
    policy: Policy | None = None,
    warehouse: str = "A",
) -> ReplenishmentPlan:
    return plan_replenishment(
        sku="SKU-1",
        warehouse=warehouse,
        today=TODAY,
        demand=demand,
        lead_time=lead_time,
        stock=stock,
        terms=terms,
        policy=policy,
    )


# --------------------------------------------------------------------------- figures


def test_z_is_the_normal_quantile_of_the_service_level() -> None:
    assert service_z(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert service_z(0.90) == pytest.approx(1.2816, abs=1e-4)
    assert service_z(0.9999) == pytest.approx(3.7190, abs=1e-4)  # the upper bound is allowed


def test_safety_stock_combines_demand_and_lead_time_variability() -> None:
    # d=10, sd=3, LT=9, sLT=2, z=1.6449: SS = 1.6449·√(9·3² + 10²·2²) = 1.6449·√(81 + 400)
    #   = 1.6449·√481 = 1.6449·21.9317 = 36.0745
    assert safety_stock(DEMAND, LEAD, Z95) == pytest.approx(36.0745, abs=1e-4)
    # a certain lead time leaves only demand variability: 1.6449·√(9·9) = 1.6449·9 = 14.8037
    assert safety_stock(DEMAND, LeadTime(9), Z95) == pytest.approx(14.8037, abs=1e-4)


def test_reorder_point_adds_the_demand_over_lead_time_and_review() -> None:
    # continuous review: ROP = 10·9 + 36.0745 = 126.0745
    assert reorder_point(DEMAND, LEAD, Z95) == pytest.approx(126.0745, abs=1e-4)
    # weekly review: ROP = 10·(9 + 7) + 36.0745 = 196.0745
    assert reorder_point(DEMAND, LEAD, Z95, review_days=7) == pytest.approx(196.0745, abs=1e-4)


def test_inventory_position_and_days_of_cover() -> None:
    stock = Stock(on_hand=100, reserved=20, on_order=(OpenOrder(50, day(3)), OpenOrder(30, day(20))))
    assert inventory_position(stock) == 160  # 100 + (50 + 30) - 20
    assert days_of_cover(160, 10) == 16.0  # 160 / 10
    assert days_of_cover(160, 0) is None  # no demand: unbounded, reported as None
    assert days_of_cover(-20, 10) == -2.0  # backorders: negative cover


def test_plan_above_reorder_point_dates_the_order_when_the_position_crosses_it() -> None:
    stock = Stock(on_hand=100, reserved=20, on_order=(OpenOrder(50, day(3)),))
    result = plan(stock)
    assert result.z == pytest.approx(Z95)
    assert result.safety_stock == pytest.approx(36.0745, abs=1e-4)
    assert result.reorder_point == pytest.approx(126.0745, abs=1e-4)
    # S = ROP + d·order_cycle_days = 126.0745 + 10·14 = 266.0745
    assert result.order_up_to == pytest.approx(266.0745, abs=1e-4)
    assert (result.on_hand, result.on_order, result.reserved, result.available) == (100, 50, 20, 80)
    assert result.position == 130  # 100 + 50 - 20
    assert result.days_of_cover == 13.0  # 130 / 10
    assert not result.reorder_now  # 130 ≥ 126.07
    # start of day 0: 130 ≥ 126.07; start of day 1: 130 - 10 = 120 < 126.07 → order tomorrow
    assert result.order_date == day(1)
    # need = 266.0745 - 120 = 146.07 → 147 units at 2.50 = 367.50 EUR
    assert result.order is not None
    assert result.order.quantity == 147
    assert result.order.unit_price == Money(Decimal("2.50"), "EUR")
    assert result.order.total == Money(Decimal("367.50"), "EUR")
    # available 80 falls 10 a day; day 3 receives 50: the stock after day t (t ≥ 3) is
    # 80 + 50 - 10·(t + 1); day 12 ends at 0 (met in full), day 13 at -10
    assert result.stockout_date == day(13)
    assert not result.overstock
    assert result.reasons == (Reason.STOCKOUT_PROJECTED,)


def test_plan_below_reorder_point_orders_today_up_to_s() -> None:
    result = plan(Stock(on_hand=50))
    assert result.position == 50
    assert result.reorder_now
    assert result.order_date == TODAY
    # need = 266.0745 - 50 = 216.07 → 217 units
    assert result.order is not None and result.order.quantity == 217
    assert result.order.reasons == ()
    # 50 - 10·(t + 1) < 0 first for t = 5 (50 - 60 = -10)
    assert result.stockout_date == day(5)
    assert result.reasons == (Reason.BELOW_REORDER_POINT, Reason.STOCKOUT_PROJECTED)


def test_review_period_raises_the_reorder_point() -> None:
    # ROP = 10·(9 + 7) + 36.0745 = 196.0745; S = 196.0745 + 10·14 = 336.0745
    result = plan(Stock(on_hand=150), policy=Policy(review_days=7))
    assert result.reorder_point == pytest.approx(196.0745, abs=1e-4)
    assert result.reorder_now  # 150 < 196.07 (it would not be under continuous review)
    assert result.order is not None and result.order.quantity == 187  # 336.07 - 150 = 186.07 → 187
    assert not plan(Stock(on_hand=150)).reorder_now


def test_backorders_lower_the_position_below_zero() -> None:
    result = plan(Stock(on_hand=0, reserved=30))
    assert result.position == -30
    assert result.days_of_cover == -3.0
    assert result.stockout_date == TODAY  # -30 - 10 < 0 on day 0
    # need = 266.0745 - (-30) = 296.07 → 297
    assert result.order is not None and result.order.quantity == 297


def test_overstock_when_the_position_exceeds_the_overstock_days() -> None:
    # d·overstock_days = 10·30 = 300 (above S = 266.07): 301 is overstock, 300 is not
    policy = Policy(overstock_days=30)
    assert plan(Stock(on_hand=301), policy=policy).overstock
    result = plan(Stock(on_hand=300), policy=policy)
    assert not result.overstock and Reason.OVERSTOCK not in result.reasons
    over = plan(Stock(on_hand=250, on_order=(OpenOrder(51, day(60)),)), policy=policy)
    assert over.position == 301 and over.overstock and Reason.OVERSTOCK in over.reasons
    # below S it never is: with overstock_days=10 (100 units) the bound is S = 266.07
    assert not plan(Stock(on_hand=266), policy=Policy(overstock_days=10)).overstock
    assert plan(Stock(on_hand=267), policy=Policy(overstock_days=10)).overstock


# --------------------------------------------------------------------------- stock-out


def test_stockout_walks_the_daily_forecast_receiving_open_orders() -> None:
    daily = (10.0, 10.0, 30.0, 5.0)
    # 25 → 15 → 5 → 5 - 30 = -25 on day 2
    assert project_stockout(TODAY, Stock(on_hand=25), daily) == day(2)
    # 20 arrive on day 2, before its demand: 5 + 20 - 30 = -5, still short on day 2
    assert project_stockout(TODAY, Stock(on_hand=25, on_order=(OpenOrder(20, day(2)),)), daily) == day(2)
    # 30 arrive on day 2: 5 + 30 - 30 = 5, then 5 - 5 = 0 on day 3: met in full, none within 4 days
    assert project_stockout(TODAY, Stock(on_hand=25, on_order=(OpenOrder(30, day(2)),)), daily) is None
    # the same 30 arriving a day late (day 3) come too late for day 2
    assert project_stockout(TODAY, Stock(on_hand=25, on_order=(OpenOrder(30, day(3)),)), daily) == day(2)
    # an overdue order counts today: 25 + 30 = 55 -> 45 -> 35 -> 5 -> 0, met in full
    late = Stock(on_hand=25, on_order=(OpenOrder(30, day(-3)),))
    assert project_stockout(TODAY, late, daily) is None
    # reserved units are not there to sell: 25 - 20 = 5 → -5 on day 0
    assert project_stockout(TODAY, Stock(on_hand=25, reserved=20), daily) == TODAY


def test_stockout_beyond_the_horizon_is_none() -> None:
    # 100 units at 10 a day last days 0..9 and run out on day 10
    assert plan(Stock(on_hand=100), policy=Policy(horizon_days=11)).stockout_date == day(10)
    assert plan(Stock(on_hand=100), policy=Policy(horizon_days=10)).stockout_date is None
    # a per-day forecast sets the horizon and the walk, the mean the reorder point
    forecast = Demand(mean=10, std_dev=3, daily=(10.0,) * 5)
    assert plan(Stock(on_hand=40), demand=forecast).stockout_date == day(4)
    assert plan(Stock(on_hand=50), demand=forecast).stockout_date is None


def test_order_date_follows_the_daily_forecast() -> None:
    # ROP = 126.0745; position 200, forecast 20/day: start of day t is 200 - 20·t,
    # first below 126.07 at t = 4 (120); need 266.0745 - 120 = 146.07 → 147
    forecast = Demand(mean=10, std_dev=3, daily=(20.0,) * 10)
    result = plan(Stock(on_hand=200), demand=forecast)
    assert result.order_date == day(4)
    assert result.order is not None and result.order.quantity == 147
    # the position never falls below ROP within the 10 days at 5 a day (200 - 45 = 155)
    slow = plan(Stock(on_hand=200), demand=Demand(mean=10, std_dev=3, daily=(5.0,) * 10))
    assert slow.order_date is None and slow.order is None and not slow.reorder_now


# --------------------------------------------------------------------------- zero demand


def test_zero_demand_keeps_a_safety_stock_for_its_variability() -> None:
    # d=0, sd=2, LT=9, sLT=2: SS = 1.6449·√(9·4 + 0·4) = 1.6449·6 = 9.8691 = ROP = S
    result = plan(Stock(on_hand=5), demand=Demand(mean=0, std_dev=2))
    assert result.safety_stock == pytest.approx(9.8691, abs=1e-4)
    assert result.reorder_point == pytest.approx(9.8691, abs=1e-4)
    assert result.order_up_to == pytest.approx(9.8691, abs=1e-4)
    assert result.days_of_cover is None
    assert result.stockout_date is None
    assert result.reorder_now and result.order is not None
    assert result.order.quantity == 5  # 9.8691 - 5 = 4.87 → 5
    assert not result.overstock  # 5 ≤ S
    assert result.reasons == (Reason.BELOW_REORDER_POINT, Reason.NO_DEMAND)


def test_zero_demand_without_variability_orders_nothing() -> None:
    dead = Demand(mean=0, std_dev=0)
    empty = plan(Stock(on_hand=0), demand=dead)
    assert (empty.safety_stock, empty.reorder_point, empty.order_up_to) == (0.0, 0.0, 0.0)
    assert not empty.reorder_now and empty.order_date is None and empty.order is None
    assert empty.reasons == (Reason.NO_DEMAND,)
    stocked = plan(Stock(on_hand=5), demand=dead)  # any stock with no demand is overstock
    assert stocked.overstock and stocked.reasons == (Reason.OVERSTOCK, Reason.NO_DEMAND)


# --------------------------------------------------------------------------- order sizing


def test_case_pack_rounds_up_and_moq_raises() -> None:
    # 217 units in cases of 12: ⌈217 / 12⌉ = 19 cases = 228
    packed = plan(Stock(on_hand=50), terms=SupplierTerms("EUR", FLAT.price_breaks, case_pack=12))
    assert packed.order is not None and packed.order.quantity == 228
    assert packed.order.reasons == (Reason.CASE_PACK_ROUNDED,)
    assert packed.reasons == (Reason.BELOW_REORDER_POINT, Reason.STOCKOUT_PROJECTED, Reason.CASE_PACK_ROUNDED)
    # MOQ 250 above 228, itself rounded to cases: ⌈250 / 12⌉ = 21 cases = 252
    moq = plan(Stock(on_hand=50), terms=SupplierTerms("EUR", FLAT.price_breaks, moq=250, case_pack=12))
    assert moq.order is not None and moq.order.quantity == 252
    assert moq.order.reasons == (Reason.CASE_PACK_ROUNDED, Reason.MOQ_APPLIED)
    assert moq.order.total == Money(Decimal("630.00"), "EUR")  # 252 · 2.50
    # an exact multiple needs no rounding: 24 of cases of 12
    exact = size_order(24, SupplierTerms("EUR", FLAT.price_breaks, case_pack=12))
    assert exact is not None and exact.quantity == 24 and exact.reasons == ()
    # nothing needed, nothing ordered (the MOQ does not force an order)
    assert size_order(0, SupplierTerms("EUR", FLAT.price_breaks, moq=100)) is None
    assert size_order(-5, FLAT) is None


BREAKS = SupplierTerms(
    "EUR",
    (PriceBreak(1, Decimal("10.00")), PriceBreak(100, Decimal("9.00")), PriceBreak(200, Decimal("4.40"))),
)


def test_a_higher_price_break_is_taken_when_it_costs_no_more() -> None:
    # 90 · 10.00 = 900.00; 100 · 9.00 = 900.00 (no more); 200 · 4.40 = 880.00 (less):
    # both acceptable, the highest is taken
    order = size_order(90, BREAKS)
    assert order is not None
    assert order.quantity == 200
    assert order.unit_price == Money(Decimal("4.40"), "EUR")
    assert order.total == Money(Decimal("880.00"), "EUR")
    assert order.reasons == (Reason.PRICE_BREAK_TAKEN,)
    # an equal total is no dearer: 90 · 10.00 = 900.00 = 100 · 9.00
    two = SupplierTerms("EUR", BREAKS.price_breaks[:2])
    equal = size_order(90, two)
    assert equal is not None and equal.quantity == 100 and equal.total == Money(Decimal("900.00"), "EUR")
    # 91 · 10.00 = 910.00 > 900.00 too; 89 · 10.00 = 890.00 < 900.00 stays
    assert [o.quantity for o in (size_order(91, two), size_order(89, two)) if o] == [100, 89]
    # 60 · 10.00 = 600.00 < 900.00 and < 880.00: stays
    small = size_order(60, BREAKS)
    assert small is not None and small.quantity == 60 and small.reasons == ()
    assert small.total == Money(Decimal("600.00"), "EUR")
    # 150 · 9.00 = 1350.00 ≥ 880.00: up to 200
    mid = size_order(150, BREAKS)
    assert mid is not None and mid.quantity == 200 and mid.unit_price.amount == Decimal("4.40")


def test_a_price_break_within_n_days_of_demand_is_taken() -> None:
    # 60 units, d = 10, 5 days: extra 100 - 60 = 40 ≤ 50 → 100 at 9.00 = 900.00;
    # 200 - 60 = 140 > 50 and 880.00 > 600.00 → not 200
    order = size_order(60, BREAKS, mean_demand=10, price_break_days=5)
    assert order is not None and order.quantity == 100
    assert order.total == Money(Decimal("900.00"), "EUR")
    assert order.reasons == (Reason.PRICE_BREAK_TAKEN,)
    # 3 days: 40 > 30, nothing taken
    stay = size_order(60, BREAKS, mean_demand=10, price_break_days=3)
    assert stay is not None and stay.quantity == 60
    # through the plan, S = ROP (no order cycle): need 126.0745 - 90 = 36.07 → 37 at 10.00 = 370.00;
    # 100 - 37 = 63 ≤ 10·7 = 70 → 100; 200 - 37 = 163 > 70 and 880.00 > 370.00 → not 200
    result = plan(Stock(on_hand=90), terms=BREAKS, policy=Policy(order_cycle_days=0, price_break_days=7))
    assert result.order is not None and result.order.quantity == 100
    assert Reason.PRICE_BREAK_TAKEN in result.reasons


def test_price_break_thresholds_round_to_the_case_pack() -> None:
    # cases of 12: 90 → 96 (8 cases) at 10.00 = 960.00; the 100 break needs 108 (9 cases)
    dear = SupplierTerms(
        "EUR", (PriceBreak(1, Decimal("10.00")), PriceBreak(100, Decimal("9.00"))), case_pack=12
    )
    order = size_order(90, dear)
    assert order is not None and order.quantity == 96  # 108 · 9.00 = 972.00 > 960.00
    assert order.reasons == (Reason.CASE_PACK_ROUNDED,)
    cheap = SupplierTerms(
        "EUR", (PriceBreak(1, Decimal("10.00")), PriceBreak(100, Decimal("8.80"))), case_pack=12
    )
    order = size_order(90, cheap)
    assert order is not None and order.quantity == 108  # 108 · 8.80 = 950.40 ≤ 960.00
    assert order.total == Money(Decimal("950.40"), "EUR")
    assert order.reasons == (Reason.CASE_PACK_ROUNDED, Reason.PRICE_BREAK_TAKEN)


def test_totals_round_half_even_to_the_currency() -> None:
    # 7 · 1.235 = 8.645 → 8.64 (half-even); unit price kept exact
    order = size_order(7, SupplierTerms("EUR", (PriceBreak(1, Decimal("1.235")),)))
    assert order is not None
    assert order.total == Money(Decimal("8.64"), "EUR")
    assert order.unit_price == Money(Decimal("1.235"), "EUR")
    # JPY has no minor unit: 3 · 33.5 = 100.5 → 100
    yen = size_order(3, SupplierTerms("JPY", (PriceBreak(1, Decimal("33.5")),)))
    assert yen is not None and yen.total == Money(Decimal("100"), "JPY")


# --------------------------------------------------------------------------- transfers

# d=10, sd=0, LT=10 certain: SS = 0, ROP = 10·10 = 100, S = 100 + 10·14 = 240
STEADY = Demand(mean=10, std_dev=0)
FIXED = LeadTime(mean=10)


def steady(warehouse: str, stock: Stock, demand: Demand = STEADY) -> ReplenishmentPlan:
    return plan(stock, demand=demand, lead_time=FIXED, warehouse=warehouse)


def test_excess_moves_to_the_warehouse_running_out_first() -> None:
    a = steady("A", Stock(on_hand=490))  # spare 490 - 240 = 250
    b = steady("B", Stock(on_hand=30))  # 30 < 100; short 240 - 30 = 210; out on day 3 (30 - 40)
    c = steady("C", Stock(on_hand=80))  # 80 < 100; short 240 - 80 = 160; out on day 8 (80 - 90)
    assert (b.stockout_date, c.stockout_date) == (day(3), day(8))
    lanes = {("A", "B"): Lane(2), ("A", "C"): Lane(3)}
    transfers = suggest_transfers([c, a, b], lanes)
    assert [(t.source, t.destination, t.quantity, t.arrival) for t in transfers] == [
        ("A", "B", 210, day(2)),  # B first: earlier stock-out; all of its shortfall
        ("A", "C", 40, day(3)),  # what is left: 250 - 210
    ]
    assert all(t.sku == "SKU-1" and t.ship_date == TODAY for t in transfers)


def test_a_transfer_must_arrive_before_the_stockout() -> None:
    a = steady("A", Stock(on_hand=490))
    b = steady("B", Stock(on_hand=30))  # out on day 3
    assert suggest_transfers([a, b], {("A", "B"): Lane(3)})[0].quantity == 210  # arrives day 3: in time
    assert suggest_transfers([a, b], {("A", "B"): Lane(4)}) == ()  # day 4: too late
    assert suggest_transfers([a, b], {("B", "A"): Lane(1)}) == ()  # no lane A → B


def test_a_transfer_must_be_faster_and_cheaper_than_ordering() -> None:
    a = steady("A", Stock(on_hand=490))
    # a forecast of 5 a day pushes B's stock-out to day 18 (90 - 5·19 < 0) below ROP 100
    b = steady("B", Stock(on_hand=90), Demand(mean=10, std_dev=0, daily=(5.0,) * 30))
    assert b.reorder_now and b.stockout_date == day(18)
    assert suggest_transfers([a, b], {("A", "B"): Lane(10)}) == ()  # not faster than LT = 10
    assert suggest_transfers([a, b], {("A", "B"): Lane(9)})[0].quantity == 150  # 240 - 90
    # B's order costs 2.50 a unit
    dear = Lane(9, Money(Decimal("2.50"), "EUR"))
    assert suggest_transfers([a, b], {("A", "B"): dear}) == ()
    cheap = Lane(9, Money(Decimal("0.40"), "EUR"))
    assert suggest_transfers([a, b], {("A", "B"): cheap})[0].quantity == 150
    with pytest.raises(UserError) as err:
        suggest_transfers([a, b], {("A", "B"): Lane(9, Money(Decimal("0.40"), "USD"))})
    assert err.value.code == "INVALID"


def test_only_stock_on_hand_above_s_is_given() -> None:
    # A: position 100 + 300 = 400, 160 above S, but only 100 on hand (the rest on order)
    a = steady("A", Stock(on_hand=100, on_order=(OpenOrder(300, day(5)),)))
    b = steady("B", Stock(on_hand=30))
    assert [t.quantity for t in suggest_transfers([a, b], {("A", "B"): Lane(1)})] == [100]
    # A at exactly S = 240 has nothing to give; the fastest source gives first
    full = steady("A", Stock(on_hand=240))
    c = steady("C", Stock(on_hand=300))  # spare 60
    d = steady("D", Stock(on_hand=400))  # spare 160
    lanes = {("A", "B"): Lane(1), ("C", "B"): Lane(1), ("D", "B"): Lane(2)}
    transfers = suggest_transfers([full, b, c, d], lanes)
    assert [(t.source, t.quantity) for t in transfers] == [("C", 60), ("D", 150)]  # 60 + 150 = 210


def test_transfers_are_for_one_sku() -> None:
    other = plan_replenishment(
        sku="SKU-2",
        warehouse="B",
        today=TODAY,
        demand=STEADY,
        lead_time=FIXED,
        stock=Stock(on_hand=30),
        terms=FLAT,
    )
    with pytest.raises(UserError) as err:
        suggest_transfers([steady("A", Stock(on_hand=490)), other], {})
    assert (err.value.code, err.value.field) == ("INVALID", "plans")
    assert suggest_transfers([], {}) == ()


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"policy": Policy(service_level=0.5)}, "serviceLevel", "OUT_OF_RANGE"),
        ({"policy": Policy(service_level=0.99995)}, "serviceLevel", "OUT_OF_RANGE"),
        ({"policy": Policy(service_level=1.0)}, "serviceLevel", "OUT_OF_RANGE"),
        ({"policy": Policy(service_level=math.nan)}, "serviceLevel", "OUT_OF_RANGE"),
        ({"policy": Policy(review_days=-1)}, "reviewDays", "OUT_OF_RANGE"),
        ({"policy": Policy(horizon_days=0)}, "horizonDays", "OUT_OF_RANGE"),
        ({"policy": Policy(price_break_days=-1)}, "priceBreakDays", "OUT_OF_RANGE"),
        ({"lead_time": LeadTime(0)}, "leadTime.mean", "OUT_OF_RANGE"),
        ({"lead_time": LeadTime(-2)}, "leadTime.mean", "OUT_OF_RANGE"),
        ({"lead_time": LeadTime(9, -1)}, "leadTime.stdDev", "OUT_OF_RANGE"),
        ({"demand": Demand(-1, 3)}, "demand.mean", "OUT_OF_RANGE"),
        ({"demand": Demand(10, -3)}, "demand.stdDev", "OUT_OF_RANGE"),
        ({"demand": Demand(math.inf, 3)}, "demand.mean", "OUT_OF_RANGE"),
        ({"demand": Demand(10, 3, (5.0, -1.0))}, "demand.daily.1", "OUT_OF_RANGE"),
        ({"stock": Stock(on_hand=-1)}, "onHand", "OUT_OF_RANGE"),
        ({"stock": Stock(on_hand=5, reserved=-1)}, "reserved", "OUT_OF_RANGE"),
        ({"stock": Stock(5, on_order=(OpenOrder(-3, TODAY),))}, "onOrder.0.quantity", "OUT_OF_RANGE"),
        ({"terms": SupplierTerms("EUR", ())}, "priceBreaks", "INVALID"),
        ({"terms": SupplierTerms("EUR", FLAT.price_breaks, moq=0)}, "moq", "OUT_OF_RANGE"),
        ({"terms": SupplierTerms("EUR", FLAT.price_breaks, case_pack=0)}, "casePack", "OUT_OF_RANGE"),
        (
            {"terms": SupplierTerms("EUR", (PriceBreak(1, Decimal("0")),))},
            "priceBreaks.0.unitPrice",
            "OUT_OF_RANGE",
        ),
        (
            {"terms": SupplierTerms("EUR", (PriceBreak(0, Decimal("1")),))},
            "priceBreaks.0.minQuantity",
            "OUT_OF_RANGE",
        ),
        (
            {"terms": SupplierTerms("EUR", (PriceBreak(1, Decimal("2")), PriceBreak(1, Decimal("1"))))},
            "priceBreaks.1",
            "INVALID",
        ),
        (
            {
                "terms": SupplierTerms(
                    "EUR", (PriceBreak(10, Decimal("2")), PriceBreak(5, Decimal("1"))), moq=10
                )
            },
            "priceBreaks.1",
            "INVALID",
        ),
        (
            {"terms": SupplierTerms("EUR", (PriceBreak(1, Decimal("2")), PriceBreak(10, Decimal("3"))))},
            "priceBreaks.1",
            "INVALID",
        ),
        (
            {"terms": SupplierTerms("EUR", (PriceBreak(10, Decimal("2")),), moq=5)},
            "priceBreaks.0.minQuantity",
            "INVALID",
        ),
    ],
)
def test_bad_inputs_are_refused_on_their_field(kwargs: dict[str, object], field: str, code: str) -> None:
    args: dict[str, object] = {
        "sku": "SKU-1",
        "warehouse": "A",
        "today": TODAY,
        "demand": DEMAND,
        "lead_time": LEAD,
        "stock": Stock(on_hand=50),
        "terms": FLAT,
        "policy": None,
    }
    args.update(kwargs)
    with pytest.raises(UserError) as err:
        plan_replenishment(**args)  # type: ignore[arg-type]
    assert (err.value.field, err.value.code) == (field, code)


def test_bad_currency_and_lane_are_refused() -> None:
    with pytest.raises(UserError) as err:
        plan(Stock(on_hand=50), terms=SupplierTerms("EURO", FLAT.price_breaks))
    assert err.value.code == "INVALID_CURRENCY"
    with pytest.raises(UserError) as err:
        service_z(0.3)
    assert err.value.code == "OUT_OF_RANGE"
    a = steady("A", Stock(on_hand=490))
    with pytest.raises(UserError) as err:
        suggest_transfers([a], {("A", "B"): Lane(-1)})
    assert (err.value.field, err.value.code) == ("lanes.A.B.transitDays", "OUT_OF_RANGE")
