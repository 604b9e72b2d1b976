"""Background jobs: one registry of job functions, two runners (in-process and arq)."""

from __future__ import annotations

from crossdock.jobs import tasks as tasks  # registers the job functions
from crossdock.jobs.registry import JOBS, PERIODIC, JobContext, Queue

__all__ = ["JOBS", "PERIODIC", "JobContext", "Queue"]
