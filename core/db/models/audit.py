"""The audit log: who changed what, when and from where; one row per mutation, per refused
mutation, and per change of consequence a job made (:mod:`crossdock.services.audit`).

Append-only: the database refuses every ``UPDATE`` of a row (a trigger, on both backends),
and on PostgreSQL every ``DELETE`` too, unless the transaction set
``SET LOCAL crossdock.audit_purge = 'on'`` (the retention purge, and removing a tenant).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.db.base import Base, Json, TenantScoped, utcnow

__all__ = ["PURGE_SETTING", "AuditActorKind", "AuditEntry", "AuditOutcome"]

#: The transaction-local setting under which PostgreSQL lets audit rows be deleted.
PURGE_SETTING = "crossdock.audit_purge"


class AuditActorKind(StrEnum):
    """Who made a change the audit log records."""

    API_KEY = "api_key"  #: a request authenticated with an API key
    USER = "user"  #: a staff user (when users exist)
    JOB = "job"  #: a background job, named by its job
    SYSTEM = "system"  #: the server itself (the CLI, maintenance)


class AuditOutcome(StrEnum):
    """What became of an operation the audit log records."""

    DONE = "done"  #: committed: ``changes`` is what it changed
    REFUSED = "refused"  #: refused with ``error_code``; it changed nothing


class AuditEntry(TenantScoped, Base):
    """One operation: its actor, its name, its outcome, and the rows it changed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_at", "tenant_id", "at", "id"),
        Index("ix_audit_log_tenant_object", "tenant_id", "object_type", "object_id"),
        Index("ix_audit_log_tenant_operation", "tenant_id", "operation"),
    )

    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))
    #: The API key's id (a user's, later); none for a job
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The API key's name, or the job's
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    #: The GraphQL mutation field (``productUpdate``) or a job's operation
    operation: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default=AuditOutcome.DONE)
    error_code: Mapped[str | None] = mapped_column(String(64))
    #: The main object the operation changed (a model name and its id), if one
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[int | None] = mapped_column(BigInteger)
    #: ``[{"object": "Product", "id": 5, "action": "update", "fields": {"title": {"before", "after"}}}]``
    changes: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    #: The operation's arguments, secrets redacted
    input: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
