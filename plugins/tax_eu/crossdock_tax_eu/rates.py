"""VAT rates of the 27 EU member states, per rate class, as in force in 2026 (goods only).

Sources (checked 2026-11, via the search tool; no network at run time):

* European Commission, DG TAXUD, *Taxes in Europe Database (TEDB)* - VAT rates, as
  republished in the vatnode ``eu-vat-rates-data`` dataset (data version 2026-08-13), and
  the Commission page *VAT rates* (taxation-customs.ec.europa.eu, "VAT rates" under the VAT
  Directive) for the framework of Council Directive 2006/112/EC Art. 96-99 as amended by
  Council Directive (EU) 2022/542.
* Recent national changes, each cross-checked in at least one tax-news source:
  - Finland: standard 25.5 % from 1 Sept 2024; the 14 % rate lowered to 13.5 % from
    1 Jan 2026 (Finnish VAT Act s. 85 as amended for the 2026 budget; vatcalc.com
    "Finland cuts reduced VAT to 13.5% Jan 2026").
  - Estonia: standard 24 % from 1 July 2025; books/press 9 %, accommodation 13 % from
    1 Jan 2025 (Estonian VAT Act amendments; companyforbusiness.ee "VAT 24% from July
    2025", taxopolis.eu "VAT rate increase in Estonia by 2025").
  - Slovakia: standard 23 %, reduced 19 % and 5 % from 1 Jan 2025 (Act 278/2024
    amending Act 222/2004; Crowe SK "Approved changes ... from 1.1.2025").
  - Romania: standard 21 %, single reduced 11 % from 1 Aug 2025 (Law 141/2025, Official
    Gazette 699 of 25 July 2025; BDO Romania Tax Flash 121).
  - Czech Republic: single reduced 12 %, books zero-rated from 1 Jan 2024 (Act 349/2023;
    Sovos "Czech Republic VAT law changes").
  - Lithuania: books 9 % -> 5 %, accommodation/transport 9 % -> 12 % from 1 Jan 2026
    (easytax.co, 2025 amendment of the Lithuanian VAT Law).
  - Sweden: foodstuffs 12 % -> 6 % from 1 Apr 2026 until 31 Dec 2027 (Prop. 2025/26:55).

``classes`` maps the product classes a seller may assign (``books`` = printed books,
``food`` = foodstuffs for human consumption in general, ``children_clothing``) to the rate
the state applies to them where the state applies one rate to most of the class. A class
missing for a state means "no reduced rate for the class as a whole" and the engine falls
back to the standard rate (over- rather than under-collection). Entries listed in
``unconfirmed`` were not verified against a 2025/2026 source and are flagged in README.md.

Rates are percentages (Decimal); the engine divides by 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["EU_MEMBER_STATES", "EU_RATES", "RATES_VERSION", "MemberStateRates"]

RATES_VERSION = "2026-11 (TEDB via eu-vat-rates-data 2026-08-13 + national changes listed above)"


def _d(value: str) -> Decimal:
    return Decimal(value)


@dataclass(frozen=True)
class MemberStateRates:
    standard: Decimal
    reduced: tuple[Decimal, ...] = ()  # ascending
    super_reduced: Decimal | None = None
    parking: Decimal | None = None
    classes: Mapping[str, Decimal] = field(default_factory=dict)
    unconfirmed: frozenset[str] = frozenset()


def _r(
    standard: str,
    reduced: tuple[str, ...] = (),
    super_reduced: str | None = None,
    parking: str | None = None,
    unconfirmed: tuple[str, ...] = (),
    **classes: str,
) -> MemberStateRates:
    return MemberStateRates(
        standard=_d(standard),
        reduced=tuple(sorted(_d(r) for r in reduced)),
        super_reduced=_d(super_reduced) if super_reduced is not None else None,
        parking=_d(parking) if parking is not None else None,
        classes={k: _d(v) for k, v in classes.items()},
        unconfirmed=frozenset(unconfirmed),
    )


# ISO 3166 codes; Greece is "GR" here, its VAT numbers carry the prefix "EL".
EU_RATES: Mapping[str, MemberStateRates] = {
    "AT": _r("20", ("10", "13"), parking="13", books="10", food="10"),
    "BE": _r("21", ("6", "12"), parking="12", books="6", food="6"),
    "BG": _r("20", ("9",), books="9"),
    "HR": _r("25", ("5", "13"), books="5"),
    "CY": _r("19", ("5", "9"), books="5", unconfirmed=("books",)),
    "CZ": _r("21", ("12",), books="0", food="12"),
    "DK": _r("25"),
    "EE": _r("24", ("9", "13"), books="9"),
    "FI": _r("25.5", ("10", "13.5"), books="13.5", food="13.5"),
    "FR": _r("20", ("5.5", "10"), super_reduced="2.1", books="5.5", food="5.5"),
    "DE": _r("19", ("7",), books="7", food="7"),
    "GR": _r("24", ("6", "13"), books="6", food="13", unconfirmed=("food",)),
    "HU": _r("27", ("5", "18"), books="5"),
    "IE": _r(
        "23", ("9", "13.5"), super_reduced="4.8", parking="13.5", books="0", food="0", children_clothing="0"
    ),
    "IT": _r("22", ("5", "10"), super_reduced="4", books="4"),
    "LV": _r("21", ("5", "12"), books="12", unconfirmed=("books",)),
    "LT": _r("21", ("5", "12"), books="5"),
    "LU": _r("17", ("8",), super_reduced="3", parking="14", books="3", food="3", children_clothing="3"),
    "MT": _r("18", ("5", "7"), books="5", food="0", unconfirmed=("food",)),
    "NL": _r("21", ("9",), books="9", food="9"),
    "PL": _r("23", ("5", "8"), books="5", food="5", unconfirmed=("food",)),
    "PT": _r("23", ("6", "13"), parking="13", books="6", food="6", unconfirmed=("food",)),
    "RO": _r("21", ("11",), books="11", food="11"),
    "SK": _r("23", ("5", "19"), books="5", food="19"),
    "SI": _r("22", ("5", "9.5"), books="5", food="9.5"),
    "ES": _r("21", ("10",), super_reduced="4", books="4", food="10"),
    "SE": _r("25", ("6", "12"), books="6", food="6"),
}

EU_MEMBER_STATES: frozenset[str] = frozenset(EU_RATES)
assert len(EU_MEMBER_STATES) == 27
