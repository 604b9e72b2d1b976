"""US states with a sales tax: state base rate, economic nexus threshold, marketplace rules.

Legal frame: South Dakota v. Wayfair, Inc., 585 U.S. 162 (2018) allowed states to require
remote sellers without physical presence to collect once their sales into the state pass
a threshold ("economic nexus"). Every state with a sales tax (and DC) now has economic
nexus and a marketplace facilitator law (Streamlined Sales Tax Governing Board,
"Remote Seller / Marketplace Facilitator" state guidance; Sales Tax Institute, "Economic
Nexus State by State Chart").

Per state:

* ``rate``: the STATE BASE rate in percent, no local rates (Tax Foundation convention,
  "State and Local Sales Tax Rates, 2025": CA 7.25 and UT 6.10 include their statewide
  uniform local portion, VA 5.3 its statewide 1 % local). Louisiana 5 % from 1 Jan 2025
  (HB 10 of the 2024 3rd Extraordinary Session; Louisiana Retailers Association notice
  2024-12-03).
* ``sales`` / ``transactions`` / ``any_of``: the threshold (``any_of=False``: both needed).
* ``marketplace_counts``: whether sales made through a registered marketplace facilitator
  count towards the SELLER's own threshold.
* ``verified``: the source (title + date) the threshold and marketplace flag were checked
  against via the search tool in 2026-11; ``None`` = UNCONFIRMED, taken from the
  maintainers' knowledge of state DOR guidance and to be checked before production use.

Sources cited in ``verified``:

* [HOST] handsoffsalestax.com, "Economic Nexus State Chart" (incl. marketplace column), 2025.
* [AVIOR] Avior SUT, "Economic nexus by state", last updated 2025-12-31.
* [STI] Sales Tax Institute, "Economic Nexus State by State Chart", as of 2024-10-09, and
  its note "Illinois economic nexus update: no transaction threshold" (2025-06).
* [AVL] Avalara, "States eliminating economic nexus transaction thresholds", updated 2025-07.
* [TXC] Texas Comptroller, "Remote Sellers and Marketplace FAQ" and 34 TAC 3.286.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["NO_SALES_TAX", "STATES", "StateRule"]


@dataclass(frozen=True)
class StateRule:
    rate: Decimal
    sales: Decimal
    transactions: int | None = None
    any_of: bool = True
    marketplace_counts: bool = True
    verified: str | None = None
    note: str = ""


def _s(
    rate: str,
    sales: int,
    transactions: int | None = None,
    *,
    both: bool = False,
    mp: bool = True,
    verified: str | None = None,
    note: str = "",
) -> StateRule:
    return StateRule(Decimal(rate), Decimal(sales), transactions, not both, mp, verified, note)


#: States without a statewide sales tax. Alaska has local sales taxes only (the Alaska Remote
#: Seller Sales Tax Commission's code, $100,000 threshold, applies per municipality): not
#: modelled, quoted as exempt.
NO_SALES_TAX: frozenset[str] = frozenset({"AK", "DE", "MT", "NH", "OR"})

STATES: dict[str, StateRule] = {
    "AL": _s("4", 250_000, mp=False, verified="[HOST][AVIOR][STI]", note="previous calendar year only"),
    "AZ": _s("5.6", 100_000, mp=False, verified="[HOST][AVIOR][STI]", note="TPT, not a sales tax proper"),
    "AR": _s("6.5", 100_000, 200, mp=False, verified="[HOST][AVIOR]"),
    "CA": _s("7.25", 500_000, mp=True, verified="[HOST][AVIOR]"),
    "CO": _s("2.9", 100_000, mp=False, verified="[HOST][AVIOR]"),
    "CT": _s(
        "6.35",
        100_000,
        200,
        both=True,
        mp=True,
        verified="[AVIOR] (marketplace flag UNCONFIRMED)",
        note="12-month period ending 30 September",
    ),
    "DC": _s("6", 100_000, 200, verified="[AVIOR] (marketplace flag UNCONFIRMED)"),
    "FL": _s(
        "6",
        100_000,
        mp=False,
        verified="[AVIOR] (marketplace flag UNCONFIRMED)",
        note="previous calendar year, taxable sales",
    ),
    "GA": _s("4", 100_000, 200, verified="[AVIOR] (marketplace flag UNCONFIRMED)"),
    "HI": _s("4", 100_000, 200, note="general excise tax"),
    "ID": _s("6", 100_000),
    "IL": _s(
        "6.25",
        100_000,
        mp=False,
        verified="[STI] Illinois update 2025-06 (200 transactions dropped 2026-01-01)",
    ),
    "IN": _s("7", 100_000, mp=False, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "IA": _s("6", 100_000, mp=False, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "KS": _s("6.5", 100_000),
    "KY": _s("6", 100_000, 200, mp=False),
    "LA": _s("5", 100_000, mp=False, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "ME": _s("5.5", 100_000, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "MD": _s("6", 100_000, 200),
    "MA": _s("6.25", 100_000, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "MI": _s("6", 100_000, 200, mp=False),
    "MN": _s("6.875", 100_000, 200),
    "MS": _s("7", 250_000),
    "MO": _s("4.225", 100_000, mp=False, note="previous 12 months"),
    "NE": _s("5.5", 100_000, 200),
    "NV": _s("6.85", 100_000, 200, mp=False),
    "NJ": _s("6.625", 100_000, 200),
    "NM": _s("4.875", 100_000, mp=False, note="gross receipts tax; previous calendar year"),
    "NY": _s("4", 500_000, 100, both=True, note="immediately preceding four sales-tax quarters"),
    "NC": _s(
        "4.75",
        100_000,
        mp=False,
        verified="[AVL] (transactions dropped 2024-07-01; marketplace flag UNCONFIRMED)",
    ),
    "ND": _s("5", 100_000, mp=False, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "OH": _s("5.75", 100_000, 200),
    "OK": _s("4.5", 100_000),
    "PA": _s("6", 100_000),
    "RI": _s("7", 100_000, 200),
    "SC": _s("6", 100_000),
    "SD": _s(
        "4.2", 100_000, verified="[AVL] (transactions dropped 2023-07-01; marketplace flag UNCONFIRMED)"
    ),
    "TN": _s("7", 100_000, mp=False, note="previous 12 months"),
    "TX": _s("6.25", 500_000, mp=True, verified="[TXC][STI]", note="preceding 12 calendar months"),
    "UT": _s(
        "6.1",
        100_000,
        mp=False,
        verified="[AVL] (transactions dropped 2025-07-01; marketplace flag UNCONFIRMED)",
    ),
    "VT": _s("6", 100_000, 200),
    "VA": _s("5.3", 100_000, 200),
    "WA": _s("6.5", 100_000, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "WV": _s("6", 100_000, 200, mp=False),
    "WI": _s("5", 100_000, verified="[AVL] (transactions dropped; marketplace flag UNCONFIRMED)"),
    "WY": _s("4", 100_000, verified="[AVL] (transactions dropped 2024-07-01; marketplace flag UNCONFIRMED)"),
}

assert len(STATES) == 46  # 45 states + DC
assert not set(STATES) & NO_SALES_TAX
