"""The fedex distribution registers its carrier and its emulator through the entry point."""

from __future__ import annotations

from crossdock_fedex.carrier import FedExCarrier
from crossdock_fedex.emulator import FedExEmulator

from crossdock.providers import CARRIER_OPERATIONS, CarrierCapability
from crossdock.testing import load_plugins


def test_the_entry_point_registers_carrier_and_emulator() -> None:
    plugins = load_plugins(allow=["fedex"])
    assert not plugins.failures
    carrier = plugins.carriers["fedex"]
    assert isinstance(carrier, FedExCarrier)
    assert (carrier.display_name, carrier.channel, carrier.track_batch) == ("FedEx", None, 30)
    assert carrier.capabilities == {
        CarrierCapability.RATES,
        CarrierCapability.LABELS,
        CarrierCapability.TRACKING,
        CarrierCapability.PICKUPS,
        CarrierCapability.ADDRESS_VALIDATION,
    }
    assert all(hasattr(carrier, CARRIER_OPERATIONS[c]) for c in carrier.capabilities)
    assert carrier.rate_limits["api"].rate * 10 == 1400
    factory = plugins.emulators["fedex"]
    assert factory is FedExEmulator
    assert factory.default_site == "US"
    assert set(factory().open_account()) == {"client_id", "client_secret", "account_number"}
