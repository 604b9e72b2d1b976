"""Entry point of the tax_eu plugin: the ``eu_vat`` engine and EU compliance checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock import ChannelOrder, TaxEngine, hookimpl
from crossdock_tax_eu.engine import EuVatEngine
from crossdock_tax_eu.rules import EU_RULES


@hookimpl
def crossdock_tax_engines() -> list[TaxEngine]:
    return [EuVatEngine()]


@hookimpl
def crossdock_order_checks(order: ChannelOrder) -> list[tuple[str, str]] | None:
    return EU_RULES.order_holds(order) or None


@hookimpl
def crossdock_listing_checks(
    listing: Mapping[str, Any], connection: Mapping[str, Any]
) -> list[tuple[str, str]] | None:
    return EU_RULES.listing_problems(listing, connection.get("country")) or None
