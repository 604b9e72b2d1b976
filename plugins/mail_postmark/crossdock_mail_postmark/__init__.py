"""Crossdock mailer plugin for Postmark (the Email API's ``POST /email``)."""

__version__ = "0.1.0"
