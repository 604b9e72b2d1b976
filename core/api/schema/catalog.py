"""Products and variants: queries and mutations."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, cast

import strawberry
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crossdock.api.context import RequestState, state
from crossdock.api.schema.catalog_types import Product, Variant
from crossdock.api.schema.common import JSON, MoneyInput, set_fields
from crossdock.api.schema.errors import CatalogUserError, in_transaction, requires
from crossdock.api.schema.relay import Connection, decode_id, paginate, resolve_id, sort_keys
from crossdock.db import models as m
from crossdock.services import catalog

__all__ = ["Mutation", "Query"]


class ProductSortKeys(StrEnum):
    ID = "ID"
    TITLE = "TITLE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


class VariantSortKeys(StrEnum):
    ID = "ID"
    SKU = "SKU"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


PRODUCT_SORTS = sort_keys(ProductSortKeys, m.Product, "The orders products can be listed in.")
VARIANT_SORTS = sort_keys(VariantSortKeys, m.Variant, "The orders variants can be listed in.")


@strawberry.input
class ProductFilter:
    status: m.ProductStatus | None = None
    search: str | None = strawberry.field(default=None, description="Matches title or brand.")


@strawberry.input
class VariantFilter:
    sku: str | None = None
    skus: list[str] | None = None
    product_id: strawberry.ID | None = None
    search: str | None = strawberry.field(default=None, description="Matches SKU or title.")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@strawberry.type
class Query:
    @strawberry.field(extensions=requires("catalog:read"))
    async def products(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,
        sort_key: ProductSortKeys = ProductSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Product]:
        stmt = select(m.Product)
        if filter and filter.status:
            stmt = stmt.where(m.Product.status == filter.status)
        if filter and filter.search:
            like = _like(filter.search)
            stmt = stmt.where(
                or_(m.Product.title.ilike(like, escape="\\"), m.Product.brand.ilike(like, escape="\\"))
            )
        return await paginate(
            state(info),
            stmt,
            m.Product,
            Product.from_row,
            first=first,
            after=after,
            sort=PRODUCT_SORTS[sort_key],
            reverse=reverse,
        )

    @strawberry.field(extensions=requires("catalog:read"))
    async def variants(
        self,
        info: Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        filter: VariantFilter | None = None,
        sort_key: VariantSortKeys = VariantSortKeys.ID,
        reverse: bool = False,
    ) -> Connection[Variant]:
        stmt = select(m.Variant)
        if filter:
            if filter.sku:
                stmt = stmt.where(m.Variant.sku == filter.sku)
            if filter.skus is not None:
                stmt = stmt.where(m.Variant.sku.in_(filter.skus))
            if filter.product_id:
                _, pk = decode_id(filter.product_id, "Product", field="filter.productId")
                stmt = stmt.where(m.Variant.product_id == pk)
            if filter.search:
                like = _like(filter.search)
                stmt = stmt.where(
                    or_(m.Variant.sku.ilike(like, escape="\\"), m.Variant.title.ilike(like, escape="\\"))
                )
        return await paginate(
            state(info),
            stmt,
            m.Variant,
            Variant.from_row,
            first=first,
            after=after,
            sort=VARIANT_SORTS[sort_key],
            reverse=reverse,
        )


@strawberry.input
class VariantInput:
    sku: str
    title: str | None = None
    barcode: str | None = None
    options: JSON | None = None
    weight_grams: int | None = None
    cost: MoneyInput | None = None
    tax_class: str = strawberry.field(
        default="standard", description="standard, reduced, zero, books, food ..."
    )

    def spec(self, prefix: str) -> catalog.VariantSpec:
        return catalog.VariantSpec(
            sku=self.sku,
            title=self.title,
            barcode=self.barcode,
            options=cast("Mapping[str, str]", self.options or {}),
            weight_grams=self.weight_grams,
            cost=self.cost.value(f"{prefix}.cost") if self.cost else None,
            tax_class=self.tax_class,
        )


@strawberry.input
class ProductCreateInput:
    title: str
    description: str | None = None
    brand: str | None = None
    category: str | None = strawberry.field(default=None, description="What compliance rules key on.")
    status: m.ProductStatus = m.ProductStatus.ACTIVE
    variants: list[VariantInput] = strawberry.field(default_factory=list)


@strawberry.input
class ProductUpdateInput:
    id: strawberry.ID
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    brand: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    status: m.ProductStatus | None = strawberry.UNSET


@strawberry.input
class VariantCreateInput:
    product_id: strawberry.ID
    sku: str
    title: str | None = None
    barcode: str | None = None
    options: JSON | None = None
    weight_grams: int | None = None
    cost: MoneyInput | None = None


@strawberry.input
class VariantUpdateInput:
    id: strawberry.ID
    sku: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    barcode: str | None = strawberry.UNSET
    options: JSON | None = strawberry.UNSET
    weight_grams: int | None = strawberry.UNSET
    cost: MoneyInput | None = strawberry.UNSET


@strawberry.type
class ProductPayload:
    product: Product | None = None
    user_errors: list[CatalogUserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProductCreatePayload(ProductPayload):
    pass


@strawberry.type
class ProductUpdatePayload(ProductPayload):
    pass


@strawberry.type
class VariantPayload:
    variant: Variant | None = None
    user_errors: list[CatalogUserError] = strawberry.field(default_factory=list)


@strawberry.type
class VariantCreatePayload(VariantPayload):
    pass


@strawberry.type
class VariantUpdatePayload(VariantPayload):
    pass


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires("catalog:write"))
    async def product_create(self, info: Info[Any, Any], input: ProductCreateInput) -> ProductCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            specs = [v.spec(f"variants.{i}") for i, v in enumerate(input.variants)]
            row = await catalog.create_product(
                session,
                title=input.title,
                description=input.description,
                brand=input.brand,
                category=input.category,
                status=input.status,
                variants=specs,
            )
            return {"product": Product.from_row(row)}

        return await in_transaction(info, ProductCreatePayload, body)

    @strawberry.mutation(extensions=requires("catalog:write"))
    async def product_update(self, info: Info[Any, Any], input: ProductUpdateInput) -> ProductUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Product)
            changes = set_fields(
                input,
                {
                    "title": "title",
                    "description": "description",
                    "brand": "brand",
                    "category": "category",
                    "status": "status",
                },
            )
            row = await catalog.update_product(session, pk, **changes)
            return {"product": Product.from_row(row)}

        return await in_transaction(info, ProductUpdatePayload, body)

    @strawberry.mutation(extensions=requires("catalog:write"))
    async def variant_create(self, info: Info[Any, Any], input: VariantCreateInput) -> VariantCreatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            product_pk = await resolve_id(session, input.product_id, m.Product, field="productId")
            spec = catalog.VariantSpec(
                sku=input.sku,
                title=input.title,
                barcode=input.barcode,
                options=cast("Mapping[str, str]", input.options or {}),
                weight_grams=input.weight_grams,
                cost=input.cost.value("cost") if input.cost else None,
            )
            row = await catalog.create_variant(session, product_pk, spec)
            return {"variant": Variant.from_row(row)}

        return await in_transaction(info, VariantCreatePayload, body)

    @strawberry.mutation(extensions=requires("catalog:write"))
    async def variant_update(self, info: Info[Any, Any], input: VariantUpdateInput) -> VariantUpdatePayload:
        async def body(session: AsyncSession, st: RequestState) -> dict[str, Any]:
            pk = await resolve_id(session, input.id, m.Variant)
            changes = set_fields(
                input,
                {
                    "sku": "sku",
                    "title": "title",
                    "barcode": "barcode",
                    "options": "options",
                    "weight_grams": "weight_grams",
                },
            )
            if input.cost is not strawberry.UNSET:
                changes["cost"] = input.cost.value("cost") if input.cost else None
            row = await catalog.update_variant(session, pk, **changes)
            return {"variant": Variant.from_row(row)}

        return await in_transaction(info, VariantUpdatePayload, body)
