"""Stock on its way in over GraphQL: transit lanes, inbound shipments that take stock off
one warehouse's shelf and book it in at another (short and damaged lines shown), and what is
refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.db.models import StockLedgerEntry

LANE = """mutation($a: ID!, $b: ID!, $days: Int!, $cost: MoneyInput) {
  transitLaneSet(input: {fromWarehouseId: $a, toWarehouseId: $b, transitDays: $days, unitCost: $cost}) {
    transitLane { id transitDays unitCost { amount currency } } userErrors { code field }
  }
}"""
CREATE = """mutation($a: ID!, $b: ID!, $lines: [InboundShipmentLineInput!]!, $expected: Date) {
  inboundShipmentCreate(input: {fromWarehouseId: $a, toWarehouseId: $b, lines: $lines, carrier: "Maersk",
    trackingNumber: "MSKU1234565", expectedOn: $expected}) {
    inboundShipment { id number status expectedOn carrier trackingNumber delivery { status }
      fromWarehouse { code } toWarehouse { code }
      lines { id quantity receivedQuantity damagedQuantity variant { sku } transfer { status quantity } } }
    userErrors { code field }
  }
}"""
RECEIVE = """mutation($id: ID!, $lines: [InboundShipmentReceiptLineInput!]) {
  inboundShipmentReceive(input: {id: $id, lines: $lines}) {
    inboundShipment { status receivedAt lines { receivedQuantity damagedQuantity transfer { status receivedQuantity } } }
    userErrors { code field }
  }
}"""
CANCEL = """mutation($id: ID!) { inboundShipmentCancel(input: {id: $id, note: "never left"}) {
  inboundShipment { status lines { transfer { status } } } userErrors { code field } } }"""


async def _warehouse(api: Any, key: str, code: str, country: str, kind: str = "OWN") -> str:
    made = await api.data(
        "mutation($c: String!, $country: String!, $k: WarehouseKind!) { warehouseCreate(input: {code: $c, "
        "name: $c, country: $country, kind: $k}) { warehouse { id } userErrors { code } } }",
        {"c": code, "country": country, "k": kind},
        key=key,
    )
    return str(made["warehouseCreate"]["warehouse"]["id"])


async def test_a_shipment_leaves_one_warehouse_and_is_booked_in_at_another(api: Any, shop: Any) -> None:
    """20 of SKU-1 and 5 of SKU-2 go from SG1 to an overseas warehouse on a 12-day lane:
    they leave SG1 at once, are due in 12 days, and arrive 18 + 1 damaged of SKU-1 and all of SKU-2."""
    key = shop.tenant.key
    await shop.receive("SKU-1", "SG1", 25)  # 30 on hand
    await shop.receive("SKU-2", "SG1", 5)
    sg1 = encode_id("Warehouse", shop.warehouses["SG1"])
    us1 = await _warehouse(api, key, "US1", "US", "OVERSEAS")
    lane = (
        await api.data(
            LANE, {"a": sg1, "b": us1, "days": 12, "cost": {"amount": "1.10", "currency": "usd"}}, key=key
        )
    )["transitLaneSet"]
    assert lane["userErrors"] == [] and lane["transitLane"]["unitCost"] == {
        "amount": "1.10",
        "currency": "USD",
    }
    replaced = (await api.data(LANE, {"a": sg1, "b": us1, "days": 14}, key=key))["transitLaneSet"]
    assert replaced["transitLane"]["id"] == lane["transitLane"]["id"]  # one lane per pair, replaced
    assert replaced["transitLane"]["transitDays"] == 14 and replaced["transitLane"]["unitCost"] is None
    lanes = await api.data(
        "{ transitLanes { nodes { transitDays fromWarehouse { code } toWarehouse { code } } } }", key=key
    )
    assert lanes["transitLanes"]["nodes"] == [
        {"transitDays": 14, "fromWarehouse": {"code": "SG1"}, "toWarehouse": {"code": "US1"}}
    ]

    v1, v2 = encode_id("Variant", shop.variants["SKU-1"]), encode_id("Variant", shop.variants["SKU-2"])
    lines = [{"variantId": v1, "quantity": 20}, {"variantId": v2, "quantity": 5}]
    made = (await api.data(CREATE, {"a": sg1, "b": us1, "lines": lines}, key=key))["inboundShipmentCreate"]
    assert made["userErrors"] == []
    shipment = made["inboundShipment"]
    due = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    assert {
        k: shipment[k] for k in ("number", "status", "expectedOn", "carrier", "trackingNumber", "delivery")
    } == {
        "number": "IS-000001",
        "status": "IN_TRANSIT",
        "expectedOn": due,
        "carrier": "Maersk",
        "trackingNumber": "MSKU1234565",
        "delivery": None,  # no warehouse system runs US1
    }
    assert [(ln["variant"]["sku"], ln["quantity"], ln["transfer"]) for ln in shipment["lines"]] == [
        ("SKU-1", 20, {"status": "IN_TRANSIT", "quantity": 20}),
        ("SKU-2", 5, {"status": "IN_TRANSIT", "quantity": 5}),
    ]
    assert await shop.level("SKU-1") == (10, 0) and await shop.level("SKU-2") == (0, 0)
    on_order = await api.data("{ stockOnOrder { quantity } }", key=key)
    assert on_order["stockOnOrder"] == []  # purchase orders only; the plan counts transfers

    first, second = (ln["id"] for ln in shipment["lines"])
    short = [{"lineId": first, "quantity": 18, "damaged": 1}, {"lineId": second, "quantity": 5}]
    got = (await api.data(RECEIVE, {"id": shipment["id"], "lines": short}, key=key))["inboundShipmentReceive"]
    assert got["userErrors"] == [] and got["inboundShipment"]["status"] == "RECEIVED"
    assert got["inboundShipment"]["lines"] == [
        {
            "receivedQuantity": 18,
            "damagedQuantity": 1,
            "transfer": {"status": "RECEIVED", "receivedQuantity": 18},
        },
        {
            "receivedQuantity": 5,
            "damagedQuantity": 0,
            "transfer": {"status": "RECEIVED", "receivedQuantity": 5},
        },
    ]
    shop.warehouses["US1"] = decode_id(us1, "Warehouse")[1]
    assert await shop.level("SKU-1", "US1") == (18, 0) and await shop.level("SKU-2", "US1") == (5, 0)
    again = (await api.data(RECEIVE, {"id": shipment["id"]}, key=key))["inboundShipmentReceive"]
    assert again["userErrors"] == [{"code": "INVALID_STATE", "field": ["id"]}]
    assert (await api.data(CANCEL, {"id": shipment["id"]}, key=key))["inboundShipmentCancel"][
        "userErrors"
    ] == [{"code": "INVALID_STATE", "field": ["id"]}]
    async with shop.read() as session:
        reasons = (
            await session.scalars(
                select(StockLedgerEntry.reason).where(StockLedgerEntry.reference == "IS-000001")
            )
        ).all()
    assert sorted(reasons) == ["transfer_in", "transfer_in", "transfer_out", "transfer_out"]
    listed = await api.data(
        "{ inboundShipments(filter: {status: [RECEIVED]}) { nodes { number } } }", key=key
    )
    assert listed["inboundShipments"]["nodes"] == [{"number": "IS-000001"}]
    await shop.ledger_matches_levels()


async def test_a_cancelled_shipment_puts_its_units_back_and_bad_input_changes_nothing(
    api: Any, shop: Any
) -> None:
    key = shop.tenant.key
    sg1 = encode_id("Warehouse", shop.warehouses["SG1"])
    hk1 = await _warehouse(api, key, "HK1", "HK")
    v1, v2 = encode_id("Variant", shop.variants["SKU-1"]), encode_id("Variant", shop.variants["SKU-2"])
    given = "2027-02-01"
    made = (
        await api.data(
            CREATE,
            {"a": sg1, "b": hk1, "lines": [{"variantId": v1, "quantity": 4}], "expected": given},
            key=key,
        )
    )["inboundShipmentCreate"]
    assert made["inboundShipment"]["expectedOn"] == given  # given, no lane needed
    assert await shop.level("SKU-1") == (1, 0)
    cancelled = (await api.data(CANCEL, {"id": made["inboundShipment"]["id"]}, key=key))[
        "inboundShipmentCancel"
    ]
    assert cancelled["inboundShipment"] == {
        "status": "CANCELLED",
        "lines": [{"transfer": {"status": "CANCELLED"}}],
    }
    assert await shop.level("SKU-1") == (5, 0)

    async def refused(a: str, b: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = (await api.data(CREATE, {"a": a, "b": b, "lines": lines}, key=key))["inboundShipmentCreate"]
        assert answer["inboundShipment"] is None
        return list(answer["userErrors"])

    one = [{"variantId": v1, "quantity": 1}]
    assert await refused(sg1, sg1, one) == [{"code": "INVALID", "field": ["toWarehouseId"]}]
    assert await refused(sg1, hk1, []) == [{"code": "REQUIRED", "field": ["lines"]}]
    assert await refused(sg1, hk1, [{"variantId": v1, "quantity": 0}]) == [
        {"code": "OUT_OF_RANGE", "field": ["lines", "0", "quantity"]}
    ]
    assert await refused(sg1, hk1, [*one, {"variantId": v1, "quantity": 2}]) == [
        {"code": "INVALID", "field": ["lines", "1", "variantId"]}
    ]
    # SKU-2 has nothing in SG1: the whole shipment is refused, SKU-1 stays where it is
    errors = await refused(sg1, hk1, [*one, {"variantId": v2, "quantity": 1}])
    assert [e["code"] for e in errors] == ["INSUFFICIENT_STOCK"]
    assert await shop.level("SKU-1") == (5, 0)
    lane = (await api.data(LANE, {"a": sg1, "b": hk1, "days": -1}, key=key))["transitLaneSet"]
    assert lane["userErrors"] == [{"code": "OUT_OF_RANGE", "field": ["transitDays"]}]
    lane = (
        await api.data(
            LANE, {"a": sg1, "b": hk1, "days": 2, "cost": {"amount": "1", "currency": "XYZ"}}, key=key
        )
    )["transitLaneSet"]
    assert lane["userErrors"] == [{"code": "INVALID_CURRENCY", "field": ["unitCost"]}]
    lane = (await api.data(LANE, {"a": hk1, "b": hk1, "days": 2}, key=key))["transitLaneSet"]
    assert lane["userErrors"] == [{"code": "INVALID", "field": ["toWarehouseId"]}]
    set_ = (await api.data(LANE, {"a": sg1, "b": hk1, "days": 2}, key=key))["transitLaneSet"]
    removed = await api.data(
        "mutation($id: ID!) { transitLaneRemove(input: {id: $id}) { removedId userErrors { code } } }",
        {"id": set_["transitLane"]["id"]},
        key=key,
    )
    assert removed["transitLaneRemove"] == {"removedId": set_["transitLane"]["id"], "userErrors": []}
    assert (await api.data("{ transitLanes { nodes { id } } }", key=key))["transitLanes"]["nodes"] == []
    await shop.ledger_matches_levels()
