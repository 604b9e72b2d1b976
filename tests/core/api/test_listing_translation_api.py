"""Listing content translated over GraphQL: attribute values by the tenant's glossary, the
text by the configured engine (the DeepL plugin against its emulator) with the glossary
passed along, every translated field ``MACHINE`` until a person reviews it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from crossdock.api.schema.relay import encode_id
from crossdock.config import Settings
from crossdock.testing import load_plugins
from crossdock.testing.emulator import Faults, serve


@pytest_asyncio.fixture
async def deepl() -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    factory = load_plugins(["translate_deepl"]).emulators["deepl"]
    emulator = factory(Faults())
    async with serve(emulator) as url:
        yield emulator, {**emulator.open_account(), "base_url": url, "timeout": 5}


@pytest.fixture
def settings(settings: Settings, deepl: tuple[Any, dict[str, Any]]) -> Settings:
    return dataclasses.replace(settings, translator="deepl", translator_options=deepl[1])


SAVE = """mutation($v: ID!, $c: ID!) { listingContentSave(input: {variantId: $v, connectionId: $c, language: "en",
  title: "Desk fan, white", bullets: ["Three speeds"], description: "A quiet white fan.", keywords: ["fan"],
  categoryId: "fans", attributes: {colour: "White", blades: 5}}) { listingContent { id } userErrors { code } } }"""
TRANSLATE = """mutation($id: ID!, $lang: String!) { listingContentTranslate(input: {id: $id, targetLanguage: $lang}) {
  listingContent { id language title bullets description keywords attributes categoryId updatedBy
    fieldStatus { field status } }
  userErrors { code field message } } }"""


async def test_content_is_translated_with_the_glossary_and_reviewed(api: Any, shop: Any) -> None:
    key = shop.tenant.key
    settings = await api.data(
        'mutation { tenantSettingsUpdate(input: {glossary: {de: {white: "weiß", fan: "Ventilator"}}}) '
        "{ settings { glossary } userErrors { code field } } }",
        key=key,
    )
    assert settings["tenantSettingsUpdate"]["userErrors"] == []
    ids = {
        "v": encode_id("Variant", shop.variants["SKU-1"]),
        "c": encode_id("ChannelConnection", shop.connections["sg"]),
    }
    source = (await api.data(SAVE, ids, key=key))["listingContentSave"]["listingContent"]["id"]

    done = (await api.data(TRANSLATE, {"id": source, "lang": "de"}, key=key))["listingContentTranslate"]
    assert done["userErrors"] == []
    german = done["listingContent"]
    assert german["id"] != source and german["language"] == "de"
    # the emulator marks its output [DE] and puts the glossary's terms in, whole words
    assert german["title"] == "[DE] Desk Ventilator, weiß"
    assert german["bullets"] == ["[DE] Three speeds"]
    assert german["description"] == "[DE] A quiet weiß Ventilator."
    assert german["attributes"] == {"colour": "weiß", "blades": 5}  # values by the glossary
    assert german["categoryId"] == "fans" and german["updatedBy"]
    status = {f["field"]: f["status"] for f in german["fieldStatus"]}
    assert status["title"] == status["description"] == status["attributes"] == "MACHINE"

    reviewed = await api.data(
        'mutation($id: ID!) { listingContentReview(input: {id: $id, fields: ["title"]}) '
        "{ listingContent { version fieldStatus { field status } } userErrors { code } } }",
        {"id": german["id"]},
        key=key,
    )
    after = {
        f["field"]: f["status"] for f in reviewed["listingContentReview"]["listingContent"]["fieldStatus"]
    }
    assert after["title"] == "REVIEWED" and after["description"] == "MACHINE"

    same = (await api.data(TRANSLATE, {"id": source, "lang": "en"}, key=key))["listingContentTranslate"]
    assert same["userErrors"][0]["code"] == "INVALID"
    unknown = (await api.data(TRANSLATE, {"id": source, "lang": "tlh"}, key=key))["listingContentTranslate"]
    assert unknown["userErrors"][0]["code"] == "TRANSLATOR_ERROR"  # DeepL has no Klingon
    assert unknown["listingContent"] is None


async def test_an_engine_failing_changes_nothing(
    api: Any, shop: Any, deepl: tuple[Any, dict[str, Any]]
) -> None:
    key = shop.tenant.key
    ids = {
        "v": encode_id("Variant", shop.variants["SKU-1"]),
        "c": encode_id("ChannelConnection", shop.connections["sg"]),
    }
    source = (await api.data(SAVE, ids, key=key))["listingContentSave"]["listingContent"]["id"]
    deepl[0].fail_next(1, status=503)
    failed = (await api.data(TRANSLATE, {"id": source, "lang": "fr"}, key=key))["listingContentTranslate"]
    assert failed["userErrors"][0]["code"] == "TRANSLATOR_ERROR"
    listed = await api.data('{ listingContents(filter: {language: "fr"}) { nodes { id } } }', key=key)
    assert listed["listingContents"]["nodes"] == []
