"""`crossdock plugins new NAME` makes a plugin that installs and passes its own tests.

That it also passes mypy strict, its tests included, as its author gets it, is the last step
of ``make typecheck`` (CI runs it; a cold mypy run over the core is too slow to repeat here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_new_plugin_installs_and_passes_its_tests(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "crossdock.cli", "plugins", "new", "zalora", "--path", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    root = tmp_path / "crossdock-zalora"
    assert "created" in made.stdout and (root / "crossdock_zalora" / "marketplace.py").exists()
    again = subprocess.run(
        [sys.executable, "-m", "crossdock.cli", "plugins", "new", "zalora", "--path", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "exists" in again.stderr

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_PLUGINS")}
    env["PYTHONPATH"] = str(site)
    listed = subprocess.run(
        [sys.executable, "-m", "crossdock.cli", "plugins", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0 and "zalora" in listed.stdout
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(root),
            str(root / "tests"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "1 passed" in tests.stdout or "passed" in tests.stdout


@pytest.mark.parametrize("bad", ["Zalora", "9lives", "a"])
def test_bad_names_are_refused(tmp_path: Path, bad: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crossdock.cli", "plugins", "new", bad, "--path", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "lower-case identifier" in result.stderr
