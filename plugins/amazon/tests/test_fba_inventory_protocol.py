"""Amazon FBA inventory on the wire: what ``amazon_fba`` sends (as the emulator receives
it), how each summary maps (parts Amazon leaves out included), paging by ``nextToken``,
each refusal the emulator makes as the FBA Inventory API does, and how the provider codes
Amazon's errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from crossdock_amazon.fba_inventory import PAGE_SIZE, PATH, AmazonFbaInventory, stock_line
from crossdock_amazon.fba_inventory_emulator import FbaInventoryEmulator

from crossdock import ChannelError, NotSupported, StockLine, WarehouseAccount, WarehouseCapability
from crossdock.testing import load_plugins
from crossdock.testing.emulator import Faults, Request, serve
from crossdock.testing.kit import emulator_http

US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"


def _calls(emulator: FbaInventoryEmulator, path: str = PATH) -> list[Request]:
    return [r for r in emulator.seen if r.path == path]


def _account(emulator: FbaInventoryEmulator, base_url: str, **settings: Any) -> WarehouseAccount:
    return WarehouseAccount(
        credentials=dict(emulator.open_account()),
        base_url=base_url,
        settings={"timeout": 2.0, "marketplace_id": US, **settings},
        http=emulator_http(),
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[FbaInventoryEmulator, WarehouseAccount, str]]:
    emulator = FbaInventoryEmulator()
    async with serve(emulator) as base_url:
        yield emulator, _account(emulator, base_url), base_url


async def _fails(call: Any, code: str, *, retryable: bool = False) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        await call
    assert (caught.value.code, caught.value.retryable) == (code, retryable), caught.value.message
    return caught.value


# ---------------------------------------------------------------- registration


def test_the_plugin_offers_fba_inventory_for_stock_only() -> None:
    plugins = load_plugins(["amazon"])
    system = plugins.warehouse_systems["amazon_fba"]
    assert set(system.capabilities) == {WarehouseCapability.STOCK_PULL}
    assert isinstance(system, AmazonFbaInventory)
    assert system.rate_limit.rate == 2 and system.rate_limit.burst == 2


async def test_what_fba_does_not_offer_is_not_supported() -> None:
    with pytest.raises(NotSupported):
        await AmazonFbaInventory().push_inbound(WarehouseAccount(credentials={}), None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the wire


async def test_requests_as_the_fba_inventory_api_takes_them(served: Any) -> None:
    emulator, account, _ = served
    for i in range(PAGE_SIZE * 2 + 3):
        emulator.set_stock(f"SKU-{i:03d}", i)
    lines = await AmazonFbaInventory().pull_stock(account)
    assert len(lines) == PAGE_SIZE * 2 + 3
    first, second, third = _calls(emulator)
    common = {"details": "true", "granularityType": "Marketplace", "granularityId": US, "marketplaceIds": US}
    assert first.query == common
    assert {k: v for k, v in second.query.items() if k != "nextToken"} == common
    assert second.query["nextToken"] and third.query["nextToken"] != second.query["nextToken"]
    assert all(
        r.method == "GET" and r.headers["x-amz-access-token"].startswith("Atza|") for r in (first, second)
    )
    assert all(r.headers.get("x-amz-date") for r in (first, second, third))
    [lwa] = _calls(emulator, "/auth/o2/token")
    assert b"grant_type=refresh_token" in lwa.body


async def test_the_access_token_is_kept_between_pulls(served: Any) -> None:
    emulator, account, _ = served
    provider = AmazonFbaInventory()
    emulator.set_stock("A", 1)
    await provider.pull_stock(account)
    await provider.pull_stock(account)
    assert len(_calls(emulator, "/auth/o2/token")) == 1
    assert len(_calls(emulator)) == 2


async def test_a_token_amazon_retired_early_is_replaced_once(served: Any) -> None:
    emulator, account, _ = served
    provider = AmazonFbaInventory()
    emulator.set_stock("A", 4)
    await provider.pull_stock(account)
    emulator.api.expire_tokens()  # revoked while this process still counts it as live
    assert [line.on_hand for line in await provider.pull_stock(account)] == [4]
    assert len(_calls(emulator, "/auth/o2/token")) == 2


async def test_a_missing_role_is_credentials(served: Any) -> None:
    emulator, account, _ = served
    emulator.api.deny("getInventorySummaries")  # 403 Unauthorized with nothing on the token
    error = await _fails(AmazonFbaInventory().pull_stock(account), "CREDENTIALS")
    assert "Access to requested resource is denied" in error.message
    assert len(_calls(emulator, "/auth/o2/token")) == 1, "a new token does not give a role"


async def test_a_refused_grant_is_credentials(served: Any) -> None:
    _, account, _ = served
    bad = replace(account, credentials={**account.credentials, "refresh_token": "Atzr|revoked"})
    error = await _fails(AmazonFbaInventory().pull_stock(bad), "CREDENTIALS")
    assert "invalid grant" in error.message


async def test_missing_credentials_are_credentials_before_any_request(served: Any) -> None:
    emulator, account, _ = served
    bad = replace(account, credentials={"refresh_token": "Atzr|x"})
    error = await _fails(AmazonFbaInventory().pull_stock(bad), "CREDENTIALS")
    assert "lwa_client_id" in error.message
    assert emulator.seen == []


# ---------------------------------------------------------------- mapping


async def test_every_figure_maps_and_inbound_adds_its_three_stages(served: Any) -> None:
    emulator, account, _ = served
    emulator.set_stock("A", 12, reserved=5, inbound=9, unsellable=2)
    summary = emulator.inventory[(emulator.seller_id, US)]["A"]["inventoryDetails"]
    stages = [
        summary[k] for k in ("inboundWorkingQuantity", "inboundShippedQuantity", "inboundReceivingQuantity")
    ]
    assert all(stages) and sum(stages) == 9
    assert await AmazonFbaInventory().pull_stock(account) == [
        StockLine("A", 12, reserved=5, inbound=9, unsellable=2)
    ]


async def test_summaries_with_parts_left_out(served: Any) -> None:
    emulator, account, _ = served
    emulator.set_summary("NO-DETAILS", {"sellerSku": "NO-DETAILS", "asin": "B000000001", "totalQuantity": 7})
    emulator.set_summary(
        "PARTIAL",
        {
            "sellerSku": "PARTIAL",
            "inventoryDetails": {
                "fulfillableQuantity": 3,
                "inboundShippedQuantity": 4,
                "reservedQuantity": {},
            },
        },
    )
    emulator.set_summary("NO-SKU", {"asin": "B000000002", "inventoryDetails": {"fulfillableQuantity": 1}})
    lines = await AmazonFbaInventory().pull_stock(account)
    assert sorted(lines, key=lambda line: line.sku) == [
        StockLine("NO-DETAILS", 0),
        StockLine("PARTIAL", 3, inbound=4),
    ]


def test_the_mapping_of_one_summary() -> None:
    assert stock_line({"sellerSku": "X"}) == StockLine("X", 0)
    assert stock_line({"sellerSku": ""}) is None
    assert stock_line({"sellerSku": "X", "inventoryDetails": None}) == StockLine("X", 0)
    full = {
        "sellerSku": "X",
        "inventoryDetails": {
            "fulfillableQuantity": 10,
            "inboundWorkingQuantity": 1,
            "inboundShippedQuantity": 2,
            "inboundReceivingQuantity": 3,
            "reservedQuantity": {"totalReservedQuantity": 4, "pendingCustomerOrderQuantity": 4},
            "researchingQuantity": {"totalResearchingQuantity": 9},
            "unfulfillableQuantity": {"totalUnfulfillableQuantity": 5, "defectiveQuantity": 5},
        },
    }
    assert stock_line(full) == StockLine("X", 10, reserved=4, inbound=6, unsellable=5)
    odd = {"sellerSku": "X", "inventoryDetails": {"fulfillableQuantity": "7", "inboundWorkingQuantity": -2}}
    assert stock_line(odd) == StockLine("X", 0)


async def test_pages_served_twice_or_shuffled_give_each_sku_once() -> None:
    emulator = FbaInventoryEmulator(Faults(duplicate_page=0.5, shuffle_pages=True, seed=1))
    async with serve(emulator) as base_url:
        account = _account(emulator, base_url)
        for i in range(180):
            emulator.set_stock(f"S{i:03d}", i)
        lines = await AmazonFbaInventory().pull_stock(account)
    assert emulator.injected["duplicate_page"] > 0
    assert sorted((line.sku, line.on_hand) for line in lines) == [(f"S{i:03d}", i) for i in range(180)]


async def test_pages_are_paced_at_two_a_second(served: Any) -> None:
    emulator, account, _ = served
    for i in range(PAGE_SIZE * 4):
        emulator.set_stock(f"P{i:03d}", 1)
    started = time.monotonic()
    await AmazonFbaInventory().pull_stock(account)
    # four pages: two from the burst, then one every half second
    assert len(_calls(emulator)) == 4
    assert time.monotonic() - started >= 0.9


# ---------------------------------------------------------------- settings and errors


async def test_the_marketplace_is_a_setting(served: Any) -> None:
    emulator, account, _ = served
    await _fails(AmazonFbaInventory().pull_stock(replace(account, settings={"timeout": 2.0})), "SETTINGS")
    await _fails(AmazonFbaInventory().pull_stock(replace(account, settings={"site": "XX"})), "SETTINGS")
    assert emulator.seen == []
    emulator.set_stock("A", 2)
    by_site = replace(account, settings={"timeout": 2.0, "site": "US"})
    assert [line.on_hand for line in await AmazonFbaInventory().pull_stock(by_site)] == [2]
    assert _calls(emulator)[-1].query["marketplaceIds"] == US


async def test_a_marketplace_the_seller_does_not_sell_in_is_refused_with_amazons_message(served: Any) -> None:
    _, account, _ = served
    other = replace(account, settings={**account.settings, "marketplace_id": DE})
    error = await _fails(AmazonFbaInventory().pull_stock(other), "REFUSED")
    assert "InvalidInput" in error.message and DE in error.message


async def test_another_marketplace_of_the_seller_has_its_own_stock() -> None:
    emulator = FbaInventoryEmulator(marketplace_id=DE)
    async with serve(emulator) as base_url:
        account = _account(emulator, base_url, marketplace_id=DE)
        emulator.set_stock("EU-1", 6)
        assert await AmazonFbaInventory().pull_stock(account) == [StockLine("EU-1", 6)]


async def test_throttling_without_retry_after_and_bad_json_are_retryable(served: Any) -> None:
    emulator, account, _ = served
    emulator.fail_next(1, status=429)
    error = await _fails(AmazonFbaInventory().pull_stock(account), "QuotaExceeded", retryable=True)
    assert error.retry_after is None
    emulator.faults.malformed = 1.0
    await _fails(AmazonFbaInventory().pull_stock(account), "MALFORMED", retryable=True)


async def test_an_expired_next_token_mid_pull_is_refused(served: Any) -> None:
    emulator, account, _ = served
    for i in range(PAGE_SIZE + 1):
        emulator.set_stock(f"M{i:03d}", 1)
    emulator.next_token_ttl = 0  # the first page's token dies before it is used
    error = await _fails(AmazonFbaInventory().pull_stock(account), "REFUSED")
    assert "Next token is invalid or expired" in error.message


# ---------------------------------------------------------------- the emulator's refusals


async def _raw(
    base: str, emulator: FbaInventoryEmulator, query: str, token: str | None = ""
) -> httpx.Response:
    if token == "":
        token = emulator.api.issue_token({"seller_id": emulator.seller_id})["access_token"]
    headers = {"x-amz-access-token": token} if token else {}
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(f"{base}{PATH}?{query}", headers=headers)


def _error(response: httpx.Response) -> dict[str, Any]:
    [error] = response.json()["errors"]
    assert set(error) == {"code", "message", "details"}
    return dict(error)


GOOD = f"details=true&granularityType=Marketplace&granularityId={US}&marketplaceIds={US}"


@pytest.mark.parametrize(
    "query",
    [
        f"granularityId={US}&marketplaceIds={US}",
        f"granularityType=Country&granularityId={US}&marketplaceIds={US}",
        f"granularityType=Marketplace&marketplaceIds={US}",
        f"granularityType=Marketplace&granularityId={US}",
        f"granularityType=Marketplace&granularityId={US}&marketplaceIds={US},{DE}",
        f"granularityType=Marketplace&granularityId={US}&marketplaceIds={US}&marketplaceIds={DE}",
        f"granularityType=Marketplace&granularityId={DE}&marketplaceIds={US}",
        "granularityType=Marketplace&granularityId=NOPE&marketplaceIds=NOPE",
        f"{GOOD}&details=yes".replace("details=true&", ""),
        f"{GOOD}&nextToken=made-up",
        f"{GOOD}&startDateTime=yesterday",
        f"{GOOD}&startDateTime=2001-01-01T00:00:00Z",
        f"{GOOD}&sellerSkus=" + ",".join(f"S{i}" for i in range(51)),
    ],
)
async def test_the_emulator_refuses_what_amazon_refuses(served: Any, query: str) -> None:
    emulator, _, base = served
    response = await _raw(base, emulator, query)
    assert response.status_code == 400, response.text
    assert _error(response)["code"] == "InvalidInput"


@pytest.mark.parametrize(
    ("token", "details"),
    [
        (None, "Access token is missing in the request header."),
        ("Atza|nobody", "The access token you provided is revoked, malformed or invalid."),
    ],
)
async def test_the_emulator_refuses_a_bad_access_token(served: Any, token: str | None, details: str) -> None:
    emulator, _, base = served
    response = await _raw(base, emulator, GOOD, token)
    assert response.status_code == 403
    assert _error(response) == {
        "code": "Unauthorized",
        "message": "Access to requested resource is denied.",
        "details": details,
    }


async def test_the_emulator_pages_fifty_and_binds_its_tokens(served: Any) -> None:
    emulator, _, base = served
    for i in range(PAGE_SIZE + 5):
        emulator.set_stock(f"T{i:03d}", i)
    first = await _raw(base, emulator, GOOD)
    body = first.json()
    assert first.headers["x-amzn-ratelimit-limit"] == "2"
    assert body["payload"]["granularity"] == {"granularityType": "Marketplace", "granularityId": US}
    summaries = body["payload"]["inventorySummaries"]
    assert [s["sellerSku"] for s in summaries] == [f"T{i:03d}" for i in range(PAGE_SIZE)]
    token = body["pagination"]["nextToken"]
    # a token belongs to its query: the same without details is another
    other = await _raw(base, emulator, GOOD.replace("details=true", "details=false") + f"&nextToken={token}")
    assert other.status_code == 400 and _error(other)["message"] == "Next token is invalid or expired"
    last = (await _raw(base, emulator, f"{GOOD}&nextToken={token}")).json()
    assert len(last["payload"]["inventorySummaries"]) == 5 and "pagination" not in last
    emulator.expire_next_tokens()
    again = await _raw(base, emulator, f"{GOOD}&nextToken={token}")
    assert again.status_code == 400


async def test_details_omitted_answer_the_summaries_only(served: Any) -> None:
    emulator, _, base = served
    emulator.set_stock("D1", 3, inbound=2)
    body = (await _raw(base, emulator, GOOD.replace("details=true&", ""))).json()
    [summary] = body["payload"]["inventorySummaries"]
    assert "inventoryDetails" not in summary
    assert summary["sellerSku"] == "D1" and summary["totalQuantity"] == 5


async def test_the_emulator_filters_by_sku_and_by_change(served: Any) -> None:
    emulator, _, base = served
    emulator.set_stock("F1", 1)
    emulator.set_stock("F2", 2)
    skus = (await _raw(base, emulator, f"{GOOD}&sellerSkus=F2")).json()["payload"]["inventorySummaries"]
    assert [s["sellerSku"] for s in skus] == ["F2"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = (await _raw(base, emulator, f"{GOOD}&startDateTime={later}")).json()
    assert changed["payload"]["inventorySummaries"] == []
