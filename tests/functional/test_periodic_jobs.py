"""Periodic work on the job queue, on SQLite and PostgreSQL with real workers: statistics aggregation and fixity
audits run as queue jobs every interval (their settings), one run queued at a time even with two workers keeping
them, and a worker started without ``periodic`` queues none."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from portal.app import create_app, services_of
from portal.jobqueue.models import QueueJob
from tests.support.app import start_worker
from tests.support.waiting import wait_for


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


def test_events_of_launches_finished_long_ago_are_pruned_by_the_periodic_work(settings_dict) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from portal.environments.builders import BuildEvent
    from portal.launch.queued import LaunchEvent, LaunchEvents, ref_of

    app = create_app({**settings_dict, "launch_events_keep_days": 2, "launch_events_prune_interval": 0.1})
    svc = services_of(app)
    events = LaunchEvents(svc.db)
    for launch_id in ("old", "old-unended", "old-queued", "recent"):
        events.append(launch_id, BuildEvent("building", "building the environment"))
        if launch_id != "old-unended":  # a launch whose worker was lost before its last event is finished too
            events.append(launch_id, BuildEvent("ready", "ready", {"url": "/user/x"}))
    # a queued launch's job is not finished, however old its events: they stay
    svc.queue.enqueue("launch", {}, ref=ref_of("old-queued"), run_after=datetime.now(UTC) + timedelta(days=1))
    long_ago = datetime.now(UTC) - timedelta(days=3)
    with svc.db.transaction() as s:
        s.execute(update(LaunchEvent).where(LaunchEvent.launch_id != "recent").values(created_at=long_ago))

    start_worker(app, periodic=True, poll_interval=0.05)
    wait_for(lambda: _jobs(app, "launch.prune", "succeeded") >= 1, message="the launch events were pruned")
    assert events.since("old") == [] and events.since("old-unended") == []
    assert [event["phase"] for _id, event in events.since("old-queued")] == ["building", "ready"]
    assert [event["phase"] for _id, event in events.since("recent")] == ["building", "ready"]
    pruned = svc.queue.find("periodic:launch.prune")
    assert pruned is not None  # the next run is queued
    assert _jobs(app, "launch.prune", "failed") == 0


def test_launch_events_are_kept_when_keep_days_is_zero(settings_dict) -> None:
    app = create_app({**settings_dict, "launch_events_keep_days": 0, "launch_events_prune_interval": 0.1})
    start_worker(app, periodic=True, poll_interval=0.05)
    assert services_of(app).queue.find("periodic:launch.prune") is None
