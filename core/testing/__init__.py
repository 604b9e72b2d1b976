"""The testing kit for Crossdock and its plugins (a pytest plugin, loaded automatically).

Fixtures: ``backend`` (``sqlite`` and ``postgresql``; every test that uses a database runs
on both), ``database_url``, ``app`` (a migrated :class:`~crossdock.bootstrap.App`),
``api`` (a GraphQL client over the real ASGI app), ``tenant_factory`` (a fresh
organization, tenant and API key per call), ``redis_url``. ``load_plugins(allow=[...])``
loads installed plugins the way the server does. ``wait_until`` polls for a
state with a generous deadline: tests wait for a state, never for a time.

Set ``CROSSDOCK_REQUIRE_SERVICES=1`` (CI does) to fail rather than skip when PostgreSQL or
Redis is not reachable.
"""

from __future__ import annotations

from crossdock.plugins import Plugins, load_plugins
from crossdock.testing.kit import EMULATOR_HOSTS, GraphQL, TestTenant, emulator_http, make_tenant
from crossdock.testing.regions import set_tenant_settings
from crossdock.testing.waiting import wait_until

__all__ = [
    "EMULATOR_HOSTS",
    "GraphQL",
    "Plugins",
    "TestTenant",
    "emulator_http",
    "load_plugins",
    "make_tenant",
    "set_tenant_settings",
    "wait_until",
]
