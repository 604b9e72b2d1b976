"""`crossdock emulate shopee`: a standalone emulator a third-party client can talk to."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx
from crossdock_shopee.client import ShopeeClient

from crossdock.testing import wait_until


async def test_emulate_prints_credentials_then_serves() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock.cli",
        "emulate",
        "shopee",
        "--orders",
        "20",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=120))
        assert first["channel"] == "shopee" and first["site"] == "SG"
        creds = first["credentials"]
        now = int(time.time())
        async with httpx.AsyncClient() as http:
            client = ShopeeClient(
                creds["partner_id"], creds["partner_key"], base_url=first["base_url"], http=http
            )

            async def answered() -> dict[str, Any] | None:
                try:
                    return await client.call(
                        "GET",
                        "/api/v2/order/get_order_list",
                        access_token=creds["access_token"],
                        shop_id=creds["shop_id"],
                        params={
                            "time_range_field": "update_time",
                            "time_from": now - 14 * 86400,
                            "time_to": now,
                            "page_size": 100,
                        },
                    )
                except Exception:  # the server starts right after printing: not yet
                    return None

            answer = await wait_until(answered, message="the emulator to answer")
            assert len(answer["response"]["order_list"]) == 20
    finally:
        proc.terminate()
        await proc.wait()
