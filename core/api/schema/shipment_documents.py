"""Shipping documents: the label batch for the printer (the documents themselves hang off
``Shipment.documents``; see :mod:`crossdock.api.schema.document_types`)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.document_types import BATCH_FORMATS, MAX_BATCH, LabelBatch, labels_url
from crossdock.api.schema.errors import requires
from crossdock.api.schema.relay import encode_id, resolve_id, resolve_ids
from crossdock.db import models as m
from crossdock.errors import UserError
from crossdock.providers import DocumentFormat
from crossdock.services.documents import labels_missing, pick_list_shipments

__all__ = ["Query"]


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("orders:read"),
        description="The labels of some shipments (`shipmentIds`, in that order) or of a "
        "warehouse's packed, labelled shipments in pick order (`warehouseId`), as one PDF or "
        "one ZPL stream to download; name one of the two.",
    )
    async def label_batch(
        self,
        info: Info[Any, Any],
        format: DocumentFormat,
        shipment_ids: list[strawberry.ID] | None = None,
        warehouse_id: strawberry.ID | None = None,
    ) -> LabelBatch:
        if format not in BATCH_FORMATS:
            raise UserError("labels are printed as PDF or ZPL", field="format", code="INVALID")
        if (shipment_ids is None) == (warehouse_id is None):
            raise UserError("name either shipmentIds or warehouseId", field="shipmentIds", code="REQUIRED")
        async with state(info).read() as session:
            if shipment_ids is not None:
                if not 0 < len(shipment_ids) <= MAX_BATCH:
                    raise UserError(
                        f"name 1 to {MAX_BATCH} shipments", field="shipmentIds", code="OUT_OF_RANGE"
                    )
                ids = list(
                    dict.fromkeys(await resolve_ids(session, shipment_ids, m.Shipment, field="shipmentIds"))
                )
                url = labels_url(format, shipment_ids=ids)
            else:
                assert warehouse_id is not None
                warehouse = await resolve_id(session, warehouse_id, m.Warehouse, field="warehouseId")
                ids = await pick_list_shipments(session, warehouse)
                url = labels_url(format, warehouse_id=warehouse)
            missing = await labels_missing(session, ids, format)
        return LabelBatch(
            url=url,
            shipment_ids=[encode_id("Shipment", s) for s in ids],
            missing=[encode_id("Shipment", s) for s in missing],
        )
