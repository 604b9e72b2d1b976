"""`crossdock emulate lazada`: a standalone emulator a third-party client can talk to."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from crossdock_lazada.client import LazadaClient

from crossdock.testing import wait_until


async def test_emulate_prints_credentials_then_serves() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock.cli",
        "emulate",
        "lazada",
        "--orders",
        "20",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=120))
        assert first["channel"] == "lazada" and first["site"] == "SG"
        assert set(first["listings"]) == {"DEMO-1", "DEMO-2", "DEMO-3"}
        creds = first["credentials"]
        since = (datetime.now(UTC) - timedelta(days=14)).isoformat(timespec="seconds")
        async with httpx.AsyncClient() as http:
            client = LazadaClient(
                creds["app_key"], creds["app_secret"], base_url=first["base_url"], http=http
            )

            async def answered() -> dict[str, Any] | None:
                try:
                    return await client.call(
                        "GET",
                        "/orders/get",
                        access_token=creds["access_token"],
                        params={"update_after": since, "sort_by": "updated_at", "limit": 100},
                    )
                except Exception:  # the server starts right after printing: not yet
                    return None

            answer = await wait_until(answered, message="the emulator to answer")
            assert answer["data"]["countTotal"] == 20 == len(answer["data"]["orders"])
    finally:
        proc.terminate()
        await proc.wait()
