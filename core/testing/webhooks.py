"""A webhook receiver for tests and benchmarks: an ASGI app (serve it with
:func:`crossdock.testing.emulator.serve`) that records every request and answers as told.

Faults are injected three ways: ``answers`` (a status per request, in arrival order, before
the default), ``by_payload`` (the status named by the event payload's ``answer`` key, which
keeps concurrent requests deterministic), and ``fail_rate`` (that share of requests, drawn
from a seeded RNG, answer 500; with ``fail_once`` a ``webhook-id`` is failed at most once, so
its retry gets through). ``accepted`` counts the 2xx answers per ``webhook-id``: a
message accepted twice is one delivered twice.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Received", "WebhookReceiver"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    fail_rate: float = 0.0
    seed: int = 0
    #: answered to the next requests, in order (``(status, headers)`` or a status)
    answers: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    #: answer the status an event's payload names under ``answer`` (``{"answer": 503}``)
    by_payload: bool = False
    fail_once: bool = False
    requests: list[Received] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._failed: set[str] = set()

    def _answer(self, body: bytes, webhook_id: str) -> tuple[int, dict[str, str]]:
        if self.answers:
            planned = self.answers.pop(0)
            return planned if isinstance(planned, tuple) else (planned, {})
        if self.by_payload:
            try:
                wanted = json.loads(body)["data"]["payload"].get("answer")
            except (ValueError, KeyError, TypeError, AttributeError):
                wanted = None
            if isinstance(wanted, int):
                return wanted, {}
        failing = self.fail_rate and self._rng.random() < self.fail_rate
        if failing and not (self.fail_once and webhook_id in self._failed):
            self._failed.add(webhook_id)
            return 500, {}
        return 200, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, extra = self._answer(body, headers.get("webhook-id", ""))
        self.requests.append(Received(scope["path"], headers, body, status))
        if 200 <= status < 300:
            self.accepted[headers.get("webhook-id", "")] += 1
        reply = json.dumps({"status": status}).encode()
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(reply)).encode())]
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": reply})

    def ids(self) -> set[str]:
        """Every ``webhook-id`` received."""
        return {r.webhook_id for r in self.requests}
