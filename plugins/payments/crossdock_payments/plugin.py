"""Entry point of the payments plugin: the providers and the Stripe emulator."""

from __future__ import annotations

from crossdock import PaymentProvider, hookimpl
from crossdock_payments.providers import BankTransfer, CashOnDelivery, Stripe


@hookimpl
def crossdock_payment_providers() -> list[PaymentProvider]:
    return [Stripe(), CashOnDelivery(), BankTransfer()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_payments.stripe_emulator import StripeEmulator

    return [StripeEmulator]
