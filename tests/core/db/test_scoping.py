"""The scoping layer: unscoped sessions refuse, scoped ones filter and stamp."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from crossdock.db.models import Product
from crossdock.errors import TenantScopeError


async def test_session_without_tenant_refuses_to_query(app: Any) -> None:
    async with app.db._reader() as session:  # neither tenant nor system: a programming error
        with pytest.raises(TenantScopeError):
            await session.execute(select(Product))


async def test_queries_updates_and_deletes_are_scoped(app: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    for tenant, title in ((a, "A's"), (b, "B's")):
        async with app.db.write(tenant.id) as session:
            session.add(Product(title=title))
    async with app.db.write(b.id) as session:
        assert [p.title for p in (await session.scalars(select(Product))).all()] == ["B's"]
        # a bulk update/delete without a WHERE on tenant still only touches B's rows
        await session.execute(update(Product).values(title="renamed"))
        await session.execute(delete(Product).where(Product.title == "A's"))
    async with app.db.tenant(a.id) as session:
        assert [p.title for p in (await session.scalars(select(Product))).all()] == ["A's"]
    async with app.db.system() as session:
        count = await session.scalar(
            select(func.count(Product.id)).where(Product.tenant_id.in_([a.id, b.id]))
        )
        assert count == 2


async def test_new_rows_are_stamped_and_foreign_rows_refused(app: Any, tenant_factory: Any) -> None:
    a = await tenant_factory()
    b = await tenant_factory()
    async with app.db.write(a.id) as session:
        product = Product(title="stamped")
        session.add(product)
        await session.flush()
        assert product.tenant_id == a.id
    with pytest.raises(TenantScopeError):
        async with app.db.write(a.id) as session:
            session.add(Product(title="smuggled", tenant_id=b.id))
    with pytest.raises(TenantScopeError):
        async with app.db.write(system=True) as session:
            session.add(Product(title="whose?"))
    async with app.db.tenant(b.id) as session:
        assert (await session.scalars(select(Product))).all() == []
