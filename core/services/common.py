"""Small helpers every service uses: scoped fetch-by-id, the session's tenant row, field
validation."""

from __future__ import annotations

from typing import TypeVar

from babel import Locale
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.db.base import Base
from crossdock.db.models import Tenant
from crossdock.db.scoping import session_tenant
from crossdock.errors import NotFound, UserError

__all__ = ["country_code", "current_tenant", "get_or_404", "non_empty"]

M = TypeVar("M", bound=Base)
_TERRITORIES = frozenset(
    str(code) for code in Locale("en").territories if str(code).isalpha() and len(str(code)) == 2
)


async def get_or_404(session: AsyncSession, model: type[M], id_: int, *, field: str = "id") -> M:
    """Fetch a row of the session's tenant; another tenant's row is simply not found."""
    obj = await session.scalar(select(model).where(model.id == id_))
    if obj is None:
        raise NotFound(f"{model.__name__} {id_} not found", field=field)
    return obj


async def current_tenant(session: AsyncSession, *, lock: bool = False) -> Tenant:
    """The tenant row a scoped session acts for, ``lock``-ed (``FOR UPDATE``, read afresh)
    to serialise what counts or changes the tenant's own rows; NOT_FOUND when it is gone."""
    stmt = select(Tenant).where(Tenant.id == session_tenant(session.sync_session))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    tenant = await session.scalar(stmt)
    if tenant is None:
        raise NotFound("no such tenant")
    return tenant


def non_empty(value: str | None, field: str, *, max_length: int = 255) -> str:
    text = (value or "").strip()
    if not text:
        raise UserError("must not be empty", field=field, code="REQUIRED")
    if len(text) > max_length:
        raise UserError(f"at most {max_length} characters", field=field, code="TOO_LONG")
    return text


def country_code(value: str, field: str) -> str:
    code = value.strip().upper()
    if code not in _TERRITORIES:
        raise UserError(f"{value!r} is not an ISO 3166 country code", field=field, code="INVALID_COUNTRY")
    return code
