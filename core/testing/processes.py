"""Crossdock as it runs in production: ``crossdock serve`` and ``crossdock worker`` as real
processes on one database (and one Redis), for tests of what only several processes show.

::

    async with Deployment(database_url, servers=2, workers=2, redis_url=redis_url) as dep:
        async with httpx.AsyncClient() as client:
            await client.post(dep.servers[0] + "/graphql", ...)

The processes inherit the environment, plus ``extra_env``; the database must be migrated
already (``crossdock migrate``), as in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["Deployment", "free_port"]


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, be killed when the test process dies, however it
    dies. A server or worker left behind by a killed test run would go on taking the next
    run's jobs from the same Redis (and run them against its own, old database)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Deployment:
    """``servers`` HTTP server processes and ``workers`` job workers on one database."""

    def __init__(
        self,
        database_url: str,
        *,
        data_dir: Path,
        secret_key: str,
        servers: int = 2,
        workers: int = 0,
        redis_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if workers and not redis_url:
            raise ValueError("job workers need a Redis (redis_url)")
        self.env = {
            **os.environ,
            "CROSSDOCK_DATABASE_URL": database_url,
            "CROSSDOCK_SECRET_KEY": secret_key,
            "CROSSDOCK_DATA_DIR": str(data_dir),
            **(extra_env or {}),
        }
        if redis_url:
            self.env["CROSSDOCK_REDIS_URL"] = redis_url
        else:
            self.env.pop("CROSSDOCK_REDIS_URL", None)
        self.data_dir = data_dir
        self.n_servers = servers
        self.n_workers = workers
        self.start_timeout = start_timeout
        self.servers: list[str] = []
        self._server_procs: list[subprocess.Popen[bytes]] = []
        self.worker_procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = (self.data_dir / log).open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "crossdock.cli", *args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    async def start(self) -> Deployment:
        for i in range(self.n_servers):
            port = free_port()
            self._server_procs.append(
                self._spawn("serve", "--host", "127.0.0.1", "--port", str(port), log=f"server-{i}.log")
            )
            self.servers.append(f"http://127.0.0.1:{port}")
        for i in range(self.n_workers):
            self.start_worker(i)
        await self._wait_healthy()
        return self

    def start_worker(self, i: int | None = None) -> subprocess.Popen[bytes]:
        n = len(self.worker_procs) if i is None else i
        proc = self._spawn("worker", log=f"worker-{n}.log")
        self.worker_procs.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would end it."""
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for url, proc in zip(self.servers, self._server_procs, strict=True):
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{url} exited with {proc.returncode}; see {self.data_dir}")
                    try:
                        if (await client.get(url + "/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{url} did not become healthy; see {self.data_dir}")
                    await asyncio.sleep(0.1)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self.data_dir.glob("*.log"))
        )

    async def stop(self) -> None:
        procs = self._server_procs + self.worker_procs
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def __aenter__(self) -> Deployment:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
