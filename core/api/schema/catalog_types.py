"""Products and variants as GraphQL types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from crossdock.api.context import state
from crossdock.api.schema.common import JSON, Money
from crossdock.api.schema.enums import member
from crossdock.api.schema.loaders import by_id, children
from crossdock.api.schema.relay import Node, encode_id
from crossdock.db import models as m
from crossdock.providers import ItemFlag

if TYPE_CHECKING:
    from crossdock.api.schema.inventory_types import StockLevel

__all__ = ["Product", "Variant"]


@strawberry.type
class Product(Node):
    pk: strawberry.Private[int]
    title: str
    description: str | None
    brand: str | None
    category: str | None
    status: m.ProductStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.Product) -> Product:
        return cls(
            id=encode_id("Product", row.id),
            pk=row.id,
            title=row.title,
            description=row.description,
            brand=row.brand,
            category=row.category,
            status=m.ProductStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field
    async def variants(self, info: Info[Any, Any]) -> list[Variant]:
        rows = await children(state(info), m.Variant, "product_id").load(self.pk)
        return [Variant.from_row(r) for r in rows]


@strawberry.type
class Variant(Node):
    pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    sku: str
    title: str | None
    barcode: str | None
    options: JSON
    weight_grams: int | None
    cost: Money | None
    tax_class: str
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    hs_code: str | None = strawberry.field(description="The customs tariff code (6 to 10 digits).")
    origin_country: str | None
    customs_description: str | None
    item_flags: list[ItemFlag] = strawberry.field(description="What some carriers refuse to carry.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: m.Variant) -> Variant:
        return cls(
            id=encode_id("Variant", row.id),
            pk=row.id,
            product_pk=row.product_id,
            sku=row.sku,
            title=row.title,
            barcode=row.barcode,
            options=JSON(row.options or {}),
            weight_grams=row.weight_grams,
            cost=Money.of(row.cost_amount, row.cost_currency),
            tax_class=row.tax_class,
            length_mm=row.length_mm,
            width_mm=row.width_mm,
            height_mm=row.height_mm,
            hs_code=row.hs_code,
            origin_country=row.origin_country,
            customs_description=row.customs_description,
            item_flags=[member(ItemFlag, f) for f in row.item_flags or ()],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field
    async def product(self, info: Info[Any, Any]) -> Product:
        row = await by_id(state(info), m.Product).load(self.product_pk)
        assert row is not None  # same tenant by construction
        return Product.from_row(row)

    @strawberry.field(description="Stock of this SKU in every warehouse that holds it.")
    async def stock_levels(
        self, info: Info[Any, Any]
    ) -> list[Annotated[StockLevel, strawberry.lazy("crossdock.api.schema.inventory_types")]]:
        from crossdock.api.schema.inventory_types import StockLevel  # inventory builds on catalog

        rows = await children(state(info), m.StockLevel, "variant_id").load(self.pk)
        return [StockLevel.from_row(r) for r in rows]
