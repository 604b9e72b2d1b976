"""Logistics benchmarks: rate shopping for many orders across three carriers, and a
tracking sweep of many active shipments, each next to a floor measured in the same run.

- ``rate_shopping.<db>``: 1,000 packed shipments (mixed destinations) routed and rated
  (`jobs.labels.decide`: the shipment read, the rule chosen, each allowed carrier asked, FX,
  the choice) with 16 at a time. The DHL Express and FedEx emulators answer from their own
  processes after ``latency`` seconds (a real API's round trip); Ninja Van prices from its
  contract rate card. ``floor``: the same carriers' rate calls for the same requests, made
  directly through the plugins with the same concurrency (no database, no routing):
  ``ratio`` = floor / value, what the core adds.
- ``tracking_sweep.<db>``: 10,000 shipped parcels at two carriers swept by the
  ``track_account`` job (batched as each carrier allows, every scan stored once), with the
  same latency; ``floor``: the same batched track calls through the plugins alone.

CPU per unit of work (this process: the core and its plugins; the emulators run apart) is
reported beside each throughput.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crossdock.db.models import Variant
from crossdock.jobs.carrier import open_carrier
from crossdock.money import Money
from crossdock.providers import Address, ChannelOrder, ChannelOrderLine, TrackingStatus
from crossdock.services import catalog, connections, fulfilment, inventory, shipping
from crossdock.services.orders import ingest_orders
from crossdock.testing.emulator import Faults
from crossdock.testing.kit import make_tenant

LATENCY = 0.03
CONCURRENCY = 16
DESTINATIONS = [
    Address(
        name="E. Mustermann",
        line1="Friedrichstrasse 43",
        city="Berlin",
        postal_code="10117",
        country="DE",
        phone="+4930123456",
    ),
    Address(
        name="J. Dupont",
        line1="10 Rue de Rivoli",
        city="Paris",
        postal_code="75001",
        country="FR",
        phone="+33142000000",
    ),
    Address(
        name="J. Smith",
        line1="350 5th Ave",
        city="New York",
        region="NY",
        postal_code="10118",
        country="US",
        phone="+12125551234",
    ),
    Address(
        name="Tan Ah Kow",
        line1="10 Tampines Central 1",
        city="Singapore",
        postal_code="529536",
        country="SG",
        phone="+6591234567",
    ),
]
RATE_CARD = [{"service": "standard", "currency": "SGD", "base": "3.50", "per_kg": "1.20", "transit_days": 2}]


def _cpu() -> float:
    return time.process_time()


class Served:
    """An emulator with a shipper account, served from a forked process (its CPU is not
    ours); ``prepare`` runs in the child before it serves (parcels to track)."""

    def __init__(self, app: Any, name: str, prepare: Any = None) -> None:
        from run import _free_port

        self.emulator = app.plugins.emulators[name](Faults(latency=LATENCY))
        self.account = dict(self.emulator.open_account())
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prepare = prepare
        app.http.policy.allow(f"127.0.0.1:{self.port}")

    def __enter__(self) -> Served:
        from run import marketplace_process

        self._context = marketplace_process(self.emulator, self.port, self.prepare or (lambda: None))
        self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(None, None, None)


async def _floor_shop(app: Any, orders: int) -> tuple[Any, list[int], dict[str, int]]:
    """A tenant with a Singapore warehouse, one SKU with carrier data, and ``orders`` packed
    shipments to mixed destinations; returns (tenant, shipment ids, account ids by carrier)."""
    tenant = await make_tenant(app)
    async with app.unit_of_work(tenant.id, tenant.slug) as uow:
        session = uow.session
        await catalog.create_product(
            session, title="Fan", variants=[catalog.VariantSpec(sku="FAN-1", weight_grams=900)]
        )
        variant = await session.scalar(select(Variant.id))
        await shipping.set_variant_shipping(
            session,
            variant,
            length_mm=300,
            width_mm=200,
            height_mm=100,
            hs_code="841451",
            origin_country="CN",
            customs_description="Desk fan",
            item_flags=[],
        )
        warehouse = await inventory.create_warehouse(
            session, code="SG1", name="Singapore", country="SG", serves_countries=["SG", "DE", "FR", "US"]
        )
        await shipping.set_warehouse_address(
            session,
            warehouse.id,
            {
                "name": "Fan Co",
                "line1": "10 Anson Road",
                "city": "Singapore",
                "postal_code": "079903",
                "phone": "+6561234567",
            },
        )
        await inventory.receive_stock(uow, variant_id=variant, warehouse_id=warehouse.id, quantity=orders * 2)
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="shopee",
            name="bench",
            site="SG",
            credentials={"partner_id": 1, "partner_key": "k", "shop_id": 1, "access_token": "t"},
            settings={"own_logistics": True},
        )
        conn_id, warehouse_id = conn.id, warehouse.id
    now = datetime.now(UTC)
    for start in range(0, orders, 100):
        batch = [
            ChannelOrder(
                external_id=f"B-{i}",
                status="pending",
                channel_status="READY_TO_SHIP",
                placed_at=now,
                updated_at=now,
                total=Money(Decimal("39.90"), "SGD"),
                buyer_name=f"buyer {i}",
                shipping_address=DESTINATIONS[i % len(DESTINATIONS)],
                payment_status="paid",
                ship_by=now + timedelta(days=2),
                lines=[ChannelOrderLine(f"B-{i}-1", "FAN-1", 1, Money(Decimal("39.90"), "SGD"))],
            )
            for i in range(start, min(orders, start + 100))
        ]
        async with app.unit_of_work(tenant.id, tenant.slug) as uow:
            from crossdock.db.models import Connection

            conn_row = await uow.session.get(Connection, conn_id)
            await ingest_orders(uow, conn_row, batch)
    shipment_ids: list[int] = []
    async with app.db.tenant(tenant.id, tenant.slug) as session:
        from crossdock.db.models import Order

        order_ids = list((await session.scalars(select(Order.id).order_by(Order.id))).all())
    for start in range(0, len(order_ids), 100):
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            for order_id in order_ids[start : start + 100]:
                shipment = await fulfilment.pack_shipment(session, order_id, warehouse_id)
                shipment_ids.append(shipment.id)
    return tenant, shipment_ids, {}


async def rate_shopping(app: Any, orders: int) -> dict[str, Any]:
    """See the module doc."""
    with Served(app, "dhl_express") as dhl, Served(app, "fedex") as fedex:
        tenant, shipments, _ = await _floor_shop(app, orders)
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            dhl_row = await shipping.create_account(
                session,
                app.plugins,
                app.vault,
                carrier="dhl_express",
                name="DHL",
                credentials=dhl.account,
                base_url=dhl.url,
                settings={"timeout": 10},
                policy=app.http.policy,
            )
            fedex_row = await shipping.create_account(
                session,
                app.plugins,
                app.vault,
                carrier="fedex",
                name="FedEx",
                credentials=fedex.account,
                base_url=fedex.url,
                settings={"timeout": 10},
                policy=app.http.policy,
            )
            ninja_row = await shipping.create_account(
                session,
                app.plugins,
                app.vault,
                carrier="ninjavan",
                name="Ninja",
                credentials={"client_id": "x", "client_secret": "y"},
                settings={"services": RATE_CARD},
                policy=app.http.policy,
            )
            await shipping.save_rule(
                session,
                None,
                name="Singapore",
                priority=1,
                conditions={"countries": ["SG"]},
                services=[(ninja_row.id, None), (dhl_row.id, None)],
                strategy="cheapest",
            )
            await shipping.save_rule(
                session,
                None,
                name="Abroad",
                priority=2,
                conditions={"max_transit_days": 10},
                services=[(dhl_row.id, None), (fedex_row.id, None)],
                strategy="cheapest",
            )
        from crossdock.jobs.labels import decide

        ctx = app.job_context()
        semaphore = asyncio.Semaphore(CONCURRENCY)
        chosen: dict[str, int] = {}
        requests: list[Any] = []

        async def one(shipment_id: int) -> None:
            async with semaphore:
                ship, decision = await decide(ctx, tenant.id, tenant.slug, shipment_id)
                requests.append((ship.request, [c.account_id for c in decision.candidates]))
                if decision.chosen is not None:
                    chosen[decision.chosen.rate.carrier] = chosen.get(decision.chosen.rate.carrier, 0) + 1

        await one(shipments[0])  # warm: the first FX lookup, the first connections
        cpu0, t0 = _cpu(), time.perf_counter()
        await asyncio.gather(*(one(s) for s in shipments))
        elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
        # the floor: the same rate calls, straight through the plugins
        carriers = {
            row.id: await open_carrier(ctx, tenant.id, row.id, slug=tenant.slug)
            for row in (dhl_row, fedex_row)
        }
        calls = [(request, a) for request, accounts in requests for a in set(accounts) if a in carriers]

        async def raw(request: Any, account_id: int) -> None:
            async with semaphore:
                carrier = carriers[account_id]
                assert carrier is not None
                await carrier.provider.rates(carrier.view, request)

        f_cpu0, f0 = _cpu(), time.perf_counter()
        await asyncio.gather(*(raw(r, a) for r, a in calls))
        floor_elapsed, floor_cpu = time.perf_counter() - f0, _cpu() - f_cpu0
    value = len(shipments) / elapsed
    floor = len(shipments) / floor_elapsed
    return {
        "value": round(value, 1),
        "unit": "orders/s",
        "floor": round(floor, 1),
        "ratio": round(floor / value, 2),
        "orders": len(shipments),
        "carrier_calls": len(calls),
        "latency_ms": LATENCY * 1000,
        "cpu_ms_per_order": round(cpu * 1000 / len(shipments), 2),
        "floor_cpu_ms_per_order": round(floor_cpu * 1000 / len(shipments), 2),
        "chosen": chosen,
    }


async def _shipped(app: Any, tenant: Any, account_id: int, numbers: list[str]) -> None:
    """Shipped parcels with these tracking numbers, written in bulk (their orders too): the
    sweep reads what any shipped shipment holds."""
    from sqlalchemy import insert

    from crossdock.db.models import Connection, Order, Shipment

    now = datetime.now(UTC)
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        conn_id = await session.scalar(select(Connection.id).limit(1))
        for start in range(0, len(numbers), 1000):
            chunk = numbers[start : start + 1000]
            order_ids = (
                await session.scalars(
                    insert(Order)
                    .values(
                        [
                            {
                                "tenant_id": tenant.id,
                                "connection_id": conn_id,
                                "external_id": f"T-{account_id}-{start + i}",
                                "status": "shipped",
                                "currency": "SGD",
                                "total_amount": Decimal("39.90"),
                                "shipping_address": {"country": "DE"},
                                "destination_country": "DE",
                                "placed_at": now - timedelta(days=2),
                                "channel_updated_at": now,
                                "raw": {},
                                "created_at": now,
                                "updated_at": now,
                            }
                            for i in range(len(chunk))
                        ]
                    )
                    .returning(Order.id)
                )
            ).all()
            await session.execute(
                insert(Shipment).values(
                    [
                        {
                            "tenant_id": tenant.id,
                            "order_id": order_id,
                            "status": "shipped",
                            "carrier": "bench",
                            "tracking_number": number,
                            "carrier_account_id": account_id,
                            "tracking_status": "pending",
                            "shipped_at": now - timedelta(days=1),
                            "confirmed_at": now,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for order_id, number in zip(order_ids, chunk, strict=True)
                    ]
                )
            )


async def tracking_sweep(app: Any, shipments: int) -> dict[str, Any]:
    """See the module doc."""
    from crossdock.jobs import JOBS
    from crossdock.testing.carriers import sample_request
    from crossdock.testing.emulator import serve

    tenant, _, _ = await _floor_shop(app, 1)
    ctx = app.job_context()
    half = shipments // 2
    served: dict[str, Served] = {}
    accounts: dict[str, int] = {}
    numbers: dict[str, list[str]] = {}
    for name in ("dhl_express", "fedex"):
        carrier = Served(app, name)
        carrier.emulator.faults = Faults()  # labels are bought here first, with no latency
        async with serve(carrier.emulator) as url:
            async with app.db.write(tenant.id, slug=tenant.slug) as session:
                row = await shipping.create_account(
                    session,
                    app.plugins,
                    app.vault,
                    carrier=name,
                    name=name,
                    credentials=carrier.account,
                    base_url=url,
                    settings={"timeout": 30},
                    policy=app.http.policy,
                )
                accounts[name] = row.id
            opened = await open_carrier(ctx, tenant.id, row.id, slug=tenant.slug)
            assert opened is not None
            rate = (await opened.provider.rates(opened.view, sample_request("bench-rate")))[0]
            semaphore = asyncio.Semaphore(CONCURRENCY)

            async def buy(
                i: int, opened: Any = opened, service: str = rate.service, semaphore: Any = semaphore
            ) -> str:
                async with semaphore:
                    label = await opened.provider.buy_label(
                        opened.view, sample_request(f"bench-{i}"), service
                    )
                    return str(label.tracking_numbers[0])

            numbers[name] = list(await asyncio.gather(*(buy(i) for i in range(half))))
        for number in numbers[name]:  # handed over and on their way
            carrier.emulator.scan(
                number, TrackingStatus.PICKED_UP, None, datetime.now(UTC) - timedelta(hours=20)
            )
            carrier.emulator.scan(
                number, TrackingStatus.IN_TRANSIT, None, datetime.now(UTC) - timedelta(hours=8)
            )
        carrier.emulator.faults = Faults(latency=LATENCY)
        served[name] = carrier
        await _shipped(app, tenant, row.id, numbers[name])
    for name, carrier in served.items():  # the same account, now at the latency-bound process
        carrier.__enter__()
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            await shipping.update_account(
                session, app.vault, accounts[name], base_url=carrier.url, policy=app.http.policy
            )
    try:

        async def sweep() -> tuple[float, float, dict[str, int]]:
            cpu0, t0 = _cpu(), time.perf_counter()
            results = await asyncio.gather(
                *(JOBS["track_account"](ctx, tenant_id=tenant.id, account_id=a) for a in accounts.values())
            )
            totals: dict[str, int] = {}
            for result in results:
                for key, value in result.items():
                    totals[key] = totals.get(key, 0) + value
            return time.perf_counter() - t0, _cpu() - cpu0, totals

        first_elapsed, first_cpu, first = await sweep()
        again_elapsed, again_cpu, again = await sweep()  # nothing new since
        # the floor: the same batched calls through the plugins alone
        calls = []
        for name, account_id in accounts.items():
            opened = await open_carrier(ctx, tenant.id, account_id, slug=tenant.slug)
            assert opened is not None
            batch = max(1, int(getattr(opened.provider, "track_batch", 1)))
            calls += [(opened, numbers[name][i : i + batch]) for i in range(0, half, batch)]
        semaphore = asyncio.Semaphore(2)  # a track_account job makes one call at a time per account

        async def raw(opened: Any, chunk: list[str]) -> None:
            async with semaphore:
                await opened.provider.track(opened.view, chunk)

        f_cpu0, f0 = _cpu(), time.perf_counter()
        await asyncio.gather(*(raw(o, c) for o, c in calls))
        floor_elapsed, floor_cpu = time.perf_counter() - f0, _cpu() - f_cpu0
    finally:
        for carrier in served.values():
            carrier.__exit__()
    total = 2 * half
    return {
        "value": round(total / first_elapsed, 1),
        "unit": "shipments/s",
        "floor": round(total / floor_elapsed, 1),
        "ratio": round(first_elapsed / floor_elapsed, 2),
        "shipments": total,
        "events_stored": first.get("added", 0),
        "carrier_calls": first.get("calls", 0),
        "latency_ms": LATENCY * 1000,
        "cpu_ms_per_shipment": round(first_cpu * 1000 / total, 2),
        "again_shipments_per_s": round(total / again_elapsed, 1),
        "again_cpu_ms_per_shipment": round(again_cpu * 1000 / total, 2),
        "again_events_stored": again.get("added", 0),
        "floor_cpu_ms_per_shipment": round(floor_cpu * 1000 / total, 2),
    }


async def _app(url: str, tmp: Path) -> Any:
    from run import SECRET

    from crossdock.bootstrap import App
    from crossdock.config import Settings
    from crossdock.db.migrate import upgrade

    settings = Settings.from_env(
        {
            "CROSSDOCK_DATABASE_URL": url,
            "CROSSDOCK_SECRET_KEY": SECRET,
            "CROSSDOCK_DATA_DIR": str(tmp),
            "CROSSDOCK_PLUGINS": "shopee,fx_ecb,dhl_express,fedex,ninjavan",
            "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    app = App.build(settings)
    await upgrade(app.db)
    app.plugins.fx_rates(datetime.now(UTC).date())
    return app


async def run(kind: str, tmp: Path, *, orders: int = 1000, shipments: int = 10_000) -> dict[str, Any]:
    """Both logistics benchmarks on a fresh database of ``kind``."""
    from run import database

    results: dict[str, Any] = {}
    async with database(kind, tmp) as url:
        app = await _app(url, tmp)
        try:
            if orders:
                results[f"rate_shopping.{kind}"] = await rate_shopping(app, orders)
            if shipments:
                results[f"tracking_sweep.{kind}"] = await tracking_sweep(app, shipments)
        finally:
            await app.close()
    return results


if __name__ == "__main__":
    import argparse
    import json
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="postgresql")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--shipments", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = asyncio.run(run(args.db, Path(tmp), orders=args.orders, shipments=args.shipments))
    print(json.dumps(out, indent=2))
