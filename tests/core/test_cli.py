"""The ``crossdock`` command, run as a user runs it, on a SQLite file in a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "crossdock.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
    clean["CROSSDOCK_DATA_DIR"] = str(tmp_path / ".crossdock")
    return clean


def run(
    args: list[str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(CLI + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_help_everywhere(tmp_path: Path, env: dict[str, str]) -> None:
    for args in (
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["tenants", "create"],
        ["apikeys", "create"],
        ["plugins", "list"],
    ):
        out = run([*args, "--help"], tmp_path, env).stdout
        assert "Usage:" in out


def test_tenants_and_keys(tmp_path: Path, env: dict[str, str]) -> None:
    from crossdock.db.migrate import head_revision

    assert f"revision {head_revision()}" in run(["migrate"], tmp_path, env).stdout
    assert (tmp_path / "crossdock.db").exists()  # embedded default: SQLite in the working directory
    assert (
        "tenant brand-a created in organization agency"
        in run(["tenants", "create", "brand-a", "--org", "agency"], tmp_path, env).stdout
    )
    run(["tenants", "create", "brand-b", "--org", "agency"], tmp_path, env)
    taken = run(["tenants", "create", "brand-a", "--org", "agency"], tmp_path, env, check=False)
    assert taken.returncode == 1 and "exists" in taken.stderr

    key = run(
        ["apikeys", "create", "--tenant", "brand-a", "--scopes", "catalog:read,orders:read"], tmp_path, env
    ).stdout
    assert key.count("\n") == 1 and key.startswith("cdk_"), "the key alone on stdout"
    bad_scope = run(
        ["apikeys", "create", "--tenant", "brand-a", "--scopes", "root"], tmp_path, env, check=False
    )
    assert bad_scope.returncode == 1 and "unknown scopes: root" in bad_scope.stderr
    missing = run(["apikeys", "create", "--tenant", "nope"], tmp_path, env, check=False)
    assert missing.returncode == 1 and "no tenant nope" in missing.stderr

    prefix = key.strip().split("_")[1]
    assert f"revoked {prefix}" in run(["apikeys", "revoke", prefix], tmp_path, env).stdout
    again = run(["apikeys", "revoke", prefix], tmp_path, env, check=False)
    assert again.returncode == 1


def test_plugins_list(tmp_path: Path, env: dict[str, str]) -> None:
    out = json.loads(run(["plugins", "list", "--json"], tmp_path, env).stdout)
    assert out["failures"] == {}
    names = {p["name"] for p in out["providers"]}
    assert {"amazon", "shopee", "lazada", "tiktok"} <= names
    only = json.loads(
        run(["plugins", "list", "--json"], tmp_path, {**env, "CROSSDOCK_PLUGINS": "amazon"}).stdout
    )
    assert [p["name"] for p in only["providers"]] == ["amazon"]


def test_worker_without_redis_says_why(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(["worker"], tmp_path, env, check=False)
    assert result.returncode == 1
    assert "CROSSDOCK_REDIS_URL is not set" in result.stderr
