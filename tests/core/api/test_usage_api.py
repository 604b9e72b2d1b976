"""Usage per tenant and month: counters moved by ingesting orders, buying a label (against a
carrier emulator), sending webhooks and calling the API; active listings as a peak; UTC
month boundaries; and an agency's key seeing the brands it reaches and no other."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crossdock.api.schema.relay import decode_id
from crossdock.db.models import Listing, Organization, Tenant, UsageDelta, UsageMetric, UsageMonthly
from crossdock.jobs.bulk import usage_compact, usage_snapshot
from crossdock.jobs.webhooks import dispatch
from crossdock.services import tenancy, usage
from crossdock.services.events import emit
from crossdock.testing.emulator import serve
from crossdock.testing.webhooks import WebhookReceiver

from .test_shipping_api import BERLIN, Floor, carriers

USAGE = """query($m: String!) { usage(month: $m) { tenantSlug month ordersIngested labelsBought
  apiCostPoints activeListings webhookDeliveries figures { metric value } } }"""


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def _usage(api: Any, key: str, month: str | None = None) -> dict[str, Any]:
    return dict((await api.data(USAGE, {"m": month or _month()}, key=key))["usage"])


async def test_orders_ingested_are_counted_once(api: Any, app: Any, shop: Any) -> None:
    market = shop.market
    page = [market.add_order(f"U-{i}") for i in range(3)]
    await shop.ingest(*page)
    await shop.ingest(*page)  # delivered again: updates (ignored), not new orders
    await shop.ingest(
        market.add_order("U-0", status="cancelled", updated=datetime.now(UTC) + timedelta(seconds=5))
    )
    found = await _usage(api, shop.tenant.key)
    assert found["ordersIngested"] == 3
    assert (found["tenantSlug"], found["month"]) == (shop.tenant.slug, _month())
    assert {f["metric"]: f["value"] for f in found["figures"]}["ORDERS_INGESTED"] == 3
    assert found["activeListings"] == 2  # the shop's two listings, counted live this month


async def test_api_cost_points_are_the_actual_cost_charged(api: Any, app: Any, shop: Any) -> None:
    await app.usage.flush(app.db)  # what other tests' requests left in this process
    spent = 0
    for query in (
        "{ orders { nodes { id } } }",
        "{ warehouses { nodes { id code } } }",
        "{ viewer { tenantSlug } }",
    ):
        body = await api(query, key=shop.tenant.key)
        spent += body["extensions"]["cost"]["actualQueryCost"]
    assert app.usage.pending[(shop.tenant.id, _month())] == spent > 0
    assert await app.usage.flush(app.db) >= spent
    assert app.usage.pending == {}
    assert (await _usage(api, shop.tenant.key))["apiCostPoints"] == spent


async def test_a_label_bought_is_counted_once(api: Any, app: Any, shop: Any) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        await floor.rule("All", [{"carrierAccountId": account}])
        shipment = await floor.packed("UL-1", BERLIN)
        bought = await floor.buy(shipment)
        assert bought["userErrors"] == []
        again = await floor.buy(shipment)
        assert [e["code"] for e in again["userErrors"]] == ["LABEL_EXISTS"]
    assert (await _usage(api, shop.tenant.key))["labelsBought"] == 1


async def test_webhook_requests_sent_are_counted(api: Any, app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    receiver = WebhookReceiver(by_payload=True)
    async with serve(receiver) as url:
        made = await api.data(
            """mutation($u: String!) { webhookEndpointCreate(input: {url: $u, eventTypes: [ORDER_HELD]})
            { endpoint { id } userErrors { code } } }""",
            {"u": url + "/in"},
            key=tenant.key,
        )
        endpoint = made["webhookEndpointCreate"]["endpoint"]["id"]
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            for i, answer in enumerate((200, 200, 404)):
                emit(session, "order.held", f"Order:{i + 1}", answer=answer)
        result = await dispatch(app.job_context(), tenant.id, decode_id(endpoint)[1])
    assert (result["succeeded"], result["failed"]) == (2, 1)
    assert (await _usage(api, tenant.key))["webhookDeliveries"] == 3 == len(receiver.requests)


async def test_months_are_utc_calendar_months_and_listings_a_peak(api: Any, app: Any, shop: Any) -> None:
    before = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)
    async with shop.write() as session:
        await usage.count(session, UsageMetric.LABELS_BOUGHT, 2, now=before)
        await usage.count(session, UsageMetric.LABELS_BOUGHT, 5, now=after)
        # 08:00 on 1 December in Singapore is still November in UTC
        await usage.count(
            session, UsageMetric.LABELS_BOUGHT, 1, now=datetime.fromisoformat("2026-12-01T07:59:59+08:00")
        )
    assert (await _usage(api, shop.tenant.key, "2026-11"))["labelsBought"] == 3
    assert (await _usage(api, shop.tenant.key, "2026-12"))["labelsBought"] == 5
    assert (await _usage(api, shop.tenant.key, "2025-12"))["labelsBought"] == 0

    # the peak of active listings: sampled, kept when listings go
    assert await usage_snapshot(app.job_context(), now=before) >= 1
    async with shop.write() as session:
        gone = await session.scalar(select(Listing).where(Listing.channel_sku == "sg-SKU-2"))
        await session.delete(gone)
    await usage_snapshot(app.job_context(), now=before)
    assert (await _usage(api, shop.tenant.key, "2026-11"))["activeListings"] == 2
    assert (await _usage(api, shop.tenant.key))["activeListings"] == 1  # now: the live count

    bad = await api(USAGE, {"m": "2026-13"}, key=shop.tenant.key)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_MONTH"


async def test_agency_usage_covers_the_brands_its_key_reaches_and_no_other(
    api: Any, app: Any, shop: Any, tenant_factory: Any
) -> None:
    await shop.ingest(shop.market.add_order("AU-1"), shop.market.add_order("AU-2"))
    async with app.db.write(system=True) as session:
        org = await session.get(Organization, shop.tenant.organization_id)
        first = await session.get(Tenant, shop.tenant.id)
        assert org is not None and first is not None
        second = await tenancy.create_tenant(session, org, f"{shop.tenant.slug}-b", "Second brand")
        third = await tenancy.create_tenant(session, org, f"{shop.tenant.slug}-c", "Third brand")
        _, agency = await tenancy.create_api_key(
            session, org, name="agency", scopes=["usage:read"], tenants=[first, second]
        )
    async with app.db.write(second.id, slug=second.slug) as session:
        await usage.count(session, UsageMetric.ORDERS_INGESTED, 7)
    async with app.db.write(third.id, slug=third.slug) as session:
        await usage.count(session, UsageMetric.ORDERS_INGESTED, 100)
    query = "query($m: String!) { agencyUsage(month: $m) { tenantSlug ordersIngested } }"
    rows = (await api.data(query, {"m": _month()}, key=agency, tenant=shop.tenant.slug))["agencyUsage"]
    assert rows == [
        {"tenantSlug": shop.tenant.slug, "ordersIngested": 2},
        {"tenantSlug": second.slug, "ordersIngested": 7},
    ]
    stranger = await tenant_factory()
    theirs = (await api.data(query, {"m": _month()}, key=stranger.key))["agencyUsage"]
    assert theirs == [{"tenantSlug": stranger.slug, "ordersIngested": 0}]
    refused = await api(query, {"m": _month()}, key=(await tenant_factory(scopes=["orders:read"])).key)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_compaction_moves_deltas_into_the_month_and_changes_no_figure(
    api: Any, app: Any, shop: Any
) -> None:
    november = datetime(2026, 11, 15, tzinfo=UTC)
    async with shop.write() as session:
        for n in (1, 2, 3):
            await usage.count(session, UsageMetric.LABELS_BOUGHT, n, now=november)
    await shop.ingest(shop.market.add_order("UC-1"), shop.market.add_order("UC-2"))
    before = (
        (await _usage(api, shop.tenant.key, "2026-11"))["labelsBought"],
        (await _usage(api, shop.tenant.key))["ordersIngested"],
    )
    assert before == (6, 2)
    assert await usage_compact(app.job_context()) >= 4  # the three label deltas and the ingest's
    async with shop.read() as session:
        left = await session.scalar(select(func.count()).select_from(UsageDelta))
        months = {(m.month, m.metric): m.value for m in (await session.scalars(select(UsageMonthly))).all()}
    assert left == 0
    assert months[("2026-11", "labels_bought")] == 6
    after = (
        (await _usage(api, shop.tenant.key, "2026-11"))["labelsBought"],
        (await _usage(api, shop.tenant.key))["ordersIngested"],
    )
    assert after == before
    # counted again after a compaction: added to what is there
    await shop.ingest(shop.market.add_order("UC-3"))
    assert (await _usage(api, shop.tenant.key))["ordersIngested"] == 3
    await usage_compact(app.job_context())
    assert (await _usage(api, shop.tenant.key))["ordersIngested"] == 3


async def test_counting_never_makes_a_tenants_transactions_wait_on_each_other(app: Any, shop: Any) -> None:
    """One counter row per tenant and month moved by every ingest would be locked until each
    transaction commits: a second transaction counting for the tenant would wait on it."""
    if app.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time")
    async with shop.write() as first:
        await usage.count(first, UsageMetric.ORDERS_INGESTED, 1)

        async def second() -> None:
            async with shop.write() as session:
                await usage.count(session, UsageMetric.ORDERS_INGESTED, 1)

        # commits while the first transaction still holds what it wrote
        await asyncio.wait_for(second(), timeout=10)
    async with shop.read() as session:
        total = await session.scalar(select(func.sum(UsageDelta.value)))
    assert total == 2
