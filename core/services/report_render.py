"""Operations reports rendered to bytes: CSV, XLSX, HTML and PDF, with charts.

A pure function of the report data (its shape is in docs/reports.md): no database, no domain
knowledge. :func:`render` validates the data first and refuses what does not follow the
shape with :class:`ReportDataError` (a :class:`~crossdock.errors.UserError` whose ``field``
is the path of the offending value, e.g. ``sections[0].table.rows[3].revenue``), so nothing
half-drawn is ever returned.

The heavy libraries are imported inside the functions that need them (matplotlib alone
costs about half a second): importing this module costs the server nothing at start.
Output is deterministic for the same data: no timestamps but the report's own
``generated_at`` go into the files, so stored reports can be compared byte for byte.
"""

from __future__ import annotations

import base64
import csv
import importlib.util
import io
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crossdock.errors import UserError
from crossdock.money import currency_exponent, validate_currency

if TYPE_CHECKING:
    from jinja2 import Template

__all__ = [
    "LIMITS",
    "SERIES_COLOURS",
    "ChartKind",
    "ReportDataError",
    "ReportFormat",
    "ValueKind",
    "chart_png",
    "render",
    "validate",
]


class ReportFormat(StrEnum):
    """A download format of a report."""

    CSV = "csv"
    XLSX = "xlsx"
    HTML = "html"
    PDF = "pdf"

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` to serve the bytes with."""
        return _MEDIA_TYPES[self]

    @property
    def extension(self) -> str:
        """The file name extension (without the dot)."""
        return self.value


_MEDIA_TYPES = {
    ReportFormat.CSV: "text/csv; charset=utf-8",
    # the media type Office Open XML spreadsheets are registered with (ECMA-376, IANA)
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.PDF: "application/pdf",
}


class ValueKind(StrEnum):
    """What a figure's or a column's values are, and so how they are shown."""

    TEXT = "text"
    MONEY = "money"  #: a decimal amount in the report's currency
    COUNT = "count"  #: a whole number
    PERCENT = "percent"  #: a fraction: 0.2315 is shown as 23.15 %
    DATE = "date"  #: an ISO 8601 calendar date, 2026-11-25


class ChartKind(StrEnum):
    BAR = "bar"  #: grouped bars, one per series at each x; negative values below the axis
    LINE = "line"  #: one line per series with a marker at each x; a null value is a gap


class ReportDataError(UserError):
    """The report data does not follow the shape :func:`render` takes.

    ``code`` is one of the codes every domain shares: ``INVALID`` (a wrong type, an unknown
    field or kind, a series whose length differs from ``x``), ``REQUIRED``, ``OUT_OF_RANGE``
    (more sections, rows, x values ... than :data:`LIMITS` allows), ``TOO_LONG``,
    ``INVALID_STRING`` (control characters), ``INVALID_DECIMAL``, ``INVALID_DATE``,
    ``INVALID_DATETIME`` and ``INVALID_CURRENCY``; ``field`` is the path of the value.
    """

    code = "INVALID"


#: The colour of each series of a chart, in order (Okabe and Ito's palette, told apart with
#: every common colour-vision deficiency: https://jfly.uni-koeln.de/color/).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
#: The most a report may hold; more is refused (``OUT_OF_RANGE``), not rendered.
LIMITS: Mapping[str, int] = {
    "sections": 50,
    "figures": 100,  # per section
    "columns": 30,  # per table
    "rows": 5_000,  # per table
    "rows_total": 20_000,  # in all the tables of a report (a PDF of that runs to 400 pages)
    "x": 1_000,  # per chart
    "series": len(SERIES_COLOURS),
    "text": 1_000,  # characters of any one text
}
_MAX_MAGNITUDE = Decimal(10) ** 15  # beyond this a spreadsheet's doubles lose cents

_DRAWING = threading.Lock()
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: A decimal number as ``str(Decimal)`` writes it: digits with an optional fraction and
#: exponent (``0E-8``, ``1.5E+3``); no spaces, no NaN or Infinity.
_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,4})?")
#: A plain number (safe in a spreadsheet even with a leading minus: a number, not a formula).
_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Characters no XML document (XLSX, HTML) can hold, nor a reader expects: C0 controls but
#: tab, line feed and carriage return; DEL; the non-characters U+FFFE and U+FFFF.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


# ------------------------------------------------------------------------- the shape


@dataclass(frozen=True, slots=True)
class _Value:
    kind: ValueKind
    value: str | Decimal | date | None
    raw: str  # as the data gave it (decimals exactly, dates in ISO form); "" for null


@dataclass(frozen=True, slots=True)
class _Figure:
    label: str
    value: _Value


@dataclass(frozen=True, slots=True)
class _Column:
    key: str
    label: str
    kind: ValueKind


@dataclass(frozen=True, slots=True)
class _Table:
    columns: tuple[_Column, ...]
    rows: tuple[tuple[_Value, ...], ...]


@dataclass(frozen=True, slots=True)
class _Series:
    name: str
    values: tuple[Decimal | None, ...]


@dataclass(frozen=True, slots=True)
class _Chart:
    kind: ChartKind
    title: str
    x: tuple[str, ...]
    series: tuple[_Series, ...]
    unit: str


@dataclass(frozen=True, slots=True)
class _Section:
    key: str
    title: str
    figures: tuple[_Figure, ...]
    table: _Table | None
    chart: _Chart | None


@dataclass(frozen=True, slots=True)
class _Report:
    title: str
    subtitle: str
    currency: str | None
    locale: str
    generated_at: datetime
    sections: tuple[_Section, ...]


def _at(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _object(obj: Any, path: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ReportDataError(f"{path or 'the report'} must be an object", field=path or None)
    for name in obj:
        if name not in allowed:
            raise ReportDataError(f"unknown field {name!r} in {path or 'the report'}", field=_at(path, name))
    return obj


def _list(obj: Any, path: str, limit: str) -> Sequence[Any]:
    if not isinstance(obj, list | tuple):
        raise ReportDataError(f"{path} must be a list", field=path)
    if len(obj) > LIMITS[limit]:
        raise ReportDataError(
            f"{path} has {len(obj)} entries; at most {LIMITS[limit]} are rendered",
            field=path,
            code="OUT_OF_RANGE",
        )
    return obj


def _text(obj: Any, path: str, *, required: bool = True) -> str:
    if obj is None or obj == "":
        if required:
            raise ReportDataError(f"{path} is required", field=path, code="REQUIRED")
        return ""
    if not isinstance(obj, str):
        raise ReportDataError(f"{path} must be a text", field=path)
    if len(obj) > LIMITS["text"]:
        raise ReportDataError(
            f"{path} is longer than {LIMITS['text']} characters", field=path, code="TOO_LONG"
        )
    if _CONTROL.search(obj) or any(0xD800 <= ord(c) <= 0xDFFF for c in obj):
        raise ReportDataError(
            f"{path} contains a control character or a lone surrogate", field=path, code="INVALID_STRING"
        )
    return obj


def _kind(obj: Any, path: str, enum: type[ValueKind] | type[ChartKind], default: str | None) -> Any:
    if obj is None and default is not None:
        obj = default
    try:
        return enum(obj)
    except ValueError:
        known = ", ".join(m.value for m in enum)
        raise ReportDataError(f"{path} must be one of {known}, not {obj!r}", field=path) from None


def _decimal(obj: Any, path: str) -> tuple[Decimal, str]:
    """A decimal number and its exact text (strings as given, a leading ``+`` dropped)."""
    if isinstance(obj, bool) or not isinstance(obj, str | int | Decimal):
        why = "floats are not exact: give decimals as strings" if isinstance(obj, float) else "not a number"
        raise ReportDataError(f"{path} must be a decimal string ({why})", field=path, code="INVALID_DECIMAL")
    if isinstance(obj, str):
        if not _DECIMAL.fullmatch(obj):
            raise ReportDataError(
                f"{path} is not a plain decimal number: {obj[:40]!r}", field=path, code="INVALID_DECIMAL"
            )
        number = Decimal(obj)
        raw = obj.removeprefix("+")
    elif isinstance(obj, int):
        raw, number = str(obj), Decimal(obj)
    else:
        if not obj.is_finite():
            raise ReportDataError(f"{path} is not a finite number", field=path, code="INVALID_DECIMAL")
        raw, number = format(obj, "f"), obj
    if abs(number) >= _MAX_MAGNITUDE:
        raise ReportDataError(f"{path} is too large to render exactly", field=path, code="OUT_OF_RANGE")
    if int(number.as_tuple().exponent) < -20:
        raise ReportDataError(f"{path} has more than 20 decimal places", field=path, code="OUT_OF_RANGE")
    if not _PLAIN.fullmatch(raw):
        raw = format(number, "f")  # exponents written out: the CSV holds plain numbers
    return number, raw


def _value(obj: Any, kind: ValueKind, path: str) -> _Value:
    if obj is None:
        return _Value(kind, None, "")
    if kind is ValueKind.TEXT:
        text = _text(obj, path, required=False)
        return _Value(kind, text, text)
    if kind is ValueKind.DATE:
        if isinstance(obj, date) and not isinstance(obj, datetime):
            return _Value(kind, obj, obj.isoformat())
        if isinstance(obj, str) and _ISO_DATE.fullmatch(obj):
            try:
                day = date.fromisoformat(obj)
            except ValueError:
                pass
            else:
                return _Value(kind, day, obj)
        raise ReportDataError(f"{path} is not an ISO 8601 date (YYYY-MM-DD)", field=path, code="INVALID_DATE")
    number, raw = _decimal(obj, path)
    if kind is ValueKind.COUNT and number != number.to_integral_value():
        raise ReportDataError(
            f"{path} is a count and must be a whole number", field=path, code="INVALID_DECIMAL"
        )
    return _Value(kind, number, raw)


_REPORT_FIELDS = frozenset({"title", "subtitle", "currency", "locale", "generated_at", "sections"})
_SECTION_FIELDS = frozenset({"key", "title", "figures", "table", "chart"})
_FIGURE_FIELDS = frozenset({"label", "value", "kind"})
_TABLE_FIELDS = frozenset({"columns", "rows"})
_COLUMN_FIELDS = frozenset({"key", "label", "kind"})
_CHART_FIELDS = frozenset({"kind", "title", "x", "series", "unit"})
_SERIES_FIELDS = frozenset({"name", "values"})


def _key(obj: Any, path: str) -> str:
    key = _text(obj, path)
    if not _KEY.fullmatch(key):
        raise ReportDataError(f"{path} must be 1 to 64 letters, digits, '_', '.' or '-'", field=path)
    return key


def _table(obj: Any, path: str) -> _Table:
    data = _object(obj, path, _TABLE_FIELDS)
    columns: list[_Column] = []
    cols_path = _at(path, "columns")
    for i, col in enumerate(_list(data.get("columns"), cols_path, "columns")):
        p = _at(cols_path, i)
        c = _object(col, p, _COLUMN_FIELDS)
        key = _key(c.get("key"), _at(p, "key"))
        if any(existing.key == key for existing in columns):
            raise ReportDataError(f"{p}.key {key!r} is used by another column", field=_at(p, "key"))
        columns.append(
            _Column(
                key,
                _text(c.get("label"), _at(p, "label"), required=False),
                _kind(c.get("kind"), _at(p, "kind"), ValueKind, "text"),
            )
        )
    if not columns:
        raise ReportDataError(
            f"{cols_path}: a table needs at least one column", field=cols_path, code="REQUIRED"
        )
    known = {c.key for c in columns}
    rows: list[tuple[_Value, ...]] = []
    rows_path = _at(path, "rows")
    for i, row in enumerate(_list(data.get("rows", []), rows_path, "rows")):
        p = _at(rows_path, i)
        if not isinstance(row, Mapping):
            raise ReportDataError(f"{p} must be an object", field=p)
        for name in row:
            if name not in known:
                raise ReportDataError(
                    f"{p} has a value for {name!r}, which no column has", field=_at(p, name)
                )
        rows.append(tuple(_value(row.get(c.key), c.kind, _at(p, c.key)) for c in columns))
    return _Table(tuple(columns), tuple(rows))


def _chart(obj: Any, path: str) -> _Chart:
    data = _object(obj, path, _CHART_FIELDS)
    kind = _kind(data.get("kind"), _at(path, "kind"), ChartKind, None)
    x_path = _at(path, "x")
    x = tuple(_text(v, _at(x_path, i)) for i, v in enumerate(_list(data.get("x"), x_path, "x")))
    series: list[_Series] = []
    s_path = _at(path, "series")
    for i, entry in enumerate(_list(data.get("series"), s_path, "series")):
        p = _at(s_path, i)
        s = _object(entry, p, _SERIES_FIELDS)
        name = _text(s.get("name"), _at(p, "name"))
        v_path = _at(p, "values")
        raw_values = _list(s.get("values"), v_path, "x")
        if len(raw_values) != len(x):
            raise ReportDataError(
                f"{v_path} has {len(raw_values)} values for {len(x)} x values", field=v_path
            )
        values = tuple(
            None if v is None else _decimal(v, _at(v_path, j))[0] for j, v in enumerate(raw_values)
        )
        series.append(_Series(name, values))
    if not series:
        raise ReportDataError(f"{s_path}: a chart needs at least one series", field=s_path, code="REQUIRED")
    return _Chart(
        kind,
        _text(data.get("title"), _at(path, "title"), required=False),
        x,
        tuple(series),
        _text(data.get("unit"), _at(path, "unit"), required=False),
    )


def _section(obj: Any, path: str) -> _Section:
    data = _object(obj, path, _SECTION_FIELDS)
    figures: list[_Figure] = []
    f_path = _at(path, "figures")
    for i, entry in enumerate(_list(data.get("figures", []), f_path, "figures")):
        p = _at(f_path, i)
        f = _object(entry, p, _FIGURE_FIELDS)
        kind = _kind(f.get("kind"), _at(p, "kind"), ValueKind, "text")
        figures.append(
            _Figure(_text(f.get("label"), _at(p, "label")), _value(f.get("value"), kind, _at(p, "value")))
        )
    table = data.get("table")
    chart = data.get("chart")
    return _Section(
        key=_key(data.get("key"), _at(path, "key")),
        title=_text(data.get("title"), _at(path, "title")),
        figures=tuple(figures),
        table=None if table is None else _table(table, _at(path, "table")),
        chart=None if chart is None else _chart(chart, _at(path, "chart")),
    )


def _generated_at(obj: Any) -> datetime:
    if obj is None:
        raise ReportDataError("generated_at is required", field="generated_at", code="REQUIRED")
    moment: datetime | None = None
    if isinstance(obj, datetime):
        moment = obj
    elif isinstance(obj, str) and len(obj) <= 40:
        try:
            moment = datetime.fromisoformat(obj)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise ReportDataError(
            "generated_at must be an ISO 8601 time with an offset",
            field="generated_at",
            code="INVALID_DATETIME",
        )
    return moment.astimezone(UTC)


def _locale(obj: Any) -> str:
    from babel import Locale, UnknownLocaleError

    tag = _text(obj, "locale", required=False) or "en"
    try:
        return str(Locale.parse(tag.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ReportDataError(f"locale {tag!r} is not a known locale", field="locale") from None


def _currency(obj: Any) -> str | None:
    if obj is None:
        return None
    code = _text(obj, "currency")
    try:
        return validate_currency(code)
    except UserError as exc:
        raise ReportDataError(exc.message, field="currency", code="INVALID_CURRENCY") from None


def _report(report: Any) -> _Report:
    data = _object(report, "", _REPORT_FIELDS)
    sections = tuple(
        _section(s, _at("sections", i))
        for i, s in enumerate(_list(data.get("sections", []), "sections", "sections"))
    )
    total = sum(len(s.table.rows) for s in sections if s.table)
    if total > LIMITS["rows_total"]:
        raise ReportDataError(
            f"the tables hold {total} rows; at most {LIMITS['rows_total']} are rendered",
            field="sections",
            code="OUT_OF_RANGE",
        )
    keys = [s.key for s in sections]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise ReportDataError(f"section key {key!r} is used twice", field=f"sections[{i}].key")
    return _Report(
        title=_text(data.get("title"), "title"),
        subtitle=_text(data.get("subtitle"), "subtitle", required=False),
        currency=_currency(data.get("currency")),
        locale=_locale(data.get("locale")),
        generated_at=_generated_at(data.get("generated_at")),
        sections=sections,
    )


def validate(report: Mapping[str, Any]) -> None:
    """Raise :class:`ReportDataError` unless ``report`` follows the shape :func:`render` takes."""
    _report(report)


# --------------------------------------------------------------------- formatting


class _Formatter:
    """Values as a reader sees them (HTML, PDF): babel's formats for the report's locale."""

    def __init__(self, locale: str, currency: str | None) -> None:
        self.locale = locale
        self.currency = currency

    def text(self, v: _Value) -> str:
        from babel.dates import format_date
        from babel.numbers import format_currency, format_decimal, format_percent

        value = v.value
        if value is None:
            return "—"
        if isinstance(value, str):
            return value
        if isinstance(value, date):
            return str(format_date(value, "medium", locale=self.locale))
        if v.kind is ValueKind.MONEY:
            if self.currency:
                return str(format_currency(value, self.currency, locale=self.locale))
            return str(format_decimal(value, format="#,##0.00", locale=self.locale))
        if v.kind is ValueKind.PERCENT:
            # to a hundredth of a percent; trailing zeros dropped (0.25 -> 25 %)
            shown = value.quantize(Decimal("0.0001")).normalize()
            return str(format_percent(shown, locale=self.locale, decimal_quantization=False))
        return str(format_decimal(value, locale=self.locale))

    def number(self, value: Decimal | None) -> str:
        from babel.numbers import format_decimal

        return "—" if value is None else str(format_decimal(value, locale=self.locale))

    def generated(self, moment: datetime) -> str:
        from babel.dates import format_datetime

        return f"{format_datetime(moment, 'medium', tzinfo=UTC, locale=self.locale)} UTC"


def _numeric(kind: ValueKind) -> bool:
    return kind in (ValueKind.MONEY, ValueKind.COUNT, ValueKind.PERCENT)


def _chart_alt(chart: _Chart) -> str:
    what = "Bar chart" if chart.kind is ChartKind.BAR else "Line chart"
    names = ", ".join(s.name for s in chart.series)
    span = f" from {chart.x[0]} to {chart.x[-1]}" if chart.x else ""
    return f"{what}{': ' + chart.title if chart.title else ''} ({names}{span})"


# ------------------------------------------------------------------------- charts


def _shorten(text: str, most: int) -> str:
    """``text`` cut to ``most`` characters with an ellipsis (chart labels: the full text is
    in the chart's data in every format)."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _draw(chart: _Chart, width: int, height: int) -> bytes:
    """The chart as an RGB PNG of ``width`` x ``height`` pixels: matplotlib's Agg renderer
    through its object API, never pyplot, which keeps every figure it made and so leaks in a
    server (https://matplotlib.org/stable/gallery/user_interfaces/web_application_server_sgskip.html).
    matplotlib does not promise to be thread-safe: one chart is drawn at a time."""
    with _DRAWING:
        return _draw_unlocked(chart, width, height)


def _draw_unlocked(chart: _Chart, width: int, height: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white", layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    n, k = len(chart.x), len(chart.series)
    slots = list(range(n))
    if chart.kind is ChartKind.BAR:
        from matplotlib.collections import PolyCollection

        group = 0.8  # of each x slot; the rest is the gap between groups
        bar = group / k
        heights = [float(v) for s in chart.series for v in s.values if v is not None] or [0.0]
        for i, series in enumerate(chart.series):
            offset = -group / 2 + bar * (i + 0.5)
            # one collection of rectangles per series: thousands of bars draw in a blink,
            # where one Rectangle artist each (Axes.bar) takes seconds
            rectangles = [
                [(left, 0.0), (left, h), (left + bar, h), (left + bar, 0.0)]
                for slot, v in zip(slots, series.values, strict=True)
                if v is not None
                for left, h in [(slot + offset - bar / 2, float(v))]
            ]
            ax.add_collection(
                PolyCollection(
                    rectangles,
                    facecolors=SERIES_COLOURS[i],
                    linewidths=0,
                    label=_shorten(series.name, 28),
                    zorder=2,
                ),
                autolim=False,
            )
        low, high = min(0.0, *heights), max(0.0, *heights)
        pad = (high - low) * 0.05 or 1.0
        # the axis starts at zero unless a value is below it, as bar charts should
        ax.set_ylim(low - pad if low < 0 else 0.0, high + pad if high > 0 else (0.0 if low < 0 else 1.0))
        ax.axhline(0, color="#444444", linewidth=1, zorder=3)
    else:
        for i, series in enumerate(chart.series):
            ys = [math.nan if v is None else float(v) for v in series.values]
            ax.plot(
                slots,
                ys,
                color=SERIES_COLOURS[i],
                linewidth=2,
                marker="o",
                markersize=5,
                label=_shorten(series.name, 28),
                zorder=2,
            )
    if n:
        ax.set_xlim(-0.6, n - 0.4)
        # as many x labels as fit side by side (about 7 pixels a character), evenly spaced
        room = width * 0.85
        shown = [_shorten(x, 24) for x in chart.x]
        longest = max(len(x) for x in shown)
        step = math.ceil(n / max(2, int(room // (longest * 7 + 24))))
        ticks = slots[::step]
        ax.set_xticks(ticks, [shown[t] for t in ticks])
        if len(ticks) * (longest * 7 + 24) > room:
            ax.tick_params(axis="x", labelrotation=30)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.grid(axis="y", color="#e3e3e3", linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if chart.title:
        ax.set_title(_shorten(chart.title, width // 11), loc="left", fontsize=12, fontweight="bold")
    if chart.unit:
        ax.set_ylabel(_shorten(chart.unit, height // 12))
    if k > 1:
        fig.legend(loc="outside lower center", ncols=min(k, 4), frameon=False)
    canvas.draw()  # type: ignore[no-untyped-call]
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    size = (rgba.shape[1], rgba.shape[0])
    # the PNG matplotlib would write carries its version as metadata and an alpha channel;
    # Pillow writes the plain RGB pixels and nothing else
    image = Image.frombuffer("RGBA", size, bytes(rgba), "raw", "RGBA", 0, 1).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def chart_png(chart: Mapping[str, Any], *, width: int = 900, height: int = 360) -> bytes:
    """A section's ``chart`` (the shape in docs/reports.md) drawn as a PNG image."""
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 200 <= value <= 4000:
            raise ReportDataError(f"{name} must be 200 to 4000 pixels", field=name, code="OUT_OF_RANGE")
    return _draw(_chart(chart, "chart"), width, height)


# ---------------------------------------------------------------------------- CSV


def _csv_safe(cell: str) -> str:
    """Neutralise formula injection: a cell that starts with ``= + - @``, a tab or a carriage
    return is prefixed with a single quote, so a spreadsheet shows it as text instead of
    evaluating it (OWASP, https://owasp.org/www-community/attacks/CSV_Injection; ASVS 5.0
    V1.2.10). A plain number such as ``-4.10`` is left as it is: it is a number, not a
    formula. Quoting itself is RFC 4180's (the csv module's default dialect)."""
    if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN.fullmatch(cell):
        return "'" + cell
    return cell


def _csv(report: _Report) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)  # excel dialect: RFC 4180 quoting, CRLF line ends

    def row(*cells: str) -> None:
        writer.writerow([_csv_safe(c) for c in cells])

    row("report", report.title)
    if report.subtitle:
        row("subtitle", report.subtitle)
    if report.currency:
        row("currency", report.currency)
    row("generated_at", report.generated_at.isoformat())
    for section in report.sections:
        row()
        row("section", section.key, section.title)
        for figure in section.figures:
            row(figure.label, figure.value.raw)
        if section.table:
            if section.figures:
                row()
            row(*(c.label for c in section.table.columns))
            for values in section.table.rows:
                row(*(v.raw for v in values))
        if section.chart:
            chart = section.chart
            row()
            row("chart", chart.title)
            row("", *(s.name for s in chart.series))
            for i, x in enumerate(chart.x):
                row(x, *("" if s.values[i] is None else format(s.values[i], "f") for s in chart.series))
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- XLSX

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _sheet_names(sections: Sequence[_Section]) -> list[str]:
    """Excel's rules for sheet names: at most 31 characters, none of ``[]:*?/\\``, no
    apostrophe at either end, unique regardless of case, never "History"."""
    names: list[str] = []
    taken: set[str] = set()
    for section in sections:
        cleaned = " ".join(_SHEET_FORBIDDEN.sub(" ", section.title).split()).strip("'").strip()
        base = cleaned[:31].rstrip() or section.key[:31]
        if base.lower() == "history":
            base = f"{base} 1"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: 31 - len(suffix)].rstrip() + suffix
        taken.add(name.lower())
        names.append(name)
    return names


def _xlsx(report: _Report) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,  # members dated 1980-01-01: the same data gives the same bytes
            # every cell's type is ours to choose: text stays text (no formulas, no links)
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    workbook.set_properties(
        {
            "title": report.title,
            "subject": report.subtitle,
            "author": "Crossdock",
            "created": report.generated_at.replace(tzinfo=None),
        }
    )
    exponent = currency_exponent(report.currency) if report.currency else 2
    money = "#,##0" + ("." + "0" * exponent if exponent else "")
    if report.currency:
        money += f' "{report.currency}"'
    formats = {
        ValueKind.MONEY: workbook.add_format({"num_format": money}),
        ValueKind.COUNT: workbook.add_format({"num_format": "#,##0"}),
        ValueKind.PERCENT: workbook.add_format({"num_format": "0.00%"}),
        ValueKind.DATE: workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    chart_number = workbook.add_format({"num_format": "#,##0.00"})
    title = workbook.add_format({"bold": True, "font_size": 14})
    subtitle = workbook.add_format({"italic": True, "font_color": "#555555"})
    label = workbook.add_format({"bold": True})
    heading = workbook.add_format({"bold": True, "bg_color": "#EEEEEE", "bottom": 1})

    def cell(sheet: Any, r: int, c: int, v: _Value) -> None:
        value = v.value
        if value is None:
            return
        if isinstance(value, str):
            sheet.write_string(r, c, value)
        elif isinstance(value, date):
            sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), formats[ValueKind.DATE])
        else:
            sheet.write_number(r, c, float(value), formats[v.kind])

    header = report.title + (f" · {report.subtitle}" if report.subtitle else "")
    if not report.sections:
        sheet = workbook.add_worksheet("Report")
        sheet.write_string(0, 0, report.title, title)
        if report.subtitle:
            sheet.write_string(1, 0, report.subtitle, subtitle)
    for section, name in zip(report.sections, _sheet_names(report.sections), strict=True):
        sheet = workbook.add_worksheet(name)
        widths: dict[int, int] = {}

        def width(c: int, text: str, widths: dict[int, int] = widths) -> None:
            widths[c] = max(widths.get(c, 10), min(len(text) + 2, 50))

        sheet.write_string(0, 0, section.title, title)
        sheet.write_string(1, 0, header, subtitle)
        sheet.write_string(2, 0, f"Generated {report.generated_at.isoformat()}", subtitle)
        r = 4
        for figure in section.figures:
            sheet.write_string(r, 0, figure.label, label)
            cell(sheet, r, 1, figure.value)
            width(0, figure.label)
            width(1, figure.value.raw)
            r += 1
        if section.figures:
            r += 1
        if section.table:
            columns = section.table.columns
            first = r
            for c, column in enumerate(columns):
                sheet.write_string(r, c, column.label, heading)
                width(c, column.label)
            for values in section.table.rows:
                r += 1
                for c, v in enumerate(values):
                    cell(sheet, r, c, v)
                    width(c, v.raw)
            sheet.autofilter(first, 0, r, len(columns) - 1)
            r += 2
        if section.chart:
            chart = section.chart
            sheet.write_string(r, 0, chart.title or "Chart data", heading)
            for i, series in enumerate(chart.series):
                sheet.write_string(r, 1 + i, series.name, heading)
                width(1 + i, series.name)
            head = r
            for j, x in enumerate(chart.x):
                sheet.write_string(head + 1 + j, 0, x)
                width(0, x)
                for i, series in enumerate(chart.series):
                    value = series.values[j]
                    if value is not None:
                        sheet.write_number(head + 1 + j, 1 + i, float(value), chart_number)
            if chart.x:
                native = workbook.add_chart({"type": "column" if chart.kind is ChartKind.BAR else "line"})
                last = head + len(chart.x)
                for i in range(len(chart.series)):
                    colour = SERIES_COLOURS[i]
                    options: dict[str, Any] = {
                        "name": [name, head, 1 + i],
                        "categories": [name, head + 1, 0, last, 0],
                        "values": [name, head + 1, 1 + i, last, 1 + i],
                    }
                    if chart.kind is ChartKind.BAR:
                        options["fill"] = {"color": colour}
                        options["border"] = {"none": True}
                    else:
                        options["line"] = {"color": colour, "width": 2}
                        options["marker"] = {"type": "circle", "size": 5, "fill": {"color": colour}}
                    native.add_series(options)
                if chart.title:
                    native.set_title({"name": chart.title})
                else:
                    native.set_title({"none": True})
                if chart.unit:
                    native.set_y_axis({"name": chart.unit})
                native.set_legend({"position": "bottom"} if len(chart.series) > 1 else {"none": True})
                native.show_blanks_as("gap")
                native.set_size({"width": 720, "height": 300})
                right = max(len(section.table.columns) if section.table else 0, 1 + len(chart.series), 2)
                sheet.insert_chart(4, right + 1, native)
        for c, w in widths.items():
            sheet.set_column(c, c, w)
    workbook.close()
    return out.getvalue()


# --------------------------------------------------------------------------- HTML

_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{{ title }}</title>
<style>
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1d1d1f;background:#f6f6f4}
main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:0 0 .6em}
.subtitle,.generated{color:#555;margin:.2em 0}
section{background:#fff;border-radius:8px;padding:16px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.figures{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 12px}
.figure{flex:1 1 150px;border:1px solid #e4e4e4;border-radius:6px;padding:8px 10px}
.figure dt{color:#555;font-size:.85em}.figure dd{margin:0;font-size:1.25em;font-weight:600}
.figure dd.text{font-size:1em;font-weight:400}
figure{margin:12px 0}figure img{display:block;max-width:100%;height:auto}
details{margin-top:4px;font-size:.9em}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{padding:5px 8px;border-bottom:1px solid #e4e4e4;text-align:left;white-space:nowrap}
th{background:#f0f0ee}.num{text-align:right;font-variant-numeric:tabular-nums}
@media (max-width:600px){main{padding:8px}section{padding:10px}h1{font-size:1.3em}}
</style>
</head>
<body>
<main>
<header>
<h1>{{ title }}</h1>
{% if subtitle %}<p class="subtitle">{{ subtitle }}</p>{% endif %}
<p class="generated">Generated <time datetime="{{ generated_iso }}">{{ generated }}</time></p>
</header>
{% for s in sections %}
<section id="section-{{ s.key }}">
<h2>{{ s.title }}</h2>
{% if s.figures %}<dl class="figures">
{% for f in s.figures %}<div class="figure"><dt>{{ f.label }}</dt>
<dd class="{{ f.kind }}">{{ f.text }}</dd></div>
{% endfor %}</dl>{% endif %}
{% if s.chart %}<figure>
<img src="data:image/png;base64,{{ s.chart.png }}"
 width="{{ s.chart.width }}" height="{{ s.chart.height }}" alt="{{ s.chart.alt }}">
<details><summary>Chart data</summary><div class="table-wrap"><table>
<thead><tr><th scope="col"></th>
{%- for name in s.chart.names %}<th scope="col" class="num">{{ name }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in s.chart.rows %}<tr><th scope="row">{{ row[0] }}</th>
{%- for v in row[1:] %}<td class="num">{{ v }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div></details>
</figure>{% endif %}
{% if s.table %}<div class="table-wrap"><table>
<thead><tr>{% for c in s.table.columns -%}
<th scope="col"{% if c.numeric %} class="num"{% endif %}>{{ c.label }}</th>
{%- endfor %}</tr></thead>
<tbody>
{% for row in s.table.rows %}<tr>{% for cell in row -%}
<td{% if cell.numeric %} class="num"{% endif %}>{{ cell.text }}</td>
{%- endfor %}</tr>
{% endfor %}</tbody>
</table></div>{% endif %}
</section>
{% endfor %}
</main>
</body>
</html>
"""


@cache
def _page() -> Template:
    from jinja2 import Environment, StrictUndefined

    # autoescape: every value is text from the data; markup in it is shown, never run
    return Environment(autoescape=True, undefined=StrictUndefined).from_string(_PAGE)


def _html(report: _Report, charts: Mapping[str, bytes]) -> bytes:
    from babel import Locale

    fmt = _Formatter(report.locale, report.currency)
    sections = []
    for s in report.sections:
        chart = None
        if s.chart:
            chart = {
                "png": base64.b64encode(charts[s.key]).decode("ascii"),
                "width": 900,
                "height": 360,
                "alt": _chart_alt(s.chart),
                "names": [series.name for series in s.chart.series],
                "rows": [
                    [x, *(fmt.number(series.values[i]) for series in s.chart.series)]
                    for i, x in enumerate(s.chart.x)
                ],
            }
        table = None
        if s.table:
            table = {
                "columns": [{"label": c.label, "numeric": _numeric(c.kind)} for c in s.table.columns],
                "rows": [
                    [{"text": fmt.text(v), "numeric": _numeric(v.kind)} for v in row] for row in s.table.rows
                ],
            }
        sections.append(
            {
                "key": s.key,
                "title": s.title,
                "figures": [
                    {"label": f.label, "text": fmt.text(f.value), "kind": f.value.kind.value}
                    for f in s.figures
                ],
                "chart": chart,
                "table": table,
            }
        )
    page = _page().render(
        lang=Locale.parse(report.locale).language,
        title=report.title,
        subtitle=report.subtitle,
        generated=fmt.generated(report.generated_at),
        generated_iso=report.generated_at.isoformat(),
        sections=sections,
    )
    return page.encode("utf-8")


# ---------------------------------------------------------------------------- PDF


def _fit_widths(natural: Sequence[float], room: float) -> list[float]:
    """Column widths that fill ``room``: each column as wide as its widest text when they
    all fit (the slack shared out evenly), else the narrow ones whole and the wide ones
    sharing what is left equally."""
    if sum(natural) <= room:
        slack = (room - sum(natural)) / len(natural)
        return [w + slack for w in natural]
    widths = list(natural)
    wide = set(range(len(widths)))
    while wide:
        share = (room - sum(widths[i] for i in range(len(widths)) if i not in wide)) / len(wide)
        narrow = {i for i in wide if natural[i] <= share}
        if not narrow:
            for i in wide:
                widths[i] = share
            break
        wide -= narrow
    return widths


def _bundled_fonts() -> tuple[Path, ...]:
    """matplotlib's own copy of DejaVu Sans (and its bold), found without importing
    matplotlib: a Unicode font wherever the renderer is installed, even on a machine
    without system fonts."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return ()
    return (
        Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf",
    )


def _pdf(report: _Report, charts: Mapping[str, bytes]) -> bytes:
    from fpdf import FPDF

    # the fonts the packing slips use (Latin, Greek, Cyrillic ...; Thai and CJK as fallbacks)
    from crossdock.services.documents import FALLBACK_FONTS, UNICODE_FONTS

    fmt = _Formatter(report.locale, report.currency)

    class Report(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(family, size=8)
            self.set_text_color(110)
            self.cell(0, 5, text(f"{report.title} · {self.page_no()}/{{nb}}"), align="R")
            self.set_text_color(0)

    pdf = Report(unit="mm", format="A4")
    pdf.set_creation_date(report.generated_at)
    pdf.set_title(report.title)
    pdf.set_creator("Crossdock")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_margins(15, 15, 15)
    family, bold, unicode = "helvetica", "B", False
    for path in (*UNICODE_FONTS, *_bundled_fonts()):
        if path.is_file():
            pdf.add_font("report", "", str(path))
            family, unicode = "report", True
            bold_path = path.with_name(path.name.replace("-Regular", "").replace(".ttf", "-Bold.ttf"))
            if bold_path.is_file():
                pdf.add_font("report", "B", str(bold_path))
            else:
                bold = ""
            fallbacks = []
            for number, fallback in enumerate(p for p in FALLBACK_FONTS if p.is_file()):
                pdf.add_font(f"fallback{number}", "", str(fallback))
                fallbacks.append(f"fallback{number}")
            if fallbacks:
                pdf.set_fallback_fonts(fallbacks)
            break

    def text(value: str) -> str:
        # without a Unicode font, the PDF core font holds Latin-1 only
        if unicode:
            return value
        value = value.replace("—", "-").replace("…", "...")
        return value.encode("latin-1", "replace").decode("latin-1")

    ellipsis = text("…")

    def clip(value: str, room: float) -> str:
        """``value`` cut with an ellipsis to fit ``room`` (the PDF keeps a row to one line;
        the CSV and XLSX files hold every value whole)."""
        if pdf.get_string_width(value) <= room:
            return value
        while value and pdf.get_string_width(value + ellipsis) > room:
            value = value[:-1]
        return value + ellipsis

    def table(
        header: Sequence[str] | None, rows: Sequence[Sequence[str]], right: Sequence[bool], size: float
    ) -> None:
        """Rows of one line each, ruled; the header again at the top of every page the
        table continues on. Drawn cell by cell: fpdf2's own table() wraps text and is
        about eight times slower, too slow for a table of thousands of rows."""
        pad, line = 1.2, size * 0.62
        pdf.set_font(family, bold, size)
        natural = [pdf.get_string_width(h) + 2 * pad for h in header] if header else [0.0] * len(right)
        pdf.set_font(family, size=size)
        for row in rows:
            for i, value in enumerate(row):
                natural[i] = max(natural[i], pdf.get_string_width(value) + 2 * pad)
        widths = _fit_widths([min(w, pdf.epw * 0.6) for w in natural], pdf.epw)

        def head() -> None:
            if header is None:
                return
            pdf.set_font(family, bold, size)
            pdf.set_fill_color(238, 238, 236)
            for value, w, r in zip(header, widths, right, strict=True):
                pdf.cell(w, line, clip(value, w - 2 * pad), border="B", align="R" if r else "L", fill=True)
            pdf.ln(line)
            pdf.set_font(family, size=size)

        head()
        for row in rows:
            if pdf.get_y() + line > pdf.page_break_trigger:
                pdf.add_page(orientation=pdf.cur_orientation.value)
                head()
            for value, w, r in zip(row, widths, right, strict=True):
                pdf.cell(w, line, clip(value, w - 2 * pad), border="B", align="R" if r else "L")
            pdf.ln(line)

    pdf.add_page()
    pdf.set_font(family, bold, 18)
    pdf.multi_cell(0, 9, text(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    pdf.set_text_color(85)
    if report.subtitle:
        pdf.multi_cell(0, 5.5, text(report.subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(
        0, 5.5, text(f"Generated {fmt.generated(report.generated_at)}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_text_color(0)
    pdf.set_draw_color(190)  # thin grey rules between rows
    pdf.set_line_width(0.2)
    pdf.c_margin = 1.2
    for section in report.sections:
        wide = section.table is not None and len(section.table.columns) > 6
        orientation = "L" if wide else "P"
        if pdf.cur_orientation.value != orientation or pdf.get_y() > pdf.h - 60:
            # a landscape page for a wide table; never a heading alone at the foot of a page
            pdf.add_page(orientation=orientation)
        pdf.ln(6)
        pdf.set_font(family, bold, 14)
        pdf.multi_cell(0, 7, text(section.title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        if section.figures:
            margin = pdf.r_margin  # figures take at most 13 cm, not the page's width
            pdf.set_right_margin(pdf.w - pdf.l_margin - min(pdf.epw, 130))
            table(
                None, [(text(f.label), text(fmt.text(f.value))) for f in section.figures], (False, True), 10
            )
            pdf.set_right_margin(margin)
            pdf.ln(3)
        if section.chart:
            image_h = pdf.epw * 360 / 900
            if pdf.get_y() + image_h > pdf.page_break_trigger:
                pdf.add_page(orientation=orientation)
            pdf.image(io.BytesIO(charts[section.key]), w=pdf.epw, h=image_h)
            pdf.ln(3)
        if section.table:
            columns = section.table.columns
            table(
                [text(c.label) for c in columns],
                [[text(fmt.text(v)) for v in row] for row in section.table.rows],
                [_numeric(c.kind) for c in columns],
                8,
            )
    return bytes(pdf.output())


# ------------------------------------------------------------------------- render


def render(report: Mapping[str, Any], fmt: ReportFormat) -> bytes:
    """The report (the shape in docs/reports.md) as a file of ``fmt``.

    Raises :class:`ReportDataError` for data that does not follow the shape."""
    fmt = ReportFormat(fmt)
    data = _report(report)
    if fmt is ReportFormat.CSV:
        return _csv(data)
    if fmt is ReportFormat.XLSX:
        return _xlsx(data)
    charts = {s.key: _draw(s.chart, 900, 360) for s in data.sections if s.chart}
    if fmt is ReportFormat.HTML:
        return _html(data, charts)
    return _pdf(data, charts)
