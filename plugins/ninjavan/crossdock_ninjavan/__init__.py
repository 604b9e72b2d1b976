"""Crossdock carrier plugin for Ninja Van (Ninja API: orders, waybills, tracking)."""

__version__ = "0.1.0"
