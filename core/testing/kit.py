"""Helpers behind the fixtures, usable directly in tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from crossdock.bootstrap import App
from crossdock.jobs.arq_worker import ArqQueue
from crossdock.jobs.embedded import EmbeddedQueue
from crossdock.net import OutboundHTTP, OutboundPolicy
from crossdock.providers import Limiter, RateLimit
from crossdock.ratelimit import LocalBuckets, bind
from crossdock.services import tenancy

__all__ = [
    "EMULATOR_HOSTS",
    "STAFF_PASSWORD",
    "TEST_SECRET",
    "GraphQL",
    "Pacing",
    "TestStaff",
    "TestTenant",
    "close_emulator_http",
    "emulator_http",
    "jobs_running",
    "make_staff",
    "make_tenant",
    "queue_job",
]

#: The vault key of the test App (``CROSSDOCK_SECRET_KEY`` for a server or worker process a
#: test starts on the test's database, so it can read the credentials the test stored).
TEST_SECRET = "n2eFbDgB6Wq5lC1yqR0n7v8m2N4Xo0kS9tY3uV6wZ1E="

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


async def close_emulator_http() -> None:
    """Close :func:`emulator_http`'s pool of this event loop (the kit's pytest plugin does
    it after each test that used it)."""
    global _emulator_http
    if _emulator_http is not None:
        http, _emulator_http = _emulator_http, None
        await http.aclose()


class Pacing:
    """The core's token buckets of one connection on a clock of the test's (a callable
    giving seconds): ``limiter`` goes on a hand-built ``ChannelConnection(limiter=...)``,
    :meth:`waits` says how long the next calls of an operation would wait, so a test sees
    the pace a provider declared or reported (``conn.rate_observed``) without sleeping."""

    def __init__(
        self, connection_id: int, rate_limits: Mapping[str, RateLimit], clock: Callable[[], float]
    ) -> None:
        self.connection_id = connection_id
        self.rate_limits = dict(rate_limits)
        self._buckets = LocalBuckets(clock)
        self.limiter: Limiter = bind(self._buckets, connection_id, self.rate_limits)

    async def waits(self, operation: str, count: int) -> list[float]:
        """The waits of ``count`` more calls of ``operation``, made at the clock's now."""
        limit = self.rate_limits[operation]
        return [await self._buckets.reserve(f"{self.connection_id}:{operation}", limit) for _ in range(count)]


@asynccontextmanager
async def jobs_running(app: App, *, periodic: bool = False) -> AsyncIterator[None]:
    """Run the app's embedded job runner for the block, in this event loop, as ``crossdock
    serve`` does; combine it with :func:`~crossdock.testing.wait_until` to wait for the
    state the jobs bring about. ``periodic=True`` also runs the scheduled jobs (syncs of
    every active connection in the session's database: pause the ones you leave behind)."""
    queue = app.queue
    if not isinstance(queue, EmbeddedQueue):
        raise TypeError("jobs_running drives the embedded runner; this App queues jobs on Redis")
    queue.start(app.job_context(), periodic=periodic)
    try:
        yield
    finally:
        await queue.stop()


async def queue_job(redis_url: str, name: str, *, job_id: str | None = None, **kwargs: Any) -> bool:
    """Queue job ``name`` on Redis at ``redis_url`` for ``crossdock worker`` processes, as
    the scheduler would (``job_id`` makes it unique while queued); ``False`` if a job with
    that id is queued already."""
    queue = ArqQueue(redis_url)
    try:
        return await queue.enqueue(name, job_id=job_id, **kwargs)
    finally:
        await queue.close()


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


@dataclass(frozen=True)
class TestStaff:
    """A staff user signed in (see :func:`make_staff`): its bearer is ``access_token``."""

    __test__ = False

    user_id: int
    email: str
    password: str
    access_token: str
    refresh_token: str
    session_id: int


STAFF_PASSWORD = "correct horse battery staple"


async def make_staff(
    app: App,
    tenant: TestTenant,
    roles: Iterable[tuple[str, str | None]] = (("operator", None),),
    *,
    email: str | None = None,
) -> TestStaff:
    """A staff user of the tenant's organization, invited by the tenant's key with
    ``roles`` (``(role name, tenant slug)``; a slug of ``None`` is the tenant's own, ``"*"``
    every tenant), the invitation accepted with :data:`STAFF_PASSWORD`: signed in."""
    from crossdock.services import users

    address = email or f"staff-{uuid.uuid4().hex[:10]}@example.com"
    principal = await tenancy.authenticate(app.db, f"Bearer {tenant.key}", tenant.slug)
    wanted = [(r, None if t == "*" else (t or tenant.slug)) for r, t in roles]
    async with app.db.write(system=True) as session:
        user, _ = await users.invite_user(
            session, principal, app.settings.public_url, email=address, name="Staff", roles=wanted
        )
        token = await users.issue_invitation(session, user)  # a fresh one replaces the mailed one
    async with app.db.write(system=True) as session:
        tokens = await users.accept_invitation(session, token, STAFF_PASSWORD)
    return TestStaff(
        tokens.user_id, address, STAFF_PASSWORD, tokens.access_token, tokens.refresh_token, tokens.session_id
    )


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
