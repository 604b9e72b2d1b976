"""Entry point of the tax_us plugin: the ``us_sales_tax`` engine and US compliance checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock import ChannelOrder, TaxEngine, hookimpl
from crossdock_tax_us.engine import UsSalesTaxEngine, state_code
from crossdock_tax_us.rules import US_RULES


@hookimpl
def crossdock_tax_engines() -> list[TaxEngine]:
    return [UsSalesTaxEngine()]


@hookimpl
def crossdock_order_checks(order: ChannelOrder) -> list[tuple[str, str]] | None:
    address = order.shipping_address
    if address is None or US_RULES.country(address.country) != "US":
        return None
    state = state_code(address.region)
    holds = [
        finding.pair()
        for line in order.lines
        for finding in US_RULES.check_order_line(title=line.title, sku=line.sku, country="US", region=state)
    ]
    return holds or None


@hookimpl
def crossdock_listing_checks(
    listing: Mapping[str, Any], connection: Mapping[str, Any]
) -> list[tuple[str, str]] | None:
    return US_RULES.listing_problems(listing, connection.get("country")) or None
