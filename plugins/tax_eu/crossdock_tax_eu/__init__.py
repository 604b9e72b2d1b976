"""Crossdock EU VAT plugin: the ``eu_vat`` tax engine and EU compliance rules."""

from crossdock_tax_eu.engine import EU_OSS_KEY, EuVatEngine

__all__ = ["EU_OSS_KEY", "EuVatEngine"]
