"""Crossdock warehouse-system plugin for ShipBob (inventory, WROs, receipts, orders)."""

__version__ = "0.1.0"
