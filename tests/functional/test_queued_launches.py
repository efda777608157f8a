"""Launches as queue jobs (kind ``launch``), on SQLite and PostgreSQL with real workers: the web process only checks
and queues (bad input still refused at once), a worker runs the launch and writes its events to the database, a
second web process streams a launch the first started, "my sessions" is finished by the worker, a launch waits at
most `launch_build_timeout` for its build, and a launch whose `portal worker` was killed -9 is run again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from portal.app import services_of
from portal.db.models import LaunchSession
from portal.environments.builders import localized_event
from portal.errors import NotFound, Notice
from portal.identity.principal import ANONYMOUS
from portal.jobqueue.base import WORKER_LOST
from portal.jobqueue.tasks import TASKS
from portal.launch.kinds import EnvLaunch, GitLaunch
from portal.launch.queued import LaunchEvent, StoredLaunch, kind_from_json, kind_to_json
from portal.web.i18n import translate_message
from tests.support.app import start_worker
from tests.support.launches import course_envs, kill_worker_midway
from tests.support.launches import launch_app as _app
from tests.support.waiting import wait_for


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    return course_envs(tmp_path)


def test_kinds_round_trip_through_a_payload() -> None:
    for kind in (EnvLaunch("course", "a.ipynb"), GitLaunch("https://github.com/a/b", "main")):
        assert kind_from_json(kind_to_json(kind)) == kind


def test_the_web_process_queues_a_launch_and_a_worker_runs_it(settings_dict, envs: Path) -> None:
    web = services_of(_app(settings_dict, envs))
    job = web.launches.start(EnvLaunch("course"), user="jane")
    assert isinstance(job, StoredLaunch)
    entry = web.queue.find(f"launch:{job.id}")
    assert entry is not None and entry.kind == "launch" and entry.state == "queued"
    assert [e["phase"] for e in job.events] == ["waiting"] and not job.done  # nothing ran in the web process

    with pytest.raises(NotFound):  # bad input is refused at once, and nothing is queued for it
        web.launches.start(EnvLaunch("nope"), user="jane")

    # a worker of another process (here: another app on the same database) runs it
    worker_app = _app(settings_dict, envs)
    start_worker(worker_app)
    events = [e for e in job.stream(heartbeat=0.5) if e is not None]
    assert events[-1]["phase"] == "ready", events
    assert {"waiting", "building", "launching", "ready"} <= {e["phase"] for e in events}
    # the job ends just after its last event is written
    wait_for(lambda: web.queue.find(f"launch:{job.id}").state == "succeeded", message="the launch job succeeded")

    # any web process streams it from the database: a second one that never saw it
    other = services_of(_app(settings_dict, envs))
    again = other.launches.job(job.id)
    assert [e for e in again.stream(heartbeat=0.5) if e is not None] == events
    with pytest.raises(NotFound):
        other.launches.job("0" * 16)


def test_the_worker_finishes_the_launchs_session(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs)
    svc = services_of(app)
    start_worker(app)
    session_id = svc.sessions.begin(ANONYMOUS, "127.0.0.1", "course", None)
    job = svc.launches.start(EnvLaunch("course"), user="jane", session_id=session_id)
    wait_for(lambda: job.done, message="the launch ended")

    def state() -> str | None:
        with svc.db.reader() as s:
            row = s.get(LaunchSession, session_id)
            return row.state if row is not None and row.state != "starting" else None

    assert wait_for(state, message="the worker recorded the session's end") == "ready"
    with svc.db.reader() as s:
        assert (s.get(LaunchSession, session_id).url or "").endswith("/lab")


def test_a_launch_waits_for_its_build_at_most_the_timeout(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs, launch_build_timeout=0.5)
    svc = services_of(app)
    start_worker(app, kinds={"launch": TASKS["launch"]})  # no worker builds: the build stays queued
    job = svc.launches.start(EnvLaunch("course"), user="jane")
    wait_for(lambda: job.done, message="the launch gave up waiting")
    last = job.events[-1]
    assert last["phase"] == "failed" and "PORTAL_LAUNCH_BUILD_TIMEOUT" in last["message"], job.events
    assert "0.5 s" in last["message"]
    run_id = next(e["build"] for e in job.events if "build" in e)
    assert svc.queue.find(f"env.build:{run_id}").state == "queued"  # the build itself goes on
    wait_for(lambda: svc.queue.find(f"launch:{job.id}").state == "failed", message="the launch job failed")

    start_worker(app, kinds={"env.build": TASKS["env.build"]})
    wait_for(lambda: svc.launches.runs.get(run_id).state == "succeeded", message="the build finished")
    later = svc.launches.start(EnvLaunch("course"), user="jane")
    wait_for(lambda: later.done, message="a later launch ended")
    assert later.events[-1]["phase"] == "ready" and any(e.get("cached") for e in later.events), later.events


def test_a_launch_whose_worker_was_killed_is_run_again(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs, worker_heartbeat_timeout=3)
    svc = services_of(app)
    job = svc.launches.start(EnvLaunch("course"), user="jane")
    # a `portal worker` process whose hub is slow
    kill_worker_midway(
        app,
        "tests.support.slow_launch_worker",
        lambda: any("is starting" in e["message"] for e in job.events),
        "the worker process is starting the server",
    )
    lost = svc.queue.find(f"launch:{job.id}")
    assert lost.state == "running" and lost.worker_id is not None and not job.done  # the worker just died

    start_worker(app, poll_interval=0.05, heartbeat_timeout=3)
    wait_for(lambda: job.done, message="the recovered launch ended")
    assert job.events[-1]["phase"] == "ready", job.events
    assert any("attempt 2" in e["message"] for e in job.events)
    entry = wait_for(
        lambda: (e := svc.queue.find(f"launch:{job.id}")) and e.state == "succeeded" and e, message="the job ended"
    )
    assert entry.attempts == 2 and entry.worker_id != lost.worker_id


def test_a_launch_given_up_ends_its_stream_with_the_reason(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs)
    svc = services_of(app)
    session_id = svc.sessions.begin(ANONYMOUS, "127.0.0.1", "course", None)
    job = svc.launches.start(EnvLaunch("course"), user="jane", session_id=session_id)
    entry = svc.queue.find(f"launch:{job.id}")
    reason = Notice(WORKER_LOST, worker="w1", seconds="3")  # as recover() gives it
    TASKS["launch"].give_up(svc, entry.payload, reason)
    assert (
        job.done and job.events[-1]["message"] == "the launch did not finish: worker lost: w1 sent no heartbeat for 3 s"
    )
    with app.test_request_context(headers={"Accept-Language": "fr"}):  # both sentences in the reader's language
        french = localized_event(job.events[-1], translate_message)["message"]
    assert french.startswith("le lancement ne s'est pas terminé : worker perdu : w1 n'a envoyé aucun"), french
    with svc.db.reader() as s:
        assert s.get(LaunchSession, session_id).state == "failed"
        assert len(s.scalars(select(LaunchEvent).where(LaunchEvent.launch_id == job.id)).all()) == 2


def test_one_worker_thread_runs_a_launch_and_the_build_it_waits_for(settings_dict, envs: Path) -> None:
    # a launch waits for its build: launches are claimed on threads of their own, or a worker with one thread
    # (or N launches on N threads) would wait for builds that nobody claims
    app = _app(settings_dict, envs)
    svc = services_of(app)
    start_worker(app, concurrency=1)
    job = svc.launches.start(EnvLaunch("course"), user="jane")
    wait_for(lambda: job.done, message="the launch ended")
    assert job.events[-1]["phase"] == "ready" and any("build" in e for e in job.events), job.events
