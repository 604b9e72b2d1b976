"""The plugin manager: entry-point discovery, validation, and a typed facade over pluggy.

Callers never touch ``pm.hook`` directly (the pattern tox uses): :class:`Plugins` has one
method per hook the core calls, so a renamed hook is a type error, not a silent no-op.

A plugin that fails to import, or registers an invalid provider, is reported by name in
:attr:`Plugins.failures` and skipped; the server keeps running with the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from crossdock import hookspecs
from crossdock.errors import NotSupported, PluginLoadError
from crossdock.providers import (
    MARKETPLACE_OPERATIONS,
    PAYMENT_OPERATIONS,
    TAX_OPERATIONS,
    CarrierProvider,
    ChannelOrder,
    FxRates,
    MarketplaceBase,
    MarketplaceProvider,
    PaymentBase,
    PaymentProvider,
    ProviderKind,
    TaxBase,
    TaxEngine,
)

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "Plugins", "load_plugins"]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "crossdock"

_REGISTRATION: dict[ProviderKind, tuple[str, type]] = {
    ProviderKind.MARKETPLACE: ("crossdock_marketplaces", MarketplaceProvider),
    ProviderKind.PAYMENT: ("crossdock_payment_providers", PaymentProvider),
    ProviderKind.CARRIER: ("crossdock_carriers", CarrierProvider),
    ProviderKind.TAX: ("crossdock_tax_engines", TaxEngine),
}
#: Per kind: capability -> method, and the base class whose method does not count.
_OPERATIONS: dict[ProviderKind, tuple[Mapping[str, str], type]] = {
    ProviderKind.MARKETPLACE: (MARKETPLACE_OPERATIONS, MarketplaceBase),
    ProviderKind.PAYMENT: (PAYMENT_OPERATIONS, PaymentBase),
    ProviderKind.TAX: (TAX_OPERATIONS, TaxBase),
}


@dataclass(frozen=True)
class PluginInfo:
    """One provider as the API lists it: ``plugins { name kind version capabilities }``."""

    name: str
    kind: ProviderKind
    version: str
    capabilities: tuple[str, ...]
    plugin: str
    display_name: str = ""


@dataclass
class Plugins:
    pm: pluggy.PluginManager
    marketplaces: dict[str, MarketplaceProvider] = field(default_factory=dict)
    payment_providers: dict[str, PaymentProvider] = field(default_factory=dict)
    carriers: dict[str, CarrierProvider] = field(default_factory=dict)
    tax_engines: dict[str, TaxEngine] = field(default_factory=dict)
    infos: list[PluginInfo] = field(default_factory=list)
    emulators: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    # ---------------------------------------------------------------- lookups

    def marketplace(self, channel: str) -> MarketplaceProvider:
        try:
            return self.marketplaces[channel]
        except KeyError:
            raise NotSupported(f"no marketplace plugin is installed for {channel!r}") from None

    # ---------------------------------------------------------------- policy hooks

    def order_checks(
        self, *, tenant: str, order: ChannelOrder, connection: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        holds: list[tuple[str, str]] = []
        for result in self.pm.hook.crossdock_order_checks(tenant=tenant, order=order, connection=connection):
            holds.extend((str(r), str(m)) for r, m in result or ())
        return holds

    def listing_checks(
        self, *, tenant: str, listing: Mapping[str, Any], connection: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for result in self.pm.hook.crossdock_listing_checks(
            tenant=tenant, listing=listing, connection=connection
        ):
            problems.extend((str(r), str(m)) for r, m in result or ())
        return problems

    def fx_rates(self, day: date) -> FxRates | None:
        result: FxRates | None = self.pm.hook.crossdock_fx_rates(day=day)
        return result

    # ---------------------------------------------------------------- events

    def _broadcast(self, hook: str, **kwargs: Any) -> None:
        try:
            getattr(self.pm.hook, hook)(**kwargs)
        except Exception:
            log.exception("event hook %s raised; the change it reports stands", hook)

    def order_ingested(
        self, *, tenant: str, order_id: int, external_id: str, status: str, created: bool
    ) -> None:
        self._broadcast(
            "crossdock_order_ingested",
            tenant=tenant,
            order_id=order_id,
            external_id=external_id,
            status=status,
            created=created,
        )

    def shipment_confirmed(
        self, *, tenant: str, order_id: int, shipment_id: int, tracking_number: str
    ) -> None:
        self._broadcast(
            "crossdock_shipment_confirmed",
            tenant=tenant,
            order_id=order_id,
            shipment_id=shipment_id,
            tracking_number=tracking_number,
        )

    def stock_changed(
        self,
        *,
        tenant: str,
        variant_id: int,
        warehouse_id: int,
        on_hand: int,
        reserved: int,
        reason: str,
    ) -> None:
        self._broadcast(
            "crossdock_stock_changed",
            tenant=tenant,
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            on_hand=on_hand,
            reserved=reserved,
            reason=reason,
        )


def _validate_provider(kind: ProviderKind, protocol: type, provider: Any) -> None:
    name = getattr(provider, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"{kind} provider {provider!r} needs a lower-case identifier name")
    if not isinstance(provider, protocol):
        wanted = set(getattr(protocol, "__annotations__", {})) | {
            k for k, v in vars(protocol).items() if callable(v) and not k.startswith("_")
        }
        missing = [attr for attr in wanted if not hasattr(provider, attr)]
        raise ValueError(f"{kind} provider {name!r} is missing {', '.join(sorted(missing))}")
    caps = getattr(provider, "capabilities", None)
    if not isinstance(caps, frozenset | set | tuple | list):
        raise ValueError(f"{kind} provider {name!r}: capabilities must be a set of strings")
    checked = _OPERATIONS.get(kind)
    if checked is None:
        return
    operations, base = checked
    unknown = set(caps) - set(operations)
    if unknown:
        raise ValueError(f"{kind} {name!r} declares unknown capabilities {unknown}")
    for cap in caps:
        method = operations[cap]
        impl = getattr(type(provider), method, None)
        if impl is None or impl is getattr(base, method, None):
            raise ValueError(f"{kind} {name!r} declares {str(cap)!r} but does not implement {method}()")


def _entry_points(allow: Sequence[str] | None) -> list[EntryPoint]:
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    if allow is not None:
        eps = [ep for ep in eps if ep.name in allow]
    return eps


def load_plugins(allow: Sequence[str] | None = None, extra: Iterable[tuple[str, object]] = ()) -> Plugins:
    """Discover entry-point plugins (optionally only those named in ``allow``) and validate.

    ``extra`` registers in-process plugins ``(name, module_or_object)`` after the entry
    points; tests and embedding applications use it, and it goes through the same
    validation as an installed plugin.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm=pm)

    candidates: list[tuple[str, Any]] = []
    for ep in _entry_points(allow):
        try:
            candidates.append((ep.name, ep.load()))
        except Exception as exc:
            err = PluginLoadError(ep.name, f"failed to import {ep.value}: {exc!r}")
            log.error("%s", err)
            plugins.failures[ep.name] = str(err)
    candidates.extend(extra)
    if allow is not None:
        for name in set(allow) - {n for n, _ in candidates}:
            plugins.failures[name] = str(PluginLoadError(name, "is not installed"))

    for plugin_name, obj in candidates:
        try:
            _register(plugins, plugin_name, obj)
        except Exception as exc:
            err = PluginLoadError(plugin_name, str(exc))
            log.error("%s", err)
            plugins.failures[plugin_name] = str(err)
    return plugins


def _register(plugins: Plugins, plugin_name: str, obj: Any) -> None:
    """Register one plugin and collect its providers; on any problem leave no trace of it."""
    pm = plugins.pm
    pm.register(obj, name=plugin_name)
    try:
        pm.check_pending()
        found: list[tuple[ProviderKind, Any]] = []
        provider: Any
        for kind, (hook, protocol) in _REGISTRATION.items():
            impl = getattr(obj, hook, None)
            if impl is None:
                continue
            for provider in impl() or ():
                _validate_provider(kind, protocol, provider)
                found.append((kind, provider))
        registries: dict[ProviderKind, dict[str, Any]] = {
            ProviderKind.MARKETPLACE: plugins.marketplaces,
            ProviderKind.PAYMENT: plugins.payment_providers,
            ProviderKind.CARRIER: plugins.carriers,
            ProviderKind.TAX: plugins.tax_engines,
        }
        for kind, provider in found:
            if provider.name in registries[kind]:
                raise ValueError(f"{kind} provider {provider.name!r} is already registered")
    except Exception:
        pm.unregister(obj)
        raise
    for factory in getattr(obj, "crossdock_emulators", lambda: ())() or ():
        plugins.emulators[str(factory.name)] = factory
    for kind, provider in found:
        registries[kind][provider.name] = provider
        plugins.infos.append(
            PluginInfo(
                name=provider.name,
                kind=kind,
                version=str(getattr(provider, "version", "0")),
                capabilities=tuple(sorted(provider.capabilities)),
                plugin=plugin_name,
                display_name=getattr(provider, "display_name", "") or provider.name,
            )
        )
