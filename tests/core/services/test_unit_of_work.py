"""Services run in a unit of work that carries their collaborators: a stock change made
through any path (a GraphQL mutation, a job) reaches the plugins' ``stock_changed`` hook,
after commit and only then; a rolled-back change reaches nobody."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from sqlalchemy import select

import crossdock.services
from crossdock import hookimpl
from crossdock.db.models import Connection, ConnectionStatus, StockLevel
from crossdock.jobs import JOBS
from crossdock.services import inventory


class Probe:
    """A plugin that only listens: every ``stock_changed`` call, as received."""

    def __init__(self) -> None:
        self.stock: list[dict[str, Any]] = []

    @hookimpl
    def crossdock_stock_changed(
        self, tenant: str, variant_id: int, warehouse_id: int, on_hand: int, reserved: int, reason: str
    ) -> None:
        self.stock.append(
            {
                "tenant": tenant,
                "variant_id": variant_id,
                "on_hand": on_hand,
                "reserved": reserved,
                "reason": reason,
            }
        )


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def extra_plugins(testmarket: Any, probe: Probe) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("probe", probe)]


async def _pause_all(shop: Any) -> None:
    """Leave no active connection behind for a later test's periodic syncs."""
    async with shop.write() as session:
        for conn in (await session.scalars(select(Connection))).all():
            conn.status = ConnectionStatus.PAUSED


async def test_a_mutation_reaches_the_stock_changed_hook(api: Any, shop: Any, probe: Probe) -> None:
    probe.stock.clear()
    ids = await api.data(
        '{ variants(filter: {sku: "SKU-1"}) { nodes { id } } warehouses { nodes { id } } }',
        key=shop.tenant.key,
    )
    variables = {"v": ids["variants"]["nodes"][0]["id"], "w": ids["warehouses"]["nodes"][0]["id"]}
    received = await api.data(
        "mutation($v: ID!, $w: ID!) { stockReceive(input: {variantId: $v, warehouseId: $w, quantity: 8})"
        " { userErrors { code } } }",
        variables,
        key=shop.tenant.key,
    )
    assert received["stockReceive"]["userErrors"] == []
    counted = await api.data(
        "mutation($v: ID!, $w: ID!) { stockCount(input: {variantId: $v, warehouseId: $w, counted: 11})"
        " { userErrors { code } } }",
        variables,
        key=shop.tenant.key,
    )
    assert counted["stockCount"]["userErrors"] == []
    assert [(c["tenant"], c["reason"], c["on_hand"]) for c in probe.stock] == [
        (shop.tenant.slug, "receipt", 13),
        (shop.tenant.slug, "stocktake", 11),
    ]
    await _pause_all(shop)


async def test_a_refused_mutation_reaches_no_hook(api: Any, shop: Any, probe: Probe) -> None:
    probe.stock.clear()
    ids = await api.data(
        '{ variants(filter: {sku: "SKU-1"}) { nodes { id } } warehouses { nodes { id } } }',
        key=shop.tenant.key,
    )
    refused = await api.data(
        "mutation($v: ID!, $w: ID!) { stockWriteOff(input: {variantId: $v, warehouseId: $w, quantity: 9,"
        ' note: "dropped"}) { userErrors { code } } }',
        {"v": ids["variants"]["nodes"][0]["id"], "w": ids["warehouses"]["nodes"][0]["id"]},
        key=shop.tenant.key,
    )
    assert refused["stockWriteOff"]["userErrors"] == [{"code": "INSUFFICIENT_STOCK"}]
    assert probe.stock == []
    assert await shop.level("SKU-1") == (5, 0)
    await _pause_all(shop)


async def test_jobs_reach_the_stock_changed_hook(app: Any, shop: Any, probe: Probe) -> None:
    """Reserving for a synced order and releasing it when the channel cancels it both run
    in a job: the hook hears both."""
    probe.stock.clear()
    ctx = app.job_context()
    conn_id = shop.connections["sg"]
    shop.market.add_order("J-1", sku="sg-SKU-1", quantity=2)
    await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    shop.market.add_order("J-1", sku="sg-SKU-1", quantity=2, status="cancelled")
    await JOBS["sync_orders"](ctx, tenant_id=shop.tenant.id, connection_id=conn_id)
    assert [(c["reason"], c["on_hand"], c["reserved"]) for c in probe.stock] == [
        ("reservation", 5, 2),
        ("release", 5, 0),
    ]
    assert {c["tenant"] for c in probe.stock} == {shop.tenant.slug}
    await _pause_all(shop)


async def test_the_hook_runs_after_commit_and_not_after_a_rollback(shop: Any, probe: Probe) -> None:
    probe.stock.clear()
    variant, warehouse = shop.variants["SKU-1"], shop.warehouses["SG1"]
    async with shop.unit_of_work() as uow:
        await inventory.receive_stock(uow, variant_id=variant, warehouse_id=warehouse, quantity=3)
        assert probe.stock == []  # not before the change is committed
    assert [(c["reason"], c["on_hand"]) for c in probe.stock] == [("receipt", 8)]

    async def receive_then_fail() -> None:
        async with shop.unit_of_work() as uow:
            await inventory.receive_stock(uow, variant_id=variant, warehouse_id=warehouse, quantity=4)
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await receive_then_fail()
    assert len(probe.stock) == 1  # the rolled-back receipt told nobody
    async with shop.read() as session:
        level = await session.scalar(select(StockLevel).where(StockLevel.variant_id == variant))
        assert level is not None
        assert level.on_hand == 8
    await _pause_all(shop)


def test_no_service_lets_a_caller_leave_out_the_plugins() -> None:
    """A service that uses the plugins takes them (or the unit of work carrying them) as a
    required argument: ``plugins=None`` would silently skip hooks and listing checks."""
    optional = []
    for info in pkgutil.iter_modules(crossdock.services.__path__):
        module = importlib.import_module(f"crossdock.services.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__:
                continue
            for param in inspect.signature(fn).parameters.values():
                annotation = str(param.annotation)
                carries = (
                    param.name in ("plugins", "uow") or "Plugins" in annotation or "UnitOfWork" in annotation
                )
                if carries and param.default is not inspect.Parameter.empty:
                    optional.append(f"{module.__name__}.{name}({param.name})")
    assert optional == []
