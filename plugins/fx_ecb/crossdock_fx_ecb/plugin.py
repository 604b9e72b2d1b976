"""Entry point: answers ``crossdock_fx_rates`` from the ECB's published history."""

from __future__ import annotations

from datetime import date

from crossdock import FxRates, hookimpl
from crossdock_fx_ecb.rates import load


@hookimpl
def crossdock_fx_rates(day: date) -> FxRates | None:
    return load().on(day)
