"""Entry point of the tax_us plugin: the ``us_sales_tax`` engine and US compliance checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock import ChannelOrder, TaxEngine, hookimpl
from crossdock_tax_us.engine import UsSalesTaxEngine
from crossdock_tax_us.rules import check_listing, check_order_line


@hookimpl
def crossdock_tax_engines() -> list[TaxEngine]:
    return [UsSalesTaxEngine()]


@hookimpl
def crossdock_order_checks(order: ChannelOrder) -> list[tuple[str, str]] | None:
    address = order.shipping_address
    if address is None or not address.country:
        return None
    holds = [
        hold
        for line in order.lines
        for hold in check_order_line(line.title or "", line.sku, address.country, address.region)
    ]
    return holds or None


@hookimpl
def crossdock_listing_checks(
    listing: Mapping[str, Any], connection: Mapping[str, Any]
) -> list[tuple[str, str]] | None:
    return check_listing(listing, connection.get("country")) or None
