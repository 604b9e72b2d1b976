"""The testing kit for Crossdock and its plugins (a pytest plugin, loaded automatically).

Fixtures: ``backend`` (``sqlite`` and ``postgresql``; every test that uses a database runs
on both), ``database_url``, ``app`` (a migrated :class:`~crossdock.bootstrap.App`),
``api`` (a GraphQL client over the real ASGI app), ``tenant_factory`` (a fresh
organization, tenant and API key per call), ``redis_url``. ``load_plugins(allow=[...])``
loads installed plugins the way the server does. ``wait_until`` polls for a
state with a generous deadline: tests wait for a state, never for a time.

For plugin tests: ``build_shop`` gives a tenant a catalogue, stock and a connection to an
emulator and returns a :class:`Shop` that runs the app's jobs (``shop.run``, ``shop.sync``,
``run_job``, ``until_done``), acts as the operator would (ship, reprice, reply) and reads
what the core recorded; ``jobs_running`` runs the app's job runner for a block;
``crossdock.testing.conformance`` holds the suites a plugin subclasses, and
``crossdock.testing.emulator`` the base its emulator is built on. A plugin and its tests
import nothing of Crossdock but ``crossdock``, ``crossdock.providers``,
``crossdock.hookspecs`` and ``crossdock.testing`` (``tests/core/test_plugin_boundary.py``).

Set ``CROSSDOCK_REQUIRE_SERVICES=1`` (CI does) to fail rather than skip when PostgreSQL or
Redis is not reachable.
"""

from __future__ import annotations

from crossdock.plugins import Plugins, load_plugins
from crossdock.testing.emulator import Emulator, Faults, Reply, Request, credentials_guard, serve
from crossdock.testing.kit import (
    EMULATOR_HOSTS,
    STAFF_PASSWORD,
    TEST_SECRET,
    GraphQL,
    Pacing,
    TestStaff,
    TestTenant,
    emulator_http,
    jobs_running,
    make_staff,
    make_tenant,
    queue_job,
)
from crossdock.testing.regions import set_tenant_settings
from crossdock.testing.shop import Shop, address_problems, build_shop, run_job, sync_to_the_end, until_done
from crossdock.testing.waiting import wait_until

__all__ = [
    "EMULATOR_HOSTS",
    "STAFF_PASSWORD",
    "TEST_SECRET",
    "Emulator",
    "Faults",
    "GraphQL",
    "Pacing",
    "Plugins",
    "Reply",
    "Request",
    "Shop",
    "TestStaff",
    "TestTenant",
    "address_problems",
    "build_shop",
    "credentials_guard",
    "emulator_http",
    "jobs_running",
    "load_plugins",
    "make_staff",
    "make_tenant",
    "queue_job",
    "run_job",
    "serve",
    "set_tenant_settings",
    "sync_to_the_end",
    "until_done",
    "wait_until",
]
