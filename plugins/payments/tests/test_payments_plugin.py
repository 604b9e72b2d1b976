"""The payments plugin registers three providers and offers nothing it cannot do."""

from __future__ import annotations

from crossdock import Money
from crossdock.plugins import load_plugins


def test_three_payment_providers_through_the_entry_point() -> None:
    plugins = load_plugins(allow=["payments"])
    assert plugins.failures == {}
    assert {(i.name, i.kind.value, i.capabilities) for i in plugins.infos} == {
        ("stripe", "payment", ()),
        ("cod", "payment", ()),
        ("bank_transfer", "payment", ()),
    }


def test_no_method_is_offered_before_it_is_implemented() -> None:
    plugins = load_plugins(allow=["payments"])
    for provider in plugins.payment_providers.values():
        assert provider.payment_methods("MY", Money.of("25.00", "MYR")) == ()
