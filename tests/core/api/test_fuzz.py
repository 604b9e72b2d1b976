"""Property-based fuzz of the GraphQL API: every query and every mutation, one root field at
a time, with schema-generated arguments sent to the real server over HTTP (uvicorn) on
SQLite and PostgreSQL.

The generated values mix the ordinary with the hostile: the tenant's own IDs (so mutations
really change things), another tenant's, missing ones, keys at and past 2^63, malformed
IDs and cursors; NaN, Infinity, 1e30, 1e25, -5 and exponent tricks as decimals; naive
datetimes and years 1 and 9999; JSON that is not an object, nested JSON; strings with NUL
or lone surrogates, longer than their columns; integers at the 32-bit edges.

Every answer must be below 500, free of ``INTERNAL_SERVER_ERROR`` and of tracebacks; and
afterwards the database keeps every invariant (:func:`crossdock.testing.invariants.check`):
nothing was half written. ``CROSSDOCK_FUZZ_EXAMPLES`` sets the examples per root field
(default 12).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import httpx
import hypothesis_graphql as hg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from sqlalchemy import select, update

from crossdock.api.schema import schema
from crossdock.api.schema.relay import encode_id
from crossdock.db.models import (
    Connection,
    ConnectionStatus,
    Conversation,
    Listing,
    OrderLine,
    Tenant,
    Variant,
)
from crossdock.jobs import JOBS
from crossdock.services import catalog, fulfilment, inventory, messaging
from crossdock.testing.invariants import check

EXAMPLES = int(os.environ.get("CROSSDOCK_FUZZ_EXAMPLES", "12"))
BIG = 2**63
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

HOSTILE_TEXT = [
    "",
    " ",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "S" * 65,
    "T" * 129,
    "U" * 256,
    "%",
    "_",
    "\\",
    "'; DROP TABLE orders; --",
    "\u202e\u0635\u0648\u0631\u0629",
    "😀",
]
#: Words the schema's fields accept, so that some mutations get past their checks.
WORDS = [
    "SGD",
    "EUR",
    "SG",
    "MY",
    "testmarket",
    "percent",
    "fixed",
    "bundle",
    "spend_threshold",
    "sellable",
    "damaged",
    "active",
    "paused",
    "manual",
    "own",
    "marketplace",
    "en",
    "ships_soon",
    "UTC",
    "Asia/Singapore",
    "none",
    "match",
    "undercut",
    "DHL",
    "SKU-1",
    "sg-SKU-1",
]
HOSTILE_DECIMALS = [
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e30",
    "1e25",
    "-5",
    "1e999999999",
    "1E-999999999",
    "0.00000000001",
    "9" * 40,
    "1_000",
    " 1",
    "abc",
    "",
]
HOSTILE_TIMES = [
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59",
    "1969-12-31T23:59:59Z",
    "2026-13-40T00:00:00Z",
    "yesterday",
    "",
]


def _literal(value: Any) -> graphql.ValueNode:
    """A GraphQL literal for a JSON value."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_literal(v) for v in value])
    return nodes.Object(
        [graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_literal(v)) for k, v in value.items()]
    )


#: What an ID argument names, from its name (``fromWarehouseId`` -> Warehouse)...
ID_NAMES = [
    ("orderline", "OrderLine"),
    ("variant", "Variant"),
    ("warehouse", "Warehouse"),
    ("connection", "ChannelConnection"),
    ("order", "Order"),
    ("listing", "Listing"),
    ("conversation", "Conversation"),
    ("product", "Product"),
]
#: ... or, for a plain ``id``, from the root field it is an argument of.
ROOT_TYPES = [
    ("productUpdate", "Product"),
    ("variant", "Variant"),
    ("warehouse", "Warehouse"),
    ("connection", "ChannelConnection"),
    ("listing", "Listing"),
    ("stockTransfer", "Transfer"),
    ("order", "Order"),
    ("shipment", "Shipment"),
    ("conversation", "Conversation"),
    ("cannedReply", "CannedReply"),
    ("promotion", "Promotion"),
]
BAD_IDS = [
    encode_id("Product", BIG),
    encode_id("Order", 2**64),
    encode_id("Order", 0),
    encode_id("Order", -1),
    "%%%",
    "",
    "Y3Vyc29yOjE",  # a cursor, not an ID
    "T3JkZXI6MQ==",  # padded
    "\x00",
]


PLACEHOLDER = re.compile(r"@(own|foreign):[0-9]+|@missing")


def _id_type(name: str, root: str) -> str | None:
    if name == "id":
        return next((t for prefix, t in ROOT_TYPES if root.startswith(prefix)), None)
    base = name.removesuffix("s").removesuffix("Id").lower()
    return next((t for key, t in ID_NAMES if base.endswith(key)), None)


class Ids:
    """IDs by type: the fuzzed tenant's own, another tenant's, and missing ones.

    The ``ID`` strategy draws placeholders (``@own:7``, ``@foreign:2``, ``@missing``) and
    :meth:`print` puts in an ID of the type the argument's name asks for, so mutations get
    IDs that exist, belong to the caller and have the right type most of the time."""

    def __init__(self, own: dict[str, list[str]], foreign: dict[str, list[str]]) -> None:
        self.own = own
        self.foreign = foreign
        self.everything = [gid for ids in own.values() for gid in ids]

    def strategy(self) -> st.SearchStrategy[graphql.ValueNode]:
        return st.one_of(
            st.integers(0, 99).map(lambda k: f"@own:{k}"),
            st.integers(0, 99).map(lambda k: f"@own:{k}"),
            st.integers(0, 99).map(lambda k: f"@own:{k}"),
            st.integers(0, 9).map(lambda k: f"@foreign:{k}"),
            st.just("@missing"),
            st.sampled_from(BAD_IDS),
        ).map(nodes.String)

    def _resolve(self, placeholder: str, type_name: str | None) -> str:
        kind, _, index = placeholder[1:].partition(":")
        if kind == "missing":
            return encode_id(type_name or "Order", 9_000_000_000_000_000_000)
        pool = (self.own if kind == "own" else self.foreign).get(type_name or "", []) or self.everything
        return pool[int(index) % len(pool)]

    def print(self, document: graphql.DocumentNode) -> str:
        ids = self
        root = ""

        class Fill(graphql.Visitor):
            def enter_field(self, node: graphql.FieldNode, *_: Any) -> None:
                nonlocal root
                root = root or node.name.value

            def _fill(self, name: str, value: graphql.ValueNode) -> graphql.ValueNode:
                def one(item: graphql.ValueNode) -> graphql.ValueNode:
                    if isinstance(item, graphql.StringValueNode) and PLACEHOLDER.fullmatch(item.value):
                        return nodes.String(ids._resolve(item.value, _id_type(name, root)))
                    return item

                if isinstance(value, graphql.ListValueNode):
                    return nodes.List([one(v) for v in value.values])
                return one(value)

            def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> graphql.ArgumentNode:
                return graphql.ArgumentNode(name=node.name, value=self._fill(node.name.value, node.value))

            def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> graphql.ObjectFieldNode:
                return graphql.ObjectFieldNode(name=node.name, value=self._fill(node.name.value, node.value))

        return graphql.print_ast(graphql.visit(document, Fill()))


def _scalars(ids: Ids) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    now = datetime.now(UTC)
    good_times = st.sampled_from(
        [(now - timedelta(days=d)).isoformat() for d in (1, 30, 400)]
        + [(now + timedelta(days=30)).isoformat()]
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-10, 10) | st.sampled_from(HOSTILE_TEXT + WORDS),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(WORDS), children, max_size=3)
        ),
        max_leaves=8,
    )
    return {
        "ID": ids.strategy(),
        "String": st.one_of(
            st.sampled_from(WORDS),
            st.sampled_from(HOSTILE_TEXT),
            st.text(max_size=20),
            st.sampled_from(ids.everything),  # an ID where a cursor is expected
        ).map(nodes.String),
        "Int": st.one_of(
            st.integers(-3, 12), st.sampled_from([0, 2**31 - 1, -(2**31), 10**9, 10**9 + 1, -(10**9) - 1])
        ).map(nodes.Int),
        "Float": st.one_of(
            st.floats(-1e308, 1e308, allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, 24.0, -1.0]),
        ).map(nodes.Float),
        "Decimal": st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-100, max_value=10**4),
            st.sampled_from(HOSTILE_DECIMALS),
        ).map(nodes.String),
        "DateTime": st.one_of(good_times, st.sampled_from(HOSTILE_TIMES)).map(nodes.String),
        "LocalDateTime": st.one_of(good_times, st.sampled_from(HOSTILE_TIMES)).map(nodes.String),
        "Date": st.sampled_from(["2026-01-02", "0001-01-01", "9999-12-31", "2026-02-30", ""]).map(
            nodes.String
        ),
        "JSON": st.one_of(
            st.dictionaries(st.sampled_from(WORDS + HOSTILE_TEXT), json_values, max_size=4),
            json_values,
        ).map(_literal),
    }


def _check(query: str, response: httpx.Response) -> None:
    assert response.status_code < 500, (query, response.text[:500])
    assert "Traceback" not in response.text and 'File "' not in response.text, (query, response.text[:500])
    body = response.json()
    internal = [
        e
        for e in body.get("errors") or []
        if (e.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]
    assert not internal, (query, internal)


def _fuzz(base: str, key: str, ids: Ids) -> int:
    """Every root query and mutation field, ``EXAMPLES`` documents each; returns how many
    requests were sent."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    sent = 0
    scalars = _scalars(ids)
    gql = schema._schema
    assert gql.mutation_type is not None
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for kind, root in (("query", gql.query_type), ("mutation", gql.mutation_type)):
            build = hg.queries if kind == "query" else hg.mutations
            for name in sorted(root.fields):

                @FUZZ
                @given(build(gql, fields=[name], custom_scalars=scalars, print_ast=ids.print))
                def one(document: str) -> None:
                    nonlocal sent
                    body = json.dumps({"query": document})  # lone surrogates become \\ud800 escapes
                    _check(document, client.post("/graphql", content=body))
                    sent += 1

                one()
    return sent


async def _seed_other(app: Any, tenant_factory: Any) -> dict[str, list[str]]:
    other = await tenant_factory()
    async with app.db.write(other.id, slug=other.slug) as session:
        product = await catalog.create_product(
            session, title="Theirs", variants=[catalog.VariantSpec(sku="THEIRS-1")]
        )
        wh = await inventory.create_warehouse(session, code="T1", name="Theirs", country="SG")
        variant = await session.scalar(select(Variant.id))
    return {
        "Product": [encode_id("Product", product.id)],
        "Variant": [encode_id("Variant", variant)],
        "Warehouse": [encode_id("Warehouse", wh.id)],
    }


async def test_no_query_or_mutation_breaks_the_server(
    live_server: str, app: Any, tenant_factory: Any, shop: Any
) -> None:
    market = shop.market
    await shop.receive("SKU-2", "SG1", 4)
    await shop.ingest(
        market.add_order("F-1", quantity=1, buyer="Ann"),
        market.add_order("F-2", quantity=2, sku="SKU-2", total="20.00", buyer="Bob"),
        market.add_order("F-3", quantity=9, buyer="Cy"),  # more than there is: held
    )
    orders = {x: (await shop.order(x)).id for x in ("F-1", "F-2", "F-3")}
    async with shop.unit_of_work() as uow:
        session = uow.session
        shipment = await fulfilment.pack_shipment(
            session, orders["F-2"], shop.warehouses["SG1"], carrier="DHL", tracking_number="F2"
        )
        listings = (await session.scalars(select(Listing.id))).all()
        lines = (await session.scalars(select(OrderLine.id))).all()
        other_wh = await inventory.create_warehouse(session, code="SG2", name="Two", country="SG")
        transfer = await inventory.start_transfer(
            uow,
            variant_id=shop.variants["SKU-2"],
            from_warehouse_id=shop.warehouses["SG1"],
            to_warehouse_id=other_wh.id,
            quantity=1,
        )
        canned = await messaging.save_canned_reply(session, name="thanks", language="en", body="Thank you!")
        product = await session.scalar(select(Variant.product_id))
    market.buyer_writes("F-THREAD", "Where is my fan?", order="F-1")
    await JOBS["sync_messages"](
        app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )
    async with shop.read() as session:
        conversations = (await session.scalars(select(Conversation.id))).all()
    own = {
        "Product": [encode_id("Product", product)],
        "Variant": [encode_id("Variant", v) for v in shop.variants.values()],
        "Warehouse": [encode_id("Warehouse", shop.warehouses["SG1"]), encode_id("Warehouse", other_wh.id)],
        "ChannelConnection": [encode_id("ChannelConnection", shop.connections["sg"])],
        "Listing": [encode_id("Listing", pk) for pk in listings],
        "Order": [encode_id("Order", pk) for pk in orders.values()],
        "OrderLine": [encode_id("OrderLine", pk) for pk in lines],
        "Shipment": [encode_id("Shipment", shipment.id)],
        "Transfer": [encode_id("Transfer", transfer.id)],
        "CannedReply": [encode_id("CannedReply", canned.id)],
        "Conversation": [encode_id("Conversation", pk) for pk in conversations],
    }
    foreign = await _seed_other(app, tenant_factory)
    async with app.db.write(system=True) as session:  # no cost throttling in the way of the fuzz
        await session.execute(
            update(Tenant)
            .where(Tenant.id == shop.tenant.id)
            .values(settings={"api": {"cost_bucket": 10**9, "cost_restore_rate": 10**6}})
        )
    sent = await asyncio.to_thread(_fuzz, live_server, shop.tenant.key, Ids(own, foreign))
    roots = len(schema._schema.query_type.fields) + len(schema._schema.mutation_type.fields)  # type: ignore[union-attr]
    assert sent >= roots  # every root field was sent at least once

    assert await check(app.db, tenant_id=shop.tenant.id) == []
    # the connections the fuzz made stay in the session's database: pause them, or every
    # later test that runs the periodic scheduler would sync them all, every second
    async with app.db.write(system=True) as session:
        await session.execute(
            update(Connection)
            .where(Connection.tenant_id == shop.tenant.id)
            .values(status=ConnectionStatus.PAUSED)
        )
