"""The ``crossdock`` command on a SQLite file in a temp folder: run as a user runs it (a new
process), and in this process through click's runner where a test makes many calls (a new
process costs seconds of imports and plugin loading, which the subprocess tests cover)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossdock.cli import main

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


@dataclass
class Ran:
    """What an in-process call gave (the fields of ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


Call = Callable[..., Ran]


def _loggers() -> list[logging.Logger]:
    known = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(item for item in known if isinstance(item, logging.Logger))]


def _logging_state() -> dict[str, tuple[int, list[logging.Handler], bool, bool]]:
    return {
        logger.name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for logger in _loggers()
    }


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    """``crossdock ARGS`` in this process, in ``tmp_path``, with no CROSSDOCK_* settings but
    the data folder; the logging it configures is put back afterwards."""
    for name in [k for k in os.environ if k.startswith("CROSSDOCK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CROSSDOCK_DATA_DIR", str(tmp_path / ".crossdock"))
    monkeypatch.chdir(tmp_path)
    before = _logging_state()

    def call(args: list[str], check: bool = True) -> Ran:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        ran = Ran(result.exit_code, result.stdout, result.stderr)
        if check:
            assert ran.returncode == 0, ran.stderr
        return ran

    yield call
    # the command configured logging for a process of its own: give this one its own back
    for logger in _loggers():
        level, handlers, propagate, disabled = before.get(logger.name, (logging.NOTSET, [], True, False))
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate, logger.disabled = propagate, disabled


def test_help_everywhere(invoke: Call) -> None:
    for args in (
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["tenants", "create"],
        ["apikeys", "create"],
        ["users", "invite"],
        ["plugins", "list"],
    ):
        out = invoke([*args, "--help"]).stdout
        assert "Usage:" in out


def test_tenants_and_keys(tmp_path: Path, env: dict[str, str], invoke: Call) -> None:
    from crossdock.db.migrate import head_revision

    assert f"revision {head_revision()}" in run(["migrate"], tmp_path, env).stdout
    assert (tmp_path / "crossdock.db").exists()  # embedded default: SQLite in the working directory
    assert (
        "tenant brand-a created in organization agency"
        in invoke(["tenants", "create", "brand-a", "--org", "agency"]).stdout
    )
    invoke(["tenants", "create", "brand-b", "--org", "agency"])
    taken = invoke(["tenants", "create", "brand-a", "--org", "agency"], check=False)
    assert taken.returncode == 1 and "exists" in taken.stderr

    key = invoke(["apikeys", "create", "--tenant", "brand-a", "--scopes", "catalog:read,orders:read"]).stdout
    assert key.count("\n") == 1 and key.startswith("cdk_"), "the key alone on stdout"
    bad_scope = invoke(["apikeys", "create", "--tenant", "brand-a", "--scopes", "root"], check=False)
    assert bad_scope.returncode == 1 and "unknown scopes: root" in bad_scope.stderr
    missing = invoke(["apikeys", "create", "--tenant", "nope"], check=False)
    assert missing.returncode == 1 and "no tenant nope" in missing.stderr

    prefix = key.strip().split("_")[1]
    assert f"revoked {prefix}" in invoke(["apikeys", "revoke", prefix]).stdout
    again = invoke(["apikeys", "revoke", prefix], check=False)
    assert again.returncode == 1


def test_the_first_owner_is_invited_from_the_command_line(tmp_path: Path, invoke: Call) -> None:
    import asyncio

    from crossdock.bootstrap import App
    from crossdock.config import Settings
    from crossdock.services import users
    from crossdock.services.tenancy import authenticate

    invoke(["tenants", "create", "brand-a", "--org", "agency"])
    token = invoke(["users", "invite", "Boss@Agency.example", "--org", "agency"]).stdout.strip()
    assert token and "\n" not in token, "the token alone on stdout"
    invoke(["users", "invite", "packer@agency.example", "--org", "agency", "--role", "operator@brand-a"])
    taken = invoke(["users", "invite", "boss@agency.example", "--org", "agency"], check=False)
    assert taken.returncode == 1 and "already a user" in taken.stderr
    unknown = invoke(
        ["users", "invite", "x@agency.example", "--org", "agency", "--role", "chief"], check=False
    )
    assert unknown.returncode == 1 and "no role 'chief'" in unknown.stderr
    listed = invoke(["users", "list", "--org", "agency"]).stdout
    assert "boss@agency.example" in listed and "owner " in listed and "operator@brand-a" in listed

    async def accept() -> str:
        app = App.build(Settings.from_env())
        try:
            async with app.db.write(system=True) as session:
                tokens = await users.accept_invitation(session, token, "a long enough passphrase")
            return (await authenticate(app.db, f"Bearer {tokens.access_token}", "brand-a")).tenant_slug
        finally:
            await app.close()

    assert asyncio.run(accept()) == "brand-a"  # the owner of every tenant signs in
    reset = invoke(["users", "reset", "boss@agency.example", "--org", "agency"]).stdout.strip()
    assert reset and reset != token
    missing = invoke(["users", "reset", "nobody@agency.example", "--org", "agency"], check=False)
    assert missing.returncode == 1 and "no user" in missing.stderr


def test_plugins_list(tmp_path: Path, env: dict[str, str]) -> None:
    out = json.loads(run(["plugins", "list", "--json"], tmp_path, env).stdout)
    assert out["failures"] == {}
    names = {p["name"] for p in out["providers"]}
    assert {"amazon", "shopee", "lazada", "tiktok"} <= names
    only = json.loads(
        run(["plugins", "list", "--json"], tmp_path, {**env, "CROSSDOCK_PLUGINS": "amazon"}).stdout
    )
    # the amazon plugin's providers only: its marketplace, Amazon's own logistics and its
    # FBA warehouses
    assert [(p["name"], p["plugin"]) for p in only["providers"]] == [
        ("amazon", "amazon"),
        ("amazon_shipping", "amazon"),
        ("amazon_fba", "amazon"),
    ]


def test_worker_without_redis_says_why(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(["worker"], tmp_path, env, check=False)
    assert result.returncode == 1
    assert "CROSSDOCK_REDIS_URL is not set" in result.stderr


def test_lists_show_tenants_and_key_prefixes_but_never_secrets(invoke: Call) -> None:
    invoke(["tenants", "create", "brand-a", "--org", "agency", "--name", "Brand A"])
    invoke(["tenants", "create", "brand-b", "--org", "agency"])
    invoke(["tenants", "create", "solo"])
    listed = invoke(["tenants", "list"]).stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [
        ["brand-a", "agency"],
        ["brand-b", "agency"],
        ["solo", "solo"],
    ]
    assert "Brand A" in listed[1]
    assert [
        line.split()[0] for line in invoke(["tenants", "list", "--org", "solo"]).stdout.splitlines()[1:]
    ] == ["solo"]

    only_a = invoke(["apikeys", "create", "--tenant", "brand-a", "--name", "shop-a"]).stdout.strip()
    whole_org = invoke(["apikeys", "create", "--org", "agency", "--name", "agency"]).stdout.strip()
    elsewhere = invoke(["apikeys", "create", "--org", "solo", "--name", "solo"]).stdout.strip()
    prefixes = {k: k.split("_")[1] for k in (only_a, whole_org, elsewhere)}

    everything = invoke(["apikeys", "list"]).stdout
    for key, prefix in prefixes.items():
        assert prefix in everything
        assert key.split("_", 2)[2] not in everything, "a secret was printed"
    reaching_b = invoke(["apikeys", "list", "--tenant", "brand-b"]).stdout
    assert prefixes[whole_org] in reaching_b
    assert prefixes[only_a] not in reaching_b and prefixes[elsewhere] not in reaching_b
    assert prefixes[only_a] in invoke(["apikeys", "list", "--tenant", "brand-a"]).stdout
    unknown = invoke(["apikeys", "list", "--tenant", "nope"], check=False)
    assert unknown.returncode == 1 and "no tenant nope" in unknown.stderr

    # revoke takes the whole key as pasted, or the prefix
    assert f"revoked {prefixes[only_a]}" in invoke(["apikeys", "revoke", only_a]).stdout
    assert (
        f"revoked {prefixes[elsewhere]}" in invoke(["apikeys", "revoke", f"cdk_{prefixes[elsewhere]}"]).stdout
    )
    active = invoke(["apikeys", "list"]).stdout
    assert prefixes[only_a] not in active and prefixes[whole_org] in active
    history = invoke(["apikeys", "list", "--revoked"]).stdout
    assert any(prefixes[only_a] in line and line.endswith("revoked") for line in history.splitlines())
    nonsense = invoke(["apikeys", "revoke", "not-a-key"], check=False)
    assert nonsense.returncode == 2 and "12-hex prefix" in nonsense.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:hunter2@127.0.0.1:5432/crossdock_no_such_database",
        "postgresql://postgres@127.0.0.1:1/unreachable",
        "sqlite:////nonexistent-folder/crossdock.db",
    ],
)
def test_migrate_against_a_database_it_cannot_use_says_so_in_one_line(
    tmp_path: Path, env: dict[str, str], url: str
) -> None:
    result = run(["migrate"], tmp_path, {**env, "CROSSDOCK_DATABASE_URL": url}, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("Error: cannot use the database ")
    assert "hunter2" not in result.stderr


def test_make_demo_takes_a_port() -> None:
    root = Path(__file__).resolve().parents[2]
    dry = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    assert "crossdock serve --demo --port 8123" in dry.stdout
    assert (
        "--port 8000"
        in subprocess.run(["make", "-n", "demo"], cwd=root, capture_output=True, text=True, timeout=60).stdout
    )


def test_an_unknown_log_level_is_one_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(
        ["plugins", "list"], tmp_path, {**env, "CROSSDOCK_LOG_LEVEL": "INFO,httpx=LOUD"}, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: CROSSDOCK_LOG_LEVEL: unknown level 'LOUD' (use DEBUG, INFO, WARNING or ERROR)"
    ]
    assert run(["plugins", "list"], tmp_path, {**env, "CROSSDOCK_LOG_LEVEL": "debug"}).returncode == 0
