"""Kit helpers for region, tax and payment plugins' tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update

from crossdock.bootstrap import App
from crossdock.db.models import Tenant
from crossdock.testing.kit import TestTenant

__all__ = ["set_tenant_settings"]


async def set_tenant_settings(app: App, tenant: TestTenant | int, settings: Mapping[str, Any]) -> None:
    """Replace a tenant's settings: ``tax`` (``seller_country``, registrations...),
    ``reporting_currency``, ``payments`` (per provider: bank accounts, COD limits...),
    ``tracking`` (no-scan days per lane, checked), as an
    operator sets them up. The API has no mutation for them; plugins' tests use this one
    instead of writing the tenants table themselves."""
    from crossdock.services.tenancy import validate_tenant_settings

    validate_tenant_settings(settings)
    tenant_id = tenant if isinstance(tenant, int) else tenant.id
    async with app.db.write(system=True) as session:
        found = await session.scalar(
            update(Tenant).where(Tenant.id == tenant_id).values(settings=dict(settings)).returning(Tenant.id)
        )
    if found is None:
        raise LookupError(f"no tenant with id {tenant_id}")
