"""Every channel's push route, tried as an attacker or a confused sender would: a header
that is not ASCII, correctly signed bodies that are no push (a list, a string, a number,
invalid UTF-8, nesting 100,000 deep), and the same push again, also several at once. Each
is answered with a typed 4xx (or 200 for a replay), never 500, and a push is stored once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.signing import push_signature as lazada_signature
from crossdock_shopee.emulator import ShopeeSellerEmulator
from crossdock_shopee.signing import push_signature as shopee_signature
from crossdock_tiktok.emulator import TikTokShopSellerEmulator
from crossdock_tiktok.signing import push_signature as tiktok_signature
from sqlalchemy import select, update

from crossdock.db.models import Connection, WebhookEvent
from crossdock.services import connections

BASE = "http://testserver"


class Channel:
    """A connection of one channel and how that channel signs and words its pushes."""

    def __init__(self, name: str, site: str, account: dict[str, Any], valid: Callable[[str], bytes]) -> None:
        self.name, self.site, self.account, self.valid = name, site, account, valid
        self.path = ""
        self.tenant_id = 0

    def sign(self, body: bytes) -> str:
        creds = self.account
        if self.name == "shopee":
            return shopee_signature(creds["partner_key"], BASE + self.path, body)
        if self.name == "lazada":
            return lazada_signature(creds["app_key"], creds["app_secret"], body)
        return tiktok_signature(creds["app_secret"], creds["app_key"], body)


def _channel(name: str) -> Channel:
    if name == "shopee":
        account = ShopeeSellerEmulator().open_account("SG")
        return Channel(
            name,
            "SG",
            account,
            lambda order: json.dumps(
                {"code": 3, "shop_id": account["shop_id"], "data": {"ordersn": order, "status": "READY"}}
            ).encode(),
        )
    if name == "lazada":
        account = LazadaSellerEmulator().open_account("SG")
        return Channel(
            name,
            "SG",
            account,
            lambda order: json.dumps(
                {"seller_id": str(account["seller_id"]), "message_type": 0, "data": {"trade_order_id": order}}
            ).encode(),
        )
    account = TikTokShopSellerEmulator().open_account("US")
    return Channel(
        name,
        "US",
        account,
        lambda order: json.dumps(
            {"type": 1, "tts_notification_id": f"n-{order}", "data": {"order_id": order}}
        ).encode(),
    )


@pytest.fixture(params=["shopee", "lazada", "tiktok"])
async def channel(request: pytest.FixtureRequest, app: Any, tenant_factory: Any) -> AsyncIterator[Channel]:
    chosen = _channel(str(request.param))
    tenant = await tenant_factory()
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel=chosen.name,
            name="hooks",
            site=chosen.site,
            credentials=chosen.account,
        )
        chosen.path = f"/webhooks/{chosen.name}/{conn.webhook_key}"
    async with app.db.write(tenant.id) as session:
        await connections.update_connection(
            session, app.vault, conn.id, settings={"webhook_url": BASE + chosen.path}
        )
    chosen.tenant_id = tenant.id
    yield chosen
    # the connection has no base URL (the channel's production host): pause it, so a job
    # runner of a later test in this database never tries to sync it over the network
    async with app.db.write(tenant.id) as session:
        await session.execute(update(Connection).where(Connection.id == conn.id).values(status="paused"))


async def _stored(app: Any, channel: Channel) -> list[WebhookEvent]:
    async with app.db.tenant(channel.tenant_id) as session:
        return list((await session.scalars(select(WebhookEvent))).all())


NOT_A_PUSH = {
    "a list": b"[]",
    "a string": b'"x"',
    "a number": b"5",
    "null": b"null",
    "invalid UTF-8": b"\xff\xfe{}",
    "not JSON": b"{",
    "NaN": b'{"data": NaN}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "data a list": b'{"code": 3, "message_type": 0, "type": 1, "data": ["1001"]}',
    "an order id that is an object": json.dumps(
        {
            "code": 3,
            "message_type": 0,
            "type": 1,
            "data": {"ordersn": {"a": 1}, "trade_order_id": {"a": 1}, "order_id": {"a": 1}},
        }
    ).encode(),
}


@pytest.mark.parametrize("case", list(NOT_A_PUSH))
async def test_a_signed_body_that_is_no_push_is_400(app: Any, api: Any, channel: Channel, case: str) -> None:
    body = NOT_A_PUSH[case]
    response = await api.client.post(
        channel.path, content=body, headers={"Authorization": channel.sign(body)}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "WEBHOOK_MALFORMED"
    assert await _stored(app, channel) == []


@pytest.mark.parametrize(
    "authorization", ["é".encode(), b"\xff" * 64, "签名".encode(), b"", b"0" * 64], ids=repr
)
async def test_a_push_that_does_not_verify_is_401(
    app: Any, api: Any, channel: Channel, authorization: bytes
) -> None:
    body = channel.valid("1001")
    response = await api.client.post(channel.path, content=body, headers=[(b"authorization", authorization)])
    assert response.status_code == 401, response.text
    assert await _stored(app, channel) == []


async def test_a_push_delivered_again_is_stored_once(app: Any, api: Any, channel: Channel) -> None:
    body = channel.valid("2001")
    headers = {"Authorization": channel.sign(body)}
    first = await api.client.post(channel.path, content=body, headers=headers)
    again = await api.client.post(channel.path, content=body, headers=headers)
    other = channel.valid("2002")
    racing = await asyncio.gather(
        *(
            api.client.post(channel.path, content=other, headers={"Authorization": channel.sign(other)})
            for _ in range(4)
        )
    )
    assert [r.status_code for r in (first, again, *racing)] == [200] * 6
    stored = await _stored(app, channel)
    assert sorted(e.references[0]["external_id"] for e in stored) == ["2001", "2002"]
