"""Entry point of the payments plugin."""

from __future__ import annotations

from crossdock import PaymentProvider, hookimpl
from crossdock_payments.providers import BankTransfer, CashOnDelivery, Stripe


@hookimpl
def crossdock_payment_providers() -> list[PaymentProvider]:
    return [Stripe(), CashOnDelivery(), BankTransfer()]
