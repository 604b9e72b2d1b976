"""Helpers behind the fixtures, usable directly in tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from crossdock.bootstrap import App
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.services import tenancy

__all__ = ["EMULATOR_HOSTS", "GraphQL", "TestTenant", "emulator_http", "make_tenant"]

#: Where the kit's emulators listen (:func:`crossdock.testing.emulator.serve`). The test
#: App's outbound policy allows it, as an operator allows a sandbox with
#: ``CROSSDOCK_ALLOWED_HOSTS``; everything else internal stays refused.
EMULATOR_HOSTS: tuple[str, ...] = ("127.0.0.1",)

_emulator_http: OutboundHTTP | None = None


def emulator_http() -> OutboundHTTP:
    """The guarded HTTP client, allowing the emulators' loopback address, for a provider
    called directly on a hand-built ``ChannelConnection(..., http=emulator_http())`` (an
    App hands its own to the connections it builds)."""
    global _emulator_http
    if _emulator_http is None:
        _emulator_http = OutboundHTTP(OutboundPolicy(EMULATOR_HOSTS))
    return _emulator_http


@dataclass
class TestTenant:
    __test__ = False  # not a test class

    id: int
    slug: str
    organization_id: int
    organization_slug: str
    key: str


async def make_tenant(app: App, *, scopes: Iterable[str] = ("admin",), slug: str | None = None) -> TestTenant:
    """A new organization with one tenant and an API key for it."""
    suffix = uuid.uuid4().hex[:10]
    async with app.db.write(system=True) as session:
        org = await tenancy.create_organization(session, f"org-{suffix}")
        tenant = await tenancy.create_tenant(session, org, slug or f"t-{suffix}")
        _, key = await tenancy.create_api_key(session, org, name="test", scopes=scopes, tenants=[tenant])
    return TestTenant(tenant.id, tenant.slug, org.id, org.slug, key)


class GraphQL:
    """Posts GraphQL to ``/graphql`` as a given API key."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        tenant: str | None = None,
    ) -> httpx.Response:
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if tenant is not None:
            headers["X-Tenant"] = tenant
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """The response body; fails the test on a non-200 status."""
        response = await self.raw(query, variables, key=key, tenant=tenant)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """The ``data`` of a response that must have no errors."""
        body = await self(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data
