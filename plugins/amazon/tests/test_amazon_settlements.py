"""Amazon payouts (Finances v0 event groups) come in as settlements, and each order's money
is reconciled: expected (total less the 15 % referral fee) against what Amazon paid."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crossdock_amazon.emulator import AmazonEmulator
from sqlalchemy import select, update

from crossdock.db.models import Connection, Order, Settlement, SettlementLine
from crossdock.services import fulfilment, settlements
from crossdock.testing.conformance import MarketplaceConformance, Setup, until_done
from crossdock.testing.emulator import Faults


class AmazonShop(MarketplaceConformance):
    """The conformance suite's setup, not its tests."""

    channel = "amazon"
    site = "US"

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)


async def _ship(setup: Setup, external_id: str) -> None:
    order = (await setup.orders())[external_id]
    async with setup.app.unit_of_work(setup.tenant.id, setup.tenant.slug) as uow:
        session = uow.session
        shipment = await fulfilment.pack_shipment(
            session, order.id, setup.warehouse_id, carrier="UPS", tracking_number=f"1Z{external_id[-4:]}"
        )
        await fulfilment.ship_shipment(uow, shipment.id)
    assert await until_done(setup.job("confirm_shipment", shipment_id=shipment.id)) == "confirmed"


async def test_payouts_reconcile_order_by_order(app: Any, tenant_factory: Any) -> None:
    async with AmazonShop().connected(app, tenant_factory, Faults.failing(0.2, seed=9)) as setup:
        emulator: Any = setup.emulator
        async with app.db.write(setup.tenant.id) as session:
            await session.execute(
                update(Connection)
                .where(Connection.id == setup.connection_id)
                .values(settings={"timeout": 0.5, "commission_rate": "0.15"})
            )
        for i, price in enumerate(("19.99", "45.00", "7.50")):
            emulator.add_order(
                setup.account, f"112-0000000-000000{i}", [("CONF-1", 2, price)], buyer=f"Buyer{i} Doe"
            )
        await setup.sync()
        for i in range(3):
            await _ship(setup, f"112-0000000-000000{i}")
        seller = setup.account["seller_id"]
        # Amazon also charges a weight-handling fee on one order, and sponsored-product ads
        emulator.finances.charge_fee(
            seller, "112-0000000-0000001", Decimal("1.50"), "USD", "WeightHandlingFee"
        )
        emulator.finances.charge_ads(seller, Decimal("12.00"), "USD")
        emulator.finances.close(seller)

        totals = await setup.sync("settlements")
        assert totals["settlements"] >= 1

        async with app.db.tenant(setup.tenant.id) as session:
            [payout] = (await session.scalars(select(Settlement))).all()
            lines = (await session.scalars(select(SettlementLine))).all()
            # 2 x (39.98 + 90.00 + 15.00) = 144.98 of sales, 15 % fees, 1.50 + 12.00 more
            assert payout.status == "paid" and payout.paid_at is not None
            assert payout.total_amount == Decimal("144.98") - Decimal("21.75") - Decimal("13.50")
            assert sum(ln.amount for ln in lines) == payout.total_amount
            assert {ln.kind for ln in lines} == {"sale", "tax", "commission", "other", "advertising"}
            rows = {r.order.external_id: r for r in await settlements.reconcile(session)}
        assert {k: r.status for k, r in rows.items()} == {
            "112-0000000-0000000": "matched",
            "112-0000000-0000001": "difference",
            "112-0000000-0000002": "matched",
        }
        odd = rows["112-0000000-0000001"]
        assert (odd.expected.amount, odd.settled.amount, odd.difference.amount) == (
            Decimal("76.50"),
            Decimal("75.00"),
            Decimal("-1.50"),
        )

        # a re-read of the same (now closed) payout changes nothing
        await setup.sync("settlements")
        async with app.db.tenant(setup.tenant.id) as session:
            assert len((await session.scalars(select(SettlementLine))).all()) == len(lines)
            shipped = (await session.scalars(select(Order.status))).all()
        assert set(shipped) == {"shipped"}
