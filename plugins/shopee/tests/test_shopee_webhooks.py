"""Shopee pushes reach Crossdock at /webhooks/shopee/{key}: verified, stored, processed."""

from __future__ import annotations

import json
from typing import Any

import httpx
from crossdock_shopee.emulator import ShopeeSellerEmulator
from crossdock_shopee.signing import push_signature
from sqlalchemy import select

from crossdock.db.models import Connection, Order, WebhookEvent
from crossdock.jobs import JOBS
from crossdock.services import catalog, connections
from crossdock.testing.emulator import serve


async def test_push_is_verified_stored_and_processed(app: Any, live_server: str, tenant_factory: Any) -> None:
    emu = ShopeeSellerEmulator()
    async with serve(emu) as base:
        account = emu.open_account("SG")
        emu.add_product(account, "SKU-W")
        tenant = await tenant_factory()
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            await catalog.create_product(session, title="W", variants=[catalog.VariantSpec(sku="SKU-W")])
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                policy=app.http.policy,
                channel="shopee",
                name="sg",
                site="SG",
                credentials=account,
                base_url=base,
            )
        url = f"{live_server}/webhooks/shopee/{conn.webhook_key}"
        async with app.db.write(tenant.id) as session:
            await connections.update_connection(session, app.vault, conn.id, settings={"webhook_url": url})
        emu.add_order(account, "PUSH-1", [("SKU-W", 1, "9.90")])
        body = json.dumps(
            {
                "code": 3,
                "shop_id": account["shop_id"],
                "data": {"ordersn": "PUSH-1", "status": "READY_TO_SHIP"},
            }
        ).encode()
        good = push_signature(account["partner_key"], url, body)
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, content=body, headers={"Authorization": "0" * 64})
            unknown = await http.post(
                f"{live_server}/webhooks/shopee/not-a-key", content=body, headers={"Authorization": good}
            )
            accepted = await http.post(
                url, content=body, headers={"Authorization": good, "Content-Type": "application/json"}
            )
        assert (forged.status_code, unknown.status_code) == (401, 404)
        assert (accepted.status_code, accepted.content) == (200, b"")
        async with app.db.tenant(tenant.id) as session:
            [event] = (await session.scalars(select(WebhookEvent))).all()
        assert event.references == [{"type": "order", "external_id": "PUSH-1"}]
        assert "authorization" not in event.headers  # the signature is not kept
        assert await JOBS["process_webhook"](app.job_context(), tenant_id=tenant.id, event_id=event.id) == 1
        assert await JOBS["process_webhook"](app.job_context(), tenant_id=tenant.id, event_id=event.id) == 0
        async with app.db.tenant(tenant.id) as session:
            order = await session.scalar(select(Order).where(Order.external_id == "PUSH-1"))
            assert order is not None and order.status == "on_hold"  # no stock yet: out_of_stock
            assert (await session.scalar(select(WebhookEvent.status))) == "processed"
            assert (await session.scalar(select(Connection.webhook_key))) == conn.webhook_key
