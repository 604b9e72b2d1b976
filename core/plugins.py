"""The plugin manager: entry-point discovery, validation, and a typed facade over pluggy.

Callers never touch ``pm.hook`` directly (the pattern tox uses): :class:`Plugins` has one
method per hook the core calls, so a renamed hook is a type error, not a silent no-op.
Implementations are found the way pluggy finds them (``pm.hook.<name>.get_hookimpls()``):
only functions marked ``@crossdock.hookimpl``, under the hook's name or ``specname=``; an
unmarked attribute that happens to share a hook's name is never called.

A plugin that fails to import, or registers an invalid provider, is reported by name in
:attr:`Plugins.failures` and skipped; the server keeps running with the others.

A plugin that raises while the core calls one of its policy or event hooks is isolated the
same way: each plugin's implementation is called on its own, so the others still answer;
the exception is logged with its traceback and never reaches the core's transaction. A
policy hook's failure becomes a verdict the operator sees (an order held ``plugin_error``,
a listing issue ``plugin_error``), naming the plugin and the exception's type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from crossdock import hookspecs
from crossdock.errors import NotSupported, PluginLoadError
from crossdock.providers import (
    AD_PLATFORM_CAPABILITIES,
    CARRIER_COMPANIONS,
    CARRIER_OPERATIONS,
    IDENTITY_OPERATIONS,
    MAIL_OPERATIONS,
    MARKETPLACE_OPERATIONS,
    PAYMENT_OPERATIONS,
    TAX_OPERATIONS,
    TRANSLATOR_OPERATIONS,
    WAREHOUSE_OPERATIONS,
    CarrierBase,
    CarrierProvider,
    ChannelOrder,
    FxRates,
    HoldReason,
    IdentityBase,
    IdentityProvider,
    ListingIssueReason,
    Mailer,
    MailerBase,
    MarketplaceBase,
    MarketplaceProvider,
    PaymentBase,
    PaymentProvider,
    ProviderKind,
    TaxBase,
    TaxEngine,
    Translator,
    TranslatorBase,
    WarehouseBase,
    WarehouseSystem,
)

__all__ = ["ENTRY_POINT_GROUP", "PLUGIN_ERROR", "PluginInfo", "Plugins", "load_plugins"]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "crossdock"
#: The reason of the hold (or listing issue) a policy hook that raised leaves behind.
PLUGIN_ERROR = HoldReason.PLUGIN_ERROR.value

_REGISTRATION: dict[ProviderKind, tuple[str, type]] = {
    ProviderKind.MARKETPLACE: ("crossdock_marketplaces", MarketplaceProvider),
    ProviderKind.PAYMENT: ("crossdock_payment_providers", PaymentProvider),
    ProviderKind.CARRIER: ("crossdock_carriers", CarrierProvider),
    ProviderKind.TAX: ("crossdock_tax_engines", TaxEngine),
    ProviderKind.AD_PLATFORM: ("crossdock_ad_platforms", MarketplaceProvider),
    ProviderKind.MAILER: ("crossdock_mailers", Mailer),
    ProviderKind.IDENTITY: ("crossdock_identity_providers", IdentityProvider),
    ProviderKind.WAREHOUSE: ("crossdock_warehouses", WarehouseSystem),
    ProviderKind.TRANSLATOR: ("crossdock_translators", Translator),
}
#: Per kind: capability -> method, and the base class whose method does not count.
_OPERATIONS: dict[ProviderKind, tuple[Mapping[str, str], type]] = {
    ProviderKind.MARKETPLACE: (MARKETPLACE_OPERATIONS, MarketplaceBase),
    ProviderKind.PAYMENT: (PAYMENT_OPERATIONS, PaymentBase),
    ProviderKind.TAX: (TAX_OPERATIONS, TaxBase),
    ProviderKind.CARRIER: (CARRIER_OPERATIONS, CarrierBase),
    ProviderKind.AD_PLATFORM: (MARKETPLACE_OPERATIONS, MarketplaceBase),
    ProviderKind.MAILER: (MAIL_OPERATIONS, MailerBase),
    ProviderKind.IDENTITY: (IDENTITY_OPERATIONS, IdentityBase),
    ProviderKind.WAREHOUSE: (WAREHOUSE_OPERATIONS, WarehouseBase),
    ProviderKind.TRANSLATOR: (TRANSLATOR_OPERATIONS, TranslatorBase),
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
    mailers: dict[str, Mailer] = field(default_factory=dict)
    identity_providers: dict[str, IdentityProvider] = field(default_factory=dict)
    warehouse_systems: dict[str, WarehouseSystem] = field(default_factory=dict)
    translators: dict[str, Translator] = field(default_factory=dict)
    infos: list[PluginInfo] = field(default_factory=list)
    emulators: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    #: Per hook name: (plugin name, a caller of that plugin's implementations only).
    _isolated: dict[str, list[tuple[str, Callable[..., Any]]]] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- lookups

    def marketplace(self, channel: str) -> MarketplaceProvider:
        try:
            return self.marketplaces[channel]
        except KeyError:
            raise NotSupported(f"no marketplace plugin is installed for {channel!r}") from None

    def carrier(self, name: str) -> CarrierProvider:
        try:
            return self.carriers[name]
        except KeyError:
            raise NotSupported(f"no carrier plugin is installed for {name!r}") from None

    def mailer(self, name: str) -> Mailer:
        try:
            return self.mailers[name]
        except KeyError:
            raise NotSupported(f"no mail plugin is installed for {name!r}") from None

    def identity_provider(self, name: str) -> IdentityProvider:
        try:
            return self.identity_providers[name]
        except KeyError:
            raise NotSupported(f"no identity plugin is installed for {name!r}") from None

    def warehouse_system(self, name: str) -> WarehouseSystem:
        try:
            return self.warehouse_systems[name]
        except KeyError:
            raise NotSupported(f"no warehouse plugin is installed for {name!r}") from None

    def channel_logistics(self, channel: str) -> CarrierProvider | None:
        """The marketplace's own logistics for ``channel``, when a plugin offers it."""
        return next((c for c in self.carriers.values() if c.channel == channel), None)

    # ---------------------------------------------------------------- isolation

    def _each_plugin(self, hook: str) -> list[tuple[str, Callable[..., Any]]]:
        """One caller per plugin implementing ``hook``, in pluggy's call order (a plugin's
        own wrappers still wrap its implementations), built once per hook."""
        callers = self._isolated.get(hook)
        if callers is None:
            plugins: list[tuple[str, object]] = []
            for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
                if all(impl.plugin is not known for _, known in plugins):
                    plugins.append((impl.plugin_name, impl.plugin))
            callers = [
                (
                    name,
                    self.pm.subset_hook_caller(
                        hook, remove_plugins=[other for _, other in plugins if other is not plugin]
                    ),
                )
                for name, plugin in plugins
            ]
            self._isolated[hook] = callers
        return callers

    def _call_isolated(self, hook: str, **kwargs: Any) -> list[tuple[str, list[Any] | Exception]]:
        """Call each plugin's implementation of ``hook`` on its own: one that raises is
        logged (with its traceback) and reported as its exception; the others still run."""
        outcomes: list[tuple[str, list[Any] | Exception]] = []
        for name, call in self._each_plugin(hook):
            try:
                outcomes.append((name, list(call(**kwargs))))
            except Exception as exc:
                log.exception("plugin %r raised in %s", name, hook)
                outcomes.append((name, exc))
        return outcomes

    def _verdicts(self, hook: str, what: str, reasons: type[StrEnum], **kwargs: Any) -> list[tuple[str, str]]:
        """The ``(reason, message)`` pairs every plugin returns for a policy hook. A plugin
        that raises, or returns something that is not such pairs, contributes one
        ``plugin_error`` pair naming it and the exception's type (no traceback: the
        message is shown to operators; the log has the traceback); a reason that is not
        one of ``reasons`` becomes a ``plugin_error`` pair naming the plugin and it."""
        known = {reason.value for reason in reasons}
        found: list[tuple[str, str]] = []
        for name, outcome in self._call_isolated(hook, **kwargs):
            if isinstance(outcome, Exception):
                found.append((PLUGIN_ERROR, _plugin_failure(name, hook, what, outcome)))
                continue
            try:  # a generator raises only now; a str or a triple is not a list of pairs
                pairs = [(str(r), str(m)) for result in outcome for r, m in result or ()]
            except Exception as exc:
                log.exception("plugin %r returned a malformed %s answer", name, hook)
                found.append((PLUGIN_ERROR, _plugin_failure(name, hook, what, exc)))
                continue
            for reason, message in pairs:
                if reason in known:
                    found.append((reason, message))
                else:
                    log.error("plugin %r answered %s with unknown reason %r", name, hook, reason)
                    found.append(
                        (
                            PLUGIN_ERROR,
                            f"plugin {name!r} {what}: it gave the reason {reason!r}, which is "
                            f"not a {reasons.__name__} ({message})",
                        )
                    )
        return found

    # ---------------------------------------------------------------- policy hooks

    def order_checks(
        self, *, tenant: str, order: ChannelOrder, connection: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """Every plugin's holds for a new order; a plugin that fails holds it ``plugin_error``."""
        return self._verdicts(
            "crossdock_order_checks",
            "could not check this order",
            HoldReason,
            tenant=tenant,
            order=order,
            connection=connection,
        )

    def listing_checks(
        self, *, tenant: str, listing: Mapping[str, Any], connection: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """Every plugin's problems with a listing; a plugin that fails reports ``plugin_error``."""
        return self._verdicts(
            "crossdock_listing_checks",
            "could not check this listing",
            ListingIssueReason,
            tenant=tenant,
            listing=listing,
            connection=connection,
        )

    def fx_rates(self, day: date) -> FxRates | None:
        """The first plugin's answer; one that raises is logged and the next one asked."""
        for name, call in self._each_plugin("crossdock_fx_rates"):
            try:
                result: FxRates | None = call(day=day)  # firstresult: one value, not a list
            except Exception:
                log.exception("plugin %r raised in crossdock_fx_rates", name)
                continue
            if result is not None:
                return result
        return None

    # ---------------------------------------------------------------- events

    def _broadcast(self, hook: str, **kwargs: Any) -> None:
        """Tell every plugin; one that raises is logged and the others are still told."""
        self._call_isolated(hook, **kwargs)

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


def _plugin_failure(plugin: str, hook: str, what: str, exc: Exception) -> str:
    return f"plugin {plugin!r} {what}: {hook} raised {type(exc).__name__}"


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
    if kind == ProviderKind.AD_PLATFORM:
        unknown |= set(caps) - AD_PLATFORM_CAPABILITIES
    if unknown:
        raise ValueError(f"{kind} {name!r} declares unknown capabilities {unknown}")
    for cap in caps:
        methods = (
            operations[cap],
            *(CARRIER_COMPANIONS.get(cap, ()) if kind == ProviderKind.CARRIER else ()),
        )
        for method in methods:
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


def _own_results(pm: pluggy.PluginManager, hook: str, plugin: object) -> list[Any]:
    """What ``plugin``'s own implementations of the registration hook ``hook`` return, as
    pluggy finds them (marked ``@hookimpl``, under their own name or ``specname=``), flattened;
    the other plugins' implementations are not called."""
    caller: pluggy.HookCaller = getattr(pm.hook, hook)
    if not any(impl.plugin is plugin for impl in caller.get_hookimpls()):
        return []
    others = [other for other in pm.get_plugins() if other is not plugin]
    return [item for result in pm.subset_hook_caller(hook, remove_plugins=others)() for item in result or ()]


def _register(plugins: Plugins, plugin_name: str, obj: Any) -> None:
    """Register one plugin and collect its providers; on any problem leave no trace of it."""
    pm = plugins.pm
    plugins._isolated.clear()  # the per-plugin callers are built again with this one
    pm.register(obj, name=plugin_name)
    try:
        pm.check_pending()
        found: list[tuple[ProviderKind, Any]] = []
        provider: Any
        for kind, (hook, protocol) in _REGISTRATION.items():
            for provider in _own_results(pm, hook, obj):
                _validate_provider(kind, protocol, provider)
                found.append((kind, provider))
        emulators = _own_results(pm, "crossdock_emulators", obj)
        registries: dict[ProviderKind, dict[str, Any]] = {
            ProviderKind.MARKETPLACE: plugins.marketplaces,
            ProviderKind.PAYMENT: plugins.payment_providers,
            ProviderKind.CARRIER: plugins.carriers,
            ProviderKind.TAX: plugins.tax_engines,
            ProviderKind.MAILER: plugins.mailers,
            ProviderKind.IDENTITY: plugins.identity_providers,
            ProviderKind.WAREHOUSE: plugins.warehouse_systems,
            ProviderKind.TRANSLATOR: plugins.translators,
            # an ad platform is connected, credentialled and synced as a channel is
            ProviderKind.AD_PLATFORM: plugins.marketplaces,
        }
        for kind, provider in found:
            if provider.name in registries[kind]:
                raise ValueError(f"{kind} provider {provider.name!r} is already registered")
    except Exception:
        pm.unregister(obj)
        plugins._isolated.clear()
        raise
    for factory in emulators:
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
