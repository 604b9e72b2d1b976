"""`crossdock serve --demo` as a newcomer runs it: a real process, a real port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_server_serves_health_and_plugins(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossdock.cli", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # a safety net against a hang, not a measurement
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start within 180 s"
                time.sleep(0.2)
        assert health.status_code == 200, health.text
        assert health.json()["database"]["backend"] == "sqlite"
        output = (tmp_path / "serve.log").read_text()
        key = re.search(r"Demo API key \(admin, all demo tenants\): (cdk_\S+)", output).group(1)  # type: ignore[union-attr]
        assert f"GraphiQL: http://127.0.0.1:{port}/graphql" in output
        response = httpx.post(
            f"{base}/graphql",
            json={"query": "{ plugins { name kind } products { nodes { title } } }"},
            headers={"Authorization": f"Bearer {key}", "X-Tenant": "acme-outdoor"},
        )
        data = response.json()["data"]
        assert {
            ("amazon", "MARKETPLACE"),
            ("shopee", "MARKETPLACE"),
            ("lazada", "MARKETPLACE"),
            ("tiktok", "MARKETPLACE"),
            ("stripe", "PAYMENT"),
        } <= {(p["name"], p["kind"]) for p in data["plugins"]}
        assert "Trail Backpack 30L" in [p["title"] for p in data["products"]["nodes"]]
        assert (tmp_path / "crossdock.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
