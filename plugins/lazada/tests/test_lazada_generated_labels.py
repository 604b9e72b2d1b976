"""Labels on Lazada's own line for the orders ``generate`` makes (the demo's backlog), over
HTTP against the emulator: orders of several SKUs and units, orders the seller packed
before (one package Lazada knows, not yet handed over), and a purchase left open after
the hand-over, which ``find_label`` completes on resume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.logistics import LazadaLogistics

from crossdock import CarrierAccount, ChannelConnection, ChannelError, ShipmentRequest, TrackingStatus
from crossdock.testing import emulator_http
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import serve


@dataclass
class Env:
    emulator: LazadaSellerEmulator
    seller: dict[str, Any]
    orders: list[str]
    account: CarrierAccount

    def items(self, order_id: str) -> list[dict[str, Any]]:
        return list(self.emulator.orders[order_id]["_items"])

    def pick(self, status: str) -> str:
        """A generated, dropshipped order of several units on more than one SKU, all in
        ``status``."""
        return next(
            o
            for o in self.orders
            if len(self.items(o)) > 1
            and len({i["sku"] for i in self.items(o)}) > 1
            and all(i["status"] == status and not i["is_fbl"] for i in self.items(o))
        )

    def request(self, order_id: str, *, by_line: bool = False) -> ShipmentRequest:
        """The shipment of the order's units: every one, or (as the core sends them) each
        line named by its first unit's id with its quantity."""
        lines: dict[str, tuple[str, int]] = {}
        for item in self.items(order_id):
            first, quantity = lines.get(item["sku"], (str(item["order_item_id"]), 0))
            lines[item["sku"]] = (first, quantity + 1)
        return replace(
            sample_request(f"lz-{order_id}"),
            order_external_id=order_id,
            lines=list(lines.values()) if by_line else [],
        )


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = LazadaSellerEmulator()
    seller = emulator.open_account("SG")
    for sku in ("TEE-1", "MUG-2", "BAG-3", "CAP-4"):
        emulator.add_product(seller, sku, 50)
    orders = emulator.generate_orders(seller, 80, seed=3)
    async with serve(emulator) as base:
        conn = ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials=seller,
            base_url=base,
            settings={"timeout": 2},
            http=emulator_http(),
        )
        account = CarrierAccount(
            id=1,
            tenant="t",
            carrier="lazada_logistics",
            credentials={},
            settings={},
            connection=conn,
            http=emulator_http(),
        )
        yield Env(emulator, seller, orders, account)


@pytest.mark.parametrize("by_line", [False, True])
async def test_a_generated_order_of_several_units_is_packed_and_printed(env: Env, by_line: bool) -> None:
    order_id = env.pick("pending")
    label = await LazadaLogistics().buy_label(env.account, env.request(order_id, by_line=by_line), "")
    [package] = label.carrier_shipment_id.split(",")
    assert {i["package_id"] for i in env.items(order_id)} == {package}
    assert env.emulator.status(order_id) == ["ready_to_ship"] * len(env.items(order_id))
    assert label.tracking_numbers == [env.emulator.packages[package]["tracking"]]
    assert label.documents[0].content.startswith(b"%PDF-")


@pytest.mark.parametrize("by_line", [False, True])
async def test_a_generated_order_packed_before_is_handed_over_and_printed(env: Env, by_line: bool) -> None:
    """The demo's failure: a backlog order the seller packed before had package ids Lazada
    did not know, so PrintAWB answered 600001 "package not found" after the hand-over."""
    order_id = env.pick("packed")
    packed = {i["package_id"] for i in env.items(order_id)}
    label = await LazadaLogistics().buy_label(env.account, env.request(order_id, by_line=by_line), "")
    assert env.emulator.packs == []  # nothing packed again
    assert label.carrier_shipment_id.split(",") == sorted(packed) and len(packed) == 1
    assert label.tracking_numbers == [env.items(order_id)[0]["tracking_code"]]
    assert env.emulator.status(order_id) == ["ready_to_ship"] * len(env.items(order_id))
    assert label.documents[0].content.startswith(b"%PDF-")
    assert env.emulator.labels_bought(order_id) == 1


async def test_a_purchase_left_open_after_the_hand_over_is_found_on_resume(env: Env) -> None:
    """buy_label handed the packed order over, then PrintAWB failed: the core resumes with
    find_label, which prints the package handed over without handing it over again."""
    order_id = env.pick("packed")
    [package] = {i["package_id"] for i in env.items(order_id)}
    env.emulator.faults.server_error = 1.0
    env.emulator.fault_free = frozenset({*env.emulator.fault_free, "/order/items/get", "/order/package/rts"})
    provider = LazadaLogistics()
    with pytest.raises(ChannelError) as caught:
        await provider.buy_label(env.account, env.request(order_id), "")
    assert caught.value.retryable
    assert env.emulator.status(order_id) == ["ready_to_ship"] * len(env.items(order_id))
    env.emulator.faults.server_error = 0.0
    handed_over = env.emulator.requests["/order/package/rts"]
    label = await provider.find_label(env.account, env.request(order_id))
    assert label is not None and label.carrier_shipment_id == package
    assert label.documents[0].content.startswith(b"%PDF-")
    assert env.emulator.requests["/order/package/rts"] == handed_over


async def test_generated_shipped_orders_have_a_trace(env: Env) -> None:
    order_id = next(o for o in env.orders if all(i["status"] == "delivered" for i in env.items(o)))
    number = env.items(order_id)[0]["tracking_code"]
    [result] = await LazadaLogistics().track(env.account, [number])
    assert result.found and result.events[-1].status == TrackingStatus.DELIVERED
