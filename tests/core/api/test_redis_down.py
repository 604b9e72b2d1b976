"""Redis down (or hung) while the server runs: reads and writes keep being answered, typed,
without the Redis address; /health says so within a second; Redis is used again once back."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from crossdock import RateLimit
from crossdock.config import Settings
from crossdock.jobs.arq_worker import JobQueueUnavailable
from crossdock.testing import wait_until
from crossdock.testing.pytest_plugin import TEST_SECRET, _unavailable

READ = "{ viewer { tenantSlug } products(first: 5) { nodes { title } } }"
CONNECT = """mutation { connectionCreate(input: {channel: "testmarket", name: "sg", site: "SG",
  credentials: {t: "x"}}) { connection { id } userErrors { code } } }"""
BACKFILL = """mutation($id: ID!) { connectionBackfill(input: {id: $id, since: "2026-01-01T00:00:00Z"}) {
  connection { id } userErrors { code } } }"""
CREATE = "mutation($t: String!) { productCreate(input: {title: $t}) { product { id } userErrors { code } } }"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of this test's own, on a port of its own, to stop and start again."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server", "not installed")
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def keys(self, pattern: str) -> list[bytes]:
        with redis.Redis(port=self.port, socket_timeout=1) as client:
            return list(client.keys(pattern))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, redis_server: RedisServer) -> Settings:
    return Settings(
        database_url=database_url, redis_url=redis_server.url, secret_keys=(TEST_SECRET,), data_dir=tmp_path
    )


def _no_address(text: str, port: int) -> None:
    assert str(port) not in text, text
    assert "127.0.0.1" not in text and "localhost" not in text, text


async def test_redis_down_keeps_serving_typed_and_comes_back(
    api: Any, app: Any, tenant_factory: Any, redis_server: RedisServer
) -> None:
    tenant = await tenant_factory()
    up = await api(READ, key=tenant.key)
    assert not up.get("errors")
    assert redis_server.keys("crossdock:cost:*")  # the cost bucket lives in Redis
    created = await api.data(CONNECT, key=tenant.key)
    connection_id = created["connectionCreate"]["connection"]["id"]

    redis_server.stop()

    for query, variables in ((READ, None), (CREATE, {"t": "while Redis is down"})):
        started = time.monotonic()
        response = await api.raw(query, variables, key=tenant.key)
        assert time.monotonic() - started < 2.0
        assert response.status_code == 200
        body = response.json()
        assert not body.get("errors"), body
        assert body["extensions"]["cost"]["requestedQueryCost"] > 0  # charged, in this process
        _no_address(response.text, redis_server.port)
    # a mutation whose job is queued after commit: the change stands, the lost job is logged
    response = await api.raw(BACKFILL, {"id": connection_id}, key=tenant.key)
    assert response.status_code == 200 and not response.json().get("errors")
    assert response.json()["data"]["connectionBackfill"]["userErrors"] == []
    _no_address(response.text, redis_server.port)
    # queueing directly is a typed, address-free refusal, at once
    started = time.monotonic()
    with pytest.raises(JobQueueUnavailable) as excinfo:
        await app.queue.enqueue("schedule_syncs")
    assert time.monotonic() - started < 1.0
    assert excinfo.value.code == "JOBS_UNAVAILABLE"
    _no_address(str(excinfo.value), redis_server.port)
    # connection rate limits go on in this process
    limit = RateLimit(rate=1.0, burst=1)
    assert await app.buckets.reserve("down:op", limit) == 0.0
    assert await app.buckets.reserve("down:op", limit) > 0.5  # the second token is a second away

    started = time.monotonic()
    health = await api.client.get("/health")
    elapsed = time.monotonic() - started
    assert health.status_code == 503 and elapsed < 2.0, elapsed
    assert health.json()["jobs"] == {"backend": "arq", "ok": False}
    assert health.json()["database"]["ok"] is True
    _no_address(health.text, redis_server.port)

    redis_server.start()  # the same address, empty

    async def shared_again() -> bool:
        body = await api(READ, key=tenant.key)
        assert not body.get("errors"), body
        return bool(redis_server.keys("crossdock:cost:*"))

    await wait_until(shared_again, message="the cost buckets back in Redis")
    await app.buckets.reserve("back:op", limit)
    assert redis_server.keys("crossdock:bucket:back:op")
    assert await app.queue.enqueue("schedule_syncs", job_id="back") is True
    assert (await api.client.get("/health")).status_code == 200


@pytest_asyncio.fixture
async def hung_redis() -> AsyncIterator[str]:
    """A Redis address that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()


async def test_a_hung_redis_costs_a_request_no_more_than_its_timeouts(
    database_url: str, tmp_path: Path, hung_redis: str, extra_plugins: Any
) -> None:
    import httpx

    from crossdock.api.app import create_app
    from crossdock.bootstrap import App
    from crossdock.testing import make_tenant

    app = App.build(
        Settings(
            database_url=database_url, redis_url=hung_redis, secret_keys=(TEST_SECRET,), data_dir=tmp_path
        ),
        extra_plugins=extra_plugins,
    )
    try:
        tenant = await make_tenant(app)
        port = int(hung_redis.rsplit(":", 1)[1].split("/")[0])
        transport = httpx.ASGITransport(app=create_app(app, run_jobs=False))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for _ in range(3):
                started = time.monotonic()
                response = await asyncio.wait_for(  # a guard: unguarded, a hung Redis hangs the request
                    client.post(
                        "/graphql", json={"query": READ}, headers={"Authorization": f"Bearer {tenant.key}"}
                    ),
                    10,
                )
                assert time.monotonic() - started < 2.0
                assert response.status_code == 200 and not response.json().get("errors"), response.text
                _no_address(response.text, port)
            started = time.monotonic()
            health = await asyncio.wait_for(client.get("/health"), 10)
            assert health.status_code == 503 and time.monotonic() - started < 2.0
            assert health.json()["jobs"]["ok"] is False
    finally:
        await app.close()
