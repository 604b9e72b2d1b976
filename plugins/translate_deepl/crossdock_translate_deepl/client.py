"""DeepL's API v2 on the wire: the options a server reads, the requests ``POST /v2/translate``
and the glossary endpoints are, and what their answers mean.

Sources (see the README for the full list):

* ``POST /v2/translate``, its JSON body (``text`` an array, ``source_lang``,
  ``target_lang``, ``context``, ``formality``, ``glossary_id`` needing ``source_lang``,
  ``tag_handling``, ``model_type``), "Up to 50 texts can be sent for translation in one
  request", the 128 KiB body limit, the answer ``{"translations": [{"detected_source_language",
  "text"}]}`` in request order: DeepL's API reference, ``api-reference/translate.mdx`` and
  ``api-reference/openapi.yaml`` (DeepLcom/api-docs), https://developers.deepl.com/api-reference/translate
* ``Authorization: DeepL-Auth-Key <key>``; free keys end in ``:fx`` and use
  ``api-free.deepl.com``: https://developers.deepl.com/docs/getting-started/auth and the
  official SDK, DeepLcom/deepl-python ``deepl/util.py`` (``auth_key_is_free_account``) and
  ``deepl/translator_base.py`` (the two server URLs)
* Statuses: 403 an authorization failure, 456 the character quota of the billing period,
  429 (and 529) too many requests, 500/503 DeepL's own trouble; an error body's
  ``message`` (and, for glossaries, ``detail``): ``docs/best-practices/error-handling.mdx``
  and the spec's ``components/responses``; deepl-python ``_raise_for_status``
* Glossaries (v2): ``POST /v2/glossaries`` with ``name``, ``source_lang``, ``target_lang``,
  ``entries`` and ``entries_format: "tsv"`` answering 201 with ``glossary_id`` and
  ``ready``; ``GET /v2/glossaries`` answering ``{"glossaries": [...]}``; no regional
  variants: ``api-reference/glossaries.mdx``; forbidden characters in a term: deepl-python
  ``util.validate_glossary_term``
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crossdock import ChannelError

__all__ = [
    "DEEPL_API",
    "DEEPL_API_FREE",
    "DEFAULT_TIMEOUT",
    "FORMALITIES",
    "MAX_BODY_BYTES",
    "MAX_TEXTS",
    "MODEL_TYPES",
    "TAG_HANDLINGS",
    "DeepLError",
    "DeepLOptions",
    "batches",
    "encode",
    "error_for",
    "glossary_body",
    "glossary_digest",
    "glossary_from_list",
    "glossary_id_of",
    "glossary_name",
    "glossary_tsv",
    "request_headers",
    "retry_after",
    "translate_body",
    "translations_of",
]

#: DeepL API Pro's host, and API Free's (keys ending ``:fx``).
DEEPL_API = "https://api.deepl.com"
DEEPL_API_FREE = "https://api-free.deepl.com"
FREE_KEY_SUFFIX = ":fx"
DEFAULT_TIMEOUT = 10.0
#: "Up to 50 texts can be sent for translation in one request" (translate reference).
MAX_TEXTS = 50
#: "The total request body size ... must not exceed 128 KiB (128 · 1024 bytes)".
MAX_BODY_BYTES = 128 * 1024
#: The translate reference's values of ``formality``, ``tag_handling`` and ``model_type``.
FORMALITIES = frozenset({"default", "more", "less", "prefer_more", "prefer_less"})
TAG_HANDLINGS = frozenset({"xml", "html"})
MODEL_TYPES = frozenset({"latency_optimized", "quality_optimized", "prefer_quality_optimized"})
#: HTTP 456: "Quota exceeded. The character limit has been reached."
QUOTA_EXCEEDED = 456
#: HTTP 529: the spec lists it with 429 as "Too many requests".
TOO_MANY_REQUESTS = frozenset({429, 529})


class DeepLError(ChannelError):
    """A ``ChannelError`` keeping DeepL's HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, retry_after=retry_after)
        self.status = status


def _invalid(message: str) -> DeepLError:
    return DeepLError(f"deepl option {message}", code="INVALID_OPTIONS")


def _choice(options: Mapping[str, Any], key: str, allowed: frozenset[str]) -> str | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.lower() not in allowed:
        raise _invalid(f"{key} is one of {', '.join(sorted(allowed))}, not {value!r}")
    return value.lower()


@dataclass(frozen=True)
class DeepLOptions:
    """The keys of ``CROSSDOCK_TRANSLATOR_OPTIONS`` this translator reads.

    ``auth_key`` (required): the DeepL API key. ``base_url`` (default
    ``https://api-free.deepl.com`` for a key ending ``:fx``, else ``https://api.deepl.com``;
    an emulator's or a proxy's, subject to the server's outbound rules). ``formality``
    (``default``, ``more``, ``less``, ``prefer_more``, ``prefer_less``), ``tag_handling``
    (``xml`` or ``html``) and ``model_type`` (``latency_optimized``, ``quality_optimized``,
    ``prefer_quality_optimized``): sent as given, left out when absent. ``timeout`` in
    seconds (default 10).
    """

    auth_key: str
    base_url: str = DEEPL_API
    formality: str | None = None
    tag_handling: str | None = None
    model_type: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> DeepLOptions:
        key = options.get("auth_key")
        if not isinstance(key, str) or not key.strip():
            raise DeepLError("deepl needs an API key: option auth_key", code="CREDENTIALS")
        key = key.strip()
        base_url = options.get("base_url") or (DEEPL_API_FREE if key.endswith(FREE_KEY_SUFFIX) else DEEPL_API)
        if not isinstance(base_url, str):
            raise _invalid("base_url is a text")
        raw_timeout = options.get("timeout", DEFAULT_TIMEOUT)
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            raise _invalid(f"timeout is not a number of seconds: {raw_timeout!r}") from None
        if not timeout > 0:
            raise _invalid("timeout must be above 0 seconds")
        return cls(
            auth_key=key,
            base_url=base_url.rstrip("/"),
            formality=_choice(options, "formality", FORMALITIES),
            tag_handling=_choice(options, "tag_handling", TAG_HANDLINGS),
            model_type=_choice(options, "model_type", MODEL_TYPES),
            timeout=timeout,
        )

    @property
    def translate_url(self) -> str:
        return f"{self.base_url}/v2/translate"

    @property
    def glossaries_url(self) -> str:
        return f"{self.base_url}/v2/glossaries"


def request_headers(auth_key: str) -> dict[str, str]:
    """The key as DeepL wants it (``DeepL-Auth-Key``), and a JSON body."""
    return {
        "Authorization": f"DeepL-Auth-Key {auth_key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def encode(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (so that the 128 KiB limit is measured on them)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def translate_body(
    texts: Sequence[str],
    *,
    source: str,
    target: str,
    options: DeepLOptions,
    glossary_id: str | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """The JSON body of one ``POST /v2/translate``. ``source_lang`` is always sent: the
    request names it, and a glossary requires it."""
    body: dict[str, Any] = {"text": list(texts), "source_lang": source, "target_lang": target}
    if glossary_id:
        body["glossary_id"] = glossary_id
    if context:
        body["context"] = context
    if options.formality:
        body["formality"] = options.formality
    if options.tag_handling:
        body["tag_handling"] = options.tag_handling
    if options.model_type:
        body["model_type"] = options.model_type
    return body


def batches(
    texts: Sequence[str], body_of: Callable[[Sequence[str]], Mapping[str, Any]]
) -> Iterator[tuple[int, int]]:
    """``(start, end)`` slices of ``texts``, in order, each at most :data:`MAX_TEXTS` texts
    whose whole body (``body_of(slice)`` encoded) fits :data:`MAX_BODY_BYTES`. A single text
    too large for a body of its own is a permanent ``REFUSED``."""
    start = 0
    while start < len(texts):
        end = start + 1
        if len(encode(body_of(texts[start:end]))) > MAX_BODY_BYTES:
            raise DeepLError(
                f"deepl: text {start + 1} is too long for one request (a body over {MAX_BODY_BYTES} bytes)",
                code="REFUSED",
            )
        while end < len(texts) and end - start < MAX_TEXTS:
            if len(encode(body_of(texts[start : end + 1]))) > MAX_BODY_BYTES:
                break
            end += 1
        yield start, end
        start = end


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _words(response: httpx.Response) -> str:
    body = _json(response)
    said = ""
    if isinstance(body, dict):
        message, detail = body.get("message"), body.get("detail")
        if isinstance(message, str) and message:
            said = message
        if isinstance(detail, str) and detail:
            said = f"{said}: {detail}" if said else detail
    return said or f"HTTP {response.status_code}"


def error_for(response: httpx.Response) -> DeepLError:
    """The typed error of an answer that is not a success."""
    status = response.status_code
    said = f"deepl: {_words(response)} (HTTP {status})"
    wait = retry_after(response.headers.get("retry-after"))
    if status in (401, 403):
        return DeepLError(said, code="CREDENTIALS", status=status)
    if status == QUOTA_EXCEEDED:
        # Free: the month's characters are used up; Pro: the Cost Control limit is reached.
        # Asking again does not help until the period resets or the limit is raised.
        return DeepLError(
            f"{said}: the character quota of this billing period is used up (DeepL API Free: "
            "until the monthly reset; Pro: until the Cost Control limit is raised)",
            code="QUOTA",
            status=status,
        )
    if status in TOO_MANY_REQUESTS:
        return DeepLError(said, code="THROTTLED", status=status, retryable=True, retry_after=wait)
    if status >= 500 or status == 408:
        return DeepLError(said, code="SERVER_ERROR", status=status, retryable=True, retry_after=wait)
    # 400 (a parameter DeepL refuses: a language, a glossary that does not fit), 404 (a
    # base_url that is not DeepL's), 413 (too large) and any other 4xx: asked the same
    # way, DeepL refuses again.
    return DeepLError(said, code="REFUSED", status=status)


def _malformed(what: str) -> DeepLError:
    return DeepLError(f"deepl answered {what}", code="MALFORMED", status=200, retryable=True)


def translations_of(response: httpx.Response, count: int) -> list[str]:
    """The ``count`` translated texts of a 200, in request order."""
    body = _json(response)
    rows = body.get("translations") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise _malformed("200 without a list of translations")
    if len(rows) != count:
        raise _malformed(f"{len(rows)} translations for {count} texts")
    texts = []
    for row in rows:
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise _malformed("a translation without a text")
        texts.append(text)
    return texts


# ------------------------------------------------------------ glossaries


def _check_term(term: str) -> None:
    if not term or any(ord(ch) < 32 or 127 <= ord(ch) <= 159 or ch in "\u2028\u2029" for ch in term):
        raise DeepLError(
            f"deepl: the glossary term {term!r} is empty or holds a tab, a line break or a control character",
            code="REFUSED",
        )


def glossary_tsv(entries: Mapping[str, str]) -> str:
    """The entries as DeepL's TSV (``source<TAB>target``, one a line), terms trimmed and in
    a stable order; a term DeepL would refuse is a permanent ``REFUSED`` here."""
    rows: dict[str, str] = {}
    for source, target in entries.items():
        src, tgt = str(source).strip(), str(target).strip()
        _check_term(src)
        _check_term(tgt)
        if src in rows and rows[src] != tgt:
            raise DeepLError(f"deepl: the glossary gives {src!r} two translations", code="REFUSED")
        rows[src] = tgt
    return "\n".join(f"{s}\t{t}" for s, t in sorted(rows.items()))


def glossary_digest(source: str, target: str, tsv: str) -> str:
    return hashlib.sha256(f"{source}\n{target}\n{tsv}".encode()).hexdigest()[:24]


def glossary_name(source: str, target: str, digest: str) -> str:
    """The name this plugin gives a glossary: the pair and the entries' digest, so that a
    glossary made earlier (by another process) is found again in ``GET /v2/glossaries``."""
    return f"crossdock {source}>{target} {digest}"


def glossary_body(name: str, source: str, target: str, tsv: str) -> dict[str, Any]:
    return {
        "name": name,
        "source_lang": source,
        "target_lang": target,
        "entries": tsv,
        "entries_format": "tsv",
    }


def glossary_id_of(response: httpx.Response) -> str:
    body = _json(response)
    glossary_id = body.get("glossary_id") if isinstance(body, dict) else None
    if not isinstance(glossary_id, str) or not glossary_id:
        raise DeepLError(
            "deepl answered a glossary without a glossary_id",
            code="MALFORMED",
            status=response.status_code,
            retryable=True,
        )
    return glossary_id


def glossary_from_list(response: httpx.Response, name: str, source: str, target: str) -> str | None:
    """The id of a ready glossary named ``name`` for this pair in ``GET /v2/glossaries``."""
    body = _json(response)
    rows = body.get("glossaries") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise _malformed("200 without a list of glossaries")
    for row in rows:
        if not isinstance(row, dict) or row.get("name") != name or row.get("ready") is False:
            continue
        pair = (str(row.get("source_lang", "")).upper(), str(row.get("target_lang", "")).upper())
        glossary_id = row.get("glossary_id")
        if pair == (source, target) and isinstance(glossary_id, str) and glossary_id:
            return glossary_id
    return None
