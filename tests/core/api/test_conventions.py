"""The API's conventions (issue 13): enums for closed sets, typed per-domain error codes,
one code per condition, payloads named after their mutation, every root field naming its
scope, and ``filter``/``sortKey``/``reverse`` lists whose cursors stay correct across
pages, ties included."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from crossdock import errors
from crossdock.api.schema import schema
from crossdock.api.schema.relay import encode_id
from crossdock.db import models as m
from crossdock.security import SCOPES, Scope
from crossdock.services.events import emit

CORE = Path(__file__).resolve().parents[3] / "core"

ORDER_PAGE = """query($f: OrderFilter, $k: OrderSortKeys, $r: Boolean, $after: String) {
  orders(first: 2, after: $after, filter: $f, sortKey: $k, reverse: $r) {
    nodes { externalId } pageInfo { hasNextPage endCursor } } }"""


async def _all_pages(api: Any, key: str, query: str, field: str, variables: dict[str, Any]) -> list[str]:
    """Every node's first field, following ``endCursor`` page by page."""
    seen: list[str] = []
    after = None
    for _ in range(50):
        page = (await api.data(query, {**variables, "after": after}, key=key))[field]
        seen += [next(iter(n.values())) for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


async def _orders(shop: Any, *names: str, **kwargs: Any) -> dict[str, int]:
    await shop.ingest(*(shop.market.add_order(n, **kwargs) for n in names))
    async with shop.read() as session:
        rows = (await session.execute(select(m.Order.external_id, m.Order.id))).all()
    return {e: pk for e, pk in rows if e in names}


# --------------------------------------------------------------------------- enums


async def test_an_unknown_enum_value_is_a_validation_error(api: Any, shop: Any) -> None:
    for literal in ('["held"]', '["on_hold"]', "[HELD]"):
        body = await api(
            f"{{ orders(filter: {{status: {literal}}}) {{ nodes {{ id }} }} }}", key=shop.tenant.key
        )
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    body = await api(
        "query($s: [OrderStatus!]) { orders(filter: {status: $s}) { nodes { id } } }",
        {"s": ["held"]},
        key=shop.tenant.key,
    )
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    for document in (
        '{ orders(filter: {holdReason: "manual"}) { nodes { id } } }',
        "{ orders(filter: {holdReason: FRAUD}) { nodes { id } } }",
        'mutation { orderHold(input: {id: "x", reason: BECAUSE}) { userErrors { code } } }',
    ):
        body = await api(document, key=shop.tenant.key)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"], document


async def test_an_enum_filter_finds_its_orders(api: Any, shop: Any) -> None:
    await _orders(shop, "HELD-1", "HELD-2", quantity=50)  # too few units: held for out_of_stock
    await shop.receive("SKU-2", "SG1", 5)
    await _orders(shop, "READY-1", sku="SKU-2")
    held = await api.data(
        "{ orders(filter: {status: [ON_HOLD]}) { nodes { externalId status holds { reason } } } }",
        key=shop.tenant.key,
    )
    assert {n["externalId"] for n in held["orders"]["nodes"]} == {"HELD-1", "HELD-2"}
    assert {n["status"] for n in held["orders"]["nodes"]} == {"ON_HOLD"}
    by_reason = await api.data(
        "{ orders(filter: {holdReason: OUT_OF_STOCK}) { nodes { externalId } } }", key=shop.tenant.key
    )
    out_of_stock = {
        n["externalId"] for n in held["orders"]["nodes"] if {"reason": "OUT_OF_STOCK"} in n["holds"]
    }
    assert {n["externalId"] for n in by_reason["orders"]["nodes"]} == out_of_stock
    both = await api.data(
        "{ orders(filter: {status: [ON_HOLD, ALLOCATED]}) { nodes { externalId } } }", key=shop.tenant.key
    )
    assert {n["externalId"] for n in both["orders"]["nodes"]} == {"HELD-1", "HELD-2", "READY-1"}


def test_every_closed_set_is_an_enum_in_the_schema() -> None:
    types = schema._schema.type_map
    for type_name, field, enum in (
        ("Order", "status", "OrderStatus"),
        ("Shipment", "status", "ShipmentStatus"),
        ("Conversation", "status", "ConversationStatus"),
        ("Message", "direction", "MessageDirection"),
        ("Listing", "status", "ListingStatus"),
        ("Shop", "status", "ConnectionStatus"),
        ("Warehouse", "kind", "WarehouseKind"),
        ("Transfer", "status", "TransferStatus"),
        ("Promotion", "kind", "PromotionKind"),
        ("Promotion", "state", "PromotionState"),
        ("StockLedgerEntry", "reason", "StockLedgerReason"),
        ("Viewer", "scopes", "Scope"),
    ):
        named = types[type_name].fields[field].type  # type: ignore[attr-defined]
        while hasattr(named, "of_type"):
            named = named.of_type
        assert named.name == enum, (type_name, field, named)
    assert set(types["Scope"].values) == {s.name for s in Scope}  # type: ignore[attr-defined]
    assert {s.value for s in Scope} == set(SCOPES)


# --------------------------------------------------------------------------- error codes


async def test_a_bad_id_has_the_same_typed_code_in_a_query_and_a_mutation(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    malformed = await api('{ node(id: "not-an-id") { id } }', key=key)
    assert malformed["errors"][0]["extensions"]["code"] == "INVALID_ID"
    held = await api.data(
        'mutation { orderHold(input: {id: "not-an-id"}) { userErrors { code field } } }', key=key
    )
    assert held["orderHold"]["userErrors"] == [{"code": "INVALID_ID", "field": ["id"]}]

    unknown = encode_id("Warehouse", 987654321)
    query = await api("query($w: ID!) { pickList(warehouseId: $w) { sku } }", {"w": unknown}, key=key)
    assert query["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    mutation = await api.data(
        "mutation($w: ID!) { pickListStart(input: {warehouseId: $w}) { userErrors { code field } } }",
        {"w": unknown},
        key=key,
    )
    assert mutation["pickListStart"]["userErrors"] == [{"code": "NOT_FOUND", "field": ["warehouseId"]}]


def _named(type_: Any) -> Any:
    while hasattr(type_, "of_type"):
        type_ = type_.of_type
    return type_


def test_every_payload_is_named_after_its_mutation_and_codes_its_domain() -> None:
    domains = {f"{d}UserError": f"{d}ErrorCode" for d in errors.DOMAIN_CODES}
    mutations = schema._schema.mutation_type
    assert mutations is not None
    for name, field in mutations.fields.items():
        payload = _named(field.type)
        assert payload.name == name[0].upper() + name[1:] + "Payload", name
        error_type = _named(payload.fields["userErrors"].type)
        assert error_type.name in domains, (name, error_type.name)
        assert [i.name for i in error_type.interfaces] == ["UserError"]
        code = _named(error_type.fields["code"].type)
        assert code.name == domains[error_type.name], (name, code.name)
        assert set(errors.COMMON_CODES) <= set(code.values), name


def _literal_codes() -> set[tuple[str, str, str]]:
    """``(file, callable, code)`` of every ``code="..."`` literal and ``code = "..."``
    class attribute in the core."""
    found = set()
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "?")
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        found.add((path.name, called, str(kw.value.value)))
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and [getattr(t, "id", None) for t in stmt.targets] == ["code"]
                        and isinstance(stmt.value, ast.Constant)
                    ):
                        found.add((path.name, node.name, str(stmt.value.value)))
    return found


def test_every_code_the_core_raises_is_a_member_of_an_error_code_enum() -> None:
    input_codes = set(errors.COMMON_CODES).union(*(set(c) for c in errors.DOMAIN_CODES.values()))
    request_codes = {c.value for c in errors.ErrorCode}
    literal = _literal_codes()
    not_errors = {"create_warehouse", "Warehouse"}  # a warehouse's own ``code`` field
    raised = {(f, c, v) for f, c, v in literal if c not in not_errors}
    assert len(raised) > 40  # the scan sees the services' codes
    unknown = {(f, c, v) for f, c, v in raised if v not in input_codes | request_codes}
    assert not unknown, f"codes that are in no enum (add them to crossdock.errors): {sorted(unknown)}"
    user = {(f, v) for f, c, v in raised if c == "UserError" and v not in input_codes}
    assert not user, f"user errors with a code no domain enum holds: {sorted(user)}"
    for enum in (
        errors.OrderErrorCode,
        errors.InventoryErrorCode,
        errors.CatalogErrorCode,
        errors.ChannelErrorCode,
        errors.PricingErrorCode,
        errors.MessagingErrorCode,
        errors.AccountErrorCode,
    ):
        assert enum("NOT_FOUND") == "NOT_FOUND"  # services' strings are members


# --------------------------------------------------------------------------- scopes


def test_every_root_field_names_the_scope_it_needs() -> None:
    from crossdock.api.schema import Mutation, Query
    from crossdock.api.schema.errors import required_scope

    enforced = {
        field.graphql_name or field.python_name: required_scope(field)
        for root in (Query, Mutation)
        for field in root.__strawberry_definition__.fields
    }
    scope_names = [s.value for s in Scope]
    for root in (schema._schema.query_type, schema._schema.mutation_type, schema._schema.subscription_type):
        assert root is not None
        for name, field in root.fields.items():
            text = field.description or ""
            named = [s for s in scope_names if f"`{s}`" in text]
            assert named or "Any valid API key" in text, f"{root.name}.{name} names no scope: {text!r}"
            if enforced.get(name) and root.name != "Subscription":
                assert named[0] == enforced[name], (name, named, enforced[name])


async def test_a_key_without_the_named_scope_is_refused(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory(scopes=["catalog:read"])
    field = schema._schema.query_type.fields["orders"]  # type: ignore[union-attr]
    assert "`orders:read`" in (field.description or "")
    body = await api("{ orders { nodes { id } } }", key=t.key)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --------------------------------------------------------------------------- orders


async def test_orders_filter_by_dates_connection_country_sku_and_buyer(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    now = datetime.now(UTC)
    await shop.receive("SKU-1", "SG1", 50)
    await shop.receive("SKU-2", "SG1", 50)
    ids = await _orders(shop, "F-OLD", "F-NEW", buyer="Lim Mei Ling")
    await _orders(shop, "F-SKU2", sku="SKU-2", buyer="Ahmad bin Ali", ship_by=now + timedelta(hours=3))
    await _orders(shop, "F-LATE", ship_by=now - timedelta(hours=1))
    other = await shop.connect("my", site="MY")
    await shop.ingest(shop.market.add_order("F-MY"), connection="my")
    async with shop.write() as session:
        await session.execute(
            update(m.Order).where(m.Order.id == ids["F-OLD"]).values(created_at=now - timedelta(days=10))
        )

    async def found(f: dict[str, Any]) -> set[str]:
        return set(await _all_pages(api, key, ORDER_PAGE, "orders", {"f": f}))

    week_ago = (now - timedelta(days=7)).isoformat()
    assert "F-OLD" not in await found({"createdAfter": week_ago})
    assert await found({"createdBefore": week_ago}) == {"F-OLD"}
    assert await found({"updatedBefore": (now - timedelta(days=1)).isoformat()}) == set()
    assert "F-NEW" in await found({"updatedAfter": (now - timedelta(hours=1)).isoformat()})
    assert await found({"shipByBefore": now.isoformat()}) == {"F-LATE"}
    assert await found({"shipByAfter": now.isoformat()}) == {"F-SKU2"}
    assert await found({"connectionId": encode_id("ChannelConnection", other)}) == {"F-MY"}
    assert await found({"sku": "SKU-2"}) == {"F-SKU2"}
    assert await found({"buyer": "mei ling"}) == {"F-OLD", "F-NEW"}
    assert await found({"destinationCountry": "sg", "sku": "SKU-2"}) == {"F-SKU2"}
    assert await found({"sla": "LATE"}) == {"F-LATE"}
    assert await found({"sla": "AT_RISK", "slaWithinHours": 6}) == {"F-SKU2"}
    assert await found({"sla": "AT_RISK", "slaWithinHours": 1}) == set()
    bad = await api("{ orders(filter: {sla: AT_RISK, slaWithinHours: -1}) { nodes { id } } }", key=key)
    assert bad["errors"][0]["extensions"]["code"] == "OUT_OF_RANGE"


async def test_orders_sort_keys_page_through_ties_both_ways(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    names = [f"S-{i}" for i in range(7)]
    ids = await _orders(shop, *names)
    now = datetime.now(UTC).replace(microsecond=0)
    same = now - timedelta(hours=2)
    created = {  # three ties, and an order of its own on either side
        "S-0": now - timedelta(hours=3),
        "S-1": same,
        "S-2": same,
        "S-3": same,
        "S-4": now - timedelta(hours=1),
        "S-5": now - timedelta(hours=5),
        "S-6": same,
    }
    ship_by = {"S-0": same, "S-1": None, "S-2": same, "S-3": None, "S-4": now, "S-5": same, "S-6": None}
    async with shop.write() as session:
        for name, pk in ids.items():
            await session.execute(
                update(m.Order)
                .where(m.Order.id == pk)
                .values(created_at=created[name], ship_by=ship_by[name])
            )

    def expected(values: dict[str, datetime | None], reverse: bool) -> list[str]:
        # nulls last ascending; reverse turns the whole order round
        order = sorted(names, key=lambda n: (values[n] is None, values[n] or now, ids[n]))
        return order[::-1] if reverse else order

    for sort_key, values in (("CREATED_AT", created), ("SHIP_BY", ship_by)):
        for reverse in (False, True):
            got = await _all_pages(api, key, ORDER_PAGE, "orders", {"k": sort_key, "r": reverse})
            assert got == expected(values, reverse), (sort_key, reverse)
    by_id = await _all_pages(api, key, ORDER_PAGE, "orders", {"r": True})
    assert by_id == sorted(names, key=lambda n: -ids[n])
    # a filter and a sort key together, across pages
    only = await _all_pages(
        api, key, ORDER_PAGE, "orders", {"k": "SHIP_BY", "f": {"shipByAfter": same.isoformat()}}
    )
    assert only == [n for n in expected(ship_by, False) if ship_by[n] is not None]


async def test_a_cursor_of_another_sort_order_is_refused(api: Any, shop: Any) -> None:
    await _orders(shop, "C-1", "C-2", "C-3")
    key = shop.tenant.key
    page = (await api.data(ORDER_PAGE, {"k": "CREATED_AT"}, key=key))["orders"]
    cursor = page["pageInfo"]["endCursor"]
    for sort_key in ("SHIP_BY", "ID"):
        body = await api(ORDER_PAGE, {"k": sort_key, "after": cursor}, key=key)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR", sort_key


# --------------------------------------------------------------------------- other lists


LISTING_PAGE = """query($k: ListingSortKeys, $r: Boolean, $after: String) {
  listings(first: 2, after: $after, sortKey: $k, reverse: $r) {
    nodes { channelSku } pageInfo { hasNextPage endCursor } } }"""


async def test_listings_sort_by_channel_sku(api: Any, shop: Any) -> None:
    await shop.connect("zz")
    await shop.connect("aa")
    async with shop.read() as session:
        skus = sorted((await session.scalars(select(m.Listing.channel_sku))).all())
    assert len(skus) >= 6
    key = shop.tenant.key
    assert await _all_pages(api, key, LISTING_PAGE, "listings", {"k": "CHANNEL_SKU"}) == skus
    assert await _all_pages(api, key, LISTING_PAGE, "listings", {"k": "CHANNEL_SKU", "r": True}) == skus[::-1]


CONVERSATION_PAGE = """query($k: ConversationSortKeys, $r: Boolean, $after: String) {
  conversations(first: 2, after: $after, sortKey: $k, reverse: $r) {
    nodes { externalId } pageInfo { hasNextPage endCursor } } }"""


async def test_conversations_sort_by_reply_deadline(api: Any, shop: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    due = {"c-1": now + timedelta(hours=5), "c-2": None, "c-3": now + timedelta(hours=1), "c-4": None}
    due["c-5"] = due["c-3"]
    async with shop.write() as session:
        for name, at in due.items():
            session.add(
                m.Conversation(
                    connection_id=shop.connections["sg"],
                    external_id=name,
                    language="en",
                    status=m.ConversationStatus.AWAITING_REPLY if at else m.ConversationStatus.ANSWERED,
                    last_message_at=now,
                    reply_due_at=at,
                )
            )
    key = shop.tenant.key
    urgent = await _all_pages(api, key, CONVERSATION_PAGE, "conversations", {"k": "REPLY_DUE_AT"})
    assert urgent == ["c-3", "c-5", "c-1", "c-2", "c-4"]
    backwards = await _all_pages(
        api, key, CONVERSATION_PAGE, "conversations", {"k": "REPLY_DUE_AT", "r": True}
    )
    assert backwards == urgent[::-1]


PRODUCT_PAGE = """query($k: ProductSortKeys, $r: Boolean, $after: String) {
  products(first: 1, after: $after, sortKey: $k, reverse: $r) {
    nodes { title } pageInfo { hasNextPage endCursor } } }"""


async def test_products_sort_by_title(api: Any, tenant_factory: Any) -> None:
    t = await tenant_factory()
    for title in ("Mug", "Bag", "Tent"):
        await api.data(
            "mutation($t: String!) { productCreate(input: {title: $t}) { userErrors { code } } }",
            {"t": title},
            key=t.key,
        )
    assert await _all_pages(api, t.key, PRODUCT_PAGE, "products", {"k": "TITLE"}) == ["Bag", "Mug", "Tent"]
    assert await _all_pages(api, t.key, PRODUCT_PAGE, "products", {"k": "TITLE", "r": True}) == [
        "Tent",
        "Mug",
        "Bag",
    ]


EVENT_PAGE = """query($r: Boolean, $after: String) {
  events(first: 2, after: $after, reverse: $r, filter: {types: ["page.test"]}) {
    edges { cursor node { payload cursor } } nodes { type }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""


async def test_events_is_a_connection_paged_by_cursor(api: Any, shop: Any) -> None:
    async with shop.write() as session:
        for i in range(5):
            emit(session, "page.test", None, n=i)
    key = shop.tenant.key
    seen: list[int] = []
    after = None
    while True:
        page = (await api.data(EVENT_PAGE, {"after": after}, key=key))["events"]
        assert all(e["cursor"] == e["node"]["cursor"] for e in page["edges"])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["payload"]["n"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [0, 1, 2, 3, 4]
    newest: list[int] = []
    after = None
    while True:
        page = (await api.data(EVENT_PAGE, {"after": after, "r": True}, key=key))["events"]
        newest += [e["node"]["payload"]["n"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert newest == [4, 3, 2, 1, 0]
