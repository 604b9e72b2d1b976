"""Persistence: engine and scoped sessions, models, the tenant-scoping layer."""

from __future__ import annotations

from crossdock.db.base import Base, TenantScoped, utcnow
from crossdock.db.engine import Database

__all__ = ["Base", "Database", "TenantScoped", "utcnow"]
