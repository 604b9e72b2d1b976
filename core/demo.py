"""Demo data: one organization, two brands, a catalogue, warehouses, stock and price rules,
and live emulated shops whose buyers keep ordering.

Seeded through the same services the API uses, so the demo exercises the real rules.
Every ``serve --demo`` starts over: the emulated shops live in memory and are new each run,
so the demo organization (and everything its tenants own) is deleted and seeded again; a
newcomer never sees old orders that point at shops which no longer know them. Other
organizations in the same database are left alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from crossdock.bootstrap import App
from crossdock.db.models import (
    Connection,
    Listing,
    Organization,
    StockLevel,
    Tenant,
    Variant,
    Warehouse,
)
from crossdock.money import Money
from crossdock.services import audit, catalog, inventory, messaging, pricing, tenancy

__all__ = ["DemoInfo", "LiveDemo", "Shopper", "seed_demo", "start_live_demo"]

log = logging.getLogger(__name__)

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
    #: an earlier run's demo data was there and has been replaced
    reset: bool = False


async def seed_demo(app: App) -> DemoInfo:
    """Seed the demo organization afresh (deleting an earlier run's) and make its key."""
    async with app.db.write(system=True) as session:
        old = await session.scalar(select(Organization).where(Organization.slug == ORG))
        if old is not None:  # tenant-owned rows and API keys go with it (ON DELETE CASCADE)
            await audit.allow_purge(session)  # its audit log too (append-only otherwise)
            await session.execute(delete(Tenant).where(Tenant.organization_id == old.id))
            await session.execute(delete(Organization).where(Organization.id == old.id))
    async with app.db.write(system=True) as session:
        org = await tenancy.create_organization(session, ORG, "Demo Agency")
        for slug, spec in TENANTS.items():
            made = await tenancy.create_tenant(session, org, slug, str(spec["name"]))
            made.settings = {**(made.settings or {}), **TENANT_SETTINGS}
        _, key = await tenancy.create_api_key(session, org, name="demo", scopes=["admin"])
        of_org = select(Tenant).where(Tenant.organization_id == org.id).order_by(Tenant.slug)
        tenants = list((await session.scalars(of_org)).all())
    from crossdock.demo_planning import seed_planning

    for tenant in tenants:
        await _seed_tenant(app, tenant)
        await seed_planning(app, tenant)
    return DemoInfo(api_key=key, tenants=[t.slug for t in tenants], reset=old is not None)


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
                # the main warehouse ships to the live shops' buyers: it holds the bulk
                quantity = (150 if j == 0 else 20) + 15 * ((i + j) % 4)
                await inventory.receive_stock(
                    uow,
                    variant_id=variant.id,
                    warehouse_id=wh.id,
                    quantity=quantity,
                    reference="PO-DEMO-0001",
                )
                await _landed(session, variant, wh.id, quantity, "PO-DEMO-0001")


#: The demo tenants' reporting: US dollars, Singapore's day, an estimated 4.50 per parcel
#: until labels say what shipping cost, reports made at 6 in the morning.
TENANT_SETTINGS: dict[str, Any] = {
    "reporting_currency": "USD",
    "timezone": "Asia/Singapore",
    "analytics": {"cogs_method": "fifo", "shipping_estimate": {"amount": "4.50", "currency": "USD"}},
    "reports": {"hour": 6},
}
#: What a demo shop needs to publish listings: Shopee's logistics channel (the emulator's
#: integrated one) and the item weight, TikTok Shop's package weight.
DEMO_SHOP_SETTINGS: dict[str, dict[str, Any]] = {
    "shopee": {"logistics_channel_ids": [18025], "item_weight_kg": 0.9},
    "tiktok": {"package_weight": {"value": "0.9", "unit": "KILOGRAM"}},
}
#: What the marketplaces charge until their payouts say (shop setting ``fees``).
DEMO_FEES: dict[str, dict[str, str]] = {
    "shopee": {"commission_rate": "0.06", "fixed_per_order": "0.20", "payment_fee_rate": "0.02"},
    "lazada": {"commission_rate": "0.05", "fixed_per_order": "0.25"},
    "amazon": {"commission_rate": "0.15", "fulfilment_per_unit": "3.22"},
    "tiktok": {"commission_rate": "0.06", "fixed_per_order": "0.30"},
}


async def _landed(
    session: Any, variant: Variant, warehouse_id: int, quantity: int, reference: str, batch: int = 1
) -> None:
    """The receipt's landed cost: the purchase price (a little dearer each batch), freight
    per unit and 5 % duty, in the variant's cost currency."""
    from crossdock.services.analytics import add_cost_layer

    if variant.cost_amount is None or not variant.cost_currency:
        return
    price = (variant.cost_amount * (1 + Decimal(batch % 5) / 100)).quantize(Decimal("0.01"))
    await add_cost_layer(
        session,
        variant_id=variant.id,
        warehouse_id=warehouse_id,
        quantity=quantity,
        purchase_cost=price,
        currency=variant.cost_currency,
        freight_cost=Decimal("1.80"),
        duty_cost=(price * Decimal("0.05")).quantize(Decimal("0.01")),
        reference=reference,
    )


# --------------------------------------------------------------------------- live channels

LIVE_CHANNELS = ("shopee", "lazada", "amazon", "tiktok")
LIVE_TENANT = "acme-outdoor"
#: Mean seconds between two orders of one shop (arrivals are random, each shop its own).
TRAFFIC_SECONDS = 15.0
#: Orders each shop already has when the demo starts (placed over the last two days).
BACKLOG_ORDERS = 20
#: Every this many seconds the demo's purchasing tops up stock that runs low.
RESTOCK_SECONDS = 20.0
REORDER_POINT = 40
REORDER_QUANTITY = 150
#: A SKU the shops still list but the catalogue no longer has: orders for it are held
#: ``sku_unmapped`` until someone maps it.
RETIRED_SKU = "ACME-STOVE-OLD"
#: List prices in the shops' currencies (US dollars on Amazon and TikTok US, Singapore
#: dollars on Shopee and Lazada Singapore).
LIST_PRICES: dict[str, dict[str, str]] = {
    "USD": {
        "ACME-BP30-BLK": "39.90",
        "ACME-BP30-RED": "39.90",
        "ACME-BTL-750": "14.90",
        "ACME-LNT-01": "19.90",
    },
    "SGD": {
        "ACME-BP30-BLK": "54.90",
        "ACME-BP30-RED": "54.90",
        "ACME-BTL-750": "19.90",
        "ACME-LNT-01": "26.90",
    },
}
SITE_CURRENCY = {"US": "USD", "SG": "SGD"}
#: The exceptions an operator should meet, each per order at this rate; every other order
#: is one a healthy shop gets (distinct buyers, baskets and timing on every channel).
EXCEPTION_RATES: dict[str, float] = {
    "address_invalid": 0.015,  # the buyer typed a postcode that cannot exist
    "duplicate_suspect": 0.01,  # the same buyer places the same basket again a minute later
    "unusual_value": 0.004,  # a reseller orders forty backpacks at once
    "sku_unmapped": 0.004,  # someone buys the retired stove still listed on the shop
}
#: Each kind once, early on (a shop's second live order), so a newcomer meets all of them in
#: the first minutes. Duplicates need a buyer identity the channel keeps from one order to
#: the next: TikTok gives every order its own anonymised e-mail.
FIRST_EXCEPTIONS = {
    "shopee": "address_invalid",
    "amazon": "duplicate_suspect",
    "tiktok": "unusual_value",
    "lazada": "sku_unmapped",
}
NO_DUPLICATES = frozenset({"tiktok"})
#: Usage plans of the demo's emulated sellers. Amazon grants some selling partners more
#: than the default plan; the demo's seller has a getOrders plan that fits its 10-second
#: sync (the default, 0.0167 requests/s with a burst of 20, allows one sync a minute once
#: the burst is spent: a real connection keeps the default 60-second interval).
DEMO_USAGE_PLANS: dict[str, dict[str, dict[str, float]]] = {
    "amazon": {
        "getOrders": {"rate": 0.5, "burst": 20},
        "searchOrders": {"rate": 0.5, "burst": 20},
        # the Sales and Traffic report is one report a day: the demo reads its fortnight at
        # once (the default plan, one report a minute, would hold a job runner for minutes)
        "createReport": {"rate": 0.5, "burst": 30},
        "getReportDocument": {"rate": 0.5, "burst": 30},
    },
}
#: Price rules seeded on every live listing, so ``priceBreakdowns`` has something to show.
PRICE_RULE: dict[str, Any] = {
    "freight_amount": Decimal("1.80"),
    "duty_rate": Decimal("0.05"),
    "commission_rate": Decimal("0.12"),
    "payment_fee_rate": Decimal("0.02"),
    "payment_fee_fixed": Decimal("0.30"),
    "target_margin": Decimal("0.25"),
    "price_step": Decimal("1"),
    "price_ending": Decimal("0.90"),
}
SALES_TAX = {"SGD": Decimal("0.09"), "USD": Decimal("0")}  # SG GST is in the price; US tax is not

FIRST_NAMES = {
    "US": "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Carlos Karen Daniel Nancy Matthew Lisa Anthony "
    "Betty Mark Sandra Luis Ashley Kevin Emily Brian Donna Jose Michelle Tyler Amanda Ryan Melissa",
    "SG": "Wei Hui Jun Ming Xin Li Mei Jia Siti Nur Aisyah Muhammad Ahmad Farah Priya Ravi Arjun "
    "Kavya Daniel Rachel Sean Joanne Marcus Felicia Darren Grace Ivan Cheryl Benjamin Natalie "
    "Kelvin Vanessa Hafiz Amirah Raj Deepa Alvin Shirley Jasmine Ethan",
}
LAST_NAMES = {
    "US": "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen",
    "SG": "Tan Lim Lee Ng Ong Wong Goh Chua Chan Koh Teo Ang Yeo Tay Ho Low Toh Sim Chong Chia "
    "Rahman Ismail Hassan Abdullah Kumar Singh Pillai Nair Menon Raj Fernandez Pereira Lau Seah "
    "Quek Foo Heng Kwek Loh Yap",
}


@dataclass
class Shopper:
    """One shop's buyers: who they are, what they buy, when, and the odd exception."""

    channel: str
    emulator: Any
    account: dict[str, Any]
    country: str
    prices: dict[str, str]
    seed: int
    placed: Counter[str] = field(default_factory=Counter)
    orders: list[str] = field(default_factory=list)
    #: each order's total, as a decimal string (what a buyer returning it asks back)
    totals: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._last: tuple[str, list[tuple[str, int, str]]] | None = None
        self._ids: set[str] = set()

    def wait(self) -> float:
        return min(self.rng.expovariate(1 / TRAFFIC_SECONDS), 4 * TRAFFIC_SECONDS)

    def buyer(self) -> str:
        first = self.rng.choice(FIRST_NAMES[self.country].split())
        return f"{first} {self.rng.choice(LAST_NAMES[self.country].split())}"

    def basket(self) -> list[tuple[str, int, str]]:
        skus = self.rng.sample(sorted(self.prices), k=1 if self.rng.random() < 0.75 else 2)
        return [(sku, self.rng.choices((1, 2, 3), (80, 15, 5))[0], self.prices[sku]) for sku in skus]

    def order_id(self) -> str:
        rng = self.rng
        while True:
            if self.channel == "amazon":
                made = (
                    f"11{rng.randint(1, 4)}-{rng.randint(10**6, 10**7 - 1)}-{rng.randint(10**6, 10**7 - 1)}"
                )
            elif self.channel == "shopee":
                made = time.strftime("%y%m%d", time.gmtime()) + "".join(
                    rng.choices("0123456789ABCDEFGHJKMNPQRSTUVWXYZ", k=8)
                )
            else:
                made = str(rng.randint(10**15, 10**16 - 1))
            if made not in self._ids:
                self._ids.add(made)
                return made

    def kind(self, n: int) -> str:
        if n == 2 and self.channel in FIRST_EXCEPTIONS:
            return FIRST_EXCEPTIONS[self.channel]
        draw = self.rng.random()
        for kind, rate in EXCEPTION_RATES.items():
            if draw < rate and not (kind == "duplicate_suspect" and self.channel in NO_DUPLICATES):
                return kind
            draw -= rate
        return "healthy"

    def place(self, n: int) -> tuple[str, str]:
        """Place the shop's ``n``-th live order; returns its id and its kind."""
        kind = self.kind(n)
        buyer, lines = self.buyer(), self.basket()
        if kind == "duplicate_suspect" and self._last is not None:
            buyer, lines = self._last
        elif kind == "duplicate_suspect":
            kind = "healthy"
        elif kind == "unusual_value":
            sku = max(self.prices, key=lambda s: Decimal(self.prices[s]))
            lines = [(sku, 40, self.prices[sku])]
        elif kind == "sku_unmapped":
            lines = [(RETIRED_SKU, 1, self.prices[max(self.prices)])]
        order_id = self.order_id()
        order = self.emulator.add_order(self.account, order_id, lines, buyer=buyer)
        if kind == "address_invalid" and isinstance(order, dict):
            _mistype_postcode(order)
        self._last = (buyer, lines)
        self.placed[kind] += 1
        self.orders.append(order_id)
        self.totals[order_id] = str(sum(Decimal(price) * quantity for _, quantity, price in lines))
        return order_id, kind

    def after_sales(self, n: int) -> None:
        """Now and then a buyer asks to cancel the order just placed, or to return one
        placed a while ago (on channels whose emulator plays after-sales requests)."""
        cancel = getattr(self.emulator, "request_cancellation", None)
        give_back = getattr(self.emulator, "request_return", None)
        if cancel is not None and n % CANCEL_EVERY == CANCEL_EVERY - 1:
            cancel(self.account, self.orders[-1])
        if give_back is not None and n % RETURN_EVERY == RETURN_EVERY - 1 and len(self.orders) > RETURN_AFTER:
            older = self.orders[-RETURN_AFTER]
            give_back(self.account, older, self.totals[older])


#: Where the emulators keep a shipping address's postcode.
_POSTCODE_KEYS = frozenset({"PostalCode", "zipcode", "post_code", "postal_code"})


def _mistype_postcode(order: dict[str, Any]) -> None:
    """The buyer's postcode becomes one no country has, wherever the shop keeps it."""
    found: list[str] = []

    def walk(node: Any, replace: str | None) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and (
                    (replace is None and key in _POSTCODE_KEYS and value)
                    or (replace is not None and value and replace in value)
                ):
                    if replace is None:
                        found.append(value)
                    else:
                        node[key] = value.replace(replace, "XX-0000")
                else:
                    walk(value, replace)
        elif isinstance(node, list):
            for item in node:
                walk(item, replace)

    walk(order, None)
    for postcode in set(found):
        walk(order, postcode)


@dataclass
class LiveDemo:
    """Marketplace emulators running inside the demo server, with connections to them."""

    stack: AsyncExitStack
    channels: dict[str, dict[str, Any]]
    tasks: list[asyncio.Task[None]]
    shoppers: dict[str, Shopper] = field(default_factory=dict)
    #: the demo's carriers (``crossdock.demo_shipping``)
    logistics: Any = None

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.stack.aclose()


async def start_live_demo(app: App) -> LiveDemo | None:
    """Start each installed channel's emulator on a loopback port, point the demo tenant's
    connection at it (credentials, listings, price rules), and let buyers place orders.

    Emulators keep their shops in memory, so every start opens fresh accounts (and
    ``serve --demo`` resets the demo data to match); what they hold is written to
    ``.crossdock/demo-emulators.json`` for a person (or a test) to look at.
    """
    from crossdock.services import connections
    from crossdock.testing.emulator import Faults, serve

    async with app.db.system() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == LIVE_TENANT))
    if tenant is None:
        return None
    stack = AsyncExitStack()
    live = LiveDemo(stack, {}, [])
    for seed, channel in enumerate(LIVE_CHANNELS, 1):
        factory = app.plugins.emulators.get(channel)
        if factory is None or channel not in app.plugins.marketplaces:
            continue
        emulator = factory(Faults(seed=7))
        plans = DEMO_USAGE_PLANS.get(channel, {})
        usage = getattr(emulator, "usage_plans", None)
        if isinstance(usage, dict):  # the emulated seller announces the plan it has
            usage.update({operation: plan["rate"] for operation, plan in plans.items()})
        base_url = await stack.enter_async_context(serve(emulator))
        # this process's outbound policy allows exactly this emulator (loopback, plain http)
        app.http.policy.allow(base_url.split("://", 1)[1])
        site = factory.default_site
        account = dict(emulator.open_account(site))
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            variants = list((await session.scalars(select(Variant).order_by(Variant.id))).all())
            listings = {v.sku: emulator.add_product(account, v.sku, stock=0) for v in variants}
            conn = await session.scalar(select(Connection).where(Connection.name == f"demo-{channel}"))
            settings: dict[str, Any] = {
                "timeout": 5,
                "fees": DEMO_FEES.get(channel, {}),
                **DEMO_SHOP_SETTINGS.get(channel, {}),
            }
            if plans:
                settings["rate_limits"] = plans
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
                    settings=settings,
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
                    known[sku] = Listing(
                        connection_id=conn.id,
                        variant_id=by_sku[sku],
                        channel_sku=sku,
                        external_id=external_id,
                    )
                    session.add(known[sku])
            await session.flush()
            currency = SITE_CURRENCY.get(site, conn.currency)
            for row in known.values():
                await pricing.set_price_rule(
                    session, row.id, **PRICE_RULE, tax_rate=SALES_TAX.get(currency, Decimal(0))
                )
        sample = getattr(emulator, "sample_category", None)
        if sample is not None:  # the shop's listing content, in two languages (crossdock.demo_listings)
            from crossdock.demo_listings import seed_listings

            try:
                await seed_listings(app, tenant.id, tenant.slug, conn.id, sample(site), site)
            except Exception:  # the demo runs without it
                log.exception("demo: no listing content for %s", channel)
        emulator.generate_orders(account, BACKLOG_ORDERS, seed=10 + seed)
        emulator.add_product(account, RETIRED_SKU, stock=0)  # after the backlog: rarely bought
        prices = LIST_PRICES.get(currency) or LIST_PRICES["USD"]
        shopper = Shopper(
            channel,
            emulator,
            account,
            "SG" if currency == "SGD" else "US",
            {sku: prices.get(sku, "19.90") for sku in listings},
            seed=1000 + seed,
        )
        live.shoppers[channel] = shopper
        live.channels[channel] = {
            "base_url": base_url,
            "site": site,
            "credentials": account,
            "listings": listings,
            "connection_id": conn.id,
        }
        live.tasks.append(asyncio.create_task(_traffic(shopper), name=f"demo-buyers-{channel}"))
        await app.queue.enqueue(
            "push_stock", job_id=f"push_stock:{conn.id}:demo", tenant_id=tenant.id, connection_id=conn.id
        )
    live.tasks.append(asyncio.create_task(_restock(app, tenant.id, tenant.slug), name="demo-purchasing"))
    live.tasks.append(asyncio.create_task(_reports(app, tenant.id, tenant.slug), name="demo-reports"))
    from crossdock.demo_shipping import start_logistics

    live.logistics, packer = await start_logistics(
        app, tenant.id, tenant.slug, stack, {channel: s.emulator for channel, s in live.shoppers.items()}
    )
    live.tasks.extend(packer)
    path = app.settings.data_dir / "demo-emulators.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(live.channels, indent=2, default=str))
    return live


#: Every so many orders a buyer asks to cancel the one just placed; every so many, a buyer
#: returns the order placed that many orders before (shipped by the demo's packer by then).
CANCEL_EVERY = 15
RETURN_EVERY = 10
RETURN_AFTER = 8


async def _traffic(shopper: Shopper) -> None:
    """Buyers at random intervals, so the demo's order list moves on its own; on channels
    with buyer chat, about one in three asks when the order ships; now and then a buyer asks
    to cancel or return (:meth:`Shopper.after_sales`)."""
    chat = getattr(shopper.emulator, "buyer_writes", None)
    for n in itertools.count(1):
        await asyncio.sleep(shopper.wait())
        try:
            order_id, _ = shopper.place(n)
            if chat is not None and shopper.rng.random() < 1 / 3:
                chat(shopper.account, f"buyer{n}", "Hi! When will my order ship?", order_id)
            shopper.after_sales(n)
        except Exception:  # one bad order must not stop the shop
            log.exception("demo buyer on %s failed", shopper.channel)


#: Every this many seconds the demo remakes today's report (a real tenant gets yesterday's
#: at ``reports.hour``), so the report and its charts follow the live orders.
REPORT_SECONDS = 60.0


async def _reports(app: App, tenant_id: int, slug: str) -> None:
    """Ads and traffic read from every live shop once, then today's report made again and
    again from the figures as they stand."""
    async with app.db.tenant(tenant_id, slug) as session:
        shops = (await session.execute(select(Connection.id, Connection.channel))).all()
    for connection_id, channel in shops:
        capabilities = app.plugins.marketplace(channel).capabilities
        for resource in ("ads", "traffic"):
            if f"{resource}.read" not in capabilities:
                continue
            await app.queue.enqueue(
                f"sync_{resource}",
                job_id=f"sync_{resource}:{connection_id}:demo",
                tenant_id=tenant_id,
                connection_id=connection_id,
            )
    while True:
        await asyncio.sleep(REPORT_SECONDS)
        try:
            today = datetime.now(UTC).astimezone(ZoneInfo(TENANT_SETTINGS["timezone"])).date()
            await app.queue.enqueue(
                "report_make",
                job_id=f"report_make:{tenant_id}:demo:{time.time_ns()}",
                tenant_id=tenant_id,
                kind="daily",
                day=today.isoformat(),
            )
        except Exception:
            log.exception("demo report failed")


async def _restock(app: App, tenant_id: int, slug: str) -> None:
    """The demo's purchasing: stock that runs low is reordered and arrives at once."""
    for n in itertools.count(2):
        await asyncio.sleep(RESTOCK_SECONDS)
        try:
            async with app.unit_of_work(tenant_id, slug) as uow:
                levels = await uow.session.scalars(select(StockLevel).order_by(StockLevel.id))
                for level in levels.all():
                    if level.on_hand - level.reserved < REORDER_POINT:
                        await inventory.receive_stock(
                            uow,
                            variant_id=level.variant_id,
                            warehouse_id=level.warehouse_id,
                            quantity=REORDER_QUANTITY,
                            reference=f"PO-DEMO-{n:04d}",
                        )
                        variant = await uow.session.get(Variant, level.variant_id)
                        if variant is not None:
                            await _landed(
                                uow.session,
                                variant,
                                level.warehouse_id,
                                REORDER_QUANTITY,
                                f"PO-DEMO-{n:04d}",
                                n,
                            )
        except Exception:
            log.exception("demo restock failed")
