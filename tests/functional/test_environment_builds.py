"""Environment builds as queue jobs (kind ``env.build``), on SQLite and PostgreSQL with real workers: a launch (run
by a worker, kind ``launch``) queues its build and a worker runs it, a launch waits at most `launch_build_timeout`
for it, concurrent first launches share one build, the build rows are recorded once
however many finish it at once, a failing build fails its launch with the reason, and a build whose `portal worker`
was killed -9 is recovered within the heartbeat timeout and the launch goes on."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.app import services_of
from portal.db.models import EnvironmentBuild, EnvironmentPin
from portal.environments.builders import build_to_end, localized_event
from portal.environments.doubles import FailingBuilder
from portal.i18n import translate_same
from portal.jobqueue.models import QueueJob
from portal.jobqueue.tasks import TASKS
from portal.launch.builds import EnvironmentBuildLine, EnvironmentBuildRun
from portal.launch.kinds import EnvLaunch
from portal.launch.manager import LaunchJob
from portal.launch.queued import LaunchEvent, StoredLaunch
from portal.launch.sources import local_env
from tests.support.app import start_worker
from tests.support.launches import course_envs, kill_worker_midway
from tests.support.launches import launch_app as _app
from tests.support.users import bearer, make_user, sign_in, token_for
from tests.support.waiting import wait_for


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    return course_envs(tmp_path)


def launch_worker(app: Any, concurrency: int = 1) -> Any:
    """A worker that runs launches only: their builds stay queued until a test starts a worker that builds."""
    return start_worker(app, kinds={"launch": TASKS["launch"]}, concurrency=concurrency)


def build_worker(app: Any, **options: Any) -> Any:
    """A worker that runs builds only."""
    return start_worker(app, kinds={"env.build": TASKS["env.build"]}, **options)


def _queued(job: LaunchJob | StoredLaunch) -> dict[str, Any] | None:
    """The launch's event saying which build it waits for, once it was sent."""
    return next((e for e in list(job.events) if e["phase"] == "waiting" and "build" in e), None)


def _count(app: Any, what: Any, *where: Any) -> int:
    with services_of(app).db.reader() as s:
        return s.scalar(select(func.count()).select_from(what).where(*where)) or 0


def test_a_launch_queues_its_build_and_a_worker_runs_it(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs)
    svc = services_of(app)
    launch_worker(app)
    job = svc.launches.start(EnvLaunch("course"), user="jane")
    queued = wait_for(lambda: _queued(job), message="the launch queued its build")
    run_id = queued["build"]
    assert "queued for a worker" in queued["message"]
    # no worker builds yet: the build waits in the queue; the web process builds nothing itself
    entry = svc.queue.find(f"env.build:{run_id}")
    assert entry is not None and entry.kind == "env.build" and entry.state == "queued"
    assert svc.launches.builder.cached(queued["key"]) is None and not job.done

    worker = build_worker(app)
    wait_for(lambda: job.done, message="the launch ended")
    phases = [e["phase"] for e in job.events]
    assert phases[-2:] == ["launching", "ready"], job.events
    assert "building" in phases and phases.index("waiting") < phases.index("building")
    entry = svc.queue.find(f"env.build:{run_id}")
    assert entry.state == "succeeded" and entry.worker_id == worker.worker_id and entry.attempts == 1
    run = svc.launches.runs.get(run_id)
    assert run is not None and run.state == "succeeded" and run.error is None
    assert _count(app, EnvironmentBuildLine, EnvironmentBuildLine.run_id == run_id) >= 2  # its log, in the database
    assert _count(app, EnvironmentBuild, EnvironmentBuild.key == queued["key"]) == 1

    # built: the next launch reuses it and queues nothing
    again = svc.launches.start(EnvLaunch("course"), user="jane")
    wait_for(lambda: again.done, message="the second launch ended")
    assert again.events[-1]["phase"] == "ready" and any(e.get("cached") for e in again.events)
    assert _count(app, QueueJob, QueueJob.kind == "env.build") == 1


def test_concurrent_first_launches_share_one_build(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs)
    svc = services_of(app)
    launch_worker(app, concurrency=4)
    jobs = [svc.launches.start(EnvLaunch("course"), user=f"user{i}") for i in range(4)]
    waiting = [wait_for(lambda j=j: _queued(j), message="each launch asked for the build") for j in jobs]
    assert len({w["build"] for w in waiting}) == 1  # one build, joined by the others
    assert sum("already under way" in w["message"] for w in waiting) == 3
    build_worker(app)
    for job in jobs:
        wait_for(lambda j=job: j.done, message="every launch ended")
        assert job.events[-1]["phase"] == "ready", job.events
    assert _count(app, EnvironmentBuildRun) == 1 and _count(app, QueueJob, QueueJob.kind == "env.build") == 1
    with svc.db.reader() as s:
        assert s.scalar(select(EnvironmentBuildRun.active_key)) is None  # the key is free for a later build


def test_a_build_finished_by_many_at_once_is_recorded_once(settings_dict, envs: Path) -> None:
    # LaunchManager._remember used to read then insert: two first builds of a key racing raised IntegrityError
    app = _app(settings_dict, envs)
    manager = services_of(app).launches
    source = local_env("course", envs)
    built = build_to_end(manager.builder, source.repo_dir)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def remember() -> None:
        barrier.wait()
        try:
            manager._remember(built, source, 777)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=remember) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _count(app, EnvironmentBuild, EnvironmentBuild.key == built.key) == 1
    assert _count(app, EnvironmentPin, EnvironmentPin.recid == 777) == 1


def test_a_failing_build_fails_its_launch_with_the_reason_and_is_not_retried(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs, launch_builder="failing")
    svc = services_of(app)
    start_worker(app)
    job = svc.launches.start(EnvLaunch("course"), user="jane")
    wait_for(lambda: job.done, message="the launch ended")
    last = job.events[-1]
    assert last["phase"] == "failed" and FailingBuilder.REASON in last["message"], job.events
    run_id = _queued(job)["build"]
    run = svc.launches.runs.get(run_id)
    assert run.state == "failed" and FailingBuilder.REASON in (run.error or "")
    entry = svc.queue.find(f"env.build:{run_id}")
    assert entry.state == "failed" and entry.attempts == 1


def _sse(resp: Any) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in resp.get_data(as_text=True).splitlines() if line.startswith("data: ")]


def test_a_failed_build_reads_in_french_on_the_launch_stream(settings_dict, envs: Path) -> None:
    """The build fails on a worker, with no reader: its reason is kept as a message id (on the build's row and the
    launch's events), and the launch's event stream says it in the reader's language; another reader of the same
    launch, in English, reads English. A build's own log lines are not the portal's text: they stay as written."""
    app = _app(settings_dict, envs, launch_builder="failing")
    svc = services_of(app)
    start_worker(app)
    client = sign_in(app.test_client(), make_user(app, "lea"))
    page = client.get("/launch/env/course", headers={"Accept-Language": "fr"})
    assert page.status_code == 200 and "Lancement de" in page.get_data(as_text=True)
    resp = client.get("/launch/env/course/events", headers={"Accept-Language": "fr"})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    events = _sse(resp)
    french = "BuildFailed: le constructeur « failing » fait échouer chaque construction"
    assert events[-1]["phase"] == "failed" and events[-1]["message"].startswith(french), events
    assert "installing requirements" in [e["message"] for e in events]  # the builder's own line, as it wrote it
    # what the builder does not honour, the portal's sentence around a value of its own: French, both parts
    warning = "avertissement : requirements.txt non installé(s) : le constructeur instantané exécute l'interpréteur"
    assert any(e["message"].startswith(warning) for e in events), events
    listed = client.get("/api/environments", headers={"Accept-Language": "fr"}).get_json()["environments"]
    assert listed[0]["unsupported"] == [
        "requirements.txt non installé(s) : le constructeur instantané exécute l'interpréteur du portail"
    ]
    english = client.get("/api/environments").get_json()["environments"][0]["unsupported"]
    assert english == ["requirements.txt not installed: the instant builder runs the portal's interpreter"]
    # the portal's own progress lines too: the launch queued (written by the web process), the build queued
    assert events[0]["message"].startswith("lancement de ") and "mis en file d'attente" in events[0]["message"]
    assert any(e["message"].endswith("mise en file d'attente pour un worker") for e in events), events
    assert not any("_text" in e for e in events)  # the stored form stays on the server
    run = svc.launches.runs.get(_queued_build(events))
    assert run.state == "failed" and run.error == FailingBuilder.REASON
    assert run.error_message == {"id": FailingBuilder.REASON, "params": {}}
    # the rows keep the English text and the message id: an English reader's stream of the same launch reads English
    with svc.db.reader() as s:
        rows = s.scalars(select(LaunchEvent).where(LaunchEvent.phase == "failed")).all()
        assert len(rows) == 1 and rows[0].message == f"BuildFailed: {FailingBuilder.REASON}"
        assert rows[0].data["_text"]["id"] == FailingBuilder.REASON
        launch = rows[0].launch_id
    english = [localized_event(e, translate_same) for e in svc.launches.job(rows[0].launch_id).events]
    assert english[-1]["message"] == f"BuildFailed: {FailingBuilder.REASON}"
    # "my sessions", finished by the worker: the reason in French to a French reader, in English to others
    sessions = wait_for(
        lambda: (lambda html: html if "échoué" in html else None)(
            client.get("/my/sessions", headers={"Accept-Language": "fr"}).get_data(as_text=True)
        ),
        message="the worker recorded the session's end",
    )
    assert "BuildFailed: le constructeur « failing » fait échouer chaque construction" in html_text(sessions)
    assert f"BuildFailed: {FailingBuilder.REASON}" in html_text(client.get("/my/sessions").get_data(as_text=True))
    # the build's queue job, as the jobs API shows it to an admin: its error in the reader's language too
    root = bearer(token_for(app, ["admin"], username="root", roles=["admin"]))
    job_id = svc.queue.find(f"env.build:{run.id}").id
    french_job = client.get(f"/api/jobs/{job_id}", headers={**root, "Accept-Language": "fr"}).get_json()
    assert french_job["state"] == "failed" and french_job["error"].startswith("le constructeur « failing »"), french_job
    assert client.get(f"/api/jobs/{job_id}", headers=root).get_json()["error"] == FailingBuilder.REASON
    # and the launch's own job, failed with its last event's words
    launch_job = wait_for(lambda: (lambda e: e if e.state == "failed" else None)(svc.queue.find(f"launch:{launch}")))
    french_launch = client.get(f"/api/jobs/{launch_job.id}", headers={**root, "Accept-Language": "fr"}).get_json()
    assert french_launch["error"].startswith("BuildFailed: le constructeur « failing »"), french_launch
    assert launch_job.error == f"BuildFailed: {FailingBuilder.REASON}"


def html_text(html: str) -> str:
    """A page's text as a reader sees it (entities such as &#39; and &laquo; unescaped)."""
    import html as entities

    return entities.unescape(html)


def _queued_build(events: list[dict[str, Any]]) -> int:
    return int(next(e["build"] for e in events if "build" in e))


def test_a_build_whose_worker_was_killed_is_recovered_and_the_launch_goes_on(settings_dict, envs: Path) -> None:
    app = _app(settings_dict, envs, worker_heartbeat_timeout=3)
    svc = services_of(app)
    launch_worker(app)
    job = svc.launches.start(EnvLaunch("course"), user="jane")
    run_id = wait_for(lambda: _queued(job), message="the launch queued its build")["build"]
    # a `portal worker` process with a builder that takes minutes
    kill_worker_midway(
        app,
        "tests.support.slow_build_worker",
        lambda: any(e["message"] == "still building" for e in list(job.events)),
        "the worker process is building",
    )
    lost = svc.queue.find(f"env.build:{run_id}")
    assert lost.state == "running" and lost.worker_id is not None and not job.done  # the worker just died

    build_worker(app, poll_interval=0.05, heartbeat_timeout=3)
    wait_for(lambda: job.done, message="the recovered build ended and the launch went on")
    assert job.events[-1]["phase"] == "ready", job.events
    assert any("attempt 2" in e["message"] for e in job.events)
    entry = svc.queue.find(f"env.build:{run_id}")
    assert entry.state == "succeeded" and entry.attempts == 2 and entry.worker_id != lost.worker_id
    assert svc.launches.runs.get(run_id).state == "succeeded"


def test_a_worker_with_a_var_dir_of_its_own_builds_from_the_recorded_spec(settings_dict, envs: Path, tmp_path) -> None:
    # as in a cluster: the worker runs in another pod, seeing neither the web process's checkout nor its build cache
    web_app = _app(settings_dict, envs)
    web = services_of(web_app)
    launch_worker(web_app)  # the launch runs beside the web process, its build on a worker of its own machine
    job = web.launches.start(EnvLaunch("course"), user="jane")
    key = wait_for(lambda: _queued(job), message="the launch queued its build")["key"]
    (envs / "course").rename(tmp_path / "elsewhere")  # the launch's source is not on the worker's machine
    worker_app = _app(settings_dict, tmp_path / "no-envs", var_dir=str(tmp_path / "worker-var"))
    build_worker(worker_app)
    wait_for(lambda: job.done, message="the launch ended")
    assert job.events[-1]["phase"] == "ready", job.events
    assert any("spec files the launch recorded" in e["message"] for e in job.events)
    assert services_of(worker_app).launches.builder.cached(key) is not None  # built in the worker's cache
    assert web.launches.builder.cached(key) is None  # the launch ran the build as the worker recorded it
