"""Crossdock UK VAT plugin: the ``uk_vat`` tax engine and UK compliance rules."""

from crossdock_tax_uk.engine import LOW_VALUE_LIMIT, UkVatEngine

__all__ = ["LOW_VALUE_LIMIT", "UkVatEngine"]
