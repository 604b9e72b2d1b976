"""Amazon passes the advertising and traffic conformance suite: Sponsored Products read from
the Amazon Ads API v3 (campaigns, then the daily reports made, polled and downloaded across
jobs), traffic from the Sales and Traffic report (one per day), all through faults."""

from __future__ import annotations

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.conformance import AdsConformance
from crossdock.testing.emulator import Faults

#: the Reports API calls traffic makes (Amazon's default plans, e.g. createReport 0.0167/s
#: burst 15, would make a run with retries wait a minute a call)
OPERATIONS = ("createReport", "getReport", "getReportDocument")


class TestAmazonAds(AdsConformance):
    channel = "amazon"
    site = "US"
    settings = {
        "timeout": 0.5,
        "report_poll_seconds": 0.01,
        "rate_limits": {op: {"rate": 500, "burst": 500} for op in OPERATIONS},
    }

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)
