"""Crossdock US sales tax plugin: the ``us_sales_tax`` engine and US compliance rules."""

from crossdock_tax_us.engine import UsSalesTaxEngine
from crossdock_tax_us.states import NO_SALES_TAX, STATES, StateRule

__all__ = ["NO_SALES_TAX", "STATES", "StateRule", "UsSalesTaxEngine"]
