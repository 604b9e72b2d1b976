"""The plugin manager: entry-point discovery, allow-list, validation, failures by name."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest

from crossdock import (
    ChannelOrder,
    HoldReason,
    ListingIssueReason,
    MarketplaceBase,
    MarketplaceCapability,
    Money,
    NotSupported,
    PaymentBase,
    TrackingResult,
    hookimpl,
)
from crossdock.testing import load_plugins


class Liar(MarketplaceBase):
    name = "liar"
    capabilities = frozenset({MarketplaceCapability.STOCK_PUSH})  # but push_stock is not overridden


class Fine(MarketplaceBase):
    name = "fine"


class Pay(PaymentBase):
    name = "payfine"


class Carrier:
    """A carrier from a plugin that does not subclass our base: the Protocol is what counts."""

    name = "courier"
    display_name = "Courier"
    version = "2"
    capabilities = frozenset({"carrier.tracking"})
    channel = None
    rate_limits: dict[str, object] = {}
    track_batch = 10

    async def track(self, account: object, tracking_numbers: list[str]) -> list[object]:
        return [TrackingResult(number, [], found=False) for number in tracking_numbers]

    async def _unsupported(self, *args: object) -> NoReturn:
        raise NotSupported("courier only tracks")

    rates = buy_label = find_label = void_label = schedule_pickup = _unsupported
    create_manifest = validate_address = _unsupported

    def parse_webhook(self, *args: object) -> NoReturn:
        raise NotSupported("courier only tracks")


class Tax:
    name = "nowhere_tax"
    display_name = "Nowhere tax"
    version = "1"
    capabilities: frozenset[str] = frozenset()

    def applies_to(self, country: str) -> bool:
        return country == "XX"

    def quote(self, context: object, lines: list[object]) -> list[object]:
        return []

    def thresholds(self) -> list[object]:
        return []

    def validate_vat_number(self, number: str) -> bool:
        return False


class FineEmulator:
    name = "fine"
    default_site = "XX"


class GoodPlugin:
    @hookimpl
    def crossdock_marketplaces(self) -> list[object]:
        return [Fine()]

    @hookimpl
    def crossdock_payment_providers(self) -> list[object]:
        return [Pay()]

    @hookimpl
    def crossdock_carriers(self) -> list[object]:
        return [Carrier()]

    @hookimpl
    def crossdock_tax_engines(self) -> list[object]:
        return [Tax()]

    @hookimpl
    def crossdock_emulators(self) -> list[object]:
        return [FineEmulator]


class LyingPlugin:
    @hookimpl
    def crossdock_marketplaces(self) -> list[object]:
        return [Liar()]


class TypoPlugin:
    @hookimpl
    def crossdock_marketplace(self) -> list[object]:  # misspelt hook name
        return []


class Unmarked:
    """Attributes named like hooks but not marked ``@hookimpl``: not hook implementations."""

    def __init__(self) -> None:
        self.called: list[str] = []

    def crossdock_marketplaces(self) -> list[object]:
        self.called.append("crossdock_marketplaces")
        return [Fine()]

    def crossdock_emulators(self) -> list[object]:
        self.called.append("crossdock_emulators")
        return [FineEmulator]

    def crossdock_order_checks(self, order: ChannelOrder) -> list[tuple[str, str]]:
        self.called.append("crossdock_order_checks")
        return [("fraud_suspect", "unmarked")]

    crossdock_tax_engines = [Tax()]  # not even callable


class Renamed:
    """Implementations under other names, tied to their hooks by ``specname``."""

    @hookimpl(specname="crossdock_marketplaces")
    def channels(self) -> list[object]:
        return [Fine()]

    @hookimpl(specname="crossdock_emulators")
    def fakes(self) -> list[object]:
        return [FineEmulator]


class BrokenEmulators:
    @hookimpl
    def crossdock_marketplaces(self) -> list[object]:
        return [Fine()]

    @hookimpl
    def crossdock_emulators(self) -> list[object]:
        raise RuntimeError("emulator kit not installed")

    @hookimpl
    def crossdock_order_checks(self) -> list[tuple[str, str]]:
        return [("fraud_suspect", "still registered")]


def test_only_marked_implementations_are_hooks() -> None:
    unmarked = Unmarked()
    plugins = load_plugins(allow=[], extra=[("unmarked", unmarked)])
    assert plugins.failures == {}
    assert (plugins.marketplaces, plugins.tax_engines, plugins.emulators, plugins.infos) == ({}, {}, {}, [])
    order = _order()
    assert plugins.order_checks(tenant="t", order=order, connection={}) == []
    assert unmarked.called == []


def test_implementations_named_by_specname_register() -> None:
    plugins = load_plugins(allow=[], extra=[("renamed", Renamed())])
    assert plugins.failures == {}
    assert set(plugins.marketplaces) == {"fine"}
    assert plugins.emulators == {"fine": FineEmulator}
    assert [(i.name, i.plugin) for i in plugins.infos] == [("fine", "renamed")]


def test_a_registration_hook_that_raises_leaves_no_trace_of_its_plugin() -> None:
    plugins = load_plugins(allow=[], extra=[("broken", BrokenEmulators()), ("good", GoodPlugin())])
    assert "emulator kit not installed" in plugins.failures["broken"]
    assert {i.plugin for i in plugins.infos} == {"good"}
    assert plugins.pm.get_plugin("broken") is None
    order = _order()
    assert plugins.order_checks(tenant="t", order=order, connection={}) == []


def test_registers_every_kind_and_lists_it() -> None:
    plugins = load_plugins(allow=[], extra=[("good", GoodPlugin())])
    assert plugins.failures == {}
    assert {(i.name, i.kind.value, i.plugin) for i in plugins.infos} == {
        ("fine", "marketplace", "good"),
        ("payfine", "payment", "good"),
        ("courier", "carrier", "good"),
        ("nowhere_tax", "tax", "good"),
    }
    assert plugins.carriers["courier"].capabilities == {"carrier.tracking"}
    assert plugins.emulators == {"fine": FineEmulator}


def test_invalid_plugins_are_reported_by_name_and_skipped() -> None:
    plugins = load_plugins(
        allow=[], extra=[("liar", LyingPlugin()), ("typo", TypoPlugin()), ("good", GoodPlugin())]
    )
    assert "declares 'stock.push' but does not implement push_stock()" in plugins.failures["liar"]
    assert "crossdock_marketplace" in plugins.failures["typo"]
    assert "liar" not in plugins.marketplaces
    assert set(plugins.marketplaces) == {"fine"}
    # a second plugin may not take an existing provider name
    dup = load_plugins(allow=[], extra=[("good", GoodPlugin()), ("good2", GoodPlugin())])
    assert "already registered" in dup.failures["good2"]


@pytest.fixture
def broken_entry_point(tmp_path: Path) -> Iterator[None]:
    """An installed distribution whose entry point cannot be imported."""
    dist = tmp_path / "crossdock_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crossdock-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[crossdock]\nbroken = crossdock_broken_nowhere.plugin\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))


def test_a_plugin_that_fails_to_import_does_not_stop_the_others(broken_entry_point: None) -> None:
    plugins = load_plugins(extra=[("good", GoodPlugin())])
    assert "broken" in plugins.failures
    assert "crossdock_broken_nowhere" in plugins.failures["broken"]
    assert "fine" in plugins.marketplaces


def test_allow_list_filters_entry_points(broken_entry_point: None) -> None:
    plugins = load_plugins(allow=["missing-one"])
    assert "broken" not in plugins.failures
    assert plugins.failures == {"missing-one": "plugin 'missing-one': is not installed"}


class Checks:
    """Order and listing checks answering one known and one unknown reason each."""

    @hookimpl
    def crossdock_order_checks(self) -> list[tuple[str, str]]:
        return [("prohibited_item", "knives"), ("looks_odd", "a reason of its own")]

    @hookimpl
    def crossdock_listing_checks(self) -> list[tuple[str, str]]:
        return [("needs_warning", "choking hazard"), ("manual", "not a listing reason")]


def test_a_reason_outside_the_closed_set_becomes_a_plugin_error_naming_the_plugin() -> None:
    plugins = load_plugins(allow=[], extra=[("checks", Checks())])
    holds = plugins.order_checks(tenant="t", order=_order(), connection={})
    assert holds[0] == ("prohibited_item", "knives")
    reason, message = holds[1]
    assert reason == HoldReason.PLUGIN_ERROR
    assert "'checks'" in message and "'looks_odd'" in message and "HoldReason" in message
    issues = plugins.listing_checks(tenant="t", listing={}, connection={})
    assert issues[0] == ("needs_warning", "choking hazard")
    assert issues[1][0] == ListingIssueReason.PLUGIN_ERROR and "ListingIssueReason" in issues[1][1]


def _order() -> ChannelOrder:
    return ChannelOrder(
        external_id="o",
        status="pending",
        channel_status="new",
        placed_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        total=Money.of("1", "EUR"),
        lines=[],
    )
