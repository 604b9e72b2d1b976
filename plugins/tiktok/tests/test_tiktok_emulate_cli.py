"""`crossdock emulate tiktok`: a standalone emulator a third-party client can talk to."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import httpx
from crossdock_tiktok.client import TikTokShopClient

from crossdock.testing import wait_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_emulate_prints_credentials_then_serves() -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crossdock.cli",
        "emulate",
        "tiktok",
        "--port",
        str(port),
        "--orders",
        "20",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=120))
        assert (first["channel"], first["site"], first["base_url"]) == (
            "tiktok",
            "US",
            f"http://127.0.0.1:{port}",
        )
        creds = first["credentials"]
        assert set(first["listings"]) == {"DEMO-1", "DEMO-2", "DEMO-3"}
        async with httpx.AsyncClient() as http:
            client = TikTokShopClient(
                creds["app_key"], creds["app_secret"], base_url=first["base_url"], http=http
            )

            async def answered() -> dict[str, Any] | None:
                try:
                    return await client.call(
                        "GET",
                        "/authorization/202309/shops",
                        operation="shops",
                        access_token=creds["access_token"],
                    )
                except Exception:  # the server starts right after printing: not yet
                    return None

            shops = await wait_until(answered, message="the emulator to answer")
            [shop] = shops["shops"]
            answer = await client.call(
                "POST",
                "/order/202309/orders/search",
                operation="orders.search",
                access_token=creds["access_token"],
                shop_cipher=shop["cipher"],
                params={"page_size": 100, "sort_field": "update_time", "sort_order": "ASC"},
                body={},
            )
            assert (len(answer["orders"]), answer["total_count"], answer["next_page_token"]) == (20, 20, "")
            assert {o["payment"]["currency"] for o in answer["orders"]} == {"USD"}
    finally:
        proc.terminate()
        await proc.wait()
