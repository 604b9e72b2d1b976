"""No credential ever reaches a log: every channel syncs, refreshes its token, confirms a
shipment and pushes stock with all loggers at DEBUG, and the captured logs are grepped for
every secret the connection holds (before and after the refresh)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from crossdock.db.models import Connection
from crossdock.testing.conformance import MarketplaceConformance, until_done
from crossdock.testing.emulator import Faults

CHANNELS = {"shopee": "SG", "lazada": "SG", "amazon": "US", "tiktok": "US"}


class Shop(MarketplaceConformance):
    def make_emulator(self, faults: Faults) -> Any:
        return self.factory(faults)


#: What in a credentials mapping is secret (ids such as a seller id or app key are not).
SECRET = re.compile(r"secret|token|partner_key|password|auth_code")


def _secrets(credentials: dict[str, Any]) -> set[str]:
    return {str(v) for k, v in credentials.items() if SECRET.search(k) and isinstance(v, str) and len(v) >= 8}


@pytest.mark.parametrize("channel", list(CHANNELS))
async def test_credentials_never_reach_the_logs(
    app: Any, tenant_factory: Any, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    shop = Shop()
    shop.channel, shop.site = channel, CHANNELS[channel]
    shop.factory = app.plugins.emulators[channel]
    caplog.set_level(logging.DEBUG)
    async with shop.connected(app, tenant_factory) as setup:
        setup.emulator.generate_orders(setup.account, 5, seed=3)
        await setup.sync()
        setup.emulator.expire_tokens()
        setup.emulator.add_order(setup.account, "LOG-1", [("CONF-1", 1, "10.00")])
        await setup.sync()
        await until_done(setup.job("push_stock", connection_id=setup.connection_id))
        async with app.db.tenant(setup.tenant.id) as session:
            conn = await session.scalar(select(Connection).where(Connection.id == setup.connection_id))
            assert conn is not None
            refreshed = app.vault.decrypt(conn.credentials_encrypted)
    logged = caplog.text
    assert "HTTP Request" in logged  # the HTTP client did log its requests
    leaked = {s for s in _secrets(dict(setup.account)) | _secrets(refreshed) if s in logged}
    assert leaked == set(), f"{channel} logged {len(leaked)} secret value(s)"
