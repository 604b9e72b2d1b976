"""API keys and tenants managed over GraphQL: a key never makes, sees or revokes a key
reaching further than itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crossdock.services import tenancy

KEYS = (
    """query($r: Boolean) { apiKeys(revoked: $r) { id name prefix scopes allTenants tenants revokedAt } }"""
)
CREATE = """mutation($i: ApiKeyCreateInput!) { apiKeyCreate(input: $i) {
  apiKey { id name scopes allTenants tenants } secret userErrors { field code message } } }"""
REVOKE = """mutation($i: ApiKeyRevokeInput!) { apiKeyRevoke(input: $i) {
  apiKey { id revokedAt } userErrors { field code } } }"""
TENANT = """mutation($i: TenantCreateInput!) { tenantCreate(input: $i) {
  tenant { slug name } userErrors { field code } } }"""
VIEWER = "{ viewer { tenantSlug scopes } }"


async def _agency(app: Any, suffix: str) -> dict[str, Any]:
    """An organization with brands A and B, an all-tenants admin key, a manager key on A
    (orders and keys) and an admin key on B alone."""
    async with app.db.write(system=True) as session:
        org = await tenancy.create_organization(session, f"agency-{suffix}")
        a = await tenancy.create_tenant(session, org, f"a-{suffix}")
        b = await tenancy.create_tenant(session, org, f"b-{suffix}")
        _, owner = await tenancy.create_api_key(session, org, name="owner", scopes=["admin"])
        _, manager = await tenancy.create_api_key(
            session, org, name="manager A", scopes=["orders:read", "keys:read", "keys:write"], tenants=[a]
        )
        _, brand_b = await tenancy.create_api_key(session, org, name="brand B", scopes=["admin"], tenants=[b])
    return {"a": a.slug, "b": b.slug, "owner": owner, "manager": manager, "brand_b": brand_b}


async def _create(api: Any, key: str, tenant: str | None = None, **given: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(CREATE, {"i": given}, key=key, tenant=tenant))["apiKeyCreate"]
    return payload


async def test_a_key_made_over_the_api_works_and_reaches_no_further(api: Any, app: Any) -> None:
    org = await _agency(app, "one")
    made = await _create(api, org["manager"], name="packer", scopes=["ORDERS_READ"])
    assert made["userErrors"] == []
    assert (made["apiKey"]["tenants"], made["apiKey"]["allTenants"]) == ([org["a"]], False)
    assert made["apiKey"]["scopes"] == ["ORDERS_READ"]
    viewer = (await api.data(VIEWER, key=made["secret"]))["viewer"]
    assert viewer == {"tenantSlug": org["a"], "scopes": ["ORDERS_READ"]}

    # scopes the manager lacks, admin, a tenant it does not reach, all tenants: refused
    refusals = [
        ({"scopes": ["ORDERS_WRITE"]}, ["input", "scopes"], "SCOPE_NOT_HELD"),
        ({"scopes": ["ADMIN"]}, ["input", "scopes"], "SCOPE_NOT_HELD"),
        ({"scopes": ["ORDERS_READ"], "tenants": [org["b"]]}, ["input", "tenants", "0"], "TENANT_NOT_REACHED"),
        (
            {"scopes": ["ORDERS_READ"], "tenants": ["no-such-brand"]},
            ["input", "tenants", "0"],
            "TENANT_NOT_REACHED",
        ),
        ({"scopes": ["ORDERS_READ"], "allTenants": True}, ["input", "allTenants"], "TENANT_NOT_REACHED"),
        ({"scopes": ["ORDERS_READ"], "name": "  "}, ["input", "name"], "INVALID"),
    ]
    for given, field, code in refusals:
        refused = await _create(api, org["manager"], **{"name": "x", **given})
        assert refused["apiKey"] is None and refused["secret"] is None
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, code)], given

    # the owner (all tenants, admin) may make an all-tenants key
    wide = await _create(api, org["owner"], org["a"], name="ops", scopes=["ORDERS_READ"], allTenants=True)
    assert wide["userErrors"] == [] and wide["apiKey"]["allTenants"] is True
    both = await api.data(VIEWER, key=wide["secret"], tenant=org["b"])
    assert both["viewer"]["tenantSlug"] == org["b"]


async def test_keys_are_listed_and_revoked_only_within_the_caller_reach(api: Any, app: Any) -> None:
    org = await _agency(app, "two")
    other = await _agency(app, "three")

    def names(listed: dict[str, Any]) -> set[str]:
        return {k["name"] for k in listed["apiKeys"]}

    assert names(await api.data(KEYS, key=org["owner"], tenant=org["a"])) == {"owner", "manager A", "brand B"}
    assert names(await api.data(KEYS, key=org["manager"])) == {"manager A"}
    assert names(await api.data(KEYS, key=org["brand_b"])) == {"brand B"}

    everything = {
        k["name"]: k["id"] for k in (await api.data(KEYS, key=org["owner"], tenant=org["a"]))["apiKeys"]
    }
    theirs = {
        k["name"]: k["id"] for k in (await api.data(KEYS, key=other["owner"], tenant=other["a"]))["apiKeys"]
    }
    # brand B's admin cannot revoke the manager of A, nor another organization's key
    for target in (everything["manager A"], theirs["owner"], everything["owner"]):
        refused = (await api.data(REVOKE, {"i": {"id": target}}, key=org["brand_b"]))["apiKeyRevoke"]
        assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    assert (await api.data(VIEWER, key=org["manager"]))["viewer"]["tenantSlug"] == org["a"]

    # the owner revokes the manager: it stops working (this process forgets it at once)
    done = await api.data(REVOKE, {"i": {"id": everything["manager A"]}}, key=org["owner"], tenant=org["a"])
    assert done["apiKeyRevoke"]["apiKey"]["revokedAt"] is not None
    assert (await api.raw(VIEWER, key=org["manager"])).status_code == 401
    assert names(await api.data(KEYS, key=org["owner"], tenant=org["a"])) == {"owner", "brand B"}
    assert "manager A" in names(await api.data(KEYS, {"r": True}, key=org["owner"], tenant=org["a"]))
    # a malformed id is INVALID_ID, inside userErrors
    bad = (await api.data(REVOKE, {"i": {"id": "nope"}}, key=org["owner"], tenant=org["a"]))["apiKeyRevoke"]
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID_ID"]


async def test_tenants_are_added_by_keys_reaching_every_tenant(api: Any, app: Any) -> None:
    org = await _agency(app, "four")
    made = await api.data(
        TENANT, {"i": {"slug": "c-four", "name": "Brand C"}}, key=org["owner"], tenant=org["a"]
    )
    assert made["tenantCreate"] == {"tenant": {"slug": "c-four", "name": "Brand C"}, "userErrors": []}
    # the owner's all-tenants key reaches the new brand at once
    assert (await api.data(VIEWER, key=org["owner"], tenant="c-four"))["viewer"]["tenantSlug"] == "c-four"
    again = (await api.data(TENANT, {"i": {"slug": "c-four"}}, key=org["owner"], tenant=org["a"]))[
        "tenantCreate"
    ]
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["input", "slug"], "TAKEN")]
    bad = (await api.data(TENANT, {"i": {"slug": "Not A Slug"}}, key=org["owner"], tenant=org["a"]))[
        "tenantCreate"
    ]
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID_SLUG"]
    # brand B's own admin key reaches B alone: it cannot add brands
    refused = (await api.data(TENANT, {"i": {"slug": "d-four"}}, key=org["brand_b"]))["tenantCreate"]
    assert [e["code"] for e in refused["userErrors"]] == ["TENANT_NOT_REACHED"]
    # and a key without the scope is refused before anything runs
    denied = await api(TENANT, {"i": {"slug": "e-four"}}, key=org["manager"])
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("runs", [8])
async def test_concurrent_creates_of_one_slug_make_one_tenant(api: Any, app: Any, runs: int) -> None:
    org = await _agency(app, "five")
    answers = await asyncio.gather(
        *(
            api.data(TENANT, {"i": {"slug": "same-five"}}, key=org["owner"], tenant=org["a"])
            for _ in range(runs)
        )
    )
    made = [a for a in answers if a["tenantCreate"]["tenant"] is not None]
    taken = [a for a in answers if a["tenantCreate"]["userErrors"]]
    assert len(made) == 1 and len(taken) == runs - 1
    assert {e["code"] for a in taken for e in a["tenantCreate"]["userErrors"]} == {"TAKEN"}
