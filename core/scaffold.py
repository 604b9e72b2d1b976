"""``crossdock plugins new NAME``: a plugin distribution that installs and passes its tests.

The skeleton registers a marketplace provider that declares no capabilities yet, with a
test of its registration and the conformance suite wired to an emulator stub; each
capability the author implements (and declares) turns the matching conformance test on.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

__all__ = ["scaffold"]

FILES: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools>=69", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "crossdock-$name"
version = "0.1.0"
description = "Crossdock plugin: $title"
requires-python = ">=3.11"
dependencies = ["crossdock", "httpx>=0.27"]

[project.entry-points.crossdock]
$name = "crossdock_$name.plugin"

[tool.setuptools]
packages = ["crossdock_$name"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
""",
    "README.md": """\
# crossdock-$name

A Crossdock marketplace plugin for $title. Install it (`pip install -e .`) and Crossdock
finds it through the `crossdock` entry point; `crossdock plugins list` shows it.

Implement an operation in `crossdock_$name/marketplace.py`, declare its capability, make
the emulator in `crossdock_$name/emulator.py` answer it, and the conformance suite in
`tests/test_${name}_conformance.py` starts testing it. See Crossdock's docs/plugins.md.
""",
    "crossdock_$name/__init__.py": '''\
"""Crossdock marketplace plugin for $title."""

__version__ = "0.1.0"
''',
    "crossdock_$name/plugin.py": '''\
"""Entry point: what this plugin registers with Crossdock."""

from __future__ import annotations

from crossdock import MarketplaceProvider, hookimpl

from crossdock_$name.marketplace import ${cls}Marketplace


@hookimpl
def crossdock_marketplaces() -> list[MarketplaceProvider]:
    return [${cls}Marketplace()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_$name.emulator import ${cls}Emulator

    return [${cls}Emulator]
''',
    "crossdock_$name/marketplace.py": '''\
"""The $title provider. Declare a capability only once its method works."""

from __future__ import annotations

from collections.abc import Sequence

from crossdock import MarketplaceBase, Site

from crossdock_$name import __version__


class ${cls}Marketplace(MarketplaceBase):
    name = "$name"
    display_name = "$title"
    version = __version__
    capabilities: frozenset[str] = frozenset()

    def sites(self) -> Sequence[Site]:
        return (Site(code="SG", country="SG", currency="SGD", name="$title Singapore"),)
''',
    "crossdock_$name/emulator.py": '''\
"""A local $title for tests and demos, built on Crossdock's emulator base."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock.testing.emulator import Emulator, Faults, Reply, Request


class ${cls}Emulator(Emulator):
    name = "$name"
    default_site = "SG"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.accounts: list[dict[str, Any]] = []
        self.products: dict[str, int] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.route("GET", "/ping", self._ping)

    async def _ping(self, request: Request) -> Reply:
        return Reply(200, {"ok": True})

    def open_account(self, site: str) -> Mapping[str, Any]:
        account = {"seller": f"seller-{len(self.accounts) + 1}", "site": site}
        self.accounts.append(account)
        return account

    def add_product(self, account: Mapping[str, Any], sku: str, stock: int = 0) -> str:
        self.products[sku] = stock
        return sku

    def add_order(
        self, account: Mapping[str, Any], external_id: str, lines: Sequence[tuple[str, int, str]]
    ) -> None:
        self.orders[external_id] = {"lines": list(lines), "status": "new"}

    def generate_orders(self, account: Mapping[str, Any], count: int, seed: int) -> list[str]:
        for i in range(count):
            self.add_order(account, f"{seed}-{i}", [(next(iter(self.products), "SKU"), 1, "1.00")])
        return [f"{seed}-{i}" for i in range(count)]

    def cancel_order(self, account: Mapping[str, Any], external_id: str) -> None:
        self.orders[external_id]["status"] = "cancelled"

    def tracking_number(self, account: Mapping[str, Any], external_id: str) -> str | None:
        return self.orders[external_id].get("tracking")

    def stock(self, account: Mapping[str, Any], sku: str) -> int:
        return self.products[sku]

    def price(self, account: Mapping[str, Any], sku: str) -> str | None:
        return None

    def expire_tokens(self) -> None:
        pass
''',
    "tests/test_${name}_plugin.py": '''\
"""The plugin registers through its entry point."""

from __future__ import annotations

from crossdock.testing import load_plugins


def test_registered() -> None:
    plugins = load_plugins(allow=["$name"])
    assert plugins.failures == {}
    assert plugins.marketplace("$name").display_name == "$title"
    assert "$name" in plugins.emulators
''',
    "tests/test_${name}_conformance.py": '''\
"""The marketplace conformance suite against this plugin's emulator: each test runs once
its capability is declared (and is skipped until then)."""

from __future__ import annotations

from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults

from crossdock_$name.emulator import ${cls}Emulator


class Test${cls}Conformance(MarketplaceConformance):
    channel = "$name"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ${cls}Emulator:
        return ${cls}Emulator(faults)
''',
}


def scaffold(name: str, target: Path, title: str | None = None) -> Path:
    """Write the plugin ``crossdock-NAME`` into ``target``; returns its folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", name):
        raise ValueError("a plugin name is a lower-case identifier, e.g. 'zalora'")
    root = target / f"crossdock-{name}"
    if root.exists():
        raise FileExistsError(f"{root} exists")
    cls = "".join(part.capitalize() for part in name.split("_"))
    values = {"name": name, "title": title or cls, "cls": cls}
    for rel, text in FILES.items():
        path = root / Template(rel).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
    return root
