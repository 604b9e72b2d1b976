"""Property-based fuzz of the GraphQL API: schema-valid queries and mutations with arbitrary
arguments, sent to the real server over HTTP, never get a 500, an internal error or a stack
trace. ``CROSSDOCK_FUZZ_EXAMPLES`` sets how many of each (default 60, CI's small variant)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import hypothesis_graphql as hg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from sqlalchemy import update

from crossdock.db.models import Tenant

SDL = (Path(__file__).resolve().parents[3] / "schema.graphql").read_text()
EXAMPLES = int(os.environ.get("CROSSDOCK_FUZZ_EXAMPLES", "60"))
SCALARS = {
    "Decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12),
        st.sampled_from(["NaN", "1e999", "abc", ""]),
    ).map(lambda d: nodes.String(str(d))),
    "Date": st.one_of(st.dates().map(lambda d: d.isoformat()), st.text(max_size=12)).map(nodes.String),
    "DateTime": st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=12)).map(
        nodes.String
    ),
    "JSON": st.sampled_from([nodes.Object([]), nodes.String("x"), nodes.Int(3), nodes.Null]),
}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


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


def _fuzz(base: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

        @FUZZ
        @given(hg.queries(SDL, custom_scalars=SCALARS))
        def queries(query: str) -> None:
            _check(query, client.post("/graphql", json={"query": query}))

        @FUZZ
        @given(hg.mutations(SDL, custom_scalars=SCALARS))
        def mutations(query: str) -> None:
            _check(query, client.post("/graphql", json={"query": query}))

        queries()
        mutations()


async def test_no_query_or_mutation_breaks_the_server(
    live_server: str, app: Any, tenant_factory: Any
) -> None:
    tenant = await tenant_factory()
    async with app.db.write(system=True) as session:  # no cost throttling in the way of the fuzz
        await session.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id)
            .values(settings={"api": {"cost_bucket": 10**9, "cost_restore_rate": 10**6}})
        )
    await asyncio.to_thread(_fuzz, live_server, tenant.key)
