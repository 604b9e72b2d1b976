"""Shipping documents through the API: downloads over HTTP with the API key, the GraphQL
fields that point at them, and a tenant that cannot reach another's."""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader

from crossdock import CarrierDocument, DocumentFormat, DocumentKind
from crossdock.api.schema.relay import encode_id
from crossdock.services import fulfilment
from crossdock.services.documents import store_documents
from crossdock.testing.carriers import pdf_document, png_document, zpl_document

SHIPMENTS = """query($q: String!) { orders(filter: {search: $q}) { nodes { externalId shipments {
  id packingSlipUrl documents { id kind format size sha256 createdAt url }
} } } }"""


async def packed(shop: Any, external_id: str, *documents: CarrierDocument) -> int:
    """An order packed in SG1 with ``documents`` stored for its shipment; the shipment's id."""
    await shop.ingest(shop.market.add_order(external_id, sku="sg-SKU-1", buyer=f"Buyer {external_id}"))
    order = await shop.order(external_id)
    async with shop.write() as session:
        shipment = await fulfilment.pack_shipment(
            session,
            order.id,
            shop.warehouses["SG1"],
            carrier="Ninja Van",
            tracking_number=f"NV-{external_id}",
        )
        await store_documents(
            session, shop.app.storage, shipment_id=shipment.id, label_purchase_id=None, documents=documents
        )
    return int(shipment.id)


def pdf_label(text: str) -> CarrierDocument:
    return CarrierDocument(DocumentKind.LABEL, DocumentFormat.PDF, pdf_document(text))


def zpl_label(text: str) -> CarrierDocument:
    return CarrierDocument(DocumentKind.LABEL, DocumentFormat.ZPL, zpl_document(text))


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


async def test_documents_download_with_the_key_and_only_for_their_tenant(
    api: Any, shop: Any, tenant_factory: Any
) -> None:
    cn22 = CarrierDocument(DocumentKind.CN22, DocumentFormat.PDF, pdf_document("CN22 D-1"))
    shipment = await packed(shop, "D-1", pdf_label("LABEL D-1"), cn22, zpl_label("ZPL D-1"))
    data = await api.data(SHIPMENTS, {"q": "D-1"}, key=shop.tenant.key)
    [found] = data["orders"]["nodes"][0]["shipments"]
    assert found["id"] == encode_id("Shipment", shipment)
    assert found["packingSlipUrl"] == f"/shipments/{found['id']}/packing-slip"
    docs = found["documents"]
    assert [(d["kind"], d["format"]) for d in docs] == [("LABEL", "PDF"), ("CN22", "PDF"), ("LABEL", "ZPL")]
    assert all(d["url"] == f"/documents/{d['id']}" for d in docs)
    label, _, zpl = docs

    response = await api.client.get(label["url"], headers=auth(shop.tenant.key))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert re.fullmatch(
        r'attachment; filename="label-\d+-[0-9a-f]{8}\.pdf"', response.headers["content-disposition"]
    )
    assert response.content == pdf_label("LABEL D-1").content
    assert len(response.content) == label["size"]
    zpl_response = await api.client.get(zpl["url"], headers=auth(shop.tenant.key))
    assert zpl_response.headers["content-type"].startswith("application/x-zpl")
    assert zpl_response.content.startswith(b"^XA")

    # the node query reaches it too
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on ShipmentDocument { kind sha256 } } }",
        {"id": label["id"]},
        key=shop.tenant.key,
    )
    assert node["node"] == {"kind": "LABEL", "sha256": label["sha256"]}

    # no key: 401; a key without the orders scope: 403
    assert (await api.client.get(label["url"])).status_code == 401
    assert (await api.client.get(label["url"])).json()["code"] == "UNAUTHENTICATED"
    catalog_only = await tenant_factory(scopes=["catalog:read"])
    refused = await api.client.get(label["url"], headers=auth(catalog_only.key))
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")

    # another tenant's key: the same 404 as for an ID that does not exist
    other = await tenant_factory()
    foreign = await api.client.get(label["url"], headers=auth(other.key))
    unknown = await api.client.get(
        f"/documents/{encode_id('ShipmentDocument', 10**12)}", headers=auth(shop.tenant.key)
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "NOT_FOUND"
    assert foreign.json()["message"].split(" ")[0] == unknown.json()["message"].split(" ")[0]
    foreign_slip = await api.client.get(found["packingSlipUrl"], headers=auth(other.key))
    assert (foreign_slip.status_code, foreign_slip.json()["code"]) == (404, "NOT_FOUND")

    # malformed, or the ID of another type: 400 INVALID_ID
    for bad in ("not-an-id", found["id"]):
        malformed = await api.client.get(f"/documents/{bad}", headers=auth(shop.tenant.key))
        assert (malformed.status_code, malformed.json()["code"]) == (400, "INVALID_ID")


async def test_packing_slip_download(api: Any, shop: Any) -> None:
    shipment = await packed(shop, "PS-9")
    response = await api.client.get(
        f"/shipments/{encode_id('Shipment', shipment)}/packing-slip", headers=auth(shop.tenant.key)
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "packing-slip-PS-9" in response.headers["content-disposition"]
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "PS-9" in text and "SKU-1" in text and "NV-PS-9" in text
    assert (
        await api.client.get(f"/shipments/{encode_id('Shipment', shipment)}/packing-slip")
    ).status_code == 401


async def test_label_batches_by_shipments_and_by_pick_list(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    a = await packed(shop, "L-1", pdf_label("LABEL L-1"), zpl_label("ZPL L-1"))
    b = await packed(shop, "L-2", CarrierDocument(DocumentKind.LABEL, DocumentFormat.PNG, png_document()))
    c = await packed(shop, "L-3")
    ids = [encode_id("Shipment", s) for s in (b, c, a)]

    batch = await api.data(
        "query($s: [ID!]) { labelBatch(shipmentIds: $s, format: PDF) { url shipmentIds missing } }",
        {"s": ids},
        key=key,
    )
    assert batch["labelBatch"]["shipmentIds"] == ids
    assert batch["labelBatch"]["missing"] == [encode_id("Shipment", c)]
    response = await api.client.get(batch["labelBatch"]["url"], headers=auth(key))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["crossdock-missing-labels"] == encode_id("Shipment", c)
    pages = PdfReader(io.BytesIO(response.content)).pages
    assert len(pages) == 2 and pages[0].images and "LABEL L-1" in pages[1].extract_text()

    zpl = await api.client.get(f"/labels?shipments={','.join(ids)}&format=zpl", headers=auth(key))
    assert zpl.status_code == 200 and zpl.content.count(b"^XA") == 1 and b"ZPL L-1" in zpl.content
    assert zpl.headers["crossdock-missing-labels"] == ",".join(encode_id("Shipment", s) for s in (b, c))

    # the pick list's batch: the warehouse's packed shipments with a label
    warehouse = encode_id("Warehouse", shop.warehouses["SG1"])
    picked = await api.data(
        "query($w: ID) { labelBatch(warehouseId: $w, format: ZPL) { url shipmentIds missing } }",
        {"w": warehouse},
        key=key,
    )
    assert set(picked["labelBatch"]["shipmentIds"]) == {encode_id("Shipment", s) for s in (a, b)}
    assert picked["labelBatch"]["missing"] == [encode_id("Shipment", b)]
    assert picked["labelBatch"]["url"] == f"/labels?warehouse={warehouse}&format=zpl"
    by_warehouse = await api.client.get(picked["labelBatch"]["url"], headers=auth(key))
    assert by_warehouse.status_code == 200 and b"ZPL L-1" in by_warehouse.content

    # refusals: a wrong format, nothing named, a foreign or malformed ID, nothing printable
    for query, status, code in (
        (f"/labels?shipments={ids[0]}&format=png", 400, "INVALID"),
        (f"/labels?shipments={ids[0]}&format=docx", 400, "INVALID"),
        ("/labels?format=pdf", 400, "REQUIRED"),
        ("/labels?shipments=nope&format=pdf", 400, "INVALID_ID"),
        (f"/labels?shipments={encode_id('Shipment', 10**12)}&format=pdf", 404, "NOT_FOUND"),
        (f"/labels?shipments={ids[1]}&format=pdf", 404, "NOT_FOUND"),
    ):
        refused = await api.client.get(query, headers=auth(key))
        assert (refused.status_code, refused.json()["code"]) == (status, code), query
    assert (await api.client.get(f"/labels?shipments={ids[0]}")).status_code == 401
    wrong = await api(
        "query($s: [ID!]) { labelBatch(shipmentIds: $s, format: PNG) { url } }", {"s": ids}, key=key
    )
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID"
    neither = await api("{ labelBatch(format: PDF) { url } }", key=key)
    assert neither["errors"][0]["extensions"]["code"] == "REQUIRED"


async def test_a_page_of_shipments_loads_documents_in_one_query(api: Any, shop: Any, app: Any) -> None:
    """Documents of every shipment on a page come from one batched query (no N+1)."""
    from sqlalchemy import event

    for i in range(4):
        await packed(shop, f"N-{i}", pdf_label(f"LABEL N-{i}"))
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        data = await api.data(
            '{ orders(first: 10, filter: {search: "N-"}) { nodes { shipments { documents { kind } } } } }',
            key=shop.tenant.key,
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [n["shipments"][0]["documents"] for n in data["orders"]["nodes"]] == [[{"kind": "LABEL"}]] * 4
    assert sum("shipment_documents" in s for s in statements) == 1


async def test_label_batch_of_foreign_shipments(api: Any, shop: Any, tenant_factory: Any) -> None:
    """Another tenant's shipment in a batch is NOT_FOUND, as one that does not exist."""
    shipment = encode_id("Shipment", await packed(shop, "F-1", pdf_label("LABEL F-1")))
    other = await tenant_factory()
    query = "query($s: [ID!]) { labelBatch(shipmentIds: $s, format: PDF) { url } }"
    for gid in (shipment, encode_id("Shipment", 9_000_000_000_000_000_000)):
        answer = await api(query, {"s": [gid]}, key=other.key)
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert answer["errors"][0]["message"] == f"Shipment {gid} not found"
        refused = await api.client.get(f"/labels?shipments={gid}&format=pdf", headers=auth(other.key))
        assert (refused.status_code, refused.json()["code"]) == (404, "NOT_FOUND")
