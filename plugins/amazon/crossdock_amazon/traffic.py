"""Traffic: the Selling Partner API's Sales and Traffic report (``traffic.read``).

``GET_SALES_AND_TRAFFIC_REPORT`` (Reports API 2021-06-30; the document is JSON as
schemas/reports/sellerSalesAndTrafficReport.json in amzn/selling-partner-api-models
describes it) with ``reportOptions`` ``dateGranularity`` DAY and ``asinGranularity`` SKU:

- ``salesAndTrafficByDate``: one entry per day of the range (``date``), the shop's totals:
  ``trafficByDate.sessions`` / ``pageViews``, ``salesByDate.unitsOrdered`` /
  ``totalOrderItems`` / ``orderedProductSales`` (``amount``, ``currencyCode``);
- ``salesAndTrafficByAsin``: one entry per SKU (``parentAsin``, ``childAsin``, ``sku``) with
  ``trafficByAsin`` and ``salesByAsin``, **aggregated over the whole requested range**: it
  has no date. A report over several days cannot say which day a SKU's sessions came on.

So the plugin asks for **one report per day** (``dataStartTime`` and ``dataEndTime`` on the
same date; "the time component is ignored"), and each :class:`crossdock.TrafficMetric` is
one day: the day's total (``sku`` None) and the day's rows per SKU. ``orders`` is Amazon's
``totalOrderItems`` (order items: an order of two SKUs counts once for each SKU, twice in
the shop's total, the count behind Amazon's own "order item session percentage").

Reports are asked for one per call, then polled and read one per call across the core's
calls (the page token names the days still to ask for and the report ids); a report
CANCELLED by Amazon has no data (reports_2021-06-30.json ``processingStatus``: "an
automatic cancellation if there is no data to return", also what a day more than two years
back gets), so that day has no rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from crossdock import ChannelConnection, ChannelError, Money, TrafficMetric, TrafficPage
from crossdock_amazon.client import SpApiClient
from crossdock_amazon.reports import create_report, get_report, report_document

__all__ = ["REPORT_OPTIONS", "SALES_AND_TRAFFIC_REPORT", "TrafficReader", "traffic_metrics"]

SALES_AND_TRAFFIC_REPORT = "GET_SALES_AND_TRAFFIC_REPORT"
REPORT_OPTIONS = {"dateGranularity": "DAY", "asinGranularity": "SKU"}
#: the first wait before polling (``settings.report_poll_seconds``), doubling up to the cap
FIRST_POLL = 10.0
POLL_CAP = 300.0


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return int(_decimal(value))


def _money(value: Any, currency: str) -> Money | None:
    if not isinstance(value, Mapping) or value.get("amount") is None:
        return None
    return Money(_decimal(value["amount"]), str(value.get("currencyCode") or currency))


def traffic_metrics(document: bytes, day: date, currency: str) -> list[TrafficMetric]:
    """The day's rows of a one-day Sales and Traffic report: the shop's total, then one per
    SKU (a SKU listed twice, under two parent ASINs, is added up)."""
    try:
        report = json.loads(document, parse_float=Decimal)
    except ValueError:
        raise ChannelError(
            "amazon sales and traffic report is not JSON", code="MALFORMED", retryable=True
        ) from None
    if not isinstance(report, Mapping):
        raise ChannelError(
            "amazon sales and traffic report is not an object", code="MALFORMED", retryable=True
        )
    metrics: list[TrafficMetric] = []
    for entry in report.get("salesAndTrafficByDate") or []:
        if not isinstance(entry, Mapping) or str(entry.get("date")) != day.isoformat():
            continue
        traffic, sales = entry.get("trafficByDate") or {}, entry.get("salesByDate") or {}
        metrics.append(
            TrafficMetric(
                day=day,
                sessions=_int(traffic.get("sessions")),
                page_views=_int(traffic.get("pageViews")),
                sku=None,
                units_ordered=_int(sales.get("unitsOrdered")),
                orders=_int(sales.get("totalOrderItems")),
                sales=_money(sales.get("orderedProductSales"), currency),
            )
        )
    by_sku: dict[str, TrafficMetric] = {}
    for entry in report.get("salesAndTrafficByAsin") or []:
        if not isinstance(entry, Mapping) or not entry.get("sku"):
            continue  # only SKU granularity names the seller's SKU
        sku = str(entry["sku"])
        traffic, sales = entry.get("trafficByAsin") or {}, entry.get("salesByAsin") or {}
        row = TrafficMetric(
            day=day,
            sessions=_int(traffic.get("sessions")),
            page_views=_int(traffic.get("pageViews")),
            sku=sku,
            units_ordered=_int(sales.get("unitsOrdered")),
            orders=_int(sales.get("totalOrderItems")),
            sales=_money(sales.get("orderedProductSales"), currency),
        )
        known = by_sku.get(sku)
        if known is not None:
            total = (known.sales.amount if known.sales else Decimal(0)) + (
                row.sales.amount if row.sales else Decimal(0)
            )
            row = TrafficMetric(
                day=day,
                sessions=known.sessions + row.sessions,
                page_views=known.page_views + row.page_views,
                sku=sku,
                units_ordered=(known.units_ordered or 0) + (row.units_ordered or 0),
                orders=(known.orders or 0) + (row.orders or 0),
                sales=Money(total, (row.sales or known.sales or Money(Decimal(0), currency)).currency),
            )
        by_sku[sku] = row
    return metrics + [by_sku[s] for s in sorted(by_sku)]


def _encode(state: Mapping[str, Any]) -> str:
    return "traffic:" + json.dumps(state, separators=(",", ":"))


def _decode(token: str) -> dict[str, Any] | None:
    if not token.startswith("traffic:"):
        return None
    try:
        state = json.loads(token[len("traffic:") :])
    except ValueError:
        return None
    return state if isinstance(state, dict) and isinstance(state.get("d"), list) else None


class TrafficReader:
    """``fetch_traffic`` for the Amazon provider (see the module docstring)."""

    @staticmethod
    def _delay(conn: ChannelConnection, polls: int) -> float:
        first = float(conn.settings.get("report_poll_seconds", FIRST_POLL))
        return float(min(POLL_CAP, first * 2 ** min(polls, 16)))

    async def fetch(
        self,
        conn: ChannelConnection,
        api: SpApiClient,
        http: httpx.AsyncClient,
        marketplace_id: str,
        *,
        day_from: date,
        day_to: date,
        page_token: str | None,
    ) -> TrafficPage:
        state = _decode(page_token) if page_token else None
        if state is None:
            days = [(day_from + timedelta(days=i)).isoformat() for i in range((day_to - day_from).days + 1)]
            if not days:
                return TrafficPage()
            state = {"d": days, "r": [], "n": 0}
        if state["d"]:
            day = date.fromisoformat(state["d"][0])
            start = datetime.combine(day, time(0, 0), UTC)
            report_id = await create_report(
                api,
                report_type=SALES_AND_TRAFFIC_REPORT,
                marketplace_id=marketplace_id,
                start=start,
                end=start + timedelta(hours=23, minutes=59, seconds=59),
                options=REPORT_OPTIONS,
            )
            state["r"].append([state["d"].pop(0), report_id])
            if state["d"]:
                return TrafficPage(next_page_token=_encode(state))
            state["n"] = 0
            return TrafficPage(ready=False, retry_after=self._delay(conn, 0), next_page_token=_encode(state))
        day_text, report_id = state["r"][0]
        report = await get_report(api, str(report_id))
        status = report.get("processingStatus")
        if status == "FATAL":
            raise ChannelError(
                f"amazon could not make the sales and traffic report for {day_text} (report {report_id})",
                code="REPORT_FATAL",
            )
        metrics: list[TrafficMetric] = []
        if status == "DONE" and report.get("reportDocumentId"):
            document = await report_document(api, http, str(report["reportDocumentId"]))
            metrics = traffic_metrics(document, date.fromisoformat(day_text), conn.currency)
        elif status != "CANCELLED":  # IN_QUEUE, IN_PROGRESS (or DONE before its document)
            for _, later in state["r"][1:]:  # made side by side: look at the others now
                await get_report(api, str(later))
            state["n"] += 1
            return TrafficPage(
                ready=False, retry_after=self._delay(conn, state["n"]), next_page_token=_encode(state)
            )
        # CANCELLED: Amazon had no data for the day
        state["r"].pop(0)
        state["n"] = 0
        return TrafficPage(metrics=metrics, next_page_token=_encode(state) if state["r"] else None)
