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
        MarketplaceProvider,
        PaymentProvider,
        TaxEngine,
    )

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "crossdock"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- registration


@hookspec
def crossdock_marketplaces() -> Iterable[MarketplaceProvider]:
    """Return the marketplace (sales channel) providers this plugin offers.

    Called once when the plugin manager loads. Return an iterable of objects satisfying
    :class:`crossdock.providers.MarketplaceProvider`, usually subclasses of
    :class:`crossdock.providers.MarketplaceBase`. Each provider's ``name`` is the channel
    name used in connections (``"amazon"``, ``"shopee"``) and must be unique across plugins.

    The provider declares in ``capabilities`` which operations it implements
    (:class:`crossdock.providers.MarketplaceCapability`); the loader rejects a provider that
    claims a capability whose method it does not override. Results from every plugin are
    collected.

    Example::

        @hookimpl
        def crossdock_marketplaces():
            return [MyShopMarketplace()]
    """


@hookspec
def crossdock_payment_providers() -> Iterable[PaymentProvider]:
    """Return the payment providers this plugin offers (card processors, COD, transfer).

    Called once when the plugin manager loads; results from every plugin are collected.
    Each object satisfies :class:`crossdock.providers.PaymentProvider`; ``name`` is unique
    across plugins. ``payment_methods(country, amount)`` is asked when a console wants the
    methods available for a checkout; providers rank their own options.
    """


@hookspec
def crossdock_carriers() -> Iterable[CarrierProvider]:
    """Return the carrier providers (labels, tracking) this plugin offers.

    Called once when the plugin manager loads; results from every plugin are collected.
    Each object satisfies :class:`crossdock.providers.CarrierProvider`.
    """


@hookspec
def crossdock_tax_engines() -> Iterable[TaxEngine]:
    """Return the tax engines this plugin offers, usually one per region (EU VAT, US).

    Called once when the plugin manager loads; results from every plugin are collected.
    Each object satisfies :class:`crossdock.providers.TaxEngine`; ``applies_to(country)``
    tells the core which engine computes tax for a destination.
    """


@hookspec
def crossdock_emulators() -> Iterable[Any]:
    """Return emulator factories for this plugin's channels (tests, demo, ``crossdock emulate``).

    Called once when the plugin manager loads; results from every plugin are collected.
    Each item is a callable taking a :class:`crossdock.testing.emulator.Faults` and returning
    an emulator that satisfies :class:`crossdock.testing.conformance.EmulatorHandle` (an
    ASGI app with seller-side helpers). It needs a ``name`` attribute equal to the channel
    name and a ``default_site``. Nothing is imported from the kit unless it is used.
    """


@hookspec(firstresult=True)
def crossdock_fx_rates(day: date) -> FxRates | None:
    """Return the reference exchange rates in force on ``day``, or ``None`` if this plugin
    has none.

    Called when the core needs rates for a day it has not stored yet (a conversion, the
    daily refresh); the first plugin to answer wins. Return the rates published on ``day``,
    or, on a day without publication (weekends, holidays), the latest ones before it, with
    their own ``day``. The core stores them, so a day is asked for once.

    An implementation that raises is logged and skipped: the next plugin is asked, and with
    no answer the amounts are left unconverted (as for a currency nobody publishes).
    """


# --------------------------------------------------------------------------- policy


@hookspec
def crossdock_order_checks(
    tenant: str, order: ChannelOrder, connection: Mapping[str, Any]
) -> Iterable[tuple[str, str]] | None:
    """Return holds to put on an order as it is ingested, or ``None`` for no objection.

    ``tenant`` is the tenant's slug, ``order`` the normalized
    :class:`crossdock.providers.ChannelOrder`, ``connection`` a read-only mapping with the
    connection's ``id``, ``channel``, ``site`` and ``currency``.

    Called inside the ingestion transaction each time a new order arrives (not for later
    updates of the same order). Return an iterable of ``(reason, message)`` pairs; every
    plugin's holds are collected and the order goes ``on_hold`` with all of them. Reasons are
    short snake_case words an operator can filter on (``fraud_suspect``,
    ``prohibited_item``). The hook must not do I/O: it runs while rows are locked.

    If the implementation raises (or returns something that is not such pairs), the order
    is held with reason ``plugin_error`` and the message ``plugin '<name>' could not check
    this order: crossdock_order_checks raised <ExceptionType>``; the exception is logged
    with its traceback, the other plugins' checks still run, and the rest of the page is
    stored as usual. The operator releases the hold once the plugin is fixed.
    """


@hookspec
def crossdock_listing_checks(
    tenant: str, listing: Mapping[str, Any], connection: Mapping[str, Any]
) -> Iterable[tuple[str, str]] | None:
    """Return compliance problems with offering a SKU on a connection, or ``None``.

    ``listing`` is a read-only mapping with the listing's ``sku``, ``channel_sku``,
    ``title``, the product's ``product_title``, ``brand`` and ``category``, and the variant's
    ``options``; ``connection`` has ``id``, ``channel``, ``site``, ``country`` (where the
    buyers are) and ``currency``.

    Called when a listing is created or changed, inside that transaction. Return an iterable
    of ``(reason, message)`` pairs (``prohibited_item``, ``restricted_item``,
    ``needs_certificate``...); every plugin's problems are collected and stored on the
    listing, where an operator sees them and stock is not pushed while a ``prohibited_item``
    stands. The hook must not do I/O.

    If the implementation raises, the listing gets a ``plugin_error`` issue naming the
    plugin and the exception's type (stock is still offered: only ``prohibited_item``
    withholds it); the exception is logged and the listing is saved.
    """


# --------------------------------------------------------------------------- events


@hookspec
def crossdock_order_ingested(
    tenant: str, order_id: int, external_id: str, status: str, created: bool
) -> None:
    """Called after an order from a channel has been stored (created or updated).

    ``order_id`` is Crossdock's id, ``external_id`` the marketplace's, ``status`` the
    Crossdock status after the change, ``created`` whether this was the first time the order
    was seen. Called after the transaction commits, once per order that actually changed (a
    re-delivered copy that changes nothing does not call it). Return values are ignored; an
    exception is logged with its traceback, does not undo the ingestion, and does not keep
    the other plugins (or the other orders of the page) from being told.
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
    """Called after a stock level changed (receipt, adjustment, reservation, shipment).

    Receives the level's new ``on_hand`` and ``reserved`` and the ledger ``reason`` that
    changed it. Called after the transaction commits, once per level changed. Return values
    are ignored; an exception is logged with its traceback, does not undo the change, and
    does not keep the other plugins (or the other levels) from being told. Use it to mirror
    stock into another system; pushes to marketplaces are the core's job.
    """


@hookspec
def crossdock_shipment_confirmed(tenant: str, order_id: int, shipment_id: int, tracking_number: str) -> None:
    """Called after a channel accepted a shipment's tracking number.

    ``order_id`` and ``shipment_id`` are Crossdock's ids. Called once per shipment, after
    the confirmation has been recorded (``confirmed_at`` set and committed), from the job
    that confirmed it. Return values are ignored; an exception is logged with its
    traceback, does not undo the confirmation nor fail the job (the channel is not asked
    again), and does not keep the other plugins from being told. Use it to notify the buyer
    or a carrier integration.
    """
