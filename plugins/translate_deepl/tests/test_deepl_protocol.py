"""DeepL on the wire: the exact requests the translator sends, the language codes it picks,
its glossaries, its batches, how it reads every kind of answer, what the emulator refuses,
and the plugin as the server loads it."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from crossdock_translate_deepl.client import DEEPL_API, DEEPL_API_FREE, MAX_BODY_BYTES, DeepLOptions
from crossdock_translate_deepl.emulator import DeepLEmulator, apply_glossary
from crossdock_translate_deepl.languages import source_code, target_code
from crossdock_translate_deepl.translator import DeepLTranslator

from crossdock import (
    ChannelError,
    OutboundHTTP,
    OutboundPolicy,
    TranslationRequest,
    TranslatorAccount,
    TranslatorCapability,
)
from crossdock.hookspecs import crossdock_translators
from crossdock.testing import EMULATOR_HOSTS, load_plugins
from crossdock.testing.emulator import Faults, serve

HTTP = OutboundHTTP(OutboundPolicy(EMULATOR_HOSTS))


def ask(texts: list[str] | None = None, **changes: Any) -> TranslationRequest:
    fields: dict[str, Any] = {"texts": texts or ["Blue cotton shirt"], "source": "en", "target": "de"}
    return TranslationRequest(**{**fields, **changes})


@asynccontextmanager
async def deepl(**options: Any) -> AsyncIterator[tuple[DeepLEmulator, TranslatorAccount]]:
    emulator = DeepLEmulator(Faults())
    async with serve(emulator) as base_url:
        opts = {**emulator.open_account(), "base_url": base_url, **options}
        yield emulator, TranslatorAccount(options=opts, http=HTTP)


def bodies(emulator: DeepLEmulator, path: str = "/v2/translate") -> list[Any]:
    return [json.loads(r.body) for r in emulator.log if r.path == path and r.method == "POST"]


async def test_the_request_is_deepls_translate() -> None:
    async with deepl(formality="prefer_less", tag_handling="html") as (emulator, account):
        out = await DeepLTranslator().translate(
            account, ask(["Blue cotton shirt", "Size M"], context="A product title")
        )
    assert out == ["[DE] Blue cotton shirt", "[DE] Size M"]
    (request,) = emulator.log
    assert (request.method, request.path, request.query) == ("POST", "/v2/translate", {})
    assert request.headers["authorization"] == f"DeepL-Auth-Key {account.options['auth_key']}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "text": ["Blue cotton shirt", "Size M"],
        "source_lang": "EN",
        "target_lang": "DE",
        "context": "A product title",
        "formality": "prefer_less",
        "tag_handling": "html",
    }


async def test_optional_fields_are_left_out() -> None:
    async with deepl() as (emulator, account):
        await DeepLTranslator().translate(account, ask())
    assert bodies(emulator) == [{"text": ["Blue cotton shirt"], "source_lang": "EN", "target_lang": "DE"}]


def test_options_and_the_host_a_key_chooses() -> None:
    assert DeepLOptions.of({"auth_key": "279a2e9d-83b3-c416-7e2d-f721593e42a0:fx"}).base_url == DEEPL_API_FREE
    assert DeepLOptions.of({"auth_key": " 279a2e9d-83b3-c416-7e2d-f721593e42a0 "}).base_url == DEEPL_API
    pro = DeepLOptions.of({"auth_key": "k"})
    assert (pro.auth_key, pro.translate_url, pro.glossaries_url) == (
        "k",
        "https://api.deepl.com/v2/translate",
        "https://api.deepl.com/v2/glossaries",
    )
    assert DeepLOptions.of({"auth_key": "k:fx"}).translate_url == "https://api-free.deepl.com/v2/translate"
    moved = DeepLOptions.of({"auth_key": "k:fx", "base_url": "https://deepl-proxy.example/"})
    assert moved.translate_url == "https://deepl-proxy.example/v2/translate"
    assert DeepLOptions.of({"auth_key": "k", "formality": "MORE"}).formality == "more"
    for bad in ({}, {"auth_key": ""}, {"auth_key": 7}):
        with pytest.raises(ChannelError) as caught:
            DeepLOptions.of(bad)
        assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    for wrong in (
        {"formality": "rude"},
        {"tag_handling": "markdown"},
        {"model_type": "fast"},
        {"timeout": "soon"},
    ):
        with pytest.raises(ChannelError) as caught:
            DeepLOptions.of({"auth_key": "k", **wrong})
        assert caught.value.code == "INVALID_OPTIONS"


async def test_a_free_key_is_sent_as_it_is() -> None:
    emulator = DeepLEmulator(Faults())
    async with serve(emulator) as base_url:
        options = {**emulator.open_account(free=True), "base_url": base_url}
        assert options["auth_key"].endswith(":fx")
        await DeepLTranslator().translate(TranslatorAccount(options=options, http=HTTP), ask())
    assert emulator.log[0].headers["authorization"] == f"DeepL-Auth-Key {options['auth_key']}"


async def test_loopback_and_plain_http_need_the_operators_allow_list() -> None:
    async with deepl() as (emulator, account):
        strict = replace(account, http=OutboundHTTP(OutboundPolicy()))  # nothing internal allowed
        with pytest.raises(ChannelError) as caught:
            await DeepLTranslator().translate(strict, ask(glossary={"shirt": "Hemd"}))
        assert (caught.value.code, caught.value.retryable) == ("URL_NOT_ALLOWED", False)
        assert emulator.log == [], "the refused call never left"
        assert await DeepLTranslator().translate(account, ask()) == ["[DE] Blue cotton shirt"]


# ------------------------------------------------------------ language codes


@pytest.mark.parametrize(
    ("tag", "source", "target"),
    [
        ("en", "EN", "EN-US"),
        ("en-US", "EN", "EN-US"),
        ("en-GB", "EN", "EN-GB"),
        ("en-AU", "EN", "EN-GB"),
        ("en_PR", "EN", "EN-US"),
        ("pt", "PT", "PT-BR"),
        ("pt-BR", "PT", "PT-BR"),
        ("pt-PT", "PT", "PT-PT"),
        ("pt-AO", "PT", "PT-PT"),
        ("zh", "ZH", "ZH-HANS"),
        ("zh-Hans", "ZH", "ZH-HANS"),
        ("zh-CN", "ZH", "ZH-HANS"),
        ("zh-Hant", "ZH", "ZH-HANT"),
        ("zh-TW", "ZH", "ZH-HANT"),
        ("zh-Hans-HK", "ZH", "ZH-HANS"),
        ("zh-Hant-TW", "ZH", "ZH-HANT"),
        ("es", "ES", "ES"),
        ("es-ES", "ES", "ES"),
        ("es-419", "ES", "ES-419"),
        ("es-MX", "ES", "ES-419"),
        ("de", "DE", "DE"),
        ("de-AT", "DE", "DE"),
        ("de-CH", "DE", "DE-CH"),
        ("fr-CA", "FR", "FR-CA"),
        ("fr-BE", "FR", "FR"),
        ("ja-JP", "JA", "JA"),
        ("id", "ID", "ID"),
        ("in", "ID", "ID"),
        ("no", "NB", "NB"),
        ("nb-NO", "NB", "NB"),
        ("th", "TH", "TH"),
        ("vi", "VI", "VI"),
        ("ms", "MS", "MS"),
        ("ms-MY", "MS", "MS"),
        ("fil", "TL", "TL"),
        ("yue", "YUE", "YUE"),
        ("sr-Latn-RS", "SR", "SR"),
        ("de-x-private", "DE", "DE"),
    ],
)
def test_bcp47_tags_become_deepls_codes(tag: str, source: str, target: str) -> None:
    assert (source_code(tag), target_code(tag)) == (source, target)


@pytest.mark.parametrize("tag", ["", "x", "tlh", "nn", "kl", "en--", "123", "ελ"])
def test_a_language_deepl_does_not_offer_is_refused(tag: str) -> None:
    for pick in (source_code, target_code):
        with pytest.raises(ChannelError) as caught:
            pick(tag)
        assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)


@pytest.mark.parametrize(
    ("source", "target", "sent"),
    [
        ("en-GB", "en", ("EN", "EN-US")),
        ("de", "pt", ("DE", "PT-BR")),
        ("ja", "zh-TW", ("JA", "ZH-HANT")),
        ("en", "ms", ("EN", "MS")),
    ],
)
async def test_the_codes_sent_and_the_emulator_accepts_them(
    source: str, target: str, sent: tuple[str, str]
) -> None:
    async with deepl() as (emulator, account):
        out = await DeepLTranslator().translate(account, ask(source=source, target=target))
    body = bodies(emulator)[0]
    assert (body["source_lang"], body["target_lang"]) == sent
    assert out == [f"[{sent[1]}] Blue cotton shirt"]


async def test_an_unoffered_pair_is_refused_before_any_request() -> None:
    async with deepl() as (emulator, account):
        for request in (ask(target="kl"), ask(source="tlh"), ask(target="ms", glossary={"shirt": "baju"})):
            with pytest.raises(ChannelError) as caught:
                await DeepLTranslator().translate(account, request)
            assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
        assert emulator.log == []


# ------------------------------------------------------------ glossaries


def test_glossary_terms_as_the_emulator_applies_them() -> None:
    entries = {"Acme": "Acme", "T-shirt": "T-Shirt", "cotton": "Baumwolle", "blue cotton": "Blaue Baumwolle"}
    assert apply_glossary("Acme blue cotton T-shirt", entries) == "Acme Blaue Baumwolle T-Shirt"
    assert (
        apply_glossary("COTTON, Cotton, cotton; cottonwood", entries)
        == "BAUMWOLLE, Baumwolle, Baumwolle; cottonwood"
    )
    assert apply_glossary("no terms", {}) == "no terms"


async def test_a_glossary_is_created_once_and_used() -> None:
    glossary = {"cotton": "Baumwolle", "Acme": "Acme", "size M": "Größe M"}
    translator = DeepLTranslator()
    async with deepl() as (emulator, account):
        first = await translator.translate(
            account, ask(["Acme cotton shirt", "COTTON, size M"], glossary=glossary)
        )
        second = await translator.translate(account, ask(["Cotton socks"], target="de-AT", glossary=glossary))
        (created,) = bodies(emulator, "/v2/glossaries")
        (made,) = emulator.glossaries_of(account.options["auth_key"])
        sent = bodies(emulator)
        again = await DeepLTranslator().translate(
            account, ask(["cotton"], glossary=dict(reversed(glossary.items())))
        )
        assert len(bodies(emulator, "/v2/glossaries")) == 1, (
            "another process finds it with GET /v2/glossaries"
        )
        other = await translator.translate(account, ask(["cotton"], glossary={"cotton": "Baumwollstoff"}))
        into_english = await translator.translate(
            account, ask(["Baumwolle"], source="de", target="en-GB", glossary={"Baumwolle": "cotton"})
        )
    assert first == ["[DE] Acme Baumwolle shirt", "[DE] BAUMWOLLE, Größe M"]
    assert second == ["[DE] Baumwolle socks"]
    assert again == ["[DE] Baumwolle"]
    assert other == ["[DE] Baumwollstoff"]
    assert into_english == ["[EN-GB] cotton"]
    assert created == {
        "name": created["name"],
        "source_lang": "EN",
        "target_lang": "DE",
        "entries": "Acme\tAcme\ncotton\tBaumwolle\nsize M\tGröße M",
        "entries_format": "tsv",
    }
    assert created["name"].startswith("crossdock EN>DE ")
    assert [b["glossary_id"] for b in sent] == [made.glossary_id, made.glossary_id]
    assert [(r.method, r.path) for r in emulator.log[:3]] == [
        ("GET", "/v2/glossaries"),
        ("POST", "/v2/glossaries"),
        ("POST", "/v2/translate"),
    ]
    pairs = sorted((g.source_lang, g.target_lang, len(g.entries)) for g in emulator.glossaries.values())
    assert pairs == [("DE", "EN", 1), ("EN", "DE", 1), ("EN", "DE", 3)]


@pytest.mark.parametrize(
    "entries", [{"cot\tton": "Baumwolle"}, {"cotton": "Baum\nwolle"}, {" ": "x"}, {"a": "x", " a ": "y"}]
)
async def test_a_glossary_deepl_would_refuse_is_refused_here(entries: dict[str, str]) -> None:
    async with deepl() as (emulator, account):
        with pytest.raises(ChannelError) as caught:
            await DeepLTranslator().translate(account, ask(glossary=entries))
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert emulator.log == []


# ------------------------------------------------------------ batches


async def test_batches_of_fifty_keep_the_order() -> None:
    texts = [f"item {i}" for i in range(120)]
    async with deepl() as (emulator, account):
        out = await DeepLTranslator().translate(account, ask(texts, glossary={"item": "Artikel"}))
    assert out == [f"[DE] Artikel {i}" for i in range(120)]
    assert [len(b["text"]) for b in bodies(emulator)] == [50, 50, 20]
    assert len({b["glossary_id"] for b in bodies(emulator)}) == 1


async def test_batches_fit_128_kib_and_blank_texts_stay_unsent() -> None:
    long = "ä" * 30_000  # 60 000 bytes in UTF-8
    texts = [long, "", long, "  ", long, "short"]
    async with deepl() as (emulator, account):
        out = await DeepLTranslator().translate(account, ask(texts))
        assert await DeepLTranslator().translate(account, ask(["", " "])) == ["", " "]
    assert out == [f"[DE] {long}", "", f"[DE] {long}", "  ", f"[DE] {long}", "[DE] short"]
    sent = [r.body for r in emulator.log]
    assert [len(json.loads(b)["text"]) for b in sent] == [2, 2]
    assert all(len(b) <= MAX_BODY_BYTES for b in sent)


async def test_a_text_too_large_for_any_request_is_refused() -> None:
    async with deepl() as (emulator, account):
        with pytest.raises(ChannelError) as caught:
            await DeepLTranslator().translate(account, ask(["ok", "x" * MAX_BODY_BYTES]))
    assert (caught.value.code, caught.value.retryable) == ("REFUSED", False)
    assert "text 2" in caught.value.message
    assert emulator.log == []


# ------------------------------------------------------------ answers, one by one


def canned(status: int, body: Any, headers: dict[str, str] | None = None) -> Callable[..., Any]:
    """An ASGI app answering every request the same (the answers DeepL can give)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        head = [(b"content-type", b"application/json")] + [
            (k.encode(), v.encode()) for k, v in (headers or {}).items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": raw})

    return app


async def answer(app: Callable[..., Any], request: TranslationRequest | None = None) -> Any:
    async with serve(app) as base_url:
        account = TranslatorAccount(options={"auth_key": "k", "base_url": base_url}, http=HTTP)
        return await DeepLTranslator().translate(account, request or ask())


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retryable", "retry_after"),
    [
        (403, {"message": "Wrong endpoint. Use https://api.deepl.com"}, {}, "CREDENTIALS", False, None),
        (401, b"", {}, "CREDENTIALS", False, None),
        (456, {"message": "Quota exceeded"}, {}, "QUOTA", False, None),
        (429, {"message": "Too many requests"}, {"Retry-After": "7"}, "THROTTLED", True, 7.0),
        (429, b"", {}, "THROTTLED", True, None),
        (529, b"", {}, "THROTTLED", True, None),
        (500, b"", {}, "SERVER_ERROR", True, None),
        (503, b"<html>maintenance</html>", {"Retry-After": "30"}, "SERVER_ERROR", True, 30.0),
        (400, {"message": "Value for 'target_lang' not supported."}, {}, "REFUSED", False, None),
        (413, {"message": "Request Entity Too Large"}, {}, "REFUSED", False, None),
        (404, b"not found", {}, "REFUSED", False, None),
        (200, b"{not json", {}, "MALFORMED", True, None),
        (200, {"translations": []}, {}, "MALFORMED", True, None),
        (200, {"translations": [{"detected_source_language": "EN"}]}, {}, "MALFORMED", True, None),
    ],
)
async def test_each_answer_is_its_typed_error(
    status: int, body: Any, headers: dict[str, str], code: str, retryable: bool, retry_after: float | None
) -> None:
    with pytest.raises(ChannelError) as caught:
        await answer(canned(status, body, headers))
    error = caught.value
    assert (error.code, error.retryable, error.retry_after) == (code, retryable, retry_after)
    if isinstance(body, dict) and "message" in body:
        assert body["message"] in error.message
    if status == 456:
        assert "quota" in error.message and "billing period" in error.message


async def test_a_glossary_refusal_says_deepls_detail() -> None:
    refused = {
        "message": "Invalid glossary entries provided",
        "detail": "Key with the index 1 duplicates key 0",
    }
    with pytest.raises(ChannelError) as caught:
        await answer(canned(400, refused), ask(glossary={"cotton": "Baumwolle"}))
    assert caught.value.code == "REFUSED"
    assert "Invalid glossary entries provided: Key with the index 1 duplicates key 0" in caught.value.message


async def test_a_retry_after_date_becomes_seconds() -> None:
    with pytest.raises(ChannelError) as caught:
        await answer(canned(429, b"", {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    assert caught.value.retry_after is not None and caught.value.retry_after > 3600


async def test_no_answer_at_all_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = TranslatorAccount(options={"auth_key": "k", "base_url": f"http://127.0.0.1:{port}"}, http=HTTP)
    with pytest.raises(ChannelError) as caught:
        await DeepLTranslator().translate(account, ask())
    assert (caught.value.code, caught.value.retryable) == ("NETWORK", True)


async def test_the_emulators_quota_and_faults_reach_the_translator() -> None:
    emulator = DeepLEmulator(Faults())
    async with serve(emulator) as base_url:
        options = {**emulator.open_account(character_limit=20), "base_url": base_url}
        account = TranslatorAccount(options=options, http=HTTP)
        assert await DeepLTranslator().translate(account, ask(["Blue cotton shirt"])) == [
            "[DE] Blue cotton shirt"
        ]
        with pytest.raises(ChannelError) as caught:
            await DeepLTranslator().translate(account, ask(["Blue cotton shirt"]))
        assert (caught.value.code, caught.value.retryable) == ("QUOTA", False)
        assert emulator.usage(options["auth_key"]) == (17, 20)
        for status, code in ((429, "THROTTLED"), (456, "QUOTA"), (503, "SERVER_ERROR")):
            emulator.fail_next(1, status=status, retry_after=2)
            with pytest.raises(ChannelError) as caught:
                await DeepLTranslator().translate(account, ask(["x"]))
            assert caught.value.code == code
            assert caught.value.retry_after == (None if status == 456 else 2.0)
        wrong = replace(account, options={**options, "auth_key": "someone-elses"})
        with pytest.raises(ChannelError) as caught:
            await DeepLTranslator().translate(wrong, ask())
        assert (caught.value.code, caught.value.retryable) == ("CREDENTIALS", False)
    throttled = DeepLEmulator(Faults(throttle=1.0, retry_after=0.5))
    async with serve(throttled) as base_url:
        options = {**throttled.open_account(), "base_url": base_url}
        with pytest.raises(ChannelError) as caught:
            await DeepLTranslator().translate(TranslatorAccount(options=options, http=HTTP), ask())
        assert (caught.value.code, caught.value.retryable, caught.value.retry_after) == (
            "THROTTLED",
            True,
            0.5,
        )
        assert throttled.injected["throttle"] == 1


# ------------------------------------------------------------ the emulator refuses what DeepL refuses


async def raw(
    emulator: DeepLEmulator, body: Any, *, key: str | None, method: str = "POST", path: str = "/v2/translate"
) -> tuple[int, Any]:
    async with serve(emulator) as base_url:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = key
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await HTTP.client().request(method, f"{base_url}{path}", content=content, headers=headers)
        return response.status_code, response.json()


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"key": None}, 403),
        ({"key": "DeepL-Auth-Key someone-elses"}, 403),
        ({"key": "Bearer {key}"}, 403),
        ({"raw": b"{broken"}, 400),
        ({"raw": b"[1]"}, 400),
        ({"raw": json.dumps({"text": ["x" * MAX_BODY_BYTES], "target_lang": "DE"}).encode()}, 413),
        ({"drop": "text"}, 400),
        ({"body": {"text": []}}, 400),
        ({"body": {"text": "not a list"}}, 400),
        ({"body": {"text": [1]}}, 400),
        ({"body": {"text": ["t"] * 51}}, 400),
        ({"body": {"text": ["t"] * 50}}, 200),
        ({"drop": "target_lang"}, 400),
        ({"body": {"target_lang": "XX"}}, 400),
        ({"body": {"target_lang": "de"}}, 200),
        ({"body": {"target_lang": "EN"}}, 200),  # unspecified, kept for backward compatibility
        ({"body": {"target_lang": "MS"}}, 200),
        ({"body": {"source_lang": "EN-GB"}}, 400),
        ({"body": {"source_lang": "KL"}}, 400),
        ({"drop": "source_lang"}, 200),
        ({"body": {"formality": "rude"}}, 400),
        ({"body": {"tag_handling": "markdown"}}, 400),
        ({"body": {"context": 7}}, 400),
        ({"body": {"glossary_id": "unknown"}}, 400),
        ({"glossary": ("EN", "DE"), "drop": "source_lang"}, 400),
        ({"glossary": ("EN", "FR")}, 400),
        ({"glossary": ("DE", "EN"), "body": {"source_lang": "DE", "target_lang": "EN-GB"}}, 200),
        ({"glossary": ("EN", "DE")}, 200),
    ],
)
async def test_the_emulator_refuses_translations(change: dict[str, Any], status: int) -> None:
    emulator = DeepLEmulator(Faults())
    key = emulator.open_account()["auth_key"]
    body: dict[str, Any] = {"text": ["Hello"], "source_lang": "EN", "target_lang": "DE"}
    if "glossary" in change:
        source, target = change["glossary"]
        got_status, made = await raw(
            emulator,
            {
                "name": "g",
                "source_lang": source,
                "target_lang": target,
                "entries": "a\tb",
                "entries_format": "tsv",
            },
            key=f"DeepL-Auth-Key {key}",
            path="/v2/glossaries",
        )
        assert got_status == 201, made
        body["glossary_id"] = made["glossary_id"]
    body.update(change.get("body", {}))
    body.pop(change.get("drop", ""), None)
    header = change.get("key", "DeepL-Auth-Key {key}")
    got_status, got = await raw(
        emulator, change.get("raw", body), key=None if header is None else header.format(key=key)
    )
    assert got_status == status, got
    if status == 200:
        assert len(got["translations"]) == len(body["text"])
    else:
        assert isinstance(got["message"], str) and got["message"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({}, 201),
        ({"source_lang": "en", "target_lang": "de"}, 201),
        ({"target_lang": "HE"}, 201),
        ({"name": ""}, 400),
        ({"target_lang": "MS"}, 400),  # text-only languages have no glossaries
        ({"target_lang": "EN-GB"}, 400),
        ({"entries_format": "xlsx"}, 400),
        ({"entries": "a\tb\na\tc"}, 400),
        ({"entries": "no tab here"}, 400),
        ({"entries": ""}, 400),
    ],
)
async def test_the_emulator_refuses_glossaries(change: dict[str, Any], status: int) -> None:
    emulator = DeepLEmulator(Faults())
    key = emulator.open_account()["auth_key"]
    body = {
        "name": "g",
        "source_lang": "EN",
        "target_lang": "DE",
        "entries": "a\tb\nc\td",
        "entries_format": "tsv",
    }
    got_status, got = await raw(
        emulator, {**body, **change}, key=f"DeepL-Auth-Key {key}", path="/v2/glossaries"
    )
    assert got_status == status, got
    if status == 201:
        assert got["ready"] is True and got["entry_count"] == 2
        assert set(got) == {
            "glossary_id",
            "name",
            "ready",
            "source_lang",
            "target_lang",
            "creation_time",
            "entry_count",
        }
    else:
        assert got["message"]


async def test_glossaries_belong_to_their_key() -> None:
    emulator = DeepLEmulator(Faults())
    mine, theirs = emulator.open_account()["auth_key"], emulator.open_account()["auth_key"]
    body = {"name": "g", "source_lang": "EN", "target_lang": "DE", "entries": "a\tb", "entries_format": "tsv"}
    status, made = await raw(emulator, body, key=f"DeepL-Auth-Key {mine}", path="/v2/glossaries")
    assert status == 201
    status, listed = await raw(
        emulator, b"", key=f"DeepL-Auth-Key {theirs}", method="GET", path="/v2/glossaries"
    )
    assert (status, listed) == (200, {"glossaries": []})
    status, listed = await raw(
        emulator, b"", key=f"DeepL-Auth-Key {mine}", method="GET", path="/v2/glossaries"
    )
    assert [g["glossary_id"] for g in listed["glossaries"]] == [made["glossary_id"]]
    use = {"text": ["a"], "source_lang": "EN", "target_lang": "DE", "glossary_id": made["glossary_id"]}
    assert (await raw(emulator, use, key=f"DeepL-Auth-Key {theirs}"))[0] == 400
    assert await raw(emulator, use, key=f"DeepL-Auth-Key {mine}") == (
        200,
        {"translations": [{"detected_source_language": "EN", "text": "[DE] b"}]},
    )


# ------------------------------------------------------------ the plugin, loaded as the server loads it


def test_the_plugin_registers_its_translator_and_emulator() -> None:
    plugins = load_plugins(["translate_deepl"])
    assert plugins.failures == {}
    translator = plugins.translators["deepl"]
    assert isinstance(translator, DeepLTranslator)
    assert translator.capabilities == frozenset({TranslatorCapability.TRANSLATE})
    assert plugins.emulators["deepl"] is DeepLEmulator
    assert crossdock_translators.__name__ == "crossdock_translators"
    found = [t for batch in plugins.pm.hook.crossdock_translators() for t in batch]
    assert [t.name for t in found] == ["deepl"]
    info = next(i for i in plugins.infos if i.plugin == "translate_deepl")
    assert "translate.text" in info.capabilities
