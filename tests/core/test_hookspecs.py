"""Every hook is documented (in its docstring and in docs/hooks.md) and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from crossdock import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("crossdock_")
)


def test_there_are_hooks_for_every_provider_kind() -> None:
    for hook in (
        "crossdock_marketplaces",
        "crossdock_payment_providers",
        "crossdock_carriers",
        "crossdock_tax_engines",
    ):
        assert hook in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc) > 120, f"{hook} needs a docstring saying what it receives, returns and when"
    assert "Called" in doc or "called" in doc, f"{hook}'s docstring must say when it is called"
    assert f"### {hook}\n" in (ROOT / "docs" / "hooks.md").read_text(), f"docs/hooks.md lacks {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_tests(hook: str) -> None:
    """A hook name appears in a test other than this file (as datasette checks)."""
    this = Path(__file__).resolve()
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != this]
    sources += list((ROOT / "plugins").glob("*/tests/*.py"))
    assert any(hook in p.read_text() for p in sources), f"no test mentions {hook}"
