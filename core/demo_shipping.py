"""The demo's logistics: emulated carriers, accounts and routing rules for the live tenant,
and a packer who takes one order at a time through pack, label, hand-over and the parcel's
journey, with a customs delay now and then for the tracking and the buyer notice to act on.

Orders of marketplaces whose plugins offer their own logistics ship on those lines (Shopee,
Lazada, TikTok Shop); the demo's Amazon shop ships with the seller's own carriers (its
connection says ``own_logistics``), routed by the rules below.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from crossdock.bootstrap import App
from crossdock.db.models import (
    Allocation,
    AllocationStatus,
    CarrierAccount,
    Connection,
    Conversation,
    ExceptionNoticeRule,
    Order,
    OrderStatus,
    RateStrategy,
    Shipment,
    Variant,
    Warehouse,
)
from crossdock.errors import CrossdockError
from crossdock.providers import ItemFlag, Parcel, TrackingReason, TrackingStatus
from crossdock.services import fulfilment, messaging, shipping

__all__ = ["Logistics", "start_logistics"]

log = logging.getLogger(__name__)

#: Seconds between two orders the demo's packer takes through shipping.
PACK_SECONDS = 12.0
#: Seconds between two scans of a parcel on its way.
SCAN_SECONDS = 10.0
#: Every this many parcels, one is held by customs on the way (and every parcel of a buyer
#: who wrote in, so the notice has a conversation to go to).
CUSTOMS_EVERY = 3

ADDRESSES = {
    "SZ-MAIN": {
        "name": "Acme Outdoor Fulfilment",
        "company": "Acme Outdoor Ltd",
        "line1": "8 Keyuan Road, Nanshan",
        "city": "Shenzhen",
        "region": "Guangdong",
        "postal_code": "518057",
        "phone": "+8675512345678",
    },
    "DE-3PL": {
        "name": "Acme c/o Leipzig Logistik",
        "line1": "Messeallee 2",
        "city": "Leipzig",
        "postal_code": "04356",
        "phone": "+493411234567",
    },
}
#: SKU -> (grams, (length, width, height) mm, HS code, description, item flags)
CARRIER_DATA: dict[str, tuple[int, tuple[int, int, int], str, str, list[str]]] = {
    "ACME-BP30-BLK": (950, (500, 300, 200), "420292", "Backpack, textile", []),
    "ACME-BP30-RED": (950, (500, 300, 200), "420292", "Backpack, textile", []),
    "ACME-BTL-750": (420, (280, 90, 90), "961700", "Vacuum bottle, stainless steel", []),
    "ACME-LNT-01": (380, (200, 120, 120), "940550", "Camping lantern with lithium battery", ["battery"]),
}
RATE_CARD = [
    {"service": "standard", "name": "Ninja Van Standard", "currency": "SGD", "base": "3.50", "per_kg": "0.60",
     "transit_days": 3, "level": "standard"},
]  # fmt: skip
#: The buyer notice for a customs delay, in the demo markets' languages.
CUSTOMS_NOTICE = {
    "en": "Hi {buyer_name}, your order {order_number} is being checked by customs. We are on it "
    "and will let you know as soon as parcel {tracking_number} moves on.",
    "de": "Hallo {buyer_name}, Ihre Bestellung {order_number} wird gerade vom Zoll geprüft. Wir "
    "kümmern uns darum und melden uns, sobald Paket {tracking_number} weiterreist.",
    "ms": "Hai {buyer_name}, pesanan {order_number} anda sedang diperiksa oleh kastam. Kami akan "
    "maklumkan sebaik sahaja bungkusan {tracking_number} bergerak semula.",
}


@dataclass
class Logistics:
    """The demo's carriers: emulator and account by carrier name."""

    emulators: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    packed: int = 0


async def start_logistics(
    app: App, tenant_id: int, slug: str, stack: AsyncExitStack, marketplaces: Mapping[str, Any]
) -> tuple[Logistics, list[asyncio.Task[None]]]:
    """Carriers, accounts, rules and data for the live tenant, and the packer's task.
    ``marketplaces``: channel -> its emulator (their own logistics are scanned there)."""
    from crossdock.testing.emulator import Faults, serve

    found = Logistics()
    for seed, name in enumerate(("dhl_express", "fedex", "ninjavan"), 40):
        factory = app.plugins.emulators.get(name)
        if factory is None or name not in app.plugins.carriers:
            continue
        emulator = factory(Faults(seed=seed))
        base_url = await stack.enter_async_context(serve(emulator))
        app.http.policy.allow(base_url.split("://", 1)[1])
        found.emulators[name] = (emulator, base_url)
    for channel, emulator in marketplaces.items():
        provider = app.plugins.channel_logistics(channel)
        if provider is not None:
            found.emulators[provider.name] = (emulator, None)
    async with app.unit_of_work(tenant_id, slug) as uow:
        session = uow.session
        for warehouse in (await session.scalars(select(Warehouse))).all():
            if warehouse.code in ADDRESSES:
                await shipping.set_warehouse_address(session, warehouse.id, ADDRESSES[warehouse.code])
        for variant in (await session.scalars(select(Variant))).all():
            if variant.sku in CARRIER_DATA:
                grams, (length, width, height), hs_code, description, flags = CARRIER_DATA[variant.sku]
                variant.weight_grams = grams
                await shipping.set_variant_shipping(
                    session,
                    variant.id,
                    length_mm=length,
                    width_mm=width,
                    height_mm=height,
                    hs_code=hs_code,
                    origin_country="CN",
                    customs_description=description,
                    item_flags=[ItemFlag(f) for f in flags],
                )
        for name, (emulator, base_url) in found.emulators.items():
            if base_url is None:
                continue
            settings: dict[str, Any] = {"timeout": 5}
            if name == "ninjavan":
                settings["services"] = RATE_CARD
            account = await shipping.create_account(
                session,
                app.plugins,
                app.vault,
                carrier=name,
                name=app.plugins.carriers[name].display_name or name,
                credentials=dict(emulator.open_account()),
                base_url=base_url,
                settings=settings,
                policy=app.http.policy,
            )
            found.accounts[name] = account.id
        express = [(found.accounts[n], None) for n in ("dhl_express", "fedex") if n in found.accounts]
        if express:
            await shipping.save_rule(
                session,
                None,
                name="United States: fastest",
                priority=10,
                conditions={"countries": ["US"]},
                services=express,
                strategy=RateStrategy.FASTEST,
            )
            await shipping.save_rule(
                session,
                None,
                name="Everywhere: cheapest within 8 days",
                priority=20,
                conditions={"max_transit_days": 8},
                services=express,
                strategy=RateStrategy.CHEAPEST,
            )
        for connection in (
            await session.scalars(select(Connection).where(Connection.channel == "amazon"))
        ).all():
            connection.settings = {**(connection.settings or {}), "own_logistics": True}
        for language, body in CUSTOMS_NOTICE.items():
            await messaging.save_canned_reply(session, name="customs_delay", language=language, body=body)
        session.add(
            ExceptionNoticeRule(kind="customs_hold", template="customs_delay", countries=[], priority=10)
        )
    task = asyncio.create_task(_packer(app, tenant_id, slug, found), name="demo-logistics")
    return found, [task]


async def _packer(app: App, tenant_id: int, slug: str, found: Logistics) -> None:
    """One allocated order at a time: packed, labelled, handed over, and scanned on its way."""
    from crossdock.jobs.labels import purchase

    journeys: list[asyncio.Task[None]] = []
    for n in itertools.count(1):
        await asyncio.sleep(PACK_SECONDS)
        try:
            shipment_ids = await _pack_one(app, tenant_id, slug, n)
            for shipment_id in shipment_ids:
                await purchase(app.job_context(), tenant_id, slug, shipment_id)
                async with app.unit_of_work(tenant_id, slug) as uow:
                    await fulfilment.ship_shipment(uow, shipment_id)
                found.packed += 1
                journeys.append(
                    asyncio.create_task(_journey(app, tenant_id, slug, found, shipment_id, found.packed))
                )
        except CrossdockError as exc:
            log.info("demo packer: order left for an operator (%s: %s)", exc.code, exc.message)
        except Exception:
            log.exception("demo packer failed")
        journeys = [j for j in journeys if not j.done()]


async def _pack_one(app: App, tenant_id: int, slug: str, turn: int) -> list[int]:
    """The oldest allocated order, packed per warehouse in one parcel of its units; every
    other turn one of a shop that ships with the seller's own carriers, when there is one."""
    async with app.unit_of_work(tenant_id, slug) as uow:
        session = uow.session
        allocated = select(Order).where(Order.status == OrderStatus.ALLOCATED)
        order = None
        if turn % 2 == 0:
            own = select(Connection.id).where(Connection.channel == "amazon")
            order = await session.scalar(
                allocated.where(Order.connection_id.in_(own)).order_by(Order.placed_at, Order.id).limit(1)
            )
        if order is None:
            order = await session.scalar(allocated.order_by(Order.placed_at, Order.id).limit(1))
        if order is None:
            return []
        rows = (
            await session.execute(
                select(Allocation.warehouse_id, Allocation.quantity, Variant.weight_grams)
                .join(Variant, Variant.id == Allocation.variant_id)
                .where(Allocation.order_id == order.id, Allocation.status == AllocationStatus.RESERVED)
            )
        ).all()
        weights: dict[int, int] = {}
        for warehouse_id, quantity, grams in rows:
            weights[warehouse_id] = weights.get(warehouse_id, 0) + int(quantity) * (grams or 500)
        shipments = []
        for warehouse_id, grams in weights.items():
            shipment = await fulfilment.pack_shipment(
                session, order.id, warehouse_id, packages=[Parcel(grams + 150, 450, 320, 220)]
            )
            shipments.append(shipment.id)
        return shipments


async def _journey(app: App, tenant_id: int, slug: str, found: Logistics, shipment_id: int, n: int) -> None:
    """The parcel's scans at its carrier, one every :data:`SCAN_SECONDS`; every
    :data:`CUSTOMS_EVERY`-th is held by customs (and stays held, for the operator to see)."""
    async with app.db.tenant(tenant_id, slug) as session:
        row = (
            await session.execute(
                select(Shipment.tracking_number, CarrierAccount.carrier)
                .join(CarrierAccount, CarrierAccount.id == Shipment.carrier_account_id)
                .where(Shipment.id == shipment_id)
            )
        ).one_or_none()
        wrote = await session.scalar(
            select(Conversation.id)
            .join(Shipment, Shipment.order_id == Conversation.order_id)
            .where(Shipment.id == shipment_id)
            .limit(1)
        )
    if row is None or row[0] is None or row[1] not in found.emulators:
        return
    number, carrier = row
    emulator = found.emulators[carrier][0]
    steps: list[tuple[TrackingStatus, TrackingReason | None]] = [
        (TrackingStatus.PICKED_UP, None),
        (TrackingStatus.IN_TRANSIT, None),
    ]
    if wrote is not None or n % CUSTOMS_EVERY == 0:
        steps.append((TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD))
    else:
        steps += [(TrackingStatus.OUT_FOR_DELIVERY, None), (TrackingStatus.DELIVERED, None)]
    for status, reason in steps:
        await asyncio.sleep(SCAN_SECONDS)
        try:
            emulator.scan(number, status, reason, datetime.now(UTC))
        except Exception:  # a carrier that does not know the parcel (a marketplace's own)
            log.info("demo journey: %s cannot scan %s", carrier, number)
            return
