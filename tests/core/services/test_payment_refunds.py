"""Refunds that move money: an own-channel order carries the payment that paid for it, and a
refund goes through that payment's provider (the Stripe emulator over HTTP, found through
the ``crossdock_emulators`` hook), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from crossdock import Money, PaymentAccount, PaymentRequest
from crossdock.db.models import Event, Refund, RefundStatus
from crossdock.errors import UserError
from crossdock.jobs import refunds
from crossdock.services.fulfilment import cancel_order
from crossdock.testing import run_job, set_tenant_settings
from crossdock.testing.emulator import Faults, serve


@dataclass
class Stripe:
    emulator: Any
    credentials: dict[str, str]
    url: str

    async def paid(self, app: Any, amount: str) -> str:
        """A PaymentIntent the buyer paid by card: its id, as a storefront passes it on."""
        account = PaymentAccount(0, "t", "stripe", self.credentials, base_url=self.url)
        request = PaymentRequest(
            f"checkout-{amount}", Money.of(amount, "SGD"), "card", "SG", payment_token="pm_card_visa"
        )
        payment = await app.plugins.payment_providers["stripe"].create_payment(account, request)
        return str(payment.provider_reference)


@pytest_asyncio.fixture
async def stripe(app: Any, shop: Any) -> AsyncIterator[Stripe]:
    emulator = app.plugins.emulators["stripe"](Faults(timeout_seconds=0.05))
    credentials = emulator.open_account()
    async with serve(emulator) as url:
        await set_tenant_settings(
            app, shop.tenant, {"payments": {"stripe": {"credentials": credentials, "base_url": url}}}
        )
        yield Stripe(emulator, credentials, url)


async def _own_order(shop: Any, external_id: str, total: str, provider: str, reference: str) -> int:
    """An order from the seller's own channel, paid through ``provider``."""
    order = replace(
        shop.market.add_order(external_id, total=total, buyer=f"buyer {external_id}"),
        payment_provider=provider,
        payment_reference=reference,
    )
    await shop.ingest(order)
    row = await shop.order(external_id)
    assert (row.payment_provider, row.payment_reference) == (provider, reference)
    return int(row.id)


async def _refund(shop: Any, order_id: int, amount: str, **kw: Any) -> int:
    ctx = shop.app.job_context()
    return await refunds.refund(
        ctx, shop.tenant.id, shop.tenant.slug, order_id, Money.of(amount, "SGD"), **kw
    )


async def _refunds(shop: Any, order_id: int) -> list[Refund]:
    async with shop.read() as session:
        rows = await session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))
        return list(rows.all())


async def test_ingest_keeps_the_payment_link_a_later_copy_lacks(shop: Any) -> None:
    order_id = await _own_order(shop, "OWN-L", "20.00", "stripe", "pi_123")
    later = shop.market.add_order("OWN-L", total="20.00", buyer="buyer OWN-L", status="pending")
    await shop.ingest(later)  # a delivery without the link does not erase it
    row = await shop.order("OWN-L")
    assert (row.id, row.payment_provider, row.payment_reference) == (order_id, "stripe", "pi_123")


async def test_a_refund_goes_through_stripe_with_its_own_amount(shop: Any, stripe: Stripe) -> None:
    intent = await stripe.paid(shop.app, "100.00")
    order_id = await _own_order(shop, "OWN-1", "100.00", "stripe", intent)
    await _refund(shop, order_id, "30.00", reason="scratched")
    await _refund(shop, order_id, "25.00")
    made = stripe.emulator.refunds(stripe.credentials)
    assert [(r["amount"], r["payment_intent"]) for r in made] == [(3000, intent), (2500, intent)]
    rows = await _refunds(shop, order_id)
    assert [(r.amount, r.status, r.provider, r.provider_reference) for r in rows] == [
        (Decimal("30.00"), RefundStatus.SUCCEEDED, "stripe", made[0]["id"]),
        (Decimal("25.00"), RefundStatus.SUCCEEDED, "stripe", made[1]["id"]),
    ]
    # the idempotency key Stripe got is the refund row's own reference
    assert [r["metadata"]["crossdock_reference"] for r in made] == [r.request_reference for r in rows]
    # what is left can be refunded, no more; the refusal reaches Stripe never
    with pytest.raises(UserError) as caught:
        await _refund(shop, order_id, "45.01")
    assert caught.value.code == "OVER_REFUND"
    assert len(stripe.emulator.refunds(stripe.credentials)) == 2


async def test_a_full_refund_ends_the_order_once_stripe_gave_it_back(shop: Any, stripe: Stripe) -> None:
    intent = await stripe.paid(shop.app, "40.00")
    order_id = await _own_order(shop, "OWN-F", "40.00", "stripe", intent)
    async with shop.unit_of_work() as uow:
        await cancel_order(uow, order_id, "buyer asked")
    await _refund(shop, order_id, "40.00")
    assert (await shop.order("OWN-F")).status == "refunded"
    async with shop.read() as session:
        kinds = (await session.scalars(select(Event.type).where(Event.subject == f"Order:{order_id}"))).all()
    assert kinds[-3:] == ["order.cancelled", "order.refunded", "order.refunded"]  # the refund, the status


async def test_a_refusal_by_stripe_is_a_failed_refund_that_frees_the_amount(
    shop: Any, stripe: Stripe
) -> None:
    # the order says 100 but only 50 was charged: Stripe refuses to refund 80 of it
    intent = await stripe.paid(shop.app, "50.00")
    order_id = await _own_order(shop, "OWN-R", "100.00", "stripe", intent)
    with pytest.raises(UserError) as caught:
        await _refund(shop, order_id, "80.00")
    assert caught.value.code == "PAYMENT_REFUSED"
    assert "greater than unrefunded amount" in caught.value.message
    [row] = await _refunds(shop, order_id)
    assert row.status == RefundStatus.FAILED
    assert row.error and "greater than unrefunded amount" in row.error
    assert stripe.emulator.refunds(stripe.credentials) == []
    await _refund(shop, order_id, "50.00")  # a failed refund no longer counts against the total
    assert [r.status for r in await _refunds(shop, order_id)] == [RefundStatus.FAILED, RefundStatus.SUCCEEDED]


async def test_a_lost_answer_is_asked_again_and_refunds_once(shop: Any, stripe: Stripe) -> None:
    intent = await stripe.paid(shop.app, "60.00")
    order_id = await _own_order(shop, "OWN-X", "60.01", "stripe", intent)
    await _refund(shop, order_id, "20.00")
    stripe.emulator.faults.lost_answer = 1.0  # Stripe refunds, the answer never arrives
    with pytest.raises(UserError) as caught:
        await _refund(shop, order_id, "40.00")
    assert caught.value.code == "PAYMENT_UNAVAILABLE"
    _, row = await _refunds(shop, order_id)
    assert (row.status, row.provider_reference) == (RefundStatus.PENDING, None)
    assert row.attempts == 1
    assert row.error
    # asked three times with the same key: carried out once, replayed twice
    assert len(stripe.emulator.refunds(stripe.credentials)) == 2
    assert stripe.emulator.executed["/v1/refunds"] == 2
    # the pending refund still counts: nothing more can be refunded meanwhile
    with pytest.raises(UserError) as over:
        await _refund(shop, order_id, "0.02")
    assert over.value.code == "OVER_REFUND"

    stripe.emulator.faults.lost_answer = 0.0
    assert await run_job(shop.app, "refund_resume", tenant_id=shop.tenant.id, refund_id=row.id) == "succeeded"
    _, made = stripe.emulator.refunds(stripe.credentials)
    _, row = await _refunds(shop, order_id)
    assert (row.status, row.provider_reference, made["amount"]) == (RefundStatus.SUCCEEDED, made["id"], 4000)
    assert stripe.emulator.executed["/v1/refunds"] == 2
    assert stripe.emulator.requests["/v1/refunds"] == 5  # one, then three lost answers and a replay
    # resuming a finished refund asks nobody
    assert await run_job(shop.app, "refund_resume", tenant_id=shop.tenant.id, refund_id=row.id) == "succeeded"
    assert stripe.emulator.requests["/v1/refunds"] == 5


async def test_an_order_without_a_payment_link_records_the_channels_refund(shop: Any, stripe: Stripe) -> None:
    await shop.ingest(shop.market.add_order("MP-1", total="30.00", buyer="buyer MP-1"))
    order_id = int((await shop.order("MP-1")).id)
    await _refund(shop, order_id, "10.00", reference="marketplace-refund-9")
    [row] = await _refunds(shop, order_id)
    assert (row.status, row.provider, row.reference) == (RefundStatus.SUCCEEDED, None, "marketplace-refund-9")
    assert stripe.emulator.executed == {}


@pytest.mark.parametrize("provider", ["cod", "bank_transfer"])
async def test_cash_on_delivery_and_bank_transfer_cannot_move_money_back(shop: Any, provider: str) -> None:
    order_id = await _own_order(shop, f"OWN-{provider}", "30.00", provider, f"ref-{provider}")
    with pytest.raises(UserError) as caught:
        await _refund(shop, order_id, "10.00")
    assert caught.value.code == "REFUND_NOT_SUPPORTED"
    assert await _refunds(shop, order_id) == []
    # the seller gave it back by hand: recorded as such
    await _refund(shop, order_id, "10.00", out_of_band=True)
    [row] = await _refunds(shop, order_id)
    assert (row.status, row.provider, row.request_reference) == (RefundStatus.SUCCEEDED, provider, None)


async def test_a_provider_the_tenant_has_not_set_up_is_refused_before_anything_is_written(shop: Any) -> None:
    order_id = await _own_order(shop, "OWN-N", "30.00", "stripe", "pi_x")
    with pytest.raises(UserError) as caught:
        await _refund(shop, order_id, "10.00")
    assert caught.value.code == "PAYMENT_ERROR"
    assert await _refunds(shop, order_id) == []


async def test_a_refund_the_bank_returns_is_reflected_from_the_webhook(shop: Any, stripe: Stripe) -> None:
    intent = await stripe.paid(shop.app, "100.00")
    order_id = await _own_order(shop, "OWN-W", "100.00", "stripe", intent)
    await _refund(shop, order_id, "70.00")
    [made] = stripe.emulator.refunds(stripe.credentials)
    stripe.emulator.fail_refund(stripe.credentials, made["id"])
    ctx = shop.app.job_context()
    for kind in ("refund.created", "charge.refunded", "refund.updated", "refund.failed"):
        for event in stripe.emulator.events(stripe.credentials, kind):
            headers, body = stripe.emulator.signed_webhook(stripe.credentials, event)
            await refunds.receive_payment_push(ctx, "stripe", shop.tenant.slug, headers, body)
            await refunds.receive_payment_push(ctx, "stripe", shop.tenant.slug, headers, body)  # again
    [row] = await _refunds(shop, order_id)
    assert row.status == RefundStatus.FAILED
    async with shop.read() as session:
        kinds = (await session.scalars(select(Event.type).where(Event.subject == f"Order:{order_id}"))).all()
    assert kinds.count("order.refund_failed") == 1  # two events and a redelivery: once
    await _refund(shop, order_id, "70.00")  # the money is the buyer's to be refunded again
    assert len(stripe.emulator.refunds(stripe.credentials)) == 2


async def test_a_refund_left_pending_by_a_crash_is_swept_and_made_once(shop: Any, stripe: Stripe) -> None:
    """The process wrote the pending refund, then died before asking Stripe: the sweep finds
    it after its grace time and the refund is made once, with its own reference."""
    from dataclasses import replace as with_queue
    from datetime import timedelta

    from sqlalchemy import update

    from crossdock.db import utcnow
    from crossdock.jobs import JOBS
    from crossdock.services import aftersales

    intent = await stripe.paid(shop.app, "50.00")
    order_id = await _own_order(shop, "OWN-C", "50.00", "stripe", intent)
    async with shop.app.unit_of_work(shop.tenant.id, shop.tenant.slug) as uow:
        crashed = await aftersales.record_refund(
            uow.session, order_id, Money.of("15.00", "SGD"), plugins=shop.app.plugins
        )
        fresh = await aftersales.record_refund(
            uow.session, order_id, Money.of("5.00", "SGD"), plugins=shop.app.plugins
        )
    assert (crashed.status, fresh.status) == (RefundStatus.PENDING, RefundStatus.PENDING)
    async with shop.app.db.write(shop.tenant.id) as session:
        await session.execute(
            update(Refund).where(Refund.id == crashed.id).values(updated_at=utcnow() - timedelta(minutes=5))
        )

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []

        async def enqueue(self, name: str, **kwargs: Any) -> bool:
            self.sent.append({"job": name, **kwargs})
            return True

        async def ping(self) -> bool:
            return True

    recorder = Recorder()
    await JOBS["refund_sweep"](with_queue(shop.app.job_context(), queue=recorder))
    mine = [j for j in recorder.sent if j["tenant_id"] == shop.tenant.id]
    assert [(j["job"], j["refund_id"]) for j in mine] == [("refund_resume", crashed.id)]  # not the fresh one
    assert stripe.emulator.requests.get("/v1/refunds", 0) == 0
    assert (
        await run_job(shop.app, "refund_resume", tenant_id=shop.tenant.id, refund_id=crashed.id)
        == "succeeded"
    )
    assert (
        await run_job(shop.app, "refund_resume", tenant_id=shop.tenant.id, refund_id=crashed.id)
        == "succeeded"
    )
    made = stripe.emulator.refunds(stripe.credentials)
    assert [r["amount"] for r in made] == [1500]
    # done: the next sweep has nothing of it
    recorder.sent.clear()
    await JOBS["refund_sweep"](with_queue(shop.app.job_context(), queue=recorder))
    assert all(j["refund_id"] != crashed.id for j in recorder.sent)
