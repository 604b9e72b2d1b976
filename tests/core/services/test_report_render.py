"""Reports rendered to CSV, XLSX, HTML and PDF: read back with the readers a user's tools use
(csv, openpyxl, html.parser, pypdf), and the charts checked pixel by pixel to be charts of
the data."""

from __future__ import annotations

import base64
import copy
import csv
import io
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import numpy as np
import openpyxl
import pytest
from PIL import Image
from pypdf import PdfReader

from crossdock.errors import UserError
from crossdock.services.report_render import (
    LIMITS,
    SERIES_COLOURS,
    ReportDataError,
    ReportFormat,
    chart_png,
    render,
)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def report(rows: int = 1) -> dict[str, Any]:
    """The example of docs/reports.md, with ``rows`` table rows."""
    return {
        "title": "Daily operations report",
        "subtitle": "Acme DE · Tuesday 1 December 2026 (Europe/Berlin)",
        "currency": "EUR",
        "generated_at": "2026-12-02T05:00:03+00:00",
        "sections": [
            {
                "key": "sales",
                "title": "Sales and profit",
                "figures": [
                    {"label": "Revenue", "value": "1234.50", "kind": "money"},
                    {"label": "Orders", "value": "87", "kind": "count"},
                    {"label": "Margin", "value": "0.2315", "kind": "percent"},
                    {"label": "Note", "value": "fees estimated for 12 orders", "kind": "text"},
                ],
                "table": {
                    "columns": [
                        {"key": "sku", "label": "SKU", "kind": "text"},
                        {"key": "revenue", "label": "Revenue", "kind": "money"},
                        {"key": "units", "label": "Units", "kind": "count"},
                        {"key": "margin", "label": "Margin", "kind": "percent"},
                        {"key": "day", "label": "First sale", "kind": "date"},
                    ],
                    "rows": [
                        {
                            "sku": f"MUG-{i}",
                            "revenue": f"{120 + i}.00",
                            "units": str(12 + i),
                            "margin": "0.25",
                            "day": "2026-11-25",
                        }
                        for i in range(rows)
                    ],
                },
                "chart": {
                    "kind": "bar",
                    "title": "Revenue and profit by day",
                    "x": ["2026-11-25", "2026-11-26"],
                    "series": [
                        {"name": "Revenue", "values": ["120.00", "98.50"]},
                        {"name": "Profit", "values": ["30.00", "-4.10"]},
                    ],
                    "unit": "EUR",
                },
            }
        ],
    }


# ------------------------------------------------------------------ reading a chart


def pixels(png: bytes) -> np.ndarray[Any, Any]:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def colour_mask(image: np.ndarray[Any, Any], colour: str, tolerance: int = 30) -> np.ndarray[Any, Any]:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.abs(image - rgb).sum(axis=2) <= tolerance


@dataclass
class Box:
    left: int
    right: int
    top: int
    bottom: int


def blobs(mask: np.ndarray[Any, Any]) -> list[Box]:
    """The bounding boxes of the connected areas of ``mask``, left to right: the runs of
    each row joined with the runs they touch in the row above (union-find)."""
    parent: list[int] = []
    runs_found: list[tuple[Box, int]] = []

    def root(label: int) -> int:
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = parent[label]
        return label

    above: list[tuple[int, int, int]] = []
    for y, row in enumerate(mask):
        edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        runs = []
        for start, end in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1, strict=True):
            touching = {root(label) for s, e, label in above if s <= end and e >= start}
            if touching:
                label = min(touching)
                for other in touching:
                    parent[other] = label
            else:
                label = len(parent)
                parent.append(label)
            runs_found.append((Box(int(start), int(end), y, y), label))
            runs.append((int(start), int(end), label))
        above = runs
    merged: dict[int, Box] = {}
    for box, run_label in runs_found:
        label = root(run_label)
        if label in merged:
            m = merged[label]
            m.left, m.right = min(m.left, box.left), max(m.right, box.right)
            m.top, m.bottom = min(m.top, box.top), max(m.bottom, box.bottom)
        else:
            merged[label] = Box(box.left, box.right, box.top, box.bottom)
    return sorted(merged.values(), key=lambda b: b.left)


def zero_line(image: np.ndarray[Any, Any]) -> int:
    """The row of the axis at zero (the dark grey line across a bar chart)."""
    return int(colour_mask(image, "#444444", 20).sum(axis=1).argmax())


def bars(png: bytes, colour: str) -> tuple[int, list[Box]]:
    """The zero line's row and the bars of ``colour`` standing on it (or hanging from it),
    left to right; the legend's swatch of the colour touches no axis and is left out."""
    image = pixels(png)
    zero = zero_line(image)
    found = [b for b in blobs(colour_mask(image, colour)) if b.bottom >= zero - 3 and b.top <= zero + 4]
    return zero, found


def bar_value_px(zero: int, bar: Box) -> int:
    """A bar's signed height in pixels: positive above the zero line, negative below it."""
    return zero - bar.top if bar.bottom < zero else -(bar.bottom - zero)


def assert_bars_follow(png: bytes, colour: str, values: list[float]) -> None:
    zero, found = bars(png, colour)
    assert len(found) == len(values), found
    heights = [bar_value_px(zero, b) for b in found]
    scale = heights[values.index(max(values, key=abs))] / max(values, key=abs)
    assert abs(max(values, key=abs)) * scale > 50  # a real chart: its tallest bar is no sliver
    for value, height in zip(values, heights, strict=True):
        assert abs(height - value * scale) <= 2.5, (values, heights)


def line_ys(png: bytes, colour: str, n: int) -> list[float]:
    """The line's height (row) at each of the ``n`` evenly spaced x positions."""
    mask = colour_mask(pixels(png), colour)
    columns = np.nonzero(mask.any(axis=0))[0]
    left, right = int(columns.min()), int(columns.max())
    return [
        float(np.nonzero(mask[:, round(left + (right - left) * i / (n - 1))])[0].mean()) for i in range(n)
    ]


# ---------------------------------------------------------------------------- charts


def test_a_bar_chart_draws_one_bar_per_value_in_order_with_heights_proportional_to_the_values() -> None:
    chart = {
        "kind": "bar",
        "x": ["Mon", "Tue", "Wed", "Thu"],
        "series": [{"name": "Orders", "values": ["10", "20", "-5", "40"]}],
    }
    png = chart_png(chart)
    assert Image.open(io.BytesIO(png)).size == (900, 360)
    zero, found = bars(png, SERIES_COLOURS[0])
    assert len(found) == 4
    assert [b.left for b in found] == sorted(b.left for b in found)
    assert found[2].top > zero  # the negative value hangs below the axis
    assert all(b.bottom < zero for i, b in enumerate(found) if i != 2)
    assert_bars_follow(png, SERIES_COLOURS[0], [10, 20, -5, 40])

    changed = copy.deepcopy(chart)
    changed["series"][0]["values"][3] = "30"
    other = chart_png(changed)
    assert other != png
    assert_bars_follow(other, SERIES_COLOURS[0], [10, 20, -5, 30])


def test_grouped_bars_alternate_by_series_and_a_null_value_leaves_a_gap() -> None:
    chart = {
        "kind": "bar",
        "x": ["a", "b", "c"],
        "series": [
            {"name": "Revenue", "values": ["12", None, "36"]},
            {"name": "Profit", "values": ["6", "-12", "18"]},
        ],
    }
    png = chart_png(chart)
    _, first = bars(png, SERIES_COLOURS[0])
    _, second = bars(png, SERIES_COLOURS[1])
    assert len(first) == 2 and len(second) == 3  # no bar for the null
    assert_bars_follow(png, SERIES_COLOURS[0], [12, 36])
    assert_bars_follow(png, SERIES_COLOURS[1], [6, -12, 18])
    # at each x the first series' bar stands just left of the second's
    assert first[0].right < second[0].left < first[1].left
    assert second[1].right < first[1].left < second[2].left
    # the gap: the "b" slot holds the second series only
    assert second[1].left - first[0].right > (first[0].right - first[0].left) * 1.5


def test_a_line_chart_passes_through_the_values_at_the_x_positions() -> None:
    values = [10, 30, 20, 40, 5, 25]
    chart = {
        "kind": "line",
        "title": "Ad spend",
        "x": [f"2026-11-{d:02d}" for d in range(1, 7)],
        "series": [{"name": "Spend", "values": [str(v) for v in values]}],
        "unit": "EUR",
    }
    png = chart_png(chart)
    ys = line_ys(png, SERIES_COLOURS[0], len(values))
    slope, offset = np.polyfit(values, ys, 1)
    assert slope < -2  # higher values higher up the image, several pixels a unit
    assert max(abs(y - (slope * v + offset)) for v, y in zip(values, ys, strict=True)) <= 2
    changed = copy.deepcopy(chart)
    changed["series"][0]["values"][2] = "35"
    after = line_ys(chart_png(changed), SERIES_COLOURS[0], len(values))
    assert after[2] < ys[2] - 2 * abs(slope)  # the point rose by about 15 units
    assert all(abs(a - b) <= 1 for i, (a, b) in enumerate(zip(after, ys, strict=True)) if i != 2)


def test_charts_are_the_same_bytes_for_the_same_data() -> None:
    chart = report()["sections"][0]["chart"]
    assert chart_png(chart) == chart_png(copy.deepcopy(chart))
    assert Image.open(io.BytesIO(chart_png(chart, width=600, height=300))).size == (600, 300)


def test_importing_the_renderer_does_not_import_matplotlib() -> None:
    code = "import sys, crossdock.services.report_render; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------- CSV


def test_csv_holds_every_section_raw_and_neutralises_formulas() -> None:
    data = report()
    section = data["sections"][0]
    section["title"] = "=Sales"
    section["figures"].append({"label": "@risk", "value": "-4.10", "kind": "money"})
    section["figures"].append({"label": "Written by str(Decimal)", "value": "1.5E+3", "kind": "money"})
    section["table"]["rows"] += [
        {"sku": '=HYPERLINK("http://evil.example","click")', "revenue": "-4.10", "units": "0"},
        {"sku": "+1+2", "revenue": "0.10"},
        {"sku": "-2+3"},
        {"sku": "@SUM(A1:A2)"},
        {"sku": "\tcmd"},
        {"sku": "\r=1+1"},
        {"sku": "-4.10"},
        {"sku": 'Mug, "large"\nblue'},
    ]
    body = render(data, ReportFormat.CSV)
    assert ReportFormat.CSV.media_type == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == ["report", "Daily operations report"]
    assert ["generated_at", "2026-12-02T05:00:03+00:00"] in rows
    start = rows.index(["section", "sales", "'=Sales"])
    assert rows[start + 1 : start + 7] == [
        ["Revenue", "1234.50"],
        ["Orders", "87"],
        ["Margin", "0.2315"],  # a percent as given: a fraction
        ["Note", "fees estimated for 12 orders"],
        ["'@risk", "-4.10"],  # a plain negative number is left a number
        ["Written by str(Decimal)", "1500"],  # exponents written out
    ]
    header = rows.index(["SKU", "Revenue", "Units", "Margin", "First sale"])
    table = rows[header + 1 : header + 10]
    assert table[0] == ["MUG-0", "120.00", "12", "0.25", "2026-11-25"]
    assert [r[0] for r in table[1:]] == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+1+2",
        "'-2+3",
        "'@SUM(A1:A2)",
        "'\tcmd",
        "'\r=1+1",
        "-4.10",
        'Mug, "large"\nblue',  # RFC 4180 quoting brings commas, quotes and newlines back whole
    ]
    assert table[1][1:3] == ["-4.10", "0"] and table[2][1] == "0.10" and table[3][1:] == ["", "", "", ""]
    chart = rows.index(["chart", "Revenue and profit by day"])
    assert rows[chart + 1 : chart + 4] == [
        ["", "Revenue", "Profit"],
        ["2026-11-25", "120.00", "30.00"],
        ["2026-11-26", "98.50", "-4.10"],
    ]
    assert b"\r\n" in body and not body.startswith(b"\xef\xbb\xbf")


# ------------------------------------------------------------------------------ XLSX


def test_xlsx_has_a_sheet_per_section_with_typed_cells_and_a_native_chart_of_the_data() -> None:
    data = report(rows=3)
    data["sections"][0]["table"]["rows"][1]["sku"] = "=1+1"
    data["sections"].append(
        {
            "key": "ads",
            "title": "Ads: spend / ROAS [daily]",
            "chart": {
                "kind": "line",
                "x": ["d1", "d2", "d3"],
                "series": [{"name": "Spend", "values": ["5", None, "7.25"]}],
            },
        }
    )
    body = render(data, ReportFormat.XLSX)
    assert ReportFormat.XLSX.media_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["Sales and profit", "Ads spend ROAS daily"]
    sheet = book["Sales and profit"]
    cells = {(c.row, c.column): c for row in sheet.iter_rows() for c in row if c.value is not None}
    by_value = {c.value: c for c in cells.values() if c.column == 1}  # labels and headings
    revenue = sheet.cell(by_value["Revenue"].row, 2)
    assert revenue.value == 1234.5 and revenue.data_type == "n" and '0.00 "EUR"' in revenue.number_format
    orders = sheet.cell(by_value["Orders"].row, 2)
    assert orders.value == 87 and orders.number_format == "#,##0"
    margin = sheet.cell(by_value["Margin"].row, 2)
    assert margin.value == pytest.approx(0.2315) and margin.number_format == "0.00%"
    header = by_value["SKU"].row
    assert [sheet.cell(header, c).value for c in range(1, 6)] == [
        "SKU",
        "Revenue",
        "Units",
        "Margin",
        "First sale",
    ]
    first = [sheet.cell(header + 1, c) for c in range(1, 6)]
    assert [c.value for c in first] == ["MUG-0", 120, 12, 0.25, datetime(2026, 11, 25)]
    assert first[4].is_date and first[4].number_format == "yyyy-mm-dd"
    injected = sheet.cell(header + 2, 1)
    assert injected.value == "=1+1" and injected.data_type == "s"  # text, not a formula

    (chart,) = sheet._charts
    assert chart.tagname == "barChart" and chart.grouping == "clustered"
    title_row = by_value["Revenue and profit by day"].row
    for i, (series, expected) in enumerate(zip(chart.series, [[120, 98.5], [30, -4.1]], strict=True)):
        column = "BC"[i]
        assert series.tx.strRef.f == f"'Sales and profit'!${column}${title_row}"
        assert series.cat.strRef.f == f"'Sales and profit'!$A${title_row + 1}:$A${title_row + 2}"
        assert (
            series.val.numRef.f == f"'Sales and profit'!${column}${title_row + 1}:${column}${title_row + 2}"
        )
        # the ranges hold the chart's data
        assert [sheet[f"{column}{title_row + r}"].value for r in (1, 2)] == pytest.approx(expected)
    assert [sheet[f"A{title_row + r}"].value for r in (1, 2)] == ["2026-11-25", "2026-11-26"]

    ads = book["Ads spend ROAS daily"]
    (line,) = ads._charts
    assert line.tagname == "lineChart"
    assert line.series[0].val.numRef.f == "'Ads spend ROAS daily'!$B$6:$B$8"
    assert [ads[f"B{r}"].value for r in (6, 7, 8)] == [5, None, 7.25]  # the null is a gap


# ------------------------------------------------------------------------------ HTML


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag not in ("img", "meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and data.strip():
            self.text.setdefault(self.stack[-1], []).append(data.strip())


def test_html_is_one_self_contained_page_with_the_figures_table_and_the_chart() -> None:
    data = report(rows=2)
    data["sections"][0]["table"]["rows"][1]["sku"] = HOSTILE
    data["sections"][0]["figures"].append({"label": HOSTILE, "value": HOSTILE, "kind": "text"})
    data["subtitle"] = HOSTILE
    body = render(data, ReportFormat.HTML)
    assert ReportFormat.HTML.media_type == "text/html; charset=utf-8"
    page = Page()
    page.feed(body.decode("utf-8"))
    assert page.text["title"] == ["Daily operations report"]
    assert page.text["h1"] == ["Daily operations report"] and page.text["h2"] == ["Sales and profit"]
    assert page.text["dt"] == ["Revenue", "Orders", "Margin", "Note", HOSTILE]
    assert page.text["dd"] == ["€1,234.50", "87", "23.15%", "fees estimated for 12 orders", HOSTILE]
    cells = page.text["td"]
    assert cells[-10:-5] == ["MUG-0", "€120.00", "12", "25%", "Nov 25, 2026"]
    assert cells[-5] == HOSTILE
    # the hostile text is shown, never parsed as markup
    assert "script" not in page.tags and page.tags.count("img") == 1
    assert b"<script" not in body and b"&lt;script&gt;" in body
    # nothing is fetched from anywhere: the one URL is the chart's data: URL
    (url,) = page.urls
    assert url.startswith("data:image/png;base64,") and "link" not in page.tags
    png = base64.b64decode(url.removeprefix("data:image/png;base64,"))
    assert png == chart_png(data["sections"][0]["chart"])
    assert_bars_follow(png, SERIES_COLOURS[1], [30, -4.1])
    assert b'name="viewport"' in body and b"@media" in body  # readable on a phone


def test_html_formats_for_the_reports_locale() -> None:
    data = report()
    data["locale"] = "de-DE"
    page = Page()
    page.feed(render(data, ReportFormat.HTML).decode("utf-8"))
    assert page.text["dd"][:3] == ["1.234,50\xa0€", "87", "23,15\xa0%"]


# ------------------------------------------------------------------------------- PDF


def test_pdf_holds_the_title_figures_and_tables_and_the_charts_as_images() -> None:
    data = report(rows=150)
    data["sections"].append(
        {
            "key": "ads",
            "title": "Ads",
            "figures": [{"label": "Ad spend", "value": "310.20", "kind": "money"}],
            "chart": {
                "kind": "line",
                "title": "Spend",
                "x": ["a", "b", "c"],
                "series": [{"name": "Spend", "values": ["1", "3", "2"]}],
            },
        }
    )
    body = render(data, ReportFormat.PDF)
    assert ReportFormat.PDF.media_type == "application/pdf" and body.startswith(b"%PDF-")
    pdf = PdfReader(io.BytesIO(body))
    first = pdf.pages[0]
    assert (round(float(first.mediabox.width)), round(float(first.mediabox.height))) == (595, 842)  # A4
    text = [page.extract_text() for page in pdf.pages]
    for expected in (
        "Daily operations report",
        "Acme DE",
        "Sales and profit",
        "Revenue",
        "€1,234.50",
        "23.15%",
        "87",
    ):
        assert expected in text[0], expected
    assert "fees estimated for 12 orders" in text[0]
    # a long table runs on over the pages with its header on top of each
    pages_with_rows = [t for t in text if "MUG-" in t]
    assert len(pages_with_rows) >= 3
    assert all("SKU" in t and "First sale" in t for t in pages_with_rows)
    assert "MUG-149" in "".join(text) and "€269.00" in "".join(text)
    assert any("Ad spend" in t and "€310.20" in t for t in text)
    images = [image.image for page in pdf.pages for image in page.images]
    assert len(images) == 2
    expected = [Image.open(io.BytesIO(chart_png(s["chart"]))) for s in data["sections"]]
    for found, drawn in zip(images, expected, strict=True):
        assert found.size == drawn.size
        assert np.array_equal(np.asarray(found.convert("RGB")), np.asarray(drawn.convert("RGB")))


def test_every_format_is_the_same_bytes_for_the_same_report() -> None:
    for fmt in ReportFormat:
        assert render(report(), fmt) == render(report(), fmt), fmt
        assert fmt.extension == fmt.value


def test_a_report_without_sections_or_optional_parts_renders() -> None:
    data = {
        "title": "Quiet day",
        "generated_at": "2026-12-02T05:00:03+01:00",
        "sections": [
            {"key": "x", "title": "Nothing"},
            {
                "key": "stock",
                "title": "Stock",
                "table": {
                    "columns": [{"key": "sku", "label": "SKU"}, {"key": "state", "label": ""}],
                    "rows": [{"sku": "A"}],
                },
            },
        ],
    }
    for fmt in ReportFormat:
        assert render(data, fmt)
    assert openpyxl.load_workbook(
        io.BytesIO(render({**data, "sections": []}, ReportFormat.XLSX))
    ).sheetnames == ["Report"]
    rows = list(csv.reader(io.StringIO(render(data, ReportFormat.CSV).decode(), newline="")))
    assert ["generated_at", "2026-12-02T04:00:03+00:00"] in rows  # in UTC


# -------------------------------------------------------------------------- refusals


def section(data: dict[str, Any]) -> dict[str, Any]:
    return data["sections"][0]  # type: ignore[no-any-return]


def put(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        *parts, last = path.split("/")
        for part in parts:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value

    return change


S = "sections/0"
REFUSALS = [
    (put("sections", {"key": "sales"}), "INVALID", "sections"),
    (put("colour", "red"), "INVALID", "colour"),
    (put("title", ""), "REQUIRED", "title"),
    (put(f"{S}/key", None), "REQUIRED", "sections[0].key"),
    (put(f"{S}/key", "sales and profit"), "INVALID", "sections[0].key"),
    (put(f"{S}/chart/kind", "pie"), "INVALID", "sections[0].chart.kind"),
    (put(f"{S}/table/columns/1/kind", "currency"), "INVALID", "sections[0].table.columns[1].kind"),
    (put(f"{S}/figures/0/kind", "euros"), "INVALID", "sections[0].figures[0].kind"),
    (put(f"{S}/chart/series/1/values", ["1"]), "INVALID", "sections[0].chart.series[1].values"),
    (put(f"{S}/table/rows/0/revenue", 120.5), "INVALID_DECIMAL", "sections[0].table.rows[0].revenue"),
    (put(f"{S}/table/rows/0/revenue", "12,50"), "INVALID_DECIMAL", "sections[0].table.rows[0].revenue"),
    (put(f"{S}/figures/0/value", "NaN"), "INVALID_DECIMAL", "sections[0].figures[0].value"),
    (put(f"{S}/chart/series/0/values/0", True), "INVALID_DECIMAL", "sections[0].chart.series[0].values[0]"),
    (put(f"{S}/table/rows/0/units", "1.5"), "INVALID_DECIMAL", "sections[0].table.rows[0].units"),
    (put(f"{S}/table/rows/0/day", "25.11.2026"), "INVALID_DATE", "sections[0].table.rows[0].day"),
    (put(f"{S}/table/rows/0/day", "2026-02-30"), "INVALID_DATE", "sections[0].table.rows[0].day"),
    (put(f"{S}/table/rows/0/sku", 5), "INVALID", "sections[0].table.rows[0].sku"),
    (put(f"{S}/table/rows/0/colour", "red"), "INVALID", "sections[0].table.rows[0].colour"),
    (put("generated_at", "2026-12-02T05:00:03"), "INVALID_DATETIME", "generated_at"),
    (put("currency", "EURO"), "INVALID_CURRENCY", "currency"),
    (put("locale", "xx-Nowhere"), "INVALID", "locale"),
    (put(f"{S}/figures/0/value", "1000000000000000"), "OUT_OF_RANGE", "sections[0].figures[0].value"),
    (put(f"{S}/figures/0/value", "1E+15"), "OUT_OF_RANGE", "sections[0].figures[0].value"),
    (put(f"{S}/figures/0/value", "1E-21"), "OUT_OF_RANGE", "sections[0].figures[0].value"),
    (put(f"{S}/figures/0/value", "1E+99999"), "INVALID_DECIMAL", "sections[0].figures[0].value"),
    (put(f"{S}/figures/0/value", "Infinity"), "INVALID_DECIMAL", "sections[0].figures[0].value"),
    (put(f"{S}/title", "x" * 1001), "TOO_LONG", "sections[0].title"),
    (put(f"{S}/table/rows/0/sku", "MUG\x00-1"), "INVALID_STRING", "sections[0].table.rows[0].sku"),
    (
        lambda d: d["sections"].append(copy.deepcopy(section(d))),
        "INVALID",
        "sections[1].key",
    ),
    (
        lambda d: d.update(sections=[{**section(d), "key": f"s{i}"} for i in range(LIMITS["sections"] + 1)]),
        "OUT_OF_RANGE",
        "sections",
    ),
    (
        lambda d: section(d)["table"].update(rows=[{"sku": "A"}] * (LIMITS["rows"] + 1)),
        "OUT_OF_RANGE",
        "sections[0].table.rows",
    ),
    (
        lambda d: d.update(
            sections=[
                {
                    "key": f"s{i}",
                    "title": "T",
                    "table": {"columns": [{"key": "a", "label": "A"}], "rows": [{"a": "x"}] * 4001},
                }
                for i in range(5)
            ]
        ),
        "OUT_OF_RANGE",
        "sections",
    ),
    (
        lambda d: section(d)["chart"].update(x=["d"] * 1001, series=[{"name": "S", "values": ["1"] * 1001}]),
        "OUT_OF_RANGE",
        "sections[0].chart.x",
    ),
    (
        lambda d: section(d)["chart"].update(
            series=[{"name": f"S{i}", "values": ["1", "2"]} for i in range(8)]
        ),
        "OUT_OF_RANGE",
        "sections[0].chart.series",
    ),
]


@pytest.mark.parametrize(("change", "code", "field"), REFUSALS)
def test_data_outside_the_shape_is_refused_with_a_typed_error(change: Any, code: str, field: str) -> None:
    data = report()
    change(data)
    for fmt in (ReportFormat.CSV, ReportFormat.PDF):
        with pytest.raises(ReportDataError) as caught:
            render(data, fmt)
        assert isinstance(caught.value, UserError)
        assert (caught.value.code, caught.value.field) == (code, field), caught.value.message


def test_refusals_name_the_problem() -> None:
    data = report()
    put(f"{S}/table/rows/0/revenue", 1.1)(data)
    with pytest.raises(ReportDataError, match="floats are not exact"):
        render(data, ReportFormat.CSV)
    with pytest.raises(ReportDataError, match="3 values for 2 x values") as caught:
        chart_png({"kind": "line", "x": ["a", "b"], "series": [{"name": "S", "values": ["1", "2", "3"]}]})
    assert caught.value.field == "chart.series[0].values"
    with pytest.raises(ReportDataError) as too_wide:
        chart_png(report()["sections"][0]["chart"], width=100_000)
    assert (too_wide.value.code, too_wide.value.field) == ("OUT_OF_RANGE", "width")
