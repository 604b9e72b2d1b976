"""Suppliers and purchase orders over GraphQL: price breaks, the order's life, receipts
that stock good units at their landed cost, stock on order, and what is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from crossdock.db.models import CostLayer, StockLedgerEntry

SUPPLIER = """mutation($code: String!, $currency: String!) {
  supplierCreate(input: {code: $code, name: "Shenzhen Mugs", currency: $currency, leadTimeDays: "21",
    leadTimeSdDays: "4"}) { supplier { id code currency leadTimeDays } userErrors { code field } }
}"""
ITEM = """mutation($s: ID!, $v: ID!) {
  supplierItemSet(input: {supplierId: $s, variantId: $v, supplierSku: "SZ-MUG", moq: 100, casePack: 24,
    priceBreaks: [{minQuantity: 1, unitPrice: "2.50"}, {minQuantity: 500, unitPrice: "2.10"}]}) {
    supplier { items { supplierSku moq casePack priceBreaks { minQuantity unitPrice } } }
    userErrors { code field }
  }
}"""
CREATE = """mutation($s: ID!, $w: ID!, $lines: [PurchaseOrderLineInput!]!) {
  purchaseOrderCreate(input: {supplierId: $s, warehouseId: $w, lines: $lines, freight: "100",
    duty: "50", expectedOn: "2027-01-15"}) {
    purchaseOrder { id number status currency freight { amount currency }
      lines { id quantity unitPrice { amount } openQuantity variant { sku } } }
    userErrors { code field message }
  }
}"""
STEP = "mutation($id: ID!) { %s(input: {id: $id}) { purchaseOrder { status } userErrors { code } } }"
RECEIVE = """mutation($id: ID!, $lines: [ReceiptLineInput!]!) {
  purchaseOrderReceive(input: {id: $id, lines: $lines, reference: "DN-1"}) {
    purchaseOrder { status lines { receivedQuantity damagedQuantity openQuantity }
      receipts { reference lines { quantity damaged unitCost { amount currency } } } }
    userErrors { code field }
  }
}"""
ON_ORDER = "{ stockOnOrder { quantity nextExpectedOn variant { sku } warehouse { code } } }"


async def _catalog(api: Any, key: str) -> tuple[str, str, str]:
    product = await api.data(
        'mutation { productCreate(input: {title: "Mug", variants: [{sku: "MUG-1"}, {sku: "MUG-2"}]}) '
        "{ product { variants { id } } userErrors { code } } }",
        key=key,
    )
    v1, v2 = (v["id"] for v in product["productCreate"]["product"]["variants"])
    wh = await api.data(
        'mutation { warehouseCreate(input: {code: "SG1", name: "Singapore", country: "SG"}) '
        "{ warehouse { id } userErrors { code } } }",
        key=key,
    )
    return v1, v2, wh["warehouseCreate"]["warehouse"]["id"]


async def test_an_order_is_priced_sent_received_in_parts_and_closed(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    t = await tenant_factory()
    v1, v2, wh = await _catalog(api, t.key)
    supplier = (await api.data(SUPPLIER, {"code": "SZ", "currency": "USD"}, key=t.key))["supplierCreate"]
    assert supplier["userErrors"] == [] and Decimal(supplier["supplier"]["leadTimeDays"]) == 21
    s = supplier["supplier"]["id"]
    item = (await api.data(ITEM, {"s": s, "v": v1}, key=t.key))["supplierItemSet"]
    assert item["supplier"]["items"][0]["priceBreaks"][1] == {"minQuantity": 500, "unitPrice": "2.10"}

    # MUG-1 takes the 500-unit break; MUG-2 has no price from the supplier: it must be given
    lines = [{"variantId": v1, "quantity": 600}, {"variantId": v2, "quantity": 200}]
    missing = (await api.data(CREATE, {"s": s, "w": wh, "lines": lines}, key=t.key))["purchaseOrderCreate"]
    assert missing["userErrors"] == [
        {
            "code": "REQUIRED",
            "field": ["lines", "1", "unitPrice"],
            "message": missing["userErrors"][0]["message"],
        }
    ]
    lines[1]["unitPrice"] = "1.20"
    made = (await api.data(CREATE, {"s": s, "w": wh, "lines": lines}, key=t.key))["purchaseOrderCreate"]
    order = made["purchaseOrder"]
    assert made["userErrors"] == [] and order["number"] == "PO-000001" and order["status"] == "DRAFT"
    assert order["currency"] == "USD" and [ln["unitPrice"]["amount"] for ln in order["lines"]] == [
        "2.10",
        "1.20",
    ]
    assert (await api.data(ON_ORDER, key=t.key))["stockOnOrder"] == []  # a draft is not on order

    assert (await api.data(STEP % "purchaseOrderSend", {"id": order["id"]}, key=t.key))["purchaseOrderSend"][
        "purchaseOrder"
    ] == {"status": "SENT"}
    again = (await api.data(STEP % "purchaseOrderSend", {"id": order["id"]}, key=t.key))["purchaseOrderSend"]
    assert again["userErrors"] == [{"code": "INVALID_STATE"}]
    on_order = (await api.data(ON_ORDER, key=t.key))["stockOnOrder"]
    assert [(o["variant"]["sku"], o["quantity"], o["nextExpectedOn"]) for o in on_order] == [
        ("MUG-1", 600, "2027-01-15"),
        ("MUG-2", 200, "2027-01-15"),
    ]

    # freight 100 and duty 50 shared by value: MUG-1 is 1260 of 1500 (84 %), MUG-2 240 (16 %)
    # MUG-1 per unit: 2.10 + 100*0.84/600 + 50*0.84/600 = 2.10 + 0.14 + 0.07 = 2.31
    # MUG-2 per unit: 1.20 + 100*0.16/200 + 50*0.16/200 = 1.20 + 0.08 + 0.04 = 1.32
    first = [{"lineId": order["lines"][0]["id"], "quantity": 400, "damaged": 10}]
    got = (await api.data(RECEIVE, {"id": order["id"], "lines": first}, key=t.key))["purchaseOrderReceive"]
    assert got["userErrors"] == []
    assert got["purchaseOrder"]["status"] == "PARTIALLY_RECEIVED"
    assert got["purchaseOrder"]["lines"][0] == {
        "receivedQuantity": 400,
        "damagedQuantity": 10,
        "openQuantity": 200,
    }
    assert got["purchaseOrder"]["receipts"][0]["lines"] == [
        {"quantity": 400, "damaged": 10, "unitCost": {"amount": "2.31", "currency": "USD"}}
    ]
    rest = [
        {"lineId": order["lines"][0]["id"], "quantity": 200},
        {"lineId": order["lines"][1]["id"], "quantity": 200},
    ]
    done = (await api.data(RECEIVE, {"id": order["id"], "lines": rest}, key=t.key))["purchaseOrderReceive"]
    assert done["purchaseOrder"]["status"] == "RECEIVED"
    assert done["purchaseOrder"]["receipts"][1]["lines"][1]["unitCost"]["amount"] == "1.32"
    assert (await api.data(ON_ORDER, key=t.key))["stockOnOrder"] == []

    levels = await api.data("{ stockLevels { nodes { onHand variant { sku } } } }", key=t.key)
    assert sorted((n["variant"]["sku"], n["onHand"]) for n in levels["stockLevels"]["nodes"]) == [
        ("MUG-1", 600),
        ("MUG-2", 200),
    ]  # the 10 damaged never went on hand
    async with app.db.tenant(t.id) as session:
        layers = (await session.scalars(select(CostLayer).order_by(CostLayer.id))).all()
        ledger = (await session.scalars(select(StockLedgerEntry.reference))).all()
    assert [(c.quantity, c.unit_cost) for c in layers] == [
        (400, Decimal("2.31")),
        (200, Decimal("2.31")),
        (200, Decimal("1.32")),
    ]
    assert set(ledger) == {"PO-000001"}
    closed = (await api.data(STEP % "purchaseOrderClose", {"id": order["id"]}, key=t.key))[
        "purchaseOrderClose"
    ]
    assert closed["purchaseOrder"] == {"status": "CLOSED"}
    late = (await api.data(RECEIVE, {"id": order["id"], "lines": rest[:1]}, key=t.key))[
        "purchaseOrderReceive"
    ]
    assert late["userErrors"] == [{"code": "INVALID_STATE", "field": ["id"]}]


async def test_what_a_purchase_order_refuses(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    v1, _, wh = await _catalog(api, t.key)
    bad_currency = (await api.data(SUPPLIER, {"code": "X", "currency": "XYZ"}, key=t.key))["supplierCreate"]
    assert bad_currency["userErrors"][0]["code"] == "INVALID_CURRENCY"
    s = (await api.data(SUPPLIER, {"code": "SZ", "currency": "CNY"}, key=t.key))["supplierCreate"][
        "supplier"
    ]["id"]
    taken = (await api.data(SUPPLIER, {"code": "SZ", "currency": "CNY"}, key=t.key))["supplierCreate"]
    assert taken["userErrors"] == [{"code": "TAKEN", "field": ["code"]}]
    for lines, code, field in [
        ([], "REQUIRED", ["lines"]),
        ([{"variantId": v1, "quantity": 0, "unitPrice": "1"}], "OUT_OF_RANGE", ["lines", "0", "quantity"]),
        ([{"variantId": v1, "quantity": 5, "unitPrice": "-1"}], "OUT_OF_RANGE", ["lines", "0", "unitPrice"]),
        (
            [
                {"variantId": v1, "quantity": 5, "unitPrice": "1"},
                {"variantId": v1, "quantity": 1, "unitPrice": "1"},
            ],
            "INVALID",
            ["lines", "1", "variantId"],
        ),
    ]:
        answer = (await api.data(CREATE, {"s": s, "w": wh, "lines": lines}, key=t.key))["purchaseOrderCreate"]
        assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [(code, field)], lines
    order = (
        await api.data(
            CREATE,
            {"s": s, "w": wh, "lines": [{"variantId": v1, "quantity": 10, "unitPrice": "3"}]},
            key=t.key,
        )
    )["purchaseOrderCreate"]["purchaseOrder"]
    draft = await api.data(
        RECEIVE, {"id": order["id"], "lines": [{"lineId": order["lines"][0]["id"], "quantity": 1}]}, key=t.key
    )
    assert draft["purchaseOrderReceive"]["userErrors"] == [{"code": "INVALID_STATE", "field": ["id"]}]
    await api.data(STEP % "purchaseOrderSend", {"id": order["id"]}, key=t.key)
    line = order["lines"][0]["id"]
    too_many = await api.data(
        RECEIVE, {"id": order["id"], "lines": [{"lineId": line, "quantity": 21}]}, key=t.key
    )
    assert too_many["purchaseOrderReceive"]["userErrors"] == [
        {"code": "OUT_OF_RANGE", "field": ["lines", "0", "quantity"]}
    ]
    nothing = await api.data(
        RECEIVE, {"id": order["id"], "lines": [{"lineId": line, "quantity": 0}]}, key=t.key
    )
    assert nothing["purchaseOrderReceive"]["userErrors"][0]["code"] == "INVALID"
    edit = await api.data(
        'mutation($id: ID!) { purchaseOrderUpdate(input: {id: $id, freight: "9"}) { userErrors { code } } }',
        {"id": order["id"]},
        key=t.key,
    )
    assert edit["purchaseOrderUpdate"]["userErrors"] == [
        {"code": "INVALID_STATE"}
    ]  # sent: lines and costs fixed
    over = await api.data(
        RECEIVE, {"id": order["id"], "lines": [{"lineId": line, "quantity": 12}]}, key=t.key
    )
    assert over["purchaseOrderReceive"]["purchaseOrder"]["status"] == "RECEIVED"  # more than ordered may come
    cancel = (await api.data(STEP % "purchaseOrderCancel", {"id": order["id"]}, key=t.key))[
        "purchaseOrderCancel"
    ]
    assert cancel["userErrors"] == [{"code": "INVALID_STATE"}]  # units arrived: close it instead
    # a number given by hand is skipped by the ones made after it
    given = await api.data(
        "mutation($s: ID!, $w: ID!, $v: ID!) { purchaseOrderCreate(input: {supplierId: $s, warehouseId: $w, "
        'number: "PO-000003", lines: [{variantId: $v, quantity: 1, unitPrice: "1"}]}) '
        "{ purchaseOrder { number } userErrors { code } } }",
        {"s": s, "w": wh, "v": v1},
        key=t.key,
    )
    assert given["purchaseOrderCreate"]["purchaseOrder"]["number"] == "PO-000003"
    following = await api.data(
        CREATE, {"s": s, "w": wh, "lines": [{"variantId": v1, "quantity": 1, "unitPrice": "1"}]}, key=t.key
    )
    assert following["purchaseOrderCreate"]["purchaseOrder"]["number"] == "PO-000004"
