"""Several processes recording the same carrier scans at the same moment (a poll on a worker,
the carrier's pushes on two servers): one row per scan, one exception, one event each."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from crossdock.db.models import Event, ShipmentException, TrackingEventRow
from crossdock.testing.pytest_plugin import TEST_SECRET

from ..tracking_kit import Env, ParcelPostPlugin, tracking_env

PROCESSES = 4

RECORDER = """
import asyncio, json, sys, time
from pathlib import Path
from datetime import datetime
from crossdock.bootstrap import App
from crossdock.config import Settings
from crossdock.providers import TrackingEvent, TrackingReason, TrackingResult, TrackingStatus
from crossdock.services.tracking import record_tracking

async def main(args):
    app = App.build(Settings(database_url=args["url"], secret_keys=(args["secret"],), data_dir=Path(args["dir"])))
    result = TrackingResult(args["number"], [
        TrackingEvent(datetime.fromisoformat(e["at"]), TrackingStatus(e["status"]), e["code"], e["status"],
                      TrackingReason(e["reason"]) if e["reason"] else None)
        for e in args["events"]
    ])
    added = 0
    while time.time() < args["start"]:
        await asyncio.sleep(0.001)
    for _ in range(5):
        async with app.unit_of_work(args["tenant"], args["slug"]) as uow:
            added += (await record_tracking(uow, args["shipment"], result)).added
    await app.close()
    print(json.dumps({"added": added}))

asyncio.run(main(json.loads(sys.argv[1])))
"""


@pytest.fixture
def parcelpost() -> ParcelPostPlugin:
    return ParcelPostPlugin()


@pytest.fixture
def extra_plugins(testmarket: Any, parcelpost: ParcelPostPlugin) -> list[tuple[str, object]]:
    return [("testmarket", testmarket), ("parcelpost", parcelpost)]


@pytest_asyncio.fixture
async def env(shop: Any, app: Any) -> AsyncIterator[Env]:
    async with tracking_env(shop, app) as made:
        yield made


async def test_processes_recording_the_same_scans_at_once(
    env: Env, backend: str, database_url: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("several processes share PostgreSQL (SQLite serves one process)")
    shop = env.shop
    sid, (number,) = await env.shipped("PR-1")
    events = [
        {"at": "2026-11-20T08:00:00+00:00", "status": "picked_up", "code": "PU", "reason": None},
        {"at": "2026-11-20T09:00:00+00:00", "status": "in_transit", "code": "TR", "reason": None},
        {"at": "2026-11-20T10:00:00+00:00", "status": "on_hold", "code": "HD", "reason": "duties_unpaid"},
    ]
    args = {
        "url": database_url,
        "secret": TEST_SECRET,
        "dir": str(tmp_path),
        "tenant": shop.tenant.id,
        "slug": shop.tenant.slug,
        "shipment": sid,
        "number": number,
        "events": events,
        "start": time.time() + 3.0,  # every process imported and connected by then
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RECORDER,
            json.dumps(args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    added = sum(json.loads(out.decode().strip().splitlines()[-1])["added"] for out, _ in outputs)
    assert added == 3  # each scan added by exactly one of the twenty recordings

    async with shop.read() as session:

        async def count(model: Any, *where: Any) -> int:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        assert await count(TrackingEventRow, TrackingEventRow.shipment_id == sid) == 3
        assert await count(ShipmentException, ShipmentException.shipment_id == sid) == 1
        assert await count(Event, Event.type == "shipment.exception") == 1
        assert await count(Event, Event.type == "shipment.tracking_updated") == 1
