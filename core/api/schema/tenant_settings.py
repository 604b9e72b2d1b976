"""The tenant's settings: ``tenantSettings`` and ``tenantSettingsUpdate``
(:mod:`crossdock.services.tenant_settings` holds the rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.common import JSON, Money, MoneyInput
from crossdock.api.schema.errors import AccountUserError, in_transaction, requires
from crossdock.db.models import CostMethod
from crossdock.errors import UserError
from crossdock.providers import Incoterm
from crossdock.services.tenant_settings import SettingsView, read_settings, update_settings

__all__ = ["Mutation", "Query"]


@strawberry.type(description="Days without a carrier scan before a parcel counts as stuck, on one lane.")
class NoScanLane:
    lane: str = strawberry.field(description="Origin and destination countries, such as SG-DE.")
    days: int


@strawberry.type(description="The tenant's settings, defaults filled in.")
class TenantSettings:
    reporting_currency: str = strawberry.field(
        description="ISO 4217 code the figures and reports are kept in; fixed once there are orders."
    )
    timezone: str = strawberry.field(
        description="IANA time zone of report days and schedules; fixed once there are orders."
    )
    locale: str = strawberry.field(description="BCP 47 tag of buyer notices and reports.")
    allow_split: bool = strawberry.field(description="Whether an order may ship from several warehouses.")
    tax_seller_country: str | None = strawberry.field(description="Where the seller is established.")
    tax_registrations: list[str] = strawberry.field(
        description="Tax threshold keys registered for anyway (EU-OSS, IOSS, US-CA ...)."
    )
    incoterm: Incoterm = strawberry.field(description="Who pays duties when a label request does not say.")
    cogs_method: CostMethod
    shipping_estimate: Money | None = strawberry.field(
        description="Shipping cost per order until a label or a payout says what it was."
    )
    report_hour: int = strawberry.field(description="Local hour after which the daily report is made.")
    no_scan_days: int = strawberry.field(description="Days without a scan before a parcel counts as stuck.")
    no_scan_lanes: list[NoScanLane]
    audit_retention_days: int = strawberry.field(description="Days the audit log keeps its entries.")
    publish_unreviewed: bool = strawberry.field(
        description="Whether listing content machine-translated and not reviewed may be published."
    )
    forbidden_words: list[str] = strawberry.field(
        description="Words no listing title or description may hold (beside each channel's own)."
    )
    glossary: JSON = strawberry.field(
        description="Fixed terms per target language (`de`) or pair (`en->de`): term -> translation."
    )
    updated_at: datetime | None

    @classmethod
    def from_view(cls, view: SettingsView) -> TenantSettings:
        estimate = view.shipping_estimate
        return cls(
            reporting_currency=view.reporting_currency,
            timezone=view.timezone,
            locale=view.locale,
            allow_split=view.allow_split,
            tax_seller_country=view.tax_seller_country,
            tax_registrations=list(view.tax_registrations),
            incoterm=view.incoterm,
            cogs_method=view.cogs_method,
            shipping_estimate=Money.exact(*estimate) if estimate else None,
            report_hour=view.report_hour,
            no_scan_days=view.no_scan_days,
            no_scan_lanes=[NoScanLane(lane=k, days=v) for k, v in sorted(view.no_scan_lanes.items())],
            audit_retention_days=view.audit_retention_days,
            publish_unreviewed=view.publish_unreviewed,
            forbidden_words=list(view.forbidden_words),
            glossary=cast(JSON, {k: dict(v) for k, v in view.glossary.items()}),
            updated_at=view.updated_at,
        )


@strawberry.input
class NoScanLaneInput:
    lane: str
    days: int


_UNCHANGED = "Left out: unchanged; null: back to the default."


@strawberry.input(description="The settings to change. " + _UNCHANGED)
class TenantSettingsInput:
    reporting_currency: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET
    allow_split: bool | None = strawberry.UNSET
    tax_seller_country: str | None = strawberry.UNSET
    tax_registrations: list[str] | None = strawberry.UNSET
    incoterm: Incoterm | None = strawberry.UNSET
    cogs_method: CostMethod | None = strawberry.UNSET
    shipping_estimate: MoneyInput | None = strawberry.UNSET
    report_hour: int | None = strawberry.UNSET
    no_scan_days: int | None = strawberry.UNSET
    no_scan_lanes: list[NoScanLaneInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every lane. " + _UNCHANGED
    )
    audit_retention_days: int | None = strawberry.UNSET
    publish_unreviewed: bool | None = strawberry.UNSET
    forbidden_words: list[str] | None = strawberry.UNSET
    glossary: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the whole glossary. " + _UNCHANGED
    )


#: input field -> settings path
_PATHS: dict[str, str] = {
    "reporting_currency": "reporting_currency",
    "timezone": "timezone",
    "locale": "locale",
    "allow_split": "allow_split",
    "tax_seller_country": "tax.seller_country",
    "tax_registrations": "tax.registrations",
    "incoterm": "shipping.incoterm",
    "cogs_method": "analytics.cogs_method",
    "shipping_estimate": "analytics.shipping_estimate",
    "report_hour": "reports.hour",
    "no_scan_days": "tracking.no_scan_days.default",
    "no_scan_lanes": "tracking.no_scan_days.lanes",
    "audit_retention_days": "audit.retention_days",
    "publish_unreviewed": "listings.publish_unreviewed",
    "forbidden_words": "listings.forbidden_words",
    "glossary": "listings.glossary",
}


def _input_field(path: str | None) -> str | None:
    """The input field a refused settings path came from (``tracking.no_scan_days.lanes.SG-XX``
    is ``noScanLanes``)."""
    if path is None:
        return None
    for name, prefix in sorted(_PATHS.items(), key=lambda kv: -len(kv[1])):
        if path == prefix or path.startswith(prefix + "."):
            head, *rest = name.split("_")
            return "input." + head + "".join(part.title() for part in rest)
    return path


def _changes(given: TenantSettingsInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in _PATHS.items():
        value = getattr(given, name)
        if value is strawberry.UNSET:
            continue
        if isinstance(value, MoneyInput):
            value = {"amount": str(value.amount), "currency": value.currency}
        elif name == "no_scan_lanes" and value is not None:
            value = {lane.lane: lane.days for lane in value}
        elif isinstance(value, Incoterm | CostMethod):
            value = str(value)
        out[path] = value
    return out


@strawberry.type
class TenantSettingsUpdatePayload:
    settings: TenantSettings | None = None
    changed: list[str] = strawberry.field(
        default_factory=list, description="The settings paths that really changed (reports.hour ...)."
    )
    user_errors: list[AccountUserError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("settings:read"), description="The tenant's settings.")
    async def tenant_settings(self, info: Info[Any, Any]) -> TenantSettings:
        async with state(info).read() as session:
            return TenantSettings.from_view(await read_settings(session))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("settings:write"),
        description="Change some of the tenant's settings, each checked as the services read it; "
        "a refused value changes nothing. Emits `tenant.settings_changed`.",
    )
    async def tenant_settings_update(
        self, info: Info[Any, Any], input: TenantSettingsInput
    ) -> TenantSettingsUpdatePayload:
        changes = _changes(input)

        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            try:
                view, changed = await update_settings(session, changes)
            except UserError as exc:
                exc.field = _input_field(exc.field)
                raise
            return {"settings": TenantSettings.from_view(view), "changed": changed}

        return await in_transaction(info, TenantSettingsUpdatePayload, body)
