"""Crossdock identity plugin: OpenID Connect login (authorization code flow with PKCE)."""

__version__ = "0.1.0"
