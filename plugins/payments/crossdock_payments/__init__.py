"""Crossdock payment providers: Stripe, cash on delivery, bank transfer."""

__version__ = "0.1.0"
