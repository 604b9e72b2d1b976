"""Lazada pushes reach Crossdock at /webhooks/lazada/{key}: verified, stored, processed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.marketplace import LazadaMarketplace
from crossdock_lazada.signing import push_signature
from sqlalchemy import select

from crossdock import ChannelConnection, ChannelError
from crossdock.db.models import Order, WebhookEvent
from crossdock.jobs import JOBS
from crossdock.services import catalog, connections
from crossdock.testing.emulator import serve

ACCOUNT = {"app_key": "100001", "app_secret": "s3cret", "seller_id": 42, "access_token": "t"}


def _conn() -> ChannelConnection:
    return ChannelConnection(
        id=1, tenant="t", channel="lazada", site="SG", currency="SGD", credentials=ACCOUNT
    )


def _push(payload: dict[str, Any], secret: str = "s3cret") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Authorization": push_signature("100001", secret, body)}


def test_trade_order_pushes_name_their_order() -> None:
    provider = LazadaMarketplace()
    order_push = {
        "seller_id": "42",
        "message_type": 0,
        "data": {"order_status": "pending", "trade_order_id": "260422900198363", "status_update_time": 1},
        "timestamp": 1,
        "site": "lazada_sg",
    }
    body, headers = _push(order_push)
    assert provider.parse_webhook(_conn(), headers, body) == [
        {"type": "order", "external_id": "260422900198363"}
    ]
    # header names are case-insensitive; other message types are acknowledged and ignored
    body, headers = _push({**order_push, "message_type": 3})
    assert provider.parse_webhook(_conn(), {"authorization": headers["Authorization"]}, body) == []
    body, headers = _push({**order_push, "seller_id": "43"})  # another seller of the same app
    assert provider.parse_webhook(_conn(), headers, body) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "0" * 64}, {"Authorization": "not hex at all é"}],
)
def test_a_push_that_does_not_verify_is_refused(headers: dict[str, str]) -> None:
    body = b'{"message_type":0,"data":{"trade_order_id":"1"}}'
    with pytest.raises(ChannelError) as excinfo:
        LazadaMarketplace().parse_webhook(_conn(), headers, body)
    assert excinfo.value.code == "SIGNATURE"


def test_a_push_signed_with_another_secret_is_refused() -> None:
    body, headers = _push({"message_type": 0, "data": {"trade_order_id": "1"}}, secret="other")
    with pytest.raises(ChannelError, match="signature"):
        LazadaMarketplace().parse_webhook(_conn(), headers, body)


async def test_push_is_verified_stored_and_processed(app: Any, live_server: str, tenant_factory: Any) -> None:
    emu = LazadaSellerEmulator()
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
                channel="lazada",
                name="sg",
                site="SG",
                credentials=account,
                base_url=base,
            )
        url = f"{live_server}/webhooks/lazada/{conn.webhook_key}"
        emu.add_order(account, "5550001", [("SKU-W", 2, "9.90")])
        body, good = emu.push(account["seller_id"], "5550001")
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, content=body, headers={"Authorization": "0" * 64})
            unknown = await http.post(
                f"{live_server}/webhooks/lazada/not-a-key", content=body, headers={"Authorization": good}
            )
            accepted = await http.post(
                url, content=body, headers={"Authorization": good, "Content-Type": "application/json"}
            )
        assert (forged.status_code, unknown.status_code) == (401, 404)
        assert accepted.status_code == 200
        async with app.db.tenant(tenant.id) as session:
            [event] = (await session.scalars(select(WebhookEvent))).all()
        assert event.references == [{"type": "order", "external_id": "5550001"}]
        assert "authorization" not in event.headers  # the signature is not kept
        assert await JOBS["process_webhook"](app.job_context(), tenant_id=tenant.id, event_id=event.id) == 1
        assert await JOBS["process_webhook"](app.job_context(), tenant_id=tenant.id, event_id=event.id) == 0
        async with app.db.tenant(tenant.id) as session:
            order = await session.scalar(select(Order).where(Order.external_id == "5550001"))
            assert order is not None and order.status == "on_hold"  # no stock yet: out_of_stock
            assert (await session.scalar(select(WebhookEvent.status))) == "processed"
