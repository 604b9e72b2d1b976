"""The editable install imports ``crossdock`` from core/, and no subpackage is left out."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import crossdock

ROOT = Path(__file__).resolve().parents[2]


def test_crossdock_is_imported_from_core() -> None:
    assert Path(crossdock.__file__).resolve() == ROOT / "core" / "__init__.py"


def test_every_subpackage_is_packaged_and_imports() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        "crossdock"
        + ("." + ".".join(p.parent.relative_to(ROOT / "core").parts) if p.parent != ROOT / "core" else "")
        for p in (ROOT / "core").rglob("__init__.py")
        if "node_modules" not in p.parts
    } | {"crossdock.migrations", "crossdock.migrations.versions"}
    assert on_disk == listed, f"pyproject packages differ from core/: {on_disk ^ listed}"
    for name in sorted(listed):
        importlib.import_module(name)


def test_the_core_never_imports_a_plugin() -> None:
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        for plugin in (
            "crossdock_amazon",
            "crossdock_shopee",
            "crossdock_lazada",
            "crossdock_tiktok",
            "crossdock_payments",
        ):
            assert plugin not in text, f"{path} imports {plugin}"
