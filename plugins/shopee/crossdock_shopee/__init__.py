"""Crossdock marketplace plugin for Shopee Open Platform."""

__version__ = "0.1.0"
