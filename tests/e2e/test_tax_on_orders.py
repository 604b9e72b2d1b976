"""Orders pulled from Amazon (emulated) carry the tax the installed region plugins quote:
a Chinese seller's goods in a German warehouse sold through Amazon.de are taxed under the
deemed-supplier rule (Amazon collects the VAT contained in the price); a sale into
California through Amazon.com is Amazon's to collect as marketplace facilitator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from crossdock_amazon.emulator import AmazonEmulator
from sqlalchemy import select, update

from crossdock.db.models import Order, OrderLine, Tenant
from crossdock.testing.conformance import MarketplaceConformance
from crossdock.testing.emulator import Faults


class Shop(MarketplaceConformance):
    channel = "amazon"

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)


@pytest.mark.parametrize(
    ("site", "price", "expected"),
    [
        # Council Directive 2006/112/EC art. 14a(2); German standard rate 19 % (UStG s. 12(1)):
        # 119.00 contains 119 x 19/119 = 19.00 of VAT, collected by Amazon
        ("DE", "119.00", (Decimal("0.19"), Decimal("19.00"), "deemed_supplier", "marketplace", "DE")),
        # New York's state rate is 4 % (NY Tax Law s. 1105), added on top of US prices; NY's
        # marketplace provider law makes Amazon collect it (Tax Law s. 1101(e))
        (
            "US",
            "100.00",
            (Decimal("0.04"), Decimal("4.00"), "marketplace_facilitator", "marketplace", "US-NY"),
        ),
    ],
)
async def test_marketplace_orders_carry_their_tax(
    app: Any, tenant_factory: Any, site: str, price: str, expected: tuple[Any, ...]
) -> None:
    if not {"eu_vat", "us_sales_tax"} <= set(app.plugins.tax_engines):
        pytest.skip("the tax plugins are not installed")
    shop = Shop()
    shop.site = site
    async with shop.connected(app, tenant_factory) as setup:
        async with app.db.write(system=True) as session:
            await session.execute(
                update(Tenant)
                .where(Tenant.id == setup.tenant.id)
                .values(settings={"reporting_currency": "EUR", "tax": {"seller_country": "CN"}})
            )
        setup.emulator.add_order(setup.account, "303-0000000-0000001", [("CONF-1", 1, price)])
        await setup.sync()
        async with app.db.tenant(setup.tenant.id) as session:
            line = await session.scalar(select(OrderLine))
            order = await session.scalar(select(Order))
        assert line is not None and order is not None
        got = (line.tax_rate, line.tax_amount, line.tax_scheme, line.tax_collected_by, line.tax_jurisdiction)
        assert got == expected
        assert order.tax_amount == expected[1]
        if order.currency == "EUR":
            assert order.base_currency == "EUR" and order.base_total_amount == Decimal(price)
