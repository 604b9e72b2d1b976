"""Label purchases and voids sent many times at once to two ``crossdock serve`` processes,
against the DHL Express emulator: one label is bought per shipment, whatever the race, and
a label is never voided at the carrier under a parcel that ships."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from crossdock import Address
from crossdock.api.schema.relay import encode_id
from crossdock.db.models import CarrierAccount, LabelPurchase, LabelStatus, Shipment
from crossdock.services import fulfilment, shipping
from crossdock.testing.emulator import Faults, serve
from crossdock.testing.invariants import check
from crossdock.testing.processes import Deployment
from crossdock.testing.pytest_plugin import TEST_SECRET

from .test_concurrency import N, Race, outcome

BERLIN = Address(
    name="E. Mustermann",
    line1="Friedrichstrasse 43",
    city="Berlin",
    postal_code="10117",
    country="DE",
    phone="+4930123456",
)
BUY = (
    "mutation($s: ID!) { shipmentBuyLabel(input: {shipmentId: $s}) { label { status } userErrors { code } } }"
)
VOID = "mutation($s: ID!) { shipmentVoidLabel(input: {shipmentId: $s}) { label { status } userErrors { code } } }"
SHIP = "mutation($s: ID!) { shipmentShip(input: {id: $s}) { shipment { status } userErrors { code } } }"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deployment(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    """Two server processes with the DHL Express plugin, allowed to call loopback."""
    dep = Deployment(
        database_url,
        data_dir=tmp_path_factory.mktemp("label-races"),
        secret_key=TEST_SECRET,
        servers=2,
        extra_env={
            "CROSSDOCK_PERIODIC": "0",
            "CROSSDOCK_PLUGINS": "dhl_express",
            "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",
        },
    )
    async with dep:
        yield dep


@pytest_asyncio.fixture
async def dhl(app: Any) -> AsyncIterator[tuple[Any, str]]:
    emulator = app.plugins.emulators["dhl_express"](Faults())
    async with serve(emulator) as url:
        yield emulator, url


async def _packed(shop: Any, dhl: tuple[Any, str], external_id: str) -> str:
    """An allocated order to Berlin packed in SG1, a DHL account and a rule for it."""
    emulator, url = dhl
    async with shop.write() as session:
        wh = shop.warehouses["SG1"]
        from crossdock.db.models import Warehouse

        row = await session.scalar(select(Warehouse).where(Warehouse.id == wh))
        row.serves_countries = ["SG", "DE"]
        if not row.address:
            await shipping.set_warehouse_address(
                session,
                wh,
                {
                    "name": "Fan Co",
                    "line1": "10 Anson Road",
                    "city": "Singapore",
                    "postal_code": "079903",
                    "phone": "+6561234567",
                },
            )
        accounts = await session.scalar(select(CarrierAccount.id).limit(1))
        if accounts is None:
            account = await shipping.create_account(
                session,
                shop.app.plugins,
                shop.app.vault,
                carrier="dhl_express",
                name="DHL",
                credentials=dict(emulator.open_account()),
                base_url=url,
                settings={"timeout": 5},
                policy=shop.app.http.policy,
            )
            await shipping.save_rule(
                session,
                None,
                name="All",
                priority=1,
                conditions={},
                services=[(account.id, None)],
                strategy="cheapest",
            )
    await shop.ingest(shop.market.add_order(external_id, address=BERLIN, buyer=f"buyer {external_id}"))
    order = await shop.order(external_id)
    assert order.status == "allocated"
    async with shop.write() as session:
        from crossdock import Parcel

        shipment = await fulfilment.pack_shipment(
            session, order.id, shop.warehouses["SG1"], packages=[Parcel(900, 300, 200, 100)]
        )
        return str(encode_id("Shipment", shipment.id))


async def _purchases(shop: Any) -> list[LabelPurchase]:
    async with shop.read() as session:
        return list((await session.scalars(select(LabelPurchase).order_by(LabelPurchase.id))).all())


async def _invariants(shop: Any) -> None:
    violations = await check(shop.app.db, tenant_id=shop.tenant.id)
    assert violations == [], "\n".join(map(str, violations))


async def test_a_shipment_gets_one_label(shop: Any, deployment: Deployment, dhl: tuple[Any, str]) -> None:
    shipment = await _packed(shop, dhl, "LB-1")
    race = Race(deployment, shop.tenant.key)
    results = await race(*[(BUY, {"s": shipment})] * N)
    assert outcome(results) == {"ok": 1, "LABEL_EXISTS": N - 1}
    [purchase] = await _purchases(shop)
    assert purchase.status == LabelStatus.PURCHASED
    assert dhl[0].labels_bought(purchase.reference) == 1
    await _invariants(shop)


async def test_void_and_ship_together_never_leave_a_void_label_on_a_parcel(
    shop: Any, deployment: Deployment, dhl: tuple[Any, str]
) -> None:
    shipment = await _packed(shop, dhl, "LB-2")
    race = Race(deployment, shop.tenant.key)
    assert outcome(await race((BUY, {"s": shipment}))) == {"ok": 1}
    results = await race(*[(VOID, {"s": shipment}), (SHIP, {"s": shipment})] * (N // 2))
    voids, ships = outcome(results[0::2]), outcome(results[1::2])
    [purchase] = await _purchases(shop)
    async with shop.read() as session:
        status = await session.scalar(select(Shipment.status))
    if purchase.status == LabelStatus.VOIDED:  # voided first: the parcel may still ship, without it
        assert voids["ok"] == 1
        assert dhl[0].labels_bought(purchase.reference) == 0
    else:  # shipped first: the label stays, the carrier still has it
        assert purchase.status == LabelStatus.PURCHASED
        assert status == "shipped"
        assert voids.get("ok", 0) == 0
        assert dhl[0].labels_bought(purchase.reference) == 1
    assert ships.get("ok", 0) <= 1
    assert set(voids) <= {"ok", "HANDED_OVER", "NO_LABEL", "INVALID_STATE"}
    assert set(ships) <= {"ok", "INVALID_STATE"}
    await _invariants(shop)
