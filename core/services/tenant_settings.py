"""A tenant's settings, read and changed over the API with the same validation the
services read them with.

The settings live in ``tenants.settings`` (JSON), one section per concern:

==============================  ===================================================
``reporting_currency``          ISO 4217 code the figures and reports are kept in
``timezone``                    IANA zone: report days, schedules
``locale``                      BCP 47 tag: buyer notices, reports
``allow_split``                 may an order ship from several warehouses
``tax.seller_country``          where the seller is established (ISO 3166)
``tax.registrations``           threshold keys registered for anyway (``EU-OSS`` ...)
``shipping.incoterm``           DDP or DDU when a label request does not say
``analytics.cogs_method``       weighted average or FIFO over receipts
``analytics.shipping_estimate`` shipping cost per order until a label or payout says
``reports.hour``                local hour after which the daily report is made
``tracking.no_scan_days``       days without a scan before ``no_scan``, per lane
``audit.retention_days``        days the audit log keeps its entries
==============================  ===================================================

:func:`update_settings` changes some of them: each given path is validated, ``None``
puts a setting back to its default, the rest stays as it is. The tenant row is locked
first, so two concurrent updates of different settings both stand (no lost update on the
JSON). ``payments`` (provider accounts with vault references) is not changed here.

Two settings the stored figures are kept in (reporting currency, time zone) are fixed once
the tenant has orders: each order's total in the reporting currency and its report day
were made with them. A change of how figures are made (cost method, shipping estimate)
marks every order for the analytics refresh, which makes its figures again.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db import utcnow
from crossdock.db.models import AnalyticsMark, CostMethod, Order
from crossdock.errors import UserError
from crossdock.money import currency_exponent, validate_currency
from crossdock.providers import Incoterm
from crossdock.services.audit import DEFAULT_RETENTION_DAYS, RETENTION_RANGE
from crossdock.services.common import country_code, current_tenant
from crossdock.services.events import emit
from crossdock.services.tenancy import validate_tenant_settings
from crossdock.services.tracking import validate_tracking_settings

__all__ = ["PATHS", "SettingsView", "read_settings", "update_settings", "view_of"]

_REGISTRATION = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
#: settings the stored figures are kept in: fixed once there are orders
_FIXED_WITH_ORDERS = ("reporting_currency", "timezone")
#: settings that change how figures are made: every order's figures are made again
_REMAKE_FIGURES = ("analytics.cogs_method", "analytics.shipping_estimate")


@dataclass(frozen=True)
class SettingsView:
    """The tenant's settings with their defaults filled in."""

    reporting_currency: str
    timezone: str
    locale: str
    allow_split: bool
    tax_seller_country: str | None
    tax_registrations: tuple[str, ...]
    incoterm: Incoterm
    cogs_method: CostMethod
    shipping_estimate: tuple[Decimal, str] | None
    report_hour: int
    no_scan_days: int
    no_scan_lanes: Mapping[str, int]
    audit_retention_days: int
    #: listing content: publish machine translations nobody reviewed; the tenant's forbidden
    #: words; the glossary of fixed terms per target language (``de`` or ``en->de``)
    publish_unreviewed: bool
    forbidden_words: tuple[str, ...]
    glossary: Mapping[str, Mapping[str, str]]
    updated_at: datetime | None


def _currency(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise UserError("a currency code such as SGD", field=field, code="INVALID_CURRENCY")
    try:
        return validate_currency(value)
    except UserError as exc:
        exc.field = field
        raise


def _timezone(value: Any, field: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not isinstance(value, str) or not value or len(value) > 64:
            raise ValueError(value)
        return ZoneInfo(value).key
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(f"{value!r} is not an IANA time zone", field=field, code="INVALID_TIMEZONE") from exc


def _locale(value: Any, field: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        if not isinstance(value, str) or not value or len(value) > 35:
            raise ValueError(value)
        parsed = Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise UserError(f"{value!r} is not a known locale", field=field, code="INVALID_LOCALE") from None
    return str(parsed).replace("_", "-")


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise UserError("true or false", field=field, code="INVALID")
    return value


def _country(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise UserError("a country code such as SG", field=field, code="INVALID_COUNTRY")
    return country_code(value, field)


def _registrations(value: Any, field: str) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) > 100:
        raise UserError("a list of at most 100 threshold keys", field=field, code="INVALID")
    out: list[str] = []
    for item in value:
        key = str(item).strip().upper() if isinstance(item, str) else ""
        if not _REGISTRATION.match(key):
            raise UserError(f"{item!r} is not a threshold key such as EU-OSS", field=field, code="INVALID")
        out.append(key)
    return sorted(set(out))


def _choice(kind: type[Incoterm] | type[CostMethod]) -> Callable[[Any, str], str]:
    def check(value: Any, field: str) -> str:
        try:
            return str(kind(str(value).lower()))
        except ValueError:
            allowed = ", ".join(str(v).upper() for v in kind)
            raise UserError(f"one of {allowed}", field=field, code="INVALID") from None

    return check


def _estimate(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) != {"amount", "currency"}:
        raise UserError("an amount and a currency", field=field, code="INVALID")
    currency = _currency(value["currency"], field)
    try:
        amount = Decimal(str(value["amount"]))
    except InvalidOperation:
        raise UserError("not a decimal number", field=field, code="INVALID_DECIMAL") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("100000"):
        raise UserError("an amount from 0 to 100,000", field=field, code="OUT_OF_RANGE")
    if -amount.as_tuple().exponent > currency_exponent(currency):  # type: ignore[operator]
        raise UserError(f"more decimals than {currency} has", field=field, code="INVALID_AMOUNT")
    return {"amount": str(amount), "currency": currency}


def _hour(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise UserError("an hour from 0 to 23", field=field, code="OUT_OF_RANGE")
    return value


def _no_scan_days(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
        raise UserError("a whole number of days from 1 to 365", field=field, code="OUT_OF_RANGE")
    return value


def _lanes(value: Any, field: str) -> dict[str, int]:
    if not isinstance(value, Mapping) or len(value) > 500:
        raise UserError("at most 500 lanes", field=field, code="INVALID")
    return dict(validate_tracking_settings({"no_scan_days": {"lanes": dict(value)}}).lanes)


def _retention(value: Any, field: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not RETENTION_RANGE[0] <= value <= RETENTION_RANGE[1]
    ):
        raise UserError(
            f"a whole number of days from {RETENTION_RANGE[0]} to {RETENTION_RANGE[1]}",
            field=field,
            code="OUT_OF_RANGE",
        )
    return value


def _words(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or len(value) > 500:
        raise UserError("a list of at most 500 words", field=field, code="INVALID")
    words = []
    for i, word in enumerate(value):
        if not isinstance(word, str) or not 0 < len(word.strip()) <= 64:
            raise UserError("a word of 1 to 64 characters", field=f"{field}.{i}", code="INVALID")
        words.append(word.strip())
    return sorted(set(words), key=words.index)


_GLOSSARY_KEY = re.compile(r"^([a-z]{2,3}(-[A-Za-z0-9]{2,8})*->)?[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _glossary(value: Any, field: str) -> dict[str, dict[str, str]]:
    if not isinstance(value, Mapping) or len(value) > 50:
        raise UserError("an object of at most 50 languages", field=field, code="INVALID")
    out: dict[str, dict[str, str]] = {}
    for key, terms in value.items():
        if not isinstance(key, str) or not _GLOSSARY_KEY.match(key):
            raise UserError(
                f"{key!r} is not a language ('de') or a pair ('en->de')",
                field=f"{field}.{key}",
                code="INVALID",
            )
        if not isinstance(terms, Mapping) or len(terms) > 5000:
            raise UserError("an object of at most 5,000 terms", field=f"{field}.{key}", code="INVALID")
        clean: dict[str, str] = {}
        for term, translation in terms.items():
            if not (isinstance(term, str) and isinstance(translation, str)) or not (
                0 < len(term.strip()) <= 200 and 0 < len(translation.strip()) <= 200
            ):
                raise UserError(
                    "terms and translations are 1 to 200 characters", field=f"{field}.{key}", code="INVALID"
                )
            clean[term.strip()] = translation.strip()
        out[key] = clean
    return out


#: Every path :func:`update_settings` takes, with its check (the value made canonical).
PATHS: dict[str, Callable[[Any, str], Any]] = {
    "reporting_currency": _currency,
    "timezone": _timezone,
    "locale": _locale,
    "allow_split": _bool,
    "tax.seller_country": _country,
    "tax.registrations": _registrations,
    "shipping.incoterm": _choice(Incoterm),
    "analytics.cogs_method": _choice(CostMethod),
    "analytics.shipping_estimate": _estimate,
    "reports.hour": _hour,
    "tracking.no_scan_days.default": _no_scan_days,
    "tracking.no_scan_days.lanes": _lanes,
    "audit.retention_days": _retention,
    "listings.publish_unreviewed": _bool,
    "listings.forbidden_words": _words,
    "listings.glossary": _glossary,
}


def view_of(raw: Mapping[str, Any] | None, updated_at: datetime | None = None) -> SettingsView:
    """The settings as the services read them, defaults filled in (a broken stored value
    reads as its default, as the services treat it)."""
    raw = raw or {}

    def section(name: str) -> Mapping[str, Any]:
        value = raw.get(name)
        return value if isinstance(value, Mapping) else {}

    def checked(path: str, value: Any, default: Any) -> Any:
        if value is None:
            return default
        try:
            return PATHS[path](value, path)
        except UserError:
            return default

    try:
        policy = validate_tracking_settings(raw.get("tracking"))
    except UserError:
        policy = validate_tracking_settings(None)
    estimate = checked("analytics.shipping_estimate", section("analytics").get("shipping_estimate"), None)
    return SettingsView(
        reporting_currency=checked("reporting_currency", raw.get("reporting_currency"), "USD"),
        timezone=checked("timezone", raw.get("timezone"), "UTC"),
        locale=checked("locale", raw.get("locale"), "en"),
        allow_split=checked("allow_split", raw.get("allow_split"), True),
        tax_seller_country=checked("tax.seller_country", section("tax").get("seller_country"), None),
        tax_registrations=tuple(checked("tax.registrations", section("tax").get("registrations"), [])),
        incoterm=Incoterm(checked("shipping.incoterm", section("shipping").get("incoterm"), Incoterm.DDU)),
        cogs_method=CostMethod(
            checked(
                "analytics.cogs_method", section("analytics").get("cogs_method"), CostMethod.WEIGHTED_AVERAGE
            )
        ),
        shipping_estimate=(Decimal(estimate["amount"]), estimate["currency"]) if estimate else None,
        report_hour=checked("reports.hour", section("reports").get("hour"), 6),
        no_scan_days=policy.default,
        no_scan_lanes=dict(policy.lanes),
        audit_retention_days=checked(
            "audit.retention_days", section("audit").get("retention_days"), DEFAULT_RETENTION_DAYS
        ),
        publish_unreviewed=checked(
            "listings.publish_unreviewed", section("listings").get("publish_unreviewed"), False
        ),
        forbidden_words=tuple(
            checked("listings.forbidden_words", section("listings").get("forbidden_words"), [])
        ),
        glossary=checked("listings.glossary", section("listings").get("glossary"), {}),
        updated_at=updated_at,
    )


async def read_settings(session: AsyncSession) -> SettingsView:
    tenant = await current_tenant(session)
    stamp = (tenant.settings or {}).get("_updated_at")
    return view_of(tenant.settings, datetime.fromisoformat(stamp) if isinstance(stamp, str) else None)


def _get(tree: Mapping[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _put(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = tree
    for part in parents:
        child = node.get(part)
        if isinstance(child, int) and not isinstance(child, bool) and part == "no_scan_days":
            child = {"default": child}  # the short form of no-scan days: one number
        elif not isinstance(child, dict):
            child = {}
        node[part] = child
        node = child
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value


async def update_settings(
    session: AsyncSession, changes: Mapping[str, Any], *, now: datetime | None = None
) -> tuple[SettingsView, list[str]]:
    """Change the settings at ``changes``' paths (see :data:`PATHS`; ``None``: back to the
    default); returns the settings as they now are and the paths that really changed.
    Raises ``UserError`` naming the path of a refused value; nothing is changed then."""
    unknown = sorted(set(changes) - set(PATHS))
    if unknown:
        raise UserError(f"unknown setting(s) {', '.join(unknown)}", field=unknown[0], code="INVALID")
    canonical = {path: None if value is None else PATHS[path](value, path) for path, value in changes.items()}
    tenant = await current_tenant(session, lock=True)
    before: dict[str, Any] = copy.deepcopy(dict(tenant.settings or {}))
    after = copy.deepcopy(before)
    changed = []
    for path, value in canonical.items():
        if _get(before, path) != value:
            _put(after, path, value)
            changed.append(path)
    if not changed:
        return view_of(before), []
    fixed = [p for p in changed if p in _FIXED_WITH_ORDERS]
    if fixed and await session.scalar(select(Order.id).limit(1)) is not None:
        raise UserError(
            f"{fixed[0]} is fixed once the tenant has orders: their figures are kept in it",
            field=fixed[0],
            code="INVALID_STATE",
        )
    validate_tenant_settings(after)
    stamp = now or utcnow()
    after["_updated_at"] = stamp.isoformat()
    tenant.settings = after
    if any(p in _REMAKE_FIGURES for p in changed):
        # INSERT ... SELECT is not scoped by the scoping layer (it scopes a statement's
        # own SELECT, UPDATE or DELETE): the tenant is named here
        await session.execute(
            insert(AnalyticsMark).from_select(
                ["order_id", "tenant_id", "created_at"],
                select(Order.id, Order.tenant_id, literal(stamp, AnalyticsMark.created_at.type)).where(
                    Order.tenant_id == tenant.id
                ),
            )
        )
    emit(session, "tenant.settings_changed", None, changed=changed)
    await session.flush()
    return view_of(after, stamp), changed
