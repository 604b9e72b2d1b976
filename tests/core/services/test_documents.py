"""Shipping documents: stored once by content, packing slips, label batches for the printer."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from crossdock import CarrierDocument, DocumentFormat, DocumentKind
from crossdock.db.models import CarrierAccount, LabelPurchase, ShipmentDocument
from crossdock.errors import NotFound
from crossdock.services import fulfilment
from crossdock.services.documents import label_batch, packing_slip, pick_list_shipments, store_documents
from crossdock.testing.carriers import pdf_document, png_document, zpl_document


async def packed(
    shop: Any, external_id: str, *, sku: str = "SKU-1", quantity: int = 1, buyer: str | None = None
) -> int:
    """An order of ``sku`` ingested and packed in SG1; the shipment's id."""
    await shop.ingest(
        shop.market.add_order(
            external_id, sku=f"sg-{sku}", quantity=quantity, buyer=buyer or f"Buyer {external_id}"
        )
    )
    order = await shop.order(external_id)
    async with shop.write() as session:
        shipment = await fulfilment.pack_shipment(
            session,
            order.id,
            shop.warehouses["SG1"],
            carrier="Ninja Van",
            tracking_number=f"NV-{external_id}",
        )
    return int(shipment.id)


async def store(
    shop: Any, shipment_id: int, *documents: CarrierDocument, purchase: int | None = None
) -> list[ShipmentDocument]:
    async with shop.write() as session:
        return await store_documents(
            session,
            shop.app.storage,
            shipment_id=shipment_id,
            label_purchase_id=purchase,
            documents=documents,
        )


def label(fmt: DocumentFormat, text: str) -> CarrierDocument:
    content = {
        DocumentFormat.PDF: lambda: pdf_document(text),
        DocumentFormat.ZPL: lambda: zpl_document(text),
        DocumentFormat.PNG: png_document,
    }[fmt]()
    return CarrierDocument(DocumentKind.LABEL, fmt, content)


async def test_documents_are_stored_once_by_content(shop: Any, app: Any) -> None:
    shipment = await packed(shop, "DOC-1")
    docs = (
        label(DocumentFormat.PDF, "LABEL DOC-1"),
        CarrierDocument(DocumentKind.CN22, DocumentFormat.PDF, pdf_document("CN22 DOC-1")),
    )
    first = await store(shop, shipment, *docs)
    assert [(d.kind, d.format) for d in first] == [("label", "pdf"), ("cn22", "pdf")]
    key = first[0].storage_key
    assert re.fullmatch(rf"{shop.tenant.slug}/shipments/{shipment}/label-[0-9a-f]{{16}}\.pdf", key)
    assert first[0].sha256.startswith(key.rsplit("-", 1)[1][:16])
    assert first[0].size == len(docs[0].content)
    assert await app.storage.get(key) == docs[0].content

    again = await store(shop, shipment, *docs, docs[0])  # a retry, with a repeat inside
    assert [d.id for d in again] == [d.id for d in first]
    async with shop.read() as session:
        assert await session.scalar(select(func.count()).select_from(ShipmentDocument)) == 2
    assert await store(shop, shipment) == []


async def test_two_transactions_storing_the_same_documents_record_them_once(shop: Any, app: Any) -> None:
    import asyncio

    shipment = await packed(shop, "DOC-2")
    doc = label(DocumentFormat.ZPL, "RACE")
    first, second = await asyncio.gather(store(shop, shipment, doc), store(shop, shipment, doc))
    assert [d.storage_key for d in first] == [d.storage_key for d in second]
    async with shop.read() as session:
        rows = (await session.scalars(select(ShipmentDocument))).all()
    assert len(rows) == 1 and await app.storage.get(rows[0].storage_key) == doc.content


async def test_packing_slip_lists_the_order_and_what_was_packed(shop: Any) -> None:
    shipment = await packed(shop, "SLIP-7", quantity=3, buyer="Tan Ah Kow")
    async with shop.read() as session:
        pdf = await packing_slip(session, shipment)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for expected in (
        "SLIP-7",
        "SKU-1",
        "testmarket",
        "Tan Ah Kow",
        "NV-SLIP-7",
        "Ninja Van",
        "SG1",
        "Singapore",
    ):
        assert expected in text, (expected, text)
    assert re.search(r"^SKU-1 Fan 3$", text, re.M), text  # our SKU (not the channel's), the title
    async with shop.read() as session:
        with pytest.raises(NotFound):
            await packing_slip(session, shipment + 1000)


async def test_a_pdf_batch_has_a_page_per_label_in_order(shop: Any, app: Any) -> None:
    await shop.receive("SKU-2", "SG1", 5)
    a = await packed(shop, "B-1")
    b = await packed(shop, "B-2", sku="SKU-2")
    c = await packed(shop, "B-3")  # its label is an image
    d = await packed(shop, "B-4")  # no label at all
    await store(shop, a, label(DocumentFormat.PDF, "LABEL-A"), label(DocumentFormat.ZPL, "ZPL-A"))
    await store(shop, b, label(DocumentFormat.PDF, "LABEL-B"))
    await store(shop, c, label(DocumentFormat.PNG, ""))
    async with shop.read() as session:
        pdf, missing = await label_batch(session, app.storage, [b, d, a, c], DocumentFormat.PDF)
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 3
    assert "LABEL-B" in pages[0].extract_text()
    assert "LABEL-A" in pages[1].extract_text()
    assert pages[2].images  # the PNG, placed on a page of its own
    assert [float(x) for x in pages[2].mediabox[2:]] == [288.0, 432.0]
    assert missing == [d]

    async with shop.read() as session:
        zpl, missing = await label_batch(session, app.storage, [a, b, c], DocumentFormat.ZPL)
    assert zpl.count(b"^XA") == zpl.count(b"^XZ") == 1 and b"ZPL-A" in zpl
    assert missing == [b, c]


async def test_a_zpl_batch_is_one_stream_of_formats(shop: Any, app: Any) -> None:
    ids = [await packed(shop, f"Z-{i}") for i in range(3)]
    for i, shipment in enumerate(ids):
        await store(shop, shipment, label(DocumentFormat.ZPL, f"PARCEL {i}"))
    async with shop.read() as session:
        zpl, missing = await label_batch(session, app.storage, list(reversed(ids)), DocumentFormat.ZPL)
    formats = re.findall(rb"\^XA.*?\^XZ", zpl, re.DOTALL)
    assert missing == [] and len(formats) == 3
    assert [re.search(rb"PARCEL (\d)", f).group(1) for f in formats] == [b"2", b"1", b"0"]  # type: ignore[union-attr]


async def test_a_voided_labels_documents_are_not_printed(shop: Any, app: Any) -> None:
    shipment = await packed(shop, "V-1")
    async with shop.write() as session:
        account = CarrierAccount(carrier="testcarrier", name="main", credentials_encrypted=b"")
        session.add(account)
        await session.flush()
        purchases = [
            LabelPurchase(
                shipment_id=shipment,
                carrier_account_id=account.id,
                carrier="testcarrier",
                service="std",
                reference=f"V-1-{n}",
                status=status,
            )
            for n, status in enumerate(("voided", "purchased"))
        ]
        session.add_all(purchases)
        await session.flush()
        voided, live = (p.id for p in purchases)
    await store(shop, shipment, label(DocumentFormat.PDF, "OLD LABEL"), purchase=voided)
    await store(shop, shipment, label(DocumentFormat.PDF, "NEW LABEL"), purchase=live)
    async with shop.read() as session:
        pdf, missing = await label_batch(session, app.storage, [shipment], DocumentFormat.PDF)
    [page] = PdfReader(io.BytesIO(pdf)).pages
    assert "NEW LABEL" in page.extract_text() and missing == []
    async with shop.read() as session:
        assert await pick_list_shipments(session, shop.warehouses["SG1"]) == [shipment]
    async with shop.write() as session:  # the new label is voided too: nothing to print
        await session.execute(update(LabelPurchase).where(LabelPurchase.id == live).values(status="voided"))
    async with shop.read() as session:
        assert await pick_list_shipments(session, shop.warehouses["SG1"]) == []
        assert (await label_batch(session, app.storage, [shipment], DocumentFormat.PDF))[1] == [shipment]


async def test_pick_list_shipments_are_packed_labelled_and_in_pick_order(shop: Any, app: Any) -> None:
    await shop.receive("SKU-2", "SG1", 5)
    second = await packed(shop, "P-1", sku="SKU-2")
    first = await packed(shop, "P-2", sku="SKU-1")
    unlabelled = await packed(shop, "P-3")
    shipped = await packed(shop, "P-4")
    for shipment in (second, first, shipped):
        await store(shop, shipment, label(DocumentFormat.PDF, f"L{shipment}"))
    async with shop.unit_of_work() as uow:
        await fulfilment.ship_shipment(uow, shipped)
    async with shop.read() as session:
        assert await pick_list_shipments(session, shop.warehouses["SG1"]) == [first, second]
        assert unlabelled not in await pick_list_shipments(session, shop.warehouses["SG1"])
    async with shop.write() as session:  # a cancelled shipment is not printed either
        from crossdock.db.models import Shipment

        await session.execute(update(Shipment).where(Shipment.id == first).values(status="cancelled"))
    async with shop.read() as session:
        assert await pick_list_shipments(session, shop.warehouses["SG1"]) == [second]


async def test_packing_slip_keeps_accented_names_with_a_unicode_font(shop: Any) -> None:
    from crossdock.services.documents import UNICODE_FONTS

    if not any(p.is_file() for p in UNICODE_FONTS):
        pytest.skip("no Unicode font installed (Debian: fonts-dejavu-core)")
    shipment = await packed(shop, "VN-1", buyer="Nguyễn Văn Ánh")
    async with shop.read() as session:
        pdf = await packing_slip(session, shipment)
    assert "Nguyễn Văn Ánh" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
