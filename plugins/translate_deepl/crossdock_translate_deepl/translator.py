"""The DeepL translator: ``POST /v2/translate`` in batches, a glossary made once per pair
and entries, everything through the SSRF-guarded client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from crossdock import (
    TranslationRequest,
    TranslatorAccount,
    TranslatorBase,
    TranslatorCapability,
    URLNotAllowed,
    UserError,
)
from crossdock_translate_deepl import __version__
from crossdock_translate_deepl.client import (
    DeepLError,
    DeepLOptions,
    batches,
    encode,
    error_for,
    glossary_body,
    glossary_digest,
    glossary_from_list,
    glossary_id_of,
    glossary_name,
    glossary_tsv,
    request_headers,
    translate_body,
    translations_of,
)
from crossdock_translate_deepl.languages import GLOSSARY_LANGUAGES, glossary_code, source_code, target_code

__all__ = ["DeepLTranslator"]

#: (base_url, auth_key, source, target, entries digest)
_GlossaryKey = tuple[str, str, str, str, str]


class DeepLTranslator(TranslatorBase):
    """Translates through DeepL's API v2. Reads ``auth_key`` (required), ``base_url``,
    ``formality``, ``tag_handling``, ``model_type`` and ``timeout`` from the account's
    options (:class:`~crossdock_translate_deepl.client.DeepLOptions`).

    Texts go in batches of at most 50 and 128 KiB, answers come back one per text in
    order; blank texts are answered as they are, unsent. A request with a glossary uses a
    DeepL glossary for its pair and entries: found in this process's memory, else among
    the account's glossaries (``GET /v2/glossaries``, by the name this plugin gives it),
    else created (``POST /v2/glossaries``) once.

    Every call goes through the account's guarded pool (:meth:`TranslatorAccount.http_client`);
    a ``base_url`` that pool's policy refuses is a permanent ``ChannelError`` with code
    ``URL_NOT_ALLOWED``, raised before any request.
    """

    name = "deepl"
    display_name = "DeepL"
    version = __version__
    capabilities: frozenset[str] = frozenset({TranslatorCapability.TRANSLATE})

    def __init__(self) -> None:
        self._glossaries: dict[_GlossaryKey, str] = {}

    async def translate(self, account: TranslatorAccount, request: TranslationRequest) -> Sequence[str]:
        options = DeepLOptions.of(account.options)
        try:
            account.outbound().policy.check_url(options.base_url, field="base_url")
        except UserError as exc:
            raise URLNotAllowed(f"deepl base_url: {exc.message}") from None
        source = source_code(request.source)
        target = target_code(request.target)
        texts = list(request.texts)
        if any(not isinstance(text, str) for text in texts):
            raise DeepLError("deepl: every text to translate is a string", code="REFUSED")
        out = list(texts)
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        if not wanted:
            return out
        client = account.http_client()  # the shared pool, options.timeout: never closed here
        glossary_id = None
        if request.glossary:
            glossary_id = await self._glossary(client, options, source, target, request.glossary)

        def body_of(chunk: Sequence[str]) -> Mapping[str, Any]:
            return translate_body(
                chunk,
                source=source,
                target=target,
                options=options,
                glossary_id=glossary_id,
                context=request.context,
            )

        sent = [texts[i] for i in wanted]
        planned = list(batches(sent, body_of))  # a text too long is refused before any request
        for start, end in planned:
            chunk = sent[start:end]
            response = await _call(client, "POST", options.translate_url, options, body_of(chunk))
            if response.status_code != 200:
                raise error_for(response)
            for index, text in zip(wanted[start:end], translations_of(response, len(chunk)), strict=True):
                out[index] = text
        return out

    async def _glossary(
        self,
        client: httpx.AsyncClient,
        options: DeepLOptions,
        source: str,
        target: str,
        entries: Mapping[str, str],
    ) -> str:
        pair = (glossary_code(source), glossary_code(target))
        unsupported = [code for code in pair if code not in GLOSSARY_LANGUAGES]
        if unsupported:
            raise DeepLError(
                f"deepl has no glossaries for {', '.join(unsupported)}: the glossary of "
                f"{source}>{target} cannot be kept",
                code="REFUSED",
            )
        tsv = glossary_tsv(entries)
        digest = glossary_digest(*pair, tsv)
        key: _GlossaryKey = (options.base_url, options.auth_key, *pair, digest)
        known = self._glossaries.get(key)
        if known is not None:
            return known
        name = glossary_name(*pair, digest)
        listed = await _call(client, "GET", options.glossaries_url, options)
        if listed.status_code != 200:
            raise error_for(listed)
        glossary_id = glossary_from_list(listed, name, *pair)
        if glossary_id is None:
            created = await _call(
                client, "POST", options.glossaries_url, options, glossary_body(name, *pair, tsv)
            )
            if created.status_code not in (200, 201):
                raise error_for(created)
            glossary_id = glossary_id_of(created)
        self._glossaries[key] = glossary_id
        return glossary_id


async def _call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    options: DeepLOptions,
    body: Mapping[str, Any] | None = None,
) -> httpx.Response:
    headers = request_headers(options.auth_key)
    if body is None:
        del headers["Content-Type"]
    try:
        return await client.request(
            method, url, content=None if body is None else encode(body), headers=headers
        )
    except httpx.TimeoutException as exc:
        raise DeepLError("deepl did not answer in time", code="TIMEOUT", retryable=True) from exc
    except httpx.TransportError as exc:
        raise DeepLError(f"deepl could not be reached: {exc}", code="NETWORK", retryable=True) from exc
