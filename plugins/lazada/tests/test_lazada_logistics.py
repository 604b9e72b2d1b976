"""Lazada's fulfilment API on the wire: what the plugin sends (GetShipmentProvider, Pack
with the allocation type, RTS, PrintAWB, Repack, the trace), each refusal the emulator
makes as Lazada does, the trace's status mapping, and confirm_shipment for local (TFS) and
cross-border (NTFS) sellers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from crossdock_lazada.client import LazadaClient
from crossdock_lazada.emulator import LazadaSellerEmulator
from crossdock_lazada.logistics import Fulfiller, LazadaLogistics, result_of, trace_status
from crossdock_lazada.marketplace import LazadaMarketplace

from crossdock import (
    CarrierAccount,
    ChannelConnection,
    ChannelError,
    ShipmentConfirmation,
    TrackingReason,
    TrackingStatus,
)
from crossdock.testing import emulator_http
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import serve


@dataclass
class Env:
    emulator: LazadaSellerEmulator
    base: str
    http: httpx.AsyncClient
    local: dict[str, Any]
    cross_border: dict[str, Any]

    def conn(self, seller: dict[str, Any]) -> ChannelConnection:
        return ChannelConnection(
            id=1,
            tenant="t",
            channel="lazada",
            site="SG",
            currency="SGD",
            credentials=seller,
            base_url=self.base,
            settings={"timeout": 2},
            http=emulator_http(),
        )

    def account(self, seller: dict[str, Any], **settings: Any) -> CarrierAccount:
        return CarrierAccount(
            id=1,
            tenant="t",
            carrier="lazada_logistics",
            credentials={},
            settings=settings,
            connection=self.conn(seller),
            http=emulator_http(),
        )

    def order(self, seller: dict[str, Any], order_id: str) -> list[int]:
        self.emulator.add_order(seller, order_id, [("BOX-1", 2, "10.00")])
        return [int(i["order_item_id"]) for i in self.emulator.orders[order_id]["_items"]]

    async def call(self, seller: dict[str, Any], path: str, params: dict[str, Any]) -> dict[str, Any]:
        client = LazadaClient(seller["app_key"], seller["app_secret"], base_url=self.base, http=self.http)
        return await client.call("POST", path, params=params, access_token=seller["access_token"])


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emulator = LazadaSellerEmulator()
    local = emulator.add_seller("SG")
    cross_border = emulator.add_seller("SG", cross_border=True)
    for seller in (local, cross_border):
        emulator.add_product(seller, "BOX-1")
    async with serve(emulator) as base, httpx.AsyncClient(timeout=5) as http:
        yield Env(emulator, base, http, local, cross_border)


def _pack(order_id: str, items: list[int], **fields: Any) -> dict[str, Any]:
    return {
        "packReq": {
            "pack_order_list": [{"order_id": order_id, "order_item_list": items}],
            "delivery_type": "dropship",
            **fields,
        }
    }


# ------------------------------------------------------------------ the wire


async def test_a_local_label_is_tfs_packed_handed_over_and_printed(env: Env) -> None:
    items = env.order(env.local, "3001")
    label = await LazadaLogistics().buy_label(
        env.account(env.local), replace(sample_request("3001"), order_external_id="3001"), "standard"
    )
    [pack] = env.emulator.packs
    assert pack == {
        "pack_order_list": [{"order_id": "3001", "order_item_list": items}],
        "delivery_type": "dropship",
        "shipping_allocate_type": "TFS",  # no provider code for TFS, and no tracking number
    }
    assert env.emulator.status("3001") == ["ready_to_ship", "ready_to_ship"]
    [package] = label.carrier_shipment_id.split(",")
    assert label.tracking_numbers == [env.emulator.packages[package]["tracking"]]
    assert label.channel_confirmed and label.service == "LEX SG"
    assert label.documents[0].content.startswith(b"%PDF-")
    assert env.emulator.requests["/order/package/document/get"] == 1


async def test_a_cross_border_label_goes_ntfs_through_a_transferring_warehouse(env: Env) -> None:
    env.order(env.cross_border, "3002")
    account = env.account(env.cross_border, provider_code="CN_YW_CAINIAO")
    label = await LazadaLogistics().buy_label(
        account, replace(sample_request("3002"), order_external_id="3002"), "standard"
    )
    [pack] = env.emulator.packs
    assert (pack["shipping_allocate_type"], pack["shipment_provider_code"]) == ("NTFS", "CN_YW_CAINIAO")
    assert label.tracking_numbers[0].startswith("LEXCB")
    # without a preference, the first warehouse Lazada offers
    assert (
        Fulfiller.pack_request(
            "1",
            [{"order_item_id": 5}],
            {
                "shipping_allocate_type": "NTFS",
                "shipment_providers": [{"provider_code": "A"}, {"provider_code": "B"}],
            },
            "NOT-OFFERED",
        )["shipment_provider_code"]
        == "A"
    )


async def test_void_is_a_repack_before_hand_over_and_refused_after(env: Env) -> None:
    env.order(env.local, "3003")
    provider, account = LazadaLogistics(), env.account(env.local)
    request = replace(sample_request("3003"), order_external_id="3003")
    label = await provider.buy_label(account, request, "")
    await provider.void_label(account, label)
    assert env.emulator.status("3003") == ["pending", "pending"]  # to pack again
    assert env.emulator.labels_bought("3003") == 0
    again = await provider.buy_label(account, request, "")
    assert again.tracking_numbers != label.tracking_numbers
    env.emulator.scan(again.tracking_numbers[0], TrackingStatus.PICKED_UP)
    with pytest.raises(ChannelError) as caught:
        await provider.void_label(account, again)
    assert caught.value.code == "REFUSED" and "PACKAGE_STATUS_NOT_ALLOW_TO_OP" in caught.value.message


async def test_tracking_reads_the_trace(env: Env) -> None:
    env.order(env.local, "3004")
    provider, account = LazadaLogistics(), env.account(env.local)
    label = await provider.buy_label(account, replace(sample_request("3004"), order_external_id="3004"), "")
    number = label.tracking_numbers[0]
    env.emulator.scan(number, TrackingStatus.PICKED_UP)
    env.emulator.scan(number, TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE)
    [result] = await provider.track(account, [number])
    assert [(e.status, e.reason) for e in result.events] == [
        (TrackingStatus.PICKED_UP, None),
        (TrackingStatus.DELIVERY_FAILED, TrackingReason.ADDRESS_ISSUE),
    ]
    assert result.events[0].code == "1300" and result.events[0].occurred_at.tzinfo is UTC
    assert env.emulator.status("3004") == ["failed_delivery", "failed_delivery"]


# ------------------------------------------------------------------ refusals, as Lazada words them


@pytest.mark.parametrize(
    ("case", "cross_border", "fields", "code"),
    [
        ("no allocation type", False, {}, "700017"),
        ("an allocation type that is not Lazada's", False, {"shipping_allocate_type": "DBS"}, "700004"),
        (
            "NTFS for a local seller",
            False,
            {"shipping_allocate_type": "NTFS", "shipment_provider_code": "CN_SZ_CAINIAO"},
            "700004",
        ),
        ("TFS for a cross-border seller", True, {"shipping_allocate_type": "TFS"}, "700004"),
        (
            "a provider code with TFS",
            False,
            {"shipping_allocate_type": "TFS", "shipment_provider_code": "LEX_SG"},
            "700004",
        ),
        ("NTFS without a provider code", True, {"shipping_allocate_type": "NTFS"}, "700017"),
        (
            "NTFS through a warehouse not offered",
            True,
            {"shipping_allocate_type": "NTFS", "shipment_provider_code": "X"},
            "700016",
        ),
        ("a tracking number", False, {"shipping_allocate_type": "TFS", "tracking_number": "NV1"}, "700004"),
        ("not dropship", False, {"shipping_allocate_type": "TFS", "delivery_type": "pickup"}, "700004"),
    ],
)
async def test_pack_refuses_as_lazada_does(
    env: Env, case: str, cross_border: bool, fields: dict[str, Any], code: str
) -> None:
    seller = env.cross_border if cross_border else env.local
    items = env.order(seller, "3100")
    answer = await env.call(seller, "/order/fulfill/pack", _pack("3100", items, **fields))
    with pytest.raises(ChannelError) as caught:
        result_of(answer, "pack")
    assert caught.value.code == code and not caught.value.retryable
    assert env.emulator.status("3100") == ["pending", "pending"]


async def test_batch_and_state_refusals(env: Env) -> None:
    items = env.order(env.local, "3200")
    too_many = {"packReq": {**_pack("3200", items)["packReq"], "shipping_allocate_type": "TFS"}}
    too_many["packReq"]["pack_order_list"] = too_many["packReq"]["pack_order_list"] * 21
    with pytest.raises(ChannelError) as caught:
        result_of(await env.call(env.local, "/order/fulfill/pack", too_many), "pack")
    assert caught.value.code == "700022"
    with pytest.raises(ChannelError) as caught:  # the allocation needs the order's items
        result_of(
            await env.call(
                env.local,
                "/order/shipment/providers/get",
                {"getShipmentProvidersReq": {"orders": [{"order_id": "404", "order_item_ids": [1]}]}},
            ),
            "providers",
        )
    assert caught.value.code == "700021"
    env.emulator.cancel_order(env.local, "3200")  # a cancelled unit is not packed
    answer = await env.call(
        env.local, "/order/fulfill/pack", _pack("3200", items, shipping_allocate_type="TFS")
    )
    rows = result_of(answer, "pack")["pack_order_list"][0]["order_item_list"]
    assert {r["item_err_code"] for r in rows} == {"700026"}
    # ready to ship, print and repack only work on packages that exist
    for path, name in (
        ("/order/package/rts", "readyToShipReq"),
        ("/order/package/repack", "rePackReq"),
    ):
        data = result_of(
            await env.call(env.local, path, {name: {"packages": [{"package_id": "FP404"}]}}), path
        )
        assert data["packages"][0]["item_err_code"] == "600001"
    with pytest.raises(ChannelError) as caught:
        result_of(
            await env.call(
                env.local,
                "/order/package/document/get",
                {"getDocumentReq": {"doc_type": "ZPL", "packages": [{"package_id": "FP1"}]}},
            ),
            "awb",
        )
    assert caught.value.code == "700004"
    # the trace exists only once the order is ready to ship
    env.order(env.local, "3201")
    with pytest.raises(ChannelError) as caught:
        await env.call(env.local, "/logistic/order/trace", {"order_id": "3201"})
    assert caught.value.code == "INPUT_PARAM_VALID"


async def test_the_awb_is_base64_with_a_pdf_url(env: Env) -> None:
    env.order(env.local, "3300")
    label = await LazadaLogistics().buy_label(
        env.account(env.local), replace(sample_request("3300"), order_external_id="3300"), ""
    )
    package = label.carrier_shipment_id
    answer = await env.call(
        env.local,
        "/order/package/document/get",
        {"getDocumentReq": {"doc_type": "PDF", "packages": [{"package_id": package}]}},
    )
    data = result_of(answer, "awb")
    assert data["doc_type"] == "PDF" and data["pdf_url"].endswith(f"/awb/{package}.pdf")
    fetched = await env.http.get(data["pdf_url"])
    assert fetched.content == label.documents[0].content


# ------------------------------------------------------------------ trace mapping


@pytest.mark.parametrize(
    ("detail_type", "title", "description", "status", "reason"),
    [
        (
            "ready_to",
            "Packed by seller / warehouse",
            "Your parcel has been packed",
            TrackingStatus.PENDING,
            None,
        ),
        ("picked_up", "Picked up", "Picked up by our partner", TrackingStatus.PICKED_UP, None),
        ("in_transit", "In transit", "Arrived at sorting hub", TrackingStatus.IN_TRANSIT, None),
        (
            "in_transit",
            "In transit",
            "Held by customs for inspection",
            TrackingStatus.ON_HOLD,
            TrackingReason.CUSTOMS_HOLD,
        ),
        ("on_hold", "On hold", "Import duties unpaid", TrackingStatus.ON_HOLD, TrackingReason.DUTIES_UNPAID),
        ("out_for_delivery", "Out for delivery", "On its way to you", TrackingStatus.OUT_FOR_DELIVERY, None),
        ("delivered", "Delivered", "Delivered", TrackingStatus.DELIVERED, None),
        (
            "failed_delivery",
            "Delivery failed",
            "Recipient not available",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.RECIPIENT_UNAVAILABLE,
        ),
        (
            "lost",
            "Lost by logistics partner",
            "Parcel lost",
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.LOST,
        ),
        (
            "returning",
            "Returning to seller",
            "Refused by recipient",
            TrackingStatus.RETURN_TO_SENDER,
            TrackingReason.REFUSED,
        ),
        ("cancelled", "Cancelled", "Cancelled", TrackingStatus.CANCELLED, None),
        ("xyz", "Something", "else", TrackingStatus.UNKNOWN, None),
    ],
)
def test_trace_events_map_to_one_status_set(
    detail_type: str, title: str, description: str, status: TrackingStatus, reason: TrackingReason | None
) -> None:
    assert trace_status(detail_type, title, description) == (status, reason)


# ------------------------------------------------------------------ confirm_shipment (issue 15, points 5 and 11)


async def test_confirm_for_a_cross_border_seller_packs_ntfs_with_the_mapped_warehouse(env: Env) -> None:
    env.order(env.cross_border, "3400")
    confirmation = ShipmentConfirmation(
        order_external_id="3400",
        carrier="Cainiao",
        tracking_number="SELLER-1",
        shipped_at=datetime.now(UTC),
        carrier_code="CN_SZ_CAINIAO",
    )
    market = LazadaMarketplace()
    assigned = await market.confirm_shipment(env.conn(env.cross_border), confirmation)
    [pack] = env.emulator.packs
    assert (pack["shipping_allocate_type"], pack["shipment_provider_code"]) == ("NTFS", "CN_SZ_CAINIAO")
    assert "tracking_number" not in pack
    assert assigned == env.emulator.tracking_number(env.cross_border, "3400") != "SELLER-1"
    assert env.emulator.status("3400") == ["ready_to_ship", "ready_to_ship"]
    assert await market.confirm_shipment(env.conn(env.cross_border), confirmation) == assigned
    assert len(env.emulator.packs) == 1
