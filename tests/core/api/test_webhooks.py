"""The webhook route answers every push with a typed status, whatever the plugin does with
it, and stores a push once however often it arrives.

The channel here is a deliberately naive plugin: its ``parse_webhook`` verifies an HMAC and
then indexes into the body without a single check, as a plugin written for the happy path
would. Hostile bodies make it raise anything (``TypeError``, ``KeyError``,
``UnicodeDecodeError``, ``RecursionError``): the core still answers 400 and stores nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from crossdock import (
    ChannelConnection,
    ChannelError,
    ChannelOrder,
    ChannelOrderLine,
    MarketplaceBase,
    MarketplaceCapability,
    Money,
    WebhookPush,
    hookimpl,
)
from crossdock.db.models import Order, WebhookEvent
from crossdock.services import connections
from crossdock.testing import wait_until

SECRET = "push-secret"


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class PushMarket(MarketplaceBase):
    """Verifies ``X-Signature`` (HMAC of the body) properly, then trusts the body blindly."""

    name = "pushmarket"
    display_name = "Push Market"
    capabilities = frozenset({MarketplaceCapability.WEBHOOKS, MarketplaceCapability.ORDERS_GET})

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def parse_webhook(
        self, conn: ChannelConnection, headers: Mapping[str, str], body: bytes
    ) -> Sequence[Mapping[str, Any]] | WebhookPush:
        given = {k.lower(): v for k, v in headers.items()}.get("x-signature", "")
        if not hmac.compare_digest(sign(body).encode(), given.encode("utf-8", "replace")):
            raise ChannelError("bad signature", code="SIGNATURE")
        payload = json.loads(body)  # no checks at all, on purpose
        references = [{"type": "order", "external_id": payload["order"]["id"]}]
        event_id = payload.get("event_id")
        return WebhookPush(references, event_id) if event_id else references

    async def fetch_order(self, conn: ChannelConnection, external_id: str) -> ChannelOrder:
        self.fetched.append(external_id)
        now = datetime.now(UTC)
        return ChannelOrder(
            external_id=external_id,
            status="pending",
            channel_status="PENDING",
            placed_at=now,
            updated_at=now,
            total=Money.of("10.00", "SGD"),
            lines=[ChannelOrderLine(f"{external_id}-1", "PUSH-SKU", 1, Money.of("10.00", "SGD"))],
            buyer_name="Buyer",
            fulfilled_by_channel=True,
        )


class PushMarketPlugin:
    def __init__(self) -> None:
        self.market = PushMarket()

    @hookimpl
    def crossdock_marketplaces(self) -> list[PushMarket]:
        return [self.market]


@pytest.fixture
def pushmarket() -> PushMarketPlugin:
    return PushMarketPlugin()


@pytest.fixture
def extra_plugins(pushmarket: PushMarketPlugin) -> list[tuple[str, object]]:
    return [("pushmarket", pushmarket)]


async def _connect(app: Any, tenant: Any) -> tuple[int, str]:
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        conn = await connections.create_connection(
            session,
            app.plugins,
            app.vault,
            channel="pushmarket",
            name="push",
            site="SG",
            currency="SGD",
            credentials={"secret": SECRET},
        )
    return conn.id, f"/webhooks/pushmarket/{conn.webhook_key}"


async def _events(app: Any, tenant: Any) -> list[WebhookEvent]:
    async with app.db.tenant(tenant.id) as session:
        return list((await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all())


DEEP = b"[" * 100_000 + b"]" * 100_000

#: Bodies signed correctly that are no push: each makes the naive plugin raise something.
MALFORMED = {
    "a list": b"[]",
    "a string": b'"x"',
    "a number": b"5",
    "null": b"null",
    "invalid UTF-8": b'{"order": {"id": "\xff\xfe"}}',
    "not JSON": b"{nope",
    "empty": b"",
    "no order": b"{}",
    "order not an object": b'{"order": 5}',
    "nested 100,000 deep": DEEP,
    "an id that cannot be stored": b'{"order": {"id": "A\\u0000B"}}',
    "a lone surrogate": b'{"order": {"id": "\\ud800"}}',
    "an id that is an object": b'{"order": {"id": {"$gt": ""}}}',
    "an id too long for an order": json.dumps({"order": {"id": "9" * 65}}).encode(),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_signed_push_that_is_no_push_is_400_and_not_stored(
    app: Any, api: Any, tenant_factory: Any, case: str
) -> None:
    tenant = await tenant_factory()
    _, path = await _connect(app, tenant)
    body = MALFORMED[case]
    response = await api.client.post(path, content=body, headers={"X-Signature": sign(body)})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "WEBHOOK_MALFORMED"
    assert await _events(app, tenant) == []


@pytest.mark.parametrize(
    "signature",
    [b"", b"0" * 64, "é".encode(), "\u00e9".encode("latin-1"), b"\xff" * 64, "签名".encode()],
    ids=["empty", "zeros", "utf8", "latin1", "bytes", "cjk"],
)
async def test_a_push_that_does_not_verify_is_401_and_not_stored(
    app: Any, api: Any, tenant_factory: Any, signature: bytes
) -> None:
    tenant = await tenant_factory()
    _, path = await _connect(app, tenant)
    body = b'{"order": {"id": "O-1"}}'
    response = await api.client.post(path, content=body, headers=[(b"x-signature", signature)])
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert await _events(app, tenant) == []


@pytest.mark.parametrize(
    "key",
    ["nope", "%00", "a%00b", "x" * 5000, "%F0%9F%92%A9", "..%2F..%2Fetc"],
    ids=["unknown", "nul", "nul-inside", "5000-chars", "emoji", "traversal"],
)
async def test_an_unknown_webhook_url_is_404(app: Any, api: Any, tenant_factory: Any, key: str) -> None:
    await _connect(app, await tenant_factory())
    for channel in ("pushmarket", "nochannel", "push%00market"):
        response = await api.client.post(f"/webhooks/{channel}/{key}", content=b"{}")
        assert response.status_code == 404, (channel, key, response.text)


async def test_a_replayed_push_is_stored_and_processed_once(
    app: Any, live_server: str, tenant_factory: Any, pushmarket: PushMarketPlugin
) -> None:
    tenant = await tenant_factory()
    _, path = await _connect(app, tenant)
    body = b'{"order": {"id": "R-1"}}'
    headers = {"X-Signature": sign(body)}
    async with httpx.AsyncClient(base_url=live_server) as http:
        first = await http.post(path, content=body, headers=headers)
        again = await http.post(path, content=body, headers=headers)
        # the same push twice at the same moment (two transactions racing on PostgreSQL)
        other = b'{"order": {"id": "R-2"}}'
        racing = await asyncio.gather(
            *(http.post(path, content=other, headers={"X-Signature": sign(other)}) for _ in range(4))
        )
    assert [r.status_code for r in (first, again, *racing)] == [200] * 6
    events = await _events(app, tenant)
    assert [e.references[0]["external_id"] for e in events] == ["R-1", "R-2"]

    await app.start(run_jobs=True)  # the runner processes what was stored, once per event

    async def processed() -> bool:
        return all(e.status == "processed" for e in await _events(app, tenant))

    await wait_until(processed, message="both events processed")
    await app.queue.join()
    assert sorted(pushmarket.market.fetched) == ["R-1", "R-2"]
    async with app.db.tenant(tenant.id) as session:
        assert await session.scalar(select(func.count(Order.id))) == 2


async def test_a_push_with_an_event_id_is_known_by_it(app: Any, api: Any, tenant_factory: Any) -> None:
    """Stamped or signed anew, the channel's event id says it is the same push."""
    tenant = await tenant_factory()
    _, path = await _connect(app, tenant)
    for stamp in (1, 2):
        body = json.dumps({"order": {"id": "E-1"}, "event_id": "evt-42", "sent_at": stamp}).encode()
        response = await api.client.post(path, content=body, headers={"X-Signature": sign(body)})
        assert response.status_code == 200
    body = json.dumps({"order": {"id": "E-1"}, "event_id": "evt-43"}).encode()
    assert (await api.client.post(path, content=body, headers={"X-Signature": sign(body)})).status_code == 200
    assert [e.external_id for e in await _events(app, tenant)] == ["event:evt-42", "event:evt-43"]
