"""The audit log over GraphQL: every mutation records who (the key), what (the operation, its
object, the fields before and after), when and from where; a refusal is recorded and changes
nothing; a retried attempt records once; secrets never reach an entry; entries are the
tenant's own, filtered and paged by keyset; jobs record the changes of consequence they make."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, text

from crossdock import ChannelError
from crossdock.api.schema.relay import decode_id, encode_id
from crossdock.db.models import ApiKey, AuditEntry
from crossdock.jobs import JOBS
from crossdock.security import split_api_key
from crossdock.testing.kit import GraphQL

LOG = """query($f: AuditFilter, $n: Int, $after: String, $reverse: Boolean) {
  auditLog(filter: $f, first: $n, after: $after, reverse: $reverse) {
    nodes { at operation outcome errorCode objectType objectId changes input sourceIp userAgent
            actor { kind id name } }
    pageInfo { hasNextPage endCursor } } }"""

CREATE = """mutation($t: String!, $sku: String!) { productCreate(input: {title: $t, variants: [{sku: $sku}]})
  { product { id } userErrors { code } } }"""
UPDATE = """mutation($id: ID!, $t: String!) { productUpdate(input: {id: $id, title: $t})
  { product { id title } userErrors { code field } } }"""


@pytest_asyncio.fixture
async def far_api(app: Any) -> AsyncIterator[GraphQL]:
    """A client calling from 203.0.113.9 (a documentation address) with its own User-Agent."""
    from crossdock.api.app import create_app

    transport = httpx.ASGITransport(app=create_app(app, run_jobs=False), client=("203.0.113.9", 40123))  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": "ops-console/2.1"}
    ) as client:
        yield GraphQL(client)


async def _log(api: Any, key: str, **filter: Any) -> list[dict[str, Any]]:
    data = await api.data(LOG, {"f": filter or None, "n": 100}, key=key)
    nodes: list[dict[str, Any]] = data["auditLog"]["nodes"]
    return nodes


async def _product(api: Any, key: str, title: str = "Tent", sku: str = "T-1") -> str:
    created = (await api.data(CREATE, {"t": title, "sku": sku}, key=key))["productCreate"]
    assert created["userErrors"] == []
    gid: str = created["product"]["id"]
    return gid


async def _key_id(app: Any, key: str) -> int:
    async with app.db.system() as session:
        found = await session.scalar(select(ApiKey.id).where(ApiKey.prefix == split_api_key(key)))
    assert found is not None
    return int(found)


async def test_a_mutation_records_who_what_before_and_after_and_from_where(
    far_api: Any, app: Any, tenant_factory: Any
) -> None:
    a = await tenant_factory()
    product = await _product(far_api, a.key, "Tent")
    updated = (await far_api.data(UPDATE, {"id": product, "t": "Tarp"}, key=a.key))["productUpdate"]
    assert updated["userErrors"] == [] and updated["product"]["title"] == "Tarp"

    [entry] = await _log(far_api, a.key, operation="productUpdate")
    key_id = await _key_id(app, a.key)
    assert entry["actor"] == {"kind": "API_KEY", "id": encode_id("ApiKey", key_id), "name": "test"}
    assert entry["outcome"] == "DONE" and entry["errorCode"] is None
    assert entry["objectType"] == "Product" and entry["objectId"] == product
    assert entry["input"] == {"input": {"id": product, "title": "Tarp"}}
    assert entry["sourceIp"] == "203.0.113.9" and entry["userAgent"] == "ops-console/2.1"
    _, pk = decode_id(product)
    assert entry["changes"] == [
        {
            "object": "Product",
            "id": pk,
            "action": "update",
            "fields": {"title": {"before": "Tent", "after": "Tarp"}},
        }
    ]
    # the creation: the product and its variant, with their values
    [made] = await _log(far_api, a.key, operation="productCreate")
    objects = {(c["object"], c["action"]) for c in made["changes"]}
    assert {("Product", "create"), ("Variant", "create")} <= objects
    product_change = next(c for c in made["changes"] if c["object"] == "Product")
    assert product_change["fields"]["title"] == {"after": "Tent"}
    assert made["objectId"] == product


async def test_a_refused_mutation_is_recorded_as_refused_and_changes_nothing(
    api: Any, tenant_factory: Any
) -> None:
    a = await tenant_factory()
    product = await _product(api, a.key)
    missing = encode_id("Product", 9_000_000_000_000)
    refused = (await api.data(UPDATE, {"id": missing, "t": "x"}, key=a.key))["productUpdate"]
    assert refused["userErrors"][0]["code"] == "NOT_FOUND"
    # a rule of the service, after a change was made in the transaction: rolled back, recorded as refused
    taken = (await api.data(CREATE, {"t": "Other", "sku": "T-1"}, key=a.key))["productCreate"]
    assert taken["userErrors"][0]["code"] == "TAKEN"

    entries = await _log(api, a.key, outcome="REFUSED")
    assert [(e["operation"], e["errorCode"]) for e in entries] == [
        ("productUpdate", "NOT_FOUND"),
        ("productCreate", "TAKEN"),
    ]
    assert all(e["changes"] == [] for e in entries)
    assert entries[0]["input"] == {"input": {"id": missing, "title": "x"}}
    products = await api.data("{ products { nodes { id title } } }", key=a.key)
    assert products["products"]["nodes"] == [{"id": product, "title": "Tent"}]
    assert [e["operation"] for e in await _log(api, a.key, outcome="DONE")] == ["productCreate"]


async def test_a_mutation_retried_after_a_conflict_records_once(
    api: Any, app: Any, tenant_factory: Any, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("a serialization failure is PostgreSQL's (SQLite serialises writers)")
    a = await tenant_factory()
    product = await _product(api, a.key)
    # the first UPDATE of this product's title fails as a concurrent transaction would make
    # it fail (SQLSTATE 40001); a sequence is not rolled back, so the second attempt passes
    ddl = [
        "CREATE SEQUENCE audit_retry_once",
        """CREATE FUNCTION audit_retry_once() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF NEW.title = 'Retried' AND nextval('audit_retry_once') = 1 THEN
               RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';
             END IF;
             RETURN NEW;
           END $$""",
        "CREATE TRIGGER audit_retry_once BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION audit_retry_once()",
    ]
    async with app.db.engine.begin() as conn:
        for statement in ddl:
            await conn.execute(text(statement))
    try:
        updated = (await api.data(UPDATE, {"id": product, "t": "Retried"}, key=a.key))["productUpdate"]
        async with app.db.engine.connect() as conn:
            attempts = (await conn.execute(text("SELECT last_value FROM audit_retry_once"))).scalar()
    finally:
        async with app.db.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER audit_retry_once ON products"))
            await conn.execute(text("DROP FUNCTION audit_retry_once()"))
            await conn.execute(text("DROP SEQUENCE audit_retry_once"))
    assert updated["userErrors"] == [] and updated["product"]["title"] == "Retried"
    assert attempts == 2  # it was run again
    [entry] = await _log(api, a.key, operation="productUpdate")
    assert entry["changes"][0]["fields"] == {"title": {"before": "Tent", "after": "Retried"}}


async def test_secrets_never_reach_an_entry(api: Any, app: Any, tenant_factory: Any, testmarket: Any) -> None:
    a = await tenant_factory()
    conn = await api.data(
        'mutation { connectionCreate(input: {channel: "testmarket", name: "SG", site: "SG", '
        'credentials: {refresh_token: "rt-SECRET-1", client_secret: "cs-SECRET-2"}}) '
        "{ connection { id } userErrors { code } } }",
        key=a.key,
    )
    assert conn["connectionCreate"]["userErrors"] == []
    carrier = await api.data(
        'mutation { carrierAccountCreate(input: {carrier: "dhl_express", name: "DHL", '
        'credentials: {api_key: "ak-SECRET-3", api_secret: "as-SECRET-4", account_number: "123456789"}}) '
        "{ carrierAccount { id } userErrors { code } } }",
        key=a.key,
    )
    assert carrier["carrierAccountCreate"]["userErrors"] == []

    entries = await _log(api, a.key)
    assert {e["operation"] for e in entries} == {"connectionCreate", "carrierAccountCreate"}
    async with app.db.tenant(a.id, a.slug) as session:
        stored = [(r.changes, r.input) for r in (await session.scalars(select(AuditEntry))).all()]
    for shown in (json.dumps(entries), json.dumps(stored)):
        for secret in ("rt-SECRET-1", "cs-SECRET-2", "ak-SECRET-3", "as-SECRET-4", "gAAAAA"):
            assert secret not in shown
    made = next(e for e in entries if e["operation"] == "connectionCreate")
    assert made["input"]["input"]["credentials"] == "[redacted]"
    connection = next(c for c in made["changes"] if c["object"] == "Connection")
    assert connection["fields"]["credentials_encrypted"] == {"after": "[redacted]"}
    assert connection["fields"]["name"] == {"after": "SG"}


async def test_filters_and_pages(api: Any, app: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    first = await _product(api, a.key, "One", "S-1")
    second = await _product(api, a.key, "Two", "S-2")
    for title in ("One b", "One c"):
        await api.data(UPDATE, {"id": first, "t": title}, key=a.key)
    await api.data(UPDATE, {"id": second, "t": "Two b"}, key=a.key)
    await api.data(UPDATE, {"id": encode_id("Product", 9_000_000_000_000), "t": "x"}, key=a.key)

    assert len(await _log(api, a.key)) == 6
    about_first = await _log(api, a.key, objectId=first)
    assert [e["operation"] for e in about_first] == ["productCreate", "productUpdate", "productUpdate"]
    assert len(await _log(api, a.key, operation="productUpdate", outcome="DONE")) == 3
    key = encode_id("ApiKey", await _key_id(app, a.key))
    assert len(await _log(api, a.key, actorId=key, actorKind="API_KEY")) == 6
    assert await _log(api, a.key, actorKind="JOB") == []
    assert await _log(api, a.key, actorId=encode_id("ApiKey", 9_000_000_000_000)) == []
    middle = about_first[1]["at"]
    assert [e["at"] for e in await _log(api, a.key, objectId=first, since=middle)] == [
        e["at"] for e in about_first[1:]
    ]
    assert [e["at"] for e in await _log(api, a.key, objectId=first, until=middle)] == [about_first[0]["at"]]
    assert len(await _log(api, a.key, objectType="Product")) == 5

    # pages of two, both ways, each entry once
    for reverse in (False, True):
        seen: list[str] = []
        after = None
        while True:
            page = (await api.data(LOG, {"n": 2, "after": after, "reverse": reverse}, key=a.key))["auditLog"]
            seen += [e["at"] for e in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == 6 and seen == sorted(seen, reverse=reverse)

    bad = (await api.raw(LOG, {"f": {"objectId": "nope"}}, key=a.key)).json()
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_another_tenants_entries_are_invisible(api: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    product = await _product(api, a.key)
    assert len(await _log(api, a.key)) == 1
    assert await _log(api, b.key) == []
    assert await _log(api, b.key, objectId=product) == []


async def test_the_scope_is_needed(api: Any, tenant_factory: Any) -> None:
    reader = await tenant_factory(scopes=["catalog:read"])
    answer = (await api.raw(LOG, {}, key=reader.key)).json()
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    auditor = await tenant_factory(scopes=["audit:read"])
    assert (await api.data(LOG, {}, key=auditor.key))["auditLog"]["nodes"] == []


async def test_a_connection_failed_by_a_job_is_the_jobs_entry(api: Any, app: Any, shop: Any) -> None:
    shop.market.fail_next = [ChannelError("shop closed", code="SHOP_CLOSED")]
    with pytest.raises(ChannelError):
        await JOBS["sync_orders"](
            app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
        )
    [entry] = await _log(api, shop.tenant.key, actorKind="JOB")
    assert entry["actor"] == {"kind": "JOB", "id": None, "name": "sync_orders"}
    assert entry["operation"] == "connection.failed" and entry["input"] == {"code": "SHOP_CLOSED"}
    assert entry["objectType"] == "Connection"
    assert entry["objectId"] == encode_id("ChannelConnection", shop.connections["sg"])
    [change] = entry["changes"]
    assert change["fields"]["status"] == {"before": "active", "after": "failed"}
    assert change["fields"]["last_error"]["after"] == "SHOP_CLOSED: shop closed"
    # the failed connection is skipped from now on: no call, no new entry
    await JOBS["sync_orders"](
        app.job_context(), tenant_id=shop.tenant.id, connection_id=shop.connections["sg"]
    )
    assert len(await _log(api, shop.tenant.key, actorKind="JOB")) == 1


async def test_an_entry_is_a_stock_change_by_statement(api: Any, shop: Any) -> None:
    """Stock moves by UPDATE statements (no ORM object): the entry says what was set, where."""
    adjust = """mutation($v: ID!, $w: ID!) { stockAdjust(input: {variantId: $v, warehouseId: $w, delta: 3, note: "found"})
      { userErrors { code } } }"""
    variant = encode_id("Variant", shop.variants["SKU-1"])
    warehouse = encode_id("Warehouse", shop.warehouses["SG1"])
    done = await api.data(adjust, {"v": variant, "w": warehouse}, key=shop.tenant.key)
    assert done["stockAdjust"]["userErrors"] == []
    [entry] = await _log(api, shop.tenant.key, operation="stockAdjust")
    ensured, level = (c for c in entry["changes"] if c["object"] == "StockLevel")
    assert ensured["action"] == "create" and ensured["if_absent"] is True  # the row made if missing
    assert level["action"] == "update" and "on_hand + 3" in level["fields"]["on_hand"]["after"]
    assert str(shop.variants["SKU-1"]) in level["where"]
    ledger = next(c for c in entry["changes"] if c["object"] == "StockLedgerEntry")
    assert ledger["fields"]["delta_on_hand"] == {"after": 3} and ledger["fields"]["note"] == {
        "after": "found"
    }


async def test_a_mutation_the_key_may_not_make_is_recorded_as_forbidden(
    api: Any, app: Any, tenant_factory: Any
) -> None:
    from crossdock.db.models import Organization, Tenant
    from crossdock.services import tenancy

    owner = await tenant_factory()
    async with app.db.write(system=True) as session:
        org = await session.get(Organization, owner.organization_id)
        tenant = await session.get(Tenant, owner.id)
        assert org is not None and tenant is not None
        _, reader = await tenancy.create_api_key(
            session, org, name="reader", scopes=["catalog:read"], tenants=[tenant]
        )
    denied = await api.raw(CREATE, {"t": "Tent", "sku": "F-1"}, key=reader)
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a query the key may not read is refused too, and is not a change attempted: not recorded
    assert (await api.raw(LOG, {}, key=reader)).json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    [entry] = await _log(api, owner.key)
    assert (entry["operation"], entry["outcome"], entry["errorCode"]) == (
        "productCreate",
        "REFUSED",
        "FORBIDDEN",
    )
    assert entry["actor"]["name"] == "reader" and entry["changes"] == []
    assert entry["input"]["input"]["title"] == "Tent"
