"""The identity conformance suite against the OpenID Connect emulator."""

from __future__ import annotations

from typing import Any

from crossdock_oidc.emulator import OIDCEmulator

from crossdock.testing.emulator import Faults
from crossdock.testing.identity import IdentityConformance


class TestOIDCConformance(IdentityConformance):
    provider = "oidc"

    def make_emulator(self, faults: Faults) -> Any:
        return OIDCEmulator(faults)
