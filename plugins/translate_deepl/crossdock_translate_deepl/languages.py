"""BCP 47 language tags (what :class:`crossdock.TranslationRequest` carries) to DeepL's
language codes, and which languages DeepL takes where.

The lists are DeepL's "Languages supported" table as published in the API documentation
(``DeepLcom/api-docs``, ``snippets/language-table.jsx``, read at commit 27999b39, June
2026; https://developers.deepl.com/docs/getting-started/supported-languages). DeepL adds
languages regularly ("Language release process"); a language missing here is refused
before any request, so a new one needs this table updated.

The rules (this plugin's choices where DeepL leaves them open, all in the README):

* A source language is the bare language: DeepL's source codes have no region or script
  ("EN - English (all English variants)"), so ``en-GB`` and ``en`` both send ``EN``.
* A target language picks DeepL's variant when DeepL has one: English ``EN-US`` (bare
  ``en``, ``en-US`` and the US territories) or ``EN-GB`` (every other region); Portuguese
  ``PT-BR`` (bare ``pt`` and ``pt-BR``) or ``PT-PT`` (every other region); Chinese
  ``ZH-HANT`` (script ``Hant``, or Taiwan, Hong Kong, Macao) or ``ZH-HANS`` (otherwise);
  Spanish ``ES-419`` (region ``419`` or a Latin American country) or ``ES``; ``de-CH`` /
  ``de-LI`` ``DE-CH`` and ``fr-CA`` ``FR-CA`` (both beta at DeepL). Any other region is
  dropped (``de-AT`` is ``DE``).
* Old or macro-language tags DeepL lists under another code: ``no`` is ``NB``, ``iw``
  ``HE``, ``in`` ``ID``, ``ji`` ``YI``, ``fil`` ``TL``.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossdock import ChannelError

__all__ = [
    "GLOSSARY_LANGUAGES",
    "LANGUAGES",
    "TARGET_VARIANTS",
    "Tag",
    "glossary_code",
    "parse_tag",
    "source_code",
    "target_code",
]


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Languages DeepL translates from and into, with glossary support (the table's first
#: group: "source + target + glossaries + tag handling").
_FULL = _codes(
    """
    AR BG CS DA DE EL EN ES ET FI FR HU ID IT JA KO LT LV NB NL PL PT RO RU SK SL SV TR
    UK ZH
    """
)
#: Text-only languages (both directions); of these only HE and VI take glossaries.
_TEXT_ONLY = _codes(
    """
    ACE AF AN AS AY AZ BA BE BHO BN BR BS CA CEB CKB CY EO EU FA GA GL GN GOM GU HA HE
    HI HR HT HY IG IS JV KA KK KMR KY LA LB LMO LN MAI MG MI MK ML MN MR MS MT MY NE OC
    OM PA PAG PAM PRS PS QU SA SCN SQ SR ST SU SW TA TE TG TH TK TL TN TS TT UR UZ VI WO
    XH YI YUE ZU
    """
)
#: Every bare language code DeepL takes as ``source_lang`` and as ``target_lang``.
LANGUAGES: frozenset[str] = _FULL | _TEXT_ONLY
#: Target-only variant codes.
TARGET_VARIANTS: frozenset[str] = frozenset(
    {"DE-CH", "EN-GB", "EN-US", "ES-419", "FR-CA", "PT-BR", "PT-PT", "ZH-HANS", "ZH-HANT"}
)
#: Bare languages a glossary may be made for (either side).
GLOSSARY_LANGUAGES: frozenset[str] = _FULL | {"HE", "VI"}

_ALIASES = {"no": "nb", "iw": "he", "in": "id", "ji": "yi", "fil": "tl"}
#: Regions that write American English: the United States and its territories.
_AMERICAN = frozenset({"US", "AS", "GU", "MP", "PR", "UM", "VI"})
_TRADITIONAL = frozenset({"TW", "HK", "MO"})
#: Spanish of Latin America (and of the United States), DeepL's ES-419.
_LATIN_AMERICA = _codes(
    """
    419 AR BO BZ CL CO CR CU DO EC GT HN MX NI PA PE PR PY SV US UY VE
    """
)


@dataclass(frozen=True)
class Tag:
    """The parts of a BCP 47 tag this plugin reads: the language (lower case, aliases
    resolved), the script (``Hans``) and the region (``GB``, ``419``)."""

    language: str
    script: str | None = None
    region: str | None = None


def _refuse(message: str) -> ChannelError:
    return ChannelError(f"deepl: {message}", code="REFUSED")


def parse_tag(tag: str) -> Tag:
    """Read ``tag`` (``en``, ``en-GB``, ``zh_Hant_TW``, ``es-419``); a tag that is not
    one is a permanent ``REFUSED``."""
    if not isinstance(tag, str) or not tag.strip():
        raise _refuse(f"{tag!r} is not a language tag")
    parts = tag.strip().replace("_", "-").split("-")
    language = parts[0].lower()
    well_formed = all(part.isascii() and part.isalnum() and len(part) <= 8 for part in parts)
    if not (well_formed and language.isalpha() and 2 <= len(language) <= 8):
        raise _refuse(f"{tag!r} is not a language tag")
    script = region = None
    for part in parts[1:]:
        if len(part) == 1:  # an extension or private use ("x-..."): the rest is not read
            break
        if len(part) == 4 and part.isalpha() and script is None and region is None:
            script = part.title()
        elif region is None and ((len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit())):
            region = part.upper()
    return Tag(_ALIASES.get(language, language), script, region)


def source_code(tag: str) -> str:
    """DeepL's ``source_lang`` for ``tag`` (the bare language, upper case)."""
    code = parse_tag(tag).language.upper()
    if code not in LANGUAGES:
        raise _refuse(f"DeepL does not translate from {tag!r}")
    return code


def target_code(tag: str) -> str:
    """DeepL's ``target_lang`` for ``tag``, with its variant where DeepL has one."""
    parsed = parse_tag(tag)
    code = parsed.language.upper()
    region = parsed.region
    if code == "EN":
        return "EN-US" if region is None or region in _AMERICAN else "EN-GB"
    if code == "PT":
        return "PT-BR" if region in (None, "BR") else "PT-PT"
    if code == "ZH":
        if parsed.script == "Hant" or (parsed.script is None and region in _TRADITIONAL):
            return "ZH-HANT"
        return "ZH-HANS"
    if code == "ES":
        return "ES-419" if region in _LATIN_AMERICA else "ES"
    if code == "DE" and region in ("CH", "LI"):
        return "DE-CH"
    if code == "FR" and region == "CA":
        return "FR-CA"
    if code not in LANGUAGES:
        raise _refuse(f"DeepL does not translate into {tag!r}")
    return code


def glossary_code(code: str) -> str:
    """The bare language of a DeepL code (glossaries have no variants: "Glossaries with
    target language EN can be used in translations with either English variant")."""
    return code.split("-", 1)[0].upper()
