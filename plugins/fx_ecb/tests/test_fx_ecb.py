"""ECB reference rates as published: exact decimals, weekends fall back to Friday."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from crossdock_fx_ecb.rates import load, parse_csv, parse_xml

from crossdock.testing import load_plugins

# Shape of the ECB's eurofxref-daily.xml (https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml)
DAILY = """<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube><Cube time="2026-11-20">
    <Cube currency="USD" rate="1.0571"/><Cube currency="JPY" rate="163.12"/><Cube currency="GBP" rate="0.83505"/>
  </Cube></Cube>
</gesmes:Envelope>"""


def test_daily_xml_is_read_exactly() -> None:
    days = parse_xml(DAILY)
    assert days == {
        date(2026, 11, 20): {"USD": Decimal("1.0571"), "JPY": Decimal("163.12"), "GBP": Decimal("0.83505")}
    }


def test_history_csv_skips_unquoted_currencies_and_weekends_use_friday(tmp_path: Path) -> None:
    csv = "Date,USD,CYP,SGD,\n2026-11-20,1.0571,N/A,1.4187,\n2026-11-19,1.0602,N/A,1.4211,\n"
    assert parse_csv(csv)[date(2026, 11, 20)] == {"USD": Decimal("1.0571"), "SGD": Decimal("1.4187")}
    path = tmp_path / "eurofxref-hist.csv"
    path.write_text(csv)
    history = load(str(path))
    saturday = history.on(date(2026, 11, 21))
    assert saturday is not None and saturday.day == date(2026, 11, 20) and saturday.base == "EUR"
    assert history.on(date(2026, 11, 1)) is None  # before the first publication


def test_the_bundled_history_answers_through_the_hook() -> None:
    plugins = load_plugins(allow=["fx_ecb"])
    assert plugins.failures == {}
    rates = plugins.fx_rates(date(2024, 6, 8))  # a Saturday
    assert rates is not None and rates.day == date(2024, 6, 7) and rates.base == "EUR"
    # the lev is pegged to the euro at 1.95583 (currency board); the ECB quotes it as 1.9558
    assert rates.rates["BGN"] == Decimal("1.9558")
    assert {"USD", "JPY", "GBP", "SGD", "MYR", "THB", "PHP", "IDR"} <= set(rates.rates)
