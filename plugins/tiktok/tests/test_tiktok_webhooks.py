"""TikTok Shop pushes reach Crossdock at /webhooks/tiktok/{key}: verified (HMAC of app_key
+ body), stored, processed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from crossdock_tiktok.emulator import TikTokShopSellerEmulator
from crossdock_tiktok.marketplace import TikTokShopMarketplace
from crossdock_tiktok.signing import push_signature
from sqlalchemy import select

from crossdock import ChannelConnection, ChannelError
from crossdock.db.models import Order, WebhookEvent
from crossdock.jobs import JOBS
from crossdock.services import catalog, connections
from crossdock.testing.emulator import serve


def _conn(creds: dict[str, Any]) -> ChannelConnection:
    return ChannelConnection(id=1, tenant="t", channel="tiktok", site="US", currency="USD", credentials=creds)


def test_parse_webhook_verifies_and_names_the_order() -> None:
    emu = TikTokShopSellerEmulator()
    creds = emu.open_account("US")
    emu.add_order(creds, "576461413038785752", [("SKU", 1, "1.00")], status="CANCELLED")
    headers, body = emu.notification("576461413038785752")
    assert json.loads(body)["data"]["order_status"] == "CANCEL"  # pushes say CANCEL
    provider = TikTokShopMarketplace()
    push = provider.parse_webhook(_conn(creds), {"authorization": headers["Authorization"]}, body)
    assert push.references == [{"type": "order", "external_id": "576461413038785752"}]
    assert push.event_id == json.loads(body)["tts_notification_id"]  # replays are known by it
    for forged in ({"Authorization": "0" * 64}, {}, {"Authorization": headers["Authorization"] + "0"}):
        with pytest.raises(ChannelError) as excinfo:
            provider.parse_webhook(_conn(creds), forged, body)
        assert excinfo.value.code == "SIGNATURE"
    with pytest.raises(ChannelError) as excinfo:
        provider.parse_webhook(_conn({**creds, "app_secret": "other"}), headers, body)
    assert excinfo.value.code == "SIGNATURE"
    deauthorized = json.dumps(
        {"type": 6, "shop_id": "1", "timestamp": 1, "data": {"message": "bye"}}
    ).encode()
    signed = {"Authorization": push_signature(creds["app_secret"], creds["app_key"], deauthorized)}
    assert provider.parse_webhook(_conn(creds), signed, deauthorized).references == []


async def test_push_is_verified_stored_and_processed(app: Any, live_server: str, tenant_factory: Any) -> None:
    emu = TikTokShopSellerEmulator()
    async with serve(emu) as base:
        account = emu.open_account("US")
        emu.add_product(account, "SKU-W")
        tenant = await tenant_factory()
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            await catalog.create_product(session, title="W", variants=[catalog.VariantSpec(sku="SKU-W")])
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                policy=app.http.policy,
                channel="tiktok",
                name="us",
                site="US",
                credentials=account,
                base_url=base,
            )
        url = f"{live_server}/webhooks/tiktok/{conn.webhook_key}"
        emu.add_order(account, "PUSH-1", [("SKU-W", 1, "9.90")])
        headers, body = emu.notification("PUSH-1")
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, content=body, headers={"Authorization": "0" * 64})
            unknown = await http.post(
                f"{live_server}/webhooks/tiktok/not-a-key", content=body, headers=headers
            )
            accepted = await http.post(
                url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
        assert (forged.status_code, unknown.status_code) == (401, 404)
        assert accepted.status_code == 200
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
