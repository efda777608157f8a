"""Periodic work on the job queue, on SQLite and PostgreSQL with real workers: statistics aggregation and fixity
audits run as queue jobs every interval (their settings), one run queued at a time even with two workers keeping
them, and a worker started without ``periodic`` queues none."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from portal.app import create_app, services_of
from portal.jobqueue.models import QueueJob
from tests.support.app import start_worker


def wait_for(what: Callable[[], Any], timeout: float = 60, message: str = "") -> Any:
    """Poll until ``what()`` is truthy (a bound on a wait, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting after {timeout} s: {message}")


def _jobs(app: Any, kind: str, *states: str) -> int:
    with services_of(app).db.reader() as s:
        query = select(func.count()).select_from(QueueJob).where(QueueJob.kind == kind)
        return s.scalar(query.where(QueueJob.state.in_(states)) if states else query) or 0


def test_statistics_and_audits_run_every_interval_one_run_queued_at_a_time(settings_dict, tmp_path) -> None:
    app = create_app(
        {
            **settings_dict,
            "data_dir": str(tmp_path / "data"),
            "stats_aggregate_interval": 0.2,
            "audit_interval": 0.3,
            "audit_rate": 0.0,
        }
    )
    # two workers keep the periodic jobs at once, as two `portal worker` processes do
    start_worker(app, periodic=True, poll_interval=0.05)
    start_worker(app, periodic=True, poll_interval=0.05)
    wait_for(lambda: _jobs(app, "stats.aggregate", "succeeded") >= 4, message="statistics were aggregated, again")
    wait_for(lambda: _jobs(app, "files.audit", "succeeded") >= 2, message="the files were audited, again")
    assert (tmp_path / "var" / "audits" / "latest.json").is_file()  # the audit's report, as `portal files audit`
    assert _jobs(app, "stats.aggregate", "failed") == 0 and _jobs(app, "files.audit", "failed") == 0
    # however many workers keep them, each periodic kind has one run waiting (or running) at a time
    for _ in range(20):
        assert _jobs(app, "stats.aggregate", "queued", "running") <= 1
        assert _jobs(app, "files.audit", "queued", "running") <= 1
        time.sleep(0.05)


def test_a_worker_without_periodic_queues_no_periodic_job(settings_dict) -> None:
    app = create_app({**settings_dict, "stats_aggregate_interval": 0.1})
    start_worker(app, poll_interval=0.05)  # the test apps' workers: periodic work only where a test asks for it
    assert services_of(app).queue.find("periodic:stats.aggregate") is None
    assert _jobs(app, "stats.aggregate") == 0
