"""Background jobs: one registry of job functions, two runners (in-process and arq).

:mod:`~crossdock.jobs.sync` is the sync engine (order, message and payout pages from a
cursor), :mod:`~crossdock.jobs.tasks` the other jobs and sweeps, :mod:`~crossdock.jobs.tracking` the
carrier tracking poll and exception notices, :mod:`~crossdock.jobs.webhooks` outbound webhook
delivery, :mod:`~crossdock.jobs.warehouses` the warehouse-system stock sync,
:mod:`~crossdock.jobs.bulk` bulk exports and usage snapshots, and
:mod:`~crossdock.jobs.channel` the plumbing every channel call goes through.
"""

from __future__ import annotations

from crossdock.jobs import analytics as analytics  # registers the analytics and report jobs
from crossdock.jobs import bulk as bulk  # registers the bulk export and usage jobs
from crossdock.jobs import cases as cases  # registers the after-sales jobs
from crossdock.jobs import labels as labels  # registers the label purchase jobs
from crossdock.jobs import listings as listings  # registers the listing publishing job
from crossdock.jobs import refunds as refunds  # registers the refund resume job
from crossdock.jobs import sync as sync  # registers the sync jobs
from crossdock.jobs import tasks as tasks  # registers the other job functions
from crossdock.jobs import tracking as tracking  # registers the tracking jobs
from crossdock.jobs import warehouses as warehouses  # registers the warehouse-system jobs
from crossdock.jobs import webhooks as webhooks  # registers the outbound webhook jobs
from crossdock.jobs.registry import JOBS, PERIODIC, JobContext, Queue

__all__ = ["JOBS", "PERIODIC", "JobContext", "Queue"]
