"""Demand forecasts: accuracy against the seasonal naive, and time for 10,000 SKUs. No database.

A seeded retail panel of ``--skus`` SKUs (default 10,000): negative-binomial daily demand
(dispersion 3 to 10) around a level with a weekly profile, a yearly swell (amplitude up to
40 %, any phase), a trend of -40 % to +60 % a year, promotions (runs of 2 to 6 days,
about 3 % of days, two to four times the demand) and stock-outs (runs of 2 to 14 days,
about 4 % of days, selling nothing or a part of demand); 35 % are slow movers (a sale on
3 % to 40 % of days, of sizes from a geometric or, for lumpy ones, a heavy-tailed law).
Histories are 60 to 728 days long (a catalogue's mix of new and old SKUs). The last
28 days are held out: they have neither promotions nor stock-outs, and the forecast is
scored against the demand drawn for them (what ``forecast`` promises: base demand in stock).

- ``accuracy``: MASE, the mean absolute error over the 28 days divided by the in-sample
  MAE of the seasonal naive (lag 7) on the observed history, averaged over the SKUs,
  for ``crossdock.services.forecast.forecast`` and for the seasonal naive itself (last
  observed week repeated), overall and per demand class (NEW ones included: they are
  scored by the same rule), with ``skus`` per class and the ``methods`` used. SKUs whose
  scale is 0 (the naive is perfect in-sample) are left out and counted (``unscaled``).
  ``ratio`` = our MASE / the naive's (lower is better).
- ``time``: one call of ``forecast(histories, 28)`` on all SKUs: ``wall_s``, ``cpu_s``
  (this process; statsforecast runs with ``n_jobs=1``), ``cpu_ms_per_sku``.

    python bench/forecast.py [--skus 10000] [--seed 7]   # writes bench/forecast.json
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
HOLDOUT = 28
START = date(2024, 1, 1)


def _runs(rng: np.random.Generator, n: int, share: float, low: int, high: int) -> np.ndarray:
    """Days in runs of ``low``..``high`` covering about ``share`` of ``n``."""
    mask = np.zeros(n, dtype=bool)
    mean_len = (low + high) / 2
    for _ in range(rng.poisson(share * n / mean_len)):
        at = int(rng.integers(0, n))
        mask[at : at + int(rng.integers(low, high + 1))] = True
    return mask


def _sku(rng: np.random.Generator, i: int) -> tuple[Any, np.ndarray]:
    """A history (observed units, flags) and the 28 held-out days of demand."""
    from crossdock.services.forecast import DemandHistory

    n = int(rng.integers(60, 729)) + HOLDOUT
    t = np.arange(n)
    week = np.exp(rng.normal(0, 0.25, 7))
    week /= week.mean()
    year = 1 + rng.uniform(0, 0.4) * np.sin(2 * np.pi * (t / 365.25 + rng.uniform()))
    trend = np.maximum(0.1, 1 + rng.uniform(-0.4, 0.6) * (t - n) / 365)
    season = week[(t + int(rng.integers(7))) % 7] * year * trend
    promo = _runs(rng, n, 0.03, 2, 6)
    promo[-HOLDOUT:] = False
    if rng.random() < 0.35:  # a slow mover
        p = rng.uniform(0.03, 0.4)
        if rng.random() < 0.5:
            size = rng.geometric(rng.uniform(0.4, 0.9), n)
        else:  # lumpy: now and then a bulk buy
            size = np.where(rng.random(n) < 0.15, rng.integers(5, 30, n), rng.geometric(0.6, n))
        demand = ((rng.random(n) < np.minimum(1, p * season)) * size).astype(float)
    else:
        mu = rng.lognormal(2, 1) * season
        k = rng.uniform(3, 10)
        demand = rng.negative_binomial(k, k / (k + mu)).astype(float)
    demand[promo] = np.round(demand[promo] * rng.uniform(2, 4))
    stockout = _runs(rng, n, 0.04, 2, 14)
    stockout[-HOLDOUT:] = False
    sold = demand.copy()
    sold[stockout] = np.floor(demand[stockout] * (rng.random(stockout.sum()) < 0.3) * rng.random())
    h = n - HOLDOUT
    history = DemandHistory(
        key=f"SKU-{i:05d}@SG1",
        start=START,
        units=sold[:h].tolist(),
        stockout=stockout[:h].tolist(),
        promotion=promo[:h].tolist(),
    )
    return history, demand[h:]


def run(skus: int, seed: int) -> dict[str, Any]:
    from crossdock.services.forecast import forecast

    rng = np.random.default_rng(seed)
    panel = [_sku(rng, i) for i in range(skus)]
    histories = [h for h, _ in panel]
    forecast(histories[:50], HOLDOUT)  # warm: imports
    c0, w0 = time.process_time(), time.perf_counter()
    forecasts = forecast(histories, HOLDOUT)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0

    ours: dict[str, list[float]] = defaultdict(list)
    naive: dict[str, list[float]] = defaultdict(list)
    methods: dict[str, set[str]] = defaultdict(set)
    unscaled = 0
    for (h, actual), f in zip(panel, forecasts, strict=True):
        y = np.asarray(h.units)
        scale = float(np.mean(np.abs(y[7:] - y[:-7]))) if y.size > 7 else 0.0
        if scale == 0:
            unscaled += 1
            continue
        snaive = np.resize(y[-7:], HOLDOUT) if y.size >= 7 else np.full(HOLDOUT, y.mean())
        for group in ("all", str(f.demand_class)):
            ours[group].append(float(np.mean(np.abs(np.asarray(f.mean) - actual))) / scale)
            naive[group].append(float(np.mean(np.abs(snaive - actual))) / scale)
        methods[str(f.demand_class)].add(f.method)
    accuracy = {
        group: {
            "skus": len(ours[group]),
            "mase": round(float(np.mean(ours[group])), 3),
            "mase_seasonal_naive": round(float(np.mean(naive[group])), 3),
            "ratio": round(float(np.mean(ours[group]) / np.mean(naive[group])), 3),
            **({"methods": sorted(methods[group])} if group != "all" else {}),
        }
        for group in sorted(ours, key=lambda g: (g != "all", g))
    }
    return {
        "forecast.accuracy": {"skus": skus, "holdout_days": HOLDOUT, "unscaled": unscaled, **accuracy},
        "forecast.time": {
            "skus": skus,
            "horizon": HOLDOUT,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "cpu_ms_per_sku": round(1000 * cpu / skus, 2),
        },
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "forecast.json"))
    args = parser.parse_args()
    results = run(args.skus, args.seed)
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "results": results,
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
