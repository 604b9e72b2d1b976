"""The tax_us plugin installs through its entry point and declares what it implements."""

from __future__ import annotations

from crossdock.testing import load_plugins


def test_registered_with_its_capabilities() -> None:
    plugins = load_plugins(allow=["tax_us"])
    assert plugins.failures == {}
    [info] = plugins.infos
    assert (info.name, info.kind.value, info.plugin) == ("us_sales_tax", "tax", "tax_us")
    assert info.capabilities == ("tax.quote",)


def test_one_threshold_per_sales_tax_state() -> None:
    engine = load_plugins(allow=["tax_us"]).tax_engines["us_sales_tax"]
    thresholds = {t.key: t for t in engine.thresholds()}
    assert len(thresholds) == 46  # 45 states + DC
    assert not {"US-DE", "US-MT", "US-NH", "US-OR", "US-AK"} & set(thresholds)
    assert engine.applies_to("US") and not engine.applies_to("CA")
