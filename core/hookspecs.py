# mypy: disable-error-code="empty-body"
"""The hook specifications: Crossdock's contract with plugin authors.

A plugin is a module (or object) with functions decorated ``@crossdock.hookimpl`` whose
names match the specs below, registered through the ``crossdock`` entry-point group::

    [project.entry-points.crossdock]
    myshop = "crossdock_myshop.plugin"

There are two families of hooks.

**Registration hooks** return provider objects that satisfy a Protocol from
:mod:`crossdock.providers`. They are called once, when the plugin manager loads, and every
plugin's results are collected. Provider methods are ``async``; the hooks themselves are
plain functions because pluggy has no async hooks.

**Event and policy hooks** are called by the core services while they work. Events are
broadcast after the change has been committed (a failing event hook is logged, never
undoes the change). Policy hooks are called inside the operation and their results decide
what happens.

**A plugin that raises is isolated.** The core calls each plugin's implementation of an
event or policy hook on its own: an exception is logged with its traceback, the other
plugins are still called, and the core's transaction goes on as if that plugin had
answered nothing, except that a policy hook's failure is recorded where an operator sees
it (a ``plugin_error`` hold or listing issue naming the plugin and the exception's type,
never the traceback). A plugin's bug therefore never stops a sync, a stock change or a
shipment; it shows up on the orders or listings it could not judge.

All arguments are passed by keyword; a hook implementation may accept any subset of them.
Implementations are found the way pluggy finds them: functions marked ``@hookimpl``, named
like the hook or tied to it with ``@hookimpl(specname="crossdock_...")``.

**How each hook is documented.** Every docstring below has the same parts, in this order
(``tests/core/test_hookspecs.py`` checks them): a summary line; a ``:param name:`` field for
each argument and a ``:returns:`` field; a paragraph starting "Called" saying when the core
calls it; a paragraph starting "If an implementation raises" saying exactly what happens
then; an ``Example::`` block, a working implementation (the test registers it with
``load_plugins(extra=...)`` and calls it through the core's real hook); and
``.. versionadded::`` / ``.. versionchanged::`` notes. "unreleased" is the version after
0.1.0.

.. versionchanged:: unreleased
   Registration-hook implementations are found through pluggy, no longer by attribute
   name: an unmarked function named like a hook is not called, and ``specname=`` works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from crossdock.providers import (
        CarrierProvider,
        ChannelOrder,
        FxRates,
        IdentityProvider,
        Mailer,
        MarketplaceProvider,
        PaymentProvider,
        TaxEngine,
        Translator,
        WarehouseSystem,
    )

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "crossdock"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- registration


@hookspec
def crossdock_marketplaces() -> Iterable[MarketplaceProvider]:
    """Return the marketplace (sales channel) providers this plugin offers.

    :returns: an iterable of objects satisfying
        :class:`crossdock.providers.MarketplaceProvider`, usually subclasses of
        :class:`crossdock.MarketplaceBase` (which raises ``NotSupported`` for whatever is
        not overridden). Each provider's ``name`` is the channel name connections use
        (``"amazon"``, ``"shopee"``): a lower-case identifier, unique across plugins. Its
        ``capabilities`` (:class:`crossdock.MarketplaceCapability`) say which operations it
        implements; the scheduler syncs orders, messages and payouts only for channels
        declaring them.

    Called once, when the plugin manager loads (server start, ``crossdock`` commands, the
    testing kit's ``load_plugins``); every plugin's providers are collected.

    If an implementation raises, or returns a provider that fails validation (no
    lower-case identifier ``name``, a missing Protocol member, a capability whose method is
    not overridden, a name another plugin already took), the whole plugin is skipped: it is
    unregistered, none of its providers or hooks are used, and its name and the problem
    are reported in ``Plugins.failures`` (``crossdock plugins list``, ``/health``). The
    server runs with the other plugins.

    Example::

        from crossdock import MarketplaceBase, hookimpl


        class CornerShop(MarketplaceBase):
            name = "cornershop"
            display_name = "Corner Shop"
            version = "1.0.0"


        @hookimpl
        def crossdock_marketplaces():
            return [CornerShop()]

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       ``fetch_messages(conn, updated_since=, page_token=)`` returns a ``MessagePage``,
       ``send_message`` takes an ``OutgoingMessage``, and ``confirm_shipment`` may return
       the tracking number the channel assigned.
    """


@hookspec
def crossdock_ad_platforms() -> Iterable[MarketplaceProvider]:
    """Return the standalone advertising platforms this plugin offers (Google Ads, Meta,
    Criteo ...): ad accounts a seller connects beside its shops.

    :returns: an iterable of providers shaped as marketplace providers (subclass
        :class:`crossdock.MarketplaceBase`) that declare only ``ads.read`` and, if their
        tokens expire, ``credentials.refresh``, implementing ``fetch_ads`` (and
        ``refresh_credentials``). ``name`` is unique across marketplaces and ad platforms:
        it is the ``channel`` a connection to the ad account names
        (``connectionCreate(input: {channel: "googleads", ...})``).

    Called once, when the plugin manager loads. An ad platform is then connected,
    credentialled, rate-limited and synced exactly like a shop: ``sync_ads`` reads its
    report for the last ``ads_lookback_days`` every ``report_sync_interval_seconds``, and the
    spend of its ``PRODUCT`` rows goes to the SKUs it names (profit by SKU counts it; profit
    by connection shows the ad account as its own row, with its spend and no sales).

    If an implementation raises, or a provider declares another capability, the whole
    plugin is skipped and reported in ``Plugins.failures``, as for
    :func:`crossdock_marketplaces`.

    Example::

        from crossdock import AdLevel, AdMetric, AdReportPage, MarketplaceBase, Money, hookimpl


        class CornerAds(MarketplaceBase):
            name = "cornerads"
            version = "1.0.0"
            capabilities = frozenset({"ads.read"})

            async def fetch_ads(self, conn, *, day_from, day_to, page_token):
                http = conn.http_client()  # the server's guarded pool: never close it
                rows = (await http.get(f"{conn.base_url}/report", params={"from": str(day_from)})).json()
                return AdReportPage(metrics=[
                    AdMetric(AdLevel.PRODUCT, day_from, r["campaign"], r["impressions"], r["clicks"],
                             Money.of(r["cost"], "USD"), sku=r["sku"])
                    for r in rows
                ])


        @hookimpl
        def crossdock_ad_platforms():
            return [CornerAds()]

    .. versionadded:: unreleased
    """


@hookspec
def crossdock_payment_providers() -> Iterable[PaymentProvider]:
    """Return the payment providers this plugin offers (card processors, COD, transfer).

    :returns: an iterable of objects satisfying
        :class:`crossdock.providers.PaymentProvider`, usually subclasses of
        :class:`crossdock.PaymentBase`; ``name`` is unique across plugins and
        ``capabilities`` (:class:`crossdock.PaymentCapability`) name the methods it
        overrides. ``payment_methods(country, amount, account)`` is asked when a console
        wants the ways to pay for a checkout; providers rank their own options.

    Called once, when the plugin manager loads; every plugin's providers are collected.

    If an implementation raises, or returns a provider that fails validation, the whole
    plugin is skipped and reported by name in ``Plugins.failures``, as for
    :func:`crossdock_marketplaces`.

    Example::

        from crossdock import PaymentBase, PaymentCapability, PaymentMethodOption, hookimpl


        class PayOnInvoice(PaymentBase):
            name = "invoice"
            display_name = "Pay on invoice"
            capabilities = frozenset({PaymentCapability.METHODS})

            def payment_methods(self, country, amount, account=None):
                if country != "DE":
                    return []
                return [PaymentMethodOption(self.name, "invoice", "Kauf auf Rechnung", rank=50)]


        @hookimpl
        def crossdock_payment_providers():
            return [PayOnInvoice()]

    .. versionadded:: 0.1.0
    """


@hookspec
def crossdock_carriers() -> Iterable[CarrierProvider]:
    """Return the carrier providers (rates, labels, tracking, pickups) this plugin offers.

    :returns: an iterable of objects satisfying
        :class:`crossdock.providers.CarrierProvider`, usually subclasses of
        :class:`crossdock.CarrierBase`; ``name`` is unique across plugins. Each declares its
        ``capabilities`` (:class:`crossdock.CarrierCapability`) and implements the method
        behind each (:data:`crossdock.providers.CARRIER_OPERATIONS`; ``carrier.labels``
        needs ``buy_label``, ``find_label`` and ``void_label``). A marketplace's own
        logistics sets ``channel`` to the marketplace's name: the core then gives it the
        order's connection in :class:`crossdock.CarrierAccount` and routes the orders that
        must ship on the marketplace's lines to it.

    Called once, when the plugin manager loads; every plugin's carriers are collected. The
    core calls the providers' methods from the API (rates, label purchase, void) and from
    jobs (tracking sweeps, pushes, pickups), always with an account of the tenant.

    If an implementation raises, or returns a carrier that fails validation (a declared
    capability without its methods), the whole plugin is skipped and reported by name in
    ``Plugins.failures``, as for :func:`crossdock_marketplaces`. A provider method that
    raises ``ChannelError(code="REFUSED")`` is shown to the operator as a ``userError``
    with the carrier's message; a retryable ``ChannelError`` is retried (a label purchase
    looks its reference up with ``find_label`` before buying again); anything else is a
    bug, logged, and the call fails.

    Example::

        from crossdock import CarrierBase, CarrierCapability, Money, Rate, hookimpl


        class Pigeon(CarrierBase):
            name = "pigeon"
            display_name = "Pigeon Post"
            capabilities = frozenset({CarrierCapability.RATES})

            async def rates(self, account, request):
                grams = request.weight_grams
                return [Rate(self.name, "coo", "Carrier pigeon", Money.of(f"{grams / 100:.2f}", "EUR"))]


        @hookimpl
        def crossdock_carriers():
            return [Pigeon()]

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       The full carrier contract: rates, labels, tracking (polled and pushed), pickups,
       manifests and address checks, with typed values; ``track`` takes the account and a
       batch of numbers.
    """


@hookspec
def crossdock_tax_engines() -> Iterable[TaxEngine]:
    """Return the tax engines this plugin offers, usually one per region (EU VAT, US).

    :returns: an iterable of objects satisfying :class:`crossdock.providers.TaxEngine`,
        usually subclasses of :class:`crossdock.TaxBase`. ``applies_to(country)`` tells
        the core which engine taxes a destination; ``quote(context, lines)`` returns one
        :class:`crossdock.TaxQuote` per :class:`crossdock.TaxLine`; ``thresholds()`` lists
        the registration thresholds the core tallies per tenant and year.

    Called once, when the plugin manager loads; every plugin's engines are collected.

    If an implementation raises, or returns an engine that fails validation, the whole
    plugin is skipped and reported by name in ``Plugins.failures``, as for
    :func:`crossdock_marketplaces`.

    Example::

        from decimal import Decimal

        from crossdock import TaxBase, TaxCapability, TaxQuote, hookimpl


        class FlatTax(TaxBase):
            name = "flat_tax"
            display_name = "Flat 10 % (illustration)"
            capabilities = frozenset({TaxCapability.QUOTE})

            def applies_to(self, country):
                return country == "XX"

            def quote(self, context, lines):
                rate = Decimal("0.10")
                return [TaxQuote(sku=line.sku, rate=rate, amount=line.tax_at(rate)) for line in lines]


        @hookimpl
        def crossdock_tax_engines():
            return [FlatTax()]

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       ``quote(country, lines)`` became ``quote(context, lines)``; ``thresholds()`` and
       ``validate_vat_number()`` were added (``TaxBase`` supplies defaults).
    """


@hookspec
def crossdock_mailers() -> Iterable[Mailer]:
    """Return the mailers (mail services the server can send through) this plugin offers.

    :returns: an iterable of objects satisfying :class:`crossdock.providers.Mailer`,
        usually subclasses of :class:`crossdock.MailerBase` declaring
        :attr:`crossdock.MailCapability.SEND`. ``name`` is unique across plugins; the
        server sends through the one ``CROSSDOCK_MAILER`` names, with a
        :class:`crossdock.MailAccount` built from ``CROSSDOCK_MAIL_FROM`` and
        ``CROSSDOCK_MAIL_OPTIONS``, carrying the server's guarded outbound pool (call the
        service with :meth:`crossdock.MailAccount.http_client`).

    Called once, when the plugin manager loads; every plugin's mailers are collected.
    ``send(account, message)`` is called by the mail job after the transaction that wrote
    the message has committed (a password reset, an invitation); a retryable
    ``ChannelError`` makes the job try again later with the same
    :attr:`crossdock.MailMessage.reference`, a permanent one marks the message failed.

    If an implementation raises, or returns a mailer that fails validation, the whole
    plugin is skipped and reported by name in ``Plugins.failures``, as for
    :func:`crossdock_marketplaces`. (What ``send`` raises is the mail job's: see above.)

    Example::

        from datetime import UTC, datetime

        from crossdock import MailCapability, MailerBase, MailReceipt, hookimpl


        class PrintMailer(MailerBase):
            name = "print"
            capabilities = frozenset({MailCapability.SEND})

            async def send(self, account, message):
                print(f"to {message.to}: {message.subject}")
                return MailReceipt(message_id=message.reference, accepted_at=datetime.now(UTC))


        @hookimpl
        def crossdock_mailers():
            return [PrintMailer()]

    .. versionadded:: unreleased
    """


@hookspec
def crossdock_identity_providers() -> Iterable[IdentityProvider]:
    """Return the identity providers (single sign-on protocols) this plugin offers.

    :returns: an iterable of objects satisfying :class:`crossdock.providers.IdentityProvider`,
        usually subclasses of :class:`crossdock.IdentityBase` declaring
        :attr:`crossdock.IdentityCapability.LOGIN`. An organization configures one by
        ``name`` with an :class:`crossdock.IdentityConfig` (its issuer and client, and the
        server's guarded outbound pool: :meth:`crossdock.IdentityConfig.http_client`).

    Called once, when the plugin manager loads. ``authorization_url(config, request)`` is
    called when a staff member starts a login (the browser is sent there);
    ``complete(config, request, code)`` when the browser comes back with the code, with the
    same :class:`crossdock.AuthorizationRequest`. The core then signs in the organization's
    user whose e-mail the returned :class:`crossdock.VerifiedIdentity` verified (or whom
    that issuer and subject were linked to before).

    If an implementation raises, or returns a provider that fails validation, the whole
    plugin is skipped and reported by name in ``Plugins.failures``. If ``complete`` raises
    a ``ChannelError``, the login fails with its code and is recorded as failed; any other
    exception is a server error and the login fails too.

    Example::

        from crossdock import IdentityBase, IdentityCapability, VerifiedIdentity, hookimpl


        class TrustEveryone(IdentityBase):  # an illustration: never do this
            name = "trusting"
            capabilities = frozenset({IdentityCapability.LOGIN})

            async def authorization_url(self, config, request):
                return f"{config.issuer}/login?state={request.state}"

            async def complete(self, config, request, code):
                return VerifiedIdentity(config.issuer, subject=code, email=code, email_verified=True)


        @hookimpl
        def crossdock_identity_providers():
            return [TrustEveryone()]

    .. versionadded:: unreleased
    """


@hookspec
def crossdock_warehouses() -> Iterable[WarehouseSystem]:
    """Return the warehouse systems (WMS, 3PL and marketplace warehouses) this plugin offers.

    :returns: an iterable of objects satisfying :class:`crossdock.providers.WarehouseSystem`,
        usually subclasses of :class:`crossdock.WarehouseBase` (which raises
        ``NotSupported`` for whatever is not overridden). ``name`` is unique across plugins:
        it is the ``provider`` a tenant's warehouse account names. Its ``capabilities``
        (:class:`crossdock.WarehouseCapability`) say which operations it implements
        (:data:`crossdock.providers.WAREHOUSE_OPERATIONS`): ``warehouse.stock_pull`` →
        ``pull_stock``, ``warehouse.inbound_push`` → ``push_inbound`` (an ASN),
        ``warehouse.order_push`` → ``push_order``, ``warehouse.receipts_pull`` →
        ``pull_receipts``. Only a system declaring ``warehouse.stock_pull`` can be
        connected to a warehouse.

    Called once, when the plugin manager loads; every plugin's systems are collected. The
    core then calls ``pull_stock(account)`` from the ``warehouse_sync`` job (hourly for every
    active account, and on demand) with a :class:`crossdock.WarehouseAccount` of the tenant
    (its credentials decrypted, its base URL, settings and the server's guarded outbound
    pool), and reconciles the warehouse's levels with the figures: each SKU's difference
    is recorded as a stocktake counted by the system. Before the stock, that job calls
    ``pull_receipts(account, since)`` (``warehouse.receipts_pull``; ``since`` is a little
    before the previous pull began) and books each receipt against the delivery announced
    under its reference: a sent purchase order (a receipt of the order, at landed cost) or
    an inbound shipment (booked in when ``complete``). When a purchase order is sent to, or
    an inbound shipment leaves for, a warehouse the system runs, the ``warehouse_announce``
    job calls ``push_inbound(account, shipment)`` (``warehouse.inbound_push``) with the
    delivery's number as ``reference``; a retry must find the ASN pushed before.

    If an implementation raises, or returns a system that fails validation (a declared
    capability without its method, a name another plugin took), the whole plugin is
    skipped and reported by name in ``Plugins.failures``, as for
    :func:`crossdock_marketplaces`. A provider method that raises ``ChannelError`` marks
    the account ``failing`` with the error (``lastError``) and changes no stock; a
    retryable one is tried again by the job system, and the next run that succeeds makes
    the account ``active`` again. A ``push_inbound`` refused for good marks the delivery
    ``FAILED`` with the system's message (announced again on request); a retryable one is
    retried. Any other exception is a bug: logged, the run fails.

    Example::

        from crossdock import StockLine, WarehouseBase, WarehouseCapability, hookimpl


        class Shelf(WarehouseBase):
            name = "shelf"
            display_name = "Shelf WMS"
            capabilities = frozenset({WarehouseCapability.STOCK_PULL})

            async def pull_stock(self, account):
                http = account.http_client()  # the server's guarded pool: never close it
                rows = (await http.get(f"{account.base_url}/stock")).json()
                return [StockLine(sku=r["sku"], on_hand=r["available"]) for r in rows]


        @hookimpl
        def crossdock_warehouses():
            return [Shelf()]

    .. versionadded:: unreleased
    """


@hookspec
def crossdock_translators() -> Iterable[Translator]:
    """Return the machine translation engines this plugin offers.

    :returns: an iterable of objects satisfying :class:`crossdock.providers.Translator`,
        usually subclasses of :class:`crossdock.TranslatorBase`. ``name`` is unique across
        plugins: it is what ``CROSSDOCK_TRANSLATOR`` names; ``capabilities`` holds
        ``translate.text`` (:class:`crossdock.TranslatorCapability`).

    Called once, when the plugin manager loads; every plugin's engines are collected. The
    core calls ``translate(account, request)`` when an operator asks for listing content in
    another language (``listingContentTranslate``), after the built-in glossary has put the
    tenant's fixed terms (attribute values, units, sizes, the brand) in place: the
    :class:`crossdock.TranslationRequest` carries them as ``glossary``, which the engine
    must respect. ``account`` is a :class:`crossdock.TranslatorAccount` with the server's
    ``CROSSDOCK_TRANSLATOR_OPTIONS`` and its guarded outbound pool. Each translated field
    is stored as ``machine`` until a person reviews it; nothing unreviewed is published
    unless the tenant allows it.

    If an implementation raises, or returns an engine that fails validation, the whole
    plugin is skipped and reported by name in ``Plugins.failures``, as for
    :func:`crossdock_marketplaces`. A ``translate`` that raises ``ChannelError`` leaves the
    content as it was and reports the error to the operator (a retryable one may simply be
    asked for again).

    Example::

        from crossdock import TranslatorBase, TranslatorCapability, hookimpl


        class Parrot(TranslatorBase):
            name = "parrot"
            capabilities = frozenset({TranslatorCapability.TRANSLATE})

            async def translate(self, account, request):
                http = account.http_client()  # the server's guarded pool: never close it
                answer = await http.post(
                    account.options["url"],
                    json={"q": list(request.texts), "source": request.source, "target": request.target},
                )
                return [row["text"] for row in answer.json()["translations"]]


        @hookimpl
        def crossdock_translators():
            return [Parrot()]

    .. versionadded:: unreleased
    """


@hookspec
def crossdock_emulators() -> Iterable[Any]:
    """Return emulator factories for this plugin's channels (tests, demo, ``crossdock emulate``).

    :returns: an iterable of callables, each taking a :class:`crossdock.testing.emulator.Faults`
        and returning an emulator that satisfies
        :class:`crossdock.testing.conformance.EmulatorHandle` (an ASGI app with seller-side
        helpers); usually subclasses of :class:`crossdock.testing.emulator.Emulator`. Each
        needs a ``name`` attribute equal to its channel's name and a ``default_site``.
        Import the testing kit inside the hook, so that a server that never emulates does
        not load it.

    Called once, when the plugin manager loads; every plugin's factories are collected by
    name. The conformance suite, the demo and ``crossdock emulate NAME`` use them.

    If an implementation raises, the whole plugin is skipped and reported by name in
    ``Plugins.failures``, as for :func:`crossdock_marketplaces` (its marketplaces are not
    registered either).

    Example::

        from crossdock import hookimpl


        @hookimpl
        def crossdock_emulators():
            from crossdock.testing.emulator import Emulator

            class CornerShopEmulator(Emulator):
                name = "cornershop"
                default_site = "XX"

            return [CornerShopEmulator]

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises now skips its plugin entirely (it used to leave the
       plugin's other hooks registered).
    """


@hookspec(firstresult=True)
def crossdock_fx_rates(day: date) -> FxRates | None:
    """Return the reference exchange rates in force on ``day``, or ``None`` if this plugin
    has none.

    :param day: the calendar day (UTC) the core needs rates for, usually an order's
        placement day.
    :returns: a :class:`crossdock.FxRates`: the rates published on ``day`` or, on a day
        without publication (weekends, holidays), the latest ones before it, with their
        own ``day``; units of each currency per one ``base``, Decimals as published. Or
        ``None``: the next plugin is asked. The first answer wins.

    Called when the core needs rates for a day whose own publication it has not stored (a
    conversion, the daily refresh). The core stores what it gets: a day whose publication
    is stored is never asked again; a day that borrows an earlier publication is asked
    again at most once a minute per process, so a late publication is picked up.

    If an implementation raises, the exception is logged with its traceback and the next
    plugin is asked. With no answer at all, amounts that need that day's rates stay
    unconverted, as for a currency nobody publishes: an order's reporting-currency total is
    left empty and its tax tally is skipped (a ``tax.tally_skipped`` event); the day is
    asked for again next time.

    Example::

        from datetime import date
        from decimal import Decimal

        from crossdock import FxRates, hookimpl


        @hookimpl
        def crossdock_fx_rates(day):
            if day < date(2026, 1, 1):
                return None  # another plugin may have older rates
            return FxRates(day=day, base="EUR", rates={"USD": Decimal("1.0571")}, source="fixed")

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises is skipped instead of failing the operation.
    """


# --------------------------------------------------------------------------- policy


@hookspec
def crossdock_order_checks(
    tenant: str, order: ChannelOrder, connection: Mapping[str, Any]
) -> Iterable[tuple[str, str]] | None:
    """Return holds to put on an order as it is ingested, or ``None`` for no objection.

    :param tenant: the tenant's slug.
    :param order: the normalized :class:`crossdock.ChannelOrder` as the channel sent it.
    :param connection: a read-only mapping with the connection's ``id``, ``channel``,
        ``site`` and ``currency``.
    :returns: an iterable of ``(reason, message)`` pairs, or ``None``. A reason is a
        :class:`crossdock.HoldReason` (a closed set operators filter on, such as
        ``fraud_suspect`` or ``prohibited_item``; :class:`crossdock.ComplianceReason` values
        are among them); the message says what and why. Every plugin's holds are collected
        and the order goes ``on_hold`` with all of them. A reason outside the set holds the
        order ``plugin_error`` with a message naming the plugin and the reason it gave.

    Called inside the ingestion transaction, once for each new order (not for later
    updates of the same order, nor for an order that arrives already cancelled). The hook
    must not do I/O: it runs while rows are locked. Region plugins answer it from
    declarative rules with :meth:`crossdock.ComplianceRules.order_holds`.

    If an implementation raises (or returns something that is not such pairs), the order
    is held with reason ``plugin_error`` and the message ``plugin '<name>' could not check
    this order: crossdock_order_checks raised <ExceptionType>`` (never the traceback nor
    the exception's text); the exception is logged with its traceback, the other plugins'
    checks still run, and the rest of the page is stored as usual. The operator releases
    the hold once the plugin is fixed.

    Example::

        from crossdock import hookimpl


        @hookimpl
        def crossdock_order_checks(order):
            address = order.shipping_address
            if address is not None and address.country == "KP":
                return [("sanctioned_destination", "goods may not be shipped to North Korea")]
            return None

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises holds the order ``plugin_error`` instead of failing
       the whole page's ingestion. Reasons are a closed set (:class:`crossdock.HoldReason`).
    """


@hookspec
def crossdock_listing_checks(
    tenant: str, listing: Mapping[str, Any], connection: Mapping[str, Any]
) -> Iterable[tuple[str, str]] | None:
    """Return compliance problems with offering a SKU on a connection, or ``None``.

    :param tenant: the tenant's slug.
    :param listing: a read-only mapping with the listing's ``sku``, ``channel_sku``,
        ``title``, the product's ``product_title``, ``brand`` and ``category``, and the
        variant's ``options``.
    :param connection: a read-only mapping with ``id``, ``channel``, ``site``, ``country``
        (where the buyers are) and ``currency``.
    :returns: an iterable of ``(reason, message)`` pairs, or ``None``; a reason is a
        :class:`crossdock.ListingIssueReason` (``prohibited_item``, ``restricted_item``,
        ``needs_certificate``, ``needs_warning``...), any other one becomes a
        ``plugin_error`` issue naming the plugin.
        Every plugin's problems are collected and stored on the listing (``issues``,
        replacing the previous ones); a problem not there before raises a
        ``listing.compliance_issue`` event. No stock is pushed while a ``prohibited_item``
        stands.

    Called inside the transaction that creates or updates a listing (not when only its
    product or variant changes). The hook must not do I/O. Region plugins answer it with
    :meth:`crossdock.ComplianceRules.listing_problems`.

    If an implementation raises (or returns something that is not such pairs), the listing
    gets a ``plugin_error`` issue naming the plugin and the exception's type; the
    exception is logged with its traceback, the other plugins' checks still count, and the
    listing is saved. Its stock is still offered: only ``prohibited_item`` withholds it.

    Example::

        from crossdock import hookimpl


        @hookimpl
        def crossdock_listing_checks(listing, connection):
            title = (listing["title"] or "").lower()
            if connection["country"] == "DE" and "battery" in title:
                why = "battery producers must be registered (Regulation (EU) 2023/1542 Art. 55)"
                return [("needs_certificate", why)]
            return None

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises leaves a ``plugin_error`` issue instead of failing the
       listing's change.
    """


# --------------------------------------------------------------------------- events


@hookspec
def crossdock_order_ingested(
    tenant: str, order_id: int, external_id: str, status: str, created: bool
) -> None:
    """Tell plugins that an order from a channel has been stored (created or updated).

    :param tenant: the tenant's slug.
    :param order_id: Crossdock's id of the order.
    :param external_id: the marketplace's id of the order.
    :param status: the order's Crossdock status after the change (``ready``,
        ``on_hold``...).
    :param created: whether this was the first time the order was seen.
    :returns: nothing; return values are ignored.

    Called after the ingestion transaction commits, once per order that actually changed
    (a re-delivered copy that changes nothing does not call it).

    If an implementation raises, the exception is logged with its traceback; it does not
    undo the ingestion, and the other plugins (and the other orders of the page) are still
    told.

    Example::

        import logging

        from crossdock import hookimpl

        log = logging.getLogger("crossdock_example")


        @hookimpl
        def crossdock_order_ingested(tenant, order_id, status, created):
            if created and status == "on_hold":
                log.warning("order %s of %s arrived on hold", order_id, tenant)

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises no longer keeps the other plugins from being told.
    """


@hookspec
def crossdock_stock_changed(
    tenant: str,
    variant_id: int,
    warehouse_id: int,
    on_hand: int,
    reserved: int,
    reason: str,
) -> None:
    """Tell plugins that a stock level changed (receipt, adjustment, reservation, shipment).

    :param tenant: the tenant's slug.
    :param variant_id: Crossdock's id of the variant.
    :param warehouse_id: Crossdock's id of the warehouse.
    :param on_hand: the level's new quantity on hand.
    :param reserved: the level's new reserved quantity.
    :param reason: the stock ledger reason of the change: ``receipt``, ``adjustment``,
        ``reservation``, ``release``, ``shipment``, ``transfer_out``, ``transfer_in``,
        ``stocktake``, ``damage`` or ``return``.
    :returns: nothing; return values are ignored.

    Called after the transaction commits, once per level changed. Use it to mirror stock
    into another system; pushes to marketplaces are the core's job.

    If an implementation raises, the exception is logged with its traceback; it does not
    undo the change, and the other plugins (and the other levels) are still told.

    Example::

        import logging

        from crossdock import hookimpl

        log = logging.getLogger("crossdock_example")


        @hookimpl
        def crossdock_stock_changed(variant_id, warehouse_id, on_hand, reserved):
            if on_hand - reserved <= 0:
                log.warning("variant %s is sold out in warehouse %s", variant_id, warehouse_id)

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises no longer keeps the other plugins from being told.
    """


@hookspec
def crossdock_shipment_confirmed(tenant: str, order_id: int, shipment_id: int, tracking_number: str) -> None:
    """Tell plugins that a channel accepted a shipment's tracking number.

    :param tenant: the tenant's slug.
    :param order_id: Crossdock's id of the order.
    :param shipment_id: Crossdock's id of the shipment.
    :param tracking_number: the tracking number the channel now shows the buyer (the one
        the channel assigned, for platform logistics).
    :returns: nothing; return values are ignored.

    Called once per shipment, by the job that confirmed it, after the confirmation has been
    recorded (``confirmed_at`` set and committed). Use it to notify the buyer or a carrier
    integration.

    If an implementation raises, the exception is logged with its traceback; it does not
    undo the confirmation nor fail the job (the channel is not asked again), and the other
    plugins are still told.

    Example::

        import logging

        from crossdock import hookimpl

        log = logging.getLogger("crossdock_example")


        @hookimpl
        def crossdock_shipment_confirmed(order_id, tracking_number):
            log.info("order %s is on its way: %s", order_id, tracking_number)

    .. versionadded:: 0.1.0
    .. versionchanged:: unreleased
       An implementation that raises no longer keeps the other plugins from being told.
    """
