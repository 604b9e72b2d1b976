"""The payment providers. None offers a method yet (``capabilities`` is empty): the Stripe
client, COD limits per country and bank-transfer instructions come with the money issue."""

from __future__ import annotations

from crossdock import PaymentBase
from crossdock_payments import __version__

__all__ = ["BankTransfer", "CashOnDelivery", "Stripe"]


class Stripe(PaymentBase):
    name = "stripe"
    display_name = "Stripe"
    version = __version__
    capabilities: frozenset[str] = frozenset()


class CashOnDelivery(PaymentBase):
    name = "cod"
    display_name = "Cash on delivery"
    version = __version__
    capabilities: frozenset[str] = frozenset()


class BankTransfer(PaymentBase):
    name = "bank_transfer"
    display_name = "Bank transfer"
    version = __version__
    capabilities: frozenset[str] = frozenset()
