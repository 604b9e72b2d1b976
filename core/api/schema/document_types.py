"""Shipping documents as GraphQL objects: a shipment's stored documents and the batch of
labels for the printer. The bytes are downloaded over plain HTTP
(:mod:`crossdock.api.downloads`); these objects carry the URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.loaders import Record, Resolved, child_rows, now_or_later
from crossdock.api.schema.relay import Node, decode_id, encode_id
from crossdock.db import models as m
from crossdock.providers import DocumentFormat, DocumentKind

__all__ = [
    "BATCH_FORMATS",
    "MAX_BATCH",
    "MISSING_HEADER",
    "LabelBatch",
    "ShipmentDocument",
    "ShipmentDocumentFields",
    "document_url",
    "labels_url",
    "packing_slip_url",
]

#: The most shipments one label batch may name.
MAX_BATCH = 500
#: The response header listing (global IDs, comma-separated) the shipments a label batch
#: found no label for.
MISSING_HEADER = "Crossdock-Missing-Labels"
#: The formats a label batch comes in (a PNG is one image, not a batch).
BATCH_FORMATS = (DocumentFormat.PDF, DocumentFormat.ZPL)


def document_url(document_id: int) -> str:
    return f"/documents/{encode_id('ShipmentDocument', document_id)}"


def packing_slip_url(shipment_id: int) -> str:
    return f"/shipments/{encode_id('Shipment', shipment_id)}/packing-slip"


def labels_url(
    fmt: DocumentFormat, *, shipment_ids: list[int] | None = None, warehouse_id: int | None = None
) -> str:
    if warehouse_id is not None:
        return f"/labels?warehouse={encode_id('Warehouse', warehouse_id)}&format={fmt.value}"
    ids = ",".join(encode_id("Shipment", s) for s in shipment_ids or [])
    return f"/labels?shipments={ids}&format={fmt.value}"


@strawberry.type(description="A stored document of a shipment: a label, customs papers.")
class ShipmentDocument(Node):
    kind: DocumentKind
    format: DocumentFormat
    size: int = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(description="The SHA-256 of the bytes, hex.")
    created_at: datetime
    url: str = strawberry.field(
        description="Where to download it (root-relative; `Authorization: Bearer <API key>`, "
        "the `orders:read` scope)."
    )

    @classmethod
    def from_row(cls, row: m.ShipmentDocument | Record) -> ShipmentDocument:
        return cls(
            id=encode_id("ShipmentDocument", row.id),
            kind=DocumentKind(row.kind),
            format=DocumentFormat(row.format),
            size=row.size,
            sha256=row.sha256,
            created_at=row.created_at,
            url=document_url(row.id),
        )


@strawberry.type
class ShipmentDocumentFields:
    """The document fields of ``Shipment`` (mixed into it)."""

    id: strawberry.ID

    @strawberry.field(
        graphql_type=list[ShipmentDocument],
        description="Its stored documents (labels, customs papers), oldest first.",
    )
    def documents(self, info: Info[Any, Any]) -> Resolved[list[ShipmentDocument]]:
        return now_or_later(
            child_rows(state(info), m.ShipmentDocument, "shipment_id"),
            decode_id(self.id, "Shipment")[1],
            lambda rows: [ShipmentDocument.from_row(r) for r in rows],
        )

    @strawberry.field(
        description="Where to download its packing slip, a PDF (root-relative, as `documents.url`)."
    )
    def packing_slip_url(self) -> str:
        return packing_slip_url(decode_id(self.id, "Shipment")[1])


@strawberry.type(description="Labels of several shipments as one document for the printer.")
class LabelBatch:
    url: str = strawberry.field(description="Where to download it (root-relative, as `documents.url`).")
    shipment_ids: list[strawberry.ID] = strawberry.field(
        description="The shipments it covers, in print order."
    )
    missing: list[strawberry.ID] = strawberry.field(
        description="Those of them without a label in the format (left out of the document)."
    )
