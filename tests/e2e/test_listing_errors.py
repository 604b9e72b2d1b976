"""One listing a marketplace does not know stays that listing's problem.

Each channel's emulator over HTTP holds two of a tenant's three SKUs; the third is listed in
Crossdock but unknown to the channel (Amazon answers 404 for its SKU, Shopee refuses the
item, Lazada and TikTok name the SKU in their per-item errors). Stock and price pushes go
through for the two it knows, the third shows the channel's refusal on the GraphQL
``Listing``, the connection stays active, and orders keep syncing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from crossdock.db.models import Connection, Listing, Order, Variant
from crossdock.jobs import JOBS
from crossdock.services import catalog, connections, inventory
from crossdock.testing.conformance import sync_to_the_end, until_done
from crossdock.testing.emulator import Faults, serve

SITES = {"amazon": ("US", "USD"), "shopee": ("SG", "SGD"), "lazada": ("SG", "SGD"), "tiktok": ("US", "USD")}
#: What the unknown listing is called on each channel (a SKU, or an id the channel lacks).
UNKNOWN_IDS = {"amazon": None, "shopee": "990099:1", "lazada": "990099", "tiktok": "990099:990099"}

LISTINGS = """query { listings(first: 10) { nodes {
  channelSku lastPushedQuantity pushStatus lastError lastErrorAt lastErrorOperation
} } }"""


@pytest.mark.parametrize("channel", list(SITES))
async def test_an_unknown_listing_does_not_fail_the_connection(
    app: Any, api: Any, tenant_factory: Any, channel: str
) -> None:
    site, currency = SITES[channel]
    tenant = await tenant_factory()
    emulator = app.plugins.emulators[channel](Faults(seed=1))
    async with serve(emulator) as base_url:
        account = dict(emulator.open_account(site))
        known = {sku: emulator.add_product(account, sku, stock=0) for sku in ("KNOWN-1", "KNOWN-2")}
        async with app.unit_of_work(tenant.id, tenant.slug) as uow:
            session = uow.session
            await catalog.create_product(
                session,
                title="Lamp",
                variants=[catalog.VariantSpec(sku=s) for s in ("KNOWN-1", "KNOWN-2", "GONE-1")],
            )
            variants = dict((await session.execute(select(Variant.sku, Variant.id))).all())
            warehouse = await inventory.create_warehouse(
                session, code="HUB", name="Hub", country=site, serves_countries=[site]
            )
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                policy=app.http.policy,
                channel=channel,
                name="shop",
                site=site,
                credentials=account,
                base_url=base_url,
                settings={"timeout": 2},
            )
            for sku, external_id in [*known.items(), ("GONE-1", UNKNOWN_IDS[channel])]:
                session.add(
                    Listing(
                        connection_id=conn.id,
                        variant_id=variants[sku],
                        channel_sku=sku,
                        external_id=external_id,
                        price_amount=Decimal("19.90"),
                        price_currency=currency,
                    )
                )
            for sku in ("KNOWN-1", "KNOWN-2", "GONE-1"):
                await inventory.receive_stock(
                    uow, variant_id=variants[sku], warehouse_id=warehouse.id, quantity=7
                )
        ctx = app.job_context()

        stock = await until_done(lambda: JOBS["push_stock"](ctx, tenant_id=tenant.id, connection_id=conn.id))
        prices = await until_done(
            lambda: JOBS["push_prices"](ctx, tenant_id=tenant.id, connection_id=conn.id)
        )
        assert stock == {"pushed": 2, "rejected": 1}
        assert prices == {"pushed": 2, "rejected": 1}
        assert [emulator.stock(account, sku) for sku in ("KNOWN-1", "KNOWN-2")] == [7, 7]

        body = await api.data(LISTINGS, key=tenant.key)
        nodes = {n["channelSku"]: n for n in body["listings"]["nodes"]}
        for sku in ("KNOWN-1", "KNOWN-2"):
            assert nodes[sku]["pushStatus"] == "OK" and nodes[sku]["lastError"] is None
            assert nodes[sku]["lastPushedQuantity"] == 7
        gone = nodes["GONE-1"]
        assert gone["pushStatus"] == "ERROR" and gone["lastErrorAt"] is not None
        assert gone["lastError"] and gone["lastPushedQuantity"] is None
        assert gone["lastErrorOperation"] == "PRICE"  # the latest refusal: the price push

        # the connection is untouched, and orders keep coming in
        async with app.db.tenant(tenant.id) as session:
            row = await session.scalar(select(Connection).where(Connection.id == conn.id))
        assert row is not None and row.status == "active" and row.last_error is None
        emulator.add_order(account, "AFTER-1", [("KNOWN-1", 1, "19.90")])
        await sync_to_the_end(app, tenant.id, conn.id)
        async with app.db.tenant(tenant.id) as session:
            assert await session.scalar(select(Order.status).where(Order.external_id == "AFTER-1"))

        # the unknown listing is tried again on the next push; still only its own problem
        again = await until_done(lambda: JOBS["push_stock"](ctx, tenant_id=tenant.id, connection_id=conn.id))
        assert again["rejected"] == 1
        async with app.db.tenant(tenant.id) as session:
            row = await session.scalar(select(Connection).where(Connection.id == conn.id))
        assert row is not None and row.status == "active"
    # the emulator is gone: pause the connection, so no later test's job runner syncs it
    # (Amazon's would ask Login with Amazon's real host for a token)
    async with app.db.write(tenant.id) as session:
        await session.execute(update(Connection).where(Connection.id == conn.id).values(status="paused"))
