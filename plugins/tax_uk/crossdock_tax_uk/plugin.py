"""Entry point of the tax_uk plugin: the ``uk_vat`` engine and UK compliance checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock import ChannelOrder, TaxEngine, hookimpl
from crossdock_tax_uk.engine import UkVatEngine
from crossdock_tax_uk.rules import UK_RULES


@hookimpl
def crossdock_tax_engines() -> list[TaxEngine]:
    return [UkVatEngine()]


@hookimpl
def crossdock_order_checks(order: ChannelOrder) -> list[tuple[str, str]] | None:
    return UK_RULES.order_holds(order) or None


@hookimpl
def crossdock_listing_checks(
    listing: Mapping[str, Any], connection: Mapping[str, Any]
) -> list[tuple[str, str]] | None:
    return UK_RULES.listing_problems(listing, connection.get("country")) or None
