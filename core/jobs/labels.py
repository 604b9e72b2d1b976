"""Rates, routing and labels: the flows that call carriers between transactions.

:func:`decide` routes a packed shipment (marketplace logistics when the order must ship on
the marketplace's lines, else the tenant's first matching routing rule), asks each allowed
account for rates (or prices its contract rate card) and chooses by the rule's strategy,
keeping every rejected option with its reason.

:func:`purchase` buys the chosen label in three steps: (1) a ``LabelPurchase`` row with the
reference the carrier is given, committed first; (2) the carrier call, at most one label per
reference (:func:`~crossdock.jobs.carrier.buy_once`); its numbers are committed at once;
(3) the documents stored, then the purchase completed. A purchase left open by a timeout, a
crash or a storage failure is resumed by ``label_resume`` (and the periodic ``label_sweep``):
the reference is looked up first, so nothing is bought twice and nothing bought is lost.

The API calls these with ``app.job_context()``; the jobs with their own context.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crossdock.db import utcnow
from crossdock.db.models import (
    CarrierAccount,
    CarrierAccountStatus,
    LabelPurchase,
    LabelStatus,
    RateStrategy,
    RoutingRule,
    Tenant,
)
from crossdock.db.scoping import session_tenant
from crossdock.errors import ChannelError, NotSupported, UserError
from crossdock.jobs.carrier import buy_once, open_carrier
from crossdock.jobs.channel import tenant_slug
from crossdock.jobs.registry import JobContext, job, periodic
from crossdock.providers import CarrierCapability, Label, Rate, ShipmentRequest
from crossdock.services import audit, shipping
from crossdock.services.documents import store_documents
from crossdock.services.fx import convert
from crossdock.services.states import lock_shipment

__all__ = [
    "Outcome",
    "decide",
    "label_resume",
    "label_sweep",
    "label_void_resume",
    "purchase",
    "resume",
    "void",
]

log = logging.getLogger(__name__)

#: How a carrier's refusal to quote is kept among the rejected options.
REFUSED_PREFIX = "refused: "
#: ... and its failure to quote at all (no answer, an error of its own).
UNQUOTED_PREFIX = "no rates: "
#: How many of the rule's choices a purchase tries when carriers refuse to sell the label.
MAX_TRIES = 3
#: A purchase still open after this long is resumed by the sweep.
STALE_AFTER = timedelta(seconds=60)


@dataclass
class Outcome:
    purchase_id: int
    shipment_id: int
    status: LabelStatus
    decision: shipping.Decision | None = None


async def _comparable(
    ctx: JobContext, tenant_id: int, slug: str | None, rates: list[tuple[int, Rate]]
) -> dict[tuple[int, str], Decimal | None]:
    """Prices in one currency to compare: as quoted when they share one, else in the
    tenant's reporting currency at today's reference rates (None where no rate exists)."""
    currencies = {rate.price.currency for _, rate in rates}
    if len(currencies) <= 1:
        return {(a, r.service): r.price.amount for a, r in rates}
    out: dict[tuple[int, str], Decimal | None] = {}
    async with ctx.db.tenant(tenant_id, slug) as session:
        settings = await session.scalar(
            select(Tenant.settings).where(Tenant.id == session_tenant(session.sync_session))
        )
        base = str((settings or {}).get("reporting_currency") or "USD")
        for account_id, rate in rates:
            try:
                out[(account_id, rate.service)] = (
                    await convert(session, ctx.plugins, rate.price, base, utcnow().date())
                ).amount.amount
            except (UserError, NotSupported):
                out[(account_id, rate.service)] = None
    return out


async def _quotes(
    ctx: JobContext, tenant_id: int, slug: str | None, request: ShipmentRequest, account_id: int
) -> list[Rate]:
    carrier = await open_carrier(ctx, tenant_id, account_id, slug=slug)
    if carrier is None:
        raise ChannelError("the carrier account is disabled", code="CHANNEL_ERROR")
    if CarrierCapability.RATES in carrier.provider.capabilities:
        return list(await carrier.call(lambda view: carrier.provider.rates(view, request)))
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(CarrierAccount).where(CarrierAccount.id == account_id))
        assert row is not None
        card = shipping.account_rates(row, carrier.provider, request)
    if not card and carrier.provider.channel is not None:
        # a marketplace's own line it does not quote: its cost comes with the payout
        return [shipping.marketplace_line(carrier.provider, request)]
    return card


async def decide(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    shipment_id: int | None,
    *,
    account_id: int | None = None,
    service: str | None = None,
    order: tuple[int, int] | None = None,
) -> tuple[shipping.Shipping, shipping.Decision]:
    """The routing decision for a packed shipment, or (``order``: order and warehouse ids)
    for what an order has reserved in a warehouse before it is packed
    (``account_id``/``service``: the operator's own choice, rated and checked the same way)."""
    async with ctx.units(tenant_id, slug) as uow:
        session = uow.session
        if shipment_id is not None:
            ship = await shipping.shipment_request(session, shipment_id, reference=f"quote-{shipment_id}")
        else:
            assert order is not None
            ship = await shipping.order_request(session, *order, reference=f"quote-o{order[0]}")
        accounts: list[tuple[int, str, list[str | None]]] = []
        decision: shipping.Decision
        rule_max_transit: int | None = None
        must_use = ctx.plugins.channel_logistics(ship.connection.channel) is not None and not (
            ship.connection.settings or {}
        ).get("own_logistics")
        if account_id is not None:
            row = await session.scalar(select(CarrierAccount).where(CarrierAccount.id == account_id))
            if row is None:
                raise UserError("no such carrier account", field="carrierAccountId", code="NOT_FOUND")
            decision = shipping.Decision(None, "chosen by the operator", RateStrategy.PRIORITY)
            accounts.append((row.id, row.name, [service]))
        elif must_use:
            row = await shipping.channel_account(session, ctx.plugins, ctx.vault, ship.connection)
            assert row is not None
            decision = shipping.Decision(
                None,
                f"{ship.connection.channel} logistics",
                RateStrategy.PRIORITY,
                note=f"{ship.connection.channel} orders ship on the marketplace's own lines",
            )
            accounts.append((row.id, row.name, [None]))
        else:
            rules = (
                await session.scalars(
                    select(RoutingRule)
                    .where(RoutingRule.active.is_(True))
                    .order_by(RoutingRule.priority, RoutingRule.id)
                )
            ).all()
            now = utcnow()
            skipped: list[shipping.Rejected] = []
            chosen_rule = None
            for rule in rules:
                why = shipping.rule_matches(rule, ship, now)
                if why is None:
                    chosen_rule = rule
                    break
                skipped.append(shipping.Rejected(0, "", "", None, f"rule {rule.name!r}: {why}"))
            if chosen_rule is None:
                reasons = "; ".join(r.reason for r in skipped) or "the tenant has no routing rule"
                raise UserError(f"no routing rule applies ({reasons})", field="shipmentId", code="NO_ROUTE")
            decision = shipping.Decision(
                chosen_rule.id, chosen_rule.name, RateStrategy(chosen_rule.strategy), rejected=skipped
            )
            rule_max_transit = (chosen_rule.conditions or {}).get("max_transit_days")
            names = dict(
                (
                    await session.execute(
                        select(CarrierAccount.id, CarrierAccount.name).where(
                            CarrierAccount.status == CarrierAccountStatus.ACTIVE
                        )
                    )
                ).all()
            )
            by_account: dict[int, list[str | None]] = {}
            for entry in chosen_rule.services:
                if entry["account_id"] in names:
                    by_account.setdefault(entry["account_id"], []).append(entry.get("service"))
            accounts.extend((a, names[a], allowed) for a, allowed in by_account.items())
        max_transit = rule_max_transit
    results = await asyncio.gather(
        *(_quotes(ctx, tenant_id, slug, ship.request, a) for a, _, _ in accounts), return_exceptions=True
    )
    quotes = []
    for (a, name, allowed), result in zip(accounts, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, ChannelError | NotSupported):
                raise result
            if isinstance(result, ChannelError) and result.code == "REFUSED":
                reason = f"{REFUSED_PREFIX}{result.message}"
            else:
                reason = f"{UNQUOTED_PREFIX}{result.message if isinstance(result, ChannelError) else result}"
            decision.rejected.append(shipping.Rejected(a, name, "", None, reason))
            continue
        quotes.append((a, name, allowed, result))
    comparable = await _comparable(ctx, tenant_id, slug, [(a, r) for a, _, _, rates in quotes for r in rates])
    shipping.choose(decision, quotes, ship, max_transit_days=max_transit, comparable=comparable)
    return ship, decision


def _refusal(decision: shipping.Decision) -> UserError:
    """Why nothing can be bought: the carriers' own refusals when every carrier asked refused
    the shipment (``CARRIER_REFUSED``), else every rejected option with its reason."""
    offers = [r for r in decision.rejected if r.account_id]  # not the rules that did not apply
    if offers and all(r.reason.startswith(REFUSED_PREFIX) for r in offers):
        cut = len(REFUSED_PREFIX)
        return UserError(
            "; ".join(f"{r.account_name}: {r.reason[cut:]}" for r in offers),
            field="shipmentId",
            code="CARRIER_REFUSED",
        )
    reasons = "; ".join(
        " ".join(part for part in (r.carrier or r.account_name, r.service or "") if part) + f": {r.reason}"
        if r.account_id
        else r.reason
        for r in decision.rejected
    )
    return UserError(
        f"no allowed service can carry this shipment ({reasons or 'no rates'})",
        field="shipmentId",
        code="NO_RATE",
    )


async def purchase(
    ctx: JobContext,
    tenant_id: int,
    slug: str | None,
    shipment_id: int,
    *,
    account_id: int | None = None,
    service: str | None = None,
) -> Outcome:
    """Route, rate and buy the shipment's label; see the module doc. Raises ``UserError``
    with the carrier's message when it refuses (nothing bought), ``CARRIER_UNAVAILABLE``
    when it did not answer (the purchase is resumed later)."""
    if slug is None:
        slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        open_one = await shipping.live_purchase(session, shipment_id)
        if open_one is not None and open_one.status == LabelStatus.PURCHASING:
            if open_one.updated_at > utcnow() - STALE_AFTER:
                # another request (or job) is asking the carrier right now: asking again in
                # parallel could buy a second label before the first is known
                raise UserError(
                    "the shipment's label is being bought right now", field="shipmentId", code="LABEL_EXISTS"
                )
            purchase_id: int | None = open_one.id
        else:
            purchase_id = None
    if purchase_id is not None:
        return await resume(ctx, tenant_id, slug, purchase_id)
    ship, decision = await decide(ctx, tenant_id, slug, shipment_id, account_id=account_id, service=service)
    unquoted = account_id is not None and service is not None and decision.chosen is None
    if unquoted and not all(r.reason.startswith(UNQUOTED_PREFIX) for r in decision.rejected):
        unquoted = False
    if decision.chosen is None and not unquoted:
        raise _refusal(decision)
    if decision.chosen is not None:
        tries: list[tuple[int, str, shipping.Candidate | None]] = [
            (c.account_id, c.rate.service, c) for c in decision.ranked[:MAX_TRIES]
        ]
    else:  # the operator's own choice, which the carrier could not quote just now: bought as chosen
        assert account_id is not None
        assert service is not None
        tries = [(account_id, service, None)]
        decision.note = "bought as the operator chose it: the carrier did not quote in time"
    refusals: list[str] = []
    for chosen_account, chosen_service, candidate in tries:
        if candidate is not None:
            decision.chosen = candidate
        async with ctx.units(tenant_id, slug) as uow:
            _, shipment = await lock_shipment(uow.session, shipment_id, field="shipmentId")
            row = await uow.session.scalar(select(CarrierAccount).where(CarrierAccount.id == chosen_account))
            assert row is not None
            bought = await shipping.begin_purchase(
                uow.session,
                shipment,
                row,
                chosen_service,
                shipping.request_to_json(ship.request),
                decision.to_json(),
            )
            purchase_id = bought.id
        try:
            outcome = await resume(ctx, tenant_id, slug, purchase_id, first=True)
        except UserError as exc:
            if exc.code != "CARRIER_REFUSED" or candidate is None or account_id is not None:
                raise
            # refused when bought (an address detail, a limit its quote did not know): the
            # rule's next choice is tried, and this one is kept among the rejected
            refusals.append(exc.message)
            decision.rejected.append(
                shipping.Rejected(
                    candidate.account_id,
                    candidate.account_name,
                    candidate.rate.carrier,
                    candidate.rate.service,
                    f"refused when bought: {exc.message}",
                )
            )
            continue
        outcome.decision = decision
        return outcome
    raise UserError("; ".join(refusals), field="shipmentId", code="CARRIER_REFUSED")


async def resume(
    ctx: JobContext, tenant_id: int, slug: str | None, purchase_id: int, *, first: bool = False
) -> Outcome:
    """Carry an open purchase to its end: buy (or find) the label, keep its numbers, store
    its documents. Safe to run any number of times, in any process."""
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(LabelPurchase).where(LabelPurchase.id == purchase_id))
        if row is None:
            raise UserError("no such label purchase", code="NOT_FOUND")
        if row.status != LabelStatus.PURCHASING:
            return Outcome(row.id, row.shipment_id, LabelStatus(row.status))
        request = shipping.request_from_json(row.request)
        request = replace(request, reference=row.reference)
        service, account_id, shipment_id = row.service, row.carrier_account_id, row.shipment_id
        have_numbers = bool(row.carrier_shipment_id)
    carrier = await open_carrier(ctx, tenant_id, account_id, slug=slug, only_active=False)
    if carrier is None:
        raise UserError("the purchase's carrier account is gone", code="CARRIER_ERROR")
    provider = carrier.provider
    try:
        if have_numbers:
            found = await carrier.call(lambda view: provider.find_label(view, request))
            if found is None:
                raise ChannelError(
                    "the carrier no longer finds the label it sold", code="NOT_FOUND", retryable=True
                )
            label: Label = found
        else:
            label = await carrier.call(
                lambda view: buy_once(provider, view, request, service, resume=not first)
            )
    except ChannelError as exc:
        final = not exc.retryable
        async with ctx.units(tenant_id, slug) as uow:
            await shipping.record_failure(uow.session, purchase_id, f"{exc.code}: {exc.message}", final=final)
            if not final:
                uow.enqueue(
                    "label_resume",
                    job_id=f"label_resume:{purchase_id}",
                    tenant_id=tenant_id,
                    purchase_id=purchase_id,
                )
        if final:
            code = "CARRIER_REFUSED" if exc.code == "REFUSED" else "CARRIER_ERROR"
            raise UserError(
                f"{provider.display_name or provider.name}: {exc.message}", field="shipmentId", code=code
            ) from None
        raise UserError(
            f"{provider.display_name or provider.name} did not answer ({exc.message}); "
            "the purchase is resumed, never made twice",
            field="shipmentId",
            code="CARRIER_UNAVAILABLE",
        ) from None
    async with ctx.units(tenant_id, slug) as uow:
        # a label bought by a job (a resumed purchase) is the job's entry in the audit log
        audit.begin_job(uow.session, "label.bought", main=("LabelPurchase", purchase_id))
        await shipping.record_label(uow.session, purchase_id, label, provider.display_name or provider.name)
    try:
        async with ctx.units(tenant_id, slug) as uow:
            await store_documents(
                uow.session,
                ctx.storage,
                shipment_id=shipment_id,
                label_purchase_id=purchase_id,
                documents=label.documents,
            )
            done = await shipping.record_stored(uow.session, purchase_id)
    except Exception as exc:  # the label is bought and its numbers kept: fetch its documents again later
        log.warning(
            "label %s: storing its documents failed (%s); resumed later", purchase_id, type(exc).__name__
        )
        async with ctx.units(tenant_id, slug) as uow:
            await shipping.record_failure(
                uow.session, purchase_id, f"storing documents: {type(exc).__name__}", final=False
            )
            uow.enqueue(
                "label_resume",
                job_id=f"label_resume:{purchase_id}",
                tenant_id=tenant_id,
                purchase_id=purchase_id,
            )
        raise UserError(
            "the label was bought; its documents could not be stored yet and are fetched again",
            field="shipmentId",
            code="DOCUMENTS_PENDING",
        ) from None
    return Outcome(done.id, shipment_id, LabelStatus(done.status))


async def void(ctx: JobContext, tenant_id: int, slug: str | None, shipment_id: int) -> None:
    """Void the shipment's label at the carrier, then here; refused once handed over. The
    label is marked ``voiding`` first, so the parcel cannot ship while the carrier is asked."""
    async with ctx.units(tenant_id, slug) as uow:
        row = await shipping.begin_void(uow.session, shipment_id)
        purchase_id, account_id = row.id, row.carrier_account_id
        label = shipping.label_of(row)
    await _void_at_carrier(ctx, tenant_id, slug, purchase_id, account_id, label)


async def _void_at_carrier(
    ctx: JobContext, tenant_id: int, slug: str | None, purchase_id: int, account_id: int, label: Label
) -> None:
    carrier = await open_carrier(ctx, tenant_id, account_id, slug=slug, only_active=False)
    try:
        if carrier is None:
            raise UserError("the label's carrier account is gone", field="shipmentId", code="CARRIER_ERROR")
        name = carrier.provider.display_name or carrier.provider.name
        try:
            await carrier.call(lambda view: carrier.provider.void_label(view, label))
        except ChannelError as exc:
            if exc.retryable:
                code = "CARRIER_UNAVAILABLE"
            else:
                code = "HANDED_OVER" if exc.code == "REFUSED" else "CARRIER_ERROR"
            raise UserError(f"{name}: {exc.message}", field="shipmentId", code=code) from None
        except NotSupported as exc:
            raise UserError(str(exc), field="shipmentId", code="NOT_SUPPORTED") from None
    except UserError as exc:
        async with ctx.units(tenant_id, slug) as uow:
            await shipping.void_refused(uow.session, purchase_id, exc.message)
        raise
    async with ctx.units(tenant_id, slug) as uow:
        audit.begin_job(uow.session, "label.voided", main=("LabelPurchase", purchase_id))
        await shipping.record_void(uow.session, purchase_id)


@job
async def label_resume(ctx: JobContext, tenant_id: int, purchase_id: int) -> str:
    """Resume one open label purchase (a timeout, a crash, a storage failure left it)."""
    slug = await tenant_slug(ctx, tenant_id)
    try:
        outcome = await resume(ctx, tenant_id, slug, purchase_id)
    except UserError as exc:
        if exc.code in ("CARRIER_UNAVAILABLE", "DOCUMENTS_PENDING"):
            raise ChannelError(exc.message, code="CHANNEL_ERROR", retryable=True) from None
        return f"refused: {exc.message}"
    return str(outcome.status)


@job
async def label_void_resume(ctx: JobContext, tenant_id: int, purchase_id: int) -> str:
    """Finish a void a crash interrupted: ask the carrier again; a refusal gives the label
    back to the shipment."""
    slug = await tenant_slug(ctx, tenant_id)
    async with ctx.db.tenant(tenant_id, slug) as session:
        row = await session.scalar(select(LabelPurchase).where(LabelPurchase.id == purchase_id))
        if row is None or row.status != LabelStatus.VOIDING:
            return "nothing to do"
        account_id, label = row.carrier_account_id, shipping.label_of(row)
    try:
        await _void_at_carrier(ctx, tenant_id, slug, purchase_id, account_id, label)
    except UserError as exc:
        if exc.code == "CARRIER_UNAVAILABLE":
            raise ChannelError(exc.message, code="CHANNEL_ERROR", retryable=True) from None
        return f"kept: {exc.message}"
    return "voided"


@periodic(lambda settings: min(60, max(5, 5 * settings.sync_interval_seconds)))
async def label_sweep(ctx: JobContext) -> int:
    """Queue a resume for every purchase (or void) left open longer than :data:`STALE_AFTER`."""
    cutoff = utcnow() - STALE_AFTER
    async with ctx.db.system() as session:
        rows = (
            await session.execute(
                select(LabelPurchase.tenant_id, LabelPurchase.id, LabelPurchase.status)
                .where(
                    LabelPurchase.status.in_((LabelStatus.PURCHASING, LabelStatus.VOIDING)),
                    LabelPurchase.updated_at < cutoff,
                )
                .order_by(LabelPurchase.updated_at)
                .limit(500)
            )
        ).all()
    for tenant_id, purchase_id, status in rows:
        if status == LabelStatus.VOIDING:
            await ctx.queue.enqueue(
                "label_void_resume",
                job_id=f"label_void_resume:{purchase_id}",
                tenant_id=tenant_id,
                purchase_id=purchase_id,
            )
            continue
        await ctx.queue.enqueue(
            "label_resume", job_id=f"label_resume:{purchase_id}", tenant_id=tenant_id, purchase_id=purchase_id
        )
    return len(rows)
