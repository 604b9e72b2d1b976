"""Tenant settings over GraphQL: read with defaults, changed in part, each value checked as
the services read it, and concurrent updates of different settings both kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crossdock.db.models import AnalyticsMark, Event, Order, Tenant
from crossdock.services.analytics import analytics_settings
from crossdock.services.reports import due_reports

SETTINGS = """{ tenantSettings { reportingCurrency timezone locale allowSplit taxSellerCountry
  taxRegistrations incoterm cogsMethod shippingEstimate { amount currency } reportHour noScanDays
  noScanLanes { lane days } auditRetentionDays updatedAt } }"""
UPDATE = """mutation($i: TenantSettingsInput!) { tenantSettingsUpdate(input: $i) {
  settings { reportingCurrency timezone locale allowSplit taxSellerCountry taxRegistrations incoterm
    cogsMethod shippingEstimate { amount currency } reportHour noScanDays noScanLanes { lane days } }
  changed userErrors { field code message } } }"""


@pytest.fixture
async def tenant(tenant_factory: Any) -> Any:
    return await tenant_factory()


async def _update(api: Any, key: str, **given: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(UPDATE, {"i": given}, key=key))["tenantSettingsUpdate"]
    return payload


async def test_settings_read_with_defaults_and_change_in_part(api: Any, app: Any, tenant: Any) -> None:
    before = (await api.data(SETTINGS, key=tenant.key))["tenantSettings"]
    assert before == {
        "reportingCurrency": "USD",
        "timezone": "UTC",
        "locale": "en",
        "allowSplit": True,
        "taxSellerCountry": None,
        "taxRegistrations": [],
        "incoterm": "DDU",
        "cogsMethod": "WEIGHTED_AVERAGE",
        "shippingEstimate": None,
        "reportHour": 6,
        "noScanDays": 5,
        "noScanLanes": [],
        "auditRetentionDays": 365,
        "updatedAt": None,
    }
    done = await _update(
        api,
        tenant.key,
        reportingCurrency="sgd",
        timezone="Asia/Singapore",
        locale="zh-Hant-TW",
        taxSellerCountry="sg",
        taxRegistrations=["ioss", "EU-OSS", "IOSS"],
        shippingEstimate={"amount": "4.50", "currency": "SGD"},
        reportHour=7,
        noScanLanes=[{"lane": "SG-DE", "days": 9}],
        auditRetentionDays=90,
    )
    assert done["userErrors"] == []
    assert sorted(done["changed"]) == sorted(
        [
            "reporting_currency",
            "timezone",
            "locale",
            "tax.seller_country",
            "tax.registrations",
            "analytics.shipping_estimate",
            "reports.hour",
            "tracking.no_scan_days.lanes",
            "audit.retention_days",
        ]
    )
    after = (await api.data(SETTINGS, key=tenant.key))["tenantSettings"]
    assert after["reportingCurrency"] == "SGD" and after["locale"] == "zh-Hant-TW"
    assert after["taxSellerCountry"] == "SG"
    assert after["taxRegistrations"] == ["EU-OSS", "IOSS"]
    assert after["shippingEstimate"] == {"amount": "4.50", "currency": "SGD"}
    assert (after["reportHour"], after["noScanDays"]) == (7, 5)
    assert after["noScanLanes"] == [{"lane": "SG-DE", "days": 9}]
    assert after["auditRetentionDays"] == 90
    assert after["updatedAt"] is not None
    # what was not given is as it was
    assert (after["allowSplit"], after["incoterm"], after["cogsMethod"]) == (True, "DDU", "WEIGHTED_AVERAGE")

    # the services read what was set
    async with app.db.tenant(tenant.id, tenant.slug) as session:
        config = await analytics_settings(session)
        event = await session.scalar(select(Event).where(Event.type == "tenant.settings_changed"))
    assert (config.currency, config.zone.key, config.shipping_estimate) == (
        "SGD",
        "Asia/Singapore",
        (Decimal("4.50"), "SGD"),
    )
    assert event is not None and "reports.hour" in event.payload["changed"]

    # the audit log holds the change, before and after
    log = await api.data(
        '{ auditLog(filter: {operation: "tenantSettingsUpdate"}) { nodes { outcome changes } } }',
        key=tenant.key,
    )
    (entry,) = log["auditLog"]["nodes"]
    (change,) = [c for c in entry["changes"] if c["object"] == "Tenant"]
    settings_change = change["fields"]["settings"]
    assert settings_change["after"]["reports"] == {"hour": 7}
    assert "reports" not in (settings_change["before"] or {})

    # the same values again change nothing; null puts a setting back to its default
    assert (await _update(api, tenant.key, reportHour=7, locale="zh-Hant-TW"))["changed"] == []
    reset = await _update(api, tenant.key, reportHour=None, noScanLanes=None)
    assert sorted(reset["changed"]) == ["reports.hour", "tracking.no_scan_days.lanes"]
    assert (reset["settings"]["reportHour"], reset["settings"]["noScanLanes"]) == (6, [])


@pytest.mark.parametrize(
    ("given", "field", "code"),
    [
        ({"reportingCurrency": "XXY"}, "input.reportingCurrency", "INVALID_CURRENCY"),
        ({"timezone": "Mars/Olympus_Mons"}, "input.timezone", "INVALID_TIMEZONE"),
        ({"timezone": "../../etc/passwd"}, "input.timezone", "INVALID_TIMEZONE"),
        ({"locale": "qq-QQ-nope"}, "input.locale", "INVALID_LOCALE"),
        ({"taxSellerCountry": "XX"}, "input.taxSellerCountry", "INVALID_COUNTRY"),
        ({"taxRegistrations": ["EU OSS; DROP"]}, "input.taxRegistrations", "INVALID"),
        (
            {"shippingEstimate": {"amount": "4.505", "currency": "USD"}},
            "input.shippingEstimate",
            "INVALID_AMOUNT",
        ),
        ({"shippingEstimate": {"amount": "-1", "currency": "USD"}}, "input.shippingEstimate", "OUT_OF_RANGE"),
        (
            {"shippingEstimate": {"amount": "1e9", "currency": "USD"}},
            "input.shippingEstimate",
            "OUT_OF_RANGE",
        ),
        ({"reportHour": 24}, "input.reportHour", "OUT_OF_RANGE"),
        ({"noScanDays": 0}, "input.noScanDays", "OUT_OF_RANGE"),
        ({"noScanLanes": [{"lane": "SGDE", "days": 3}]}, "input.noScanLanes", "INVALID_LANE"),
        ({"noScanLanes": [{"lane": "SG-DE", "days": 400}]}, "input.noScanLanes", "OUT_OF_RANGE"),
        ({"auditRetentionDays": 0}, "input.auditRetentionDays", "OUT_OF_RANGE"),
    ],
)
async def test_a_refused_value_names_its_field_and_changes_nothing(
    api: Any, tenant: Any, given: dict[str, Any], field: str, code: str
) -> None:
    # a valid change beside the refused one is not made either
    payload = await _update(
        api, tenant.key, **{"reportHour": 8, **given} if "reportHour" not in given else given
    )
    assert payload["settings"] is None
    ((error,),) = [payload["userErrors"]]
    assert (".".join(error["field"]), error["code"]) == (field, code)
    after = (await api.data(SETTINGS, key=tenant.key))["tenantSettings"]
    assert (after["reportHour"], after["locale"], after["updatedAt"]) == (6, "en", None)


async def test_currency_and_zone_are_fixed_once_there_are_orders_and_a_cost_method_remakes_figures(
    api: Any, app: Any, shop: Any
) -> None:
    await _update(api, shop.tenant.key, reportingCurrency="SGD")
    for n in range(3):
        await shop.ingest(shop.market.add_order(f"SET-{n}", buyer=f"Buyer {n}"))
    refused = await _update(api, shop.tenant.key, timezone="Europe/Berlin")
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "timezone"], "INVALID_STATE")
    ]
    refused = await _update(api, shop.tenant.key, reportingCurrency="EUR")
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "reportingCurrency"], "INVALID_STATE")
    ]
    # the same currency again is no change, so it is not refused
    assert (await _update(api, shop.tenant.key, reportingCurrency="SGD"))["userErrors"] == []

    async with shop.write() as session:
        await session.execute(AnalyticsMark.__table__.delete())
    done = await _update(api, shop.tenant.key, cogsMethod="FIFO")
    assert done["changed"] == ["analytics.cogs_method"]
    async with shop.read() as session:
        marked = set((await session.scalars(select(AnalyticsMark.order_id))).all())
        orders = set((await session.scalars(select(Order.id))).all())
    assert marked == orders and len(orders) == 3  # every order's figures are made again


async def test_the_daily_report_hour_the_scheduler_reads_is_the_one_set(
    api: Any, app: Any, tenant: Any
) -> None:
    await _update(api, tenant.key, timezone="Asia/Singapore", reportHour=9)
    async with app.db.tenant(tenant.id, tenant.slug) as session:
        config = await analytics_settings(session)
        settings = (await session.scalar(select(Tenant.settings).where(Tenant.id == tenant.id))) or {}
    eight_local = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)  # 08:30 in Singapore
    nine_local = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)  # 09:30
    assert due_reports(settings, config, eight_local) == []
    assert due_reports(settings, config, nine_local) != []


async def test_a_reading_key_cannot_change_settings(api: Any, tenant_factory: Any) -> None:
    reader = await tenant_factory(scopes=["settings:read"])
    assert (await api.data(SETTINGS, key=reader.key))["tenantSettings"]["reportHour"] == 6
    refused = await api(UPDATE, {"i": {"reportHour": 8}}, key=reader.key)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    nobody = await tenant_factory(scopes=["orders:read"])
    refused = await api(SETTINGS, key=nobody.key)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_concurrent_updates_of_different_settings_both_stand(api: Any, tenant: Any) -> None:
    """Each update locks the tenant row before it reads the settings it changes, so two
    concurrent partial updates never write back a copy that lacks the other's change."""
    hours = list(range(10))
    days = list(range(1, 11))

    async def hour(n: int) -> None:
        assert (await _update(api, tenant.key, reportHour=n))["userErrors"] == []

    async def scan(n: int) -> None:
        assert (await _update(api, tenant.key, noScanDays=n))["userErrors"] == []

    for h, d in zip(hours, days, strict=True):
        await asyncio.gather(hour(h), scan(d))
        now = (await api.data(SETTINGS, key=tenant.key))["tenantSettings"]
        assert (now["reportHour"], now["noScanDays"]) == (h, d)
