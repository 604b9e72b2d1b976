"""Stripe through the official library, over real HTTP on loopback, against the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from crossdock_payments.stripe_emulator import StripeEmulator, decode_form
from crossdock_payments.stripe_provider import PaymentDeclined, Stripe

from crossdock import ChannelError, Money, PaymentAccount, PaymentRequest, PaymentStatus
from crossdock.testing.emulator import Faults, serve


@dataclass
class Env:
    emulator: StripeEmulator
    credentials: dict[str, str]
    account: PaymentAccount
    provider: Stripe

    def card(self, reference: str, amount: Money, pm: str = "pm_card_visa", **kw: Any) -> PaymentRequest:
        return PaymentRequest(reference, amount, "card", kw.pop("country", "NL"), payment_token=pm, **kw)


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    emulator = StripeEmulator()
    credentials = emulator.open_account()
    async with serve(emulator) as base_url:
        account = PaymentAccount(1, "acme", "stripe", credentials, base_url=base_url)
        yield Env(emulator, credentials, account, Stripe(timeout=5))


async def test_card_payment_succeeds(env: Env) -> None:
    payment = await env.provider.create_payment(env.account, env.card("order-1", Money.of("49.95", "EUR")))
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount == Money.of("49.95", "EUR")
    intent = env.emulator.intent(env.credentials, payment.provider_reference)
    assert (intent["amount"], intent["currency"], intent["payment_method_types"]) == (4995, "eur", ["card"])
    assert intent["metadata"] == {"crossdock_reference": "order-1"}  # the card token is not metadata
    assert payment.next_action is None


async def test_declined_card_is_a_permanent_error(env: Env) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        await env.provider.create_payment(
            env.account, env.card("order-2", Money.of("10.00", "EUR"), "pm_card_chargeDeclined")
        )
    assert caught.value.code == "CARD_DECLINED"
    assert caught.value.retryable is False
    assert caught.value.decline_code == "generic_decline"
    assert caught.value.payment_reference is not None  # the intent to retry with another card
    intent = env.emulator.intent(env.credentials, caught.value.payment_reference)
    assert intent["status"] == "requires_payment_method"
    payment = await env.provider.get_payment(env.account, caught.value.payment_reference)
    assert (payment.status, payment.failure) == (PaymentStatus.FAILED, "generic_decline")


async def test_three_d_secure_requires_action_with_a_redirect(env: Env) -> None:
    request = env.card(
        "order-3",
        Money.of("120.00", "GBP"),
        "pm_card_threeDSecure2Required",
        country="GB",
        return_url="https://shop.example/return",
    )
    payment = await env.provider.create_payment(env.account, request)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.next_action is not None and payment.next_action["type"] == "redirect"
    assert payment.next_action["url"].startswith(env.account.base_url or "")
    assert payment.next_action["return_url"] == "https://shop.example/return"
    env.emulator.complete(env.credentials, payment.provider_reference)
    after = await env.provider.get_payment(env.account, payment.provider_reference)
    assert after.status == PaymentStatus.SUCCEEDED


async def test_card_without_token_is_confirmed_by_the_buyer(env: Env) -> None:
    request = PaymentRequest("order-3b", Money.of("5.00", "USD"), "card", "US")
    payment = await env.provider.create_payment(env.account, request)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.next_action is not None
    assert payment.next_action["type"] == "confirm_on_client"
    assert payment.next_action["client_secret"].startswith(payment.provider_reference)


async def test_idempotent_retry_does_not_charge_twice(env: Env) -> None:
    request = env.card("order-4", Money.of("75.00", "EUR"))
    first = await env.provider.create_payment(env.account, request)
    second = await env.provider.create_payment(env.account, request)
    assert first.provider_reference == second.provider_reference
    assert len(env.emulator.charges(env.credentials)) == 1
    assert env.emulator.executed["/v1/payment_intents"] == 1

    # the same reference for a different payment is a bug upstream: refused, not charged
    changed = env.card("order-4", Money.of("80.00", "EUR"))
    with pytest.raises(ChannelError) as caught:
        await env.provider.create_payment(env.account, changed)
    assert caught.value.code == "IDEMPOTENCY"
    assert len(env.emulator.charges(env.credentials)) == 1


async def test_refund_full_and_partial(env: Env) -> None:
    payment = await env.provider.create_payment(env.account, env.card("order-5", Money.of("100.00", "EUR")))
    partial = await env.provider.refund(
        env.account, payment.provider_reference, Money.of("30.00", "EUR"), "rf-1"
    )
    assert (partial.status, partial.amount) == ("succeeded", Money.of("30.00", "EUR"))
    assert partial.payment_reference == payment.provider_reference
    again = await env.provider.refund(
        env.account, payment.provider_reference, Money.of("30.00", "EUR"), "rf-1"
    )
    assert again.provider_reference == partial.provider_reference  # retried, not refunded twice
    rest = await env.provider.refund(
        env.account, payment.provider_reference, Money.of("70.00", "EUR"), "rf-2"
    )
    assert rest.amount == Money.of("70.00", "EUR")
    charge = env.emulator.charges(env.credentials)[0]
    assert (charge["amount_refunded"], charge["refunded"]) == (10000, True)
    with pytest.raises(ChannelError) as caught:
        await env.provider.refund(env.account, payment.provider_reference, Money.of("1.00", "EUR"), "rf-3")
    assert caught.value.code == "CHARGE_ALREADY_REFUNDED"
    assert caught.value.retryable is False


async def test_full_refund_in_a_zero_decimal_currency(env: Env) -> None:
    payment = await env.provider.create_payment(
        env.account, env.card("order-jp", Money.of("3980", "JPY"), country="JP")
    )
    assert env.emulator.intent(env.credentials, payment.provider_reference)["amount"] == 3980
    refund = await env.provider.refund(
        env.account, payment.provider_reference, Money.of("3980", "JPY"), "rf-jp"
    )
    assert refund.amount == Money.of("3980", "JPY")


async def test_webhooks_verified_and_mapped(env: Env) -> None:
    payment = await env.provider.create_payment(env.account, env.card("order-6", Money.of("20.00", "EUR")))
    await env.provider.refund(env.account, payment.provider_reference, Money.of("5.00", "EUR"), "rf-6")
    [succeeded] = env.emulator.events(env.credentials, "payment_intent.succeeded")
    headers, body = env.emulator.signed_webhook(env.credentials, succeeded)
    [event] = env.provider.parse_webhook(env.account, headers, body)
    assert (event.type, event.event_id, event.payment_reference, event.amount) == (
        "payment.succeeded",
        succeeded["id"],
        payment.provider_reference,
        Money.of("20.00", "EUR"),
    )
    [created] = env.emulator.events(env.credentials, "refund.created")
    headers, body = env.emulator.signed_webhook(env.credentials, created)
    [event] = env.provider.parse_webhook(env.account, {k.lower(): v for k, v in headers.items()}, body)
    assert (event.type, event.payment_reference, event.amount) == (
        "refund.succeeded",
        payment.provider_reference,
        Money.of("5.00", "EUR"),
    )
    assert event.refund_reference == created["data"]["object"]["id"]


def _parsed(env: Env, event: dict[str, Any]) -> list[Any]:
    return list(env.provider.parse_webhook(env.account, *env.emulator.signed_webhook(env.credentials, event)))


async def test_two_partial_refunds_are_two_events_with_their_own_amounts(env: Env) -> None:
    """Issue 15: since 2022-11-15 ``charge.refunded`` carries no refunds list, only the running
    total; each refund comes from its own refund.* event, keyed by the refund's id."""
    payment = await env.provider.create_payment(env.account, env.card("order-r", Money.of("100.00", "EUR")))
    first = await env.provider.refund(env.account, payment.provider_reference, Money.of("30.00", "EUR"), "a")
    second = await env.provider.refund(env.account, payment.provider_reference, Money.of("25.00", "EUR"), "b")
    charged = env.emulator.events(env.credentials, "charge.refunded")
    assert [c["data"]["object"]["amount_refunded"] for c in charged] == [3000, 5500]
    assert all("refunds" not in c["data"]["object"] for c in charged)  # as API 2022-11-15+ sends it

    events = [e for raw in env.emulator.events(env.credentials) for e in _parsed(env, raw)]
    refunds = [e for e in events if e.type.startswith("refund.")]
    assert [(e.type, e.refund_reference, e.amount) for e in refunds] == [
        ("refund.succeeded", first.provider_reference, Money.of("30.00", "EUR")),
        ("refund.succeeded", second.provider_reference, Money.of("25.00", "EUR")),
    ]
    # a redelivery names the same refund (and event), so it is recognised, not added
    [again] = _parsed(env, env.emulator.events(env.credentials, "refund.created")[1])
    assert (again.event_id, again.refund_reference) == (refunds[1].event_id, second.provider_reference)


async def test_an_expanded_charge_refunded_names_each_refund_by_its_id(env: Env) -> None:
    payment = await env.provider.create_payment(env.account, env.card("order-x1", Money.of("10.00", "EUR")))
    refund = await env.provider.refund(env.account, payment.provider_reference, Money.of("4.00", "EUR"), "x")
    charge = dict(env.emulator.events(env.credentials, "charge.refunded")[0])
    listed = {"object": "list", "data": [dict(refund.raw)], "has_more": False}
    charge["data"] = {"object": {**charge["data"]["object"], "refunds": listed}}
    [event] = _parsed(env, charge)
    assert (event.refund_reference, event.amount) == (refund.provider_reference, Money.of("4.00", "EUR"))


async def test_a_refund_the_bank_returns_is_reported_failed(env: Env) -> None:
    payment = await env.provider.create_payment(env.account, env.card("order-f", Money.of("20.00", "EUR")))
    refund = await env.provider.refund(env.account, payment.provider_reference, Money.of("20.00", "EUR"), "f")
    env.emulator.fail_refund(env.credentials, refund.provider_reference)
    assert env.emulator.charges(env.credentials)[0]["amount_refunded"] == 0
    failed = [
        e
        for kind in ("refund.updated", "refund.failed")
        for raw in env.emulator.events(env.credentials, kind)
        for e in _parsed(env, raw)
    ]
    assert [(e.type, e.refund_reference, e.amount) for e in failed] == [
        ("refund.failed", refund.provider_reference, Money.of("20.00", "EUR"))
    ] * 2
    assert failed[0].raw["data"]["object"]["failure_reason"] == "expired_or_canceled_card"


async def test_failed_payment_webhook(env: Env) -> None:
    with pytest.raises(PaymentDeclined):
        await env.provider.create_payment(
            env.account,
            env.card("order-7", Money.of("9.00", "EUR"), "pm_card_chargeDeclinedInsufficientFunds"),
        )
    [failed] = env.emulator.events(env.credentials, "payment_intent.payment_failed")
    [event] = env.provider.parse_webhook(env.account, *env.emulator.signed_webhook(env.credentials, failed))
    assert event.type == "payment.failed"


async def test_tampered_unsigned_and_stale_webhooks_are_rejected(env: Env) -> None:
    await env.provider.create_payment(env.account, env.card("order-8", Money.of("20.00", "EUR")))
    [succeeded] = env.emulator.events(env.credentials, "payment_intent.succeeded")
    headers, body = env.emulator.signed_webhook(env.credentials, succeeded)

    tampered = body.replace(b'"amount": 2000', b'"amount": 1')
    assert tampered != body
    stale_headers, stale_body = env.emulator.signed_webhook(
        env.credentials, succeeded, timestamp=int(time.time()) - 301
    )
    other_secret = {**headers, "Stripe-Signature": env.emulator.sign("whsec_other", body.decode())}
    cases = [
        (headers, tampered),
        ({}, body),
        ({"Stripe-Signature": "garbage"}, body),
        (other_secret, body),
        (stale_headers, stale_body),
        (headers, b"\xff" + body),
    ]
    for bad_headers, bad_body in cases:
        with pytest.raises(ChannelError) as caught:
            env.provider.parse_webhook(env.account, bad_headers, bad_body)
        assert caught.value.code == "SIGNATURE"

    # within the 300 s tolerance is fine
    fresh_headers, fresh_body = env.emulator.signed_webhook(
        env.credentials, succeeded, timestamp=int(time.time()) - 200
    )
    assert len(env.provider.parse_webhook(env.account, fresh_headers, fresh_body)) == 1


async def test_webhook_delivery_to_a_url(env: Env) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await env.provider.create_payment(env.account, env.card("order-9", Money.of("1.00", "EUR")))
    [event] = env.emulator.events(env.credentials, "payment_intent.succeeded")
    async with serve(endpoint) as hook_url:
        assert await env.emulator.deliver(env.credentials, event, f"{hook_url}/hooks/stripe") == 200
    [(headers, body)] = received
    [parsed] = env.provider.parse_webhook(env.account, headers, body)
    assert parsed.event_id == event["id"]


@pytest.mark.parametrize(
    ("method", "country", "amount", "action"),
    [
        ("ideal", "NL", Money.of("25.00", "EUR"), "redirect"),
        ("bancontact", "BE", Money.of("25.00", "EUR"), "redirect"),
        ("klarna", "SE", Money.of("499.00", "SEK"), "redirect"),
        ("grabpay", "SG", Money.of("30.00", "SGD"), "redirect"),
        ("fpx", "MY", Money.of("80.00", "MYR"), "redirect"),
        ("boleto", "BR", Money.of("150.00", "BRL"), "voucher"),
        ("oxxo", "MX", Money.of("350.00", "MXN"), "voucher"),
        ("konbini", "JP", Money.of("2400", "JPY"), "voucher"),
        ("paynow", "SG", Money.of("30.00", "SGD"), "qr_code"),
        ("promptpay", "TH", Money.of("990.00", "THB"), "qr_code"),
    ],
)
async def test_local_methods_give_the_buyer_a_next_action(
    env: Env, method: str, country: str, amount: Money, action: str
) -> None:
    request = PaymentRequest(
        f"order-{method}",
        amount,
        method,
        country,
        email="buyer@example.com",
        return_url="https://shop.example/return",
        buyer_name="A Buyer",
        metadata={"tax_id": "000.000.000-00", "bank": "maybank2u"},
    )
    payment = await env.provider.create_payment(env.account, request)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.next_action is not None and payment.next_action["type"] == action
    intent = env.emulator.intent(env.credentials, payment.provider_reference)
    assert intent["payment_method_types"] == [method]
    env.emulator.complete(env.credentials, payment.provider_reference)
    [event] = env.provider.parse_webhook(
        env.account,
        *env.emulator.signed_webhook(env.credentials, env.emulator.events(env.credentials)[-1]),
    )
    assert (event.type, event.amount) == ("payment.succeeded", amount)


async def test_local_method_for_the_wrong_country_is_refused_before_calling_stripe(env: Env) -> None:
    request = PaymentRequest("order-x", Money.of("10.00", "EUR"), "ideal", "DE", return_url="https://r")
    with pytest.raises(ChannelError) as caught:
        await env.provider.create_payment(env.account, request)
    assert caught.value.code == "METHOD_NOT_AVAILABLE"
    assert env.emulator.executed == {}


async def test_bad_secret_key_is_an_authentication_error(env: Env) -> None:
    account = PaymentAccount(
        2, "acme", "stripe", {"secret_key": "sk_test_wrong"}, base_url=env.account.base_url
    )
    with pytest.raises(ChannelError) as caught:
        await env.provider.create_payment(account, env.card("order-10", Money.of("1.00", "EUR")))
    assert (caught.value.code, caught.value.retryable) == ("AUTHENTICATION", False)
    assert "sk_test_wrong" not in caught.value.message


async def test_throttling_and_server_errors_are_retryable() -> None:
    for faults, code in (
        (Faults(throttle=1.0, retry_after=0.5), "RATE_LIMITED"),
        (Faults(server_error=1.0), "SERVER_ERROR"),
    ):
        emulator = StripeEmulator(faults)
        credentials = emulator.open_account()
        async with serve(emulator) as base_url:
            account = PaymentAccount(1, "acme", "stripe", credentials, base_url=base_url)
            request = PaymentRequest("o", Money.of("1.00", "EUR"), "card", "NL", payment_token="pm_card_visa")
            with pytest.raises(ChannelError) as caught:
                await Stripe(timeout=5).create_payment(account, request)
        assert (caught.value.code, caught.value.retryable) == (code, True)
        if code == "RATE_LIMITED":
            assert caught.value.retry_after == 0.5


async def test_connection_failure_is_retryable() -> None:
    account = PaymentAccount(1, "acme", "stripe", {"secret_key": "sk_test_x"}, base_url="http://127.0.0.1:9")
    request = PaymentRequest("o", Money.of("1.00", "EUR"), "card", "NL", payment_token="pm_card_visa")
    with pytest.raises(ChannelError) as caught:
        await Stripe(timeout=2).create_payment(account, request)
    assert (caught.value.code, caught.value.retryable) == ("CONNECTION", True)


async def test_emulator_speaks_stripe_form_encoding_and_envelope(env: Env) -> None:
    assert decode_form(b"a=1&b[c]=2&b[d][0]=x&b[d][1]=y&e[0][f]=g") == {
        "a": "1",
        "b": {"c": "2", "d": ["x", "y"]},
        "e": [{"f": "g"}],
    }
    async with httpx.AsyncClient(base_url=env.account.base_url or "") as http:
        response = await http.get("/v1/payment_intents/pi_missing", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_request_error"
        auth = {"Authorization": f"Bearer {env.credentials['secret_key']}"}
        response = await http.get("/v1/payment_intents/pi_missing", headers=auth)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
        response = await http.post(
            "/v1/payment_intents", data={"amount": "1005", "currency": "kwd"}, headers=auth
        )
        assert response.status_code == 400
        assert json.loads(response.content)["error"]["code"] == "invalid_charge_amount"
