"""The compliance-rule engine region plugins declare their rules on (crossdock.ComplianceRules).

The rules below are written for these tests; their figures follow real ones so the cases
read naturally: Directive 2014/40/EU Art. 20(3)(a) (nicotine refill containers of at most
10 ml), Cal. Health & Safety Code s. 25249.6 (Proposition 65 warnings), Criminal Justice Act
1988 s. 141A (knives and under-18s).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crossdock import (
    Address,
    ChannelOrder,
    ChannelOrderLine,
    CheckKind,
    ComplianceReason,
    ComplianceRule,
    ComplianceRules,
    Money,
    QuantityLimit,
    QuantityUnit,
    hookimpl,
)
from crossdock.testing import load_plugins

REFILL = ComplianceRule(
    id="eu-refill",
    where=frozenset({"DE", "FR", "GR"}),
    reason=ComplianceReason.PROHIBITED_ITEM,
    message="nicotine refill containers above 10 ml may not be sold",
    source="Directive 2014/40/EU Art. 20(3)(a)",
    keywords=("e-liquid", "nicotine"),
    unless=("nicotine-free", "0mg"),
    limit=QuantityLimit(QuantityUnit.ML, Decimal(10)),
)
PROP65 = ComplianceRule(
    id="ca-prop65",
    where=frozenset({"US-CA"}),
    reason=ComplianceReason.NEEDS_WARNING,
    message="needs a Proposition 65 warning",
    source="Cal. Health & Safety Code s. 25249.6",
    keywords=("brass", "lead"),
    checks=frozenset({CheckKind.LISTING}),
)
FLAVOURS = ComplianceRule(
    id="ma-flavours",
    where=frozenset({"US-MA", "US-NY"}),
    reason=ComplianceReason.PROHIBITED_ITEM,
    listing_reason=ComplianceReason.RESTRICTED_ITEM,
    message="flavoured vapes may not be sold here",
    source="MA St. 2019 c. 133",
    keywords=("vape", "pods"),
    also=("mint", "mango"),
)
KNIVES = ComplianceRule(
    id="gb-knives",
    where=frozenset({"GB"}),
    reason=ComplianceReason.RESTRICTED_ITEM,
    message="bladed article: age verification on delivery",
    source="Criminal Justice Act 1988 s. 141A",
    keywords=("knife",),
    categories=("knives",),
)
RULES = ComplianceRules(rules=(REFILL, PROP65, FLAVOURS, KNIVES), aliases={"EL": "GR", "UK": "GB"})


def line_holds(title: str, country: str, region: str | None = None) -> list[tuple[str, str]]:
    return [f.pair() for f in RULES.check_order_line(title=title, sku="S1", country=country, region=region)]


def reasons(found: list[tuple[str, str]]) -> list[str]:
    return [reason for reason, _ in found]


def test_a_matching_order_line_is_held_with_where_and_the_legal_source() -> None:
    [(reason, message)] = line_holds("Strawberry e-liquid 50ml 6mg", "FR")
    assert reason == "prohibited_item"
    assert message == (
        "S1 to FR: nicotine refill containers above 10 ml may not be sold [Directive 2014/40/EU Art. 20(3)(a)]"
    )


def test_near_misses_do_not_fire() -> None:
    assert line_holds("Strawberry e-liquids sampler 50ml", "FR") == []  # not the whole word
    assert line_holds("Nicotine-free e-liquid 50ml", "FR") == []  # an `unless` word
    assert line_holds("Strawberry e-liquid, bottle of fifty", "FR") == []  # no quantity named
    assert line_holds("Strawberry e-liquid 50 mg/ml", "FR") == []  # a quantity in another unit
    assert line_holds("Penknife", "GB") == []  # "knife" inside another word


def test_limit_boundary_is_strictly_above() -> None:
    assert line_holds("Menthol e-liquid 10ml", "DE") == []
    assert line_holds("Menthol e-liquid 10 ml", "DE") == []
    assert reasons(line_holds("Menthol e-liquid 10.5ml", "DE")) == ["prohibited_item"]
    assert reasons(line_holds("Menthol e-liquid 10,1 ML", "DE")) == ["prohibited_item"]


def test_a_country_not_covered_gets_nothing() -> None:
    assert line_holds("Strawberry e-liquid 50ml", "US", "CA") == []
    assert line_holds("Strawberry e-liquid 50ml", "") == []
    assert RULES.listing_problems({"title": "Strawberry e-liquid 50ml"}, "IT") == []
    assert RULES.listing_problems({"title": "Brass faucet"}, None) == []


def test_aliases_name_the_country_the_rules_use() -> None:
    [(_, message)] = line_holds("E-liquid 20ml", "el")
    assert message.startswith("S1 to GR:")
    assert reasons(line_holds("Chef's knife", "UK")) == ["restricted_item"]


def test_subdivision_rules_judge_orders_by_region() -> None:
    assert reasons(line_holds("Mango vape pods", "US", "MA")) == ["prohibited_item"]
    assert reasons(line_holds("Mango vape pods", "US", "US-NY")) == ["prohibited_item"]
    assert line_holds("Mango vape pods", "US", "TX") == []
    assert line_holds("Mango vape pods", "US") == []  # no state: the state rule cannot apply
    assert line_holds("Tobacco vape pods", "US", "MA") == []  # `also` needs a flavour word


def test_listings_get_every_rule_for_the_country_or_one_of_its_states() -> None:
    found = RULES.check_listing({"title": "Mango vape pods", "brand": "Brass Monkey"}, "US")
    assert {(f.rule.id, f.reason, f.where) for f in found} == {
        ("ca-prop65", ComplianceReason.NEEDS_WARNING, "US-CA"),
        # banned on orders to these states, restricted on a listing offered in all of them
        ("ma-flavours", ComplianceReason.RESTRICTED_ITEM, "US-MA, US-NY"),
    }
    assert all(f.message.startswith(f"{f.where}: ") for f in found)


def test_listing_only_rules_never_hold_orders_and_categories_count_on_listings() -> None:
    assert line_holds("Brass faucet", "US", "CA") == []
    assert reasons(RULES.listing_problems({"title": "Brass faucet"}, "US")) == ["needs_warning"]
    # a category word alone fires; orders carry no category
    listing = {"title": "Santoku 18cm", "category": "Kitchen > Knives", "options": {"size": "18cm"}}
    assert reasons(RULES.listing_problems(listing, "GB")) == ["restricted_item"]
    assert line_holds("Santoku 18cm", "GB") == []


def test_order_holds_read_the_shipping_address() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def order(address: Address | None) -> ChannelOrder:
        line = ChannelOrderLine(
            external_id="1", sku="V1", quantity=1, unit_price=Money.of("9", "USD"), title="Mint vape pods"
        )
        return ChannelOrder(
            external_id="o",
            status="pending",
            channel_status="new",
            placed_at=now,
            updated_at=now,
            total=Money.of("9", "USD"),
            lines=[line],
            shipping_address=address,
        )

    [(reason, message)] = RULES.order_holds(order(Address(country="US", region="NY")))
    assert (reason, message.split(":")[0]) == ("prohibited_item", "V1 to US-NY")
    assert RULES.order_holds(order(None)) == []
    assert RULES.order_holds(order(Address(country="US", region="NJ"))) == []


def test_rules_answer_the_policy_hooks_through_the_plugin_manager() -> None:
    class RegionPlugin:
        @hookimpl
        def crossdock_listing_checks(
            self, listing: dict[str, object], connection: dict[str, object]
        ) -> list[tuple[str, str]]:
            return RULES.listing_problems(listing, connection.get("country"))

    plugins = load_plugins(allow=[], extra=[("region", RegionPlugin())])
    found = plugins.listing_checks(
        tenant="t",
        listing={"sku": "K", "title": "Chef's knife"},
        connection={"id": 1, "channel": "ebay", "site": "UK", "country": "GB", "currency": "GBP"},
    )
    assert found == [
        (
            "restricted_item",
            "GB: bladed article: age verification on delivery [Criminal Justice Act 1988 s. 141A]",
        )
    ]


def test_a_rule_must_cite_its_source_and_say_what_it_matches() -> None:
    with pytest.raises(ValueError, match="its legal source"):
        ComplianceRule(
            id="x",
            where=frozenset({"FR"}),
            reason=ComplianceReason.PROHIBITED_ITEM,
            message="m",
            source="",
            keywords=("x",),
        )
    with pytest.raises(ValueError, match="keywords or categories"):
        ComplianceRule(
            id="x", where=frozenset({"FR"}), reason=ComplianceReason.PROHIBITED_ITEM, message="m", source="s"
        )
    with pytest.raises(ValueError, match="should be a tuple"):
        ComplianceRule(
            id="x",
            where=frozenset({"FR"}),
            reason=ComplianceReason.PROHIBITED_ITEM,
            message="m",
            source="s",
            keywords="knife",  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="ISO 3166"):
        ComplianceRule(
            id="x",
            where=frozenset({"France"}),
            reason=ComplianceReason.PROHIBITED_ITEM,
            message="m",
            source="s",
            keywords=("x",),
        )
    with pytest.raises(ValueError, match="'tea'"):
        ComplianceRule(
            id="x",
            where=frozenset({"FR"}),
            reason="tea",  # type: ignore[arg-type]
            message="m",
            source="s",
            keywords=("x",),
        )
    with pytest.raises(ValueError, match="declared twice"):
        ComplianceRules(rules=(KNIVES, KNIVES))


def test_reasons_and_kinds_are_closed_sets() -> None:
    assert {r.value for r in ComplianceReason} == {
        "prohibited_item",
        "restricted_item",
        "needs_certificate",
        "needs_warning",
    }
    assert {k.value for k in CheckKind} == {"order", "listing"}
    assert KNIVES.fires("Chef's KNIFE") and not KNIVES.fires("butter spreader", category="Cutlery")
    assert KNIVES.fires("butter spreader", category="Knives")
