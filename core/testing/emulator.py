"""A base for marketplace emulators: a small ASGI app with deterministic fault injection.

A plugin's emulator subclasses :class:`Emulator`, registers its endpoints with
:meth:`Emulator.route`, answers in the marketplace's own envelope (:meth:`error_body`), and
pages its lists through :meth:`Emulator.page`, which is where duplicate and out-of-order
pages come from. Faults (:class:`Faults`) are drawn from a seeded RNG, so a failing run
can be replayed exactly.

:func:`serve` runs any ASGI app on a loopback port inside the current event loop (tests,
benchmarks, the demo); ``crossdock emulate NAME`` runs one standalone.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote

__all__ = ["CredentialsGuard", "Emulator", "Faults", "Reply", "Request", "credentials_guard", "serve"]

T = TypeVar("T")
H = TypeVar("H")


@dataclass
class Faults:
    """Probabilities (0..1) of each fault per API request; ``seed`` makes them repeatable."""

    throttle: float = 0.0  #: HTTP 429 with Retry-After
    server_error: float = 0.0  #: HTTP 500/503 in the marketplace's envelope
    timeout: float = 0.0  #: no answer for ``timeout_seconds``
    malformed: float = 0.0  #: HTTP 200 with a truncated JSON body
    duplicate_page: float = 0.0  #: a page served again instead of the next one
    shuffle_pages: bool = False  #: rows of a page in random order
    #: the request is carried out but its answer is lost (a 504 after ``timeout_seconds``):
    #: what a client must survive without doing the work twice (buying a label, charging)
    lost_answer: float = 0.0
    #: seconds every answer takes (a real API's latency, for benchmarks)
    latency: float = 0.0
    retry_after: float = 0.2
    timeout_seconds: float = 10.0
    seed: int = 0

    @classmethod
    def failing(cls, rate: float, seed: int = 0, *, lost_answer: float = 0.0) -> Faults:
        """``rate`` of requests fail, split between 429s, 5xx, timeouts and bad JSON; and
        ``lost_answer`` of the others are carried out with their answer lost."""
        share = rate / 4
        return cls(
            throttle=share,
            server_error=share,
            timeout=share,
            malformed=share,
            duplicate_page=rate / 2,
            shuffle_pages=True,
            lost_answer=lost_answer,
            seed=seed,
            # a timeout is an answer that comes late and as a 504: how late does not change
            # what the client must do, and a short one keeps suites that inject them quick
            timeout_seconds=0.25,
        )


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: groups captured by a pattern route (``Emulator.route_pattern``)
    args: tuple[str, ...] = ()

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Reply]]


class CredentialsGuard(Generic[H]):
    """How an emulator refuses a call's credentials, in the real service's own words.

    The emulator looks up who holds the presented token (a shop, a seller) and when it
    expires; :meth:`check` decides, in one order for every emulator: no token at all is
    ``missing``; a token the service retired (replaced by a refresh) is ``expired``; a token
    nobody holds is ``unknown``; one past its expiry is ``expired``. Each refusal is a
    :class:`Reply` the emulator builds in its envelope (Shopee's ``error_auth``, Lazada's
    ``IllegalAccessToken``, SP-API's ``Unauthorized``), so a plugin's client meets the error
    it will meet in production, and a service that says the same for all three passes the
    same reply three times. Build one with :func:`credentials_guard`.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        missing: Callable[[], Reply],
        unknown: Callable[[], Reply],
        expired: Callable[[], Reply],
    ) -> None:
        self.clock = clock
        self._missing, self._unknown, self._expired = missing, unknown, expired

    def check(
        self,
        token: str | None,
        holder: H | None,
        *,
        expires_at: float | None = None,
        retired: bool = False,
    ) -> H | Reply:
        """``holder`` when ``token`` may be used now, else the refusal to answer with."""
        if not token:
            return self._missing()
        if retired:
            return self._expired()
        if holder is None:
            return self._unknown()
        if expires_at is not None and self.clock() >= expires_at:
            return self._expired()
        return holder


def credentials_guard(
    clock: Callable[[], float],
    *,
    refused: Callable[[], Reply],
    missing: Callable[[], Reply] | None = None,
    expired: Callable[[], Reply] | None = None,
) -> CredentialsGuard[Any]:
    """A :class:`CredentialsGuard` answering ``refused()`` for an unknown token, and for a
    missing or expired one unless the service words those differently (``missing``,
    ``expired``)."""
    return CredentialsGuard(clock, missing=missing or refused, unknown=refused, expired=expired or refused)


class Emulator:
    """Subclass: set ``name``, register routes in ``__init__``, implement ``error_body``."""

    name = "emulator"
    #: paths that never get faults (token endpoints: a client must be able to log in)
    fault_free: frozenset[str] = frozenset()

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.routes: dict[tuple[str, str], Handler] = {}
        self.patterns: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    # ------------------------------------------------------------ to override

    def error_body(self, status: int, code: str, message: str) -> Any:
        return {"error": code, "message": message}

    # ------------------------------------------------------------ helpers

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def route_pattern(self, method: str, pattern: str, handler: Handler) -> None:
        """A route with path parameters: ``pattern`` is a regex whose groups become
        ``request.args``."""
        self.patterns.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def _handler(self, request: Request) -> Handler | None:
        handler = self.routes.get((request.method, request.path))
        if handler is not None:
            return handler
        for method, pattern, candidate in self.patterns:
            match = pattern.match(request.path) if method == request.method else None
            if match:
                request.args = tuple(unquote(g) for g in match.groups())
                return candidate
        return None

    def error(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        return Reply(status, self.error_body(status, code, message), dict(headers or {}))

    def page(self, rows: Sequence[T], start: int, size: int) -> tuple[list[T], int | None]:
        """Rows ``start..start+size`` and the next start (None at the end), with the
        configured duplicate-page and out-of-order faults applied."""
        if start > 0 and self.rng.random() < self.faults.duplicate_page:
            self.injected["duplicate_page"] += 1
            start = max(0, start - size)
        chunk = list(rows[start : start + size])
        if self.faults.shuffle_pages:
            self.rng.shuffle(chunk)
        following = start + size
        return chunk, following if following < len(rows) else None

    async def _fault(self, request: Request) -> Reply | None:
        if request.path in self.fault_free:
            return None
        f, roll = self.faults, self.rng.random()
        if roll < f.throttle:
            self.injected["throttle"] += 1
            return self.error(429, "throttled", "too many requests", {"Retry-After": f"{f.retry_after:g}"})
        roll -= f.throttle
        if roll < f.server_error:
            self.injected["server_error"] += 1
            return self.error(self.rng.choice((500, 503)), "server_error", "internal error, try again")
        roll -= f.server_error
        if roll < f.timeout:
            self.injected["timeout"] += 1
            await asyncio.sleep(f.timeout_seconds)
            return self.error(504, "timeout", "upstream timed out")
        roll -= f.timeout
        if roll < f.malformed:
            self.injected["malformed"] += 1
            return Reply(200, b'{"response": {"truncat', {"content-type": "application/json"})
        return None

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
        )
        self.requests[request.path] += 1
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        handler = self._handler(request)
        reply = await self._fault(request) if handler else None
        if reply is None:
            if handler is None:
                reply = self.error(404, "not_found", f"no endpoint {request.method} {request.path}")
            else:
                try:
                    reply = await handler(request)
                except (ValueError, KeyError, json.JSONDecodeError) as exc:
                    reply = self.error(400, "bad_request", f"malformed request: {exc}")
                if (
                    self.faults.lost_answer
                    and request.path not in self.fault_free
                    and self.rng.random() < self.faults.lost_answer
                ):
                    self.injected["lost_answer"] += 1
                    await asyncio.sleep(self.faults.timeout_seconds)
                    reply = self.error(504, "timeout", "upstream timed out")
        raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        headers = {"content-type": "application/json", **reply.headers}
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": raw})


@asynccontextmanager
async def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in this event loop; yields its base URL."""
    import uvicorn

    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
