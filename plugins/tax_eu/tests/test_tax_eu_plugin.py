"""The tax_eu plugin installs through its entry point and declares what it implements."""

from __future__ import annotations

from crossdock import Money
from crossdock.testing import load_plugins


def test_registered_with_its_capabilities() -> None:
    plugins = load_plugins(allow=["tax_eu"])
    assert plugins.failures == {}
    [info] = plugins.infos
    assert (info.name, info.kind.value, info.plugin) == ("eu_vat", "tax", "tax_eu")
    assert info.capabilities == ("tax.quote", "tax.vat_numbers")


def test_engine_applies_to_the_27_member_states_only() -> None:
    engine = load_plugins(allow=["tax_eu"]).tax_engines["eu_vat"]
    members = [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
    assert all(engine.applies_to(c) for c in members)
    assert engine.applies_to("EL")  # Greece's VAT prefix
    assert not any(engine.applies_to(c) for c in ("GB", "CH", "NO", "US", "XI"))


def test_thresholds_name_the_eu_oss_threshold() -> None:
    engine = load_plugins(allow=["tax_eu"]).tax_engines["eu_vat"]
    [threshold] = engine.thresholds()
    # VAT Directive 2006/112/EC Art. 59c (Directive (EU) 2017/2455): EUR 10,000 per calendar year.
    assert threshold.key == "EU-OSS"
    assert threshold.sales == Money.of("10000", "EUR")
    assert threshold.transactions is None
