"""The payments plugin registers three providers and declares what each really does."""

from __future__ import annotations

from crossdock import Money, PaymentAccount
from crossdock.testing import load_plugins


def test_three_payment_providers_through_the_entry_point() -> None:
    plugins = load_plugins(allow=["payments"])
    assert plugins.failures == {}
    assert {(i.name, i.kind.value, i.capabilities) for i in plugins.infos} == {
        (
            "stripe",
            "payment",
            ("payments.charge", "payments.methods", "payments.refund", "payments.webhooks"),
        ),
        ("cod", "payment", ("payments.charge", "payments.methods", "payments.webhooks")),
        ("bank_transfer", "payment", ("payments.charge", "payments.methods")),
    }
    # the Stripe emulator is found through crossdock_emulators (core tests refund against it)
    assert plugins.emulators["stripe"].__name__ == "StripeEmulator"


def test_methods_offered_for_a_malaysian_checkout() -> None:
    plugins = load_plugins(allow=["payments"])
    offered = {
        name: [o.method for o in provider.payment_methods("MY", Money.of("25.00", "MYR"))]
        for name, provider in plugins.payment_providers.items()
    }
    assert offered == {
        "stripe": ["fpx", "card", "grabpay"],
        "cod": ["cod"],
        "bank_transfer": [],  # without an account there are no bank details to offer
    }
    account = PaymentAccount(
        id=1,
        tenant="t",
        provider="bank_transfer",
        credentials={},
        settings={
            "accounts": {"MYR": {"bank": "Maybank", "account_number": "514012345678", "holder": "Acme"}}
        },
    )
    transfer = plugins.payment_providers["bank_transfer"]
    assert [o.method for o in transfer.payment_methods("MY", Money.of("25.00", "MYR"), account)] == [
        "bank_transfer"
    ]
