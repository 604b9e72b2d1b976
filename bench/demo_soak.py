"""The demo, left running: does it stay healthy for an hour?

Starts ``crossdock serve --demo`` as a real process (a temporary directory, a free port,
SQLite, the embedded job runner) for ``--minutes`` (default 60), polls its GraphQL API and
its process, and reads its log. Per connection it reports the sync interval achieved
against the one scheduled, sync durations, job latency (due -> done) and throttling; for the
whole demo the share of orders on hold (and why), resident memory and CPU per order. It
prints a table, writes ``bench/demo_soak.json`` and exits 1 when syncs fell behind their
schedule, jobs took more than a few seconds, or most orders ended on hold.

    python bench/demo_soak.py [--minutes 60] [--out bench/demo_soak.json] [--keep]

The server logs at INFO with ``crossdock.jobs.embedded`` at DEBUG: one line per sync
(connection, counts, duration) and one per finished job (its latency); the log is kept in
the temporary directory (printed) with ``--keep``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent
#: The demo's sync interval (``serve --demo`` sets CROSSDOCK_SYNC_INTERVAL=10).
SCHEDULED = 10.0
#: Pass/fail: an interval's p95 within this factor of the schedule, its worst within
#: MAX_INTERVAL_FACTOR; jobs done within these seconds (p95, worst); holds at most this share.
P95_INTERVAL_FACTOR = 1.5
MAX_INTERVAL_FACTOR = 3.0
JOB_P95_S = 2.0
JOB_MAX_S = 10.0
MAX_HOLD_SHARE = 0.15

_AT = r"(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
SYNC_LINE = re.compile(
    _AT + r".*? sync (?P<resource>\w+) connection=(?P<conn>\d+) (?P<counts>.*?) ?duration=(?P<dur>[\d.]+)s"
)
JOB_LINE = re.compile(
    _AT + r".*? job (?P<name>\w+) done latency=(?P<lat>[\d.]+)s(?: connection=(?P<conn>\d+))?"
)
THROTTLE_WORDS = ("THROTTLED", "QuotaExceeded", "throttled", "rate limit", "429")
ORDERS_PAGE = """query($after: String) { orders(first: 100, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { status holds { reason releasedAt } } } }"""
CONNECTIONS = (
    "{ connections { nodes { id name channel lastSyncAt lastSuccessAt throttledUntil lastError } } }"
)


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def quantiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and max (None for no values)."""
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def parse_log(text: str) -> dict[str, Any]:
    """The syncs, finished jobs and throttling a demo server's log records.

    ``syncs``: ``{(connection id, resource): [(start, duration), ...]}`` in order, the start
    being the logged time less the duration; ``jobs``: ``[(at, name, latency, connection id
    or None)]``; ``throttled``: ``{connection id or None: count}`` of retries and failures
    that name throttling."""
    syncs: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    jobs: list[tuple[float, str, float, int | None]] = []
    throttled: Counter[int | None] = Counter()
    for line in text.splitlines():
        if m := SYNC_LINE.search(line):
            duration = float(m["dur"])
            syncs[(int(m["conn"]), m["resource"])].append((_stamp(m["at"]) - duration, duration))
        elif m := JOB_LINE.search(line):
            jobs.append((_stamp(m["at"]), m["name"], float(m["lat"]), int(m["conn"]) if m["conn"] else None))
        elif ("retry" in line or "failed" in line) and any(w in line for w in THROTTLE_WORDS):
            found = re.search(r"connection[= ](\d+)", line)
            throttled[int(found.group(1)) if found else None] += 1
    return {"syncs": dict(syncs), "jobs": jobs, "throttled": dict(throttled)}


def summarize(
    parsed: dict[str, Any], channels: dict[int, str], *, scheduled: float = SCHEDULED, skip_first_s: float = 0
) -> dict[str, Any]:
    """Per connection: order-sync intervals and durations, its jobs' latency, throttling;
    and every job's latency together. ``skip_first_s`` leaves out the start-up."""
    jobs = parsed["jobs"]
    begin = min([start for runs in parsed["syncs"].values() for start, _ in runs] or [0.0]) + skip_first_s
    out: dict[str, Any] = {}
    for conn_id, channel in sorted(channels.items()):
        runs = [(s, d) for s, d in parsed["syncs"].get((conn_id, "orders"), []) if s >= begin]
        starts = [s for s, _ in runs]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        own = [lat for at, _, lat, c in jobs if c == conn_id and at >= begin]
        out[channel] = {
            "connection_id": conn_id,
            "syncs": len(runs),
            "scheduled_interval_s": scheduled,
            "interval_s": quantiles(gaps),
            "sync_duration_s": quantiles([d for _, d in runs]),
            "job_latency_s": quantiles(own),
            "throttled": int(parsed["throttled"].get(conn_id, 0)),
        }
    every = [lat for at, _, lat, _ in jobs if at >= begin]
    return {
        "connections": out,
        "jobs": {"count": len(every), "latency_s": quantiles(every)},
        "throttled_unattributed": int(parsed["throttled"].get(None, 0)),
    }


def windows(parsed: dict[str, Any], minutes: int = 5) -> list[dict[str, Any]]:
    """The same figures per ``minutes`` window: does the demo slow down as it runs?"""
    starts = [s for runs in parsed["syncs"].values() for s, _ in runs]
    if not starts:
        return []
    t0, size, rows = min(starts), minutes * 60, []
    end = max(starts + [at for at, *_ in parsed["jobs"]])
    for k in range(int((end - t0) // size) + 1):
        lo, hi = t0 + k * size, t0 + (k + 1) * size
        durations = [
            d
            for (_, res), runs in parsed["syncs"].items()
            if res == "orders"
            for s, d in runs
            if lo <= s < hi
        ]
        latencies = [lat for at, _, lat, _ in parsed["jobs"] if lo <= at < hi]
        rows.append(
            {
                "minute": k * minutes,
                "order_syncs": len(durations),
                "sync_duration_p95_s": quantiles(durations)["p95"],
                "job_latency_p95_s": quantiles(latencies)["p95"],
                "job_latency_max_s": quantiles(latencies)["max"],
            }
        )
    return rows


def verdict(summary: dict[str, Any], holds_share: float | None) -> list[str]:
    """What failed; empty when the demo kept up."""
    problems = []
    for channel, row in summary["connections"].items():
        gaps, scheduled = row["interval_s"], row["scheduled_interval_s"]
        if row["syncs"] < 2:
            problems.append(f"{channel}: only {row['syncs']} order syncs")
            continue
        if gaps["p95"] > P95_INTERVAL_FACTOR * scheduled or gaps["max"] > MAX_INTERVAL_FACTOR * scheduled:
            problems.append(f"{channel}: syncs fell behind (interval p95 {gaps['p95']}s, max {gaps['max']}s)")
        if row["sync_duration_s"]["p95"] > scheduled:
            problems.append(f"{channel}: syncs take longer than their interval ({row['sync_duration_s']})")
    latency = summary["jobs"]["latency_s"]
    if latency["p95"] is None:
        problems.append("no finished jobs in the log")
    elif latency["p95"] > JOB_P95_S or latency["max"] > JOB_MAX_S:
        problems.append(f"jobs slow: latency p95 {latency['p95']}s, max {latency['max']}s")
    if holds_share is not None and holds_share > MAX_HOLD_SHARE:
        problems.append(f"{holds_share:.0%} of orders on hold")
    return problems


# --------------------------------------------------------------------------- the live run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _proc_sample(pid: int) -> tuple[float, float]:
    """(CPU seconds, resident MB) of a process, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return cpu, rss_kb / 1024


class Demo:
    """``crossdock serve --demo`` in a temporary directory, as a newcomer starts it."""

    def __init__(self, workdir: Path, log_level: str = "INFO,crossdock.jobs.embedded=DEBUG") -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDOCK_")}
        env["CROSSDOCK_DATA_DIR"] = str(workdir / ".crossdock")
        env["CROSSDOCK_LOG_LEVEL"] = log_level
        self._log = self.log_path.open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crossdock.cli", "serve", "--demo", "--port", str(self.port)],
            cwd=workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.key = ""
        self.channels: dict[int, str] = {}

    def wait_ready(self, limit: float = 180) -> None:
        emulators = self.workdir / ".crossdock" / "demo-emulators.json"
        deadline = time.monotonic() + limit  # a safety net against a hang
        while not (emulators.exists() and emulators.stat().st_size):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not start:\n{self.log()[-3000:]}")
            time.sleep(0.5)
        found = re.search(r"Demo API key \(admin, all demo tenants\): (cdk_\S+)", self.log())
        if not found:
            raise RuntimeError(f"no demo key in the output:\n{self.log()[-3000:]}")
        self.key = found.group(1)
        while True:  # the emulators start first, then the server takes its port
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo server did not answer:\n{self.log()[-3000:]}")
            time.sleep(0.5)
        shops = json.loads(emulators.read_text())
        self.channels = {int(v["connection_id"]): k for k, v in shops.items()}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """One query; the API's own cost throttling (``THROTTLED``) is waited out."""
        for _ in range(20):
            response = httpx.post(
                f"{self.base}/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.key}", "X-Tenant": "acme-outdoor"},
                timeout=30,
            )
            body = response.json()
            errors = body.get("errors") or []
            throttled = [e for e in errors if (e.get("extensions") or {}).get("code") == "THROTTLED"]
            if throttled:
                time.sleep(float(throttled[0]["extensions"].get("retryAfter") or 1) + 0.1)
                continue
            if errors:
                raise RuntimeError(errors)
            return body["data"]
        raise RuntimeError("the API kept throttling the soak's queries")

    def orders(self) -> dict[str, Any]:
        """Every order's status and standing holds: counts by status and by hold reason."""
        statuses: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        after = None
        while True:
            page = self.gql(ORDERS_PAGE, {"after": after})["orders"]
            for node in page["nodes"]:
                statuses[node["status"].lower()] += 1  # ON_HOLD in the API, on_hold in the report
                reasons.update({h["reason"].lower() for h in node["holds"] if not h["releasedAt"]})
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        total = sum(statuses.values())
        return {
            "total": total,
            "by_status": dict(statuses),
            "hold_reasons": dict(reasons),
            "on_hold_share": round(statuses.get("on_hold", 0) / total, 4) if total else None,
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def soak(minutes: float, poll: float = 5.0, keep: bool = False) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="crossdock-soak-"))
    demo = Demo(workdir)
    samples: list[dict[str, Any]] = []
    throttled_seen: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    try:
        demo.wait_ready()
        started = time.monotonic()
        cpu0, rss0 = _proc_sample(demo.proc.pid)
        next_orders = started
        while time.monotonic() - started < minutes * 60:
            if demo.proc.poll() is not None:
                raise RuntimeError(f"the demo server exited:\n{demo.log()[-3000:]}")
            cpu, rss = _proc_sample(demo.proc.pid)
            sample: dict[str, Any] = {"t": round(time.monotonic() - started, 1), "cpu_s": cpu, "rss_mb": rss}
            try:
                for node in demo.gql(CONNECTIONS)["connections"]["nodes"]:
                    until = node["throttledUntil"]
                    if until and datetime.fromisoformat(until) > datetime.now(UTC):
                        throttled_seen[node["channel"]] += 1
                    if node["lastError"]:
                        errors[f"{node['channel']}: {node['lastError'][:120]}"] += 1
                if time.monotonic() >= next_orders:
                    sample["orders"] = demo.orders()
                    next_orders = time.monotonic() + 60
            except (httpx.HTTPError, RuntimeError) as exc:
                sample["api_error"] = str(exc)[:200]
            samples.append(sample)
            time.sleep(poll)
        final_orders = demo.orders()
        cpu1, rss1 = _proc_sample(demo.proc.pid)
        elapsed = time.monotonic() - started
    finally:
        demo.stop()
    parsed = parse_log(demo.log())
    summary = summarize(parsed, demo.channels, skip_first_s=30)
    for channel, row in summary["connections"].items():
        row["throttled_polls"] = throttled_seen.get(channel, 0)
    rss = [s["rss_mb"] for s in samples]
    processed = final_orders["total"]
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "minutes": round(elapsed / 60, 2),
        **summary,
        "windows": windows(parsed),
        "orders": final_orders,
        "orders_over_time": [
            {"minute": round(s["t"] / 60, 1), **{k: s["orders"][k] for k in ("total", "on_hold_share")}}
            for s in samples
            if "orders" in s
        ],
        "process": {
            "rss_mb_start": round(rss0, 1),
            "rss_mb_end": round(rss1, 1),
            "rss_mb_max": round(max(rss or [rss1]), 1),
            "cpu_s": round(cpu1 - cpu0, 1),
            "cpu_share": round((cpu1 - cpu0) / elapsed, 3),
            "cpu_ms_per_order": round(1000 * (cpu1 - cpu0) / processed, 1) if processed else None,
        },
        "connection_errors_seen": dict(errors.most_common(10)),
        "api_errors": [s["api_error"] for s in samples if "api_error" in s][:10],
        "log": str(demo.log_path) if keep else None,
    }
    report["problems"] = verdict(summary, final_orders["on_hold_share"])
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def table(report: dict[str, Any]) -> str:
    rows = [
        f"demo soak: {report['minutes']} min, {report['orders']['total']} orders, "
        f"{report['orders']['on_hold_share']:.1%} on hold {report['orders']['hold_reasons']}",
        f"{'connection':<10} {'syncs':>5} {'interval p50/p95/max s':>24} {'duration p50/p95/max s':>24} "
        f"{'job latency p50/p95/max s':>26} {'throttled':>9}",
    ]

    def q(v: dict[str, Any]) -> str:
        return "/".join("-" if v[k] is None else f"{v[k]:.2f}" for k in ("p50", "p95", "max"))

    for channel, row in report["connections"].items():
        rows.append(
            f"{channel:<10} {row['syncs']:>5} {q(row['interval_s']):>24} {q(row['sync_duration_s']):>24} "
            f"{q(row['job_latency_s']):>26} {row['throttled']:>9}"
        )
    proc = report["process"]
    rows.append(
        f"all jobs: {report['jobs']['count']}, latency p50/p95/max {q(report['jobs']['latency_s'])} s"
    )
    rows.append(
        f"server: RSS {proc['rss_mb_start']} -> {proc['rss_mb_end']} MB (max {proc['rss_mb_max']}), "
        f"CPU {proc['cpu_s']} s ({proc['cpu_share']:.0%} of a core), {proc['cpu_ms_per_order']} ms per order"
    )
    for w in report["windows"]:
        rows.append(
            f"  minute {w['minute']:>3}: {w['order_syncs']:>4} order syncs, duration p95 "
            f"{w['sync_duration_p95_s']} s, job latency p95 {w['job_latency_p95_s']} s "
            f"max {w['job_latency_max_s']} s"
        )
    rows.append("PASS" if not report["problems"] else "FAIL: " + "; ".join(report["problems"]))
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--poll", type=float, default=5.0, help="Seconds between API polls.")
    parser.add_argument("--out", default=str(ROOT / "demo_soak.json"))
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory and its log.")
    args = parser.parse_args()
    report = soak(args.minutes, args.poll, args.keep)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
