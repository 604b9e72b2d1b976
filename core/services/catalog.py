"""Products and variants. A SKU is unique per tenant: channels name stock by it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.models import Product, ProductStatus, Variant
from crossdock.errors import UserError
from crossdock.money import Money
from crossdock.services.common import get_or_404, non_empty

__all__ = ["VariantSpec", "create_product", "create_variant", "update_product", "update_variant"]

_UNSET: Any = object()


@dataclass
class VariantSpec:
    sku: str
    title: str | None = None
    barcode: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    weight_grams: int | None = None
    cost: Money | None = None
    tax_class: str = "standard"


def _status(value: str, field: str) -> str:
    try:
        return ProductStatus(value).value
    except ValueError:
        allowed = ", ".join(s.value for s in ProductStatus)
        raise UserError(f"status must be one of {allowed}", field=field, code="INVALID") from None


def _sku(value: str, field: str) -> str:
    sku = non_empty(value, field, max_length=64)
    if any(c.isspace() for c in sku):
        raise UserError("a SKU has no spaces", field=field, code="INVALID_SKU")
    return sku


async def _check_skus_free(
    session: AsyncSession, skus: Sequence[tuple[str, str]], exclude: int | None = None
) -> None:
    """Refuse SKUs taken in this tenant (or repeated in the request), naming the field."""
    seen: set[str] = set()
    for sku, fld in skus:
        if sku in seen:
            raise UserError(f"SKU {sku!r} is repeated", field=fld, code="TAKEN")
        seen.add(sku)
    if not seen:
        return
    stmt = select(Variant.sku).where(Variant.sku.in_(seen))
    if exclude is not None:
        stmt = stmt.where(Variant.id != exclude)
    taken = set((await session.scalars(stmt)).all())
    for sku, fld in skus:
        if sku in taken:
            raise UserError(f"SKU {sku!r} is already used", field=fld, code="TAKEN")


def _variant_row(product_id: int, spec: VariantSpec, prefix: str) -> Variant:
    if spec.weight_grams is not None and spec.weight_grams < 0:
        raise UserError("weight cannot be negative", field=f"{prefix}.weightGrams", code="INVALID")
    if spec.cost is not None and spec.cost.amount < 0:
        raise UserError("cost cannot be negative", field=f"{prefix}.cost", code="INVALID")
    return Variant(
        product_id=product_id,
        sku=_sku(spec.sku, f"{prefix}.sku"),
        title=spec.title,
        barcode=spec.barcode,
        options=dict(spec.options),
        weight_grams=spec.weight_grams,
        cost_amount=spec.cost.amount if spec.cost else None,
        cost_currency=spec.cost.currency if spec.cost else None,
        tax_class=non_empty(spec.tax_class, f"{prefix}.taxClass", max_length=32),
    )


async def create_product(
    session: AsyncSession,
    *,
    title: str,
    description: str | None = None,
    brand: str | None = None,
    status: str = ProductStatus.ACTIVE,
    variants: Sequence[VariantSpec] = (),
    category: str | None = None,
) -> Product:
    product = Product(
        title=non_empty(title, "title"),
        description=description,
        brand=brand,
        category=category,
        status=_status(status, "status"),
    )
    await _check_skus_free(
        session, [(_sku(v.sku, f"variants.{i}.sku"), f"variants.{i}.sku") for i, v in enumerate(variants)]
    )
    session.add(product)
    await session.flush()
    session.add_all(_variant_row(product.id, v, f"variants.{i}") for i, v in enumerate(variants))
    await session.flush()
    return product


async def update_product(
    session: AsyncSession,
    product_id: int,
    *,
    title: str | None = None,
    description: str | None = _UNSET,
    brand: str | None = _UNSET,
    status: str | None = None,
    category: str | None = _UNSET,
) -> Product:
    product = await get_or_404(session, Product, product_id)
    if title is not None:
        product.title = non_empty(title, "title")
    if description is not _UNSET:
        product.description = description
    if brand is not _UNSET:
        product.brand = brand
    if category is not _UNSET:
        product.category = category
    if status is not None:
        product.status = _status(status, "status")
    await session.flush()
    return product


async def create_variant(session: AsyncSession, product_id: int, spec: VariantSpec) -> Variant:
    await get_or_404(session, Product, product_id, field="productId")
    sku = _sku(spec.sku, "sku")
    await _check_skus_free(session, [(sku, "sku")])
    variant = _variant_row(product_id, spec, "variant")
    session.add(variant)
    await session.flush()
    return variant


async def update_variant(
    session: AsyncSession,
    variant_id: int,
    *,
    sku: str | None = None,
    title: str | None = _UNSET,
    barcode: str | None = _UNSET,
    options: Mapping[str, str] | None = None,
    weight_grams: int | None = _UNSET,
    cost: Money | None = _UNSET,
) -> Variant:
    variant = await get_or_404(session, Variant, variant_id)
    if sku is not None:
        new_sku = _sku(sku, "sku")
        await _check_skus_free(session, [(new_sku, "sku")], exclude=variant.id)
        variant.sku = new_sku
    if title is not _UNSET:
        variant.title = title
    if barcode is not _UNSET:
        variant.barcode = barcode
    if options is not None:
        variant.options = dict(options)
    if weight_grams is not _UNSET:
        if weight_grams is not None and weight_grams < 0:
            raise UserError("weight cannot be negative", field="weightGrams", code="INVALID")
        variant.weight_grams = weight_grams
    if cost is not _UNSET:
        if cost is not None and cost.amount < 0:
            raise UserError("cost cannot be negative", field="cost", code="INVALID")
        variant.cost_amount = cost.amount if cost else None
        variant.cost_currency = cost.currency if cost else None
    await session.flush()
    return variant
