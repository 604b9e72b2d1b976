"""Daily demand forecasts per SKU x warehouse (or x channel) from order history. Pure: no database.

Each :class:`DemandHistory` is one series (its ``key`` names it, e.g. ``"SKU-1@SG1"`` or
``"SKU-1@SG1#shopee"``); :func:`forecast` forecasts many in one batch and returns one
:class:`Forecast` per history, in order, deterministically.

Cleaning, before anything is fitted or classified:

- days before the first sale are not history (a SKU listed later has no demand to learn);
- only the last :data:`MAX_HISTORY` days are used (two years: enough for the weekly shape
  and the level, and the fit's time grows with the length);
- a **stock-out** day is censored: what sold is a lower bound of demand, not demand. A
  **promotion** day is an outlier: its uplift is not the base level. Both are replaced by
  the local base level, the median of the clean (in stock, no promotion) days on the same
  weekday within four weeks either side, else of the clean days within two weeks, else of
  all clean days; a stock-out day keeps what it sold when that is more. The forecast is
  therefore of *base* demand in stock: a planned promotion's uplift is the planner's to add.

Each series is then classified (:class:`DemandClass`, Syntetos & Boylan on the clean days)
and forecast by the model of its class, with statsforecast (Nixtla), one batch per model
(``StatsForecast(models, freq=1, n_jobs=1).forecast(df=..., h=..., level=[80], fitted=True)``
then ``forecast_fitted_values()``, as statsforecast 2.1's docstrings of
``StatsForecast.forecast`` and of the models in ``statsforecast/models.py`` describe them;
https://github.com/Nixtla/statsforecast):

- SMOOTH and ERRATIC: ``MSTL(season_length=7)`` with its default trend forecaster
  ``AutoETS(model="ZZN")``: STL takes out the weekly shape, ETS picks level and (damped)
  trend by AICc; 80 % intervals from the ETS trend's. A 365-day season was measured and
  left out: on 60 negative-binomial series with a weekly and a 40 % yearly season, two
  years of history, 28 days held out, the yearly STL component copies last year's noise
  (MASE 0.91 against 0.79 without it; 0.83 against 0.75 with three years) at thirteen
  times the CPU; the ETS level follows the yearly swell over a forecast of weeks.
  ``AutoETS(season_length=7)`` alone was a little better there (0.78 against 0.80) at
  nine times the CPU (200 against 22 ms a series): 10,000 SKUs would take half an hour.
- INTERMITTENT and LUMPY: ``ADIDA`` (aggregate to buckets of the mean inter-demand
  interval, SES there, spread back per day): a flat rate, no intervals. Measured on the
  bench's panel (1,000 SKUs; MASE over 28 days, lower is better): seed 7, intermittent
  ADIDA 0.971, IMAPA 0.981, CrostonSBA 1.006, lumpy ADIDA 0.927, IMAPA 0.927; seed 11,
  intermittent ADIDA 0.979, IMAPA 0.986, TSB(0.1, 0.1) 1.012, CrostonSBA 1.322 (its fixed
  smoothing lags a trending slow mover), lumpy ADIDA 1.005, IMAPA 1.015, CrostonSBA
  1.019, TSB 1.038.
  ``_models`` keeps the others by name to measure again.
- NEW (fewer than :data:`MIN_HISTORY` clean days): the mean of the clean days (0 when
  there are none), flat; sigma their standard deviation.

``sigma`` is the standard deviation of the in-sample residuals (the fitted values) on clean days
(the sigma_d of a safety-stock formula). Means and interval bounds are never negative.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from crossdock.db.models.purchasing import DemandClass
from crossdock.errors import UserError

__all__ = [
    "ADI_CUT",
    "CV2_CUT",
    "MAX_HISTORY",
    "MIN_HISTORY",
    "DemandClass",
    "DemandHistory",
    "Forecast",
    "classify",
    "forecast",
]

#: Syntetos-Boylan cut-offs: average inter-demand interval (days) and squared coefficient
#: of variation of the non-zero demand sizes.
ADI_CUT = 1.32
CV2_CUT = 0.49
#: Fewer clean days than this and a series is NEW.
MIN_HISTORY = 28
#: Days of history fitted at most (the most recent).
MAX_HISTORY = 728
MAX_HORIZON = 365
LEVEL = 80

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DemandHistory:
    """One series: units demanded per day from ``start``, and which days were censored."""

    key: str
    start: date
    units: Sequence[float]
    #: no stock that day: demand unknown (at least what sold)
    stockout: Sequence[bool]
    #: a promotion ran that day: not the base level
    promotion: Sequence[bool]


@dataclass(frozen=True)
class Forecast:
    """Expected units per day from ``start`` (the day after the history's last)."""

    key: str
    demand_class: DemandClass
    #: the model that made it (statsforecast's name, ``"Mean"`` for NEW, ``"Zero"``)
    method: str
    start: date
    mean: tuple[float, ...]
    #: standard deviation of daily demand around the fit (in-sample, clean days)
    sigma: float
    #: 80 % prediction interval per day, when the model gives one
    lower: tuple[float, ...] | None = None
    upper: tuple[float, ...] | None = None


REGULAR = "MSTL"
METHODS = {
    DemandClass.SMOOTH: REGULAR,
    DemandClass.ERRATIC: REGULAR,
    DemandClass.INTERMITTENT: "ADIDA",
    DemandClass.LUMPY: "ADIDA",
}


@dataclass
class _Series:
    y: Floats  # cleaned, fitted
    clean: Bools  # which of y were observed as they are
    demand_class: DemandClass


def _validate(histories: Sequence[DemandHistory], horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON:
        raise UserError(f"horizon must be 1 to {MAX_HORIZON} days", field="horizon", code="OUT_OF_RANGE")
    seen: set[str] = set()
    for i, h in enumerate(histories):
        field = f"histories.{i}"
        if h.key in seen:
            raise UserError(f"{h.key!r} is given twice", field=f"{field}.key", code="INVALID")
        seen.add(h.key)
        if not len(h.units) == len(h.stockout) == len(h.promotion):
            raise UserError(
                f"{h.key}: units, stockout and promotion must have one value per day",
                field=field,
                code="INVALID",
            )
        units = np.asarray(h.units, dtype=np.float64)
        if units.size and (not np.isfinite(units).all() or (units < 0).any()):
            raise UserError(
                f"{h.key}: units must be finite and not negative", field=f"{field}.units", code="INVALID"
            )


def _impute(y: Floats, clean: Bools) -> Floats:
    """The local base level for every day (see the module's docstring); NaN when no clean day."""
    n = y.size
    obs = np.where(clean, y, np.nan)

    def window(offsets: Sequence[int]) -> Floats:
        stack = np.full((len(offsets), n), np.nan)
        for row, k in enumerate(offsets):
            if abs(k) >= n:
                continue  # a neighbour before the first day or after the last
            if k >= 0:
                stack[row, : n - k] = obs[k:]
            else:
                stack[row, -k:] = obs[: n + k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no neighbour
            return np.asarray(np.nanmedian(stack, axis=0), dtype=np.float64)

    base = window([7 * w for w in range(-4, 5) if w])
    near = window([d for d in range(-14, 15) if d])
    base = np.where(np.isnan(base), near, base)
    overall = float(np.median(y[clean])) if clean.any() else math.nan
    return np.where(np.isnan(base), overall, base)


def classify(units: Sequence[float] | Floats) -> DemandClass:
    """The Syntetos-Boylan class of clean daily demand (NEW under :data:`MIN_HISTORY` days)."""
    y = np.asarray(units, dtype=np.float64)
    if y.size < MIN_HISTORY:
        return DemandClass.NEW
    sizes = y[y > 0]
    adi = y.size / sizes.size if sizes.size else math.inf
    cv2 = float(np.var(sizes) / np.mean(sizes) ** 2) if sizes.size else 0.0
    if adi < ADI_CUT:
        return DemandClass.SMOOTH if cv2 < CV2_CUT else DemandClass.ERRATIC
    return DemandClass.INTERMITTENT if cv2 < CV2_CUT else DemandClass.LUMPY


def _prepare(h: DemandHistory) -> _Series:
    y = np.asarray(h.units, dtype=np.float64)
    stockout = np.asarray(h.stockout, dtype=np.bool_)
    promotion = np.asarray(h.promotion, dtype=np.bool_)
    sold = np.flatnonzero(y > 0)
    first = int(sold[0]) if sold.size else y.size
    first = max(first, y.size - MAX_HISTORY)
    y, stockout, promotion = y[first:], stockout[first:], promotion[first:]
    clean = ~(stockout | promotion)
    demand_class = classify(y[clean])
    if (~clean).any():
        base = _impute(y, clean)
        base = np.where(np.isnan(base), y, base)  # no clean day at all: keep what was seen
        y = np.where(promotion, base, np.where(stockout, np.maximum(y, base), y))
    return _Series(y=y, clean=clean, demand_class=demand_class)


def _models(method: str) -> list[Any]:
    from statsforecast.models import ADIDA, IMAPA, MSTL, TSB, CrostonSBA

    models: dict[str, Any] = {
        REGULAR: lambda: MSTL(season_length=7),
        "CrostonSBA": CrostonSBA,
        "IMAPA": IMAPA,
        "ADIDA": ADIDA,
        "TSB": lambda: TSB(alpha_d=0.1, alpha_p=0.1),
    }
    return [models[method]()]


def _fit(method: str, series: list[_Series], horizon: int) -> list[tuple[Floats, float, Floats | None]]:
    """Mean, sigma and (lower, upper) stacked, for each series, by one statsforecast batch."""
    import pandas as pd
    from statsforecast import StatsForecast

    lengths = np.array([s.y.size for s in series])
    df = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(len(series)), lengths),
            "ds": np.concatenate([np.arange(n) for n in lengths]),
            "y": np.concatenate([s.y for s in series]),
        }
    )
    level = [LEVEL] if method == REGULAR else None
    sf: Any = StatsForecast(models=_models(method), freq=1, n_jobs=1)  # forecast_fitted_values is untyped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sf.forecast(df=df, h=horizon, level=level, fitted=True)
        fitted = sf.forecast_fitted_values()
    out = out.sort_values(["unique_id", "ds"], kind="stable")
    fitted = fitted.sort_values(["unique_id", "ds"], kind="stable")
    means = out[method].to_numpy(dtype=np.float64).reshape(len(series), horizon)
    bands: Floats | None = None
    if level:
        lo = out[f"{method}-lo-{LEVEL}"].to_numpy(dtype=np.float64).reshape(len(series), horizon)
        hi = out[f"{method}-hi-{LEVEL}"].to_numpy(dtype=np.float64).reshape(len(series), horizon)
        bands = np.stack([lo, hi], axis=1)
    fits = np.split(fitted[method].to_numpy(dtype=np.float64), np.cumsum(lengths)[:-1])
    result: list[tuple[Floats, float, Floats | None]] = []
    for i, s in enumerate(series):
        resid = (s.y - fits[i])[s.clean]
        resid = resid[np.isfinite(resid)]
        sigma = float(np.std(resid, ddof=1)) if resid.size > 1 else 0.0
        result.append((means[i], sigma, None if bands is None else bands[i]))
    return result


def _floats(a: Floats) -> tuple[float, ...]:
    return tuple(float(v) for v in np.maximum(np.nan_to_num(a, nan=0.0), 0.0))


def forecast(histories: Sequence[DemandHistory], horizon: int = 56) -> list[Forecast]:
    """One :class:`Forecast` of ``horizon`` days per history, in order (see the module).

    Raises :class:`UserError` ``OUT_OF_RANGE`` for a horizon outside 1..365 and ``INVALID``
    for unequal lengths, negative or non-finite units, or a key given twice.
    """
    _validate(histories, horizon)
    prepared = [_prepare(h) for h in histories]
    results: dict[int, tuple[str, Floats, float, Floats | None]] = {}
    batches: dict[str, list[int]] = {}
    for i, s in enumerate(prepared):
        if s.demand_class is DemandClass.NEW:
            y = s.y[s.clean]
            level = float(y.mean()) if y.size else 0.0
            spread = float(np.std(y, ddof=1)) if y.size > 1 else 0.0
            results[i] = ("Mean", np.full(horizon, level), spread, None)
        elif not s.y.any():
            results[i] = ("Zero", np.zeros(horizon), 0.0, None)
        else:
            batches.setdefault(METHODS[s.demand_class], []).append(i)
    for method, members in sorted(batches.items()):
        fits = _fit(method, [prepared[i] for i in members], horizon)
        for i, fit in zip(members, fits, strict=True):
            results[i] = (method, *fit)
    forecasts = []
    for i, h in enumerate(histories):
        method, mean, sigma, bands = results[i]
        forecasts.append(
            Forecast(
                key=h.key,
                demand_class=prepared[i].demand_class,
                method=method,
                start=h.start + timedelta(days=len(h.units)),
                mean=_floats(mean),
                sigma=sigma if math.isfinite(sigma) else 0.0,
                lower=None if bands is None else _floats(bands[0]),
                upper=None if bands is None else _floats(bands[1]),
            )
        )
    return forecasts
