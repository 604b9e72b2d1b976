"""TikTok Shop's wire protocol: the client against the emulator over real HTTP (signing,
envelope and error mapping, tokens, shop_cipher, page_token pagination)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from crossdock_tiktok.client import TikTokShopClient
from crossdock_tiktok.emulator import TikTokShopSellerEmulator

from crossdock import ChannelError
from crossdock.testing.emulator import Faults, serve

SHOPS = "/authorization/202309/shops"
SEARCH = "/order/202309/orders/search"


@pytest.fixture
async def emulator() -> Any:
    emu = TikTokShopSellerEmulator()
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        yield emu


def _client(emu: Any, http: httpx.AsyncClient, **kwargs: Any) -> TikTokShopClient:
    return TikTokShopClient(
        kwargs.pop("app_key", emu.app_key),
        kwargs.pop("app_secret", emu.app_secret),
        base_url=emu.base,
        http=http,
        **kwargs,
    )


async def _cipher(client: TikTokShopClient, token: str) -> str:
    data = await client.call("GET", SHOPS, operation="authorization.shops", access_token=token)
    [shop] = data["shops"]
    return str(shop["cipher"])


async def test_client_signs_and_reads_the_envelope(emulator: Any) -> None:
    creds = emulator.open_account("GB")
    async with httpx.AsyncClient() as http:
        client = _client(emulator, http)
        data = await client.call(
            "GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"]
        )
        assert [(s["region"], s["seller_type"]) for s in data["shops"]] == [("GB", "LOCAL")]
        cases = {
            "106001": _client(emulator, http, app_secret="not-the-secret"),
            "36009004": _client(emulator, http, clock=lambda: time.time() - 600),
        }
        for code, wrong in cases.items():
            with pytest.raises(ChannelError) as excinfo:
                await wrong.call(
                    "GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"]
                )
            assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
        with pytest.raises(ChannelError) as excinfo:
            await _client(emulator, http, app_key="999").call(
                "GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"]
            )
        assert (excinfo.value.code, excinfo.value.retryable) == ("36009004", False)


async def test_shop_resources_need_the_shop_cipher(emulator: Any) -> None:
    creds = emulator.open_account("US")
    async with httpx.AsyncClient() as http:
        client = _client(emulator, http)
        body = {"update_time_ge": 0}
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "POST",
                SEARCH,
                operation="orders.search",
                access_token=creds["access_token"],
                params={"page_size": 10},
                body=body,
            )
        assert (excinfo.value.code, excinfo.value.retryable) == ("106013", False)
        cipher = await _cipher(client, creds["access_token"])
        data = await client.call(
            "POST",
            SEARCH,
            operation="orders.search",
            access_token=creds["access_token"],
            shop_cipher=cipher,
            params={"page_size": 10},
            body=body,
        )
        assert data == {"orders": [], "next_page_token": "", "total_count": 0}


async def test_the_client_throttles_each_call_by_operation(emulator: Any) -> None:
    creds = emulator.open_account("US")
    seen: list[str] = []

    async def throttle(operation: str) -> None:
        seen.append(operation)

    async with httpx.AsyncClient() as http:
        client = _client(emulator, http, throttle=throttle)
        await client.call("GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"])
    assert seen == ["authorization.shops"]


async def test_tokens_expire_refresh_and_are_single_use(emulator: Any) -> None:
    creds = emulator.open_account("SG")
    async with httpx.AsyncClient() as http:
        client = _client(emulator, http)
        got = await client.get_token(creds["auth_code"])
        assert got["access_token"] == creds["access_token"] and got["seller_base_region"] == "SG"
        assert got["access_token_expire_in"] > time.time()  # a Unix time, not a duration
        emulator.expire_tokens()
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"]
            )
        assert excinfo.value.code == ChannelError.AUTH_EXPIRED and not excinfo.value.retryable
        fresh = await client.refresh(creds["refresh_token"])
        assert fresh["access_token"] != creds["access_token"]
        assert fresh["refresh_token"] != creds["refresh_token"]
        await client.call("GET", SHOPS, operation="authorization.shops", access_token=fresh["access_token"])
        with pytest.raises(ChannelError) as excinfo:  # the replaced token says "expired" too
            await client.call(
                "GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"]
            )
        assert excinfo.value.code == ChannelError.AUTH_EXPIRED
        with pytest.raises(ChannelError) as excinfo:  # refresh tokens are spent by use
            await client.refresh(creds["refresh_token"])
        assert not excinfo.value.retryable
        with pytest.raises(ChannelError) as excinfo:
            await client.call("GET", SHOPS, operation="authorization.shops", access_token="made-up")
        assert excinfo.value.code != ChannelError.AUTH_EXPIRED and not excinfo.value.retryable


async def _search_all(
    emu: Any, creds: dict[str, Any], *, size: int, order: str = "ASC", body: dict[str, Any] | None = None
) -> tuple[list[str], int]:
    async with httpx.AsyncClient() as http:
        client = _client(emu, http)
        cipher = await _cipher(client, creds["access_token"])
        seen: list[str] = []
        token, pages = "", 0
        while True:
            params: dict[str, Any] = {"page_size": size, "sort_field": "update_time", "sort_order": order}
            if token:
                params["page_token"] = token
            data = await client.call(
                "POST",
                SEARCH,
                operation="orders.search",
                access_token=creds["access_token"],
                shop_cipher=cipher,
                params=params,
                body=body or {},
            )
            seen += [o["id"] for o in data["orders"]]
            pages += 1
            token = data["next_page_token"]
            if not token:
                return seen, pages


async def test_page_tokens_walk_every_order_once(emulator: Any) -> None:
    creds = emulator.open_account("TH")
    emulator.add_product(creds, "SKU-A")
    ids = emulator.generate_orders(creds, 230, seed=3)
    seen, pages = await _search_all(emulator, creds, size=50)
    assert (sorted(seen), len(seen), pages) == (sorted(ids), 230, 5)
    times = [emulator.orders[i]["update_time"] for i in seen]
    assert times == sorted(times)
    seen_desc, _ = await _search_all(emulator, creds, size=100, order="DESC")
    assert seen_desc == list(reversed(seen))
    cutoff = sorted(times)[100]
    newer, _ = await _search_all(emulator, creds, size=30, body={"update_time_ge": cutoff})
    assert set(newer) == {i for i in ids if emulator.orders[i]["update_time"] >= cutoff}


async def test_duplicate_and_shuffled_pages_still_cover_everything() -> None:
    emu = TikTokShopSellerEmulator(Faults(duplicate_page=0.5, shuffle_pages=True, seed=5))
    async with serve(emu) as base:
        emu.base = base  # type: ignore[attr-defined]
        creds = emu.open_account("VN")
        emu.add_product(creds, "SKU-V")
        ids = emu.generate_orders(creds, 120, seed=8)
        seen, pages = await _search_all(emu, creds, size=20)
    assert emu.injected["duplicate_page"] > 0
    assert set(seen) == set(ids) and len(seen) > len(ids) and pages > 6


async def test_faults_surface_as_retryable_errors() -> None:
    emu = TikTokShopSellerEmulator(Faults(throttle=1.0, retry_after=3))
    creds = emu.open_account("US")
    expectations = [
        (Faults(throttle=1.0, retry_after=3), ("THROTTLED", True, 3.0)),
        (Faults(server_error=1.0), ("SERVER_ERROR", True, None)),
        (Faults(malformed=1.0), ("MALFORMED", True, None)),
        (Faults(timeout=1.0, timeout_seconds=1.0), ("TIMEOUT", True, None)),
    ]
    for faults, expected in expectations:
        emu.faults = faults
        # only the timeout case waits on the clock; the others may take their time on a busy machine
        patience = 0.3 if expected[0] == "TIMEOUT" else 10.0
        async with serve(emu) as base, httpx.AsyncClient(timeout=patience) as http:
            client = TikTokShopClient(emu.app_key, emu.app_secret, base_url=base, http=http)
            with pytest.raises(ChannelError) as excinfo:
                await client.call(
                    "GET", SHOPS, operation="authorization.shops", access_token=creds["access_token"]
                )
            # token endpoints are never faulted: a client can always log in
            assert (await client.get_token(creds["auth_code"]))["access_token"]
            creds = {**creds, "auth_code": emu.open_account("US")["auth_code"]}
        error = excinfo.value
        assert (error.code, error.retryable, error.retry_after) == expected


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.MockTransport(lambda request: httpx.Response(status, content=raw, headers=headers or {}))


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            200,
            {"code": 36009002, "message": "too many", "data": None},
            {"Retry-After": "2"},
            ("THROTTLED", True, 2.0),
        ),
        (429, {"code": 36009002, "message": "too many"}, {}, ("THROTTLED", True, None)),
        (200, {"code": 105002, "message": "expired"}, {}, (ChannelError.AUTH_EXPIRED, False, None)),
        (200, {"code": 106001, "message": "sign"}, {}, ("106001", False, None)),
        (200, {"code": 36009004, "message": "creds"}, {}, ("36009004", False, None)),
        (502, b"<html>bad gateway</html>", {}, ("SERVER_ERROR", True, None)),
        (200, b'{"code": 0, "data": {"or', {}, ("MALFORMED", True, None)),
        (200, {"message": "no code"}, {}, ("MALFORMED", True, None)),
        (200, {"code": 0, "data": ["not", "an", "object"]}, {}, ("MALFORMED", True, None)),
    ],
)
async def test_envelope_error_mapping(
    status: int, body: Any, headers: dict[str, str], expected: tuple[Any, ...]
) -> None:
    async with httpx.AsyncClient(transport=_answer(status, body, headers)) as http:
        client = TikTokShopClient("k", "s", base_url="http://tiktok.invalid", http=http)
        with pytest.raises(ChannelError) as excinfo:
            await client.call("GET", SHOPS, operation="authorization.shops", access_token="t")
    assert (excinfo.value.code, excinfo.value.retryable, excinfo.value.retry_after) == expected


async def test_requests_carry_what_tiktok_expects() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"code": 0, "message": "Success", "request_id": "r", "data": {}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = TikTokShopClient("123456", "abc000def111", http=http, clock=lambda: 1234567890)
        await client.call(
            "POST", SEARCH, operation="orders.search", access_token="tok", shop_cipher="ROW_x", body={"a": 1}
        )
        await client.refresh("rt")
    search, refresh = sent
    assert search.url.host == "open-api.tiktokglobalshop.com"
    assert search.headers["x-tts-access-token"] == "tok"
    assert search.headers["content-type"] == "application/json"
    assert dict(search.url.params) == {
        "shop_cipher": "ROW_x",
        "app_key": "123456",
        "timestamp": "1234567890",
        "sign": dict(search.url.params)["sign"],
    }
    assert "access_token" not in search.url.params and search.content == b'{"a":1}'
    assert (refresh.url.host, refresh.url.path) == ("auth.tiktok-shops.com", "/api/v2/token/refresh")
    assert dict(refresh.url.params) == {
        "app_key": "123456",
        "app_secret": "abc000def111",
        "refresh_token": "rt",
        "grant_type": "refresh_token",
    }


# ------------------------------------------------------------------ customer service

CONVERSATIONS = "/customer_service/202309/conversations"


async def _shop_client(
    emu: Any, http: httpx.AsyncClient, creds: dict[str, Any]
) -> tuple[TikTokShopClient, str]:
    client = _client(emu, http)
    return client, await _cipher(client, creds["access_token"])


async def test_conversations_page_by_activity_with_page_tokens(emulator: Any) -> None:
    creds = emulator.open_account("MY")
    buyers = [f"buyer-{n:02d}" for n in range(45)]
    for buyer in buyers:
        emulator.buyer_writes(creds, buyer, f"hello from {buyer}")
    emulator.buyer_writes(creds, "buyer-07", "anyone there?", "ORDER-7")  # most recent activity
    async with httpx.AsyncClient() as http:
        client, cipher = await _shop_client(emulator, http, creds)
        seen: list[dict[str, Any]] = []
        token, pages = "", 0
        while True:
            params: dict[str, Any] = {"page_size": 20, "locale": "en"}
            if token:
                params["page_token"] = token
            data = await client.call(
                "GET",
                CONVERSATIONS,
                operation="customer_service.conversations",
                access_token=creds["access_token"],
                shop_cipher=cipher,
                params=params,
            )
            seen += data["conversations"]
            pages += 1
            token = data["next_page_token"]
            if not token:
                break
        for bad in ({"page_size": 21}, {}):
            with pytest.raises(ChannelError) as excinfo:
                await client.call(
                    "GET",
                    CONVERSATIONS,
                    operation="customer_service.conversations",
                    access_token=creds["access_token"],
                    shop_cipher=cipher,
                    params=bad,
                )
            assert (excinfo.value.code, excinfo.value.retryable) == ("45101001", False)
    assert (len(seen), len({c["id"] for c in seen}), pages) == (45, 45, 3)
    first = seen[0]
    assert [p["nickname"] for p in first["participants"] if p["role"] == "BUYER"] == ["buyer-07"]
    assert {p["role"] for p in first["participants"]} == {"BUYER", "SHOP"}
    assert (first["unread_count"], first["can_send_message"]) == (2, True)
    latest = first["latest_message"]
    assert (latest["type"], json.loads(latest["content"]), latest["sender"]["role"]) == (
        "TEXT",
        {"content": "anyone there?"},
        "BUYER",
    )
    assert isinstance(latest["create_time"], int) and "_messages" not in first
    indexes = [int(c["latest_message"]["index"]) for c in seen]
    assert indexes == sorted(indexes, reverse=True)  # the most recent activity first


async def test_messages_page_in_both_orders(emulator: Any) -> None:
    creds = emulator.open_account("US")
    for n in range(23):
        emulator.buyer_writes(creds, "amy", f"message {n}")
    conversation = next(iter(emulator.shop_of(creds).conversations.values()))
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    async with httpx.AsyncClient() as http:
        client, cipher = await _shop_client(emulator, http, creds)

        async def walk(**params: Any) -> tuple[list[str], int]:
            texts, token, pages = [], "", 0
            while True:
                query = {"page_size": 10, **params, **({"page_token": token} if token else {})}
                data = await client.call(
                    "GET",
                    path,
                    operation="customer_service.messages",
                    access_token=creds["access_token"],
                    shop_cipher=cipher,
                    params=query,
                )
                texts += [json.loads(m["content"])["content"] for m in data["messages"]]
                pages += 1
                token = data["next_page_token"]
                if not token:
                    return texts, pages

        newest_first, pages = await walk()  # create_time DESC by default
        assert (newest_first, pages) == ([f"message {n}" for n in reversed(range(23))], 3)
        assert (await walk(sort_order="ASC", sort_field="index"))[0] == list(reversed(newest_first))
        for bad, code in (
            ({"page_size": 11}, "45101001"),
            ({"page_size": 5, "sort_field": "update_time"}, "45101001"),
            ({"page_size": 5, "page_token": "not-a-token"}, "45101001"),
        ):
            with pytest.raises(ChannelError) as excinfo:
                await client.call(
                    "GET",
                    path,
                    operation="customer_service.messages",
                    access_token=creds["access_token"],
                    shop_cipher=cipher,
                    params=bad,
                )
            assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
        with pytest.raises(ChannelError) as excinfo:
            await client.call(
                "GET",
                f"{CONVERSATIONS}/404/messages",
                operation="customer_service.messages",
                access_token=creds["access_token"],
                shop_cipher=cipher,
                params={"page_size": 10},
            )
        assert (excinfo.value.code, excinfo.value.retryable) == ("45101003", False)


async def test_send_message_takes_text_as_a_json_string(emulator: Any) -> None:
    creds = emulator.open_account("GB")
    emulator.buyer_writes(creds, "ben", "Do you ship to Penang?")
    conversation = next(iter(emulator.shop_of(creds).conversations.values()))
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    async with httpx.AsyncClient() as http:
        client, cipher = await _shop_client(emulator, http, creds)

        async def send(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            return await client.call(
                "POST",
                kwargs.pop("path", path),
                operation="customer_service.send_message",
                access_token=kwargs.pop("token", creds["access_token"]),
                shop_cipher=kwargs.pop("cipher", cipher),
                body=body,
            )

        text = {"type": "TEXT", "content": json.dumps({"content": "Yes, we do!"})}
        sent = await send(text)
        assert sent["message_id"] == conversation["latest_message"]["id"]
        assert emulator.messages_to(creds, "ben") == ["Yes, we do!"]
        assert conversation["unread_count"] == 0
        assert conversation["latest_message"]["sender"]["role"] == "SHOP"
        refused: list[tuple[dict[str, Any], dict[str, str], str]] = [
            ({"type": "TEXT", "content": {"content": "not a string"}}, {}, "45101001"),
            ({"type": "IMAGE", "content": json.dumps({"url": "x"})}, {}, "45101001"),
            ({"type": "TEXT", "content": json.dumps({"content": " "})}, {}, "45101001"),
            ({"type": "TEXT", "content": json.dumps({"content": "x" * 2001})}, {}, "45101001"),
            (text, {"path": f"{CONVERSATIONS}/404/messages"}, "45101003"),
            (text, {"cipher": ""}, "106013"),
        ]
        for body, kwargs, code in refused:
            with pytest.raises(ChannelError) as excinfo:
                await send(body, **kwargs)
            assert (excinfo.value.code, excinfo.value.retryable) == (code, False)
        emulator.expire_tokens()
        with pytest.raises(ChannelError) as excinfo:
            await send(text)
        assert excinfo.value.code == ChannelError.AUTH_EXPIRED
    assert emulator.messages_to(creds, "ben") == ["Yes, we do!"]  # nothing refused was posted
