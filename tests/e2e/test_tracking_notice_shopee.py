"""A Shopee order shipped with a carrier: the carrier's customs hold, seen by the poll over
HTTP, tells the buyer once, in their thread's language, through Shopee's Seller Chat (both
emulated over loopback)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crossdock_shopee.emulator import ShopeeSellerEmulator
from sqlalchemy import select, update

from crossdock.db.models import CarrierAccount, Shipment, ShipmentException
from crossdock.providers import TrackingReason, TrackingStatus
from crossdock.services import messaging, tracking
from crossdock.testing import build_shop
from crossdock.testing.emulator import serve

from ..core.tracking_kit import ParcelPostEmulator, ParcelPostPlugin


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("parcelpost", ParcelPostPlugin())]


async def test_a_customs_hold_reaches_the_shopee_buyer_once(app: Any, tenant_factory: Any) -> None:
    market, carrier = ShopeeSellerEmulator(), ParcelPostEmulator()
    async with serve(market) as market_url, serve(carrier) as carrier_url:
        account = market.open_account("SG")
        listing = market.add_product(account, "TSK-1", stock=0)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=account,
            base_url=market_url,
            skus={"TSK-1": 10},
            listings={"TSK-1": listing},
            settings={"timeout": 2},
        )
        market.add_order(account, "SO-1", [("TSK-1", 1, "9.90")], buyer="amy")
        await shop.sync()
        market.buyer_writes(account, "amy", "Where is my parcel?", "SO-1")
        await shop.sync("messages")

        (number,) = carrier.label("SO-1")
        shipment_id = await shop.ship("SO-1", carrier="parcelpost", tracking_number=number)
        async with app.db.write(shop.tenant.id) as session:
            row = CarrierAccount(
                carrier="parcelpost",
                name="main",
                credentials_encrypted=app.vault.encrypt(carrier.open_account()),
                base_url=carrier_url,
            )
            session.add(row)
            await session.flush()
            await session.execute(
                update(Shipment)
                .where(Shipment.id == shipment_id)
                .values(carrier_account_id=row.id, tracking_status="pending")
            )
            account_id = row.id
            for language, body in (
                ("en", "Hi {buyer_name}, customs are holding {order_number} ({carrier} {tracking_number})."),
                ("th", "สวัสดี {buyer_name}"),
            ):
                await messaging.save_canned_reply(session, name="customs", language=language, body=body)
            await tracking.save_notice_rule(session, rule_id=None, kind="customs_hold", template="customs")

        soon = datetime.now(UTC) + timedelta(seconds=1)
        carrier.scan(number, TrackingStatus.PICKED_UP, at=soon)
        carrier.scan(
            number, TrackingStatus.ON_HOLD, TrackingReason.CUSTOMS_HOLD, at=soon + timedelta(seconds=1)
        )
        totals = await shop.run("track_account", account_id=account_id)
        assert totals["exceptions"] == 1
        async with app.db.tenant(shop.tenant.id) as session:
            raised = await session.scalar(
                select(ShipmentException).where(ShipmentException.shipment_id == shipment_id)
            )
            assert raised is not None and raised.kind == "customs_hold"

        assert await shop.run("exception_notice", exception_id=raised.id) == "sent"
        assert await shop.run("exception_notice", exception_id=raised.id) == "done"
        assert await shop.run("track_account", account_id=account_id) == {
            "checked": 1,
            "recorded": 0,
            "added": 0,
            "exceptions": 0,
            "calls": 1,
            "pages": 1,
        }
        assert market.messages_to(account, "amy") == [
            f"Hi amy, customs are holding SO-1 (parcelpost {number})."
        ]
