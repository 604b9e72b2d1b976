"""Crossdock marketplace plugin for Lazada Open Platform."""

__version__ = "0.1.0"
