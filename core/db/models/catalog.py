"""The tenant's catalogue: products and their variants (SKUs)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped

__all__ = ["Product", "ProductStatus", "Variant"]


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class Product(TenantScoped, Timestamped, Base):
    __tablename__ = "products"

    title: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)
    brand: Mapped[str | None]
    #: A merchandising category (``e-liquid``, ``toys``, ``knives``): what compliance rules key on.
    category: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.ACTIVE)


class Variant(TenantScoped, Timestamped, Base):
    """A sellable SKU. The SKU is unique per tenant: it is how channels name it."""

    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("tenant_id", "sku"),)

    product_id: Mapped[int] = mapped_column(ID, ForeignKey("products.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None]
    barcode: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    weight_grams: Mapped[int | None]
    cost_amount: Mapped[Decimal | None]
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    #: The VAT/GST rate class (standard, reduced, zero, books, food ...) tax engines apply.
    tax_class: Mapped[str] = mapped_column(String(32), default="standard", server_default="standard")
    #: What carriers need: the packed size in millimetres, the customs tariff code, the
    #: country of origin, the customs description, and the ``ItemFlag``s (battery, liquid,
    #: magnet) some services refuse.
    length_mm: Mapped[int | None]
    width_mm: Mapped[int | None]
    height_mm: Mapped[int | None]
    hs_code: Mapped[str | None] = mapped_column(String(16))
    origin_country: Mapped[str | None] = mapped_column(String(2))
    customs_description: Mapped[str | None] = mapped_column(String(255))
    item_flags: Mapped[list[str]] = mapped_column(Json, default=list, server_default="[]")
