"""Cash on delivery: where and up to how much, and the carrier's signed remittance report."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from crossdock_payments.cod import COD_LIMITS, CashOnDelivery, remittance_signature

from crossdock import ChannelError, Money, PaymentAccount, PaymentRequest, PaymentStatus

SECRET = "rem-secret-0123456789"
ACCOUNT = PaymentAccount(1, "acme", "cod", {"remittance_secret": SECRET})


def offered(country: str, amount: str, currency: str, account: PaymentAccount | None = None) -> bool:
    return bool(CashOnDelivery().payment_methods(country, Money.of(amount, currency), account))


@pytest.mark.parametrize("country", ["SG", "MY", "TH", "PH", "VN", "ID", "IN", "AE", "SA", "MX"])
def test_offered_where_common_up_to_the_limit(country: str) -> None:
    currency, ceiling = COD_LIMITS[country]
    assert offered(country, str(ceiling), currency)
    assert not offered(country, str(ceiling + 1), currency)


def test_not_offered_elsewhere_or_in_a_foreign_currency() -> None:
    assert not offered("DE", "20.00", "EUR")
    assert not offered("BR", "100.00", "BRL")  # Boleto/Pix do the cash job there
    assert not offered("US", "20.00", "USD")
    assert not offered("MY", "20.00", "SGD")  # the rider collects local cash
    assert not offered("MY", "0", "MYR")


def test_contract_method_uses_the_default_table() -> None:
    [option] = CashOnDelivery().payment_methods("VN", Money.of("450000", "VND"))
    assert (option.provider, option.method) == ("cod", "cod")
    assert option.rank < 10  # COD leads in Vietnam
    [option] = CashOnDelivery().payment_methods("SG", Money.of("45.00", "SGD"))
    assert option.rank > 20  # available, after cards and PayNow


def test_account_settings_override_limits() -> None:
    account = PaymentAccount(
        1,
        "acme",
        "cod",
        {"remittance_secret": SECRET},
        settings={"limits": {"MY": "2500", "SG": "0", "BR": "800"}},
    )
    assert offered("MY", "2400.00", "MYR", account)
    assert not offered("MY", "2400.00", "MYR")
    assert not offered("SG", "10.00", "SGD", account)  # switched off
    assert offered("BR", "100.00", "BRL", account)  # switched on
    assert not offered("BR", "900.00", "BRL", account)
    with pytest.raises(ChannelError) as caught:
        CashOnDelivery().limit("MY", {"limits": {"MY": "lots"}})
    assert caught.value.code == "SETTINGS"


async def test_create_payment_awaits_collection() -> None:
    request = PaymentRequest("ORD-1001", Money.of("89.9", "MYR"), "cod", "MY")
    payment = await CashOnDelivery().create_payment(ACCOUNT, request)
    assert payment.status == PaymentStatus.AWAITING_COLLECTION
    assert payment.provider_reference == "ORD-1001"
    assert payment.next_action == {
        "type": "cash_on_delivery",
        "collect": {"amount": "89.90", "currency": "MYR"},
    }


async def test_create_payment_above_the_limit_is_refused() -> None:
    request = PaymentRequest("ORD-1002", Money.of("1500.01", "MYR"), "cod", "MY")
    with pytest.raises(ChannelError) as caught:
        await CashOnDelivery().create_payment(ACCOUNT, request)
    assert caught.value.code == "METHOD_NOT_AVAILABLE"
    assert "1500" in caught.value.message


def report(*lines: Mapping[str, object]) -> bytes:
    return json.dumps(list(lines)).encode()


LINE: dict[str, object] = {
    "tracking_number": "NV123456789MY",
    "order_reference": "ORD-1001",
    "collected": {"amount": "89.90", "currency": "MYR"},
    "collected_at": "2026-11-20T10:15:00+08:00",
}


def test_remittance_report_becomes_collected_events() -> None:
    second = {
        **LINE,
        "tracking_number": "NV987654321MY",
        "order_reference": "ORD-1003",
        "collected": {"amount": 12.5, "currency": "MYR"},
    }
    body = report(LINE, second)
    events = CashOnDelivery().parse_webhook(
        ACCOUNT, {"X-Crossdock-Signature": remittance_signature(SECRET, body)}, body
    )
    assert [(e.type, e.payment_reference, e.amount) for e in events] == [
        ("payment.collected", "ORD-1001", Money.of("89.90", "MYR")),
        ("payment.collected", "ORD-1003", Money.of("12.5", "MYR")),
    ]
    assert events[1].raw["collected"] == {"amount": "12.5", "currency": "MYR"}
    # the same line in a later report has the same event id; different lines differ
    again = report(LINE)
    [repeat] = CashOnDelivery().parse_webhook(
        ACCOUNT, {"x-crossdock-signature": remittance_signature(SECRET, again)}, again
    )
    assert repeat.event_id == events[0].event_id
    assert events[0].event_id != events[1].event_id


def test_tampered_or_unsigned_reports_are_rejected() -> None:
    body = report(LINE)
    signature = remittance_signature(SECRET, body)
    tampered = body.replace(b"89.90", b"8.99")
    for headers, payload in [
        ({"X-Crossdock-Signature": signature}, tampered),
        ({}, body),
        ({"X-Crossdock-Signature": remittance_signature("other", body)}, body),
        ({"X-Crossdock-Signature": signature[:-2]}, body),
    ]:
        with pytest.raises(ChannelError) as caught:
            CashOnDelivery().parse_webhook(ACCOUNT, headers, payload)
        assert caught.value.code == "SIGNATURE"


def test_missing_secret_and_malformed_lines() -> None:
    with pytest.raises(ChannelError) as caught:
        CashOnDelivery().parse_webhook(PaymentAccount(2, "acme", "cod", {}), {}, b"[]")
    assert caught.value.code == "CREDENTIALS"
    for bad in (
        b"{}",
        b"not json",
        report({**LINE, "collected": {"amount": "x", "currency": "MYR"}}),
        report({"tracking_number": "A"}),
    ):
        with pytest.raises(ChannelError) as caught:
            CashOnDelivery().parse_webhook(
                ACCOUNT, {"X-Crossdock-Signature": remittance_signature(SECRET, bad)}, bad
            )
        assert caught.value.code == "MALFORMED"
