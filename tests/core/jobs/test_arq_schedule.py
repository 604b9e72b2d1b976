"""arq gets the same schedule as the embedded runner."""

from __future__ import annotations

import dataclasses

from crossdock.config import Settings
from crossdock.jobs import JOBS, PERIODIC
from crossdock.jobs.arq_worker import worker_settings


def test_worker_settings_cover_every_job_and_schedule() -> None:
    settings = dataclasses.replace(
        Settings(database_url="sqlite+aiosqlite://", secret_keys=("x",)),
        redis_url="redis://127.0.0.1:6379/9",
        sync_interval_seconds=20,
    )
    kwargs = worker_settings(settings)
    assert {f.name for f in kwargs["functions"]} == set(JOBS)
    crons = {c.name: c for c in kwargs["cron_jobs"]}
    assert set(crons) == {f"cron:{p.name}" for p in PERIODIC}
    assert crons["cron:schedule_syncs"].second == {0, 20, 40}
    hourly = worker_settings(dataclasses.replace(settings, sync_interval_seconds=900))
    [syncs] = [c for c in hourly["cron_jobs"] if c.name == "cron:schedule_syncs"]
    assert syncs.minute == {0, 15, 30, 45}
