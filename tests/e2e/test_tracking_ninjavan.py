"""A Shopee order shipped with a Ninja Van label: polled over HTTP, then pushed by Ninja Van's
signed webhooks to ``/webhooks/carriers/ninjavan/{key}`` until it is delivered (both
emulated on loopback, through the plugins' real clients)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crossdock_ninjavan.emulator import NinjaVanEmulator
from crossdock_shopee.emulator import ShopeeSellerEmulator
from sqlalchemy import select, update

from crossdock import Money
from crossdock.db.models import CarrierAccount, Shipment, ShipmentException
from crossdock.jobs.carrier import buy_once, open_carrier
from crossdock.providers import Address, TrackingReason, TrackingStatus
from crossdock.services import tracking
from crossdock.testing import build_shop
from crossdock.testing.carriers import sample_request
from crossdock.testing.emulator import serve

SG_BUYER = Address(
    name="Tan Mei Ling",
    line1="1 Tampines Central 5",
    city="Singapore",
    postal_code="529508",
    country="SG",
    phone="+6591234567",
)


async def test_a_ninjavan_parcel_polled_then_pushed_to_delivery(
    app: Any, api: Any, tenant_factory: Any
) -> None:
    market, carrier = ShopeeSellerEmulator(), NinjaVanEmulator()
    async with serve(market) as market_url, serve(carrier) as carrier_url:
        account = market.open_account("SG")
        listing = market.add_product(account, "NV-1", stock=0)
        shop = await build_shop(
            app,
            await tenant_factory(),
            channel="shopee",
            site="SG",
            credentials=account,
            base_url=market_url,
            skus={"NV-1": 5},
            listings={"NV-1": listing},
            settings={"timeout": 2},
        )
        market.add_order(account, "NVO-1", [("NV-1", 1, "9.90")], buyer="mei")
        await shop.sync()
        async with app.db.write(shop.tenant.id) as session:
            row = CarrierAccount(
                carrier="ninjavan",
                name="sg",
                credentials_encrypted=app.vault.encrypt(carrier.open_account("SG")),
                base_url=carrier_url,
                settings={"timeout": 2},
            )
            session.add(row)
            await session.flush()
            account_id = row.id
            key = await tracking.ensure_webhook_key(session, account_id)

        opened = await open_carrier(app.job_context(), shop.tenant.id, account_id)
        assert opened is not None
        request = replace(
            sample_request("crossdock-label-nv-1"),
            destination=SG_BUYER,
            items=(),
            declared_value=Money(Decimal("9.90"), "SGD"),
        )
        label = await buy_once(opened.provider, opened.view, request, "standard")
        (number,) = label.tracking_numbers
        shipment_id = await shop.ship("NVO-1", carrier="ninjavan", tracking_number=number)
        async with app.db.write(shop.tenant.id) as session:
            await session.execute(
                update(Shipment)
                .where(Shipment.id == shipment_id)
                .values(carrier_account_id=account_id, tracking_status="pending")
            )

        async def shipment() -> Shipment:
            async with app.db.tenant(shop.tenant.id) as session:
                found = await session.scalar(select(Shipment).where(Shipment.id == shipment_id))
                assert found is not None
                return found

        soon = datetime.now(UTC) + timedelta(seconds=2)
        carrier.scan(number, TrackingStatus.PICKED_UP, at=soon)
        totals = await shop.run("track_account", account_id=account_id)
        assert totals["checked"] == 1 and totals["calls"] == 1
        assert (await shipment()).tracking_status == "picked_up"

        url = f"/webhooks/carriers/ninjavan/{key}"
        carrier.scan(
            number,
            TrackingStatus.DELIVERY_FAILED,
            TrackingReason.RECIPIENT_UNAVAILABLE,
            at=soon + timedelta(hours=1),
        )
        headers, body = carrier.tracking_push(number)
        assert (await api.client.post(url, content=body, headers=headers)).status_code == 200
        assert (await api.client.post(url, content=body, headers=headers)).status_code == 200  # again
        forged = {
            k: ("0" * len(v) if "sign" in k.lower() or "hmac" in k.lower() else v) for k, v in headers.items()
        }
        assert (await api.client.post(url, content=body, headers=forged)).status_code == 401
        assert (
            await api.client.post(f"/webhooks/carriers/ninjavan/{key}x", content=body, headers=headers)
        ).status_code == 404
        assert (await shipment()).tracking_status == "delivery_failed"
        async with app.db.tenant(shop.tenant.id) as session:
            kinds = (
                await session.scalars(
                    select(ShipmentException.kind).where(ShipmentException.shipment_id == shipment_id)
                )
            ).all()
        assert kinds == ["failed_attempt"]

        carrier.scan(number, TrackingStatus.DELIVERED, at=soon + timedelta(hours=20))
        headers, body = carrier.tracking_push(number)
        assert (await api.client.post(url, content=body, headers=headers)).status_code == 200
        assert (await shipment()).delivered_at is not None
        assert (await shop.order("NVO-1")).status == "delivered"
        assert (await shop.run("track_account", account_id=account_id))["checked"] == 0  # no longer tracked
