"""``refundRecord`` on an own-channel order refunds through Stripe (its emulator over HTTP):
what the API shows, the typed refusals, the webhook that reports a refund the bank returned,
and two concurrent refunds on two server processes that together exceed the total."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio

from crossdock import Money, PaymentAccount, PaymentRequest
from crossdock.api.schema.relay import encode_id
from crossdock.services.fulfilment import cancel_order
from crossdock.testing import set_tenant_settings
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.processes import Deployment
from crossdock.testing.pytest_plugin import TEST_SECRET

from .test_concurrency import Race, outcome

REFUND = """mutation($o: ID!, $a: Decimal!, $oob: Boolean! = false) {
  refundRecord(input: {orderId: $o, amount: {amount: $a, currency: "SGD"}, outOfBand: $oob}) {
    refund { amount { amount } status provider providerReference error }
    order { paymentProvider paymentReference refunds { status } }
    userErrors { field code message } } }"""


@pytest_asyncio.fixture
async def stripe(app: Any, shop: Any) -> AsyncIterator[tuple[Any, dict[str, str], str]]:
    emulator = app.plugins.emulators["stripe"](Faults())
    credentials = emulator.open_account()
    async with serve(emulator) as url:
        await set_tenant_settings(
            app, shop.tenant, {"payments": {"stripe": {"credentials": credentials, "base_url": url}}}
        )
        yield emulator, credentials, url


async def _paid_order(
    app: Any, shop: Any, stripe: Any, external_id: str, total: str, charged: str | None = None
) -> str:
    _, credentials, url = stripe
    account = PaymentAccount(0, "t", "stripe", credentials, base_url=url)
    paid = Money.of(charged or total, "SGD")
    request = PaymentRequest(external_id, paid, "card", "SG", payment_token="pm_card_visa")
    payment = await app.plugins.payment_providers["stripe"].create_payment(account, request)
    order = replace(
        shop.market.add_order(external_id, total=total, buyer=f"buyer {external_id}"),
        payment_provider="stripe",
        payment_reference=payment.provider_reference,
    )
    await shop.ingest(order)
    return str(encode_id("Order", (await shop.order(external_id)).id))


async def test_refund_record_through_stripe_shows_status_and_reference(
    api: Any, app: Any, shop: Any, stripe: Any
) -> None:
    emulator, credentials, _ = stripe
    order = await _paid_order(app, shop, stripe, "API-1", "50.00")
    data = await api.data(REFUND, {"o": order, "a": "20.00"}, key=shop.tenant.key)
    payload = data["refundRecord"]
    [made] = emulator.refunds(credentials)
    assert payload["userErrors"] == []
    assert payload["refund"] == {
        "amount": {"amount": "20.00"},
        "status": "SUCCEEDED",
        "provider": "stripe",
        "providerReference": made["id"],
        "error": None,
    }
    assert payload["order"]["refunds"] == [{"status": "SUCCEEDED"}]
    assert payload["order"]["paymentProvider"] == "stripe"
    assert payload["order"]["paymentReference"] == made["payment_intent"]

    # more than the charge has left: Stripe's refusal, typed, with its message; kept as FAILED
    refused = (await api.data(REFUND, {"o": order, "a": "30.01"}, key=shop.tenant.key))["refundRecord"]
    assert refused["userErrors"][0]["code"] == "OVER_REFUND"
    assert len(emulator.refunds(credentials)) == 1


async def test_provider_refusal_and_cod_are_typed_user_errors(
    api: Any, app: Any, shop: Any, stripe: Any
) -> None:
    emulator, credentials, _ = stripe
    # the order says 80 but only 40 was charged at Stripe
    order = await _paid_order(app, shop, stripe, "API-2", "80.00", charged="40.00")
    refused = (await api.data(REFUND, {"o": order, "a": "60.00"}, key=shop.tenant.key))["refundRecord"]
    [error] = refused["userErrors"]
    assert (error["code"], error["field"]) == ("PAYMENT_REFUSED", ["amount"])
    assert "greater than unrefunded amount" in error["message"]
    assert emulator.refunds(credentials) == []

    await shop.ingest(
        replace(
            shop.market.add_order("COD-1", total="30.00", buyer="buyer COD-1"),
            payment_provider="cod",
            payment_reference="COD-1",
        )
    )
    cod = str(encode_id("Order", (await shop.order("COD-1")).id))
    [error] = (await api.data(REFUND, {"o": cod, "a": "5.00"}, key=shop.tenant.key))["refundRecord"][
        "userErrors"
    ]
    assert error["code"] == "REFUND_NOT_SUPPORTED"
    recorded = (await api.data(REFUND, {"o": cod, "a": "5.00", "oob": True}, key=shop.tenant.key))[
        "refundRecord"
    ]
    assert recorded["refund"]["status"] == "SUCCEEDED"
    assert recorded["refund"]["provider"] == "cod"


async def test_the_payment_webhook_reflects_a_refund_the_bank_returned(
    api: Any, app: Any, shop: Any, stripe: Any
) -> None:
    emulator, credentials, _ = stripe
    order = await _paid_order(app, shop, stripe, "API-3", "50.00")
    await api.data(REFUND, {"o": order, "a": "10.00"}, key=shop.tenant.key)
    [made] = emulator.refunds(credentials)
    emulator.fail_refund(credentials, made["id"])
    [failed] = emulator.events(credentials, "refund.failed")
    headers, body = emulator.signed_webhook(credentials, failed)
    path = f"/webhooks/payments/stripe/{shop.tenant.slug}"
    for _ in range(2):  # delivered again: the same answer, nothing changes twice
        response = await api.client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
    shown = await api.data(
        "query($o: ID!) { node(id: $o) { ... on Order { refunds { status providerReference error } } } }",
        {"o": order},
        key=shop.tenant.key,
    )
    [refund] = shown["node"]["refunds"]
    assert (refund["status"], refund["providerReference"]) == ("FAILED", made["id"])
    assert refund["error"]

    tampered = await api.client.post(path, content=body.replace(b"1000", b"9000"), headers=headers)
    assert (tampered.status_code, tampered.json()["code"]) == (401, "UNAUTHENTICATED")
    unknown = await api.client.post("/webhooks/payments/stripe/no-such-tenant", content=body, headers=headers)
    assert unknown.status_code == 404
    malformed_headers, malformed = emulator.signed_webhook(
        credentials, {"id": "evt_1", "type": "refund.failed"}
    )
    answer = await api.client.post(path, content=malformed, headers=malformed_headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "WEBHOOK_MALFORMED")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deployment(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    """Two server processes with the payments plugin, allowed to call the emulator on loopback."""
    dep = Deployment(
        database_url,
        data_dir=tmp_path_factory.mktemp("refund-races"),
        secret_key=TEST_SECRET,
        servers=2,
        extra_env={
            "CROSSDOCK_PERIODIC": "0",
            "CROSSDOCK_PLUGINS": "payments",
            "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",
        },
    )
    async with dep:
        yield dep


async def test_two_refunds_at_once_that_exceed_the_total_refund_once(
    app: Any, shop: Any, stripe: Any, deployment: Deployment, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race is PostgreSQL's")
    emulator, credentials, _ = stripe
    order = await _paid_order(app, shop, stripe, "RACE-1", "100.00")
    async with shop.unit_of_work() as uow:  # cancelled: it may be refunded in full
        await cancel_order(uow, int((await shop.order("RACE-1")).id), "buyer asked")
    race = Race(deployment, shop.tenant.key)
    results = await race((REFUND, {"o": order, "a": "60.00"}), (REFUND, {"o": order, "a": "70.00"}))
    assert sorted(outcome(results).elements()) == ["OVER_REFUND", "ok"]
    [made] = emulator.refunds(credentials)
    [ok] = [r for r in results if not r["userErrors"]]
    assert ok["refund"]["providerReference"] == made["id"]
    assert made["amount"] == int(ok["refund"]["amount"]["amount"].replace(".", ""))
    # and one refund sent many times at once: what is left (30 or 40) takes two of them
    results = await race(*[(REFUND, {"o": order, "a": "15.00"})] * 6)
    assert outcome(results) == {"ok": 2, "OVER_REFUND": 4}
    assert [r["amount"] for r in emulator.refunds(credentials)] == [made["amount"], 1500, 1500]
