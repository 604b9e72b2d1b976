"""ShipBob as a Crossdock warehouse system.

* Stock: ``GET /1.0/product`` (SKU -> inventory item) joined with ``GET /1.0/inventory``
  (the quantities), both paged with ``Page``/``Limit`` (at most 250) until ShipBob stops
  sending ``next-page``. ShipBob's 1.0 inventory item has no SKU: "Fetching products ...
  get the list of the product's inventory components ... reconcile product with
  inventory" (developer.shipbob.com/v1.0/guides/inventory).
* ASNs: a Warehouse Receiving Order, ``POST /2.0/receiving`` (1.0 is deprecated), the
  shipment's reference as ``purchase_order_number``; looked up first with
  ``GET /2.0/receiving?PurchaseOrderNumbers=`` so a retried push answers the WRO made before.
* Receipts: ``GET /2.0/receiving`` of the statuses that have counted something, whose
  ``last_updated_date`` is at or after ``since``; per SKU, ``stowed_quantity`` received
  sellable and ``received_quantity - stowed_quantity`` damaged once the WRO is final.
* Orders: ``POST /1.0/order`` with the order's reference as ``reference_id``; ShipBob keeps
  reference ids unique per channel, so a refusal is checked against
  ``GET /1.0/order?ReferenceIds=`` and answers the order already there.
* Shipments: ``GET /1.0/order?HasTracking=true&LastUpdateStartDate=`` on the account's
  channel (the polling approach of developer.shipbob.com/guides/tracking); one shipment per
  ``shipments[]`` entry that is ``Completed`` ("it has left ShipBob", status reference) and
  carries a tracking number, against the order's ``reference_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock import (
    InboundReceipt,
    InboundShipment,
    OutboundLine,
    OutboundOrder,
    OutboundShipment,
    ReceiptLine,
    StockLine,
    WarehouseAccount,
    WarehouseBase,
    WarehouseCapability,
)
from crossdock_wms_shipbob import __version__
from crossdock_wms_shipbob.client import (
    MAX_PAGE,
    MAX_PAGES,
    ShipBobError,
    ShipBobOptions,
    call,
    has_next_page,
    json_of,
    parse_time,
)

__all__ = ["FINAL_STATUSES", "ORDER_PAGE", "RECEIVING_STATUSES", "SHIPPED_STATUSES", "ShipBobWarehouse"]

#: WRO statuses (OpenAPI ``ReceivingStatus``) in which the warehouse has counted something.
RECEIVING_STATUSES = ("Arrived", "PartiallyArrived", "Processing", "Completed", "Incomplete")
#: ... and those after which nothing more is counted against the WRO.
FINAL_STATUSES = frozenset({"Completed", "Incomplete"})
#: WROs per page of ``GET /2.0/receiving`` (ShipBob documents no maximum there; this
#: plugin stays at the 1.0 listings' documented 250 and asks for less).
RECEIVING_PAGE = 50
#: Orders per page of ``GET /1.0/order`` (no maximum documented either).
ORDER_PAGE = 50
#: Shipment statuses (OpenAPI ``InternalShipment.status``) of a parcel that has left:
#: "Completed: the shipment has been fulfilled, i.e. it has left ShipBob" (status reference).
SHIPPED_STATUSES = frozenset({"Completed"})


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return 0


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _rows(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ShipBobError(f"shipbob answered {what} without a JSON list", code="MALFORMED", retryable=True)
    return [row for row in body if isinstance(row, dict)]


class ShipBobWarehouse(WarehouseBase):
    name = "shipbob"
    display_name = "ShipBob"
    version = __version__
    capabilities = frozenset(
        {
            WarehouseCapability.STOCK_PULL,
            WarehouseCapability.INBOUND_PUSH,
            WarehouseCapability.RECEIPTS_PULL,
            WarehouseCapability.ORDER_PUSH,
            WarehouseCapability.SHIPMENTS_PULL,
        }
    )

    # ------------------------------------------------------------ listings

    async def _pages(
        self, account: WarehouseAccount, options: ShipBobOptions, path: str, params: dict[str, Any], size: int
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            response = await call(
                account, options, "GET", path, params={**params, "Page": page, "Limit": size}
            )
            chunk = _rows(json_of(response), f"GET {path}")
            rows += chunk
            if not chunk or not has_next_page(response):
                break
        return rows

    async def _products(self, account: WarehouseAccount, options: ShipBobOptions) -> list[dict[str, Any]]:
        return await self._pages(account, options, "/1.0/product", {}, MAX_PAGE)

    @staticmethod
    def _sku_of(product: dict[str, Any]) -> str | None:
        """A product's SKU: its ``sku``, else its ``reference_id`` (what this plugin
        creates products under, and what most channels set to the SKU)."""
        for key in ("sku", "reference_id"):
            value = product.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    @staticmethod
    def _single_item(product: dict[str, Any]) -> int | None:
        """The inventory id of a product that is one unit of one inventory item (bundles
        and multipacks are not stock of their own: "inventory quantities in ShipBob are
        tracked at the component level, not at the bundle SKU level")."""
        items = product.get("fulfillable_inventory_items")
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            return None
        item = items[0]
        if _int(item.get("quantity", 1)) != 1 or not _int(item.get("id")):
            return None
        return _int(item["id"])

    def _sku_by_inventory(self, products: Iterable[dict[str, Any]]) -> dict[int, str]:
        """inventory id -> SKU; when two products of different SKUs share an inventory item
        (one good sold under two SKUs), the one of the lowest product id keeps it, so the
        same units are not reported twice."""
        found: dict[int, str] = {}
        for product in sorted(products, key=lambda p: _int(p.get("id"))):
            sku, inventory_id = self._sku_of(product), self._single_item(product)
            if sku is not None and inventory_id is not None:
                found.setdefault(inventory_id, sku)
        return found

    # ------------------------------------------------------------ stock

    async def pull_stock(self, account: WarehouseAccount) -> Sequence[StockLine]:
        options = ShipBobOptions.of(account)
        skus = self._sku_by_inventory(await self._products(account, options))
        items = await self._pages(account, options, "/1.0/inventory", {}, MAX_PAGE)
        lines: dict[str, StockLine] = {}
        for item in items:
            sku = skus.get(_int(item.get("id")))
            if sku is None or sku in lines or item.get("is_digital") is True:
                continue
            fulfillable = _int(item.get("total_fulfillable_quantity"))
            committed = _int(item.get("total_committed_quantity"))
            onhand = _int(item.get("total_onhand_quantity"))
            lines[sku] = StockLine(
                sku=sku,
                on_hand=max(0, fulfillable),
                reserved=max(0, committed),
                inbound=max(0, _int(item.get("total_awaiting_quantity"))),
                unsellable=max(0, onhand - fulfillable - committed),
            )
        return list(lines.values())

    # ------------------------------------------------------------ products

    async def _inventory_ids(
        self, account: WarehouseAccount, options: ShipBobOptions, skus: Sequence[str]
    ) -> dict[str, int]:
        """SKU -> inventory id for ``skus``: products by reference id first, then by their
        ``sku`` over the whole catalogue, then (``create_products``) ``POST /1.0/product``
        for the rest, as ShipBob's receiving guide has an integration do ("Check if
        products exist in ShipBob ... If the product doesn't exist, create it first")."""
        wanted = sorted(set(skus))
        for sku in wanted:
            if "," in sku:
                raise ShipBobError(
                    f"shipbob filters reference ids comma-separated; SKU {sku!r} holds a comma",
                    code="REFUSED",
                )
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 50):
            batch = wanted[start : start + 50]
            response = await call(
                account,
                options,
                "GET",
                "/1.0/product",
                params={"ReferenceIds": ",".join(batch), "Limit": MAX_PAGE, "Page": 1},
            )
            for product in _rows(json_of(response), "GET /1.0/product"):
                reference, inventory_id = product.get("reference_id"), self._single_item(product)
                if reference in batch and inventory_id is not None:
                    found.setdefault(str(reference), inventory_id)
        missing = [sku for sku in wanted if sku not in found]
        if missing:
            for inventory_id, sku in self._sku_by_inventory(await self._products(account, options)).items():
                if sku in missing:
                    found.setdefault(sku, inventory_id)
            missing = [sku for sku in wanted if sku not in found]
        if missing and not options.create_products:
            raise ShipBobError(
                f"shipbob has no product for SKU {', '.join(missing)} (setting create_products is off)",
                code="REFUSED",
            )
        for sku in missing:
            response = await call(
                account,
                options,
                "POST",
                "/1.0/product",
                body={"reference_id": sku, "sku": sku, "name": sku},
                channel=True,
            )
            inventory_id = self._single_item(json_of(response))
            if inventory_id is None:
                raise ShipBobError(
                    f"shipbob created product {sku!r} without an inventory item",
                    code="MALFORMED",
                    retryable=True,
                )
            found[sku] = inventory_id
        return found

    # ------------------------------------------------------------ inbound

    async def _wros(
        self, account: WarehouseAccount, options: ShipBobOptions, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await self._pages(account, options, "/2.0/receiving", params, RECEIVING_PAGE)

    async def push_inbound(self, account: WarehouseAccount, shipment: InboundShipment) -> str:
        options = ShipBobOptions.of(account)
        if options.fulfillment_center_id is None:
            raise ShipBobError(
                "shipbob needs the fulfillment center to receive at: setting fulfillment_center_id "
                "(GET /1.0/fulfillmentCenter lists them)",
                code="CONFIG",
            )
        if not shipment.lines:
            raise ShipBobError("shipbob: a receiving order needs at least one line", code="REFUSED")
        known = [
            wro
            for wro in await self._wros(account, options, {"PurchaseOrderNumbers": shipment.reference})
            if wro.get("purchase_order_number") == shipment.reference and wro.get("status") != "Cancelled"
        ]
        if known:
            return str(min(_int(w.get("id")) for w in known))
        ids = await self._inventory_ids(account, options, [line.sku for line in shipment.lines])
        quantities: dict[int, int] = {}
        for line in shipment.lines:
            quantities[ids[line.sku]] = quantities.get(ids[line.sku], 0) + int(line.quantity)
        box: dict[str, Any] = {
            "box_items": [{"inventory_id": inv, "quantity": qty} for inv, qty in quantities.items()],
        }
        if shipment.tracking_number:
            box["tracking_number"] = shipment.tracking_number
        due = shipment.expected_on or (datetime.now(UTC) + timedelta(days=7)).date()
        body = {
            "fulfillment_center": {"id": options.fulfillment_center_id},
            "package_type": options.package_type,
            "box_packaging_type": options.box_packaging_type,
            "boxes": [box],
            "expected_arrival_date": f"{due.isoformat()}T00:00:00+00:00",
            "purchase_order_number": shipment.reference,
        }
        response = await call(account, options, "POST", "/2.0/receiving", body=body)
        created = json_of(response)
        wro_id = _int(created.get("id")) if isinstance(created, dict) else 0
        if not wro_id:
            raise ShipBobError(
                "shipbob created a receiving order without an id", code="MALFORMED", retryable=True
            )
        return str(wro_id)

    # ------------------------------------------------------------ receipts

    async def pull_receipts(self, account: WarehouseAccount, since: datetime) -> Sequence[InboundReceipt]:
        options = ShipBobOptions.of(account)
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        inserted_after = since - timedelta(days=options.receipts_lookback_days)
        wros = await self._wros(
            account,
            options,
            {
                "Statuses": ",".join(RECEIVING_STATUSES),
                "InsertStartDate": inserted_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        receipts: list[tuple[datetime, InboundReceipt]] = []
        seen: set[int] = set()
        for wro in wros:
            wro_id, reference = _int(wro.get("id")), wro.get("purchase_order_number")
            status = wro.get("status")
            if (
                wro_id in seen
                or not isinstance(reference, str)
                or not reference
                or status not in RECEIVING_STATUSES
            ):
                continue
            seen.add(wro_id)
            updated = parse_time(wro.get("last_updated_date"))
            if updated is None or updated < since:
                continue
            final = status in FINAL_STATUSES
            lines: dict[str, ReceiptLine] = {}
            for row in wro.get("inventory_quantities") or []:
                if not isinstance(row, dict) or not isinstance(row.get("sku"), str):
                    continue
                counted = max(0, _int(row.get("received_quantity")))
                stowed = max(0, _int(row.get("stowed_quantity")))
                damaged = max(0, counted - stowed) if final else 0
                previous = lines.get(row["sku"])
                lines[row["sku"]] = ReceiptLine(
                    row["sku"],
                    stowed + (previous.received if previous else 0),
                    damaged + (previous.damaged if previous else 0),
                )
            receipts.append(
                (
                    updated,
                    InboundReceipt(
                        reference=reference,
                        lines=list(lines.values()),
                        received_at=updated,
                        external_id=str(wro_id),
                        complete=final,
                    ),
                )
            )
        receipts.sort(key=lambda pair: pair[0])
        return [receipt for _, receipt in receipts]

    # ------------------------------------------------------------ orders

    async def _order_id(
        self, account: WarehouseAccount, options: ShipBobOptions, reference: str
    ) -> str | None:
        response = await call(
            account, options, "GET", "/1.0/order", params={"ReferenceIds": reference, "Page": 1, "Limit": 50}
        )
        ids = [
            _int(order.get("id"))
            for order in _rows(json_of(response), "GET /1.0/order")
            if order.get("reference_id") == reference and _int(order.get("id"))
        ]
        return str(min(ids)) if ids else None

    async def push_order(self, account: WarehouseAccount, order: OutboundOrder) -> str:
        options = ShipBobOptions.of(account)
        options.headers(channel=True)  # refuse early without a channel
        ids = await self._inventory_ids(account, options, [line.sku for line in order.lines])
        to = order.ship_to
        address: dict[str, Any] = {
            "address1": to.line1,
            "address2": to.line2,
            "city": to.city,
            "state": to.region,
            "zip_code": to.postal_code,
            "country": to.country,
            "company_name": to.company,
        }
        recipient: dict[str, Any] = {
            "name": to.name or to.company,
            "address": {k: v for k, v in address.items() if v},
            "email": to.email,
            "phone_number": to.phone,
        }
        quantities: dict[str, int] = {}
        for line in order.lines:
            quantities[line.sku] = quantities.get(line.sku, 0) + int(line.quantity)
        body = {
            "reference_id": order.reference,
            "order_number": order.reference,
            "shipping_method": order.service or options.shipping_method,
            "recipient": {k: v for k, v in recipient.items() if v},
            "products": [
                {"reference_id": sku, "sku": sku, "quantity": qty}
                for sku, qty in quantities.items()
                if sku in ids
            ],
        }
        try:
            response = await call(account, options, "POST", "/1.0/order", body=body, channel=True)
        except ShipBobError as refused:
            if refused.code != "REFUSED":
                raise
            existing = await self._order_id(account, options, order.reference)
            if existing is None:
                raise
            return existing
        created = json_of(response)
        order_id = _int(created.get("id")) if isinstance(created, dict) else 0
        if not order_id:
            raise ShipBobError("shipbob created an order without an id", code="MALFORMED", retryable=True)
        return str(order_id)

    # ------------------------------------------------------------ shipments

    @staticmethod
    def _shipped_lines(shipment: dict[str, Any]) -> list[OutboundLine]:
        """What one shipment of a split order holds: per product (``sku``, else
        ``reference_id``) the quantity of its inventory item; for a product of several items
        (a bundle) the smallest of their quantities (**our derivation**: a shipment's product
        carries no quantity of its own, only its items do)."""
        lines: dict[str, int] = {}
        for product in shipment.get("products") or []:
            if not isinstance(product, dict):
                continue
            sku = _text(product.get("sku")) or _text(product.get("reference_id"))
            items = [i for i in product.get("inventory_items") or [] if isinstance(i, dict)]
            quantity = min((_int(i.get("quantity")) for i in items), default=0)
            if sku is not None and quantity > 0:
                lines[sku] = lines.get(sku, 0) + quantity
        return [OutboundLine(sku, quantity) for sku, quantity in lines.items()]

    async def pull_shipments(self, account: WarehouseAccount, since: datetime) -> Sequence[OutboundShipment]:
        """The parcels of this channel's orders that have left ShipBob with a tracking
        number, of the orders ShipBob updated at or after ``since``, oldest first. An order
        updated again (a second parcel of a split order, a carrier event) reports its parcels
        again; the core recognises them by reference and tracking number."""
        options = ShipBobOptions.of(account)
        options.headers(channel=True)  # only the channel's orders are the ones handed over
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        orders = await self._pages(
            account,
            options,
            "/1.0/order",
            {"HasTracking": "true", "LastUpdateStartDate": since.strftime("%Y-%m-%dT%H:%M:%SZ")},
            ORDER_PAGE,
        )
        found: list[tuple[datetime, int, OutboundShipment]] = []
        seen: set[int] = set()
        for order in orders:
            reference = _text(order.get("reference_id"))
            channel = order.get("channel")
            channel_id = _int(channel.get("id")) if isinstance(channel, dict) else 0
            if reference is None or (channel_id and str(channel_id) != options.channel_id):
                continue
            parcels = [
                s
                for s in order.get("shipments") or []
                if isinstance(s, dict) and s.get("status") != "Cancelled"
            ]
            for shipment in parcels:
                shipment_id = _int(shipment.get("id"))
                tracking = shipment.get("tracking")
                if (
                    (shipment_id and shipment_id in seen)
                    or shipment.get("status") not in SHIPPED_STATUSES
                    or not isinstance(tracking, dict)
                ):
                    continue
                number, carrier = _text(tracking.get("tracking_number")), _text(tracking.get("carrier"))
                if number is None:
                    continue  # no tracking yet: reported once ShipBob has it
                seen.add(shipment_id)
                shipped_at = parse_time(shipment.get("actual_fulfillment_date")) or parse_time(
                    tracking.get("shipping_date")
                )
                found.append(
                    (
                        shipped_at or parse_time(shipment.get("last_update_at")) or since,
                        shipment_id,
                        OutboundShipment(
                            reference=reference,
                            carrier=carrier or "",
                            tracking_number=number,
                            shipped_at=shipped_at,
                            lines=self._shipped_lines(shipment) if len(parcels) > 1 else (),
                            external_id=str(shipment_id) if shipment_id else None,
                        ),
                    )
                )
        found.sort(key=lambda row: (row[0], row[1]))
        return [shipment for _, _, shipment in found]
