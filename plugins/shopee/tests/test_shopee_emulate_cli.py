"""`crossdock emulate shopee`: a standalone emulator a third-party client can talk to."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx
from crossdock_shopee.client import ShopeeClient


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
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=30))
        assert first["channel"] == "shopee" and first["site"] == "SG"
        creds = first["credentials"]
        now = int(time.time())
        async with httpx.AsyncClient() as http:
            client = ShopeeClient(
                creds["partner_id"], creds["partner_key"], base_url=first["base_url"], http=http
            )
            for _ in range(50):  # the server starts right after printing
                try:
                    answer = await client.call(
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
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            assert len(answer["response"]["order_list"]) == 20
    finally:
        proc.terminate()
        await proc.wait()
