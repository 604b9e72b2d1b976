"""Amazon payouts (Finances v0 event groups) come in as settlements, and each order's money
is reconciled: expected (total less the 15 % referral fee) against what Amazon paid."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crossdock_amazon.emulator import AmazonEmulator

from crossdock.testing.conformance import SettlementConformance
from crossdock.testing.emulator import Faults


class TestAmazonSettlements(SettlementConformance):
    """The kit's settlement conformance suite: Amazon keeps a 15 % referral fee."""

    channel = "amazon"
    site = "US"
    settlement_settings = {"commission_rate": "0.15"}

    def make_emulator(self, faults: Faults) -> AmazonEmulator:
        return AmazonEmulator(faults)


async def test_fees_and_ads_are_lines_and_an_unexpected_fee_a_difference(
    app: Any, tenant_factory: Any
) -> None:
    suite = TestAmazonSettlements()
    async with suite.connected(app, tenant_factory, Faults.failing(0.2, seed=9)) as setup:
        emulator: Any = setup.emulator
        await setup.update_connection(settings={"timeout": 0.5, "commission_rate": "0.15"})
        for i, price in enumerate(("19.99", "45.00", "7.50")):
            emulator.add_order(
                setup.account, f"112-0000000-000000{i}", [("CONF-1", 2, price)], buyer=f"Buyer{i} Doe"
            )
        await setup.sync()
        for i in range(3):
            external_id = f"112-0000000-000000{i}"
            shipment = await setup.ship(external_id, carrier="UPS", tracking_number=f"1Z{external_id[-4:]}")
            assert await setup.run("confirm_shipment", shipment_id=shipment) == "confirmed"
        seller = setup.account["seller_id"]
        # Amazon also charges a weight-handling fee on one order, and sponsored-product ads
        emulator.finances.charge_fee(
            seller, "112-0000000-0000001", Decimal("1.50"), "USD", "WeightHandlingFee"
        )
        emulator.finances.charge_ads(seller, Decimal("12.00"), "USD")
        emulator.close_payout(setup.account)

        totals = await setup.sync("settlements")
        assert totals["settlements"] >= 1
        [(payout, lines)] = await setup.settlements()
        # 2 x (39.98 + 90.00 + 15.00) = 144.98 of sales, 15 % fees, 1.50 + 12.00 more
        assert payout.status == "paid" and payout.paid_at is not None
        assert payout.total_amount == Decimal("144.98") - Decimal("21.75") - Decimal("13.50")
        assert sum(ln.amount for ln in lines) == payout.total_amount
        assert {ln.kind for ln in lines} == {"sale", "tax", "commission", "other", "advertising"}
        rows = await setup.reconcile()
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
        [(_, again)] = await setup.settlements()
        assert len(again) == len(lines)
        assert {o.status for o in (await setup.orders()).values()} == {"shipped"}
