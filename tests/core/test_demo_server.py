"""`crossdock serve --demo` as a newcomer runs it: a real process, a real port."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest


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
        # planning: a plan from four months of history, the draft order it suggests, a shipment at sea
        planned = httpx.post(
            f"{base}/graphql",
            json={
                "query": "{ replenishmentPlans(first: 10, filter: {reorderNow: true}) { nodes { variant { sku } "
                "warehouse { code } demandClass meanDaily reorderPoint orderQuantity } } "
                "purchaseOrders(first: 5) { nodes { status supplier { code } lines { quantity variant { sku } } } } "
                "inboundShipments(first: 5) { nodes { status expectedOn } } }"
            },
            headers={"Authorization": f"Bearer {key}", "X-Tenant": "acme-outdoor"},
        ).json()["data"]
        due = {p["variant"]["sku"]: p for p in planned["replenishmentPlans"]["nodes"]}
        fast = due["ACME-BP30-BLK"]  # nine a day, more at weekends: below its reorder point
        assert (fast["warehouse"]["code"], fast["demandClass"]) == ("SZ-MAIN", "SMOOTH")
        assert 7 < float(fast["meanDaily"]) < 12
        [draft] = planned["purchaseOrders"]["nodes"]
        assert (draft["status"], draft["supplier"]["code"]) == ("DRAFT", "SZ-FACTORY")
        assert {line["variant"]["sku"]: line["quantity"] for line in draft["lines"]} == {
            sku: plan["orderQuantity"] for sku, plan in due.items()
        }
        assert [s["status"] for s in planned["inboundShipments"]["nodes"]] == ["IN_TRANSIT"]
        # listing content: each live shop's in two languages, published by the job runner
        query = {
            "query": "{ listingContents(first: 20) { nodes { language publishStatus shop { channel } } } }"
        }
        headers = {"Authorization": f"Bearer {key}", "X-Tenant": "acme-outdoor"}
        deadline = time.monotonic() + 180  # a safety net against a hang, not a measurement
        while True:
            nodes = httpx.post(f"{base}/graphql", json=query, headers=headers).json()["data"][
                "listingContents"
            ]["nodes"]
            if any(n["publishStatus"] == "PUBLISHED" for n in nodes):
                break
            assert time.monotonic() < deadline, nodes
            time.sleep(0.5)
        by_shop: dict[str, set[str]] = {}
        for node in nodes:
            by_shop.setdefault(node["shop"]["channel"], set()).add(node["language"])
        assert by_shop and all(len(languages) == 2 for languages in by_shop.values()), by_shop
        assert (tmp_path / "crossdock.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _start(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], str, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
    port = _free_port()
    log_path = tmp_path / name
    proc = subprocess.Popen(
        [sys.executable, "-m", "crossdock.cli", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}", log_path


def _wait(check: Callable[[], Any], what: str, proc: subprocess.Popen[str], log_path: Path) -> Any:
    deadline = time.monotonic() + 180  # a safety net against a hang, not a measurement
    while True:
        assert proc.poll() is None, log_path.read_text()
        try:
            result = check()
        except httpx.TransportError:
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


ORDERS = "{ orders(first: 100) { nodes { createdAt connection { baseUrl } } } }"


def _one_run(tmp_path: Path, name: str, earlier_key: str | None) -> dict[str, Any]:
    """Start the demo, wait for its orders, check them against its shops, stop it."""
    proc, base, log_path = _start(tmp_path, name)
    try:
        found = _wait(
            lambda: re.search(r"Demo API key \(admin, all demo tenants\): (cdk_\S+)", log_path.read_text()),
            "the demo key",
            proc,
            log_path,
        )
        key = found.group(1)
        headers = {"Authorization": f"Bearer {key}", "X-Tenant": "acme-outdoor"}
        orders = _wait(
            lambda: httpx.post(f"{base}/graphql", json={"query": ORDERS}, headers=headers).json()["data"][
                "orders"
            ]["nodes"],
            "the first orders",
            proc,
            log_path,
        )
        shops = json.loads((tmp_path / ".crossdock" / "demo-emulators.json").read_text())
        live = {shop["base_url"] for shop in shops.values()}
        assert {o["connection"]["baseUrl"] for o in orders} <= live
        stale_status = None
        if earlier_key is not None:
            stale_status = httpx.post(
                f"{base}/graphql",
                json={"query": "{ viewer { tenantSlug } }"},
                headers={**headers, "Authorization": f"Bearer {earlier_key}"},
            ).status_code
        return {
            "key": key,
            "created": [datetime.fromisoformat(o["createdAt"]) for o in orders],
            "output": log_path.read_text(),
            "stale_status": stale_status,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_restarting_the_demo_starts_its_shops_and_data_afresh(tmp_path: Path) -> None:
    """The emulated shops live in memory: a second ``serve --demo`` in the same folder must
    not show the first run's orders, pointing at shops that no longer know them."""
    first = _one_run(tmp_path, "first.log", None)
    assert "earlier run replaced" not in first["output"]
    restarted = datetime.now(UTC)
    second = _one_run(tmp_path, "second.log", first["key"])
    assert "earlier run replaced" in second["output"]
    assert second["stale_status"] == 401  # the first run's key went with its data
    assert min(second["created"]) >= restarted  # no order of the first run is left


async def test_seeding_the_demo_again_replaces_it_and_nothing_else(app: Any, tenant_factory: Any) -> None:
    from sqlalchemy import func, select

    from crossdock.db.models import Product, Tenant
    from crossdock.demo import seed_demo
    from crossdock.errors import Unauthenticated
    from crossdock.services.tenancy import authenticate

    bystander = await tenant_factory(scopes=["admin"])

    async def products(slug: str) -> int:
        async with app.db.system() as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        async with app.db.tenant(tenant.id, slug) as session:
            return int(await session.scalar(select(func.count()).select_from(Product)) or 0)

    first = await seed_demo(app)
    assert not first.reset
    counted = await products("acme-outdoor")
    second = await seed_demo(app)
    assert second.reset and second.tenants == first.tenants
    assert await products("acme-outdoor") == counted  # fresh, not doubled
    with pytest.raises(Unauthenticated):
        await authenticate(app.db, f"Bearer {first.api_key}", "acme-outdoor")
    assert (
        await authenticate(app.db, f"Bearer {second.api_key}", "acme-outdoor")
    ).tenant_slug == "acme-outdoor"
    # another organization in the same database is left alone
    assert (
        await authenticate(app.db, f"Bearer {bystander.key}", bystander.slug)
    ).tenant_slug == bystander.slug
