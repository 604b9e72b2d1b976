"""Crossdock translator plugin for DeepL (API v2: ``POST /v2/translate`` and glossaries)."""

__version__ = "0.1.0"
