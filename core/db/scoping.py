"""The one layer that scopes every query to the request's tenant.

Each session says who it works for in ``session.info``: a tenant id, or ``system=True`` for
the few jobs that must see across tenants (the sync scheduler, the CLI). Then:

* every ORM ``SELECT``, ``UPDATE`` and ``DELETE`` touching a :class:`TenantScoped` model gets
  ``tenant_id = :tenant`` added (``with_loader_criteria``, so joins and relationship loads
  are covered too);
* every new tenant-owned object is stamped with the tenant on flush, and an object that
  names another tenant is refused;
* a session that names neither a tenant nor ``system`` refuses to run any ORM statement:
  forgetting to scope fails loudly instead of leaking.

Resolvers and services never write ``where(tenant_id == ...)`` themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from crossdock.db.base import TenantScoped
from crossdock.errors import TenantScopeError

__all__ = ["SYSTEM", "TENANT", "TENANT_SLUG", "install", "session_tenant", "session_tenant_slug"]

TENANT = "tenant_id"
TENANT_SLUG = "tenant_slug"
SYSTEM = "system"


def session_tenant(session: Session) -> int | None:
    """The tenant a session is scoped to; ``None`` for a system session."""
    if session.info.get(SYSTEM):
        return None
    tenant = session.info.get(TENANT)
    if tenant is None:
        raise TenantScopeError("session has no tenant; open it with Database.tenant(...)")
    return int(tenant)


def session_tenant_slug(session: Session | AsyncSession) -> str:
    """The tenant's slug, for events and plugin calls (empty if the opener did not say)."""
    return str(session.info.get(TENANT_SLUG) or "")


def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    tenant = session_tenant(state.session)
    if tenant is None or state.is_column_load or state.is_relationship_load:
        # relationship/column loads inherit the criteria from the parent statement
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant,
            include_aliases=True,
        )
    )


def _stamp_new_rows(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    tenant = session_tenant(session)
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if tenant is None:
                raise TenantScopeError(
                    f"system session cannot create {type(obj).__name__} without an explicit tenant_id"
                )
            obj.tenant_id = tenant
        elif tenant is not None and obj.tenant_id != tenant:
            raise TenantScopeError(f"{type(obj).__name__} belongs to another tenant")
    if tenant is None:
        return
    for obj in session.dirty:
        if isinstance(obj, TenantScoped) and obj.tenant_id != tenant:
            raise TenantScopeError(f"{type(obj).__name__} belongs to another tenant")


_installed = False


def install() -> None:
    """Attach the listeners to every ORM session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "do_orm_execute", _scope_statement)
    event.listen(Session, "before_flush", _stamp_new_rows)
    _installed = True
