"""The GraphQL endpoint's edge: a request body is read strictly before GraphQL sees it.

A body that is not UTF-8, not JSON, not a JSON *object*, nested deeper than
:data:`MAX_NESTING`, or holding NaN/Infinity (Python's JSON reader accepts them; JSON does
not) is refused with HTTP 400 and a JSON GraphQL error coded ``BAD_REQUEST``; a string
anywhere in it (the query, a variable, a key) with a NUL character or a lone surrogate, with
``INVALID_STRING``. Every other refusal of the HTTP layer (a subscription sent over POST, a
missing query, an unsupported content type) is the same JSON shape with its status, never
a text body and never a 500. Websocket messages are read by the same decoder; one it refuses
is a non-JSON message to the protocol handler (the socket is closed with 4400).
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from litestar import MediaType, Request, Response

from crossdock.db.validation import BAD_TEXT

__all__ = ["MAX_NESTING", "StrictRequests", "refusal"]

#: Levels of arrays and objects a request body may nest (the body, its variables, an input
#: object, a JSON document inside it...).
MAX_NESTING = 64
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class BadBody(json.JSONDecodeError):
    """A body (or websocket message) refused while reading it. A ``JSONDecodeError``, so
    strawberry's websocket handlers treat it as a message that is not JSON."""

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message, "", 0)
        self.message = message
        self.code = code


class Refused(HTTPException):
    def __init__(self, status_code: int, reason: str, code: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


def refusal(status: int, message: str, code: str | None = None) -> Response[Any]:
    """The JSON GraphQL error response for a request the HTTP layer refuses."""
    return Response(
        {
            "data": None,
            "errors": [
                {"message": message, "extensions": {"code": code or _CODES.get(status, "BAD_REQUEST")}}
            ],
        },
        status_code=status,
        media_type=MediaType.JSON,
    )


def _no_constants(name: str) -> Any:
    raise BadBody(f"{name} is not JSON")


def _check(document: Any) -> None:
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if BAD_TEXT.search(item):
                raise BadBody("text may not contain NUL characters or lone surrogates", "INVALID_STRING")
        elif isinstance(item, dict | list):
            if depth >= MAX_NESTING:
                raise BadBody(f"the body nests more than {MAX_NESTING} levels")
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((value, depth + 1) for value in item.values())
            else:
                pending.extend((value, depth + 1) for value in item)


def decode_strictly(data: str | bytes) -> object:
    """JSON from a request body: UTF-8, standard JSON only, bounded nesting, clean text."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("the body is not UTF-8") from None
    try:
        document = json.loads(data, parse_constant=_no_constants)
    except BadBody:
        raise
    except RecursionError:
        raise BadBody(f"the body nests more than {MAX_NESTING} levels") from None
    except json.JSONDecodeError as exc:
        raise BadBody(f"the body is not JSON ({exc.msg} at character {exc.pos})") from None
    _check(document)
    return document


class StrictRequests:
    """Mixin for the strawberry controller: the strict reading above, and every refusal of
    the HTTP layer as a JSON GraphQL error with a code."""

    def decode_json(self, data: str | bytes) -> object:
        return decode_strictly(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            document = decode_strictly(data)
        except BadBody as exc:
            raise Refused(400, exc.message, exc.code) from None
        if not isinstance(document, dict):
            raise Refused(
                400, "the body must be a JSON object (query, variables, operationName)", "BAD_REQUEST"
            )
        return document

    async def execute_request(
        self, request: Request[Any, Any, Any], context: Any, root_value: Any
    ) -> Response[Any]:
        try:
            response: Response[Any] = await self.run(  # type: ignore[attr-defined]
                request, context=context, root_value=root_value
            )
        except HTTPException as exc:
            return refusal(exc.status_code, exc.reason, getattr(exc, "code", None))
        return response
