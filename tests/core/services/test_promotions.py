"""Promotions start and stop on time in the market's time zone, the pushed price follows
them, and carts earn bundle and spend discounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crossdock.db.models import Listing
from crossdock.errors import UserError
from crossdock.jobs import JOBS
from crossdock.money import Money
from crossdock.services import listings, promotions


async def _listing(shop: Any) -> Listing:
    async with shop.unit_of_work() as uow:
        session = uow.session
        row = await session.scalar(select(Listing).where(Listing.channel_sku == "sg-SKU-1"))
        assert row is not None
        await listings.update_listing(uow, row.id, price=Money.of("20.00", "SGD"))
        return row


async def _price(shop: Any, listing_id: int) -> tuple[Decimal | None, Decimal | None]:
    async with shop.read() as session:
        row = await session.get(Listing, listing_id)
        assert row is not None
        return row.price_amount, row.regular_price_amount


async def test_a_flash_sale_in_singapore_time_changes_the_pushed_price_and_back(shop: Any) -> None:
    listing = await _listing(shop)
    async with shop.unit_of_work() as uow:
        promo = await promotions.create_promotion(
            uow,
            name="11.11",
            kind="percent",
            value=Decimal("15"),
            # midnight to 2 am on 11 November in Singapore: 16:00-18:00 UTC on the 10th
            starts_at=datetime(2026, 11, 11, 0, 0),
            ends_at=datetime(2026, 11, 11, 2, 0),
            timezone="Asia/Singapore",
            listing_ids=[listing.id],
        )
    assert promo.starts_at == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
    assert promo.ends_at == datetime(2026, 11, 10, 18, 0, tzinfo=UTC)

    async def at(moment: datetime) -> tuple[Decimal | None, Decimal | None]:
        async with shop.unit_of_work() as uow:
            await promotions.reprice(uow, now=moment)
        return await _price(shop, listing.id)

    assert await at(datetime(2026, 11, 10, 15, 59, tzinfo=UTC)) == (Decimal("20.00"), Decimal("20.00"))
    assert await at(datetime(2026, 11, 10, 16, 0, tzinfo=UTC)) == (Decimal("17.00"), Decimal("20.00"))
    assert await at(datetime(2026, 11, 10, 18, 0, tzinfo=UTC)) == (Decimal("20.00"), Decimal("20.00"))


async def test_the_job_applies_what_is_due_and_the_push_follows(shop: Any, app: Any) -> None:
    listing = await _listing(shop)
    now = datetime.now(UTC)
    async with shop.unit_of_work() as uow:
        await promotions.create_promotion(
            uow,
            name="Payday",
            kind="fixed",
            value=Decimal("2.50"),
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            connection_id=shop.connections["sg"],
        )
    ctx = app.job_context()
    assert await JOBS["promotion_sweep"](ctx) == 1  # started a minute ago, not applied yet
    assert await JOBS["apply_promotions"](ctx, tenant_id=shop.tenant.id) >= 1
    assert await _price(shop, listing.id) == (Decimal("17.50"), Decimal("20.00"))
    assert await JOBS["promotion_sweep"](ctx) == 0  # nothing left to do
    # the operator changes the regular price while the sale runs: the sale applies to it
    async with shop.unit_of_work() as uow:
        await listings.update_listing(uow, listing.id, price=Money.of("30.00", "SGD"))
    assert await _price(shop, listing.id) == (Decimal("27.50"), Decimal("30.00"))


async def test_overlapping_promotions_do_not_stack(shop: Any) -> None:
    listing = await _listing(shop)
    now = datetime.now(UTC)
    async with shop.unit_of_work() as uow:
        for name, kind, value in (("ten", "percent", "10"), ("three", "fixed", "3.00")):
            await promotions.create_promotion(
                uow,
                name=name,
                kind=kind,
                value=Decimal(value),
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=1),
                listing_ids=[listing.id],
            )
        await promotions.reprice(uow)
    assert await _price(shop, listing.id) == (Decimal("17.00"), Decimal("20.00"))  # the better one


async def test_carts_earn_bundles_and_spend_thresholds(shop: Any) -> None:
    listing = await _listing(shop)
    now = datetime.now(UTC)
    async with shop.unit_of_work() as uow:
        session = uow.session
        await promotions.create_promotion(
            uow,
            name="3 for 2-ish",
            kind="bundle",
            value=Decimal("20"),
            bundle_quantity=3,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=1),
            listing_ids=[listing.id],
        )
        await promotions.create_promotion(
            uow,
            name="Spend 100 save 5%",
            kind="spend_threshold",
            value=Decimal("5"),
            min_spend=Decimal("100"),
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=1),
            connection_id=shop.connections["sg"],
        )
        small = await promotions.quote_cart(session, [promotions.CartLine(listing.id, 2)])
        big = await promotions.quote_cart(session, [promotions.CartLine(listing.id, 7)])
    assert (small.subtotal, small.discounts, small.total) == (
        Money.of("40.00", "SGD"),
        [],
        Money.of("40.00", "SGD"),
    )
    # 7 x 20 = 140; two bundles of 3 get 20 % off 120 = 24; 116 >= 100 earns 5 % = 5.80
    assert big.subtotal == Money.of("140.00", "SGD")
    assert big.discounts == [
        ("3 for 2-ish", Money.of("24.00", "SGD")),
        ("Spend 100 save 5%", Money.of("5.80", "SGD")),
    ]
    assert big.total == Money.of("110.20", "SGD")


async def test_bad_promotions_are_refused(shop: Any) -> None:
    listing = await _listing(shop)
    now = datetime.now(UTC)
    cases = [
        ({"kind": "percent", "value": Decimal("100")}, "value"),
        ({"kind": "percent", "value": Decimal("10"), "timezone": "Mars/Olympus"}, "timezone"),
        ({"kind": "percent", "value": Decimal("10"), "ends_at": now - timedelta(days=1)}, "endsAt"),
        ({"kind": "bundle", "value": Decimal("10"), "bundle_quantity": 1}, "bundleQuantity"),
        ({"kind": "spend_threshold", "value": Decimal("10")}, "minSpend"),
        ({"kind": "bogus", "value": Decimal("10")}, "kind"),
    ]
    for fields, field in cases:
        args = {
            "name": "x",
            "starts_at": now,
            "ends_at": now + timedelta(hours=1),
            "listing_ids": [listing.id],
            **fields,
        }
        with pytest.raises(UserError) as excinfo:
            async with shop.unit_of_work() as uow:
                await promotions.create_promotion(uow, **args)
        assert excinfo.value.field == field
