"""Crossdock plugin: the European Central Bank's euro foreign exchange reference rates."""

__version__ = "0.1.0"
