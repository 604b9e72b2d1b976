"""The tax_uk plugin installs through its entry point and declares what it implements."""

from __future__ import annotations

from crossdock.testing import load_plugins


def test_registered_with_its_capabilities() -> None:
    plugins = load_plugins(allow=["tax_uk"])
    assert plugins.failures == {}
    [info] = plugins.infos
    assert (info.name, info.kind.value, info.plugin) == ("uk_vat", "tax", "tax_uk")
    assert info.capabilities == ("tax.quote", "tax.vat_numbers")


def test_applies_to_the_uk_only_and_has_no_threshold_for_overseas_sellers() -> None:
    engine = load_plugins(allow=["tax_uk"]).tax_engines["uk_vat"]
    assert engine.applies_to("GB") and engine.applies_to("gb") and engine.applies_to("XI")
    assert not engine.applies_to("IE") and not engine.applies_to("US")
    # HMRC VATREG37210: no registration threshold for non-established taxable persons.
    assert engine.thresholds() == ()
