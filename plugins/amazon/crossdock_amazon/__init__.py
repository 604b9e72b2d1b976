"""Crossdock marketplace plugin for Amazon Selling Partner API."""

__version__ = "0.1.0"
