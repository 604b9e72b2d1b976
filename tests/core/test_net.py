"""Server-side request forgery: tenant-supplied URLs reach only public hosts unless an
operator allows more, when they are stored and on every call (after DNS, on redirects)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from crossdock import (
    ChannelConnection,
    IdentityConfig,
    MailAccount,
    MarketplaceBase,
    MarketplaceCapability,
    OrderPage,
    OutboundHTTP,
    OutboundPolicy,
    Site,
    URLNotAllowed,
    UserError,
    hookimpl,
)
from crossdock.config import Settings
from crossdock.db.models import Connection
from crossdock.jobs import JOBS
from crossdock.net import default_outbound, literal_address, why_not_public
from crossdock.testing.emulator import serve
from crossdock.testing.pytest_plugin import TEST_SECRET


class Recorder:
    """A tiny HTTP server's app: answers 200 with the path, or redirects ``/go?to=URL``;
    remembers every request it got (the proof that a refused call never connected)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.paths.append(scope["path"])
        query = unquote(scope.get("query_string", b"").decode())
        if scope["path"] == "/go" and query.startswith("to="):
            status, headers, body = 302, [(b"location", query[3:].encode())], b""
        else:
            status, headers, body = 200, [(b"content-type", b"application/json")], b'{"orders": []}'
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest_asyncio.fixture
async def servers() -> AsyncIterator[list[tuple[Recorder, str]]]:
    """Two recording servers on loopback ports, as an internal service would listen."""
    async with AsyncExitStack() as stack:
        found = []
        for _ in range(2):
            recorder = Recorder()
            found.append((recorder, await stack.enter_async_context(serve(recorder))))
        yield found


class Probe(MarketplaceBase):
    """A marketplace that fetches ``{base_url}/orders`` the way every provider calls out."""

    name = "probe"
    display_name = "Probe"
    version = "1.0"
    capabilities = frozenset({MarketplaceCapability.ORDERS_SYNC})

    def sites(self) -> Sequence[Site]:
        return [Site("SG", "SG", "SGD")]

    async def fetch_orders(
        self, conn: ChannelConnection, *, updated_since: datetime, page_token: str | None
    ) -> OrderPage:
        response = await conn.http_client().get(f"{conn.base_url}/orders", follow_redirects=True)
        response.raise_for_status()
        return OrderPage(orders=[], next_page_token=None)


class ProbePlugin:
    @hookimpl
    def crossdock_marketplaces(self) -> list[Probe]:
        return [Probe()]


@pytest.fixture
def extra_plugins() -> list[tuple[str, object]]:
    return [("probe", ProbePlugin())]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A server whose operator allowed nothing: public https hosts only."""
    return Settings(database_url=database_url, secret_keys=(TEST_SECRET,), data_dir=tmp_path)


CREATE = """mutation($url: String) { connectionCreate(input: {channel: "probe", name: "shop", site: "SG",
  credentials: {token: "t"}, baseUrl: $url}) { connection { id baseUrl } userErrors { field code message } } }"""

REFUSED = [
    "http://127.0.0.1:8000/internal",  # the case
    "https://127.0.0.1/",
    "https://127.1/",  # short form
    "https://2130706433/",  # decimal
    "http://2130706433/",
    "https://0x7f000001/",  # hex
    "https://0x7f.0.0.1/",
    "https://localhost:8443/",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://redis:6379/",  # a bare service name
    "https://10.1.2.3/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://0.0.0.0/",
    "https://224.0.0.1/",  # multicast
    "https://240.0.0.1/",  # reserved
    "https://255.255.255.255/",
    "https://[::1]/",
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fd00:ec2::254]/",  # unique-local (AWS's IPv6 metadata address)
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "https://[::ffff:a9fe:a9fe]/",  # IPv4-mapped 169.254.169.254, in hex
    "https://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "https://[ff02::1]/",
    "http://example.com/",  # plain http to a host nobody allowed
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "https://user:secret@example.com/",
    "https://example.com@127.0.0.1/",
    "https://example.com/api?x=1",
    "https://example.com/#frag",
    "https://exa mple.com/",
    "https://example.com/\x01",
    "https://" + "a" * 520 + ".com/",
    "//example.com/",
    "example.com",
]


async def test_stored_urls_must_be_public_https(api: Any, app: Any, tenant_factory: Any) -> None:
    tenant = await tenant_factory()
    for url in REFUSED:
        body = await api(CREATE, {"url": url}, key=tenant.key)
        payload = body["data"]["connectionCreate"]
        assert payload["connection"] is None, url
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["baseUrl"], "URL_NOT_ALLOWED")
        ], (
            url,
            body,
        )
    async with app.db.tenant(tenant.id) as session:
        assert await session.scalar(select(func.count()).select_from(Connection)) == 0

    created = await api(CREATE, {"url": "https://partner.shopeemobile.com"}, key=tenant.key)
    connection = created["data"]["connectionCreate"]["connection"]
    assert connection["baseUrl"] == "https://partner.shopeemobile.com"
    update_url = """mutation($id: ID!, $url: String) { connectionUpdate(input: {id: $id, baseUrl: $url}) {
      connection { baseUrl } userErrors { field code } } }"""
    moved = await api(update_url, {"id": connection["id"], "url": "http://169.254.169.254/"}, key=tenant.key)
    assert moved["data"]["connectionUpdate"]["userErrors"] == [
        {"field": ["baseUrl"], "code": "URL_NOT_ALLOWED"}
    ]
    kept = await api(update_url, {"id": connection["id"], "url": None}, key=tenant.key)
    assert kept["data"]["connectionUpdate"]["connection"] == {"baseUrl": None}  # the production host


def test_address_forms_and_the_allow_list() -> None:
    assert literal_address("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("017700000001") == ipaddress.ip_address("127.0.0.1")  # octal
    assert literal_address("[::1]") == ipaddress.ip_address("::1")
    assert literal_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    assert literal_address("1e100.net") is None and literal_address("deadbeef") is None
    assert why_not_public(ipaddress.ip_address("8.8.8.8")) is None
    assert why_not_public(ipaddress.ip_address("::ffff:8.8.8.8")) is None
    assert why_not_public(ipaddress.ip_address("2606:4700::1111")) is None

    policy = OutboundPolicy(
        ["127.0.0.1:8801", "10.20.0.0/16", "[::1]:9000", "sandbox.test", "*.emu.test:8080"]
    )
    assert policy.check_url("http://127.0.0.1:8801/api") == "http://127.0.0.1:8801/api"
    assert policy.check_url("https://10.20.3.4/") and policy.check_url("http://[::1]:9000")
    assert policy.check_url("http://sandbox.test") and policy.check_url("http://a.emu.test:8080/x")
    for refused in (
        "http://127.0.0.1:8802/",
        "https://10.21.0.1/",
        "http://[::1]:9001/",
        "http://a.emu.test/",
    ):
        with pytest.raises(UserError) as excinfo:
            policy.check_url(refused)
        assert excinfo.value.code == "URL_NOT_ALLOWED", refused
    assert policy.allows_address(ipaddress.ip_address("::ffff:10.20.0.9"), "x.test", 443)
    for bad in ("10.0.0.0/33", "host:port", "a b", "[::1", "127.0.0.1:0", "-bad-.test"):
        with pytest.raises(ValueError, match="allowed host"):
            OutboundPolicy([bad])
    env = Settings.from_env(
        {"CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1:8801, sandbox.test", "CROSSDOCK_SECRET_KEY": "k"}
    )
    assert env.allowed_hosts == ("127.0.0.1:8801", "sandbox.test")
    assert OutboundPolicy(env.allowed_hosts).allowed == ("[127.0.0.1/32]:8801", "sandbox.test")


async def test_names_and_spellings_that_reach_loopback_are_refused_before_connecting(
    servers: list[tuple[Recorder, str]],
) -> None:
    recorder, base = servers[0]
    port = httpx.URL(base).port
    http = OutboundHTTP(OutboundPolicy())
    try:
        client = http.client(timeout=5)
        for url in (
            f"https://localhost:{port}/",  # a name that resolves to 127.0.0.1, checked when connecting
            f"https://vm:{port}/",  # another (this machine's /etc/hosts)
            f"http://127.0.0.1:{port}/",
            f"https://2130706433:{port}/",
            f"https://127.1:{port}/",
            f"https://[::ffff:127.0.0.1]:{port}/",
        ):
            with pytest.raises(URLNotAllowed) as excinfo:
                await client.get(url)
            assert (excinfo.value.code, excinfo.value.retryable) == ("URL_NOT_ALLOWED", False)
        assert recorder.paths == []  # nothing ever connected
    finally:
        await http.aclose()


async def test_redirects_are_checked_like_the_first_request(servers: list[tuple[Recorder, str]]) -> None:
    (allowed, allowed_base), (internal, internal_base) = servers
    allowed_port, internal_port = httpx.URL(allowed_base).port, httpx.URL(internal_base).port
    http = OutboundHTTP(OutboundPolicy([f"127.0.0.1:{allowed_port}"]))  # the operator allows one emulator
    try:
        client = http.client(timeout=5)
        ok = await client.get(f"{allowed_base}/orders")
        assert ok.status_code == 200 and ok.json() == {"orders": []}
        for target in (
            f"http://127.0.0.1:{internal_port}/admin",
            f"http://localhost:{internal_port}/admin",
            f"https://localhost:{internal_port}/admin",
            "http://169.254.169.254/latest/meta-data/",
        ):
            with pytest.raises(URLNotAllowed):
                await client.get(f"{allowed_base}/go", params={"to": target}, follow_redirects=True)
        # a redirect to the allowed emulator itself is followed
        hop = await client.get(
            f"{allowed_base}/go", params={"to": f"{allowed_base}/orders"}, follow_redirects=True
        )
        assert hop.status_code == 200
        assert internal.paths == []
        assert allowed.paths.count("/go") == 5
    finally:
        await http.aclose()


async def test_a_refused_url_fails_the_sync_with_a_typed_last_error(
    app: Any, tenant_factory: Any, servers: list[tuple[Recorder, str]]
) -> None:
    """A row stored before the check (or a URL from settings) is refused when the job calls
    it: the connection records URL_NOT_ALLOWED and stops, nothing is called."""
    (allowed, allowed_base), (internal, internal_base) = servers
    app.http.policy.allow(allowed_base.split("://", 1)[1])
    tenant = await tenant_factory()
    ids = {}
    async with app.db.write(tenant.id, slug=tenant.slug) as session:
        from crossdock.services import connections

        for name, base in (("internal", None), ("emulator", allowed_base)):
            conn = await connections.create_connection(
                session,
                app.plugins,
                app.vault,
                channel="probe",
                name=name,
                site="SG",
                credentials={"t": "x"},
                base_url=base,
                policy=app.http.policy,
            )
            ids[name] = conn.id
        await session.execute(  # as if stored before URLs were checked
            update(Connection)
            .where(Connection.id == ids["internal"])
            .values(base_url=f"{internal_base}/internal")
        )
    ctx = app.job_context()
    with pytest.raises(URLNotAllowed):
        await JOBS["sync_orders"](ctx, tenant_id=tenant.id, connection_id=ids["internal"])
    assert (await JOBS["sync_orders"](ctx, tenant_id=tenant.id, connection_id=ids["emulator"]))["pages"] == 1
    async with app.db.tenant(tenant.id) as session:
        rows = {c.name: c for c in (await session.scalars(select(Connection))).all()}
    assert rows["internal"].status == "failed"
    assert (rows["internal"].last_error or "").startswith("URL_NOT_ALLOWED: 127.0.0.1 is a loopback address")
    assert rows["emulator"].status == "active" and rows["emulator"].last_error is None
    assert internal.paths == [] and allowed.paths == ["/orders"]


def test_mail_accounts_and_identity_configs_carry_the_pool_as_connections_do() -> None:
    """The newest contract types hand plugins the pool as ``ChannelConnection`` does: the
    one attached, else the process default; ``http_client()`` times out after the options'
    ``timeout``; the pool is neither shown nor compared."""
    pool = OutboundHTTP(OutboundPolicy(["127.0.0.1"]))
    for bare in (
        MailAccount(sender="ops@example.com", options={"timeout": 3}),
        IdentityConfig("https://id.example.com", "client", "secret", {"timeout": 3}),
    ):
        assert bare.outbound() is default_outbound()
        attached = replace(bare, http=pool)
        assert attached.outbound() is pool
        assert attached == bare and "OutboundHTTP" not in repr(attached)
        client = attached.http_client()  # outside an event loop: a guarded client of its own
        assert client.timeout.read == 3.0
        assert replace(attached, options={"timeout": "soon"}).http_client().timeout.read == 10.0
