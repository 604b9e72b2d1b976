"""Demand forecasts: the weekly shape, trend, censored stock-outs, promotions, slow movers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pytest

from crossdock.errors import UserError
from crossdock.services.forecast import DemandClass, DemandHistory, Forecast, forecast

START = date(2025, 1, 6)  # a Monday
DAYS = 364
#: Monday .. Sunday: Saturday (index 5) is the peak, Sunday the trough
WEEK = np.array([1.0, 1.0, 1.0, 1.1, 1.5, 2.0, 0.7])


def _history(
    key: str,
    units: Sequence[float],
    stockout: Sequence[bool] | None = None,
    promotion: Sequence[bool] | None = None,
) -> DemandHistory:
    n = len(units)
    return DemandHistory(
        key=key,
        start=START,
        units=[float(u) for u in units],
        stockout=list(stockout) if stockout is not None else [False] * n,
        promotion=list(promotion) if promotion is not None else [False] * n,
    )


def _weekly(seed: int, level: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(level * WEEK[np.arange(DAYS) % 7]).astype(float)


def _one(h: DemandHistory, horizon: int = 28) -> Forecast:
    (f,) = forecast([h], horizon)
    return f


def test_a_weekly_season_is_forecast_with_its_shape() -> None:
    f = _one(_history("SKU-1@SG1", _weekly(1)))
    assert f.demand_class is DemandClass.SMOOTH and f.method == "MSTL"
    assert f.start == START + timedelta(days=DAYS) and f.start.weekday() == 0 and len(f.mean) == 28
    mean = np.array(f.mean).reshape(4, 7)
    # every forecast week peaks on Saturday and bottoms on Sunday, as the history did
    assert (mean.argmax(axis=1) == 5).all() and (mean.argmin(axis=1) == 6).all()
    # Saturday is twice a Monday in truth; 1.6 leaves room for STL's smoothing of the shape
    assert (mean[:, 5] / mean[:, 0] > 1.6).all()
    # the mean level (20 x 8.3 / 7 = 23.7 a day) within 10 %: Poisson noise on a year of days
    assert abs(mean.mean() - 20 * WEEK.mean()) < 0.1 * 20 * WEEK.mean()
    assert f.lower is not None and f.upper is not None
    assert all(lo <= m <= hi for lo, m, hi in zip(f.lower, f.mean, f.upper, strict=True))
    # sigma is the day-to-day noise: sqrt(23.7) is about 4.9 for Poisson demand
    assert 3.5 < f.sigma < 7


def test_a_trending_series_rises() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(DAYS)
    units = rng.poisson(5 + 0.1 * t)  # from 5 to 41 a day over the year
    f = _one(_history("SKU-2@SG1", units), horizon=56)
    first, last = np.mean(f.mean[:7]), np.mean(f.mean[-7:])
    # the last week of the history is ~40 a day: the forecast starts near it, not at the
    # year's mean (23), and keeps rising (a damped trend may slow, but not turn)
    assert first > 35
    assert last > first


def test_stock_out_days_do_not_drag_the_level_down() -> None:
    units = _weekly(3)
    stockout = np.zeros(DAYS, dtype=bool)
    stockout[-10:] = True  # out of stock for the last ten days: nothing sold
    units[stockout] = 0
    censored = _one(_history("SKU-3@SG1", units, stockout))
    counted = _one(_history("SKU-3@SG1", units))  # the same zeros taken as demand
    true_level = 20 * WEEK.mean()
    # treated as censored the level stays within 10 % of the true one; counted as zeros
    # the level falls by more than a third (ten zero days at the end of an adaptive level)
    assert abs(np.mean(censored.mean) - true_level) < 0.1 * true_level
    assert np.mean(counted.mean) < 0.67 * np.mean(censored.mean)


def test_promotion_spikes_do_not_inflate_the_base() -> None:
    units = _weekly(4)
    promotion = np.zeros(DAYS, dtype=bool)
    promotion[-12:-7] = True  # a five-day sale ending a week ago, selling four times as much
    units[promotion] *= 4
    flagged = _one(_history("SKU-4@SG1", units, promotion=promotion))
    unflagged = _one(_history("SKU-4@SG1", units))
    true_level = 20 * WEEK.mean()
    assert abs(np.mean(flagged.mean) - true_level) < 0.1 * true_level
    # per day against the true profile (Monday first): flagged, the error is Poisson-sized
    # (under 15 % of the level); not flagged, the spike bends the weekly shape and the level
    # (ETS reads the jump and the fall after it as a trend) and the error is over twice that
    truth = np.tile(20 * WEEK, 4)
    flagged_error = np.mean(np.abs(np.array(flagged.mean) - truth))
    assert flagged_error < 0.15 * true_level
    assert np.mean(np.abs(np.array(unflagged.mean) - truth)) > 2 * flagged_error


def test_an_intermittent_slow_mover_gets_a_flat_rate_near_the_true_one() -> None:
    rng = np.random.default_rng(5)
    # a sale on one day in five, of 2 to 4 units (CV^2 of the sizes 0.07): 0.6 units a day
    units = (rng.random(DAYS) < 0.2) * rng.integers(2, 5, DAYS)
    f = _one(_history("SKU-5@SG1", units))
    assert f.demand_class is DemandClass.INTERMITTENT
    assert f.method in {"CrostonSBA", "IMAPA", "ADIDA", "TSB"}
    assert len(set(f.mean)) == 1  # a rate, not a pattern of made-up sale days
    # within 30 %: Croston's smoothing follows the last few dozen sales, and 73 sales of
    # sizes 2-4 at a rate of 1 in 5 leave that much sampling error in a year's last months
    assert 0.42 < f.mean[0] < 0.78


def test_a_lumpy_slow_mover_is_classified_lumpy() -> None:
    rng = np.random.default_rng(6)
    units = (rng.random(DAYS) < 0.1) * rng.choice([1, 1, 2, 20], DAYS)  # rare, sometimes a bulk buy
    f = _one(_history("SKU-6@SG1", units))
    assert f.demand_class is DemandClass.LUMPY and f.mean[0] > 0 and f.lower is None


def test_new_and_empty_series_get_the_mean_of_what_exists() -> None:
    new, empty, dead = forecast(
        [
            _history("NEW@SG1", [3, 0, 5, 4] * 5),  # 20 days: under the 28 needed
            _history("EMPTY@SG1", []),
            _history("DEAD@SG1", [0] * 60),  # never sold: no history begins
        ],
        horizon=7,
    )
    assert new.demand_class is DemandClass.NEW and new.method == "Mean"
    assert new.mean == (3.0,) * 7 and new.sigma == pytest.approx(np.std([3, 0, 5, 4] * 5, ddof=1))
    assert new.start == START + timedelta(days=20)
    assert empty.mean == (0.0,) * 7 and empty.sigma == 0 and empty.start == START
    assert dead.mean == (0.0,) * 7 and dead.sigma == 0


def test_stock_outs_do_not_count_as_days_of_history() -> None:
    units = [5.0] * 40
    stockout = [False] * 20 + [True] * 20  # 20 clean days: still NEW
    f = _one(_history("SKU-7@SG1", units, stockout), horizon=3)
    assert f.demand_class is DemandClass.NEW and f.mean == (5.0,) * 3
    # shorter than the four weeks the imputation looks either side of a censored day
    short = _one(_history("SKU-8@SG1", [4.0] * 6 + [0.0] * 3, [False] * 6 + [True] * 3), horizon=3)
    assert short.mean == (4.0,) * 3


def test_a_batch_is_forecast_in_order_deterministically_and_never_negative() -> None:
    rng = np.random.default_rng(7)
    falling = np.maximum(0, rng.poisson(np.linspace(30, 1, DAYS)))  # heading to nothing
    batch = [
        _history("A", (rng.random(DAYS) < 0.3) * 3),
        _history("B", _weekly(8)),
        _history("C", falling),
    ]
    first, again = forecast(batch, 56), forecast(batch, 56)
    assert [f.key for f in first] == ["A", "B", "C"]
    assert first == again
    assert all(m >= 0 for f in first for m in f.mean)
    assert all(v >= 0 for f in first if f.lower for v in f.lower)


@pytest.mark.parametrize(
    ("histories", "horizon", "field", "code"),
    [
        ([], 0, "horizon", "OUT_OF_RANGE"),
        ([], 366, "horizon", "OUT_OF_RANGE"),
        ([DemandHistory("A", START, [1.0, 2.0], [False], [False, False])], 7, "histories.0", "INVALID"),
        (
            [DemandHistory("A", START, [1.0, -1.0], [False] * 2, [False] * 2)],
            7,
            "histories.0.units",
            "INVALID",
        ),
        (
            [DemandHistory("A", START, [1.0, float("nan")], [False] * 2, [False] * 2)],
            7,
            "histories.0.units",
            "INVALID",
        ),
        ([_history("A", [1.0]), _history("A", [2.0])], 7, "histories.1.key", "INVALID"),
    ],
)
def test_bad_input_is_refused_on_its_field(
    histories: list[DemandHistory], horizon: int, field: str, code: str
) -> None:
    with pytest.raises(UserError) as caught:
        forecast(histories, horizon)
    assert caught.value.field == field and caught.value.code == code
