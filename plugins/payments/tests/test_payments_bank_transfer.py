"""Bank transfer: offered per currency the seller has an account in, with a checked reference."""

from __future__ import annotations

import pytest
from crossdock_payments.bank_transfer import BankTransfer, transfer_reference, valid_reference
from stdnum import iso11649

from crossdock import ChannelError, Money, PaymentAccount, PaymentRequest, PaymentStatus

ACCOUNTS = {
    "EUR": {"iban": "NL91 ABNA 0417 1643 00", "bic": "ABNANL2A", "holder": "Acme B.V."},
    "SGD": {
        "bank": "DBS Bank",
        "account_number": "0123456789",
        "swift": "DBSSSGSG",
        "holder": "Acme Pte Ltd",
    },
}
ACCOUNT = PaymentAccount(1, "acme", "bank_transfer", {}, settings={"accounts": ACCOUNTS})


def test_reference_is_an_iso11649_creditor_reference() -> None:
    reference = transfer_reference("order-2026-000123")
    assert iso11649.is_valid(reference)
    assert valid_reference(reference)
    assert reference.startswith("RF") and len(reference) == 14
    assert reference[2:].isdigit()  # easy to read out and type
    assert transfer_reference("order-2026-000123") == reference  # a retry gets the same one
    assert transfer_reference("order-2026-000124") != reference


def test_check_digits_catch_typos() -> None:
    reference = transfer_reference("order-42")
    assert valid_reference(" ".join(reference[i : i + 4] for i in range(0, 14, 4)).lower())
    body = reference[4:]
    for position in range(len(body)):
        for replacement in "0123456789":
            if replacement == body[position]:
                continue
            typo = reference[:4] + body[:position] + replacement + body[position + 1 :]
            assert not valid_reference(typo), typo
    for position in range(len(body) - 1):
        swapped = reference[:4] + body[:position] + body[position + 1] + body[position] + body[position + 2 :]
        assert swapped == reference or not valid_reference(swapped), swapped
    assert not valid_reference("RF")
    assert not valid_reference("XX00ABCD")


def test_offered_only_for_currencies_with_bank_details() -> None:
    provider = BankTransfer()
    assert [o.method for o in provider.payment_methods("NL", Money.of("40.00", "EUR"), ACCOUNT)] == [
        "bank_transfer"
    ]
    assert provider.payment_methods("SG", Money.of("40.00", "SGD"), ACCOUNT)
    assert provider.payment_methods("US", Money.of("40.00", "USD"), ACCOUNT) == ()
    # without an account (the contract's payment_methods) only provider-wide settings count
    assert provider.payment_methods("NL", Money.of("40.00", "EUR")) == ()
    assert BankTransfer({"accounts": {"EUR": ACCOUNTS["EUR"]}}).payment_methods(
        "NL", Money.of("40.00", "EUR")
    )


async def test_create_payment_gives_bank_details_and_reference() -> None:
    request = PaymentRequest("order-77", Money.of("120.5", "EUR"), "bank_transfer", "DE")
    payment = await BankTransfer().create_payment(ACCOUNT, request)
    assert payment.status == PaymentStatus.AWAITING_TRANSFER
    action = payment.next_action
    assert action is not None
    assert action["type"] == "bank_transfer"
    assert action["reference"] == payment.provider_reference == transfer_reference("order-77")
    assert action["amount"] == {"amount": "120.50", "currency": "EUR"}
    assert action["bank"]["iban"] == "NL91ABNA0417164300"
    assert action["bank"]["iban_display"] == "NL91 ABNA 0417 1643 00"
    assert action["bank"]["holder"] == "Acme B.V."
    sgd = await BankTransfer().create_payment(
        ACCOUNT, PaymentRequest("order-78", Money.of("30", "SGD"), "bank_transfer", "SG")
    )
    assert sgd.next_action is not None and sgd.next_action["bank"]["account_number"] == "0123456789"


async def test_no_account_for_the_currency() -> None:
    with pytest.raises(ChannelError) as caught:
        await BankTransfer().create_payment(
            ACCOUNT, PaymentRequest("o", Money.of("10", "USD"), "bank_transfer", "US")
        )
    assert caught.value.code == "METHOD_NOT_AVAILABLE"


@pytest.mark.parametrize(
    "details",
    [
        {"iban": "NL91ABNA0417164301", "holder": "Acme"},  # checksum
        {"iban": "NL91ABNA04171643", "holder": "Acme"},  # length
        {"iban": "XX91ABNA0417164300", "holder": "Acme"},  # country
        {"iban": "NL91ABNA0417164300", "bic": "ABNA NL", "holder": "Acme"},  # BIC
        {"iban": "NL91ABNA0417164300"},  # no holder
        {"holder": "Acme"},  # neither IBAN nor account number
    ],
)
async def test_bad_bank_details_are_refused_clearly(details: dict[str, str]) -> None:
    account = PaymentAccount(1, "acme", "bank_transfer", {}, settings={"accounts": {"EUR": details}})
    with pytest.raises(ChannelError) as caught:
        BankTransfer().payment_methods("NL", Money.of("10.00", "EUR"), account)
    assert caught.value.code == "INVALID_BANK_DETAILS"
    assert "EUR" in caught.value.message
    with pytest.raises(ChannelError) as caught:
        await BankTransfer().create_payment(
            account, PaymentRequest("o", Money.of("10.00", "EUR"), "bank_transfer", "NL")
        )
    assert caught.value.code == "INVALID_BANK_DETAILS"
