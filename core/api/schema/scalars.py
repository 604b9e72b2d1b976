"""The API's scalars, strict at the edge: what they let through every later step (services,
arithmetic, the database) can hold.

* ``DateTime``: ISO 8601 *with* an offset (``Z`` or ``+08:00``), normalised to UTC, years
  1970 to 2200 (so no later arithmetic overflows); a time without an offset is refused.
* ``LocalDateTime``: the same, but an offset may be left out: the time is then a wall-clock
  time in the zone the field names (promotion windows).
* ``Date``: ISO 8601, years 1970 to 2200.
* ``Decimal``: a plain decimal number (a string, or a JSON number), finite, at most 15
  digits before the point and 10 after (what the widest ``Numeric`` column holds); NaN,
  Infinity and exponent tricks are refused.
* ``JSON``: a JSON *object* (every field of that type is a document of named values), at
  most 16 levels deep and 10,000 values.
* Strings anywhere (variables and literals) may not contain NUL or lone surrogates: the
  HTTP layer checks a request's variables, :class:`TextLiterals` the document's literals.

Each refusal is a :class:`~crossdock.errors.UserError` with a stable code
(``INVALID_DATETIME``, ``INVALID_DATE``, ``INVALID_DECIMAL``, ``INVALID_JSON``,
``INVALID_STRING``), which reaches the client as the GraphQL error's ``extensions.code``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry
from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.types.graphql import OperationType

from crossdock.db.validation import BAD_TEXT
from crossdock.errors import UserError

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "SCALAR_OVERRIDES",
    "InputChecks",
    "LocalDateTime",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_json_object",
]

MIN_YEAR = 1970
MAX_YEAR = 2200
INTEGER_DIGITS = 15  # Numeric(19, 4): the widest amount column
DECIMAL_PLACES = 10  # Numeric(20, 10): exchange rates
JSON_DEPTH = 16
JSON_VALUES = 10_000
_PLACES = Decimal(1).scaleb(-DECIMAL_PLACES)
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _in_years(moment: datetime | date, code: str) -> None:
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise UserError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}", code=code)


def _moment(value: Any, *, local: bool) -> datetime:
    code = "INVALID_DATETIME"
    if not isinstance(value, str) or len(value) > 40:
        raise UserError(f"{_shown(value)} is not an ISO 8601 date and time", code=code)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{_shown(value)} is not an ISO 8601 date and time", code=code) from None
    _in_years(moment, code)
    if moment.tzinfo is None:
        if local:
            return moment
        raise UserError(f"{_shown(value)} needs a time zone offset (Z or +hh:mm)", code=code)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise UserError(f"{_shown(value)} is out of range", code=code) from None
    _in_years(moment, code)
    return moment


def parse_datetime(value: Any) -> datetime:
    """An aware UTC datetime from an ISO 8601 string with an offset."""
    return _moment(value, local=False)


def parse_local_datetime(value: Any) -> datetime:
    """Aware UTC if the string has an offset, else the naive wall-clock time it names."""
    return _moment(value, local=True)


def parse_date(value: Any) -> date:
    if not isinstance(value, str) or len(value) > 10:
        raise UserError(f"{_shown(value)} is not an ISO 8601 date", code="INVALID_DATE")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{_shown(value)} is not an ISO 8601 date", code="INVALID_DATE") from None
    _in_years(day, "INVALID_DATE")
    return day


def parse_decimal(value: Any) -> Decimal:
    code = "INVALID_DECIMAL"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UserError(f"{_shown(value)} is not a decimal number", code=code)
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 64 or not _DECIMAL.fullmatch(text):
        raise UserError(f"{_shown(value)} is not a decimal number", code=code)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise UserError(f"{_shown(value)} is not a decimal number", code=code) from None
    if number and number.adjusted() >= INTEGER_DIGITS:
        raise UserError(f"at most {INTEGER_DIGITS} digits before the decimal point", code=code)
    if number != number.quantize(_PLACES):
        raise UserError(f"at most {DECIMAL_PLACES} decimal places", code=code)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        number = number.quantize(Decimal(1))  # 1E+2 -> 100
    return number


def parse_json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise UserError(f"{_shown(value)} is not a JSON object", code="INVALID_JSON")
    pending: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while pending:
        item, depth = pending.pop()
        seen += 1
        if seen > JSON_VALUES:
            raise UserError(f"a JSON object of at most {JSON_VALUES} values", code="INVALID_JSON")
        if isinstance(item, str):
            _text(item)
        elif isinstance(item, (Mapping, list)):
            if depth > JSON_DEPTH:
                raise UserError(f"a JSON object at most {JSON_DEPTH} levels deep", code="INVALID_JSON")
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise UserError("JSON object keys are strings", code="INVALID_JSON")
                    _text(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UserError("JSON numbers must be finite", code="INVALID_JSON")
    return dict(value)


def _text(value: str) -> None:
    if BAD_TEXT.search(value):
        raise UserError("text may not contain NUL characters or lone surrogates", code="INVALID_STRING")


def _iso(value: date | datetime) -> str:
    return value.isoformat()


#: A datetime given with or without an offset (see :func:`parse_local_datetime`).
LocalDateTime = NewType("LocalDateTime", datetime)

_LOCAL_DATETIME = strawberry.scalar(
    name="LocalDateTime",
    description=(
        "An ISO 8601 date and time, years 1970-2200. With an offset it is that instant; "
        "without one it is a wall-clock time in the time zone the field names."
    ),
    serialize=_iso,
    parse_value=parse_local_datetime,
)

#: Python type -> the strict scalar the schema uses for it.
SCALAR_OVERRIDES: dict[object, Any] = {
    LocalDateTime: _LOCAL_DATETIME,
    datetime: strawberry.scalar(
        name="DateTime",
        description="An ISO 8601 date and time with an offset (Z or +hh:mm), years 1970-2200; shown in UTC.",
        serialize=_iso,
        parse_value=parse_datetime,
    ),
    date: strawberry.scalar(
        name="Date",
        description="An ISO 8601 date (yyyy-mm-dd), years 1970-2200.",
        serialize=_iso,
        parse_value=parse_date,
    ),
    Decimal: strawberry.scalar(
        name="Decimal",
        description=(
            f'A decimal number as a string ("12.50"): finite, at most {INTEGER_DIGITS} digits '
            f"before the point and {DECIMAL_PLACES} after."
        ),
        serialize=str,
        parse_value=parse_decimal,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description=(
            f"A JSON object (named values), at most {JSON_DEPTH} levels deep and {JSON_VALUES:,} values."
        ),
        serialize=lambda value: value,
        parse_value=parse_json_object,
    ),
}


class _TextLiteralRule(ValidationRule):
    """A string literal in the document with NUL (``\\u0000``) is refused; lone surrogates
    cannot be written in a GraphQL document at all (a syntax error)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if BAD_TEXT.search(node.value):
            self.report_error(
                GraphQLError(
                    "text may not contain NUL characters or lone surrogates",
                    node,
                    extensions={"code": "INVALID_STRING"},
                )
            )


class InputChecks(SchemaExtension):
    """The literal check, added to validation (so it runs once per distinct document), and
    a subscription refused over HTTP: strawberry would run it as a query (its multipart
    transport takes subscriptions by POST), which fails inside; subscriptions are served over
    the websocket (graphql-transport-ws). The HTTP answer is then 400."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.validation_rules = (*ctx.validation_rules, _TextLiteralRule)
        yield

    def on_validate(self) -> Iterator[None]:
        if self._over_http_subscription():  # before validation: strawberry runs what passes it
            refused = GraphQLError(
                "subscriptions are served over the websocket at /graphql (graphql-transport-ws)",
                extensions={"code": "BAD_REQUEST"},
            )
            ctx = self.execution_context
            ctx.pre_execution_errors = [*(ctx.pre_execution_errors or []), refused]
            response = ctx.context.get("response")
            if response is not None:
                response.status_code = 400
        yield

    def _over_http_subscription(self) -> bool:
        ctx = self.execution_context
        context = ctx.context if isinstance(ctx.context, dict) else {}
        if "socket" in context or "request" not in context or ctx.graphql_document is None:
            return False
        try:
            return ctx.operation_type == OperationType.SUBSCRIPTION
        except RuntimeError:  # no such operation: validation reports it
            return False
