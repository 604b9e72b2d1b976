"""A local ShipBob (one merchant), refusing what ShipBob refuses, with the kit's faults.

Endpoints: ``GET /1.0/channel``, ``GET /1.0/fulfillmentCenter``, ``GET/POST /1.0/product``,
``GET /1.0/inventory``, ``GET/POST /1.0/order``, ``GET/POST /2.0/receiving``,
``GET /2.0/receiving/{id}``. An order is created with one shipment (``Processing``, no
tracking); :meth:`ShipBobEmulator.ship` completes it with a carrier and tracking number and
bumps the order's last update, which ``GET /1.0/order`` filters on (``LastUpdateStartDate``,
``LastUpdateEndDate``, ``StartDate``, ``EndDate``, ``HasTracking``, ``ReferenceIds``). Lists
page with ``Page`` (from 1) and ``Limit`` and say there is more with a ``next-page`` header
(plus ``page-number``, ``total-pages``, ``total-count``), as ShipBob's FAQ and OpenAPI
document describe.

What it refuses (the wording is this emulator's; the shapes are ShipBob's): no or an unknown
bearer token (401, empty body); a ``shipbob_channel_id`` header that is not a number or not
one of the token's channels (403), and a write that requires the header without it (400);
``Limit`` outside 1..250 on the 1.0 listings (400, ``{"Limit": [...]}``); a product without
``reference_id`` or ``name``, or whose reference id the channel has (422); a WRO without
fulfillment center, package types, expected arrival date or boxes, at a fulfillment center
the merchant cannot use, with an unknown inventory id or a quantity below 1 (422, or 400
for a body that is not JSON); an order without ``reference_id``, ``shipping_method``,
recipient name, ``address1``, ``city`` or ``country``, with no products, a product whose
reference id is unknown (and no ``name`` to create it by), a quantity below 1, or a
``reference_id`` the channel has used (422); a date filter that is not an ISO 8601 time or
a ``HasTracking`` that is not a boolean (400, ``{"LastUpdateStartDate": [...]}``).
Throttling answers 429 with ``x-retry-after``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crossdock.testing.emulator import Emulator, Faults, Reply, Request

__all__ = ["FULFILLMENT_CENTERS", "ShipBobEmulator"]

#: The merchant's fulfillment centers (ids and names from ShipBob's own examples).
FULFILLMENT_CENTERS: dict[int, dict[str, Any]] = {
    10: {
        "id": 10,
        "name": "Cicero (IL)",
        "timezone": "Central Standard Time",
        "city": "Cicero",
        "state": "IL",
    },
    228: {
        "id": 228,
        "name": "Moreno Valley (CA)",
        "timezone": "Pacific Standard Time",
        "city": "Moreno Valley",
        "state": "CA",
    },
}
DEFAULT_FULFILLMENT_CENTER = 10
MAX_LIMIT = 250
PACKAGE_TYPES = ("Package", "Pallet", "FloorLoadedContainer")
BOX_PACKAGING_TYPES = ("EverythingInOneBox", "OneSkuPerBox", "MultipleSkuPerBox")


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


@dataclass
class _Inventory:
    id: int
    name: str
    fulfillable: int = 0
    committed: int = 0
    awaiting: int = 0
    onhand: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_active": True,
            "is_digital": False,
            "is_case_pick": False,
            "is_lot": False,
            "total_fulfillable_quantity": self.fulfillable,
            "total_onhand_quantity": self.onhand,
            "total_committed_quantity": self.committed,
            "total_sellable_quantity": self.fulfillable,
            "total_awaiting_quantity": self.awaiting,
            "total_exception_quantity": 0,
            "total_internal_transfer_quantity": 0,
            "total_backordered_quantity": 0,
            "fulfillable_quantity_by_fulfillment_center": [],
            "fulfillable_quantity_by_lot": [],
        }


@dataclass
class _Product:
    id: int
    reference_id: str
    name: str
    sku: str | None
    channel: int
    inventory: _Inventory

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference_id": self.reference_id,
            "name": self.name,
            "sku": self.sku,
            "channel": {"id": self.channel, "name": f"channel {self.channel}"},
            "fulfillable_inventory_items": [
                {"id": self.inventory.id, "name": self.inventory.name, "quantity": 1}
            ],
            "total_fulfillable_quantity": self.inventory.fulfillable,
            "total_onhand_quantity": self.inventory.onhand,
            "total_committed_quantity": self.inventory.committed,
        }


@dataclass
class _Wro:
    id: int
    purchase_order_number: str | None
    fulfillment_center: int
    expected_arrival_date: str
    package_type: str
    box_packaging_type: str
    #: inventory id -> [expected, received, stowed]
    quantities: dict[int, list[int]]
    inserted: datetime
    updated: datetime
    status: str = "Awaiting"


@dataclass
class _Shipment:
    id: int
    created: datetime
    updated: datetime
    status: str = "Processing"
    carrier: str | None = None
    tracking_number: str | None = None
    shipped: datetime | None = None
    #: (sku, quantity) in this parcel; None: the whole order
    lines: list[tuple[str, int]] | None = None


@dataclass
class _Order:
    id: int
    reference_id: str
    channel: int
    body: dict[str, Any]
    lines: list[tuple[str, int]]
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    shipments: list[_Shipment] = field(default_factory=list)


@dataclass
class _Scripted:
    status: int
    retry_after: float | None


class ShipBobEmulator(Emulator):
    """One emulated ShipBob merchant: tokens and channels, products and their inventory
    items, WROs and orders."""

    name = "shipbob"
    #: ShipBob has no sites; the emulator hook asks every emulator for one
    default_site = "US"

    def __init__(self, faults: Faults | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(faults)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tokens: dict[str, set[int]] = {}
        self.products: list[_Product] = []
        self.inventory: dict[int, _Inventory] = {}
        self.wros: dict[int, _Wro] = {}
        self.orders_placed: list[_Order] = []
        #: every request to the API, as it arrived (for protocol tests)
        self.log: list[Request] = []
        self._scripted: list[_Scripted] = []
        self._ids = 1000
        self.route("GET", "/1.0/channel", self._channels)
        self.route("GET", "/1.0/fulfillmentCenter", self._centers)
        self.route("GET", "/1.0/product", self._list_products)
        self.route("POST", "/1.0/product", self._create_product)
        self.route("GET", "/1.0/inventory", self._list_inventory)
        self.route("GET", "/1.0/order", self._list_orders)
        self.route("POST", "/1.0/order", self._create_order)
        self.route("GET", "/2.0/receiving", self._list_wros)
        self.route("POST", "/2.0/receiving", self._create_wro)
        self.route_pattern("GET", r"/2\.0/receiving/(\d+)", self._get_wro)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # ------------------------------------------------------------ merchant side (WarehouseEmulator)

    def open_account(self) -> dict[str, Any]:
        """A Personal Access Token with one channel of its own: the credentials."""
        token = secrets.token_urlsafe(24)
        channel = self._next_id()
        self.tokens[token] = {channel}
        return {"token": token, "channel_id": str(channel)}

    def _product_for(self, sku: str, channel: int | None = None) -> _Product:
        for product in self.products:
            if product.sku == sku or product.reference_id == sku:
                return product
        inventory = _Inventory(self._next_id(), sku)
        self.inventory[inventory.id] = inventory
        product = _Product(self._next_id(), sku, sku, sku, channel or 0, inventory)
        self.products.append(product)
        return product

    def set_stock(
        self, sku: str, on_hand: int, *, reserved: int = 0, inbound: int = 0, unsellable: int = 0
    ) -> None:
        """ShipBob holds ``on_hand`` fulfillable units of ``sku`` (a product of that SKU is
        made when there is none), ``reserved`` committed to orders, ``inbound`` awaited on
        WROs, and ``unsellable`` on hand that is neither (so on hand is their sum)."""
        item = self._product_for(sku).inventory
        item.fulfillable, item.committed, item.awaiting = on_hand, reserved, inbound
        item.onhand = on_hand + reserved + unsellable

    def _sku(self, inventory_id: int) -> str:
        for product in self.products:
            if product.inventory.id == inventory_id:
                return product.sku or product.reference_id
        return str(inventory_id)

    def inbounds(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {
            wro.purchase_order_number or str(wro.id): [
                (self._sku(i), q[0]) for i, q in wro.quantities.items()
            ]
            for wro in self.wros.values()
        }

    def receive(self, reference: str, lines: Mapping[str, tuple[int, int]]) -> None:
        """The WRO ``reference`` is counted and closed: per SKU ``received`` units stowed and
        ``damaged`` counted but not stowed (``received_quantity`` is both)."""
        (wro,) = [w for w in self.wros.values() if w.purchase_order_number == reference]
        for sku, (good, damaged) in lines.items():
            inventory_id = self._product_for(sku).inventory.id
            row = wro.quantities.setdefault(inventory_id, [0, 0, 0])
            row[1], row[2] = good + damaged, good
            item = self.inventory[inventory_id]
            item.awaiting = max(0, item.awaiting - row[0])
            item.fulfillable += good
            item.onhand += good + damaged
        wro.status = "Completed"
        wro.updated = self.clock()

    def orders(self) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {order.reference_id: list(order.lines) for order in self.orders_placed}

    def ship(self, reference: str, *, carrier: str, tracking_number: str) -> None:
        """The order handed over as ``reference`` leaves in full: its open shipment is
        ``Completed`` with the carrier and tracking number (fulfilled now), and the order is
        updated now."""
        (order,) = [o for o in self.orders_placed if o.reference_id == reference]
        now = self.clock()
        shipment = next((s for s in order.shipments if s.status == "Processing"), None)
        if shipment is None:
            shipment = _Shipment(self._next_id(), now, now)
            order.shipments.append(shipment)
        shipment.status, shipment.carrier, shipment.tracking_number = "Completed", carrier, tracking_number
        shipment.shipped = shipment.updated = order.updated = now

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        self._scripted += [_Scripted(status, retry_after) for _ in range(count)]

    # ------------------------------------------------------------ wire

    def error_body(self, status: int, code: str, message: str) -> Any:
        if status in (400, 422):
            return {code: [message]}
        if status == 404:
            return {
                "type": "https://tools.ietf.org/html/rfc7231#section-6.5.4",
                "title": message,
                "status": 404,
            }
        if status in (401, 403):
            return b""
        return {"statusCode": status, "message": message}

    def _refuse(self, field_name: str, message: str, status: int = 422) -> Reply:
        return self.error(status, field_name, message)

    async def _fault(self, request: Request) -> Reply | None:
        self.log.append(request)
        if self._scripted:
            scripted = self._scripted.pop(0)
            headers: dict[str, str] = {}
            if scripted.retry_after is not None:
                headers = {"x-retry-after": f"{scripted.retry_after:g}", "x-remaining-calls": "0"}
            words = (
                f"Rate limit is exceeded. Try again in {scripted.retry_after or 60:g} seconds."
                if scripted.status == 429
                else "An error occurred while processing your request."
            )
            return self.error(scripted.status, "server_error", words, headers)
        reply = await super()._fault(request)
        if reply is not None and reply.status == 429:
            reply.headers["x-retry-after"] = reply.headers.pop("Retry-After", "1")
        return reply

    def _auth(self, request: Request, *, channel_required: bool = False) -> int | Reply | None:
        """The channel the request acts for (None: no header), or the refusal."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return self.error(401, "unauthorized", "")
        channels = self.tokens[token.strip()]
        raw = request.headers.get("shipbob_channel_id")
        if raw is None:
            if channel_required:
                return self._refuse("shipbob_channel_id", "The shipbob_channel_id header is required.", 400)
            return None
        if not raw.strip().isdigit() or int(raw) not in channels:
            return self.error(403, "forbidden", "")
        return int(raw)

    def _paging(self, request: Request, *, limit_max: int | None = MAX_LIMIT) -> tuple[int, int] | Reply:
        try:
            page = int(request.query.get("Page", "1"))
            limit = int(request.query.get("Limit", "50"))
        except ValueError:
            return self._refuse("Limit", "Page and Limit are whole numbers.", 400)
        if limit < 1 or (limit_max is not None and limit > limit_max):
            return self._refuse("Limit", f"The field Limit must be between 1 and {limit_max}.", 400)
        if page < 0:
            return self._refuse("Page", "The field Page must be between 0 and 2147483647.", 400)
        return max(page, 1), limit

    def _paged(self, rows: Sequence[Any], page: int, limit: int, path: str) -> Reply:
        chunk, following = self.page(rows, (page - 1) * limit, limit)
        total_pages = max(1, -(-len(rows) // limit))
        headers = {
            "page-number": str(page),
            "total-pages": str(total_pages),
            "total-count": str(len(rows)),
        }
        if following is not None:
            headers["next-page"] = f"{path}?Page={page + 1}&Limit={limit}"
        return Reply(200, chunk, headers)

    @staticmethod
    def _body(request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(request.body or b"")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    def _time_filter(self, request: Request, name: str) -> datetime | Reply | None:
        """A ``date-time`` query parameter as aware UTC (None: not given), or the 400."""
        raw = request.query.get(name)
        if raw is None or not raw.strip():
            return None
        text = raw.strip()
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            return self._refuse(name, f"The value '{raw}' is not valid for {name}.", 400)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    # ------------------------------------------------------------ channels, centers

    async def _channels(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        token = request.headers["authorization"].partition(" ")[2].strip()
        return Reply(
            200,
            [
                {"id": c, "name": f"Crossdock {c}", "application_name": "Crossdock", "scopes": []}
                for c in sorted(self.tokens[token])
            ],
        )

    async def _centers(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        return Reply(200, list(FULFILLMENT_CENTERS.values()))

    # ------------------------------------------------------------ products, inventory

    async def _list_products(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        paging = self._paging(request)
        if isinstance(paging, Reply):
            return paging
        rows = [p.view() for p in sorted(self.products, key=lambda p: p.id)]
        wanted = request.query.get("ReferenceIds")
        if wanted:
            refs = set(wanted.split(","))
            rows = [r for r in rows if r["reference_id"] in refs]
        return self._paged(rows, *paging, "/1.0/product")

    async def _create_product(self, request: Request) -> Reply:
        who = self._auth(request, channel_required=True)
        if isinstance(who, Reply):
            return who
        body = self._body(request)
        if body is None:
            return self._refuse("", "A non-empty request body is required.", 400)
        reference, name = body.get("reference_id"), body.get("name")
        if not isinstance(reference, str) or not reference.strip():
            return self._refuse("reference_id", "The ReferenceId field is required.")
        if not isinstance(name, str) or not name.strip():
            return self._refuse("name", "The Name field is required.")
        if any(p.reference_id == reference and p.channel == who for p in self.products):
            return self._refuse("reference_id", f"A product with reference id '{reference}' already exists.")
        inventory = _Inventory(self._next_id(), name)
        self.inventory[inventory.id] = inventory
        sku = body.get("sku") if isinstance(body.get("sku"), str) else None
        product = _Product(self._next_id(), reference, name, sku, int(who or 0), inventory)
        self.products.append(product)
        return Reply(200, product.view())

    async def _list_inventory(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        paging = self._paging(request)
        if isinstance(paging, Reply):
            return paging
        rows = [item.view() for _, item in sorted(self.inventory.items())]
        return self._paged(rows, *paging, "/1.0/inventory")

    # ------------------------------------------------------------ receiving

    def _wro_view(self, wro: _Wro) -> dict[str, Any]:
        return {
            "id": wro.id,
            "purchase_order_number": wro.purchase_order_number,
            "status": wro.status,
            "expected_arrival_date": wro.expected_arrival_date,
            "insert_date": _stamp(wro.inserted),
            "last_updated_date": _stamp(wro.updated),
            "package_type": wro.package_type,
            "box_packaging_type": wro.box_packaging_type,
            "box_labels_uri": f"/2.0/receiving/{wro.id}/labels",
            "fulfillment_center": FULFILLMENT_CENTERS[wro.fulfillment_center],
            "inventory_quantities": [
                {
                    "inventory_id": inv,
                    "sku": self._sku(inv),
                    "expected_quantity": q[0],
                    "received_quantity": q[1],
                    "stowed_quantity": q[2],
                }
                for inv, q in wro.quantities.items()
            ],
        }

    async def _list_wros(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        paging = self._paging(request, limit_max=None)
        if isinstance(paging, Reply):
            return paging
        wros = sorted(self.wros.values(), key=lambda w: w.id)
        if request.query.get("PurchaseOrderNumbers"):
            numbers = set(request.query["PurchaseOrderNumbers"].split(","))
            wros = [w for w in wros if w.purchase_order_number in numbers]
        if request.query.get("Statuses"):
            statuses = set(request.query["Statuses"].split(","))
            wros = [w for w in wros if w.status in statuses]
        start = self._time_filter(request, "InsertStartDate")
        if isinstance(start, Reply):
            return start
        if start is not None:
            wros = [w for w in wros if w.inserted >= start]
        return self._paged([self._wro_view(w) for w in wros], *paging, "/2.0/receiving")

    async def _get_wro(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        wro = self.wros.get(int(request.args[0]))
        if wro is None:
            return self.error(404, "not_found", "Not Found")
        return Reply(200, self._wro_view(wro))

    async def _create_wro(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        body = self._body(request)
        if body is None:
            return self._refuse("", "A non-empty request body is required.", 400)
        center = body.get("fulfillment_center")
        if not isinstance(center, dict) or not isinstance(center.get("id"), int):
            return self._refuse("fulfillment_center", "The FulfillmentCenter field is required.")
        if center["id"] not in FULFILLMENT_CENTERS:
            return self._refuse(
                "fulfillment_center.id", f"Fulfillment center {center['id']} is not available."
            )
        if body.get("package_type") not in PACKAGE_TYPES:
            return self._refuse("package_type", "The PackageType field is required.")
        if body.get("box_packaging_type") not in BOX_PACKAGING_TYPES:
            return self._refuse("box_packaging_type", "The BoxPackagingType field is required.")
        arrival = body.get("expected_arrival_date")
        if not isinstance(arrival, str) or not arrival:
            return self._refuse("expected_arrival_date", "The ExpectedArrivalDate field is required.")
        boxes = body.get("boxes")
        if not isinstance(boxes, list) or not boxes:
            return self._refuse("boxes", "At least one box is required.")
        quantities: dict[int, list[int]] = {}
        for b, box in enumerate(boxes):
            items = box.get("box_items") if isinstance(box, dict) else None
            if not isinstance(items, list) or not items:
                return self._refuse(f"boxes[{b}].box_items", "At least one box item is required.")
            for i, item in enumerate(items):
                where = f"boxes[{b}].box_items[{i}]"
                inventory_id, quantity = item.get("inventory_id"), item.get("quantity")
                if not isinstance(inventory_id, int) or inventory_id not in self.inventory:
                    return self._refuse(
                        f"{where}.inventory_id", f"Inventory item {inventory_id} was not found."
                    )
                if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                    return self._refuse(f"{where}.quantity", "The quantity must be greater than 0.")
                quantities.setdefault(inventory_id, [0, 0, 0])[0] += quantity
        now = self.clock()
        number = body.get("purchase_order_number")
        wro = _Wro(
            id=self._next_id(),
            purchase_order_number=number if isinstance(number, str) else None,
            fulfillment_center=center["id"],
            expected_arrival_date=arrival,
            package_type=body["package_type"],
            box_packaging_type=body["box_packaging_type"],
            quantities=quantities,
            inserted=now,
            updated=now,
        )
        self.wros[wro.id] = wro
        for inventory_id, row in quantities.items():
            self.inventory[inventory_id].awaiting += row[0]
        return Reply(201, self._wro_view(wro))

    # ------------------------------------------------------------ orders

    def _shipment_view(self, order: _Order, shipment: _Shipment) -> dict[str, Any]:
        tracking = None
        if shipment.tracking_number is not None:
            tracking = {
                "carrier": shipment.carrier,
                "carrier_service": order.body.get("shipping_method"),
                "tracking_number": shipment.tracking_number,
                "tracking_url": f"https://tracking.example.com/{shipment.tracking_number}",
                "shipping_date": _stamp(shipment.shipped) if shipment.shipped else None,
            }
        products = []
        for sku, quantity in shipment.lines if shipment.lines is not None else order.lines:
            product = next((p for p in self.products if p.reference_id == sku), None)
            products.append(
                {
                    "id": product.id if product else 0,
                    "reference_id": sku,
                    "sku": product.sku if product else sku,
                    "name": product.name if product else sku,
                    "inventory_items": [
                        {
                            "id": product.inventory.id if product else 0,
                            "name": product.inventory.name if product else sku,
                            "quantity": quantity,
                        }
                    ],
                }
            )
        return {
            "id": shipment.id,
            "order_id": order.id,
            "reference_id": order.reference_id,
            "status": shipment.status,
            "created_date": _stamp(shipment.created),
            "last_update_at": _stamp(shipment.updated),
            "actual_fulfillment_date": _stamp(shipment.shipped) if shipment.shipped else None,
            "location": FULFILLMENT_CENTERS[DEFAULT_FULFILLMENT_CENTER],
            "ship_option": order.body.get("shipping_method"),
            "tracking": tracking,
            "products": products,
        }

    def _order_view(self, order: _Order) -> dict[str, Any]:
        shipped = [s for s in order.shipments if s.status == "Completed"]
        status = "Processing"
        if shipped:
            status = "Fulfilled" if len(shipped) == len(order.shipments) else "PartiallyFulfilled"
        return {
            "id": order.id,
            "reference_id": order.reference_id,
            "order_number": order.body.get("order_number") or order.reference_id,
            "status": status,
            "created_date": _stamp(order.created),
            "channel": {"id": order.channel, "name": f"channel {order.channel}"},
            "shipping_method": order.body.get("shipping_method"),
            "recipient": order.body.get("recipient"),
            "products": [{"reference_id": sku, "quantity": qty} for sku, qty in order.lines],
            "shipments": [self._shipment_view(order, s) for s in order.shipments],
        }

    async def _list_orders(self, request: Request) -> Reply:
        who = self._auth(request)
        if isinstance(who, Reply):
            return who
        paging = self._paging(request, limit_max=None)
        if isinstance(paging, Reply):
            return paging
        orders = [o for o in self.orders_placed if who is None or o.channel == who]
        if request.query.get("ReferenceIds"):
            refs = set(request.query["ReferenceIds"].split(","))
            orders = [o for o in orders if o.reference_id in refs]
        bounds: dict[str, datetime | None] = {}
        for name in ("StartDate", "EndDate", "LastUpdateStartDate", "LastUpdateEndDate"):
            when = self._time_filter(request, name)
            if isinstance(when, Reply):
                return when
            bounds[name] = when
        for name, pick, later in (
            ("StartDate", "created", True),
            ("EndDate", "created", False),
            ("LastUpdateStartDate", "updated", True),
            ("LastUpdateEndDate", "updated", False),
        ):
            bound = bounds[name]
            if bound is not None:
                orders = [
                    o for o in orders if (getattr(o, pick) >= bound if later else getattr(o, pick) <= bound)
                ]
        tracked = request.query.get("HasTracking")
        if tracked is not None:
            if tracked.lower() not in ("true", "false"):
                words = f"The value '{tracked}' is not valid for HasTracking."
                return self._refuse("HasTracking", words, 400)
            want = tracked.lower() == "true"
            orders = [o for o in orders if any(s.tracking_number for s in o.shipments) is want]
        return self._paged([self._order_view(o) for o in orders], *paging, "/1.0/order")

    async def _create_order(self, request: Request) -> Reply:
        who = self._auth(request, channel_required=True)
        if isinstance(who, Reply):
            return who
        assert who is not None
        body = self._body(request)
        if body is None:
            return self._refuse("", "A non-empty request body is required.", 400)
        reference = body.get("reference_id")
        if not isinstance(reference, str) or not reference.strip():
            return self._refuse("reference_id", "The ReferenceId field is required.")
        if not isinstance(body.get("shipping_method"), str) or not body["shipping_method"].strip():
            return self._refuse("shipping_method", "The ShippingMethod field is required.")
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("name"):
            return self._refuse("recipient.name", "The Name field is required.")
        address = recipient.get("address")
        if not isinstance(address, dict):
            return self._refuse("recipient.address", "The Address field is required.")
        for key, label in (("address1", "Address1"), ("city", "City"), ("country", "Country")):
            if not isinstance(address.get(key), str) or not address[key].strip():
                return self._refuse(f"recipient.address.{key}", f"The {label} field is required.")
        products = body.get("products")
        if not isinstance(products, list) or not products:
            return self._refuse("products", "At least one product is required.")
        lines: list[tuple[str, int]] = []
        for i, line in enumerate(products):
            ref, quantity = line.get("reference_id"), line.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                return self._refuse(f"products[{i}].quantity", "The quantity must be greater than 0.")
            known = any(p.reference_id == ref for p in self.products)
            if not known:
                if not isinstance(line.get("name"), str) or not line["name"]:
                    return self._refuse(
                        f"products[{i}].name",
                        f"No product with reference id '{ref}' exists; a name is required to create it.",
                    )
                self._product_for(str(ref), who)
            lines.append((str(ref), quantity))
        if any(o.reference_id == reference and o.channel == who for o in self.orders_placed):
            return self._refuse("reference_id", f"An order with reference id '{reference}' already exists.")
        now = self.clock()
        order = _Order(self._next_id(), reference, who, body, lines, created=now, updated=now)
        order.shipments.append(_Shipment(self._next_id(), now, now))
        self.orders_placed.append(order)
        return Reply(201, self._order_view(order))
