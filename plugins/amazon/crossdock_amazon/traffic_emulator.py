"""The emulator's Sales and Traffic report (``GET_SALES_AND_TRAFFIC_REPORT``): visits to the
seller's listings (``add_traffic``) and the orders the emulator holds, per day and SKU, as
schemas/reports/sellerSalesAndTrafficReport.json (amzn/selling-partner-api-models) shapes the
document:

- ``reportOptions``: ``dateGranularity`` DAY (default), WEEK (periods from Sunday) or MONTH,
  ``asinGranularity`` PARENT (default), CHILD or SKU; other values are refused;
- ``salesAndTrafficByDate``: one entry per period of the range, the range widened to whole
  weeks or months as the schema says, with every required field;
- ``salesAndTrafficByAsin``: one entry per ASIN (and SKU) **over the whole range**, no date;
- a report naming several marketplaces ends FATAL ("supports only one marketplaceId per
  report"), one starting more than two years back is CANCELLED ("the report will be
  cancelled").

Sessions of the shop are the sum of its SKUs' (each ``add_traffic`` is visits of their
own); a session is split two to one between browser and app. Orders count on the day they
were placed, cancelled ones not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crossdock_amazon.emulator import AmazonEmulator

__all__ = ["SALES_AND_TRAFFIC_REPORT", "TrafficBook"]

SALES_AND_TRAFFIC_REPORT = "GET_SALES_AND_TRAFFIC_REPORT"
DATE_GRANULARITIES = ("DAY", "WEEK", "MONTH")
ASIN_GRANULARITIES = ("PARENT", "CHILD", "SKU")
CENT = Decimal("0.01")


def _period(day: date, granularity: str) -> date:
    """The first day of the period ``day`` falls in."""
    if granularity == "WEEK":
        return day - timedelta(days=(day.weekday() + 1) % 7)  # weeks start on Sunday
    if granularity == "MONTH":
        return day.replace(day=1)
    return day


def _period_end(day: date, granularity: str) -> date:
    if granularity == "WEEK":
        return _period(day, "WEEK") + timedelta(days=6)
    if granularity == "MONTH":
        following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)
    return day


def _amount(value: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": float(value.quantize(CENT, ROUND_HALF_UP)), "currencyCode": currency}


def _percent(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


@dataclass
class Counts:
    sessions: int = 0
    page_views: int = 0
    units: int = 0
    items: int = 0
    sales: Decimal = Decimal(0)
    shipped_units: int = 0
    shipped_sales: Decimal = Decimal(0)
    shipped_orders: int = 0

    def add(self, other: Counts) -> None:
        self.sessions += other.sessions
        self.page_views += other.page_views
        self.units += other.units
        self.items += other.items
        self.sales += other.sales
        self.shipped_units += other.shipped_units
        self.shipped_sales += other.shipped_sales
        self.shipped_orders += other.shipped_orders


class TrafficBook:
    """Visits per (seller, marketplace, day, SKU), and the report built from them."""

    def __init__(self, emulator: AmazonEmulator) -> None:
        self.emulator = emulator
        self.visits: dict[tuple[str, str, date, str], list[int]] = {}

    def add(
        self, seller: str, marketplace_id: str, day: date, sku: str, sessions: int, page_views: int
    ) -> None:
        held = self.visits.setdefault((seller, marketplace_id, day, sku), [0, 0])
        held[0] += sessions
        held[1] += page_views

    @staticmethod
    def invalid_options(options: Any) -> str | None:
        if options is None:
            return None
        if not isinstance(options, Mapping) or not all(isinstance(v, str) for v in options.values()):
            return "reportOptions must map names to strings"
        if options.get("dateGranularity", "DAY") not in DATE_GRANULARITIES:
            return f"Invalid dateGranularity: {options['dateGranularity']}"
        if options.get("asinGranularity", "PARENT") not in ASIN_GRANULARITIES:
            return f"Invalid asinGranularity: {options['asinGranularity']}"
        return None

    def _days(
        self, seller: str, marketplace_id: str, first: date, last: date
    ) -> dict[tuple[date, str], Counts]:
        """Counts per (day, SKU) in ``first..last``: visits and the orders placed."""
        found: dict[tuple[date, str], Counts] = {}
        for (who, market, day, sku), (sessions, views) in self.visits.items():
            if who == seller and market == marketplace_id and first <= day <= last:
                counts = found.setdefault((day, sku), Counts())
                counts.sessions += sessions
                counts.page_views += views
        emulator = self.emulator
        for order_id, order in emulator.orders.items():
            if order["_seller"] != seller or order["MarketplaceId"] != marketplace_id:
                continue
            if order["OrderStatus"] == "Canceled":
                continue
            placed = (
                datetime.fromisoformat(order["PurchaseDate"].replace("Z", "+00:00")).astimezone(UTC).date()
            )
            if not first <= placed <= last:
                continue
            for item in emulator.items[order_id]:
                counts = found.setdefault((placed, str(item["SellerSKU"])), Counts())
                quantity = int(item["QuantityOrdered"])
                price = Decimal(str(item["ItemPrice"]["Amount"]))
                counts.units += quantity
                counts.items += 1
                counts.sales += price
                if int(item.get("QuantityShipped") or 0) > 0:
                    counts.shipped_units += int(item["QuantityShipped"])
                    counts.shipped_sales += price
                    counts.shipped_orders += 1
        return found

    def document(
        self,
        seller: str,
        marketplace_ids: Sequence[str],
        start: date,
        end: date,
        options: Mapping[str, str] | None,
        currency: str,
    ) -> bytes:
        options = dict(options or {})
        by_date, by_asin = options.get("dateGranularity", "DAY"), options.get("asinGranularity", "PARENT")
        first, last = _period(start, by_date), _period_end(end, by_date)
        counts = self._days(seller, marketplace_ids[0], first, last)
        periods: dict[date, Counts] = {}
        day = first
        while day <= last:
            periods.setdefault(_period(day, by_date), Counts())
            day += timedelta(days=1)
        asins: dict[str, Counts] = {}
        for (day, sku), found in counts.items():
            periods[_period(day, by_date)].add(found)
            asins.setdefault(sku, Counts()).add(found)
        total_sessions = sum(c.sessions for c in asins.values())
        total_views = sum(c.page_views for c in asins.values())
        report = {
            "reportSpecification": {
                "reportType": SALES_AND_TRAFFIC_REPORT,
                "reportOptions": {"dateGranularity": by_date, "asinGranularity": by_asin},
                "dataStartTime": start.isoformat(),
                "dataEndTime": end.isoformat(),
                "marketplaceIds": list(marketplace_ids),
            },
            "salesAndTrafficByDate": [
                self._by_date(period, found, currency) for period, found in sorted(periods.items())
            ],
            "salesAndTrafficByAsin": [
                self._by_asin(sku, found, by_asin, currency, total_sessions, total_views)
                for sku, found in sorted(asins.items())
            ],
        }
        return json.dumps(report).encode()

    @staticmethod
    def _by_date(period: date, found: Counts, currency: str) -> dict[str, Any]:
        browser_sessions = found.sessions * 2 // 3
        browser_views = found.page_views * 2 // 3
        average_item = found.sales / found.items if found.items else Decimal(0)
        average_unit = found.sales / found.units if found.units else Decimal(0)
        return {
            "date": period.isoformat(),
            "salesByDate": {
                "orderedProductSales": _amount(found.sales, currency),
                "unitsOrdered": found.units,
                "totalOrderItems": found.items,
                "averageSalesPerOrderItem": _amount(average_item, currency),
                "averageUnitsPerOrderItem": round(found.units / found.items, 2) if found.items else 0.0,
                "averageSellingPrice": _amount(average_unit, currency),
                "unitsRefunded": 0,
                "refundRate": 0.0,
                "claimsGranted": 0,
                "claimsAmount": _amount(Decimal(0), currency),
                "shippedProductSales": _amount(found.shipped_sales, currency),
                "unitsShipped": found.shipped_units,
                "ordersShipped": found.shipped_orders,
            },
            "trafficByDate": {
                "browserPageViews": browser_views,
                "mobileAppPageViews": found.page_views - browser_views,
                "pageViews": found.page_views,
                "browserSessions": browser_sessions,
                "mobileAppSessions": found.sessions - browser_sessions,
                "sessions": found.sessions,
                "buyBoxPercentage": 100.0 if found.page_views else 0.0,
                "orderItemSessionPercentage": _percent(found.items, found.sessions),
                "unitSessionPercentage": _percent(found.units, found.sessions),
                "averageOfferCount": 0,
                "averageParentItems": 0,
                "feedbackReceived": 0,
                "negativeFeedbackReceived": 0,
                "receivedNegativeFeedbackRate": 0.0,
            },
        }

    def _by_asin(
        self, sku: str, found: Counts, granularity: str, currency: str, all_sessions: int, all_views: int
    ) -> dict[str, Any]:
        from crossdock_amazon.emulator import asin_of

        asin = asin_of(sku)
        browser_sessions = found.sessions * 2 // 3
        browser_views = found.page_views * 2 // 3
        row: dict[str, Any] = {"parentAsin": asin}
        if granularity in ("CHILD", "SKU"):
            row["childAsin"] = asin
        if granularity == "SKU":
            row["sku"] = sku
        row["salesByAsin"] = {
            "unitsOrdered": found.units,
            "orderedProductSales": _amount(found.sales, currency),
            "totalOrderItems": found.items,
        }
        row["trafficByAsin"] = {
            "browserSessions": browser_sessions,
            "mobileAppSessions": found.sessions - browser_sessions,
            "sessions": found.sessions,
            "browserSessionPercentage": _percent(browser_sessions, all_sessions),
            "mobileAppSessionPercentage": _percent(found.sessions - browser_sessions, all_sessions),
            "sessionPercentage": _percent(found.sessions, all_sessions),
            "browserPageViews": browser_views,
            "mobileAppPageViews": found.page_views - browser_views,
            "pageViews": found.page_views,
            "browserPageViewsPercentage": _percent(browser_views, all_views),
            "mobileAppPageViewsPercentage": _percent(found.page_views - browser_views, all_views),
            "pageViewsPercentage": _percent(found.page_views, all_views),
            "buyBoxPercentage": 100.0 if found.page_views else 0.0,
            "unitSessionPercentage": _percent(found.units, found.sessions),
        }
        return row
