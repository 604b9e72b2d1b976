"""Outbound webhook delivery throughput, next to a floor measured in the same run.

- ``webhook_delivery.postgresql``: ``--events`` outbox events (default 1,000) to each of
  ``--endpoints`` endpoints (default 4) of one tenant, delivered by ``webhook_dispatch``
  (fan-out, claim, signed POST, record), two dispatchers per endpoint at once, to a
  receiver in its own (forked) process that answers 500 to 10 % of requests at random.
  Retries are due 5 s, 5 min ... later: when nothing is due the run moves the clock (the
  dispatcher's ``now``) to when the next wave of retries is all due, so the figure is the
  work, not the waiting.
  ``value``: deliveries (each ending in a 2xx) per second; ``attempts_per_s``: requests per
  second; ``cpu_ms_per_delivery``: this process's CPU (the core, its database client, the
  HTTP client) per delivery. ``floor``: requests per second of plain ``httpx`` POSTs of the
  same bodies to the same receiver, as many at once as a dispatcher sends
  (``CLAIM_BATCH``), with its CPU per request; ``ratio`` = floor / attempts_per_s.
- Checked in the same run, from the receiver's own log: every delivery accepted exactly
  once (``lost``, ``doubled``: must be 0), and every attempt inside the retry rules
  (``outside_rules``: a retry after a 2xx or before its scheduled wait, must be 0).

    python bench/webhooks.py [--events 1000] [--endpoints 4]   # writes bench/webhooks.json
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent
FAIL_RATE = 0.1


class StatsReceiver:
    """The test receiver, plus ``GET /stats``: what it accepted, per ``webhook-id``."""

    def __init__(self) -> None:
        from crossdock.testing.webhooks import WebhookReceiver

        self.inner = WebhookReceiver(fail_rate=FAIL_RATE, seed=11)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/stats":
            body = json.dumps(
                {
                    "accepted": dict(self.inner.accepted),
                    "requests": [[r.webhook_id, r.status] for r in self.inner.requests],
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            self.inner.requests.clear()
            self.inner.accepted.clear()
            return
        await self.inner(scope, receive, send)


async def _app(url: str, tmp: Path) -> Any:
    from run import SECRET

    from crossdock.bootstrap import App
    from crossdock.config import Settings
    from crossdock.db.migrate import upgrade

    settings = Settings.from_env(
        {
            "CROSSDOCK_DATABASE_URL": url,
            "CROSSDOCK_SECRET_KEY": SECRET,
            "CROSSDOCK_DATA_DIR": str(tmp),
            "CROSSDOCK_PLUGINS": "none",
            "CROSSDOCK_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    app = App.build(settings)
    await upgrade(app.db)
    return app


async def delivery(app: Any, receiver_url: str, events: int, endpoints: int) -> dict[str, Any]:
    from crossdock.db.models import WebhookAttempt, WebhookDelivery
    from crossdock.jobs.webhooks import dispatch
    from crossdock.services import outbound_webhooks as hooks
    from crossdock.services.events import emit
    from crossdock.testing.kit import make_tenant

    tenant = await make_tenant(app)
    ids = []
    for i in range(endpoints):
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            row, _ = await hooks.create_endpoint(
                session,
                app.vault,
                url=f"{receiver_url}/in/{i}",
                event_types=["stock.low"],
                policy=app.http.policy,
            )
            ids.append(row.id)
    for start in range(0, events, 500):
        async with app.db.write(tenant.id, slug=tenant.slug) as session:
            for n in range(start, min(events, start + 500)):
                emit(session, "stock.low", f"Variant:{n + 1}", sku=f"BENCH-{n % 40:03d}", available=n % 7)
    ctx = app.job_context()
    now = datetime.now(UTC)

    async def pending() -> datetime | None:
        """When the next wave of retries is all due: the latest due time among the pending
        deliveries of the earliest retry step (their waits differ by the jitter only)."""
        async with app.db.tenant(tenant.id) as session:
            step = await session.scalar(
                select(func.min(WebhookDelivery.retry_step)).where(WebhookDelivery.status == "pending")
            )
            if step is None:
                return None
            return await session.scalar(
                select(func.max(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.status == "pending", WebhookDelivery.retry_step == step
                )
            )

    c0, t0 = time.process_time(), time.perf_counter()
    rounds = 0
    while True:
        await asyncio.gather(*(dispatch(ctx, tenant.id, e, now=now) for e in ids for _ in range(2)))
        rounds += 1
        due = await pending()
        async with app.db.tenant(tenant.id) as session:
            made = await session.scalar(select(func.count()).select_from(WebhookDelivery))
        if due is None and made == events * endpoints:
            break
        if due is not None and due > now:
            now = due  # nothing is due before then: move the clock, not the wall
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0

    async with httpx.AsyncClient() as client:
        stats = (await client.get(receiver_url + "/stats", timeout=60)).json()
    async with app.db.tenant(tenant.id) as session:
        rows = (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.message_id, WebhookDelivery.status)
            )
        ).all()
        attempts = (
            await session.execute(
                select(
                    WebhookAttempt.delivery_id, WebhookAttempt.attempted_at, WebhookAttempt.status_code
                ).order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
            )
        ).all()
    accepted: dict[str, int] = stats["accepted"]
    messages = {m for _, m, _ in rows}
    lost = len(messages - set(accepted)) + sum(1 for _, _, s in rows if s != "succeeded")
    doubled = sum(1 for n in accepted.values() if n > 1)
    by_delivery: dict[int, list[tuple[datetime, int | None]]] = {}
    for delivery_id, at, code in attempts:
        by_delivery.setdefault(delivery_id, []).append((at, code))
    outside = 0
    for tries in by_delivery.values():
        for i, (at, code) in enumerate(tries):
            if i + 1 < len(tries):
                following = tries[i + 1][0]
                planned = timedelta(seconds=hooks.RETRY_DELAYS[i] * (1 - hooks.JITTER))
                if code is None or 200 <= code < 300 or following - at < planned:
                    outside += 1
            elif code is None or not 200 <= code < 300:
                outside += 1
    total_attempts = len(attempts)
    delivered = len(rows)
    failures = sum(1 for _, status in stats["requests"] if status >= 500)

    # the floor: the same bodies, POSTed by plain httpx to the same receiver, as many at once
    bodies = []
    async with app.db.tenant(tenant.id) as session:
        from crossdock.db.models import Event

        for event in (
            await session.scalars(select(Event).where(Event.type == "stock.low").limit(events))
        ).all():
            bodies.append(hooks.message_body(event, tenant.slug))
    requests = [bodies[i % len(bodies)] for i in range(total_attempts)]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    f_c0, f_t0 = time.process_time(), time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=15) as client:
        for start in range(0, len(requests), hooks.CLAIM_BATCH * 2 * endpoints):
            chunk = requests[start : start + hooks.CLAIM_BATCH * 2 * endpoints]
            await asyncio.gather(
                *(
                    client.post(
                        f"{receiver_url}/in/floor", content=body, headers={"content-type": "application/json"}
                    )
                    for body in chunk
                )
            )
    floor_elapsed, floor_cpu = time.perf_counter() - f_t0, time.process_time() - f_c0
    floor = len(requests) / floor_elapsed
    attempts_per_s = total_attempts / elapsed
    return {
        "value": round(delivered / elapsed, 1),
        "unit": "deliveries/s",
        "attempts_per_s": round(attempts_per_s, 1),
        "floor": round(floor, 1),
        "floor_unit": "requests/s",
        "ratio": round(floor / attempts_per_s, 2),
        "cpu_ms_per_delivery": round(cpu * 1000 / delivered, 2),
        "cpu_ms_per_attempt": round(cpu * 1000 / total_attempts, 2),
        "floor_cpu_ms_per_request": round(floor_cpu * 1000 / len(requests), 2),
        "events": events,
        "endpoints": endpoints,
        "deliveries": delivered,
        "attempts": total_attempts,
        "receiver_failures": failures,
        "rounds": rounds,
        "lost": lost,
        "doubled": doubled,
        "outside_rules": outside,
    }


async def run(tmp: Path, *, events: int, endpoints: int) -> dict[str, Any]:
    from run import _free_port, database, marketplace_process

    port = _free_port()
    with marketplace_process(StatsReceiver(), port):
        async with database("postgresql", tmp) as url:
            app = await _app(url, tmp)
            try:
                result = await delivery(app, f"http://127.0.0.1:{port}", events, endpoints)
            finally:
                await app.close()
    return {"webhook_delivery.postgresql": result}


def main() -> None:
    import argparse

    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "webhooks.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(Path(tmp), events=args.events, endpoints=args.endpoints))
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "results": results,
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    result = results["webhook_delivery.postgresql"]
    if result["lost"] or result["doubled"] or result["outside_rules"]:
        raise SystemExit("deliveries lost, doubled or outside the retry rules")


if __name__ == "__main__":
    main()
