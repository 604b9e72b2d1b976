"""The audit log: who changed what, before and after, when and from where.

An entry is written in the transaction whose change it records, so it exists exactly when
the change does: a rolled-back attempt (a conflict run again, a ``UserError``) leaves none,
and the attempt that commits leaves one.

* Every GraphQL mutation (``crossdock.api.schema.errors.in_transaction``) :func:`begin`\\ s
  recording on its write session with its :class:`Actor`, its field name and its arguments,
  and :func:`finish`\\ es before commit. A refused one is written by :func:`refused`, in a
  transaction of its own after the rollback: it changed nothing.
* A mutation that works between its own transactions (a label bought, a refund through a
  payment provider) runs under :func:`acting`: every tenant write transaction it opens
  that changes something gets an entry of the mutation (one per transaction).
* Jobs record the changes of consequence they make with :func:`begin_job` (the changes of
  that transaction, captured as for a mutation) or :func:`record` (changes they describe).

What a recording session changes is collected by session listeners (installed with the
tenant scoping's, :func:`install`): the ORM objects it inserts, updates (each changed
column, before and after) and deletes, and the ORM-enabled ``INSERT``/``UPDATE``/``DELETE``
statements it executes (values as set; an ``UPDATE`` statement's ``before`` is not read:
its ``where`` says which rows). Tenant-owned rows and the session's own ``Tenant`` row
(its settings) are recorded; bookkeeping tables (:data:`UNRECORDED`) and columns (ids,
timestamps) are not. A savepoint rolled back takes its changes out again.

Secrets never reach an entry: a field or argument whose name says it holds one
(:func:`is_secret`: passwords, tokens, credentials, API keys, webhook keys ...) and a value
that is a vault token or an API key are written ``[redacted]``; bytes are written as their
length. An entry keeps at most :data:`MAX_CHANGES` changed objects (then a ``truncated``
count), and long texts and large documents are cut.

The log is append-only (see :mod:`crossdock.db.models.audit`); :func:`purge`, run by the
daily ``audit_purge`` job, deletes what is older than the tenant's ``audit.retention_days``.
"""

from __future__ import annotations

import copy
import enum
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, event, func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from crossdock.db.base import Base, TenantScoped, utcnow
from crossdock.db.models import PURGE_SETTING, AuditActorKind, AuditEntry, AuditOutcome, Tenant
from crossdock.db.scoping import SYSTEM, TENANT
from crossdock.errors import UserError

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MAX_CHANGES",
    "REDACTED",
    "UNRECORDED",
    "Actor",
    "acting",
    "allow_purge",
    "begin",
    "begin_job",
    "finish",
    "install",
    "is_secret",
    "purge",
    "query",
    "read",
    "record",
    "redact",
    "refused",
    "retention_days",
    "running_job",
    "safe",
    "validate_audit_settings",
]

#: ``session.info`` key of a session's recording (``False``: never record this session).
KEY = "audit"
REDACTED = "[redacted]"
#: Changed objects kept per entry; beyond them only a count (``{"truncated": n}``).
MAX_CHANGES = 200
#: Longest text kept (longer ones are cut, with their length).
MAX_TEXT = 1000
#: Items kept of a list or an object inside a value, and how deep a value is followed.
MAX_ITEMS = 100
MAX_DEPTH = 6
DEFAULT_RETENTION_DAYS = 365
RETENTION_RANGE = (1, 3650)
#: Entries deleted per statement (and per transaction) by the purge.
PURGE_BATCH = 1000

#: Tables whose rows say nothing to an auditor: the outbox, marks and figures derived from
#: other rows, receipts of deliveries, idempotency bookkeeping, the log itself.
UNRECORDED = frozenset(
    {
        "audit_log",
        "events",
        "analytics_marks",
        "analytics_lines",
        "analytics_orders",
        "analytics_daily",
        "analytics_sku_daily",
        "stock_daily",
        "tax_tallies",
        "idempotency_keys",
        "webhook_events",
    }
)
#: Columns not worth an entry: keys and timestamps every row has.
UNRECORDED_COLUMNS = frozenset({"id", "tenant_id", "created_at", "updated_at", "txid"})

#: A name that says its value is a secret (compared lower-case, without ``_`` and ``-``).
_SECRET_NAME = re.compile(
    r"password|passwd|passphrase|secret|token|credential|apikey|authorization|authcode|cookie|"
    r"privatekey|signingkey|accesskey|partnerkey|webhookkey|keyhash|signature|totp|^otp$|^sign$"
)
#: ... unless it names an object's id (``api_key_id``, ``tokenId``).
_ID_NAME = re.compile(r"ids?$")
#: Values that are secrets whatever their name: a Fernet token (the vault's), an API key.
_SECRET_VALUE = re.compile(r"^(gAAAAA[A-Za-z0-9_=-]{40,}|cd[akr]_[0-9a-f]{12}_\S+)$")


def is_secret(name: str) -> bool:
    """Whether a field, argument or setting named ``name`` holds a secret."""
    flat = name.lower().replace("_", "").replace("-", "")
    return bool(_SECRET_NAME.search(flat)) and not _ID_NAME.search(flat)


# --------------------------------------------------------------------------- who


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key (its id and name), a user, a job (its name) or the system; and
    for a request, where from."""

    kind: AuditActorKind
    id: int | None = None
    name: str = ""
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def job(cls, name: str) -> Actor:
        return cls(AuditActorKind.JOB, name=name)


SYSTEM_ACTOR = Actor(AuditActorKind.SYSTEM, name="crossdock")

#: The job running in this task (set around every job by ``crossdock.jobs.registry``).
_JOB: ContextVar[str | None] = ContextVar("crossdock_audit_job", default=None)


@dataclass(frozen=True)
class _Acting:
    actor: Actor
    operation: str
    input: dict[str, Any]


#: A mutation working between its own transactions (see :func:`acting`).
_ACTING: ContextVar[_Acting | None] = ContextVar("crossdock_audit_acting", default=None)


@contextmanager
def running_job(name: str) -> Iterator[None]:
    """Run a job under its name: what it records is the job's (and no request's)."""
    job_token = _JOB.set(name)
    acting_token = _ACTING.set(None)
    try:
        yield
    finally:
        _ACTING.reset(acting_token)
        _JOB.reset(job_token)


@contextmanager
def acting(actor: Actor, operation: str, input: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Record every tenant write transaction opened inside the block that changes
    something as ``operation`` by ``actor`` (a mutation that calls a carrier or a payment
    provider between transactions)."""
    install()
    token = _ACTING.set(_Acting(actor, operation, redact(dict(input or {}))))
    try:
        yield
    finally:
        _ACTING.reset(token)


def running_actor() -> Actor:
    """The job running in this task, else the system."""
    name = _JOB.get()
    return Actor.job(name) if name else SYSTEM_ACTOR


# --------------------------------------------------------------------------- values


def safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON: decimals as strings, times in ISO 8601, enums as their values,
    bytes as their length; long texts, long lists and deep documents cut; secrets (by
    their key inside documents, or by what they look like) redacted."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if _SECRET_VALUE.match(value):
            return REDACTED
        return value if len(value) <= MAX_TEXT else f"{value[:MAX_TEXT]}... ({len(value)} characters)"
    if isinstance(value, enum.Enum):
        return safe(value.value, depth)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {str(k): REDACTED if is_secret(str(k)) else safe(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["..."] = f"{len(items) - MAX_ITEMS} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        shown = [safe(v, depth + 1) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            shown.append(f"... {len(seq) - MAX_ITEMS} more")
        return shown
    return safe(str(value), depth)


def redact(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """An operation's arguments as JSON, secrets redacted (see :func:`safe`)."""
    shown = safe(arguments)
    return shown if isinstance(shown, dict) else {}


def _field_value(name: str, value: Any) -> Any:
    return REDACTED if value is not None and is_secret(name) else safe(value)


# --------------------------------------------------------------------------- recording


@dataclass
class _Recording:
    actor: Actor
    operation: str
    input: dict[str, Any]
    #: An entry is written even if nothing changed (a mutation's); else only with changes.
    always: bool = True
    main: tuple[str, int] | None = None
    #: (model, id) or ("", n) for a statement -> the change, in the order first seen
    changes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    truncated: int = 0
    #: savepoint -> (changes, truncated) as they were when it began (restored when it is
    #: rolled back; the whole map goes with the recording)
    savepoints: dict[int, tuple[dict[tuple[str, int], dict[str, Any]], int]] = field(default_factory=dict)
    statements: int = 0

    def add(self, key: tuple[str, int], change: dict[str, Any]) -> None:
        existing = self.changes.get(key)
        if existing is None:
            if len(self.changes) >= MAX_CHANGES:
                self.truncated += 1
            else:
                self.changes[key] = change
            return
        _merge(existing, change)
        if existing["action"] == "gone":
            del self.changes[key]

    def statement(self, change: dict[str, Any]) -> None:
        self.statements += 1
        self.add(("", self.statements), change)

    def entry(self, tenant_id: int, object_type: str | None, object_id: int | None) -> dict[str, Any]:
        changes = [
            c for c in self.changes.values() if c["action"] != "update" or c.get("fields") or c.get("where")
        ]
        if self.truncated:
            changes.append({"truncated": self.truncated})
        if object_type is None and self.main is not None:
            object_type, object_id = self.main
        if object_type is None:
            first = next((c for c in changes if c.get("id") is not None and c["action"] != "delete"), None)
            if first is not None:
                object_type, object_id = first["object"], first["id"]
        return _entry(
            tenant_id,
            self.actor,
            self.operation,
            AuditOutcome.DONE,
            input=self.input,
            changes=changes,
            object_type=object_type,
            object_id=object_id,
        )


def _merge(into: dict[str, Any], later: dict[str, Any]) -> None:
    """Fold a later change of the same row into the first one (several flushes)."""
    if later["action"] == "delete":
        if into["action"] == "create":
            into["action"] = "gone"  # made and removed in one transaction: nothing to say
            return
        before = {k: {"before": v.get("before")} for k, v in (into.get("fields") or {}).items()}
        into["action"] = "delete"
        into["fields"] = {**(later.get("fields") or {}), **before}
        return
    fields = into.setdefault("fields", {})
    for name, values in (later.get("fields") or {}).items():
        if into["action"] == "create":
            fields[name] = {"after": values.get("after")}
            continue
        first = fields.get(name)
        before = first.get("before") if first is not None else values.get("before")
        if before == values.get("after") and first is not None:
            del fields[name]
        else:
            fields[name] = {"before": before, "after": values.get("after")}


def _entry(
    tenant_id: int,
    actor: Actor,
    operation: str,
    outcome: AuditOutcome,
    *,
    input: dict[str, Any] | None = None,
    changes: list[dict[str, Any]] | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    error_code: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An entry's row (written by one INSERT: no ORM object, see :func:`_write`)."""
    return dict(
        tenant_id=tenant_id,
        at=at or utcnow(),
        actor_kind=actor.kind.value,
        actor_id=actor.id,
        actor_name=actor.name[:255],
        operation=operation[:64],
        outcome=outcome.value,
        error_code=error_code[:64] if error_code else None,
        object_type=object_type[:64] if object_type else None,
        object_id=object_id,
        changes=changes or [],
        input=input or {},
        source_ip=actor.ip[:45] if actor.ip else None,
        user_agent=actor.user_agent[:1000] if actor.user_agent else None,
    )


#: The one statement an entry costs (a Core INSERT: cheaper than flushing an ORM object;
#: the values are cut to their columns' sizes by :func:`_entry`).
_INSERT = insert(AuditEntry)


def _tenant_of(session: Session) -> int | None:
    if session.info.get(SYSTEM):
        return None
    tenant = session.info.get(TENANT)
    return int(tenant) if tenant is not None else None


def _recording(session: Session) -> _Recording | None:
    """The session's recording; under :func:`acting`, one is begun for a tenant session."""
    found = session.info.get(KEY)
    if found is False:
        return None
    if found is not None:
        return found  # type: ignore[no-any-return]
    now_acting = _ACTING.get()
    if now_acting is None or _tenant_of(session) is None:
        return None
    made = _Recording(now_acting.actor, now_acting.operation, now_acting.input, always=False)
    session.info[KEY] = made
    return made


def _sync(session: Session | AsyncSession) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def begin(
    session: Session | AsyncSession,
    actor: Actor,
    operation: str,
    input: Mapping[str, Any] | None = None,
    *,
    main: tuple[str, int] | None = None,
) -> None:
    """Record what this write session changes from now on as ``operation`` by ``actor``
    (its arguments ``input``, redacted here). The entry is written by :func:`finish`, or
    at commit if the caller does not finish."""
    install()
    _sync(session).info[KEY] = _Recording(actor, operation, redact(dict(input or {})), main=main)


def begin_job(
    session: Session | AsyncSession,
    operation: str,
    input: Mapping[str, Any] | None = None,
    *,
    main: tuple[str, int] | None = None,
) -> None:
    """A job's change of consequence: this transaction's changes are recorded as
    ``operation`` by the running job (:func:`running_job`; the system outside one). A
    no-op when the session records already, or a mutation is :func:`acting` (its own
    entry holds the change)."""
    sync = _sync(session)
    if sync.info.get(KEY) is not None or _ACTING.get() is not None:
        return
    install()
    sync.info[KEY] = _Recording(running_actor(), operation, redact(dict(input or {})), main=main)


async def finish(session: AsyncSession, object_type: str | None = None, object_id: int | None = None) -> None:
    """Write the session's entry (in its transaction) and stop recording. ``object_type``
    (a model name) and ``object_id``: the main object, if the caller knows it; else the
    one :func:`begin` named, else the first object created or updated."""
    recording = session.info.get(KEY)
    if not recording:
        return
    await session.flush()  # what is still pending is part of the change
    tenant = _tenant_of(session.sync_session)
    session.info[KEY] = False
    if tenant is not None:
        await session.execute(_INSERT, recording.entry(tenant, object_type, object_id))


async def record(
    session: AsyncSession,
    actor: Actor | None,
    operation: str,
    object_type: str | None,
    object_id: int | None,
    changes: Sequence[Mapping[str, Any]],
    input: Mapping[str, Any] | None = None,
) -> None:
    """Write an entry of changes the caller describes (``{"object", "id", "action",
    "fields": {name: {"before", "after"}}}``), in the session's transaction. ``actor``
    ``None``: the running job. A no-op when the session records already."""
    if session.info.get(KEY) or _ACTING.get() is not None:
        return
    tenant = _tenant_of(session.sync_session)
    if tenant is None:
        return
    shown = [_described(c) for c in changes[:MAX_CHANGES]]
    if len(changes) > MAX_CHANGES:
        shown.append({"truncated": len(changes) - MAX_CHANGES})
    entry = _entry(
        tenant,
        actor or running_actor(),
        operation,
        AuditOutcome.DONE,
        input=redact(dict(input or {})),
        changes=shown,
        object_type=object_type,
        object_id=object_id,
    )
    await session.execute(_INSERT, entry)


def _described(change: Mapping[str, Any]) -> dict[str, Any]:
    fields = {
        str(name): {k: _field_value(str(name), v) for k, v in values.items()}
        for name, values in (change.get("fields") or {}).items()
    }
    return {
        "object": str(change.get("object", "")),
        "id": change.get("id"),
        "action": str(change.get("action", "update")),
        "fields": fields,
    }


def change_of(obj: Base) -> dict[str, Any]:
    """The pending change of an ORM object (before it is flushed), for :func:`record`."""
    return _update(obj) or {"object": type(obj).__name__, "id": obj.id, "action": "update", "fields": {}}


async def refused(
    db: Any,
    tenant_id: int,
    actor: Actor,
    operation: str,
    code: str,
    input: Mapping[str, Any] | None = None,
) -> None:
    """Write a ``refused`` entry in a short transaction of its own (the refused one was
    rolled back: it changed nothing)."""
    async with db.write(tenant_id) as session:
        session.info[KEY] = False
        await session.execute(
            _INSERT,
            _entry(
                tenant_id,
                actor,
                operation,
                AuditOutcome.REFUSED,
                input=redact(dict(input or {})),
                error_code=code,
            ),
        )


# --------------------------------------------------------------------------- listeners

#: model class -> (table recorded?, [(attribute key, secret?)])
_COLUMNS: dict[type[Any], tuple[bool, list[tuple[str, bool]]]] = {}


def _columns_of(cls: type[Any]) -> tuple[bool, list[tuple[str, bool]]]:
    found = _COLUMNS.get(cls)
    if found is None:
        mapper = inspect(cls)
        table = getattr(cls, "__tablename__", "")
        recorded = table not in UNRECORDED and (issubclass(cls, TenantScoped) or cls is Tenant)
        keys = [(a.key, is_secret(a.key)) for a in mapper.column_attrs if a.key not in UNRECORDED_COLUMNS]
        found = _COLUMNS[cls] = (recorded, keys)
    return found


def _recorded(obj: Any, tenant: int) -> bool:
    cls = type(obj)
    if not _columns_of(cls)[0]:
        return False
    return cls is not Tenant or obj.id == tenant


def _created(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    values = state.dict
    fields = {
        key: {"after": REDACTED if secret else safe(values[key])}
        for key, secret in _columns_of(type(obj))[1]
        if values.get(key) is not None
    }
    return {"object": type(obj).__name__, "id": values.get("id"), "action": "create", "fields": fields}


def _update(obj: Any) -> dict[str, Any] | None:
    state = inspect(obj)
    fields: dict[str, Any] = {}
    for key, secret in _columns_of(type(obj))[1]:
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if secret:
            fields[key] = {"before": REDACTED if before is not None else None, "after": REDACTED}
        else:
            fields[key] = {"before": safe(before), "after": safe(after)}
    if not fields:
        return None
    return {"object": type(obj).__name__, "id": state.dict.get("id"), "action": "update", "fields": fields}


def _deleted(obj: Any) -> dict[str, Any]:
    values = inspect(obj).dict
    fields = {
        key: {"before": REDACTED if secret else safe(values[key])}
        for key, secret in _columns_of(type(obj))[1]
        if values.get(key) is not None
    }
    return {"object": type(obj).__name__, "id": values.get("id"), "action": "delete", "fields": fields}


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    recording = _recording(session)
    if recording is None:
        return
    tenant = _tenant_of(session)
    if tenant is None:
        return
    for obj in session.new:
        if _recorded(obj, tenant):
            change = _created(obj)
            recording.add((change["object"], change["id"] or 0), change)
    for obj in session.dirty:
        if _recorded(obj, tenant):
            update = _update(obj)
            if update is not None:
                recording.add((update["object"], update["id"] or 0), update)
    for obj in session.deleted:
        if _recorded(obj, tenant):
            gone = _deleted(obj)
            recording.add((gone["object"], gone["id"] or 0), gone)


#: table name -> model class (for statements on a table)
_MODELS: dict[str, type[Any]] = {}


def _model_of(table: Any) -> type[Any] | None:
    if not _MODELS:
        for mapper in Base.registry.mappers:
            name = getattr(mapper.class_, "__tablename__", None)
            if name:
                _MODELS[name] = mapper.class_
    return _MODELS.get(getattr(table, "name", ""))


def _rendered(clause: Any) -> str:
    try:
        shown = str(clause.compile(compile_kwargs={"literal_binds": True}))
    except Exception:
        shown = str(clause)
    return shown if len(shown) <= MAX_TEXT else shown[:MAX_TEXT] + "..."


def _set_value(name: str, value: Any) -> Any:
    if is_secret(name):
        return REDACTED
    bound = getattr(value, "value", value) if type(value).__name__ == "BindParameter" else value
    if hasattr(bound, "compile"):
        return _rendered(bound)
    return safe(bound)


def _statement_rows(state: ORMExecuteState) -> list[dict[str, Any]]:
    """The rows an INSERT/UPDATE statement sets: its ``values()`` and its parameters."""
    stmt = state.statement
    own = {getattr(k, "key", str(k)): v for k, v in (getattr(stmt, "_values", None) or {}).items()}
    params = state.parameters
    rows: list[Mapping[str, Any]]
    if isinstance(params, Sequence) and not isinstance(params, Mapping):
        rows = list(params) or [{}]
    else:
        rows = [params or {}]
    multi = getattr(stmt, "_multi_values", None)
    if multi:
        rows = [{getattr(k, "key", str(k)): v for k, v in row.items()} for group in multi for row in group]
    out = []
    for row in rows:
        merged = {**own, **row}
        out.append({k: _set_value(k, v) for k, v in merged.items() if k not in UNRECORDED_COLUMNS})
    return out


def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    recording = _recording(state.session)
    if recording is None:
        return
    model = _model_of(getattr(state.statement, "table", None))
    if model is None or model is Tenant or not _columns_of(model)[0]:
        return  # the tenant's own row changes through the ORM (settings); other tables say nothing
    name = model.__name__
    if state.is_delete:
        recording.statement({"object": name, "action": "delete", "where": _where(state)})
        return
    action = "create" if state.is_insert else "update"
    conflict = type(getattr(state.statement, "_post_values_clause", None)).__name__
    for row in _statement_rows(state):
        change: dict[str, Any] = {"object": name, "action": action}
        if conflict == "OnConflictDoNothing":
            change["if_absent"] = True  # nothing happened if the row was there
        elif conflict == "OnConflictDoUpdate":
            change["or_update"] = True
        if "id" in row:
            change["id"] = row.pop("id")
        if state.is_update:
            change["where"] = _where(state)
            change["fields"] = {k: {"after": v} for k, v in row.items()}
        else:
            change["fields"] = {k: {"after": v} for k, v in row.items() if v is not None}
        recording.statement(change)


def _where(state: ORMExecuteState) -> str | None:
    clause = getattr(state.statement, "whereclause", None)
    return _rendered(clause) if clause is not None else None


def _savepoint_begun(session: Session, transaction: SessionTransaction) -> None:
    if not transaction.nested:
        return
    recording = _recording(session)
    if recording is not None:
        recording.savepoints[id(transaction)] = (copy.deepcopy(recording.changes), recording.truncated)


def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    recording = session.info.get(KEY)
    if recording and previous.nested:
        kept = recording.savepoints.pop(id(previous), None)
        if kept is not None:
            recording.changes, recording.truncated = kept


def _transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # committed (the entry written) or rolled back (none): the session may begin another
    if transaction.parent is None:
        session.info.pop(KEY, None)


def _before_commit(session: Session) -> None:
    """A recording nobody finished (an implicit one under :func:`acting`, a job's): its
    entry is written now, in the transaction, if it changed something."""
    if session.in_nested_transaction():
        return
    recording = _recording(session)  # (under acting, begun now if nothing was flushed yet)
    if recording is None:
        return
    session.flush()
    session.info[KEY] = False
    tenant = _tenant_of(session)
    if tenant is None or (not recording.always and not recording.changes):
        return
    session.execute(_INSERT, recording.entry(tenant, None, None))


_installed = False


def install() -> None:
    """Attach the listeners to every ORM session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_statement)
    event.listen(Session, "after_transaction_create", _savepoint_begun)
    event.listen(Session, "after_soft_rollback", _rolled_back)
    event.listen(Session, "after_transaction_end", _transaction_end)
    event.listen(Session, "before_commit", _before_commit)
    _installed = True


# --------------------------------------------------------------------------- reading


def query(
    *,
    actor_kind: AuditActorKind | None = None,
    actor_id: int | None = None,
    operation: str | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    outcome: AuditOutcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[AuditEntry]:
    """The entries matching every filter given (of the session's tenant, as every query)."""
    stmt = select(AuditEntry)
    if actor_kind is not None:
        stmt = stmt.where(AuditEntry.actor_kind == actor_kind.value)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if operation:
        stmt = stmt.where(AuditEntry.operation == operation)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if outcome is not None:
        stmt = stmt.where(AuditEntry.outcome == outcome.value)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt


async def read(
    session: AsyncSession, *, first: int = 50, before_id: int | None = None, **filters: Any
) -> list[AuditEntry]:
    """Up to ``first`` entries, newest first, older than entry ``before_id`` (keyset)."""
    stmt = query(**filters)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(first))
    return list(rows.all())


# --------------------------------------------------------------------------- retention


def validate_audit_settings(value: Any) -> int:
    """Check a tenant's ``audit`` setting (``{"retention_days": 1..3650}``); its days."""
    if value is None:
        return DEFAULT_RETENTION_DAYS
    if not isinstance(value, Mapping):
        raise UserError("audit settings are an object", field="audit", code="INVALID")
    unknown = set(value) - {"retention_days"}
    if unknown:
        raise UserError(
            f"unknown audit setting(s) {', '.join(sorted(map(str, unknown)))}", field="audit", code="INVALID"
        )
    days = value.get("retention_days", DEFAULT_RETENTION_DAYS)
    low, high = RETENTION_RANGE
    if not isinstance(days, int) or isinstance(days, bool) or not low <= days <= high:
        raise UserError(
            f"retention_days is a whole number of days, {low} to {high}",
            field="audit.retention_days",
            code="INVALID",
        )
    return days


def retention_days(settings: Mapping[str, Any] | None) -> int:
    """How long a tenant keeps its entries (a setting that does not validate: the default)."""
    try:
        return validate_audit_settings((settings or {}).get("audit"))
    except UserError:
        return DEFAULT_RETENTION_DAYS


async def allow_purge(session: AsyncSession) -> None:
    """Let this transaction delete audit entries (PostgreSQL refuses it otherwise): the
    purge, and removing a tenant with everything it owns."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.set_config(PURGE_SETTING, "on", True)))


async def purge(session: AsyncSession, before: datetime, *, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` of the session's tenant's entries older than ``before``
    (oldest first); returns how many. Call again until it returns less than ``limit``."""
    await allow_purge(session)
    oldest = (
        select(AuditEntry.id)
        .where(AuditEntry.at < before)
        .order_by(AuditEntry.at, AuditEntry.id)
        .limit(limit)
    )
    ids = list((await session.scalars(oldest)).all())
    if not ids:
        return 0
    await session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
    return len(ids)


def cutoff(settings: Mapping[str, Any] | None, now: datetime) -> datetime:
    """The time before which a tenant's entries are purged."""
    return now - timedelta(days=retention_days(settings))
