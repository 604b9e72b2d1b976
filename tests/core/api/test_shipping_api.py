"""Logistics over GraphQL against the carriers' emulators: an order routed, rated, its
label bought once (whatever the carrier's answers do), printed, voided, shipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from crossdock import Address
from crossdock.db.models import LabelPurchase, LabelStatus
from crossdock.jobs import JOBS
from crossdock.providers import TrackingStatus
from crossdock.testing import run_job
from crossdock.testing.emulator import Faults, serve

BERLIN = Address(
    name="Erika Mustermann",
    line1="Friedrichstrasse 43",
    city="Berlin",
    postal_code="10117",
    country="DE",
    phone="+4930123456",
)
TAMPINES = Address(
    name="Tan Ah Kow",
    line1="10 Tampines Central 1",
    city="Singapore",
    postal_code="529536",
    country="SG",
    phone="+6591234567",
)

IDS = '{ variants(filter: {sku: "SKU-1"}) { nodes { id } } warehouses { nodes { id } } }'
ORDER = """query($q: String!) { orders(first: 1, filter: {search: $q}) { nodes { id status
  shipments { id status carrier trackingNumber confirmedAt packages { weightGrams trackingNumber }
    labels { status carrier service trackingNumbers cost { amount currency } reference
             decision { rule strategy chosen { service } rejected { reason } } } } } } }"""
PACK = """mutation($o: ID!, $w: ID!, $g: Int!) { shipmentPack(input: {orderId: $o, warehouseId: $w,
  packages: [{weightGrams: $g, lengthMm: 300, widthMm: 200, heightMm: 100}]}) {
  shipment { id trackingNumber } userErrors { code message } } }"""
RATES = """query($s: ID!) { shipmentRates(shipmentId: $s) { rule strategy
  chosen { carrier service price { amount currency } transitDays }
  candidates { carrier service } rejected { carrier service reason } } }"""
BUY = """mutation($s: ID!) { shipmentBuyLabel(input: {shipmentId: $s}) {
  shipment { trackingNumber carrier } label { status trackingNumbers reference }
  decision { chosen { carrier service } } userErrors { code message field } } }"""
VOID = """mutation($s: ID!) { shipmentVoidLabel(input: {shipmentId: $s}) {
  shipment { trackingNumber } label { status } userErrors { code message } } }"""
SHIP = """mutation($s: ID!) { shipmentShip(input: {id: $s}) { shipment { status } userErrors { code } } }"""


class Floor:
    """A tenant's shop floor: a Singapore warehouse with a ship-from address, SKU-1 with its
    weight and customs data, carrier accounts at the emulators and a routing rule."""

    def __init__(self, api: Any, shop: Any, app: Any) -> None:
        self.api, self.shop, self.app = api, shop, app
        self.key = shop.tenant.key

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.api.data(query, variables or {}, key=self.key)

    async def mutate(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        [payload] = (await self.data(query, variables)).values()
        assert payload["userErrors"] == [], payload
        return payload

    async def setup(self) -> Floor:
        ids = await self.data(IDS)
        self.variant = ids["variants"]["nodes"][0]["id"]
        self.warehouse = ids["warehouses"]["nodes"][0]["id"]
        await self.mutate(
            """mutation($w: ID!) { warehouseAddressSet(input: {id: $w, address: {name: "Fan Co",
            line1: "10 Anson Road", city: "Singapore", postal_code: "079903", country: "SG",
            phone: "+6561234567"}}) { warehouse { address } userErrors { code } } }""",
            {"w": self.warehouse},
        )
        await self.mutate(
            """mutation($w: ID!) { warehouseUpdate(input: {id: $w, servesCountries: ["SG", "MY", "DE", "FR", "US"]})
            { warehouse { id } userErrors { code } } }""",
            {"w": self.warehouse},
        )
        await self.mutate(
            """mutation($v: ID!) { variantShippingSet(input: {id: $v, lengthMm: 300, widthMm: 200,
            heightMm: 100, hsCode: "8414.51", originCountry: "CN", customsDescription: "Desk fan"})
            { variant { hsCode } userErrors { code } } }""",
            {"v": self.variant},
        )
        await self.mutate(
            "mutation($v: ID!) { variantUpdate(input: {id: $v, weightGrams: 900}) { variant { id } userErrors { code } } }",
            {"v": self.variant},
        )
        return self

    async def account(
        self,
        carrier: str,
        name: str,
        base_url: str,
        credentials: dict[str, Any],
        settings: dict[str, Any] | None = None,
    ) -> str:
        payload = await self.mutate(
            """mutation($i: CarrierAccountCreateInput!) { carrierAccountCreate(input: $i) {
            carrierAccount { id carrier } userErrors { code message } } }""",
            {
                "i": {
                    "carrier": carrier,
                    "name": name,
                    "credentials": credentials,
                    "baseUrl": base_url,
                    "settings": {"timeout": 0.5, **(settings or {})},
                }
            },
        )
        return str(payload["carrierAccount"]["id"])

    async def rule(self, name: str, services: list[dict[str, Any]], **conditions: Any) -> str:
        payload = await self.mutate(
            """mutation($i: RoutingRuleInput!) { routingRuleSet(input: $i) { routingRule { id }
            userErrors { code message field } } }""",
            {"i": {"name": name, "priority": 10, "conditions": conditions, "services": services}},
        )
        return str(payload["routingRule"]["id"])

    async def packed(self, external_id: str, address: Address, grams: int = 900) -> str:
        await self.shop.ingest(
            self.shop.market.add_order(
                external_id, address=address, total="59.80", buyer=f"buyer {external_id}"
            )
        )
        order = await self.order(external_id)
        payload = await self.mutate(PACK, {"o": order["id"], "w": self.warehouse, "g": grams})
        return str(payload["shipment"]["id"])

    async def order(self, external_id: str) -> dict[str, Any]:
        nodes = (await self.data(ORDER, {"q": external_id}))["orders"]["nodes"]
        return dict(nodes[0])

    async def buy(self, shipment: str) -> dict[str, Any]:
        [payload] = (await self.data(BUY, {"s": shipment})).values()
        return dict(payload)


@asynccontextmanager
async def carriers(app: Any) -> AsyncIterator[dict[str, Any]]:
    """The DHL Express and Ninja Van emulators on loopback, by name: (emulator, base URL)."""
    dhl = app.plugins.emulators["dhl_express"](Faults())
    ninja = app.plugins.emulators["ninjavan"](Faults())
    async with serve(dhl) as dhl_url, serve(ninja) as ninja_url:
        yield {"dhl": (dhl, dhl_url), "ninja": (ninja, ninja_url)}


async def _purchases(shop: Any) -> list[LabelPurchase]:
    async with shop.read() as session:
        return list((await session.scalars(select(LabelPurchase).order_by(LabelPurchase.id))).all())


async def test_an_order_is_routed_rated_labelled_and_shipped(
    api: Any, shop: Any, app: Any, testmarket: Any
) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        ninja, ninja_url = c["ninja"]
        dhl_account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        ninja_account = await floor.account(
            "ninjavan",
            "Ninja",
            ninja_url,
            dict(ninja.open_account()),
            {
                "services": [
                    {
                        "service": "standard",
                        "currency": "SGD",
                        "base": "3.50",
                        "per_kg": "1.20",
                        "transit_days": 2,
                    }
                ]
            },
        )
        await floor.rule("Singapore", [{"carrierAccountId": ninja_account}], countries=["SG"])
        await floor.rule(
            "Abroad", [{"carrierAccountId": dhl_account}], countries=["DE", "FR"], max_transit_days=10
        )

        abroad = await floor.packed("L-1", BERLIN)
        rates = (await floor.data(RATES, {"s": abroad}))["shipmentRates"]
        assert rates["rule"] == "Abroad"
        assert rates["chosen"]["carrier"] == "dhl_express"
        assert {r["carrier"] for r in rates["candidates"]} == {"dhl_express"}
        assert all(float(r["chosen"]["price"]["amount"]) > 0 for r in [rates])

        bought = await floor.buy(abroad)
        assert bought["userErrors"] == []
        assert bought["label"]["status"] == "PURCHASED"
        number = bought["label"]["trackingNumbers"][0]
        assert bought["shipment"]["trackingNumber"] == number
        assert dhl.labels_bought(bought["label"]["reference"]) == 1
        order = await floor.order("L-1")
        [shipment] = order["shipments"]
        assert shipment["packages"] == [{"weightGrams": 900, "trackingNumber": number}]
        assert shipment["labels"][0]["decision"]["rule"] == "Abroad"

        again = await floor.buy(abroad)  # a second purchase is refused, not made
        assert [e["code"] for e in again["userErrors"]] == ["LABEL_EXISTS"]
        assert dhl.labels_bought(bought["label"]["reference"]) == 1

        home = await floor.packed("L-2", TAMPINES)
        home_rates = (await floor.data(RATES, {"s": home}))["shipmentRates"]
        assert home_rates["chosen"] == {
            "carrier": "ninjavan",
            "service": "standard",
            "price": {"amount": "4.58", "currency": "SGD"},
            "transitDays": 2,
        }
        home_label = await floor.buy(home)
        assert home_label["userErrors"] == []
        assert ninja.labels_bought(home_label["label"]["reference"]) == 1

        await floor.mutate(SHIP, {"s": abroad})
        await run_job(app, "confirm_shipment", tenant_id=shop.tenant.id, shipment_id=int(_pk(abroad)))
        [confirmation] = testmarket.market.confirmations
        assert confirmation.tracking_number == number
        assert confirmation.carrier == "DHL Express"
        assert "label_resume" in JOBS


def _pk(global_id: str) -> int:
    from crossdock.api.schema.relay import decode_id

    return decode_id(global_id)[1]


async def test_void_before_hand_over_and_not_after(api: Any, shop: Any, app: Any) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        await floor.rule("All", [{"carrierAccountId": account}])
        shipment = await floor.packed("V-1", BERLIN)
        first = await floor.buy(shipment)
        [voided] = (await floor.data(VOID, {"s": shipment})).values()
        assert voided["userErrors"] == []
        assert voided["label"]["status"] == "VOIDED"
        assert voided["shipment"]["trackingNumber"] is None
        assert dhl.labels_bought(first["label"]["reference"]) == 0

        second = await floor.buy(shipment)
        assert second["userErrors"] == []
        dhl.scan(second["label"]["trackingNumbers"][0], TrackingStatus.PICKED_UP)  # handed over
        [refused] = (await floor.data(VOID, {"s": shipment})).values()
        assert [e["code"] for e in refused["userErrors"]] == ["HANDED_OVER"]
        assert dhl.labels_bought(second["label"]["reference"]) == 1
        await floor.mutate(SHIP, {"s": shipment})
        [after_ship] = (await floor.data(VOID, {"s": shipment})).values()
        assert [e["code"] for e in after_ship["userErrors"]] == ["HANDED_OVER"]


async def test_a_carrier_refusal_carries_its_message_and_buys_nothing(api: Any, shop: Any, app: Any) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        ninja, ninja_url = c["ninja"]
        dhl_account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        card = {"services": [{"service": "standard", "currency": "SGD", "base": "3.50", "per_kg": "1.20"}]}
        ninja_account = await floor.account("ninjavan", "Ninja", ninja_url, dict(ninja.open_account()), card)
        await floor.rule("Singapore", [{"carrierAccountId": ninja_account}], countries=["SG"])
        await floor.rule("Abroad", [{"carrierAccountId": dhl_account}])

        heavy = await floor.packed("R-1", BERLIN, grams=350_000)  # DHL Express carries up to 300 kg
        [error] = (await floor.buy(heavy))["userErrors"]
        assert error["code"] == "CARRIER_REFUSED"
        assert error["message"].startswith("DHL: ")
        assert await _purchases(shop) == []  # refused when quoting: nothing was even tried

        bulky = await floor.packed("R-2", TAMPINES, grams=35_000)  # priced by the card, refused when bought
        [error] = (await floor.buy(bulky))["userErrors"]
        assert error["code"] == "CARRIER_REFUSED"
        assert error["message"].startswith("Ninja Van: ")
        [purchase] = await _purchases(shop)
        assert purchase.status == LabelStatus.FAILED
        assert ninja.labels_bought(purchase.reference) == 0


async def test_no_rule_no_route(api: Any, shop: Any, app: Any) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        await floor.rule("Europe", [{"carrierAccountId": account}], countries=["FR"])
        shipment = await floor.packed("N-1", BERLIN)
        [error] = (await floor.buy(shipment))["userErrors"]
        assert error["code"] == "NO_ROUTE"
        assert "rule 'Europe': destination DE not in ['FR']" in error["message"]
        assert await _purchases(shop) == []


async def test_lost_answers_leave_the_purchase_open_and_it_is_resumed_once(
    api: Any, shop: Any, app: Any
) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        account = await floor.account(
            "dhl_express", "DHL", dhl_url, dict(dhl.open_account()), {"timeout": 0.3}
        )
        await floor.rule("All", [{"carrierAccountId": account}])
        shipment = await floor.packed("T-1", BERLIN)
        service = (await floor.data(RATES, {"s": shipment}))["shipmentRates"]["chosen"]["service"]
        dhl.faults = Faults(lost_answer=1.0, timeout_seconds=0.6)  # from now on every answer is lost
        [payload] = (
            await floor.data(
                "mutation($s: ID!, $a: ID!, $v: String!) { shipmentBuyLabel(input: {shipmentId: $s, carrierAccountId: $a, service: $v}) { userErrors { code message } } }",
                {"s": shipment, "a": account, "v": service},
            )
        ).values()
        [error] = payload["userErrors"]
        assert error["code"] == "CARRIER_UNAVAILABLE"
        [purchase] = await _purchases(shop)
        assert purchase.status == LabelStatus.PURCHASING
        assert dhl.labels_bought(purchase.reference) == 1  # the carrier did sell it
        dhl.faults = Faults()
        await run_job(app, "label_resume", tenant_id=shop.tenant.id, purchase_id=purchase.id)
        [purchase] = await _purchases(shop)
        assert purchase.status == LabelStatus.PURCHASED
        assert dhl.labels_bought(purchase.reference) == 1
        order = await floor.order("T-1")
        assert order["shipments"][0]["trackingNumber"] == purchase.tracking_numbers[0]


async def test_documents_that_could_not_be_stored_are_fetched_again(
    api: Any, shop: Any, app: Any, tmp_path: Any
) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        await floor.rule("All", [{"carrierAccountId": account}])
        shipment = await floor.packed("S-1", BERLIN)
        root = app.storage.root
        blocker = root.parent / f"{root.name}-blocked"
        root.rename(blocker) if root.exists() else None
        root.write_text("not a folder")  # the storage cannot write: a real OSError
        try:
            [error] = (await floor.buy(shipment))["userErrors"]
        finally:
            root.unlink()
            blocker.rename(root) if blocker.exists() else root.mkdir(parents=True, exist_ok=True)
        assert error["code"] == "DOCUMENTS_PENDING"
        [purchase] = await _purchases(shop)
        assert purchase.status == LabelStatus.PURCHASING
        assert purchase.tracking_numbers  # the numbers were kept the moment the carrier answered
        await run_job(app, "label_resume", tenant_id=shop.tenant.id, purchase_id=purchase.id)
        [purchase] = await _purchases(shop)
        assert purchase.status == LabelStatus.PURCHASED
        assert dhl.labels_bought(purchase.reference) == 1


async def test_a_refusal_when_bought_tries_the_rules_next_choice(api: Any, shop: Any, app: Any) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        ninja, ninja_url = c["ninja"]
        dhl_account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        card = {"services": [{"service": "standard", "currency": "SGD", "base": "3.50", "per_kg": "0.10"}]}
        ninja_account = await floor.account("ninjavan", "Ninja", ninja_url, dict(ninja.open_account()), card)
        await floor.rule(
            "Singapore",
            [{"carrierAccountId": ninja_account}, {"carrierAccountId": dhl_account}],
            countries=["SG"],
        )
        bulky = await floor.packed(
            "F-1", TAMPINES, grams=35_000
        )  # Ninja Van's card is cheapest, but it carries 30 kg
        bought = await floor.buy(bulky)
        assert bought["userErrors"] == []
        assert bought["decision"]["chosen"]["carrier"] == "dhl_express"
        refused, done = await _purchases(shop)
        assert (refused.carrier, refused.status) == ("ninjavan", LabelStatus.FAILED)
        assert (done.carrier, done.status) == ("dhl_express", LabelStatus.PURCHASED)
        assert ninja.labels_bought(refused.reference) == 0
        assert dhl.labels_bought(done.reference) == 1
        reasons = [
            r["reason"]
            for r in (await floor.order("F-1"))["shipments"][0]["labels"][-1]["decision"]["rejected"]
        ]
        assert any(r.startswith("refused when bought: Ninja Van: ") for r in reasons), reasons


async def test_an_order_is_rated_before_it_is_packed(api: Any, shop: Any, app: Any) -> None:
    floor = await Floor(api, shop, app).setup()
    async with carriers(app) as c:
        dhl, dhl_url = c["dhl"]
        account = await floor.account("dhl_express", "DHL", dhl_url, dict(dhl.open_account()))
        await floor.rule("Abroad", [{"carrierAccountId": account}], countries=["DE"])
        await shop.ingest(shop.market.add_order("Q-1", address=BERLIN, total="59.80", buyer="buyer Q-1"))
        order = await floor.order("Q-1")
        query = "query($o: ID!, $w: ID!) { orderRates(orderId: $o, warehouseId: $w) { rule chosen { carrier service } candidates { service } } }"
        before = (await floor.data(query, {"o": order["id"], "w": floor.warehouse}))["orderRates"]
        assert before["rule"] == "Abroad"
        assert before["chosen"]["carrier"] == "dhl_express"
        payload = await floor.mutate(PACK, {"o": order["id"], "w": floor.warehouse, "g": 900})
        after = (await floor.data(RATES, {"s": payload["shipment"]["id"]}))["shipmentRates"]
        assert after["chosen"]["service"] == before["chosen"]["service"]  # the same parcel, 900 g
        answer = (await api.raw(query, {"o": order["id"], "w": floor.warehouse}, key=floor.key)).json()
        assert answer["errors"][0]["extensions"]["code"] == "INVALID_STATE"  # nothing left to pack there
