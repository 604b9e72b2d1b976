"""Money across borders over GraphQL: FX conversions, price rules and their breakdown,
competitor prices, promotions and cart quotes, payment methods for a checkout, marketplace
payouts and their reconciliation."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.channel_types import Listing
from crossdock.api.schema.common import Money, MoneyInput, set_fields, units
from crossdock.api.schema.errors import PricingUserError, in_transaction, requires
from crossdock.api.schema.loaders import children
from crossdock.api.schema.order_types import Order
from crossdock.api.schema.relay import (
    Connection,
    Node,
    decode_id,
    encode_id,
    paginate,
    resolve_id,
    resolve_ids,
    sort_keys,
)
from crossdock.api.schema.scalars import LocalDateTime
from crossdock.db import models as m
from crossdock.db import utcnow
from crossdock.db.validation import field_name
from crossdock.errors import UserError
from crossdock.money import Money as MoneyValue
from crossdock.providers import PaymentAccount, PaymentMethodOption, SettlementKind, SettlementStatus
from crossdock.services import fx, pricing, promotions, settlements

__all__ = ["Mutation", "Query"]


def _money(value: MoneyValue | None) -> Money | None:
    return Money.exact(value.amount, value.currency) if value is not None else None


def _shown(value: MoneyValue) -> Money:
    return Money.exact(value.amount, value.currency)


@strawberry.type(description="How a listing's price follows from its cost; every amount Decimal.")
class PriceBreakdown:
    listing_id: strawberry.ID
    market: str = strawberry.field(description="The currency the listing sells in.")
    purchase: Money
    freight: Money
    duty: Money
    landed: Money = strawberry.field(description="Purchase + freight + duty, in the cost currency.")
    fx_rate: Decimal
    fx_day: date
    landed_in_market: Money
    payment_fee_fixed: Money
    computed: Money = strawberry.field(description="Cost grossed up for fees, tax and the target margin.")
    price_point: Money
    floor: Money = strawberry.field(description="The rule's floor or break-even, whichever is higher.")
    ceiling: Money | None
    competitor: Money | None = strawberry.field(description="Lowest competitor price seen in 7 days.")
    final: Money
    tax: Money
    commission: Money
    payment_fee: Money
    net_revenue: Money
    profit: Money
    margin: Decimal

    @classmethod
    def of(cls, b: pricing.PriceBreakdown) -> PriceBreakdown:
        money = {
            k: _money(getattr(b, k))
            for k in (
                "purchase",
                "freight",
                "duty",
                "landed",
                "landed_in_market",
                "payment_fee_fixed",
                "computed",
                "price_point",
                "floor",
                "ceiling",
                "competitor",
                "final",
                "tax",
                "commission",
                "payment_fee",
                "net_revenue",
                "profit",
            )
        }
        return cls(
            listing_id=encode_id("Listing", b.listing_id),
            market=b.market,
            fx_rate=b.fx_rate,
            fx_day=b.fx_day,
            margin=b.margin,
            **money,  # type: ignore[arg-type]
        )


@strawberry.type
class PriceRule:
    listing_id: strawberry.ID
    freight: Decimal
    duty_rate: Decimal
    commission_rate: Decimal
    payment_fee_rate: Decimal
    payment_fee_fixed: Decimal
    tax_rate: Decimal
    tax_included: bool
    target_margin: Decimal
    price_step: Decimal
    price_ending: Decimal
    floor: Decimal | None
    ceiling: Decimal | None
    reprice: m.RepriceMode
    undercut_step: Decimal

    @classmethod
    def from_row(cls, row: m.PriceRule) -> PriceRule:
        return cls(
            listing_id=encode_id("Listing", row.listing_id),
            freight=row.freight_amount,
            duty_rate=row.duty_rate,
            commission_rate=row.commission_rate,
            payment_fee_rate=row.payment_fee_rate,
            payment_fee_fixed=row.payment_fee_fixed,
            tax_rate=row.tax_rate,
            tax_included=row.tax_included,
            target_margin=row.target_margin,
            price_step=row.price_step,
            price_ending=row.price_ending,
            floor=row.floor_amount,
            ceiling=row.ceiling_amount,
            reprice=m.RepriceMode(row.reprice),
            undercut_step=row.undercut_step,
        )


@strawberry.type
class Promotion(Node):
    name: str
    kind: m.PromotionKind
    value: Decimal
    connection_id: strawberry.ID | None
    listing_ids: list[strawberry.ID]
    min_spend: Decimal | None
    bundle_quantity: int | None
    starts_at: datetime
    ends_at: datetime
    timezone: str
    state: m.PromotionState

    @classmethod
    def from_row(cls, row: m.Promotion) -> Promotion:
        now = utcnow()
        current = m.PromotionState
        if row.cancelled_at is not None:
            state = current.CANCELLED
        else:
            state = (
                current.SCHEDULED
                if now < row.starts_at
                else current.RUNNING
                if now < row.ends_at
                else current.ENDED
            )
        return cls(
            id=encode_id("Promotion", row.id),
            name=row.name,
            kind=m.PromotionKind(row.kind),
            value=row.value,
            connection_id=encode_id("ChannelConnection", row.connection_id) if row.connection_id else None,
            listing_ids=[encode_id("Listing", i) for i in row.listing_ids or ()],
            min_spend=row.min_spend,
            bundle_quantity=row.bundle_quantity,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            timezone=row.timezone,
            state=state,
        )


@strawberry.type
class CartDiscount:
    promotion: str
    amount: Money


@strawberry.type
class CartQuote:
    subtotal: Money
    discounts: list[CartDiscount]
    total: Money


@strawberry.input
class CartLineInput:
    listing_id: strawberry.ID
    quantity: int


@strawberry.type
class Conversion:
    amount: Money
    rate: Decimal
    day: date = strawberry.field(description="The publication day of the rate used.")
    source: str


@strawberry.type
class PaymentMethod:
    provider: str
    method: str
    label: str
    rank: int
    fee: Money | None


@strawberry.type
class PayoutLine:
    kind: SettlementKind
    amount: Money = strawberry.field(description="Positive to the seller, negative kept by the marketplace.")
    order_external_id: str | None
    description: str

    @classmethod
    def from_row(cls, row: m.SettlementLine) -> PayoutLine:
        return cls(
            kind=SettlementKind(row.kind),
            amount=Money.exact(row.amount, row.currency),
            order_external_id=row.order_external_id,
            description=row.description,
        )


@strawberry.type(description="A marketplace payout and its lines.")
class Settlement(Node):
    pk: strawberry.Private[int]
    connection_id: strawberry.ID
    external_id: str
    status: SettlementStatus
    opened_at: datetime
    closed_at: datetime | None
    paid_at: datetime | None
    total: Money

    @classmethod
    def from_row(cls, row: m.Settlement) -> Settlement:
        return cls(
            id=encode_id("Settlement", row.id),
            pk=row.id,
            connection_id=encode_id("ChannelConnection", row.connection_id),
            external_id=row.external_id,
            status=SettlementStatus(row.status),
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            paid_at=row.paid_at,
            total=Money.exact(row.total_amount, row.currency),
        )

    @strawberry.field
    async def lines(self, info: Info[Any, Any]) -> list[PayoutLine]:
        rows = await children(state(info), m.SettlementLine, "settlement_id").load(self.pk)
        return [PayoutLine.from_row(r) for r in rows]


@strawberry.type(description="What an order should have paid out, what it did, and the gap.")
class OrderReconciliation:
    order: Order
    status: m.ReconciliationStatus
    expected: Money
    settled: Money
    difference: Money
    lines: list[PayoutLine]


@strawberry.input
class SettlementFilter:
    connection_id: strawberry.ID | None = None
    status: SettlementStatus | None = None


class SettlementSortKeys(StrEnum):
    ID = "ID"
    OPENED_AT = "OPENED_AT"
    CLOSED_AT = "CLOSED_AT"
    PAID_AT = "PAID_AT"


SETTLEMENT_SORTS = sort_keys(SettlementSortKeys, m.Settlement, "The orders settlements can be listed in.")


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires("channels:read"),
        description="The price breakdown of every priced listing of a variant (one per market).",
    )
    async def price_breakdowns(
        self, info: Info[Any, Any], variant_id: strawberry.ID, day: date | None = None
    ) -> list[PriceBreakdown]:
        st = state(info)
        async with st.read() as session:
            pk = await resolve_id(session, variant_id, m.Variant, field="variantId")
            ids = (
                await session.scalars(
                    select(m.Listing.id)
                    .join(m.PriceRule, m.PriceRule.listing_id == m.Listing.id)
                    .where(m.Listing.variant_id == pk)
                    .order_by(m.Listing.id)
                )
            ).all()
            return [PriceBreakdown.of(await pricing.breakdown(session, st.app.plugins, i, day)) for i in ids]

    @strawberry.field(extensions=requires("orders:read"))
    async def settlements(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: SettlementFilter | None = None,
        sort_key: SettlementSortKeys = SettlementSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Settlement]:
        stmt = select(m.Settlement)
        if filter and filter.connection_id:
            pk = decode_id(filter.connection_id, "ChannelConnection", field="filter.connectionId")[1]
            stmt = stmt.where(m.Settlement.connection_id == pk)
        if filter and filter.status:
            stmt = stmt.where(m.Settlement.status == filter.status)
        return await paginate(
            state(info),
            stmt,
            m.Settlement,
            Settlement.from_row,
            first=first,
            after=after,
            sort=SETTLEMENT_SORTS[sort_key],
            reverse=reverse,
        )

    @strawberry.field(
        extensions=requires("orders:read"),
        description="Per order, expected against settled payouts; problems only by default.",
    )
    async def reconciliation(
        self, info: Info[Any, Any], connection_id: strawberry.ID | None = None, only_problems: bool = True
    ) -> list[OrderReconciliation]:
        pk = decode_id(connection_id, "ChannelConnection", field="connectionId")[1] if connection_id else None
        async with state(info).read() as session:
            rows = await settlements.reconcile(session, connection_id=pk, only_problems=only_problems)
        return [
            OrderReconciliation(
                order=Order.from_row(r.order),
                status=m.ReconciliationStatus(r.status),
                expected=_shown(r.expected),
                settled=_shown(r.settled),
                difference=_shown(r.difference),
                lines=[PayoutLine.from_row(ln) for ln in r.lines],
            )
            for r in rows
        ]

    @strawberry.field(extensions=requires("channels:read"))
    async def promotions(
        self, info: Info[Any, Any], first: int | None = None, after: str | None = None
    ) -> Connection[Promotion]:
        return await paginate(
            state(info), select(m.Promotion), m.Promotion, Promotion.from_row, first=first, after=after
        )

    @strawberry.field(
        extensions=requires("channels:read"),
        description="A cart at today's prices with the promotions it earns.",
    )
    async def promotion_quote(self, info: Info[Any, Any], lines: list[CartLineInput]) -> CartQuote:
        st = state(info)
        async with st.read() as session:
            cart = [
                promotions.CartLine(
                    await resolve_id(session, ln.listing_id, m.Listing, field=f"lines.{i}.listingId"),
                    units(ln.quantity, f"lines.{i}.quantity"),
                )
                for i, ln in enumerate(lines)
            ]
            quote = await promotions.quote_cart(session, cart)
        return CartQuote(
            subtotal=_shown(quote.subtotal),
            discounts=[CartDiscount(promotion=n, amount=_shown(a)) for n, a in quote.discounts],
            total=_shown(quote.total),
        )

    @strawberry.field(extensions=requires("catalog:read"), description="At the reference rate of a day.")
    async def fx_convert(
        self, info: Info[Any, Any], amount: MoneyInput, to: str, day: date | None = None
    ) -> Conversion:
        st = state(info)
        value = amount.value("amount")
        async with st.read() as session:
            result = await fx.convert(session, st.app.plugins, value, to.upper(), day or utcnow().date())
        return Conversion(
            amount=_shown(result.amount), rate=result.rate, day=result.day, source=result.source
        )

    @strawberry.field(
        extensions=requires("orders:read"),
        description="Ways to pay for a checkout in this country and amount, best first.",
    )
    async def payment_methods(
        self, info: Info[Any, Any], country: str, amount: MoneyInput
    ) -> list[PaymentMethod]:
        st = state(info)
        value = amount.value("amount")
        async with st.read() as session:
            settings = await session.scalar(
                select(m.Tenant.settings).where(m.Tenant.id == st.principal.tenant_id)
            )
        configured = dict((settings or {}).get("payments") or {})
        options: list[PaymentMethodOption] = []
        for name, provider in st.app.plugins.payment_providers.items():
            account = PaymentAccount(
                id=0,
                tenant=st.principal.tenant_slug or "",
                provider=name,
                credentials={},
                settings=dict(configured.get(name) or {}),
            )
            options.extend(provider.payment_methods(country.upper(), value, account))
        options.sort(key=lambda o: (o.rank, o.provider, o.method))
        return [
            PaymentMethod(provider=o.provider, method=o.method, label=o.label, rank=o.rank, fee=_money(o.fee))
            for o in options
        ]


@strawberry.input
class PriceRuleInput:
    listing_id: strawberry.ID
    freight: Decimal | None = strawberry.UNSET
    duty_rate: Decimal | None = strawberry.UNSET
    commission_rate: Decimal | None = strawberry.UNSET
    payment_fee_rate: Decimal | None = strawberry.UNSET
    payment_fee_fixed: Decimal | None = strawberry.UNSET
    tax_rate: Decimal | None = strawberry.UNSET
    tax_included: bool | None = strawberry.UNSET
    target_margin: Decimal | None = strawberry.UNSET
    price_step: Decimal | None = strawberry.UNSET
    price_ending: Decimal | None = strawberry.UNSET
    floor: Decimal | None = strawberry.UNSET
    ceiling: Decimal | None = strawberry.UNSET
    reprice: m.RepriceMode | None = strawberry.UNSET
    undercut_step: Decimal | None = strawberry.UNSET


@strawberry.type
class PriceRulePayload:
    price_rule: PriceRule | None = None
    breakdown: PriceBreakdown | None = None
    user_errors: list[PricingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PriceRuleSetPayload(PriceRulePayload):
    pass


@strawberry.type
class CompetitorPriceRecordPayload(PriceRulePayload):
    pass


@strawberry.input
class CompetitorPriceInput:
    listing_id: strawberry.ID
    competitor: str
    price: MoneyInput


@strawberry.input
class PriceApplyInput:
    listing_ids: list[strawberry.ID]


@strawberry.type
class PriceApplyPayload:
    listings: list[Listing] = strawberry.field(default_factory=list)
    breakdowns: list[PriceBreakdown] = strawberry.field(default_factory=list)
    user_errors: list[PricingUserError] = strawberry.field(default_factory=list)


@strawberry.input
class PromotionInput:
    name: str
    kind: m.PromotionKind
    value: Decimal = strawberry.field(description="Percent off, or an amount off for fixed.")
    starts_at: LocalDateTime = strawberry.field(
        description="Without an offset: in the promotion's time zone."
    )
    ends_at: LocalDateTime
    timezone: str = "UTC"
    connection_id: strawberry.ID | None = None
    listing_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    min_spend: Decimal | None = None
    bundle_quantity: int | None = None


@strawberry.input
class PromotionCancelInput:
    id: strawberry.ID


@strawberry.type
class PromotionPayload:
    promotion: Promotion | None = None
    user_errors: list[PricingUserError] = strawberry.field(default_factory=list)


@strawberry.type
class PromotionCreatePayload(PromotionPayload):
    pass


@strawberry.type
class PromotionCancelPayload(PromotionPayload):
    pass


_RULE_FIELDS = {
    "freight": "freight_amount",
    "duty_rate": "duty_rate",
    "commission_rate": "commission_rate",
    "payment_fee_rate": "payment_fee_rate",
    "payment_fee_fixed": "payment_fee_fixed",
    "tax_rate": "tax_rate",
    "tax_included": "tax_included",
    "target_margin": "target_margin",
    "price_step": "price_step",
    "price_ending": "price_ending",
    "floor": "floor_amount",
    "ceiling": "ceiling_amount",
    "reprice": "reprice",
    "undercut_step": "undercut_step",
}


_CLEARABLE = {"floor_amount", "ceiling_amount"}


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=requires("channels:write"), description="Returns the breakdown it gives now."
    )
    async def price_rule_set(self, info: Info[Any, Any], input: PriceRuleInput) -> PriceRuleSetPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.listing_id, m.Listing, field="listingId")
            changes = set_fields(input, _RULE_FIELDS)
            for attr, kw in _RULE_FIELDS.items():  # only the floor and the ceiling may be cleared
                if kw in changes and changes[kw] is None and kw not in _CLEARABLE:
                    raise UserError("may be left out, not null", field=field_name(attr), code="REQUIRED")
            rule = await pricing.set_price_rule(session, pk, **changes)
            try:
                shown: PriceBreakdown | None = PriceBreakdown.of(
                    await pricing.breakdown(session, st.app.plugins, pk)
                )
            except UserError as exc:
                if exc.code not in ("NO_COST", "FX_RATE_UNAVAILABLE"):
                    raise  # the rule itself is wrong (an impossible margin)
                shown = None  # a rule may be set before the cost or the rates are known
            return {"price_rule": PriceRule.from_row(rule), "breakdown": shown}

        return await in_transaction(info, PriceRuleSetPayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def competitor_price_record(
        self, info: Info[Any, Any], input: CompetitorPriceInput
    ) -> CompetitorPriceRecordPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.listing_id, m.Listing, field="listingId")
            price = input.price.value("price", positive=True)
            await pricing.record_competitor_price(session, pk, input.competitor, price)
            return {}

        return await in_transaction(info, CompetitorPriceRecordPayload, body)

    @strawberry.mutation(
        extensions=requires("channels:write"),
        description="Set listings to the price their rule gives and push it.",
    )
    async def price_apply(self, info: Info[Any, Any], input: PriceApplyInput) -> PriceApplyPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            results = []
            for pk in await resolve_ids(session, input.listing_ids, m.Listing, field="listingIds"):
                results.append(await pricing.apply_price(st.uow, pk))
            rows = [await session.get(m.Listing, b.listing_id) for b in results]
            return {
                "listings": [Listing.from_row(r) for r in rows if r is not None],
                "breakdowns": [PriceBreakdown.of(b) for b in results],
            }

        return await in_transaction(info, PriceApplyPayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def promotion_create(self, info: Info[Any, Any], input: PromotionInput) -> PromotionCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            connection_pk = (
                await resolve_id(session, input.connection_id, m.Connection, field="connectionId")
                if input.connection_id
                else None
            )
            listing_pks = await resolve_ids(session, input.listing_ids, m.Listing, field="listingIds")
            bundle = input.bundle_quantity
            row = await promotions.create_promotion(
                st.uow,
                name=input.name,
                kind=input.kind,
                value=input.value,
                starts_at=input.starts_at,
                ends_at=input.ends_at,
                timezone=input.timezone,
                connection_id=connection_pk,
                listing_ids=listing_pks,
                min_spend=input.min_spend,
                bundle_quantity=None if bundle is None else units(bundle, "bundleQuantity"),
            )
            await promotions.reprice(st.uow)  # one that starts now applies at once
            return {"promotion": Promotion.from_row(row)}

        return await in_transaction(info, PromotionCreatePayload, body)

    @strawberry.mutation(extensions=requires("channels:write"))
    async def promotion_cancel(
        self, info: Info[Any, Any], input: PromotionCancelInput
    ) -> PromotionCancelPayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Promotion)
            return {"promotion": Promotion.from_row(await promotions.cancel_promotion(st.uow, pk))}

        return await in_transaction(info, PromotionCancelPayload, body)
