"""The payment providers: Stripe, cash on delivery and bank transfer."""

from __future__ import annotations

from crossdock_payments.bank_transfer import BankTransfer
from crossdock_payments.cod import CashOnDelivery
from crossdock_payments.stripe_provider import Stripe

__all__ = ["BankTransfer", "CashOnDelivery", "Stripe"]
