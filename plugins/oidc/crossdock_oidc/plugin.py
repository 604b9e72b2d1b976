"""Entry point of the oidc plugin: registers its identity provider and its IdP emulator."""

from __future__ import annotations

from crossdock import IdentityProvider, hookimpl
from crossdock_oidc.provider import OIDCProvider


@hookimpl
def crossdock_identity_providers() -> list[IdentityProvider]:
    return [OIDCProvider()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_oidc.emulator import OIDCEmulator

    return [OIDCEmulator]
