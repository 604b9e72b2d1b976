"""Hostile and malformed input, case by case: every one gets a typed error (never HTTP 500,
never ``INTERNAL_SERVER_ERROR``) and writes nothing.

Each case is one request as a client could send it; it names the code it must get. Bodies
the GraphQL layer cannot even read get HTTP 400 with a JSON GraphQL error; values the
schema's scalars refuse get a GraphQL error with the code; values the services or the
columns refuse get ``userErrors`` on the field.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, text

from crossdock.db.base import Base
from crossdock.db.models import Connection, Listing, Variant
from crossdock.services import fulfilment

BIG = 2**63  # one past PostgreSQL's BIGINT (and SQLite's INTEGER)


def gid(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def cursor(pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"cursor:{pk}".encode()).decode().rstrip("=")


Ids = dict[str, str]


@dataclass
class Case:
    name: str
    code: str
    #: GraphQL document and variables (from the seeded ids) ...
    query: str = ""
    variables: Callable[[Ids], dict[str, Any]] = lambda ids: {}
    #: ... or a raw request body
    body: Callable[[Ids], bytes] | None = None
    status: int = 200
    #: the userErrors field, when the failure is reported on a mutation's payload
    field: list[str] | None = None
    backends: tuple[str, ...] = ("sqlite", "postgresql")


def _raw(query: str, variables: str) -> bytes:
    return ('{"query": %s, "variables": %s}' % (json.dumps(query), variables)).encode()


PRODUCT_CREATE = (
    "mutation($t: String!) { productCreate(input: {title: $t}) { product { id } userErrors { code field } } }"
)
SETTINGS = "mutation($id: ID!, $s: JSON) { connectionUpdate(input: {id: $id, settings: $s}) { userErrors { code field } } }"
LISTING = (
    "mutation($c: ID!, $v: ID!, $sku: String!, $share: Decimal, $price: MoneyInput) {"
    " listingCreate(input: {connectionId: $c, variantId: $v, channelSku: $sku, atsShare: $share, price: $price})"
    " { listing { id } userErrors { code field } } }"
)
RECEIVE = (
    "mutation($v: ID!, $w: ID!, $q: Int!, $r: String) { stockReceive(input: {variantId: $v, warehouseId: $w,"
    " quantity: $q, reference: $r}) { stockLevel { onHand } userErrors { code field } } }"
)
ADJUST = (
    "mutation($v: ID!, $w: ID!, $d: Int!) { stockAdjust(input: {variantId: $v, warehouseId: $w, delta: $d,"
    ' note: "x"}) { stockLevel { onHand } userErrors { code field } } }'
)
RULE = "mutation($l: ID!, $m: Decimal) { priceRuleSet(input: {listingId: $l, targetMargin: $m}) { userErrors { code field } } }"
REFUND = 'mutation($o: ID!, $a: Decimal!) { refundRecord(input: {orderId: $o, amount: {amount: $a, currency: "SGD"}}) { userErrors { code field } } }'
SHIP = "mutation($id: ID!, $at: DateTime) { shipmentShip(input: {id: $id, shippedAt: $at}) { userErrors { code field } } }"
BACKFILL = "mutation($id: ID!, $since: DateTime!) { connectionBackfill(input: {id: $id, since: $since}) { userErrors { code field } } }"
SHIP_BY = "query($t: DateTime) { orders(filter: {shipByBefore: $t}) { nodes { id } } }"
FX = 'query($a: Decimal!, $d: Date) { fxConvert(amount: {amount: $a, currency: "EUR"}, to: "SGD", day: $d) { rate } }'
PROMOTION = (
    'mutation($s: LocalDateTime!, $e: LocalDateTime!) { promotionCreate(input: {name: "p", kind: PERCENT,'
    ' value: "10", startsAt: $s, endsAt: $e, timezone: "Pacific/Kiritimati"}) { userErrors { code field } } }'
)
NODE = "query($id: ID!) { node(id: $id) { id } }"


def listing(ids: Ids, **overrides: Any) -> dict[str, Any]:
    return {"c": ids["connection"], "v": ids["variant"], "sku": "NEW-1", **overrides}


CASES = [
    # -- the HTTP layer: bodies GraphQL cannot read --------------------------------------
    Case("body is a JSON string", "BAD_REQUEST", body=lambda ids: b'"hello"', status=400),
    Case("body is a JSON number", "BAD_REQUEST", body=lambda ids: b"5", status=400),
    Case("body is JSON null", "BAD_REQUEST", body=lambda ids: b"null", status=400),
    Case("body is a JSON array", "BAD_REQUEST", body=lambda ids: b"[]", status=400),
    Case("body is not JSON", "BAD_REQUEST", body=lambda ids: b'{"query": ', status=400),
    Case(
        "body is not UTF-8",
        "BAD_REQUEST",
        body=lambda ids: b'{"query": "{ viewer { tenantSlug } }", "variables": {"x": "\xff\xfe"}}',
        status=400,
    ),
    Case(
        "variables nested 50,000 deep",
        "BAD_REQUEST",
        body=lambda ids: _raw(
            SETTINGS, '{"id": "%s", "s": %s}' % (ids["connection"], "[" * 50_000 + "]" * 50_000)
        ),
        status=400,
    ),
    Case(
        "NaN is not JSON",
        "BAD_REQUEST",
        body=lambda ids: _raw(
            "query($h: Float!) { orders(filter: {sla: AT_RISK, slaWithinHours: $h}) { nodes { id } } }",
            '{"h": NaN}',
        ),
        status=400,
    ),
    Case("variables is not an object", "BAD_REQUEST", body=lambda ids: _raw(NODE, "5"), status=400),
    Case(
        "a subscription sent over POST",
        "BAD_REQUEST",
        query="subscription { events { id } }",
        status=400,
    ),
    # -- strings --------------------------------------------------------------------------
    Case(
        "NUL in a variable",
        "INVALID_STRING",
        body=lambda ids: _raw(PRODUCT_CREATE, '{"t": "a\\u0000b"}'),
        status=400,
    ),
    Case(
        "lone surrogate in a variable",
        "INVALID_STRING",
        body=lambda ids: _raw(PRODUCT_CREATE, '{"t": "a\\ud800b"}'),
        status=400,
    ),
    Case(
        "NUL in a document literal",
        "INVALID_STRING",
        query='mutation { productCreate(input: {title: "a\\u0000b"}) { userErrors { code } } }',
    ),
    Case(
        "string longer than its column (category, 64)",
        "TOO_LONG",
        query='mutation($c: String) { productCreate(input: {title: "t", category: $c}) { userErrors { code field } } }',
        variables=lambda ids: {"c": "C" * 65},
        field=["category"],
    ),
    Case(
        "string longer than its column (listing external id, 128)",
        "TOO_LONG",
        query="mutation($c: ID!, $v: ID!, $e: String) { listingCreate(input: {connectionId: $c, variantId: $v,"
        ' channelSku: "NEW-1", externalId: $e}) { userErrors { code field } } }',
        variables=lambda ids: {"c": ids["connection"], "v": ids["variant"], "e": "E" * 129},
        field=["externalId"],
    ),
    Case(
        "string longer than its column (ledger reference, 128)",
        "TOO_LONG",
        query=RECEIVE,
        variables=lambda ids: {"v": ids["variant"], "w": ids["warehouse"], "q": 1, "r": "R" * 129},
        field=["reference"],
    ),
    # -- ids and cursors ------------------------------------------------------------------
    Case("node id at 2^63", "INVALID_ID", query=NODE, variables=lambda ids: {"id": gid("Product", BIG)}),
    Case(
        "mutation id at 2^64",
        "INVALID_ID",
        query='mutation($id: ID!) { productUpdate(input: {id: $id, title: "x"}) { userErrors { code field } } }',
        variables=lambda ids: {"id": gid("Product", 2**64)},
        field=["id"],
    ),
    Case("negative id", "INVALID_ID", query=NODE, variables=lambda ids: {"id": gid("Product", -1)}),
    Case(
        "malformed id in a query is INVALID_ID as in a mutation",
        "INVALID_ID",
        query=NODE,
        variables=lambda ids: {"id": "%%%"},
    ),
    Case(
        "filter id at 2^63",
        "INVALID_ID",
        query="query($v: ID) { listings(filter: {variantId: $v}) { nodes { id } } }",
        variables=lambda ids: {"v": gid("Variant", BIG)},
    ),
    Case(
        "cursor at 2^63",
        "INVALID_CURSOR",
        query="query($c: String) { products(after: $c) { nodes { id } } }",
        variables=lambda ids: {"c": cursor(BIG)},
    ),
    Case(
        "cursor of 30 digits",
        "INVALID_CURSOR",
        query="query($c: String) { orders(after: $c) { nodes { id } } }",
        variables=lambda ids: {"c": cursor(10**30)},
    ),
    Case(
        "event cursor at 2^63",
        "INVALID_CURSOR",
        query='{ events(after: "9223372036854775808") { nodes { id } } }',
    ),
    # -- decimals -------------------------------------------------------------------------
    Case("NaN share", "INVALID_DECIMAL", query=LISTING, variables=lambda ids: listing(ids, share="NaN")),
    Case(
        "Infinity share",
        "INVALID_DECIMAL",
        query=LISTING,
        variables=lambda ids: listing(ids, share="Infinity"),
    ),
    Case(
        "1e30 margin", "INVALID_DECIMAL", query=RULE, variables=lambda ids: {"l": ids["listing"], "m": "1e30"}
    ),
    Case(
        "exponent abuse",
        "INVALID_DECIMAL",
        query=RULE,
        variables=lambda ids: {"l": ids["listing"], "m": "1e999999999"},
    ),
    Case(
        "a price rule's rate set to null",
        "REQUIRED",
        query="mutation($l: ID!) { priceRuleSet(input: {listingId: $l, commissionRate: null}) { userErrors { code field } } }",
        variables=lambda ids: {"l": ids["listing"]},
        field=["commissionRate"],
    ),
    Case(
        "price of 1e25",
        "INVALID_DECIMAL",
        query=LISTING,
        variables=lambda ids: listing(ids, price={"amount": "1e25", "currency": "SGD"}),
    ),
    Case(
        "price of 1e25 as a JSON number",
        "INVALID_DECIMAL",
        query=LISTING,
        variables=lambda ids: listing(ids, price={"amount": 1e25, "currency": "SGD"}),
    ),
    Case(
        "NaN refund", "INVALID_DECIMAL", query=REFUND, variables=lambda ids: {"o": ids["order"], "a": "NaN"}
    ),
    Case("-Infinity in a query", "INVALID_DECIMAL", query=FX, variables=lambda ids: {"a": "-Infinity"}),
    Case(
        "negative listing price",
        "OUT_OF_RANGE",
        query=LISTING,
        variables=lambda ids: listing(ids, price={"amount": "-5", "currency": "SGD"}),
        field=["price"],
    ),
    # -- datetimes ------------------------------------------------------------------------
    Case(
        "naive datetime in a mutation",
        "INVALID_DATETIME",
        query=SHIP,
        variables=lambda ids: {"id": ids["shipment"], "at": "2026-01-01T00:00:00"},
    ),
    Case(
        "naive datetime in a filter",
        "INVALID_DATETIME",
        query=SHIP_BY,
        variables=lambda ids: {"t": "2026-01-01T00:00:00"},
    ),
    Case(
        "year 1 with a zone",
        "INVALID_DATETIME",
        query=SHIP_BY,
        variables=lambda ids: {"t": "0001-01-01T00:00:00+05:00"},
    ),
    Case(
        "backfill from year 1",
        "INVALID_DATETIME",
        query=BACKFILL,
        variables=lambda ids: {"id": ids["connection"], "since": "0001-01-01T00:00:00+00:00"},
    ),
    Case(
        "backfill from year 9999",
        "INVALID_DATETIME",
        query=BACKFILL,
        variables=lambda ids: {"id": ids["connection"], "since": "9999-12-31T23:59:59+00:00"},
    ),
    Case(
        "backfill from further back than a marketplace keeps",
        "OUT_OF_RANGE",
        query=BACKFILL,
        variables=lambda ids: {"id": ids["connection"], "since": "1971-01-01T00:00:00+00:00"},
        field=["since"],
    ),
    Case(
        "promotion ending in year 9999 in its zone",
        "INVALID_DATETIME",
        query=PROMOTION,
        variables=lambda ids: {"s": "2026-01-01T00:00:00", "e": "9999-12-31T23:59:59"},
    ),
    Case("date in year 1", "INVALID_DATE", query=FX, variables=lambda ids: {"a": "1", "d": "0001-01-01"}),
    # -- JSON objects ---------------------------------------------------------------------
    Case(
        "settings: 5",
        "INVALID_JSON",
        query=SETTINGS,
        variables=lambda ids: {"id": ids["connection"], "s": 5},
    ),
    Case(
        "settings: a string",
        "INVALID_JSON",
        query=SETTINGS,
        variables=lambda ids: {"id": ids["connection"], "s": "x"},
    ),
    Case(
        "variant options: a list",
        "INVALID_JSON",
        query='mutation($p: ID!, $o: JSON) { variantCreate(input: {productId: $p, sku: "N-1", options: $o})'
        " { userErrors { code field } } }",
        variables=lambda ids: {"p": ids["product"], "o": [1, 2]},
    ),
    # -- integers -------------------------------------------------------------------------
    Case(
        "receipt of 2^31 - 1 units",
        "OUT_OF_RANGE",
        query=RECEIVE,
        variables=lambda ids: {"v": ids["variant"], "w": ids["warehouse"], "q": 2**31 - 1},
        field=["quantity"],
    ),
    Case(
        "adjustment of -2^31 units",
        "OUT_OF_RANGE",
        query=ADJUST,
        variables=lambda ids: {"v": ids["variant"], "w": ids["warehouse"], "d": -(2**31)},
        field=["delta"],
    ),
    Case(
        "at risk within 1e308 hours",
        "OUT_OF_RANGE",
        query="{ orders(filter: {sla: AT_RISK, slaWithinHours: 1e308}) { nodes { id } } }",
    ),
]


async def _seed(shop: Any) -> Ids:
    await shop.ingest(shop.market.add_order("BAD-1", quantity=1))
    order = await shop.order("BAD-1")
    async with shop.write() as session:
        shipment = await fulfilment.pack_shipment(
            session, order.id, shop.warehouses["SG1"], carrier="DHL", tracking_number="T-1"
        )
        product = await session.scalar(select(Variant.product_id).where(Variant.id == shop.variants["SKU-1"]))
        listing_id = await session.scalar(select(Listing.id).where(Listing.channel_sku == "sg-SKU-1"))
    return {
        "product": gid("Product", product),
        "variant": gid("Variant", shop.variants["SKU-1"]),
        "warehouse": gid("Warehouse", shop.warehouses["SG1"]),
        "connection": gid("ChannelConnection", shop.connections["sg"]),
        "listing": gid("Listing", listing_id),
        "order": gid("Order", order.id),
        "shipment": gid("Shipment", shipment.id),
    }


async def fingerprint(app: Any, tenant_id: int) -> dict[str, Any]:
    """Row counts of every tenant table but the audit log, the stock on hand, the
    connection's state."""
    found: dict[str, Any] = {}
    async with app.db.system() as session:
        for table in Base.metadata.sorted_tables:
            # (the audit log records the refusal: that is no write of the input)
            if "tenant_id" in table.c and table.name != "audit_log":
                found[table.name] = await session.scalar(
                    select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
                )
        found["on_hand"] = await session.scalar(
            text("SELECT sum(on_hand) FROM stock_levels WHERE tenant_id = :t"), {"t": tenant_id}
        )
        conn = await session.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        found["connection"] = (conn.sync_state, conn.settings, conn.status)
    return found


def _codes(body: Any) -> list[tuple[str, list[str] | None]]:
    """Every code in a response: its GraphQL errors', and its payloads' userErrors'."""
    codes = [((e.get("extensions") or {}).get("code"), None) for e in body.get("errors") or []]
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict):
            codes += [(u["code"], u["field"]) for u in payload.get("userErrors") or []]
    return codes


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_gets_a_typed_error_and_writes_nothing(
    case: Case, backend: str, api: Any, app: Any, shop: Any
) -> None:
    if backend not in case.backends:
        pytest.skip(f"{case.name}: {backend} accepts it")
    ids = await _seed(shop)
    before = await fingerprint(app, shop.tenant.id)
    headers = {"Authorization": f"Bearer {shop.tenant.key}", "Content-Type": "application/json"}
    if case.body is not None:
        content = case.body(ids)
    else:
        content = json.dumps({"query": case.query, "variables": case.variables(ids)}).encode()
    response = await api.client.post("/graphql", content=content, headers=headers)
    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json"), response.text[:500]
    body = response.json()
    codes = _codes(body)
    assert "INTERNAL_SERVER_ERROR" not in {c for c, _ in codes}, body
    assert codes and codes[0][0] == case.code, body
    if case.field is not None:
        assert codes[0][1] == case.field, body
    assert await fingerprint(app, shop.tenant.id) == before


async def test_a_sync_that_fails_for_any_reason_records_why(app: Any, shop: Any) -> None:
    """A cursor no sync can use (what ``connectionBackfill(since: "0001-01-01...")`` used to
    store) fails the sync with something other than a channel error: the connection says so
    in ``lastError`` instead of failing every sync in silence."""
    from sqlalchemy import update

    from crossdock.jobs import JOBS

    conn_id = shop.connections["sg"]
    async with shop.write() as session:
        await session.execute(
            update(Connection)
            .where(Connection.id == conn_id)
            .values(sync_state={"orders": {"cursor": "0001-01-01T00:00:00+00:00"}})
        )
    with pytest.raises(OverflowError):
        await JOBS["sync_orders"](app.job_context(), tenant_id=shop.tenant.id, connection_id=conn_id)
    async with shop.read() as session:
        conn = await session.scalar(select(Connection).where(Connection.id == conn_id))
    assert conn.last_error is not None and conn.last_error.startswith("SYNC_FAILED: OverflowError")
    assert conn.last_error_at is not None
    assert conn.status == "active"  # not a permanent channel error: the next run tries again
