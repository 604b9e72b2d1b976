"""Plugins and their tests use only Crossdock's public API: ``crossdock``,
``crossdock.providers``, ``crossdock.hookspecs`` and ``crossdock.testing`` (with its
modules). Every ``.py`` under ``plugins/``, and every file ``crossdock plugins new``
writes, is parsed and each of its imports of ``crossdock.<x>`` checked; a plugin reaching
into the core's services, models or jobs fails here, naming the file and the line.

(An import-linter contract would need every plugin package listed as a root package and
installed; parsing the sources sees plugin tests and the scaffold's templates as well.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crossdock.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = ("crossdock", "crossdock.providers", "crossdock.hookspecs", "crossdock.testing")


def is_public(module: str) -> bool:
    return module in PUBLIC or module.startswith("crossdock.testing.")


def crossdock_imports(source: str, filename: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a ``crossdock`` module in ``source`` (the
    plugins' own ``crossdock_<name>`` packages are not Crossdock's)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "crossdock":  # from crossdock import services
                found += [(node.lineno, f"crossdock.{alias.name}") for alias in node.names]
    return [(line, m) for line, m in found if m == "crossdock" or m.startswith("crossdock.")]


def violations(files: list[Path], base: Path) -> list[str]:
    import crossdock

    exported = set(crossdock.__all__)
    out = []
    for path in files:
        for line, module in crossdock_imports(path.read_text(), str(path)):
            name = module.rsplit(".", 1)[-1]
            if module.count(".") == 1 and module.startswith("crossdock.") and name in exported:
                continue  # from crossdock import Money: a name, not a module
            if not is_public(module):
                out.append(f"{path.relative_to(base)}:{line}: imports {module}")
    return out


def plugin_files() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").rglob("*.py") if ".egg-info" not in str(p))


def test_the_check_sees_internal_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import crossdock.db.models\n"
        "from crossdock import services, Money\n"
        "from crossdock.jobs import JOBS\n"
        "from crossdock.testing.conformance import MarketplaceConformance\n"
        "from crossdock.providers import Site\n"
        "import crossdock_myshop.client\n"
        "def later():\n    from crossdock.plugins import load_plugins\n"
    )
    assert violations([sample], tmp_path) == [
        "sample.py:1: imports crossdock.db.models",
        "sample.py:2: imports crossdock.services",
        "sample.py:3: imports crossdock.jobs",
        "sample.py:8: imports crossdock.plugins",
    ]


@pytest.mark.parametrize("plugin", sorted(p.name for p in (ROOT / "plugins").iterdir() if p.is_dir()))
def test_plugins_import_only_the_public_api(plugin: str) -> None:
    files = [p for p in plugin_files() if p.relative_to(ROOT / "plugins").parts[0] == plugin]
    assert files
    assert violations(files, ROOT) == []


def test_a_new_plugin_imports_only_the_public_api(tmp_path: Path) -> None:
    root = scaffold("boundary", tmp_path)
    files = sorted(root.rglob("*.py"))
    assert any(f.parent.name == "tests" for f in files)
    assert violations(files, tmp_path) == []
