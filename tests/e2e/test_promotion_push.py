"""A promotion's price reaches the marketplace when it starts and goes back when it ends
(Shopee's emulator over HTTP, Crossdock's real price-push job)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crossdock_shopee.emulator import ShopeeSellerEmulator
from sqlalchemy import select

from crossdock.db.models import Listing
from crossdock.money import Money
from crossdock.services import listings, promotions
from crossdock.testing.conformance import MarketplaceConformance, until_done
from crossdock.testing.emulator import Faults


class ShopeeShop(MarketplaceConformance):
    """The conformance suite's setup, not its tests."""

    channel = "shopee"
    site = "SG"

    def make_emulator(self, faults: Faults) -> ShopeeSellerEmulator:
        return ShopeeSellerEmulator(faults)


async def test_the_marketplace_price_follows_the_promotion(app: Any, tenant_factory: Any) -> None:
    async with ShopeeShop().connected(app, tenant_factory) as setup:
        async with app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
            session = uow.session
            listing = await session.scalar(select(Listing).where(Listing.channel_sku == "CONF-1"))
            assert listing is not None
            await listings.update_listing(uow, listing.id, price=Money.of("20.00", "SGD"))
        push = setup.job("push_prices", connection_id=setup.connection_id)
        await until_done(push)
        assert setup.emulator.price(setup.account, "CONF-1") == "20.00"

        start = datetime.now(UTC)
        async with app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
            await promotions.create_promotion(
                uow,
                name="Flash",
                kind="percent",
                value=Decimal("10"),
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                timezone="Asia/Singapore",
                listing_ids=[listing.id],
            )
        await until_done(setup.job("apply_promotions"))
        await until_done(push)
        assert setup.emulator.price(setup.account, "CONF-1") == "18.00"

        async with app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
            await promotions.reprice(uow, now=start + timedelta(hours=2))  # the window closes
        await until_done(push)
        assert setup.emulator.price(setup.account, "CONF-1") == "20.00"
