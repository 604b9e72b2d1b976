"""Entry point of the translate_deepl plugin: registers the DeepL translator and its emulator."""

from __future__ import annotations

from crossdock import Translator, hookimpl
from crossdock_translate_deepl.translator import DeepLTranslator


@hookimpl
def crossdock_translators() -> list[Translator]:
    return [DeepLTranslator()]


@hookimpl
def crossdock_emulators() -> list[type]:
    from crossdock_translate_deepl.emulator import DeepLEmulator

    return [DeepLEmulator]
