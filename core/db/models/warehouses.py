"""A warehouse's account with the system that runs it (a WMS, a 3PL, a marketplace's
warehouses): which plugin, its encrypted credentials, and how the last stock sync went."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import ID, Base, Json, TenantScoped, Timestamped

__all__ = ["WarehouseAccount", "WarehouseAccountStatus"]


class WarehouseAccountStatus(StrEnum):
    ACTIVE = "active"
    #: the last sync raised a ``ChannelError`` (kept in ``last_error``); the next run that
    #: succeeds makes the account active again
    FAILING = "failing"


class WarehouseAccount(TenantScoped, Timestamped, Base):
    """One warehouse's account with its warehouse system (one per warehouse)."""

    __tablename__ = "warehouse_accounts"

    warehouse_id: Mapped[int] = mapped_column(
        ID, ForeignKey("warehouses.id", ondelete="CASCADE"), unique=True
    )
    #: the ``name`` of the warehouse-system plugin (``crossdock_warehouses``)
    provider: Mapped[str] = mapped_column(String(32))
    #: Fernet token of the JSON credentials; never leaves the server decrypted.
    credentials_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    base_url: Mapped[str | None] = mapped_column(String(512))
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=WarehouseAccountStatus.ACTIVE)
    last_synced_at: Mapped[datetime | None]
    #: receipts are pulled from here on next time (the last pull's start)
    receipts_since: Mapped[datetime | None]
    #: shipments of orders handed over are pulled from here on next time
    shipments_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
