"""What the database would refuse is refused before it is asked, as a typed
:class:`~crossdock.errors.UserError` naming the field, the same way on SQLite and PostgreSQL.

One check, driven by the models' column types, for every row the ORM writes (a
``before_flush`` listener: every column of a new object, the changed columns of a dirty one):

* ``String(n)``: at most ``n`` characters (PostgreSQL refuses more; SQLite would keep them),
  code ``TOO_LONG``;
* any text, and every string inside a JSON document: no NUL character and no lone UTF-16
  surrogate (PostgreSQL refuses both, neither can be encoded), code ``INVALID_STRING``;
* ``Integer`` within 32 bits, ``BigInteger`` within 64, ``Numeric(p, s)`` finite and with
  fewer than ``p - s`` digits before the point, code ``OUT_OF_RANGE``;
* datetimes timezone-aware and convertible to UTC, code ``INVALID_DATETIME``.

:func:`check_values` applies the same check to the values of a Core ``INSERT`` (the stock
ledger's rows are written that way). And what still reaches the database and is refused as
data (a stock level past the column's range after many receipts; a driver that cannot bind a
value) is turned into the same typed error by a ``handle_error`` listener on every engine,
instead of surfacing as an internal error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, Numeric, String, event, inspect
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import Mapper, Session, UOWTransaction

from crossdock.db.base import UTCDateTime
from crossdock.errors import UserError

__all__ = ["BAD_TEXT", "check_text", "check_values", "field_name", "install"]

#: A NUL character or a UTF-16 surrogate (in a Python ``str`` any surrogate is a lone one).
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

Check = Callable[[Any, str], None]


def field_name(attribute: str) -> str:
    """``channel_sku`` -> ``channelSku``: the API's name for a column attribute."""
    head, *rest = attribute.split("_")
    return head + "".join(part.title() for part in rest)


def check_text(value: str, field: str | None) -> None:
    if BAD_TEXT.search(value):
        raise UserError(
            "text may not contain NUL characters or lone surrogates", field=field, code="INVALID_STRING"
        )


def _string(length: int | None) -> Check:
    def check(value: Any, field: str) -> None:
        if not isinstance(value, str):
            return
        check_text(value, field)
        if length is not None and len(value) > length:
            raise UserError(f"at most {length} characters", field=field, code="TOO_LONG")

    return check


def _integer(low: int, high: int) -> Check:
    def check(value: Any, field: str) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise UserError(f"must be between {low} and {high}", field=field, code="OUT_OF_RANGE")

    return check


def _numeric(precision: int | None, scale: int | None) -> Check:
    limit = Decimal(10) ** (precision - (scale or 0)) if precision is not None else None

    def check(value: Any, field: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return
        number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
        if not number.is_finite():
            raise UserError("must be a finite number", field=field, code="OUT_OF_RANGE")
        if limit is not None and abs(number) >= limit:
            raise UserError(f"must be less than {limit:,} in size", field=field, code="OUT_OF_RANGE")

    return check


def _json(value: Any, field: str) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            check_text(item, field)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str):
                    check_text(key, field)
                pending.append(child)
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UserError("JSON numbers must be finite", field=field, code="OUT_OF_RANGE")


def _datetime(value: Any, field: str) -> None:
    if not isinstance(value, datetime):
        return
    if value.tzinfo is None:
        raise UserError("must carry a time zone offset", field=field, code="INVALID_DATETIME")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise UserError("out of the supported range of times", field=field, code="INVALID_DATETIME") from None


def _checker(column_type: Any) -> Check | None:
    if isinstance(column_type, UTCDateTime):
        return _datetime
    if isinstance(column_type, String):  # Text too (no length)
        return _string(column_type.length)
    if isinstance(column_type, BigInteger):  # before Integer: BigInteger is one
        return _integer(*INT64)
    if isinstance(column_type, Integer):
        return _integer(*INT32)
    if isinstance(column_type, Numeric):
        return _numeric(column_type.precision, column_type.scale)
    if isinstance(column_type, JSON):
        return _json
    return None


_checks: dict[Mapper[Any], list[tuple[str, str, Check]]] = {}


def _columns(mapper: Mapper[Any]) -> list[tuple[str, str, Check]]:
    """(attribute, API field name, check) of every checked column of a mapper, cached."""
    found = _checks.get(mapper)
    if found is None:
        found = []
        for prop in mapper.column_attrs:
            check = _checker(prop.columns[0].type)
            if check is not None:
                found.append((prop.key, field_name(prop.key), check))
        _checks[mapper] = found
    return found


def check_values(
    model: type[Any], values: Mapping[str, Any], fields: Mapping[str, str] | None = None
) -> None:
    """Check the values of a row about to be written by a Core statement (``values`` by
    attribute name; ``fields`` renames them to the API's field names where they differ)."""
    mapper = inspect(model)
    for key, name, check in _columns(mapper):
        if key in values and values[key] is not None:
            check(values[key], (fields or {}).get(key, name))


def _check_flush(session: Session, flush_context: UOWTransaction, instances: Iterable[Any] | None) -> None:
    for obj in session.new:
        state = inspect(obj)
        for key, name, check in _columns(state.mapper):
            value = state.dict.get(key)
            if value is not None:
                check(value, name)
    for obj in session.dirty:
        state = inspect(obj)
        changed = getattr(state, "committed_state", None)  # attributes set since the row was loaded
        if not changed:
            continue
        for key, name, check in _columns(state.mapper):
            if key in changed:
                value = state.dict.get(key)
                if value is not None:
                    check(value, name)


#: SQLSTATE (PostgreSQL) of a value the database refuses -> (code, message).
_SQLSTATES = {
    "22001": ("TOO_LONG", "a text is longer than its field allows"),
    "22003": ("OUT_OF_RANGE", "a number is out of the range its field holds"),
    "22008": ("INVALID_DATETIME", "a time is out of the supported range"),
    "22021": ("INVALID_STRING", "a text contains a character that cannot be stored"),
    "22P05": ("INVALID_STRING", "a text contains a character that cannot be stored"),
}


def _data_error(context: ExceptionContext) -> None:
    """A value the database or its driver refused as data becomes a typed ``UserError``."""
    original = context.original_exception
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    found = _SQLSTATES.get(str(sqlstate)) if sqlstate else None
    if found is None:
        text = str(original)
        if isinstance(original, OverflowError) or "out of int" in text or "value out of range" in text:
            found = _SQLSTATES["22003"]
        elif isinstance(original, UnicodeError) or "codec can't encode" in text:
            found = _SQLSTATES["22021"]
    if found is not None:
        raise UserError(found[1], code=found[0]) from original


_installed = False


def install() -> None:
    """Attach the flush check to every ORM session and the data-error translation to every
    engine (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _check_flush)
    event.listen(Engine, "handle_error", _data_error)
    _installed = True
