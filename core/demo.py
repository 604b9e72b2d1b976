"""Demo data: one organization, two brands, a catalogue, warehouses and stock.

Seeded through the same services the API uses, so the demo exercises the real rules.
Idempotent: a second ``serve --demo`` finds the organization and only prints a new key.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crossdock.bootstrap import App
from crossdock.db.models import Connection, Listing, Organization, Tenant, Variant, Warehouse
from crossdock.money import Money
from crossdock.services import catalog, inventory, messaging, tenancy

__all__ = ["DemoInfo", "LiveDemo", "seed_demo", "start_live_demo"]

ORG = "demo-agency"
TENANTS: dict[str, dict[str, Any]] = {
    "acme-outdoor": {
        "name": "Acme Outdoor",
        "products": [
            (
                "Trail Backpack 30L",
                "Acme",
                [("ACME-BP30-BLK", "Black", "24.50"), ("ACME-BP30-RED", "Red", "24.50")],
            ),
            ("Insulated Bottle 750ml", "Acme", [("ACME-BTL-750", None, "6.20")]),
            ("Camping Lantern", "Acme", [("ACME-LNT-01", None, "9.90")]),
        ],
        "warehouses": [
            ("SZ-MAIN", "Shenzhen main", "CN", "own", ["SG", "MY", "TH", "PH", "VN", "ID", "US", "DE"], 10),
            ("DE-3PL", "Leipzig 3PL", "DE", "3pl", ["DE", "FR", "IT", "ES", "NL", "GB"], 20),
        ],
    },
    "blossom-beauty": {
        "name": "Blossom Beauty",
        "products": [
            ("Rose Serum 30ml", "Blossom", [("BLS-SER-30", None, "3.10")]),
            ("Sheet Mask (10 pack)", "Blossom", [("BLS-MSK-10", None, "2.40")]),
        ],
        "warehouses": [("MY-KL", "Kuala Lumpur", "MY", "overseas", ["MY", "SG", "TH"], 10)],
    },
}


#: One canned reply in the demo markets' languages.
CANNED_REPLIES = {
    "en": "Hi {buyer_name}, thank you for your order! It ships within 24 hours.",
    "ms": "Hai {buyer_name}, terima kasih atas pesanan anda! Ia akan dihantar dalam masa 24 jam.",
    "th": "สวัสดีค่ะ {buyer_name} ขอบคุณสำหรับคำสั่งซื้อ สินค้าจะจัดส่งภายใน 24 ชั่วโมง",
    "de": "Hallo {buyer_name}, danke für Ihre Bestellung! Sie wird innerhalb von 24 Stunden versandt.",
}


@dataclass
class DemoInfo:
    api_key: str
    tenants: list[str]


async def seed_demo(app: App) -> DemoInfo:
    async with app.db.write(system=True) as session:
        org = await session.scalar(select(Organization).where(Organization.slug == ORG))
        fresh = org is None
        if org is None:
            org = await tenancy.create_organization(session, ORG, "Demo Agency")
            for slug, spec in TENANTS.items():
                await tenancy.create_tenant(session, org, slug, str(spec["name"]))
        _, key = await tenancy.create_api_key(session, org, name="demo", scopes=["admin"])
        tenants = list((await session.scalars(select(Tenant).where(Tenant.organization_id == org.id))).all())
    if fresh:
        for tenant in tenants:
            await _seed_tenant(app, tenant)
    return DemoInfo(api_key=key, tenants=[t.slug for t in tenants])


async def _seed_tenant(app: App, tenant: Tenant) -> None:
    spec = TENANTS[tenant.slug]
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        for title, brand, variants in spec["products"]:
            await catalog.create_product(
                session,
                title=title,
                brand=brand,
                variants=[
                    catalog.VariantSpec(
                        sku=sku, title=vt, options={"colour": vt} if vt else {}, cost=Money.of(cost, "USD")
                    )
                    for sku, vt, cost in variants
                ],
            )
        for code, name, country, kind, serves, priority in spec["warehouses"]:
            await inventory.create_warehouse(
                session,
                code=code,
                name=name,
                country=country,
                kind=kind,
                serves_countries=serves,
                priority=priority,
            )
        for language, body in CANNED_REPLIES.items():
            await messaging.save_canned_reply(session, name="ships_soon", language=language, body=body)
        variants = (await session.scalars(select(Variant).order_by(Variant.id))).all()
        warehouses = (await session.scalars(select(Warehouse).order_by(Warehouse.id))).all()
        for i, variant in enumerate(variants):
            for j, wh in enumerate(warehouses):
                await inventory.receive_stock(
                    uow,
                    variant_id=variant.id,
                    warehouse_id=wh.id,
                    quantity=20 + 15 * ((i + j) % 4),
                    reference="PO-DEMO-0001",
                )


# --------------------------------------------------------------------------- live channels

LIVE_CHANNELS = ("shopee", "lazada", "amazon", "tiktok")
LIVE_TENANT = "acme-outdoor"
TRAFFIC_SECONDS = 15.0


@dataclass
class LiveDemo:
    """Marketplace emulators running inside the demo server, with connections to them."""

    stack: AsyncExitStack
    channels: dict[str, dict[str, Any]]
    tasks: list[asyncio.Task[None]]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.stack.aclose()


async def start_live_demo(app: App) -> LiveDemo | None:
    """Start each installed channel's emulator on a loopback port, point the demo tenant's
    connection at it (credentials, listings), and let new orders arrive every few seconds.

    Emulators keep their shops in memory, so every start opens fresh accounts; what they
    hold is written to ``.crossdock/demo-emulators.json`` for a person (or a test) to look.
    """
    from crossdock.services import connections
    from crossdock.testing.emulator import Faults, serve

    async with app.db.system() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == LIVE_TENANT))
    if tenant is None:
        return None
    stack = AsyncExitStack()
    live = LiveDemo(stack, {}, [])
    for channel in LIVE_CHANNELS:
        factory = app.plugins.emulators.get(channel)
        if factory is None or channel not in app.plugins.marketplaces:
            continue
        emulator = factory(Faults(seed=7))
        base_url = await stack.enter_async_context(serve(emulator))
        # this process's outbound policy allows exactly this emulator (loopback, plain http)
        app.http.policy.allow(base_url.split("://", 1)[1])
        account = dict(emulator.open_account(factory.default_site))
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            variants = list((await session.scalars(select(Variant).order_by(Variant.id))).all())
            listings = {v.sku: emulator.add_product(account, v.sku, stock=0) for v in variants}
            conn = await session.scalar(select(Connection).where(Connection.name == f"demo-{channel}"))
            site = factory.default_site
            if conn is None:
                conn = await connections.create_connection(
                    session,
                    app.plugins,
                    app.vault,
                    channel=channel,
                    name=f"demo-{channel}",
                    site=site,
                    credentials=account,
                    base_url=base_url,
                    settings={"timeout": 5},
                    policy=app.http.policy,
                )
            else:
                conn = await connections.update_connection(
                    session,
                    app.vault,
                    conn.id,
                    credentials=account,
                    base_url=base_url,
                    status="active",
                    policy=app.http.policy,
                )
                conn.sync_state = {}
            known = {
                row.channel_sku: row
                for row in (await session.scalars(select(Listing))).all()
                if row.connection_id == conn.id
            }
            by_sku = {v.sku: v.id for v in variants}
            for sku, external_id in listings.items():
                if sku in known:
                    known[sku].external_id = external_id
                else:
                    session.add(
                        Listing(
                            connection_id=conn.id,
                            variant_id=by_sku[sku],
                            channel_sku=sku,
                            external_id=external_id,
                        )
                    )
        emulator.generate_orders(account, 30, seed=11)
        live.channels[channel] = {
            "base_url": base_url,
            "site": site,
            "credentials": account,
            "listings": listings,
            "connection_id": conn.id,
        }
        live.tasks.append(asyncio.create_task(_traffic(emulator, account, list(listings))))
        await app.queue.enqueue(
            "push_stock", job_id=f"push_stock:{conn.id}:demo", tenant_id=tenant.id, connection_id=conn.id
        )
    path = app.settings.data_dir / "demo-emulators.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(live.channels, indent=2, default=str))
    return live


async def _traffic(emulator: Any, account: dict[str, Any], skus: list[str]) -> None:
    """A buyer every few seconds, so the demo's order list moves on its own; on channels
    with buyer chat, every third one asks when the order ships."""
    chat = getattr(emulator, "buyer_writes", None)
    for n in itertools.count(1):
        await asyncio.sleep(TRAFFIC_SECONDS)
        sku = skus[n % len(skus)]
        order_id = f"LIVE-{n:05d}-{int(time.time())}"
        emulator.add_order(account, order_id, [(sku, 1 + n % 2, "19.90")])
        if chat is not None and n % 3 == 1:
            chat(account, f"buyer{n}", "Hi! When will my order ship?", order_id)
