"""Crossdock marketplace plugin for TikTok Shop."""

__version__ = "0.1.0"
