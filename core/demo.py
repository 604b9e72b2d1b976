"""Demo data: one organization, two brands, a catalogue, warehouses and stock.

Seeded through the same services the API uses, so the demo exercises the real rules.
Idempotent: a second ``serve --demo`` finds the organization and only prints a new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crossdock.bootstrap import App
from crossdock.db.models import Organization, Tenant, Variant, Warehouse
from crossdock.money import Money
from crossdock.services import catalog, inventory, tenancy

__all__ = ["DemoInfo", "seed_demo"]

ORG = "demo-agency"
TENANTS: dict[str, dict[str, Any]] = {
    "acme-outdoor": {
        "name": "Acme Outdoor",
        "products": [
            (
                "Trail Backpack 30L",
                "Acme",
                [("ACME-BP30-BLK", "Black", "24.50"), ("ACME-BP30-RED", "Red", "24.50")],
            ),
            ("Insulated Bottle 750ml", "Acme", [("ACME-BTL-750", None, "6.20")]),
            ("Camping Lantern", "Acme", [("ACME-LNT-01", None, "9.90")]),
        ],
        "warehouses": [
            ("SZ-MAIN", "Shenzhen main", "CN", "own", ["SG", "MY", "TH", "PH", "VN", "ID", "US", "DE"], 10),
            ("DE-3PL", "Leipzig 3PL", "DE", "3pl", ["DE", "FR", "IT", "ES", "NL", "GB"], 20),
        ],
    },
    "blossom-beauty": {
        "name": "Blossom Beauty",
        "products": [
            ("Rose Serum 30ml", "Blossom", [("BLS-SER-30", None, "3.10")]),
            ("Sheet Mask (10 pack)", "Blossom", [("BLS-MSK-10", None, "2.40")]),
        ],
        "warehouses": [("MY-KL", "Kuala Lumpur", "MY", "overseas", ["MY", "SG", "TH"], 10)],
    },
}


@dataclass
class DemoInfo:
    api_key: str
    tenants: list[str]


async def seed_demo(app: App) -> DemoInfo:
    async with app.db.write(system=True) as session:
        org = await session.scalar(select(Organization).where(Organization.slug == ORG))
        fresh = org is None
        if org is None:
            org = await tenancy.create_organization(session, ORG, "Demo Agency")
            for slug, spec in TENANTS.items():
                await tenancy.create_tenant(session, org, slug, str(spec["name"]))
        _, key = await tenancy.create_api_key(session, org, name="demo", scopes=["admin"])
        tenants = list((await session.scalars(select(Tenant).where(Tenant.organization_id == org.id))).all())
    if fresh:
        for tenant in tenants:
            await _seed_tenant(app, tenant)
    return DemoInfo(api_key=key, tenants=[t.slug for t in tenants])


async def _seed_tenant(app: App, tenant: Tenant) -> None:
    spec = TENANTS[tenant.slug]
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        for title, brand, variants in spec["products"]:
            await catalog.create_product(
                session,
                title=title,
                brand=brand,
                variants=[
                    catalog.VariantSpec(
                        sku=sku, title=vt, options={"colour": vt} if vt else {}, cost=Money.of(cost, "USD")
                    )
                    for sku, vt, cost in variants
                ],
            )
        for code, name, country, kind, serves, priority in spec["warehouses"]:
            await inventory.create_warehouse(
                session,
                code=code,
                name=name,
                country=country,
                kind=kind,
                serves_countries=serves,
                priority=priority,
            )
        variants = (await session.scalars(select(Variant).order_by(Variant.id))).all()
        warehouses = (await session.scalars(select(Warehouse).order_by(Warehouse.id))).all()
        for i, variant in enumerate(variants):
            for j, wh in enumerate(warehouses):
                await inventory.receive_stock(
                    session,
                    variant_id=variant.id,
                    warehouse_id=wh.id,
                    quantity=20 + 15 * ((i + j) % 4),
                    reference="PO-DEMO-0001",
                    plugins=app.plugins,
                )
