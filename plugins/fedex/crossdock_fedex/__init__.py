"""Crossdock carrier plugin for FedEx (FedEx Developer Portal REST APIs)."""

__version__ = "0.1.0"
