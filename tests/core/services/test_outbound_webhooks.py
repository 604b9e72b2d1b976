"""Outbound webhooks against a real receiver on loopback: signatures the Standard Webhooks
reference library verifies (during a rotation too), the retry rules and schedule, an
endpoint disabled after a day of failures, redelivery, filters, and URLs the server may not
call. Time is driven through ``now``: nothing here waits for the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from crossdock.db.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from crossdock.errors import UserError
from crossdock.jobs.webhooks import dispatch
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.services import outbound_webhooks as hooks
from crossdock.services.events import emit
from crossdock.testing.emulator import serve
from crossdock.testing.webhooks import WebhookReceiver

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    found = WebhookReceiver()
    async with serve(found) as url:
        found.url = url  # type: ignore[attr-defined]
        yield found


async def _endpoint(
    app: Any, tenant: Any, url: str, types: tuple[str, ...] = ("stock.low",), **kw: Any
) -> tuple[int, str]:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        row, secret = await hooks.create_endpoint(
            session, app.vault, url=url, event_types=types, policy=app.http.policy, **kw
        )
    return int(row.id), secret


async def _emit(
    app: Any, tenant: Any, n: int = 1, type: str = "stock.low", subject: str = "Variant:7", **payload: Any
) -> None:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        for i in range(n):
            emit(session, type, subject, n=i, **payload)


async def _deliveries(app: Any, tenant: Any) -> list[WebhookDelivery]:
    async with app.db.tenant(tenant.id) as session:
        return list((await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all())


async def _endpoint_row(app: Any, tenant: Any, endpoint_id: int) -> WebhookEndpoint:
    async with app.db.tenant(tenant.id) as session:
        row = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
        assert row is not None
        return row


async def test_a_delivery_verifies_with_the_reference_library(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    endpoint, secret = await _endpoint(app, tenant, receiver.url + "/in?source=crossdock")
    assert secret.startswith("whsec_") and len(hooks._key(secret)) >= 24
    await _emit(app, tenant, sku="SKU-1")
    counts = await dispatch(app.job_context(), tenant.id, endpoint)
    assert counts["succeeded"] == 1
    [request] = receiver.requests
    assert request.path == "/in"
    parsed = Webhook(secret).verify(request.body, request.headers)
    assert parsed["type"] == "stock.low"
    assert parsed["data"]["payload"] == {"n": 0, "sku": "SKU-1"}
    assert parsed["data"]["tenant"] == tenant.slug
    datetime.fromisoformat(parsed["timestamp"])  # ISO 8601
    [delivery] = await _deliveries(app, tenant)
    assert request.webhook_id == delivery.message_id
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    with pytest.raises(WebhookVerificationError):  # another secret does not verify it
        Webhook(hooks.generate_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):  # nor does a changed body
        Webhook(secret).verify(request.body.replace(b"SKU-1", b"SKU-2"), request.headers)


async def test_during_a_rotation_both_secrets_verify_then_only_the_new_one(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    endpoint, old = await _endpoint(app, tenant, receiver.url + "/in")
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        _, new = await hooks.rotate_secret(session, app.vault, endpoint, overlap=timedelta(hours=24), now=T0)
    await _emit(app, tenant)
    await dispatch(app.job_context(), tenant.id, endpoint, now=T0 + timedelta(hours=1))
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(during.body, during.headers)
    await _emit(app, tenant)
    await dispatch(app.job_context(), tenant.id, endpoint, now=T0 + timedelta(hours=25))
    after = receiver.requests[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


async def test_5xx_408_and_429_are_retried_other_4xx_are_not(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    receiver.by_payload = True
    endpoint, _ = await _endpoint(app, tenant, receiver.url + "/in")
    retried, refused = (500, 502, 503, 504, 408, 429), (400, 401, 403, 404, 410, 422)
    for code in retried + refused:
        await _emit(app, tenant, answer=code)
    counts = await dispatch(app.job_context(), tenant.id, endpoint, now=T0)
    assert (counts["retried"], counts["failed"]) == (len(retried), len(refused))
    by_code = {d.last_status_code: d for d in await _deliveries(app, tenant)}
    for code in retried:
        row = by_code[code]
        assert (row.status, row.retry_step) == ("pending", 1), code
        assert row.next_attempt_at is not None
        assert timedelta(seconds=4.5) <= row.next_attempt_at - T0 <= timedelta(seconds=5.5), code
    for code in refused:
        assert (by_code[code].status, by_code[code].next_attempt_at) == ("failed", None), code
    # a network error (nothing listens there) is retried too
    closed = await _endpoint(app, tenant, "http://127.0.0.1:9/in")
    await _emit(app, tenant)
    counts = await dispatch(app.job_context(), tenant.id, closed[0], now=T0)
    assert counts["retried"] == 1
    async with app.db.tenant(tenant.id) as session:
        attempt = await session.scalar(
            select(WebhookAttempt)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(WebhookDelivery.endpoint_id == closed[0])
        )
    assert attempt is not None and attempt.status_code is None and attempt.result == "retry"
    assert attempt.error


async def test_the_backoff_follows_the_schedule_for_more_than_a_day_then_gives_up(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    receiver.by_payload = True
    endpoint, _ = await _endpoint(app, tenant, receiver.url + "/in")
    await _emit(app, tenant, answer=503)
    now = T0
    waits = []
    for _ in range(len(hooks.RETRY_DELAYS) + 1):
        await dispatch(app.job_context(), tenant.id, endpoint, now=now)
        [row] = await _deliveries(app, tenant)
        if row.status != "pending":
            break
        assert row.next_attempt_at is not None
        # nothing is sent before it is due
        sent = len(receiver.requests)
        await dispatch(app.job_context(), tenant.id, endpoint, now=row.next_attempt_at - timedelta(seconds=1))
        assert len(receiver.requests) == sent
        waits.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at
    assert row.status == "failed" and row.attempts == len(hooks.RETRY_DELAYS) + 1
    assert len(waits) == len(hooks.RETRY_DELAYS)
    for wait, planned in zip(waits, hooks.RETRY_DELAYS, strict=True):
        assert planned * 0.9 <= wait <= planned * 1.1, (wait, planned)
    assert now - T0 >= timedelta(hours=24)
    assert len({r.webhook_id for r in receiver.requests}) == 1  # the same webhook-id each time
    # failing for more than a day, the endpoint was disabled on the way
    assert (await _endpoint_row(app, tenant, endpoint)).status == "disabled"
    # a Retry-After asking for more than the schedule is honoured
    other, _ = await _endpoint(app, tenant, receiver.url + "/in")
    receiver.answers = [(429, {"Retry-After": "3600"})]
    await _emit(app, tenant)
    await dispatch(app.job_context(), tenant.id, other, now=now)
    last = (await _deliveries(app, tenant))[-1]
    assert last.next_attempt_at is not None and last.next_attempt_at - now == timedelta(seconds=3600)


def test_retry_delay_jitters_within_a_tenth_and_ends() -> None:
    assert hooks.retry_delay(1, rand=lambda: 0.0) == timedelta(seconds=4.5)
    assert hooks.retry_delay(1, rand=lambda: 1.0) == timedelta(seconds=5.5)
    assert hooks.retry_delay(len(hooks.RETRY_DELAYS) + 1) is None
    assert hooks.retry_delay(2, retry_after=10**9, rand=lambda: 0.5) == hooks.MAX_RETRY_AFTER
    assert sum(hooks.RETRY_DELAYS) * 0.9 > 24 * 3600


async def _events_of(app: Any, tenant: Any, type: str) -> list[Event]:
    async with app.db.tenant(tenant.id) as session:
        return list((await session.scalars(select(Event).where(Event.type == type))).all())


async def test_an_endpoint_failing_for_a_day_is_disabled_and_the_tenant_told(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    receiver.by_payload = True
    endpoint, _ = await _endpoint(app, tenant, receiver.url + "/in")
    watcher, _ = await _endpoint(app, tenant, receiver.url + "/watch", types=("webhook_endpoint.disabled",))
    ctx = app.job_context()
    await _emit(app, tenant, answer=500)
    await dispatch(ctx, tenant.id, endpoint, now=T0)
    # a success 20 hours later starts the day afresh
    await _emit(app, tenant, answer=200)
    await dispatch(ctx, tenant.id, endpoint, now=T0 + timedelta(hours=20))
    assert (await _endpoint_row(app, tenant, endpoint)).failing_since is None
    # failures from hour 21 on: not disabled at hour 44, disabled at hour 45
    await _emit(app, tenant, answer=500)
    await dispatch(ctx, tenant.id, endpoint, now=T0 + timedelta(hours=21))
    for hours, status in ((44, "active"), (45, "disabled")):
        await _emit(app, tenant, answer=500)
        counts = await dispatch(ctx, tenant.id, endpoint, now=T0 + timedelta(hours=hours))
        row = await _endpoint_row(app, tenant, endpoint)
        assert row.status == status, hours
    assert counts["disabled"] == 1
    assert row.failing_since == T0 + timedelta(hours=21)
    [told] = await _events_of(app, tenant, "webhook_endpoint.disabled")
    assert told.subject == f"WebhookEndpoint:{endpoint}"
    # the other endpoint is told over its webhook
    await dispatch(ctx, tenant.id, watcher, now=T0 + timedelta(hours=45))
    [notice] = [r for r in receiver.requests if r.path == "/watch"]
    assert notice.json()["type"] == "webhook_endpoint.disabled"
    # nothing is sent to a disabled endpoint, whatever is due
    sent = len(receiver.requests)
    await _emit(app, tenant, answer=200)
    await dispatch(ctx, tenant.id, endpoint, now=T0 + timedelta(hours=60))
    assert len(receiver.requests) == sent
    # enabled again, it gets what it missed and what is due
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        await hooks.enable_endpoint(uow, endpoint)
    await dispatch(ctx, tenant.id, endpoint, now=T0 + timedelta(hours=61))
    assert any(
        r.json()["data"]["payload"].get("n") == 0 and r.status == 200 for r in receiver.requests[sent:]
    )
    assert (await _endpoint_row(app, tenant, endpoint)).status == "active"


async def test_redelivery_by_id_and_of_the_failed_ones_in_a_window(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    receiver.answers = [400, 400, 400]
    endpoint, _ = await _endpoint(app, tenant, receiver.url + "/in")
    await _emit(app, tenant, 3)
    await dispatch(app.job_context(), tenant.id, endpoint, now=T0)
    rows = await _deliveries(app, tenant)
    assert [r.status for r in rows] == ["failed"] * 3
    first = rows[0]
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        assert await hooks.redeliver(uow, delivery_ids=[first.id], now=T0 + timedelta(minutes=1)) == 1
    await dispatch(app.job_context(), tenant.id, endpoint, now=T0 + timedelta(minutes=1))
    assert receiver.requests[-1].webhook_id == first.message_id  # the same id again
    assert receiver.accepted[first.message_id] == 1
    # every failed one made in a window: the other two
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        count = await hooks.redeliver(
            uow, endpoint_id=endpoint, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1), now=T0
        )
    assert count == 2
    await dispatch(app.job_context(), tenant.id, endpoint, now=T0 + timedelta(minutes=2))
    rows = await _deliveries(app, tenant)
    assert [(r.status, r.attempts) for r in rows] == [("succeeded", 2)] * 3
    assert set(receiver.accepted) == {r.message_id for r in rows}
    assert set(receiver.accepted.values()) == {1}
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:  # an empty window: nothing
        assert await hooks.redeliver(uow, endpoint_id=endpoint, until=T0 - timedelta(days=1)) == 0


async def test_types_and_a_subject_prefix_choose_the_events(
    app: Any, tenant_factory: Any, receiver: Any
) -> None:
    tenant = await tenant_factory()
    endpoint, _ = await _endpoint(
        app, tenant, receiver.url + "/in", types=("order.held", "order.released"), subject_prefix="Order:1"
    )
    await _emit(app, tenant, type="order.held", subject="Order:12")
    await _emit(app, tenant, type="order.held", subject="Order:21")  # another prefix
    await _emit(app, tenant, type="order.cancelled", subject="Order:13")  # another type
    await _emit(app, tenant, type="order.released", subject="Order:1")
    await dispatch(app.job_context(), tenant.id, endpoint)
    seen = sorted((r.json()["type"], r.json()["data"]["payload"]["n"]) for r in receiver.requests)
    assert seen == [("order.held", 0), ("order.released", 0)]
    row = await _endpoint_row(app, tenant, endpoint)
    async with app.db.tenant(tenant.id) as session:  # the cursor passed every event it read
        last = await session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    assert row.cursor_id == last


HOSTILE = [
    "http://example.com/hook",  # not https
    "ftp://example.com/hook",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://localhost/hook",
    "https://api.localhost/hook",
    "https://metadata.internal/hook",
    "https://intranet/hook",
    "https://user:pw@example.com/hook",
    "https://example.com/hook#fragment",
    "",
]


@pytest.mark.parametrize("url", HOSTILE)
async def test_hostile_urls_are_refused_when_stored(app: Any, tenant_factory: Any, url: str) -> None:
    tenant = await tenant_factory()
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        with pytest.raises(UserError) as refused:
            await hooks.create_endpoint(
                session, app.vault, url=url, event_types=["stock.low"], policy=OutboundPolicy()
            )
    assert (refused.value.code, refused.value.field) == ("URL_NOT_ALLOWED", "url")


async def test_a_public_https_url_with_a_query_is_accepted(app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        row, _ = await hooks.create_endpoint(
            session,
            app.vault,
            url="https://hooks.example.com/in?token=abc",
            event_types=["stock.low"],
            policy=OutboundPolicy(),
        )
    assert row.url == "https://hooks.example.com/in?token=abc"


async def test_the_guard_refuses_at_send_time_too(app: Any, tenant_factory: Any, receiver: Any) -> None:
    """Stored while the operator allowed loopback; sent by a server that does not: the
    request is never made and the delivery fails without retries."""
    tenant = await tenant_factory()
    endpoint, _ = await _endpoint(app, tenant, receiver.url + "/in")
    await _emit(app, tenant)
    ctx = app.job_context()
    ctx.http = OutboundHTTP(OutboundPolicy())
    try:
        counts = await dispatch(ctx, tenant.id, endpoint, now=T0)
    finally:
        await ctx.http.aclose()
    assert counts["failed"] == 1
    assert receiver.requests == []
    [row] = await _deliveries(app, tenant)
    assert row.status == "failed" and (row.last_error or "").startswith("URL_NOT_ALLOWED")


async def test_bad_input_is_refused_with_a_typed_error(app: Any, tenant_factory: Any, receiver: Any) -> None:
    tenant = await tenant_factory()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"event_types": []}, "REQUIRED", "eventTypes"),
        ({"event_types": ["order.exploded"]}, "INVALID", "eventTypes.0"),
        ({"subject_prefix": "Order:abc"}, "INVALID", "filter.subjectPrefix"),
        ({"description": "x" * 300}, "TOO_LONG", "description"),
    ]
    for changes, code, field in cases:
        arguments: dict[str, Any] = {"url": receiver.url + "/in", "event_types": ["stock.low"], **changes}
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            with pytest.raises(UserError) as refused:
                await hooks.create_endpoint(session, app.vault, policy=app.http.policy, **arguments)
        assert (refused.value.code, refused.value.field) == (code, field), changes
    endpoint, _ = await _endpoint(app, tenant, receiver.url + "/in")
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        with pytest.raises(UserError) as refused:
            await hooks.rotate_secret(session, app.vault, endpoint, overlap=timedelta(days=30))
    assert refused.value.code == "OUT_OF_RANGE"


def test_every_event_the_core_emits_is_an_event_type() -> None:
    """What endpoints subscribe to is a closed set: every literal ``emit`` type is a member,
    and so is every value of the ``order.<status>`` family (the dynamic ones)."""
    import ast
    from pathlib import Path

    from crossdock.db.models import OrderStatus
    from crossdock.providers import SettlementStatus
    from crossdock.services.events import EventType

    core = Path(hooks.__file__).resolve().parents[1]
    literal: set[str] = set()
    for path in core.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) == "emit"
                )
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                literal.add(str(node.args[1].value))
    assert len(literal) > 30
    known = {t.value for t in EventType}
    assert literal <= known, sorted(literal - known)
    assert {f"order.{s.value}" for s in OrderStatus if s != OrderStatus.PENDING} <= known
    assert {f"settlement.{s.value}" for s in SettlementStatus} <= known
    assert {
        "promotion.started",
        "promotion.scheduled",
        "promotion.ended",
        "order.late",
        "order.sla_at_risk",
    } <= known
