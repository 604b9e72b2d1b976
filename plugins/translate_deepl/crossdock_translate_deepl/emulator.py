"""A local DeepL API v2 (``POST /v2/translate``, ``POST`` and ``GET /v2/glossaries``),
refusing what DeepL refuses, in DeepL's ``{"message": ...}`` body, with the kit's injected
faults and scripted ones.

What ``/v2/translate`` checks, in this order (the sources are in the README; the order is
this emulator's choice): the key (``Authorization: DeepL-Auth-Key <key>``, HTTP 403); the
body's size, at most 128 KiB (413); a JSON object (400); ``text`` a non-empty array of
strings (400), at most 50 of them (400); ``target_lang`` one of DeepL's target codes and
``source_lang``, when given, one of its source codes, which have no variants (400);
``formality``, ``tag_handling`` and ``model_type`` among their values, ``context`` a text
(400); a ``glossary_id`` only with ``source_lang``, known to this key, and of the
request's pair (400); and the key's character quota, when one is set (456).

It "translates" deterministically: each text becomes ``[<target_lang>] <text>``, with
every glossary source term replaced, whole word and case ignored, by its target term in
the case the text wrote the source term (``Acme``/``ACME``/``acme``), so that a test can
see the glossary was used.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crossdock.testing.emulator import Emulator, Faults, Reply, Request
from crossdock_translate_deepl.client import (
    FORMALITIES,
    MAX_BODY_BYTES,
    MAX_TEXTS,
    MODEL_TYPES,
    TAG_HANDLINGS,
)
from crossdock_translate_deepl.languages import GLOSSARY_LANGUAGES, LANGUAGES, TARGET_VARIANTS, glossary_code

__all__ = ["DeepLEmulator", "EmulatedGlossary", "apply_glossary"]

#: DeepL's target codes: every bare language (``EN``, ``PT`` and ``ZH`` unspecified, kept
#: "for backward compatibility") and the variants.
TARGETS = LANGUAGES | TARGET_VARIANTS


@dataclass
class EmulatedGlossary:
    glossary_id: str
    owner: str
    name: str
    source_lang: str
    target_lang: str
    entries: dict[str, str]
    creation_time: datetime

    def info(self) -> dict[str, Any]:
        """As DeepL describes a glossary (``MonolingualGlossary``)."""
        return {
            "glossary_id": self.glossary_id,
            "name": self.name,
            "ready": True,
            "source_lang": self.source_lang.lower(),
            "target_lang": self.target_lang.lower(),
            "creation_time": self.creation_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "entry_count": len(self.entries),
        }


def _cased(found: str, source: str, target: str) -> str:
    if found == source or not target:
        return target
    if len(found) > 1 and found.isupper():
        return target.upper()
    if found[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


def apply_glossary(text: str, entries: Mapping[str, str]) -> str:
    """``text`` with each source term of ``entries`` (whole word, case ignored, the
    longest first) replaced by its target term, in the case the text wrote it."""
    if not entries:
        return text
    by_lower = {source.lower(): (source, target) for source, target in entries.items()}
    terms = sorted(entries, key=len, reverse=True)
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(term) for term in terms) + r")(?!\w)", re.IGNORECASE
    )

    def swap(match: re.Match[str]) -> str:
        found = match.group(1)
        source, target = by_lower[found.lower()]
        return _cased(found, source, target)

    return pattern.sub(swap, text)


@dataclass
class _Scripted:
    status: int
    retry_after: float | None


@dataclass
class _Key:
    #: characters this key may translate (None: no limit), and those it has
    character_limit: int | None = None
    character_count: int = 0
    free: bool = False
    translated: list[dict[str, Any]] = field(default_factory=list)


class DeepLEmulator(Emulator):
    """One emulated DeepL API: its keys (:meth:`open_account`), their glossaries and
    quotas, and every request as it arrived (:attr:`log`)."""

    name = "deepl"
    #: translation has no sites; the emulator hook asks every emulator for one
    default_site = "XX"

    def __init__(self, faults: Faults | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(faults)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.keys: dict[str, _Key] = {}
        self.glossaries: dict[str, EmulatedGlossary] = {}
        self.log: list[Request] = []
        self._scripted: list[_Scripted] = []
        self.route("POST", "/v2/translate", self._translate)
        self.route("POST", "/v2/glossaries", self._create_glossary)
        self.route("GET", "/v2/glossaries", self._list_glossaries)

    # ------------------------------------------------------------ account side

    def open_account(
        self, site: str | None = None, *, free: bool = False, character_limit: int | None = None
    ) -> dict[str, Any]:
        """A new API key (ending ``:fx`` for a Free account); the translator's options."""
        key = str(uuid.UUID(bytes=secrets.token_bytes(16))) + (":fx" if free else "")
        self.keys[key] = _Key(character_limit=character_limit, free=free)
        return {"auth_key": key}

    def usage(self, auth_key: str) -> tuple[int, int | None]:
        """Characters translated and the limit, as ``GET /v2/usage`` would say."""
        held = self.keys[auth_key]
        return held.character_count, held.character_limit

    def glossaries_of(self, auth_key: str) -> list[EmulatedGlossary]:
        return [g for g in self.glossaries.values() if g.owner == auth_key]

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        """The next ``count`` requests answer ``status`` (with ``Retry-After`` when given)
        before anything is checked."""
        self._scripted += [_Scripted(status, retry_after) for _ in range(count)]

    # ------------------------------------------------------------ wire

    def error_body(self, status: int, code: str, message: str) -> Any:
        return {"message": message}

    def _refuse(self, message: str, status: int = 400, detail: str | None = None) -> Reply:
        body: dict[str, Any] = {"message": message}
        if detail:
            body["detail"] = detail
        return Reply(status, body)

    async def _fault(self, request: Request) -> Reply | None:
        self.log.append(request)
        if self._scripted:
            scripted = self._scripted.pop(0)
            headers = {} if scripted.retry_after is None else {"Retry-After": f"{scripted.retry_after:g}"}
            words = {
                429: "Too many requests",
                456: "Quota exceeded",
                529: "Too many requests",
            }.get(scripted.status, "Internal server error")
            return self.error(scripted.status, str(scripted.status), words, headers)
        return await super()._fault(request)

    def _key(self, request: Request) -> str | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        return key if scheme == "DeepL-Auth-Key" and key in self.keys else None

    def _forbidden(self) -> Reply:
        return self._refuse(
            "Authorization failed: supply a valid DeepL-Auth-Key in the Authorization header.", 403
        )

    def _object(self, request: Request) -> dict[str, Any] | Reply:
        if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            return self._refuse("This emulator reads JSON bodies only (Content-Type: application/json).")
        try:
            body = json.loads(request.body or b"")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._refuse("The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self._refuse("The request body must be a JSON object.")
        return body

    async def _translate(self, request: Request) -> Reply:
        key = self._key(request)
        if key is None:
            return self._forbidden()
        if len(request.body) > MAX_BODY_BYTES:
            return self._refuse(f"Request body too large: at most {MAX_BODY_BYTES} bytes.", 413)
        body = self._object(request)
        if isinstance(body, Reply):
            return body
        texts = body.get("text")
        if texts is None:
            return self._refuse("Parameter 'text' not specified.")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self._refuse("Parameter 'text' must be a non-empty array of strings.")
        if len(texts) > MAX_TEXTS:
            return self._refuse(f"Too many texts: at most {MAX_TEXTS} per request.")
        target = body.get("target_lang")
        if target is None:
            return self._refuse("Parameter 'target_lang' not specified.")
        if not isinstance(target, str) or target.upper() not in TARGETS:
            return self._refuse("Value for 'target_lang' not supported.")
        target = target.upper()
        source = body.get("source_lang")
        if source is not None and (not isinstance(source, str) or source.upper() not in LANGUAGES):
            return self._refuse("Value for 'source_lang' not supported.")
        source = source.upper() if isinstance(source, str) else None
        for name, allowed in (
            ("formality", FORMALITIES),
            ("tag_handling", TAG_HANDLINGS),
            ("model_type", MODEL_TYPES),
        ):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or value.lower() not in allowed):
                return self._refuse(f"Value for '{name}' not supported.")
        if body.get("context") is not None and not isinstance(body["context"], str):
            return self._refuse("Value for 'context' not supported.")
        entries: dict[str, str] = {}
        glossary_id = body.get("glossary_id")
        if glossary_id is not None:
            if source is None:
                return self._refuse("Use of a glossary requires the 'source_lang' parameter to be specified.")
            glossary = self.glossaries.get(glossary_id) if isinstance(glossary_id, str) else None
            if glossary is None or glossary.owner != key:
                return self._refuse("Glossary not found.")
            if (glossary.source_lang, glossary.target_lang) != (source, glossary_code(target)):
                return self._refuse(
                    "The language pair of the glossary does not match the language pair of the request.",
                    detail=f"glossary {glossary.source_lang}>{glossary.target_lang}, "
                    f"request {source}>{target}",
                )
            entries = glossary.entries
        held = self.keys[key]
        characters = sum(len(t) for t in texts)
        if held.character_limit is not None and held.character_count + characters > held.character_limit:
            return self._refuse("Quota exceeded. The character limit has been reached.", 456)
        held.character_count += characters
        held.translated.append(body)
        detected = source or "EN"
        return Reply(
            200,
            {
                "translations": [
                    {"detected_source_language": detected, "text": f"[{target}] {apply_glossary(t, entries)}"}
                    for t in texts
                ]
            },
        )

    async def _create_glossary(self, request: Request) -> Reply:
        key = self._key(request)
        if key is None:
            return self._forbidden()
        body = self._object(request)
        if isinstance(body, Reply):
            return body
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return self._refuse("Parameter 'name' not specified.")
        pair = (body.get("source_lang"), body.get("target_lang"))
        if not all(isinstance(code, str) and code.upper() in GLOSSARY_LANGUAGES for code in pair):
            return self._refuse("Unsupported glossary source and target language pair.")
        if body.get("entries_format") != "tsv":
            return self._refuse("Value for 'entries_format' not supported (this emulator reads tsv).")
        raw = body.get("entries")
        if not isinstance(raw, str):
            return self._refuse("Parameter 'entries' not specified.")
        entries: dict[str, str] = {}
        for number, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            source, target = (parts[0].strip(), parts[1].strip()) if len(parts) == 2 else ("", "")
            if not source or not target:
                return self._refuse(
                    "Invalid glossary entries provided", detail=f"entry {number} is not source<TAB>target"
                )
            if source in entries:
                return self._refuse(
                    "Invalid glossary entries provided", detail=f"entry {number} duplicates {source!r}"
                )
            entries[source] = target
        if not entries:
            return self._refuse("Invalid glossary entries provided", detail="no entries")
        glossary = EmulatedGlossary(
            glossary_id=str(uuid.uuid4()),
            owner=key,
            name=name,
            source_lang=str(pair[0]).upper(),
            target_lang=str(pair[1]).upper(),
            entries=entries,
            creation_time=self.clock(),
        )
        self.glossaries[glossary.glossary_id] = glossary
        return Reply(201, glossary.info())

    async def _list_glossaries(self, request: Request) -> Reply:
        key = self._key(request)
        if key is None:
            return self._forbidden()
        return Reply(200, {"glossaries": [g.info() for g in self.glossaries_of(key)]})
