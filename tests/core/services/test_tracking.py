"""Tracking: scans recorded once and in the carrier's order, delivery, exceptions raised
once with a buyer notice sent once in the buyer's language, the poll job against a carrier
over HTTP, carrier pushes, and the same under racing transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from crossdock import Address
from crossdock.db.models import (
    CarrierAccount,
    Conversation,
    Event,
    ExceptionNoticeRule,
    Message,
    Order,
    Shipment,
    ShipmentException,
    TrackingEventRow,
)
from crossdock.errors import UserError
from crossdock.jobs import JOBS
from crossdock.providers import TrackingEvent, TrackingReason, TrackingResult, TrackingStatus
from crossdock.services import messaging, tracking
from crossdock.testing import set_tenant_settings

from ..tracking_kit import Env, ParcelPostPlugin, tracking_env

MALAYSIA = Address(
    name="Siti Aminah",
    line1="1 Jalan Ampang",
    city="Kuala Lumpur",
    region="Kuala Lumpur",
    postal_code="50450",
    country="MY",
)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def parcelpost() -> ParcelPostPlugin:
    return ParcelPostPlugin()


@pytest.fixture
def extra_plugins(testmarket: Any, parcelpost: ParcelPostPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("parcelpost", parcelpost)]


@pytest_asyncio.fixture
async def env(shop: Any, app: Any) -> AsyncIterator[Env]:
    async with tracking_env(shop, app) as made:
        yield made


def scan(
    minutes: int, status: TrackingStatus, reason: TrackingReason | None = None, code: str | None = None
) -> TrackingEvent:
    return TrackingEvent(
        occurred_at=T0 + timedelta(minutes=minutes),
        status=status,
        code=code or status.value.upper(),
        description=status.value,
        reason=reason,
    )


async def record(shop: Any, shipment_id: int, result: TrackingResult) -> tracking.Recorded:
    async with shop.unit_of_work() as uow:
        return await tracking.record_tracking(uow, shipment_id, result)


async def count(shop: Any, model: Any, *where: Any) -> int:
    async with shop.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def events(shop: Any, kind: str) -> int:
    return await count(shop, Event, Event.type == kind)


async def shipment(shop: Any, shipment_id: int) -> Shipment:
    async with shop.read() as session:
        row = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
        assert row is not None
        return row


async def exceptions(shop: Any, shipment_id: int) -> dict[str, ShipmentException]:
    async with shop.read() as session:
        rows = await session.scalars(
            select(ShipmentException).where(ShipmentException.shipment_id == shipment_id)
        )
        return {r.kind: r for r in rows.all()}


# --------------------------------------------------------------------------- recording


async def test_scans_are_stored_once_and_a_late_older_scan_never_moves_the_status_back(env: Env) -> None:
    shop = env.shop
    sid, (number,) = await env.shipped("TR-1")
    first = TrackingResult(
        number,
        [scan(10, TrackingStatus.IN_TRANSIT), scan(0, TrackingStatus.PICKED_UP)],
        estimated_delivery=date(2026, 11, 25),
    )
    done = await record(shop, sid, first)
    assert done.added == 2
    row = await shipment(shop, sid)
    assert row.tracking_status == "in_transit"
    assert row.last_event_at == T0 + timedelta(minutes=10)
    assert row.estimated_delivery == date(2026, 11, 25)

    again = await record(shop, sid, first)  # a repeated page, or the push of the same scans
    assert again.added == 0
    assert await count(shop, TrackingEventRow, TrackingEventRow.shipment_id == sid) == 2
    assert await events(shop, "shipment.tracking_updated") == 1

    # an out-for-delivery scan, then an older one arriving late
    await record(shop, sid, TrackingResult(number, [scan(30, TrackingStatus.OUT_FOR_DELIVERY)]))
    late = await record(shop, sid, TrackingResult(number, [scan(20, TrackingStatus.IN_TRANSIT, code="HUB")]))
    assert late.added == 1
    row = await shipment(shop, sid)
    assert row.tracking_status == "out_for_delivery"
    assert row.last_event_at == T0 + timedelta(minutes=30)
    async with shop.read() as session:
        timeline = (
            await session.scalars(
                select(TrackingEventRow.code)
                .where(TrackingEventRow.shipment_id == sid)
                .order_by(TrackingEventRow.occurred_at)
            )
        ).all()
    assert timeline == ["PICKED_UP", "IN_TRANSIT", "HUB", "OUT_FOR_DELIVERY"]
    assert await events(shop, "shipment.tracking_updated") == 3


async def test_delivered_when_every_parcel_is_and_the_order_with_it(env: Env) -> None:
    shop = env.shop
    sid, numbers = await env.shipped("TR-2", parcels=2)
    assert (await shop.order("TR-2")).status == "shipped"
    await record(shop, sid, TrackingResult(numbers[0], [scan(5, TrackingStatus.DELIVERY_FAILED)]))
    assert set(await exceptions(shop, sid)) == {"failed_attempt"}

    await record(shop, sid, TrackingResult(numbers[0], [scan(60, TrackingStatus.DELIVERED)]))
    assert (await shipment(shop, sid)).delivered_at is None  # the second box is still out
    assert (await shop.order("TR-2")).status == "shipped"

    await record(shop, sid, TrackingResult(numbers[1], [scan(90, TrackingStatus.DELIVERED)]))
    row = await shipment(shop, sid)
    assert row.delivered_at == T0 + timedelta(minutes=90)
    assert row.tracking_status == "delivered"
    assert (await shop.order("TR-2")).status == "delivered"
    assert (await exceptions(shop, sid))["failed_attempt"].resolved_at is not None
    assert await events(shop, "order.delivered") == 1
    # a scan from before the delivery, arriving late, raises nothing and changes nothing
    late = await record(shop, sid, TrackingResult(numbers[1], [scan(70, TrackingStatus.RETURN_TO_SENDER)]))
    assert late.added == 1 and late.exceptions == []
    assert (await shipment(shop, sid)).tracking_status == "delivered"
    assert await events(shop, "order.delivered") == 1


async def test_each_exception_a_scan_raises_is_raised_once(env: Env) -> None:
    shop = env.shop
    sid, (number,) = await env.shipped("TR-3")
    scans = [
        scan(1, TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_DOCUMENTS),
        scan(2, TrackingStatus.ON_HOLD, TrackingReason.WEATHER),  # not customs: no exception
        scan(3, TrackingStatus.DELIVERY_FAILED, TrackingReason.RECIPIENT_UNAVAILABLE),
        scan(4, TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),  # the same kind again
        scan(5, TrackingStatus.RETURN_TO_SENDER, TrackingReason.REFUSED),
        scan(6, TrackingStatus.UNKNOWN, TrackingReason.LOST),
    ]
    done = await record(shop, sid, TrackingResult(number, scans))
    assert len(done.exceptions) == 4
    raised = await exceptions(shop, sid)
    assert set(raised) == {"customs_hold", "failed_attempt", "returned_to_sender", "lost"}
    assert await events(shop, "shipment.exception") == 4
    for _ in range(2):
        await record(
            shop,
            sid,
            TrackingResult(number, [*scans, scan(7, TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID)]),
        )
    assert await events(shop, "shipment.exception") == 4
    assert await count(shop, ShipmentException, ShipmentException.shipment_id == sid) == 4


async def test_no_scan_follows_the_lane_setting_and_delayed_the_estimate(env: Env, app: Any) -> None:
    shop = env.shop
    await set_tenant_settings(
        app, shop.tenant, {"tracking": {"no_scan_days": {"default": 3, "lanes": {"SG-MY": 8}}}}
    )
    now = datetime.now(UTC)
    domestic, _ = await env.shipped("NS-SG", shipped_at=now - timedelta(days=4))
    to_malaysia, _ = await env.shipped("NS-MY", address=MALAYSIA, shipped_at=now - timedelta(days=4))
    late, _ = await env.shipped(
        "NS-LATE", shipped_at=now - timedelta(hours=1), estimated=now.date() - timedelta(days=1)
    )
    on_time, _ = await env.shipped(
        "NS-OK", shipped_at=now - timedelta(hours=1), estimated=now.date() + timedelta(days=2)
    )

    async with shop.unit_of_work() as uow:
        raised = await tracking.raise_sweep_exceptions(uow, [domestic, to_malaysia, late, on_time])
    assert len(raised) == 2
    assert set(await exceptions(shop, domestic)) == {"no_scan"}  # 4 days > 3 (default)
    assert await exceptions(shop, to_malaysia) == {}  # SG-MY allows 8
    assert set(await exceptions(shop, late)) == {"delayed"}
    assert await exceptions(shop, on_time) == {}
    async with shop.unit_of_work() as uow:  # a second sweep raises nothing new
        assert await tracking.raise_sweep_exceptions(uow, [domestic, to_malaysia, late, on_time]) == []

    later = now + timedelta(days=5)
    async with shop.unit_of_work() as uow:
        assert len(await tracking.raise_sweep_exceptions(uow, [to_malaysia], now=later)) == 1


@pytest.mark.parametrize(
    "value",
    [
        {"no_scan_days": 0},
        {"no_scan_days": {"lanes": {"SGDE": 3}}},
        {"no_scan_days": {"lanes": {"SG-XX": 3}}},
        {"no_scan_days": {"default": "5"}},
        {"nonsense": 1},
    ],
)
async def test_tracking_settings_are_checked(app: Any, tenant_factory: Any, value: Any) -> None:
    tenant = await tenant_factory()
    with pytest.raises(UserError):
        await set_tenant_settings(app, tenant, {"tracking": value})


# --------------------------------------------------------------------------- notices


async def _canned(shop: Any, name: str, texts: dict[str, str]) -> None:
    async with shop.write() as session:
        for language, body in texts.items():
            await messaging.save_canned_reply(session, name=name, language=language, body=body)


async def _rule(shop: Any, kind: str, template: str, **kwargs: Any) -> None:
    async with shop.write() as session:
        await tracking.save_notice_rule(session, rule_id=None, kind=kind, template=template, **kwargs)


async def _notice(shop: Any, exception_id: int) -> str:
    return str(
        await JOBS["exception_notice"](
            shop.app.job_context(), tenant_id=shop.tenant.id, exception_id=exception_id
        )
    )


async def test_the_buyer_is_told_once_in_their_language(env: Env) -> None:
    shop = env.shop
    await _canned(
        shop,
        "customs",
        {
            "en": "Hi {buyer_name}, order {order_number} ({tracking_number}) is held by customs.",
            "ms": "Hai {buyer_name}, pesanan {order_number} ({tracking_number}) ditahan kastam.",
        },
    )
    await _canned(shop, "customs-my-special", {"en": "special"})
    await _rule(shop, "customs_hold", "customs", priority=10)
    await _rule(shop, "customs_hold", "customs-my-special", priority=20, countries=["MY"])
    await _rule(shop, "customs_hold", "customs-my-special", priority=1, active=False)
    sid, (number,) = await env.shipped("NT-1", address=MALAYSIA)
    done = await record(
        shop, sid, TrackingResult(number, [scan(1, TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD)])
    )
    (exception_id,) = done.exceptions

    results = await asyncio.gather(*(_notice(shop, exception_id) for _ in range(3)))
    assert sorted(results) == ["done", "done", "sent"]
    assert await _notice(shop, exception_id) == "done"
    (sent,) = shop.market.sent
    assert sent.text == f"Hai Buyer NT-1, pesanan NT-1 ({number}) ditahan kastam."  # Malaysia: Malay
    assert sent.reference == f"exception-{exception_id}"
    assert sent.order_external_id == "NT-1"
    row = (await exceptions(shop, sid))["customs_hold"]
    assert row.notified_at is not None and row.notice_error is None
    async with shop.read() as session:
        thread = await session.scalar(select(Conversation).where(Conversation.order_external_id == "NT-1"))
        assert thread is not None
        stored = (await session.scalars(select(Message).where(Message.conversation_id == thread.id))).all()
    assert [(m.direction, m.delivery) for m in stored] == [("outbound", "sent")]


async def test_the_conversation_language_wins_and_english_is_the_fallback(env: Env) -> None:
    shop = env.shop
    await _canned(shop, "late", {"en": "Sorry {buyer_name}, {order_number} is late.", "ms": "Maaf"})
    await _rule(shop, "failed_attempt", "late")
    sid, (number,) = await env.shipped("NT-2", address=MALAYSIA)
    shop.market.buyer_writes("T-NT2", "where is it?", order="NT-2")
    await JOBS["sync_messages"](
        shop.app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )
    async with shop.write() as session:
        await session.execute(
            update(Conversation).where(Conversation.external_id == "T-NT2").values(language="de-AT")
        )
    done = await record(shop, sid, TrackingResult(number, [scan(1, TrackingStatus.DELIVERY_FAILED)]))
    assert await _notice(shop, done.exceptions[0]) == "sent"
    (sent,) = shop.market.sent
    assert (sent.thread_id, sent.buyer_id) == ("T-NT2", "buyer-T-NT2")  # the buyer's own thread
    assert sent.text == "Sorry Tan Ah Kow, NT-2 is late."  # no German text: English


async def test_no_rule_no_template_or_no_messaging_means_nothing_sent_and_why(
    env: Env, testmarket: Any
) -> None:
    shop = env.shop
    sid, (number,) = await env.shipped("NT-3")
    done = await record(
        shop,
        sid,
        TrackingResult(
            number, [scan(1, TrackingStatus.RETURN_TO_SENDER), scan(2, TrackingStatus.DELIVERY_FAILED)]
        ),
    )
    first, second = done.exceptions
    assert await _notice(shop, first) == "not_sent"
    await _rule(shop, "failed_attempt", "missing-template")
    assert await _notice(shop, second) == "not_sent"
    assert await _notice(shop, first) == "done"  # given up once: not tried again
    raised = await exceptions(shop, sid)
    assert raised["returned_to_sender"].notice_error == "no active notice rule for returned_to_sender"
    assert raised["failed_attempt"].notice_error == "no canned reply named 'missing-template'"
    assert raised["failed_attempt"].notified_at is None
    assert shop.market.sent == []

    from crossdock.providers import MarketplaceCapability

    sid2, (number2,) = await env.shipped("NT-4")
    await _canned(shop, "missing-template", {"en": "x"})
    lost = await record(shop, sid2, TrackingResult(number2, [scan(1, TrackingStatus.DELIVERY_FAILED)]))
    testmarket.market.capabilities = testmarket.market.capabilities - {MarketplaceCapability.MESSAGES_SEND}
    try:
        assert await _notice(shop, lost.exceptions[0]) == "not_sent"
    finally:
        testmarket.market.capabilities = testmarket.market.capabilities | {
            MarketplaceCapability.MESSAGES_SEND
        }
    assert (await exceptions(shop, sid2))[
        "failed_attempt"
    ].notice_error == "testmarket cannot send buyer messages"


async def test_notice_rules_and_resolving(env: Env) -> None:
    shop = env.shop
    with pytest.raises(UserError):
        await _rule(shop, "no_such_kind", "x")
    async with shop.write() as session:
        with pytest.raises(UserError):
            await tracking.save_notice_rule(
                session, rule_id=None, kind="lost", template="x", countries=["XX"]
            )
    sid, (number,) = await env.shipped("RS-1")
    done = await record(
        shop, sid, TrackingResult(number, [scan(1, TrackingStatus.UNKNOWN, TrackingReason.LOST)])
    )
    async with shop.write() as session:
        row = await tracking.resolve_exception(session, done.exceptions[0])
        assert row.resolved_at is not None
    assert await events(shop, "shipment.exception_resolved") == 1


# --------------------------------------------------------------------------- the poll job


async def test_the_poll_job_tracks_an_account_in_batches_over_http(
    env: Env, parcelpost: ParcelPostPlugin
) -> None:
    shop = env.shop
    ctx = shop.app.job_context()
    shipments = [await env.shipped(f"PL-{i}") for i in range(7)]
    for _, (number,) in shipments[:4]:
        env.emulator.scan(number, TrackingStatus.PICKED_UP)
    env.emulator.scan(shipments[0][1][0], TrackingStatus.DELIVERED)
    env.emulator.estimates[shipments[1][1][0]] = date.today() + timedelta(days=3)

    totals = await JOBS["track_account"](ctx, tenant_id=shop.tenant.id, account_id=env.account_id)
    assert totals["checked"] == 7 and totals["calls"] == 3  # track_batch is 3
    assert [len(c) for c in parcelpost.carrier.calls] == [3, 3, 1]
    assert (await shop.order("PL-0")).status == "delivered"
    assert (await shipment(shop, shipments[1][0])).estimated_delivery == date.today() + timedelta(days=3)
    assert (await shipment(shop, shipments[1][0])).tracking_status == "picked_up"
    for sid, _ in shipments:
        assert (await shipment(shop, sid)).tracking_checked_at is not None

    # nothing new at the carrier: the next poll writes no scan and skips the delivered one
    parcelpost.carrier.calls.clear()
    before = await count(shop, TrackingEventRow)
    again = await JOBS["track_account"](ctx, tenant_id=shop.tenant.id, account_id=env.account_id)
    assert again["checked"] == 6 and again["recorded"] == 0
    assert await count(shop, TrackingEventRow) == before
    assert sum(len(c) for c in parcelpost.carrier.calls) == 6

    # the sweep queues the account once per interval, however often it runs
    queued: list[tuple[str, str | None]] = []

    class Recorder:
        async def enqueue(self, name: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
            if any(j == job_id for _, j in queued):
                return False
            queued.append((name, job_id))
            return True

        async def ping(self) -> bool:
            return True

    import dataclasses

    sweep_ctx = dataclasses.replace(ctx, queue=Recorder())
    await JOBS["tracking_sweep"](sweep_ctx)
    await JOBS["tracking_sweep"](sweep_ctx)
    mine = [
        j
        for name, j in queued
        if name == "track_account" and j and j.startswith(f"track_account:{env.account_id}:")
    ]
    assert len(mine) == 1


async def test_a_wrong_api_key_is_kept_on_the_account(env: Env, app: Any) -> None:
    shop = env.shop
    await env.shipped("PL-KEY")
    async with shop.write() as session:
        await session.execute(
            update(CarrierAccount)
            .where(CarrierAccount.id == env.account_id)
            .values(credentials_encrypted=app.vault.encrypt({"api_key": "wrong", "webhook_secret": "x"}))
        )
    totals = await JOBS["track_account"](
        shop.app.job_context(), tenant_id=shop.tenant.id, account_id=env.account_id
    )
    assert totals["recorded"] == 0
    async with shop.read() as session:
        account = await session.scalar(select(CarrierAccount).where(CarrierAccount.id == env.account_id))
        assert account is not None and account.last_error and "CREDENTIALS" in account.last_error


# --------------------------------------------------------------------------- pushes


async def test_carrier_pushes_are_verified_and_recorded(env: Env, api: Any) -> None:
    shop = env.shop
    sid, (number,) = await env.shipped("PU-1")
    soon = datetime.now(UTC) + timedelta(seconds=1)  # after the label's own scan
    env.emulator.scan(number, TrackingStatus.PICKED_UP, at=soon)
    env.emulator.scan(
        number, TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID, at=soon + timedelta(seconds=1)
    )
    headers, body = env.emulator.tracking_push(number)
    url = f"/webhooks/carriers/parcelpost/{env.webhook_key}"

    answer = await api.client.post(url, content=body, headers=headers)
    assert answer.status_code == 200
    assert (await shipment(shop, sid)).tracking_status == "on_hold"
    assert set(await exceptions(shop, sid)) == {"customs_hold"}
    stored = await count(shop, TrackingEventRow, TrackingEventRow.shipment_id == sid)
    assert stored == 3  # the label, picked up, on hold

    again = await api.client.post(url, content=body, headers=headers)  # delivered again
    assert again.status_code == 200
    assert await count(shop, TrackingEventRow, TrackingEventRow.shipment_id == sid) == stored

    tampered = await api.client.post(url, content=body.replace(b"found", b"fxund"), headers=headers)
    assert tampered.status_code == 401
    unsigned = await api.client.post(url, content=body)
    assert unsigned.status_code == 401
    unknown = await api.client.post("/webhooks/carriers/parcelpost/not-a-key", content=body, headers=headers)
    assert unknown.status_code == 404
    other = await api.client.post(
        f"/webhooks/carriers/nocarrier/{env.webhook_key}", content=body, headers=headers
    )
    assert other.status_code == 404
    from ..tracking_kit import sign

    junk = b'{"results": 3}'
    malformed = await api.client.post(
        url, content=junk, headers={"x-parcelpost-signature": sign("pp-secret", junk)}
    )
    assert malformed.status_code == 400


# --------------------------------------------------------------------------- concurrency


async def test_a_poll_and_pushes_racing_record_each_scan_once(env: Env, api: Any) -> None:
    """Ten pushes and ten polls of the same scans at once, as several server and worker
    processes would: one row per scan, one exception, one exception event, one notice."""
    shop = env.shop
    await _canned(shop, "held", {"en": "Order {order_number} is held by customs."})
    await _rule(shop, "customs_hold", "held")
    sid, (number,) = await env.shipped("RC-1")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    env.emulator.scan(number, TrackingStatus.PICKED_UP, at=soon)
    env.emulator.scan(
        number, TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD, at=soon + timedelta(seconds=1)
    )
    headers, body = env.emulator.tracking_push(number)
    url = f"/webhooks/carriers/parcelpost/{env.webhook_key}"
    ctx = shop.app.job_context()

    async def push() -> int:
        return int((await api.client.post(url, content=body, headers=headers)).status_code)

    async def poll() -> Any:
        async with shop.write() as session:  # make it due again
            await session.execute(update(Shipment).where(Shipment.id == sid).values(tracking_checked_at=None))
        return await JOBS["track_account"](ctx, tenant_id=shop.tenant.id, account_id=env.account_id)

    outcomes = await asyncio.gather(*(push() if i % 2 else poll() for i in range(20)))
    assert [o for o in outcomes if isinstance(o, int)] == [200] * 10
    assert await count(shop, TrackingEventRow, TrackingEventRow.shipment_id == sid) == 3
    assert await count(shop, ShipmentException, ShipmentException.shipment_id == sid) == 1
    assert await events(shop, "shipment.exception") == 1
    assert await events(shop, "shipment.tracking_updated") == 1
    (exception_id,) = [e.id for e in (await exceptions(shop, sid)).values()]
    await asyncio.gather(*(_notice(shop, exception_id) for _ in range(6)))
    assert [m.text for m in shop.market.sent] == ["Order RC-1 is held by customs."]
    async with shop.read() as session:
        order = await session.scalar(select(Order).where(Order.external_id == "RC-1"))
        assert order is not None
        assert await session.scalar(select(func.count()).select_from(ExceptionNoticeRule)) == 1


async def test_a_carrier_that_only_pushes_is_not_polled_but_still_swept(
    env: Env, parcelpost: ParcelPostPlugin
) -> None:
    from crossdock.providers import CarrierCapability

    shop = env.shop
    now = datetime.now(UTC)
    stale, _ = await env.shipped("OP-1", shipped_at=now - timedelta(days=9))
    fresh, _ = await env.shipped("OP-2")
    parcelpost.carrier.capabilities = frozenset({CarrierCapability.TRACKING_PUSH})
    totals = await JOBS["track_account"](
        shop.app.job_context(), tenant_id=shop.tenant.id, account_id=env.account_id
    )
    assert totals["calls"] == 0 and totals["checked"] == 2 and totals["exceptions"] == 1
    assert parcelpost.carrier.calls == []
    assert set(await exceptions(shop, stale)) == {"no_scan"}  # the default: 5 days
    assert await exceptions(shop, fresh) == {}
