"""Payouts are stored as the channel reports them (re-reads replace, never duplicate), and
each order is reconciled: matched, a difference to look at, or missing after the grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from crossdock import ChannelSettlement, Money, SettlementLine
from crossdock.db.models import Connection, Order
from crossdock.db.models import SettlementLine as Line
from crossdock.services import aftersales, settlements


def _payout(*lines: tuple[str, str, str | None], status: str = "open") -> ChannelSettlement:
    parts = [SettlementLine(kind, Money.of(amount, "SGD"), order) for kind, amount, order in lines]
    total = sum((p.amount.amount for p in parts), Decimal(0))
    return ChannelSettlement(
        external_id="P-1", opened_at=datetime.now(UTC), total=Money(total, "SGD"), lines=parts, status=status
    )


async def test_orders_are_matched_found_different_or_missing(shop: Any) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    for i in range(4):
        await shop.ingest(shop.market.add_order(f"S-{i}", total="10.00", buyer=f"b{i}", updated=long_ago))
    async with shop.write() as session:
        await session.execute(update(Order).values(status="shipped"))
        await session.execute(
            update(Connection).values(settings={"commission_rate": "0.10", "reconcile_tolerance": "0.05"})
        )
        order_2 = await session.scalar(select(Order.id).where(Order.external_id == "S-2"))
        await aftersales.record_refund(
            session, order_2, Money.of("2.00", "SGD"), reason="scratched", plugins=None
        )
        conn = await session.get(Connection, shop.connections["sg"])
        assert conn is not None
        first = _payout(("sale", "10.00", "S-0"), ("commission", "-1.00", "S-0"), ("sale", "10.00", "S-1"))
        await settlements.ingest_settlements(session, conn, [first])
        # the payout is read again once more has posted: its lines are replaced, not added
        later = _payout(
            ("sale", "10.00", "S-0"),
            ("commission", "-1.00", "S-0"),
            ("sale", "10.00", "S-1"),
            ("commission", "-1.00", "S-1"),
            ("other", "-0.70", "S-1"),
            ("sale", "8.00", "S-2"),
            ("commission", "-1.00", "S-2"),
            ("advertising", "-5.00", None),
            status="paid",
        )
        await settlements.ingest_settlements(session, conn, [later])
        rows = {r.order.external_id: r for r in await settlements.reconcile(session)}
        assert len((await session.scalars(select(Line))).all()) == 8
    # S-0: 10 - 1 = 9 as expected; S-1: 0.70 more withheld; S-2: refund of 2 leaves 7 (10 - 1 - 2)
    assert {k: (r.status, r.expected.amount, r.settled.amount) for k, r in rows.items()} == {
        "S-0": ("matched", Decimal("9.00"), Decimal("9.00")),
        "S-1": ("difference", Decimal("9.00"), Decimal("8.30")),
        "S-2": ("matched", Decimal("7.00"), Decimal("7.00")),
        "S-3": ("missing", Decimal("9.00"), Decimal("0.00")),
    }
    async with shop.read() as session:
        problems = {r.order.external_id for r in await settlements.reconcile(session, only_problems=True)}
    assert problems == {"S-1", "S-3"}
