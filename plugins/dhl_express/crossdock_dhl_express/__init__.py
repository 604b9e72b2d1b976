"""Crossdock carrier plugin for DHL Express, through the MyDHL API (REST, JSON)."""

__version__ = "0.1.0"
