"""Warehouse systems: a warehouse connected to a WMS follows the stock the WMS reports.

``shelfwms`` below is a small warehouse-system plugin (``crossdock_warehouses``) with its
emulator, served over loopback: it passes the conformance kit
(:class:`crossdock.testing.warehouses.WarehouseConformance`), and the core's connect,
``warehouse_sync`` job and reconciliation run against it through the App, as installed
plugins are.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import func, select

from crossdock import (
    ChannelError,
    InboundReceipt,
    InboundShipment,
    NotSupported,
    OutboundOrder,
    OutboundShipment,
    ReceiptLine,
    StockLine,
    URLNotAllowed,
    UserError,
    WarehouseAccount,
    WarehouseBase,
    WarehouseCapability,
    hookimpl,
)
from crossdock.db.models import Event, StockLedgerEntry
from crossdock.db.models import WarehouseAccount as AccountRow
from crossdock.jobs import JOBS
from crossdock.services import warehouse_sync
from crossdock.testing import invariants, wait_until
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.kit import EMULATOR_HOSTS
from crossdock.testing.warehouses import WarehouseConformance

# --------------------------------------------------------------------------- the emulator

PAGE = 100


class ShelfEmulator:
    """Shelf WMS: ``GET /v1/stock?page=`` (pages of 100), ``POST /v1/asns``,
    ``GET /v1/receipts?since=``, ``POST /v1/orders``, ``GET /v1/shipments?since=``; a bearer token; 429 with Retry-After and 5xx on demand."""

    TOKEN = "shelf-token"

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.requests: dict[str, int] = {}
        self.stock: dict[str, dict[str, int]] = {}
        self.asns: dict[str, dict[str, Any]] = {}
        self.outbound: dict[str, dict[str, Any]] = {}
        self.receipts: list[dict[str, Any]] = []
        self.shipped: list[dict[str, Any]] = []
        self._failures: list[tuple[int, float | None]] = []

    # seller-side helpers (WarehouseEmulator)

    def open_account(self) -> Mapping[str, Any]:
        return {"token": self.TOKEN}

    def set_stock(
        self, sku: str, on_hand: int, *, reserved: int = 0, inbound: int = 0, unsellable: int = 0
    ) -> None:
        self.stock[sku] = {
            "available": on_hand,
            "allocated": reserved,
            "inbound": inbound,
            "damaged": unsellable,
        }

    def inbounds(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {ref: [(line["sku"], line["qty"]) for line in asn["lines"]] for ref, asn in self.asns.items()}

    def receive(self, reference: str, lines: Mapping[str, tuple[int, int]], *, complete: bool = True) -> None:
        """The warehouse has counted this much of delivery ``reference`` so far."""
        self.receipts.append(
            {
                "asn": reference,
                "at": datetime.now(UTC).isoformat(),
                "lines": [{"sku": s, "received": r, "damaged": d} for s, (r, d) in lines.items()],
                "complete": complete,
            }
        )

    def orders(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {ref: [(line["sku"], line["qty"]) for line in o["lines"]] for ref, o in self.outbound.items()}

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        self._failures += [(status, retry_after)] * count

    def ship(self, reference: str, *, carrier: str, tracking_number: str) -> None:
        self.shipped.append(
            {
                "order": reference,
                "carrier": carrier,
                "tracking": tracking_number,
                "at": datetime.now(UTC).isoformat(),
            }
        )

    # the API

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests[f"{method} {path}"] = self.requests.get(f"{method} {path}", 0) + 1
        status, answer, extra = self._answer(method, path, query, headers, body)
        raw = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": raw})

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if self._failures:
            status, retry_after = self._failures.pop(0)
            extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
            return status, {"error": "unavailable"}, extra
        if headers.get("authorization") != f"Bearer {self.TOKEN}":
            return 401, {"error": "invalid token"}, []
        if (method, path) == ("GET", "/v1/stock"):
            page = int(query.get("page", "1"))
            skus = sorted(self.stock)
            rows = skus[(page - 1) * PAGE : page * PAGE]
            more = page * PAGE < len(skus)
            items = [{"sku": sku, **self.stock[sku]} for sku in rows]
            return 200, {"items": items, "next_page": page + 1 if more else None}, []
        if (method, path) == ("POST", "/v1/asns"):
            asn = json.loads(body)
            known = self.asns.get(asn["reference"])
            if known is None:
                known = self.asns[asn["reference"]] = {**asn, "id": f"ASN-{len(self.asns) + 1}"}
            return 200, {"id": known["id"]}, []
        if (method, path) == ("POST", "/v1/orders"):
            order = json.loads(body)
            known = self.outbound.get(order["reference"])
            if known is None:
                known = self.outbound[order["reference"]] = {**order, "id": f"OUT-{len(self.outbound) + 1}"}
            return 200, {"id": known["id"]}, []
        if (method, path) == ("GET", "/v1/shipments"):
            since = datetime.fromisoformat(query["since"])
            found = [r for r in self.shipped if datetime.fromisoformat(r["at"]) >= since]
            return 200, {"items": found}, []
        if (method, path) == ("GET", "/v1/receipts"):
            since = datetime.fromisoformat(query["since"])
            found = [r for r in self.receipts if datetime.fromisoformat(r["at"]) >= since]
            return 200, {"items": found}, []
        return 404, {"error": "not found"}, []


# --------------------------------------------------------------------------- the plugin


class Shelf(WarehouseBase):
    name = "shelfwms"
    display_name = "Shelf WMS"
    version = "1.0"
    capabilities = frozenset(WarehouseCapability)  # every operation

    def __init__(self) -> None:
        self.accounts: list[WarehouseAccount] = []

    async def _call(self, account: WarehouseAccount, method: str, path: str, **kwargs: Any) -> Any:
        self.accounts.append(account)
        if not account.base_url:
            raise ChannelError("shelfwms needs a base_url", code="CONFIG")
        try:
            account.outbound().policy.check_url(account.base_url, field="base_url")
        except UserError as exc:
            raise URLNotAllowed(f"shelfwms base_url: {exc.message}") from None
        headers = {"Authorization": f"Bearer {account.credentials.get('token', '')}"}
        try:
            response = await account.http_client().request(
                method, f"{account.base_url}{path}", headers=headers, **kwargs
            )
        except httpx.TransportError as exc:
            raise ChannelError(
                f"shelfwms could not be reached: {exc!r}", code="NETWORK", retryable=True
            ) from exc
        if response.status_code == 401:
            raise ChannelError("shelfwms refused the token", code="CREDENTIALS")
        if response.status_code == 429:
            wait = response.headers.get("retry-after")
            raise ChannelError(
                "shelfwms is throttling",
                code="THROTTLED",
                retryable=True,
                retry_after=float(wait) if wait else None,
            )
        if response.status_code >= 500:
            raise ChannelError(
                f"shelfwms answered {response.status_code}", code="UNAVAILABLE", retryable=True
            )
        if response.status_code != 200:
            raise ChannelError(f"shelfwms answered {response.status_code}", code="REFUSED")
        return response.json()

    async def pull_stock(self, account: WarehouseAccount) -> list[StockLine]:
        lines: list[StockLine] = []
        page: int | None = 1
        while page is not None:
            answer = await self._call(account, "GET", "/v1/stock", params={"page": page})
            lines += [
                StockLine(
                    sku=row["sku"],
                    on_hand=row["available"],
                    reserved=row["allocated"],
                    inbound=row["inbound"],
                    unsellable=row["damaged"],
                )
                for row in answer["items"]
            ]
            page = answer["next_page"]
        return lines

    async def push_inbound(self, account: WarehouseAccount, shipment: InboundShipment) -> str:
        body = {
            "reference": shipment.reference,
            "lines": [{"sku": line.sku, "qty": line.quantity} for line in shipment.lines],
            "expected": shipment.expected_on.isoformat() if shipment.expected_on else None,
        }
        answer = await self._call(account, "POST", "/v1/asns", json=body)
        return str(answer["id"])

    async def push_order(self, account: WarehouseAccount, order: OutboundOrder) -> str:
        body = {
            "reference": order.reference,
            "lines": [{"sku": line.sku, "qty": line.quantity} for line in order.lines],
            "country": order.ship_to.country,
        }
        answer = await self._call(account, "POST", "/v1/orders", json=body)
        return str(answer["id"])

    async def pull_shipments(self, account: WarehouseAccount, since: datetime) -> list[OutboundShipment]:
        answer = await self._call(account, "GET", "/v1/shipments", params={"since": since.isoformat()})
        return [
            OutboundShipment(
                reference=row["order"],
                carrier=row["carrier"],
                tracking_number=row["tracking"],
                shipped_at=datetime.fromisoformat(row["at"]),
            )
            for row in answer["items"]
        ]

    async def pull_receipts(self, account: WarehouseAccount, since: datetime) -> list[InboundReceipt]:
        answer = await self._call(account, "GET", "/v1/receipts", params={"since": since.isoformat()})
        return [
            InboundReceipt(
                reference=row["asn"],
                lines=[ReceiptLine(line["sku"], line["received"], line["damaged"]) for line in row["lines"]],
                received_at=datetime.fromisoformat(row["at"]),
                complete=row["complete"],
            )
            for row in answer["items"]
        ]


class ShelfPlugin:
    def __init__(self) -> None:
        self.system = Shelf()

    @hookimpl
    def crossdock_warehouses(self) -> list[Shelf]:
        return [self.system]


# --------------------------------------------------------------------------- conformance


class TestShelfConformance(WarehouseConformance):
    warehouse = "shelfwms"

    def make_emulator(self, faults: Faults) -> ShelfEmulator:
        return ShelfEmulator(faults)

    def load(self) -> Any:
        from crossdock.plugins import load_plugins

        return load_plugins(allow=[], extra=[("shelfwms", ShelfPlugin())])


def test_a_system_declaring_an_operation_it_lacks_is_skipped() -> None:
    from crossdock.plugins import load_plugins

    class Boasting(WarehouseBase):
        name = "boasting"
        capabilities = frozenset({WarehouseCapability.STOCK_PULL, WarehouseCapability.ORDER_PUSH})

        async def pull_stock(self, account: WarehouseAccount) -> list[StockLine]:
            return []

    class Plugin:
        @hookimpl
        def crossdock_warehouses(self) -> list[WarehouseBase]:
            return [Boasting()]

    plugins = load_plugins(allow=[], extra=[("boasting", Plugin()), ("shelfwms", ShelfPlugin())])
    assert "does not implement push_order" in plugins.failures["boasting"]
    assert sorted(plugins.warehouse_systems) == ["shelfwms"]
    with pytest.raises(NotSupported):
        plugins.warehouse_system("boasting")


# --------------------------------------------------------------------------- the core


@pytest.fixture
def shelf() -> ShelfPlugin:
    return ShelfPlugin()


@pytest.fixture
def extra_plugins(testmarket: Any, shelf: ShelfPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("shelfwms", shelf)]


async def _connect(shop: Any, url: str, warehouse: str = "SG1") -> int:
    async with shop.write() as session:
        account = await warehouse_sync.connect_warehouse(
            session,
            shop.app.plugins,
            shop.app.vault,
            shop.app.http.policy,
            warehouse_id=shop.warehouses[warehouse],
            provider="shelfwms",
            credentials={"token": ShelfEmulator.TOKEN},
            base_url=url,
            settings={"timeout": 2.0},
        )
        return int(account.id)


async def _sync(shop: Any) -> dict[str, int]:
    result: dict[str, int] = await JOBS["warehouse_sync"](
        shop.app.job_context(), tenant_id=shop.tenant.id, warehouse_id=shop.warehouses["SG1"]
    )
    return result


async def _account(shop: Any) -> AccountRow:
    async with shop.read() as session:
        row = await session.scalar(
            select(AccountRow).where(AccountRow.warehouse_id == shop.warehouses["SG1"])
        )
    assert row is not None
    return row


async def _stocktakes(shop: Any) -> list[tuple[int, int, str | None, dict[str, Any]]]:
    async with shop.read() as session:
        rows = await session.execute(
            select(
                StockLedgerEntry.variant_id,
                StockLedgerEntry.delta_on_hand,
                StockLedgerEntry.note,
                StockLedgerEntry.details,
            )
            .where(StockLedgerEntry.reason == "stocktake")
            .order_by(StockLedgerEntry.id)
        )
        return [(v, d, n, dict(details)) for v, d, n, details in rows]


async def _reconciled_events(shop: Any) -> list[dict[str, Any]]:
    async with shop.read() as session:
        rows = await session.scalars(
            select(Event.payload).where(Event.type == "warehouse.reconciled").order_by(Event.id)
        )
        return [dict(p) for p in rows]


async def test_connect_checks_the_provider_the_url_and_one_account_per_warehouse(shop: Any) -> None:
    async with serve(ShelfEmulator()) as url:
        account_id = await _connect(shop, url)
        with pytest.raises(UserError) as taken:
            await _connect(shop, url)
    assert taken.value.code == "TAKEN"
    row = await _account(shop)
    assert (row.id, row.provider, row.status, row.base_url) == (account_id, "shelfwms", "active", url)
    assert shop.app.vault.decrypt(row.credentials_encrypted) == {"token": ShelfEmulator.TOKEN}
    assert ShelfEmulator.TOKEN.encode() not in row.credentials_encrypted

    async with shop.write() as session:
        for provider, base_url, code in (
            ("nowms", None, "UNKNOWN_PROVIDER"),
            ("shelfwms", "http://169.254.169.254", None),
        ):
            with pytest.raises(UserError) as refused:
                await warehouse_sync.connect_warehouse(
                    session,
                    shop.app.plugins,
                    shop.app.vault,
                    shop.app.http.policy,
                    warehouse_id=shop.warehouses["SG1"],
                    provider=provider,
                    credentials={"token": "x"},
                    base_url=base_url,
                )
            if code is not None:
                assert refused.value.code == code
            else:
                assert refused.value.field == "baseUrl"


async def test_the_levels_follow_the_warehouse_system(shop: Any, shelf: ShelfPlugin) -> None:
    """SKU-1 5 → 8, SKU-2 0 → 4, an unknown SKU reported; stocktake rows counted by the
    system; a second run with nothing changed records nothing."""
    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 8, reserved=1, inbound=20)
    emulator.set_stock("SKU-2", 4, unsellable=2)
    emulator.set_stock("NOT-OURS", 3)
    async with serve(emulator) as url:
        await _connect(shop, url)
        first = await _sync(shop)
        assert first == {"lines": 3, "changed": 2, "unknown": 1, "refused": 0, "receipts": 0, "booked": 0}
        assert await shop.level("SKU-1") == (8, 0)
        assert await shop.level("SKU-2") == (4, 0)
        ledger = await _stocktakes(shop)
        assert [(v, d, n) for v, d, n, _ in ledger] == [
            (shop.variants["SKU-1"], 3, "counted by shelfwms"),
            (shop.variants["SKU-2"], 4, "counted by shelfwms"),
        ]
        assert ledger[0][3] == {"counted": 8, "previous": 5, "variance": 3}
        row = await _account(shop)
        assert row.status == "active" and row.last_error is None and row.last_synced_at is not None
        events = await _reconciled_events(shop)
        assert len(events) == 1
        assert {k: events[0][k] for k in ("provider", "lines", "changed", "unknown", "refused")} == {
            "provider": "shelfwms",
            "lines": 3,
            "changed": 2,
            "unknown": 1,
            "refused": 0,
        }
        # the provider got the App's guarded pool
        assert all(account.http is shop.app.http for account in shelf.system.accounts)

        # what the service returns
        async with shop.unit_of_work() as uow:
            found = await warehouse_sync.reconcile(
                uow, shop.warehouses["SG1"], [StockLine("SKU-1", 6), StockLine("GHOST", 1)]
            )
        assert found == [
            warehouse_sync.Difference("GHOST", None, 1, None, problem=warehouse_sync.Problem.UNKNOWN_SKU),
            warehouse_sync.Difference("SKU-1", 8, 6, -2, shop.variants["SKU-1"]),
        ]
        assert await shop.level("SKU-1") == (6, 0)

        emulator.stock.pop("NOT-OURS")
        emulator.set_stock("SKU-1", 6)
        before = (len(await _stocktakes(shop)), len(await _reconciled_events(shop)))
        again = await _sync(shop)
        assert again == {"lines": 2, "changed": 0, "unknown": 0, "refused": 0, "receipts": 0, "booked": 0}
        assert (len(await _stocktakes(shop)), len(await _reconciled_events(shop))) == before
    await shop.ledger_matches_levels()
    assert await invariants.check(shop.app.db, tenant_id=shop.tenant.id) == []


async def test_a_count_below_what_is_reserved_is_refused_not_applied(shop: Any) -> None:
    await shop.ingest(shop.market.add_order("W-1", quantity=3))  # reserves 3 of SKU-1's 5
    assert await shop.level("SKU-1") == (5, 3)
    async with shop.unit_of_work() as uow:
        found = await warehouse_sync.reconcile(uow, shop.warehouses["SG1"], [StockLine("SKU-1", 2)])
    assert [(d.sku, d.before, d.after, d.problem) for d in found] == [
        ("SKU-1", 5, 2, warehouse_sync.Problem.BELOW_RESERVED)
    ]
    assert await shop.level("SKU-1") == (5, 3)
    assert await _stocktakes(shop) == []


async def test_an_unreachable_system_marks_the_account_failing_and_changes_nothing(shop: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((EMULATOR_HOSTS[0], 0))
        port = probe.getsockname()[1]
    await _connect(shop, f"http://{EMULATOR_HOSTS[0]}:{port}")
    with pytest.raises(ChannelError) as caught:
        await _sync(shop)
    assert caught.value.retryable, "the job system retries it"
    row = await _account(shop)
    assert row.status == "failing"
    assert (row.last_error or "").startswith("NETWORK: "), row.last_error
    assert row.last_synced_at is None
    assert await shop.level("SKU-1") == (5, 0)
    assert await _stocktakes(shop) == []


async def test_a_refused_token_fails_the_account_until_a_run_succeeds(shop: Any) -> None:
    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 7)
    async with serve(emulator) as url:
        await _connect(shop, url)
        async with shop.write() as session:
            row = await session.scalar(select(AccountRow))
            assert row is not None
            row.credentials_encrypted = shop.app.vault.encrypt({"token": "revoked"})
        with pytest.raises(ChannelError) as caught:
            await _sync(shop)
        assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
        assert (await _account(shop)).status == "failing"
        assert await shop.level("SKU-1") == (5, 0)
        async with shop.write() as session:
            row = await session.scalar(select(AccountRow))
            assert row is not None
            row.credentials_encrypted = shop.app.vault.encrypt({"token": ShelfEmulator.TOKEN})
        assert (await _sync(shop))["changed"] == 1
    row = await _account(shop)
    assert (row.status, row.last_error) == ("active", None)
    assert await shop.level("SKU-1") == (7, 0)


async def test_a_throttled_pull_is_retried_by_the_job_system(shop: Any, app: Any) -> None:
    """The system throttles the first pull: the account is ``failing`` meanwhile, the job
    runner tries again after ``retry_after``, and the levels follow; the account is active."""
    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 9)
    emulator.fail_next(1, status=429, retry_after=0.2)
    async with serve(emulator) as url:
        await _connect(shop, url)
        app.queue.start(app.job_context(), periodic=False)
        try:
            await app.queue.enqueue(
                "warehouse_sync", tenant_id=shop.tenant.id, warehouse_id=shop.warehouses["SG1"]
            )
            # the receipts are pulled first: the throttled call, then again with the stock
            await wait_until(lambda: emulator.requests.get("GET /v1/receipts", 0) >= 2, timeout=20)
            await wait_until(_level_is(shop, (9, 0)), timeout=20)
        finally:
            await app.queue.stop()
    row = await _account(shop)
    assert (row.status, row.last_error) == ("active", None)
    assert [d for _, d, _, _ in await _stocktakes(shop)] == [4]


def _level_is(shop: Any, wanted: tuple[int, int]) -> Any:
    async def check() -> bool:
        return bool(await shop.level("SKU-1") == wanted)

    return check


async def test_the_sweep_queues_a_sync_for_each_active_account(shop: Any) -> None:
    async with serve(ShelfEmulator()) as url:
        await _connect(shop, url)
    ctx = shop.app.job_context()
    queued: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        async def enqueue(self, name: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
            queued.append((name, kwargs))
            return True

        async def ping(self) -> bool:
            return True

    ctx.queue = Recorder()
    assert await JOBS["warehouse_sync_sweep"](ctx) >= 1  # the database may hold other tests' accounts
    assert ("warehouse_sync", {"tenant_id": shop.tenant.id, "warehouse_id": shop.warehouses["SG1"]}) in queued
    async with shop.write() as session:
        row = await session.scalar(select(AccountRow))
        assert row is not None
        row.status = "failing"
    queued.clear()
    await JOBS["warehouse_sync_sweep"](ctx)
    assert all(kwargs["tenant_id"] != shop.tenant.id for _, kwargs in queued)


async def test_a_reconcile_racing_an_allocation_keeps_the_ledger_equal_to_the_levels(
    shop: Any, backend: str
) -> None:
    """The WMS counts SKU-1 while an order takes one of it, eight times over: whichever locks the level first,
    the other sees its result, and the ledger sums still equal the levels."""
    if backend != "postgresql":
        pytest.skip("SQLite serializes writers: there is no race")
    await shop.receive("SKU-1", "SG1", 5)  # 10 on hand
    for i in range(8):
        order = shop.market.add_order(f"RACE-{i}", quantity=1, buyer=f"buyer-{i}")

        async def count(on_hand: int = 20 - i) -> list[warehouse_sync.Difference]:
            async with shop.unit_of_work() as uow:
                return await warehouse_sync.reconcile(
                    uow, shop.warehouses["SG1"], [StockLine("SKU-1", on_hand)]
                )

        await asyncio.gather(shop.ingest(order), count())
        on_hand, reserved = await shop.level("SKU-1")
        assert on_hand == 20 - i, "the count is what is on hand, whatever was reserved meanwhile"
        assert reserved == i + 1
    async with shop.read() as session:
        assert await session.scalar(select(func.count()).select_from(StockLedgerEntry)) > 0
    await shop.ledger_matches_levels()
    assert await invariants.check(shop.app.db, tenant_id=shop.tenant.id) == []


async def test_a_warehouse_is_connected_and_synced_over_graphql(api: Any, shop: Any) -> None:
    """``warehouseConnect`` stores the account (its credentials never shown), ``warehouseSync``
    queues the job that makes the levels follow; what cannot be connected is refused."""
    from crossdock.api.schema.relay import encode_id
    from crossdock.testing import jobs_running, wait_until

    key = shop.tenant.key
    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 9)
    connect = (
        """mutation($w: ID!, $p: String!, $u: String) { warehouseConnect(input: {warehouseId: $w, provider: $p,
      credentials: {token: "%s"}, baseUrl: $u}) { warehouseAccount { provider status baseUrl warehouse { code } }
      userErrors { code field } } }"""
        % ShelfEmulator.TOKEN
    )
    wh = encode_id("Warehouse", shop.warehouses["SG1"])
    async with serve(emulator) as url:
        unknown = (await api.data(connect, {"w": wh, "p": "nowhere", "u": url}, key=key))["warehouseConnect"]
        assert unknown["userErrors"] == [{"code": "UNKNOWN_PROVIDER", "field": ["provider"]}]
        hostile = await api.data(connect, {"w": wh, "p": "shelfwms", "u": "http://169.254.169.254"}, key=key)
        assert hostile["warehouseConnect"]["userErrors"][0]["code"] == "URL_NOT_ALLOWED"
        made = (await api.data(connect, {"w": wh, "p": "shelfwms", "u": url}, key=key))["warehouseConnect"]
        assert made["userErrors"] == [] and made["warehouseAccount"]["status"] == "ACTIVE"
        assert made["warehouseAccount"]["warehouse"] == {"code": "SG1"}
        listed = await api("{ warehouseAccounts { provider baseUrl status lastSyncedAt } }", key=key)
        assert ShelfEmulator.TOKEN not in str(listed)
        sync = "mutation($w: ID!) { warehouseSync(input: {warehouseId: $w}) { queued userErrors { code } } }"
        async with jobs_running(shop.app):
            assert (await api.data(sync, {"w": wh}, key=key))["warehouseSync"] == {
                "queued": True,
                "userErrors": [],
            }
            await wait_until(_level_is(shop, (9, 0)))
    other = encode_id("Warehouse", 9_000_000_000_000_000_000)
    missing = (await api.data(sync, {"w": other}, key=key))["warehouseSync"]
    assert missing["userErrors"] == [{"code": "NOT_FOUND"}]


# --------------------------------------------------------------------------- deliveries


async def _sent_order(shop: Any, lines: Sequence[tuple[str, int]]) -> int:
    from decimal import Decimal

    from crossdock.services import purchasing

    async with shop.write() as session:
        supplier = await purchasing.create_supplier(session, code="SZ", name="Shenzhen Fans", currency="USD")
        supplier_id = supplier.id
    async with shop.unit_of_work() as uow:
        order = await purchasing.create_purchase_order(
            uow,
            supplier_id=supplier_id,
            warehouse_id=shop.warehouses["SG1"],
            lines=[
                purchasing.LineInput(shop.variants[sku], quantity, Decimal("2.00")) for sku, quantity in lines
            ],
        )
        order_id = int(order.id)
    async with shop.unit_of_work() as uow:
        await purchasing.send_purchase_order(uow, order_id)
    return order_id


async def _delivery(shop: Any) -> Any:
    from crossdock.db.models import WarehouseInbound

    async with shop.read() as session:
        row = await session.scalar(select(WarehouseInbound).order_by(WarehouseInbound.id.desc()))
    assert row is not None
    return row


async def _announce(shop: Any, inbound_id: int) -> str:
    result: str = await JOBS["warehouse_announce"](
        shop.app.job_context(), tenant_id=shop.tenant.id, inbound_id=inbound_id
    )
    return result


async def _reasons(shop: Any) -> list[str]:
    async with shop.read() as session:
        return list(
            (await session.scalars(select(StockLedgerEntry.reason).order_by(StockLedgerEntry.id))).all()
        )


async def test_a_sent_purchase_order_is_announced_and_booked_in_from_the_systems_receipts(shop: Any) -> None:
    """PO-000001 (10 of SKU-1, 4 of SKU-2) is sent to SG1, which Shelf WMS runs: it is announced
    once as an ASN under its number. Shelf counts 6 good and 1 damaged SKU-1: the next sync books
    6 against the order (a receipt, not a stocktake); pulled again it books nothing more; the rest
    (3 good SKU-1, 4 SKU-2) arrives with the delivery complete and is booked too."""
    from crossdock.db.models import PurchaseOrder, PurchaseOrderLine

    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 5)
    async with serve(emulator) as url:
        await _connect(shop, url)
        order_id = await _sent_order(shop, [("SKU-1", 10), ("SKU-2", 4)])
        delivery = await _delivery(shop)
        assert (delivery.reference, delivery.status, delivery.purchase_order_id) == (
            "PO-000001",
            "pending",
            order_id,
        )
        assert await _announce(shop, delivery.id) == "announced"
        assert await _announce(shop, delivery.id) == "announced"  # not pushed again
        assert emulator.inbounds() == {"PO-000001": [("SKU-1", 10), ("SKU-2", 4)]}
        assert emulator.requests["POST /v1/asns"] == 1
        delivery = await _delivery(shop)
        assert (delivery.status, delivery.external_id, delivery.attempts) == ("announced", "ASN-1", 1)

        emulator.receive("PO-000001", {"SKU-1": (6, 1)}, complete=False)
        emulator.set_stock("SKU-1", 11)
        assert await _sync(shop) == {
            "lines": 1,
            "changed": 0,
            "unknown": 0,
            "refused": 0,
            "receipts": 1,
            "booked": 6,
        }
        assert await shop.level("SKU-1") == (11, 0)
        assert await _sync(shop) == {
            "lines": 1,
            "changed": 0,
            "unknown": 0,
            "refused": 0,
            "receipts": 1,
            "booked": 0,
        }
        assert await shop.level("SKU-1") == (11, 0)
        assert (await _delivery(shop)).counted == {"SKU-1": [6, 1]}

        emulator.receive("PO-000001", {"SKU-1": (9, 1), "SKU-2": (4, 0)}, complete=True)
        emulator.set_stock("SKU-1", 14)
        emulator.set_stock("SKU-2", 4)
        result = await _sync(shop)
        assert (result["booked"], result["changed"]) == (7, 0)
    assert await shop.level("SKU-1") == (14, 0)
    assert await shop.level("SKU-2") == (4, 0)
    async with shop.read() as session:
        order = await session.get(PurchaseOrder, order_id)
        lines = (
            await session.execute(
                select(
                    PurchaseOrderLine.variant_id,
                    PurchaseOrderLine.received_quantity,
                    PurchaseOrderLine.damaged_quantity,
                ).order_by(PurchaseOrderLine.id)
            )
        ).all()
    assert order is not None and order.status == "partially_received"  # one SKU-1 short, one damaged
    assert [tuple(line) for line in lines] == [(shop.variants["SKU-1"], 9, 1), (shop.variants["SKU-2"], 4, 0)]
    delivery = await _delivery(shop)
    assert delivery.status == "received" and delivery.received_at is not None
    assert "stocktake" not in await _reasons(shop), "the receipts were booked as receipts"
    await shop.ledger_matches_levels()
    assert await invariants.check(shop.app.db, tenant_id=shop.tenant.id) == []


async def test_an_inbound_shipment_is_announced_and_booked_in_when_the_system_completes_it(shop: Any) -> None:
    """HK1 sends 8 of SKU-1 to SG1 (run by Shelf): announced as IS-000001; a partial count
    leaves it on its way; the complete count (7 good, 1 damaged) books it in."""
    from crossdock.db.models import InboundShipment, InboundShipmentLine, Transfer
    from crossdock.services import inbound, inventory

    async with shop.write() as session:
        hk = await inventory.create_warehouse(session, code="HK1", name="Hong Kong", country="HK")
        shop.warehouses["HK1"] = hk.id
    await shop.receive("SKU-1", "HK1", 20)
    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 5)
    async with serve(emulator) as url:
        await _connect(shop, url)
        async with shop.unit_of_work() as uow:
            shipment = await inbound.create_shipment(
                uow,
                from_warehouse_id=shop.warehouses["HK1"],
                to_warehouse_id=shop.warehouses["SG1"],
                lines=[inbound.ShipmentLineInput(shop.variants["SKU-1"], 8)],
                carrier="SF Express",
                tracking_number="SF100",
            )
            shipment_id = shipment.id
        assert await shop.level("SKU-1", "HK1") == (12, 0)
        delivery = await _delivery(shop)
        assert (delivery.reference, delivery.shipment_id) == ("IS-000001", shipment_id)
        assert await _announce(shop, delivery.id) == "announced"
        assert emulator.inbounds() == {"IS-000001": [("SKU-1", 8)]}
        assert emulator.asns["IS-000001"]["expected"] is None  # no lane: no due day

        emulator.receive("IS-000001", {"SKU-1": (5, 0)}, complete=False)
        assert (await _sync(shop))["booked"] == 0
        async with shop.read() as session:
            row = await session.get(InboundShipment, shipment_id)
            assert row is not None and row.status == "in_transit"
        emulator.receive("IS-000001", {"SKU-1": (7, 1)}, complete=True)
        emulator.set_stock("SKU-1", 12)
        result = await _sync(shop)
        assert (result["booked"], result["changed"]) == (7, 0)
    assert await shop.level("SKU-1") == (12, 0)
    async with shop.read() as session:
        row = await session.get(InboundShipment, shipment_id)
        line = await session.scalar(select(InboundShipmentLine))
        transfer = await session.scalar(select(Transfer))
    assert row is not None and row.status == "received" and row.received_at is not None
    assert line is not None and (line.quantity, line.received_quantity, line.damaged_quantity) == (8, 7, 1)
    assert transfer is not None and (transfer.status, transfer.received_quantity) == ("received", 7)
    assert (await _delivery(shop)).status == "received"
    await shop.ledger_matches_levels()
    assert await invariants.check(shop.app.db, tenant_id=shop.tenant.id) == []


async def test_a_refused_asn_fails_until_announced_again_and_an_outage_is_retried(shop: Any) -> None:
    from crossdock.services import inbound

    emulator = ShelfEmulator()
    async with serve(emulator) as url:
        await _connect(shop, url)
        await _sent_order(shop, [("SKU-1", 10)])
        delivery = await _delivery(shop)
        emulator.fail_next(1, status=503)
        with pytest.raises(ChannelError) as outage:
            await _announce(shop, delivery.id)
        assert outage.value.retryable
        delivery = await _delivery(shop)
        assert (delivery.status, delivery.attempts) == ("pending", 1)

        emulator.fail_next(1, status=422)
        assert await _announce(shop, delivery.id) == "failed"
        delivery = await _delivery(shop)
        assert delivery.status == "failed" and delivery.last_error.startswith("REFUSED")
        assert emulator.inbounds() == {}
        async with shop.read() as session:
            refused = (
                await session.scalars(select(Event.payload).where(Event.type == "warehouse.inbound_refused"))
            ).all()
        assert [p["reference"] for p in refused] == ["PO-000001"]
        assert await _announce(shop, delivery.id) == "failed"  # a refusal is not retried by itself

        async with shop.unit_of_work() as uow:
            again = await inbound.announce_again(uow, delivery.id)
            assert again.status == "pending"
        assert await _announce(shop, delivery.id) == "announced"
        assert emulator.inbounds() == {"PO-000001": [("SKU-1", 10)]}
        async with shop.unit_of_work() as uow:
            with pytest.raises(UserError) as twice:
                await inbound.announce_again(uow, delivery.id)
        assert twice.value.code == "INVALID_STATE"


async def test_receipts_for_deliveries_not_expected_book_nothing(shop: Any, shelf: ShelfPlugin) -> None:
    """A system that takes no ASNs still books a purchase order in by its number; a receipt
    naming no delivery of this warehouse, or one for a cancelled order, books nothing."""
    from decimal import Decimal

    from crossdock.db.models import PurchaseOrder
    from crossdock.services import purchasing

    shelf.system.capabilities = frozenset({WarehouseCapability.STOCK_PULL, WarehouseCapability.RECEIPTS_PULL})
    emulator = ShelfEmulator()
    emulator.set_stock("SKU-1", 5)
    async with serve(emulator) as url:
        await _connect(shop, url)
        order_id = await _sent_order(shop, [("SKU-1", 3)])
        delivery = await _delivery(shop)
        assert await _announce(shop, delivery.id) == "not_announced"
        assert emulator.requests.get("POST /v1/asns", 0) == 0
        emulator.receive("SOMEONE-ELSES", {"SKU-1": (50, 0)})
        emulator.receive("PO-000001", {"SKU-1": (3, 0)})
        emulator.set_stock("SKU-1", 8)
        result = await _sync(shop)
        assert (result["receipts"], result["booked"], result["changed"]) == (2, 3, 0)
        assert await shop.level("SKU-1") == (8, 0)

        async with shop.write() as session:
            first = await session.get(PurchaseOrder, order_id)
            assert first is not None
            supplier_id = first.supplier_id
        async with shop.unit_of_work() as uow:
            other = await purchasing.create_purchase_order(
                uow,
                supplier_id=supplier_id,
                warehouse_id=shop.warehouses["SG1"],
                lines=[purchasing.LineInput(shop.variants["SKU-2"], 2, Decimal("1"))],
            )
            other_id = other.id
        async with shop.unit_of_work() as uow:
            await purchasing.send_purchase_order(uow, other_id)
        async with shop.unit_of_work() as uow:
            await purchasing.cancel_purchase_order(uow, other_id)
        assert (await _delivery(shop)).status == "cancelled"
        emulator.receive("PO-000002", {"SKU-2": (2, 0)})
        assert (await _sync(shop))["booked"] == 0
    assert await shop.level("SKU-2") == (0, 0)


# --------------------------------------------------------------------------- orders a 3PL ships


async def _fulfil(shop: Any) -> dict[str, int]:
    result: dict[str, int] = await JOBS["warehouse_fulfil"](
        shop.app.job_context(), tenant_id=shop.tenant.id, warehouse_id=shop.warehouses["SG1"]
    )
    return result


async def test_orders_reserved_at_a_3pl_are_handed_over_once_and_shipped_with_its_tracking(shop: Any) -> None:
    """W-1 (2 of SKU-1) is reserved in SG1, which Shelf runs: it is handed over once under
    CD-<id>; when Shelf ships it, the order ships with Shelf's carrier and tracking number
    and its units leave the stock. W-2, cancelled before the job runs, is never handed over;
    W-3, refused by Shelf, is failed with Shelf's message."""
    from crossdock.db.models import Shipment, WarehouseOrder
    from crossdock.services import fulfilment, warehouse_orders

    emulator = ShelfEmulator()
    async with serve(emulator) as url:
        await _connect(shop, url)
        await shop.ingest(shop.market.add_order("W-1", quantity=2, buyer="Ana"))
        await shop.ingest(shop.market.add_order("W-2", quantity=1, buyer="Ben"))
        w1, w2 = await shop.order("W-1"), await shop.order("W-2")
        assert (w1.status, w2.status) == ("allocated", "allocated")
        async with shop.unit_of_work() as uow:
            await fulfilment.cancel_order(uow, w2.id, "buyer asked")
        ref = warehouse_orders.reference_of(w1.id)
        assert await _fulfil(shop) == {"handed_over": 1, "failed": 0, "shipped": 0}
        assert emulator.orders() == {ref: [("SKU-1", 2)]}
        assert emulator.outbound[ref]["country"] == "SG"
        assert await _fulfil(shop) == {"handed_over": 0, "failed": 0, "shipped": 0}
        assert emulator.requests["POST /v1/orders"] == 1

        emulator.ship(ref, carrier="DHL", tracking_number="JD014600003828")
        assert await _fulfil(shop) == {"handed_over": 0, "failed": 0, "shipped": 1}
        assert await _fulfil(shop) == {"handed_over": 0, "failed": 0, "shipped": 0}  # shipped once
        assert (await shop.order("W-1")).status == "shipped"
        assert await shop.level("SKU-1") == (3, 0)
        async with shop.read() as session:
            shipment = await session.scalar(select(Shipment).where(Shipment.order_id == w1.id))
            handed = {r.reference: r for r in (await session.scalars(select(WarehouseOrder))).all()}
        assert shipment is not None
        assert (shipment.status, shipment.carrier, shipment.tracking_number) == (
            "shipped",
            "DHL",
            "JD014600003828",
        )
        assert handed[ref].status == "shipped" and handed[ref].shipment_id == shipment.id
        assert handed[ref].external_id == "OUT-1"
        assert warehouse_orders.reference_of(w2.id) not in handed  # cancelled before it was handed over

        await shop.ingest(shop.market.add_order("W-3", quantity=1, buyer="Cai"))
        w3 = await shop.order("W-3")
        emulator.fail_next(1, status=422)
        assert await _fulfil(shop) == {"handed_over": 0, "failed": 1, "shipped": 0}
        async with shop.read() as session:
            refused = await session.scalar(select(WarehouseOrder).where(WarehouseOrder.order_id == w3.id))
        assert refused is not None and refused.status == "failed" and refused.last_error.startswith("REFUSED")
        assert await _fulfil(shop) == {"handed_over": 0, "failed": 0, "shipped": 0}  # not retried by itself
    await shop.ledger_matches_levels()
    assert await invariants.check(shop.app.db, tenant_id=shop.tenant.id) == []


async def test_an_outage_leaves_the_order_pending_and_the_job_retried(shop: Any) -> None:
    from crossdock.db.models import WarehouseOrder

    emulator = ShelfEmulator()
    async with serve(emulator) as url:
        await _connect(shop, url)
        await shop.ingest(shop.market.add_order("W-1", quantity=1, buyer="Ana"))
        emulator.fail_next(1, status=503)
        with pytest.raises(ChannelError) as outage:
            await _fulfil(shop)
        assert outage.value.retryable
        async with shop.read() as session:
            row = await session.scalar(select(WarehouseOrder))
        assert row is not None and (row.status, row.attempts) == ("pending", 1)
        assert await _fulfil(shop) == {"handed_over": 1, "failed": 0, "shipped": 0}
        assert len(emulator.orders()) == 1


async def test_handovers_over_graphql_show_a_refusal_and_take_a_retry(api: Any, shop: Any) -> None:
    from crossdock.api.schema.relay import encode_id

    key = shop.tenant.key
    emulator = ShelfEmulator()
    async with serve(emulator) as url:
        await _connect(shop, url)
        await shop.ingest(shop.market.add_order("W-1", quantity=1, buyer="Ana"))
        emulator.fail_next(1, status=422)
        assert (await _fulfil(shop))["failed"] == 1
        listed = await api.data(
            "{ warehouseHandovers(filter: {status: [FAILED]}) { nodes { id reference status attempts lastError "
            "order { externalId } warehouse { code } } } }",
            key=key,
        )
        [handover] = listed["warehouseHandovers"]["nodes"]
        assert handover["status"] == "FAILED" and handover["lastError"].startswith("REFUSED")
        assert (handover["order"], handover["warehouse"], handover["attempts"]) == (
            {"externalId": "W-1"},
            {"code": "SG1"},
            1,
        )
        retry = "mutation($id: ID!) { warehouseHandoverRetry(input: {id: $id}) { handover { status } userErrors { code } } }"
        assert (await api.data(retry, {"id": handover["id"]}, key=key))["warehouseHandoverRetry"] == {
            "handover": {"status": "PENDING"},
            "userErrors": [],
        }
        assert (await api.data(retry, {"id": handover["id"]}, key=key))["warehouseHandoverRetry"][
            "userErrors"
        ] == [{"code": "INVALID_STATE"}]
        assert (await _fulfil(shop))["handed_over"] == 1
        fulfil = "mutation($w: ID!) { warehouseFulfil(input: {warehouseId: $w}) { queued userErrors { code field } } }"
        sg1 = encode_id("Warehouse", shop.warehouses["SG1"])
        assert (await api.data(fulfil, {"w": sg1}, key=key))["warehouseFulfil"] == {
            "queued": True,
            "userErrors": [],
        }
    async with shop.write() as session:
        from crossdock.services import inventory

        other = await inventory.create_warehouse(session, code="KL1", name="KL", country="MY")
    answer = (await api.data(fulfil, {"w": encode_id("Warehouse", other.id)}, key=key))["warehouseFulfil"]
    assert answer == {"queued": False, "userErrors": [{"code": "NOT_FOUND", "field": ["warehouseId"]}]}


async def test_two_handover_runs_at_once_hand_over_and_ship_each_order_once(shop: Any, backend: str) -> None:
    """The five-minute run and one asked for at once, on PostgreSQL: each order is recorded
    and handed over once, and a shipped order gets one shipment."""
    if backend != "postgresql":
        pytest.skip("SQLite serializes writers: there is no race")
    from crossdock.db.models import Shipment, WarehouseOrder
    from crossdock.services import warehouse_orders

    emulator = ShelfEmulator()
    async with serve(emulator) as url:
        await _connect(shop, url)
        for i in range(3):
            await shop.ingest(shop.market.add_order(f"R-{i}", quantity=1, buyer=f"buyer-{i}"))
        first, second = await asyncio.gather(_fulfil(shop), _fulfil(shop))
        assert first["handed_over"] + second["handed_over"] >= 3  # both may push; the system dedupes
        assert len(emulator.orders()) == 3
        async with shop.read() as session:
            rows = (await session.scalars(select(WarehouseOrder))).all()
        assert len(rows) == 3 and {r.status for r in rows} == {"handed_over"}
        order = await shop.order("R-0")
        emulator.ship(warehouse_orders.reference_of(order.id), carrier="DHL", tracking_number="JD1")
        first, second = await asyncio.gather(_fulfil(shop), _fulfil(shop))
        assert first["shipped"] + second["shipped"] == 1
    async with shop.read() as session:
        shipments = (await session.scalars(select(Shipment).where(Shipment.order_id == order.id))).all()
    assert len(shipments) == 1
    await shop.ledger_matches_levels()
