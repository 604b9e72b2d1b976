"""Lazada passes the marketplace conformance suite against its emulator, and through the
core's jobs its throttling and system codes are waited out while an auth error that is not
token expiry stops the connection without spending the refresh token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crossdock_lazada.emulator import LazadaSellerEmulator

from crossdock import ChannelError
from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class TestLazadaConformance(MarketplaceConformance):
    channel = "lazada"
    site = "SG"

    def make_emulator(self, faults: Faults) -> LazadaSellerEmulator:
        return LazadaSellerEmulator(faults)

    async def test_lazada_998_holds_the_connection_back_a_minute(self, app: Any, tenant_factory: Any) -> None:
        async with self.connected(app, tenant_factory) as setup:
            emulator: LazadaSellerEmulator = setup.emulator  # type: ignore[assignment]
            emulator.generate_orders(setup.account, 150, seed=6)
            emulator.refuse("/orders/get", "998")
            with pytest.raises(ChannelError) as caught:  # one run, as a runner sees it
                await setup.job("sync_orders", connection_id=setup.connection_id)()
            assert (caught.value.code, caught.value.retryable) == ("998", True)
            conn = await setup.connection()
            assert conn.status == "active" and (conn.last_error or "").startswith("998")
            assert conn.throttled_until is not None
            wait = conn.throttled_until.replace(tzinfo=UTC) - datetime.now(UTC)
            assert timedelta(seconds=30) < wait <= timedelta(seconds=60)  # not the next second
            assert emulator.orders and not await setup.orders()  # nothing was half-written

    async def test_lazada_throttling_and_system_codes_are_retried(
        self, app: Any, tenant_factory: Any
    ) -> None:
        async with self.connected(app, tenant_factory) as setup:
            emulator: LazadaSellerEmulator = setup.emulator  # type: ignore[assignment]
            ids = emulator.generate_orders(setup.account, 150, seed=6)
            emulator.refuse("/orders/get", "901")
            emulator.refuse("/orders/get", "513")
            emulator.refuse("/orders/items/get", "ApiCallLimit")
            emulator.refuse("/orders/items/get", "6")
            await setup.sync()
            assert set(await setup.orders()) == set(ids)
            assert all(not left for left in emulator.refusals.values())
            assert (await setup.connection()).status == "active"

    async def test_lazada_permission_error_is_not_expiry(self, app: Any, tenant_factory: Any) -> None:
        async with self.connected(app, tenant_factory) as setup:
            emulator: LazadaSellerEmulator = setup.emulator  # type: ignore[assignment]
            emulator.generate_orders(setup.account, 5, seed=7)
            before = await setup.credentials()
            emulator.denied.add("/orders/get")
            with pytest.raises(ChannelError) as caught:
                await setup.sync()
            assert (caught.value.code, caught.value.retryable) == ("InsufficientPermission", False)
            assert emulator.requests["/auth/token/refresh"] == 0  # no refresh was tried
            assert (await setup.credentials())["refresh_token"] == before["refresh_token"]
            conn = await setup.connection()
            assert conn.status == "failed" and "InsufficientPermission" in (conn.last_error or "")
