"""The Selling Partner Reports API 2021-06-30 calls the plugin's reports share: the returns
report (after-sales) and the Sales and Traffic report (``traffic.read``).

``createReport`` (``POST /reports/2021-06-30/reports``: ``reportType`` and ``marketplaceIds``
required, ``dataStartTime`` / ``dataEndTime`` ISO 8601 date-times, ``reportOptions`` a map of
strings; answered 202 with the ``reportId``), ``getReport`` (``processingStatus`` IN_QUEUE,
IN_PROGRESS, DONE, FATAL, CANCELLED; ``reportDocumentId`` once DONE) and
``getReportDocument`` (a pre-signed ``url``, ``compressionAlgorithm`` GZIP when compressed),
as reports_2021-06-30.json defines them. CANCELLED is not a failure: the model's
``processingStatus`` says a report is cancelled on request "or an automatic cancellation if
there is no data to return".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from crossdock import with_retries
from crossdock_amazon.aftersales import download
from crossdock_amazon.client import SpApiClient

__all__ = ["REPORTS_PATH", "create_report", "get_report", "report_document", "stamp"]

REPORTS_PATH = "/reports/2021-06-30"


def stamp(moment: datetime) -> str:
    """An ISO 8601 date-time in UTC, as the Reports API takes them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def create_report(
    api: SpApiClient,
    *,
    report_type: str,
    marketplace_id: str,
    start: datetime,
    end: datetime,
    options: Mapping[str, str] | None = None,
) -> str:
    """``createReport`` for one marketplace; the new report's id."""
    body: dict[str, Any] = {
        "reportType": report_type,
        "marketplaceIds": [marketplace_id],
        "dataStartTime": stamp(start),
        "dataEndTime": stamp(end),
    }
    if options:
        body["reportOptions"] = dict(options)
    answer = await api.call("POST", f"{REPORTS_PATH}/reports", body=body, operation="createReport")
    return str(answer["reportId"])


async def get_report(api: SpApiClient, report_id: str) -> Mapping[str, Any]:
    """``getReport``: the report with its ``processingStatus``."""
    answer = await api.call("GET", f"{REPORTS_PATH}/reports/{report_id}", operation="getReport")
    return answer if isinstance(answer, Mapping) else {}


async def report_document(api: SpApiClient, http: httpx.AsyncClient, document_id: str) -> bytes:
    """``getReportDocument`` and the download from its pre-signed URL (gunzipped), retried
    together: a pre-signed URL lives minutes, so a failed download asks for a new one."""

    async def read() -> bytes:
        document = await api.call(
            "GET", f"{REPORTS_PATH}/documents/{document_id}", operation="getReportDocument"
        )
        return await download(http, document)

    return await with_retries(read)
