"""Shipping documents: stored labels and customs papers, packing slips, label batches.

A carrier's documents are written to the storage (:mod:`crossdock.storage`) under a
content-addressed key, ``{tenant}/shipments/{shipment}/{kind}-{sha256[:16]}.{ext}``, and
then recorded as :class:`~crossdock.db.models.ShipmentDocument` rows; the same bytes stored
again land on the same key and the same row, so a retried label purchase stores nothing
twice. Packing slips are drawn on demand (fpdf2); a batch of labels for the printer is one
PDF (pypdf merges the labels; a PNG label is placed on a page of its own) or one ZPL stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import (
    Allocation,
    Connection,
    LabelPurchase,
    LabelStatus,
    Order,
    OrderLine,
    Product,
    Shipment,
    ShipmentDocument,
    ShipmentStatus,
    Variant,
    Warehouse,
)
from crossdock.db.scoping import session_tenant, session_tenant_slug
from crossdock.errors import NotFound
from crossdock.providers import CarrierDocument, DocumentFormat, DocumentKind
from crossdock.storage import Storage

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "document_key",
    "label_batch",
    "labels_missing",
    "packing_slip",
    "pick_list_shipments",
    "store_documents",
]

log = logging.getLogger(__name__)

EXTENSIONS: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "pdf",
    DocumentFormat.ZPL: "zpl",
    DocumentFormat.PNG: "png",
}
#: ZPL has no registered media type; printing tools take it as plain ZPL bytes.
CONTENT_TYPES: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "application/pdf",
    DocumentFormat.ZPL: "application/x-zpl",
    DocumentFormat.PNG: "image/png",
}
#: One ZPL II label format: ``^XA`` ... ``^XZ`` (the commands may be written in lower case).
_ZPL_FORMAT = re.compile(rb"\^XA.*?\^XZ", re.DOTALL | re.IGNORECASE)
#: A label page is 4 x 6 inches (in points), the common thermal label size.
LABEL_PAGE = (288.0, 432.0)
#: Fonts for buyers' names and addresses (Latin, Greek, Cyrillic, Vietnamese ...), the first
#: installed one used; without any, the PDF core font (Latin-1 only), other characters "?".
UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
)
#: Fonts for the scripts the main font lacks (Thai, Chinese, Japanese, Korean), each used
#: where it is installed (Debian: fonts-noto-core, fonts-noto-cjk, fonts-thai-tlwg).
FALLBACK_FONTS = (
    Path("/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf"),
    Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)


def _tenant_part(session: AsyncSession) -> str:
    slug = session_tenant_slug(session)
    return slug or str(session_tenant(session.sync_session))


def document_key(tenant: str, shipment_id: int, kind: DocumentKind, fmt: DocumentFormat, sha256: str) -> str:
    """The storage key of a document: its tenant, shipment, kind and the start of its hash."""
    return f"{tenant}/shipments/{shipment_id}/{kind.value}-{sha256[:16]}.{EXTENSIONS[fmt]}"


async def store_documents(
    session: AsyncSession,
    storage: Storage,
    *,
    shipment_id: int,
    label_purchase_id: int | None,
    documents: Sequence[CarrierDocument],
) -> list[ShipmentDocument]:
    """Write ``documents`` to the storage, then record them (one row per distinct key, in
    the order given). Idempotent: documents stored before (the same bytes, kind and
    shipment) are not recorded twice, also when two transactions store them at once (the
    bytes are the same, so writing them again changes nothing). The bytes go first: a row
    never points at bytes that are not there (bytes without a row, from a transaction that
    rolled back, are harmless)."""
    tenant_id = session_tenant(session.sync_session)
    tenant = _tenant_part(session)
    planned: dict[str, dict[str, Any]] = {}
    for doc in documents:
        kind, fmt = DocumentKind(doc.kind), DocumentFormat(doc.format)
        digest = hashlib.sha256(doc.content).hexdigest()
        key = document_key(tenant, shipment_id, kind, fmt, digest)
        if key in planned:
            continue
        # written again on a retry rather than asked about first: the same bytes under the
        # same key, and no HEAD (S3 answers a missing key with 403 without list rights)
        await storage.put(key, doc.content, CONTENT_TYPES[fmt])
        planned[key] = {
            "tenant_id": tenant_id,
            "shipment_id": shipment_id,
            "label_purchase_id": label_purchase_id,
            "kind": kind.value,
            "format": fmt.value,
            "storage_key": key,
            "size": len(doc.content),
            "sha256": digest,
        }
    if not planned:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(ShipmentDocument)
        .values(list(planned.values()))
        .on_conflict_do_nothing(index_elements=["tenant_id", "storage_key"])
    )
    rows = (
        await session.scalars(select(ShipmentDocument).where(ShipmentDocument.storage_key.in_(planned)))
    ).all()
    by_key = {r.storage_key: r for r in rows}
    return [by_key[k] for k in planned]


# ------------------------------------------------------------------------ packing slips


def _address_lines(address: dict[str, Any] | None) -> list[str]:
    a = address or {}
    city = " ".join(str(p) for p in (a.get("postal_code"), a.get("city")) if p)
    parts = [a.get("company"), a.get("line1"), a.get("line2"), city, a.get("region"), a.get("country")]
    lines = [str(p) for p in parts if p]
    if a.get("phone"):
        lines.append(f"Tel. {a['phone']}")
    return lines


class _Slip:
    """An fpdf2 document with a font for the text it will hold."""

    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(unit="mm", format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(15, 15, 15)
        self.unicode = False
        for path in UNICODE_FONTS:
            if path.is_file():
                self.pdf.add_font("slip", "", str(path))
                self.font = "slip"
                self.unicode = True
                break
        else:
            self.font = "helvetica"
        if self.unicode:
            fallbacks = []
            for number, path in enumerate(p for p in FALLBACK_FONTS if p.is_file()):
                self.pdf.add_font(f"fallback{number}", "", str(path))
                fallbacks.append(f"fallback{number}")
            if fallbacks:
                self.pdf.set_fallback_fonts(fallbacks)
        self.pdf.add_page()

    def text(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def line(self, value: str, size: float = 10, height: float = 5.5) -> None:
        self.pdf.set_font(self.font, size=size)
        self.pdf.multi_cell(0, height, self.text(value), new_x="LMARGIN", new_y="NEXT")

    def row(self, cells: Sequence[tuple[str, float, str]], size: float = 10) -> None:
        self.pdf.set_font(self.font, size=size)
        for value, width, align in cells:
            self.pdf.cell(width, 7, self.text(value), border="B", align=align)  # type: ignore[arg-type]
        self.pdf.ln(7)


async def packing_slip(session: AsyncSession, shipment_id: int) -> bytes:
    """A packing slip (PDF, A4) for a shipment: the order number and channel, the buyer and
    shipping address, every packed line (SKU, title, quantity), the warehouse, and the
    carrier and tracking number when there are."""
    found = (
        await session.execute(
            select(Shipment, Order, Connection)
            .join(Order, Order.id == Shipment.order_id)
            .join(Connection, Connection.id == Order.connection_id)
            .where(Shipment.id == shipment_id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"shipment {shipment_id} not found", field="shipmentId")
    shipment, order, connection = found
    warehouse = (
        await session.scalar(select(Warehouse).where(Warehouse.id == shipment.warehouse_id))
        if shipment.warehouse_id is not None
        else None
    )
    lines = (
        await session.execute(
            # our SKU (what the shelves are labelled with), the line's title as the buyer saw it
            select(
                Variant.sku,
                func.coalesce(OrderLine.title, Variant.title, Product.title),
                func.sum(Allocation.quantity),
            )
            .join(Allocation, Allocation.order_line_id == OrderLine.id)
            .join(Variant, Variant.id == Allocation.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Allocation.shipment_id == shipment_id)
            .group_by(OrderLine.id, Variant.sku, OrderLine.title, Variant.title, Product.title)
            .order_by(Variant.sku, OrderLine.id)
        )
    ).all()

    slip = _Slip()
    slip.line("Packing slip", size=18, height=10)
    slip.line(f"Order {order.external_id}", size=13, height=7)
    slip.line(f"Channel: {connection.channel} ({connection.name})")
    slip.line(f"Placed: {order.placed_at:%Y-%m-%d}")
    slip.pdf.ln(3)
    slip.line("Ship to", size=12, height=7)
    address = order.shipping_address or {}
    recipient = str(address.get("name") or order.buyer_name or "")
    slip.line(recipient)
    for text in _address_lines(address):
        slip.line(text)
    if order.buyer_name and order.buyer_name != recipient:
        slip.line(f"Buyer: {order.buyer_name}")
    slip.pdf.ln(3)
    if warehouse is not None:
        slip.line(f"From warehouse: {warehouse.code} - {warehouse.name}")
    if shipment.carrier:
        carrier = shipment.carrier + (f" / {shipment.service}" if shipment.service else "")
        slip.line(f"Carrier: {carrier}")
    if shipment.tracking_number:
        slip.line(f"Tracking number: {shipment.tracking_number}")
    slip.pdf.ln(4)
    slip.row([("SKU", 50, "L"), ("Item", 105, "L"), ("Qty", 25, "R")], size=10)
    total = 0
    for sku, title, quantity in lines:
        slip.row([(sku, 50, "L"), ((title or "")[:70], 105, "L"), (str(quantity), 25, "R")], size=10)
        total += int(quantity)
    slip.pdf.ln(2)
    slip.line(f"Units: {total}")
    return bytes(slip.pdf.output())


# ------------------------------------------------------------------------ label batches


def _current_label() -> ColumnElement[bool]:
    """A label document of the live purchase (or stored without one): a voided or failed
    purchase's labels are not printed (the query outer-joins ``LabelPurchase``)."""
    return and_(
        ShipmentDocument.kind == DocumentKind.LABEL,
        or_(ShipmentDocument.label_purchase_id.is_(None), LabelPurchase.status == LabelStatus.PURCHASED),
    )


async def _label_documents(
    session: AsyncSession, shipment_ids: Sequence[int], formats: Sequence[DocumentFormat]
) -> dict[int, list[ShipmentDocument]]:
    """The current label documents of each shipment in these formats (those of a voided or
    failed purchase left out), oldest first."""
    rows = (
        await session.scalars(
            select(ShipmentDocument)
            .outerjoin(LabelPurchase, LabelPurchase.id == ShipmentDocument.label_purchase_id)
            .where(
                ShipmentDocument.shipment_id.in_(set(shipment_ids)),
                ShipmentDocument.format.in_([f.value for f in formats]),
                _current_label(),
            )
            .order_by(ShipmentDocument.shipment_id, ShipmentDocument.id)
        )
    ).all()
    grouped: dict[int, list[ShipmentDocument]] = defaultdict(list)
    for row in rows:
        grouped[row.shipment_id].append(row)
    return grouped


def _png_page(png: bytes) -> bytes:
    """A 4 x 6 in PDF page with the PNG label fitted on it (turned to landscape for a wide
    image)."""
    from fpdf import FPDF
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
    page_w, page_h = LABEL_PAGE if height >= width else LABEL_PAGE[::-1]
    scale = min(page_w / width, page_h / height)
    pdf = FPDF(unit="pt", format=(page_w, page_h))
    pdf.set_margin(0)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    w, h = width * scale, height * scale
    pdf.image(io.BytesIO(png), x=(page_w - w) / 2, y=(page_h - h) / 2, w=w, h=h)
    return bytes(pdf.output())


def _merge_pdf(parts: Sequence[tuple[DocumentFormat, bytes]]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for fmt, content in parts:
        pdf = _png_page(content) if fmt == DocumentFormat.PNG else content
        writer.append(PdfReader(io.BytesIO(pdf)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _zpl_stream(parts: Sequence[bytes]) -> bytes:
    return b"".join(m.group(0) + b"\n" for content in parts for m in _ZPL_FORMAT.finditer(content))


def _batch_formats(fmt: DocumentFormat) -> list[DocumentFormat]:
    """The label formats a batch in ``fmt`` is made of, the preferred first."""
    if fmt == DocumentFormat.ZPL:
        return [DocumentFormat.ZPL]
    if fmt == DocumentFormat.PDF:
        return [DocumentFormat.PDF, DocumentFormat.PNG]
    return []  # a batch of images is not one printable document


async def labels_missing(
    session: AsyncSession, shipment_ids: Sequence[int], fmt: DocumentFormat
) -> list[int]:
    """The shipments, in order, that :func:`label_batch` would find no label for (read from
    the rows only: nothing is fetched from the storage)."""
    formats = _batch_formats(DocumentFormat(fmt))
    ordered = list(dict.fromkeys(shipment_ids))
    documents = await _label_documents(session, ordered, formats) if formats else {}
    return [s for s in ordered if not documents.get(s)]


async def label_batch(
    session: AsyncSession, storage: Storage, shipment_ids: Sequence[int], fmt: DocumentFormat
) -> tuple[bytes, list[int]]:
    """The labels of ``shipment_ids``, in that order, as one document for the printer: a
    PDF (PDF labels merged, PNG labels each on a page of their own) or a ZPL stream (each
    label's ``^XA``..``^XZ`` formats one after the other). Returns it and the shipments that
    have no label in that format (for PDF: neither a PDF nor a PNG label), in order; a
    shipment of another tenant counts as one without."""
    fmt = DocumentFormat(fmt)
    formats = _batch_formats(fmt)
    ordered = list(dict.fromkeys(shipment_ids))
    documents = await _label_documents(session, ordered, formats) if formats else {}
    parts: list[tuple[DocumentFormat, bytes]] = []
    missing: list[int] = []
    for shipment_id in ordered:
        docs = documents.get(shipment_id, [])
        # a PDF label where there is one; the PNG label only for a shipment without
        preferred = [d for d in docs if d.format == formats[0]] if formats else []
        chosen = preferred or docs
        try:
            found = [(DocumentFormat(d.format), await storage.get(d.storage_key)) for d in chosen]
        except NotFound:  # recorded, but the bytes are gone from the storage
            log.warning("a label of shipment %s is missing from the storage", shipment_id)
            found = []
        if not found:
            missing.append(shipment_id)
        parts.extend(found)
    if fmt == DocumentFormat.ZPL:
        return _zpl_stream([content for _, content in parts]), missing
    if fmt == DocumentFormat.PNG:
        return b"", missing
    return await asyncio.to_thread(_merge_pdf, parts), missing


async def pick_list_shipments(session: AsyncSession, warehouse_id: int) -> list[int]:
    """The packed, not yet shipped shipments of a warehouse that have a label, in pick
    order: by the first SKU packed in them (the pick list goes by SKU), then oldest first."""
    first_sku = (
        select(Allocation.shipment_id, func.min(OrderLine.sku).label("sku"))
        .join(OrderLine, OrderLine.id == Allocation.order_line_id)
        .where(Allocation.shipment_id.is_not(None))
        .group_by(Allocation.shipment_id)
        .subquery()
    )
    labelled = (
        select(ShipmentDocument.id)
        .outerjoin(LabelPurchase, LabelPurchase.id == ShipmentDocument.label_purchase_id)
        .where(ShipmentDocument.shipment_id == Shipment.id, _current_label())
    )
    ids = await session.scalars(
        select(Shipment.id)
        .outerjoin(first_sku, first_sku.c.shipment_id == Shipment.id)
        .where(
            Shipment.warehouse_id == warehouse_id,
            Shipment.status == ShipmentStatus.PACKED,
            Shipment.shipped_at.is_(None),
            labelled.exists(),
        )
        .order_by(first_sku.c.sku.is_(None), first_sku.c.sku, Shipment.id)
    )
    return list(ids.all())
