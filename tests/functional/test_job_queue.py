"""The job queue with real workers on SQLite and PostgreSQL: every job claimed once by competing workers, retries
with backoff, cancellation of queued and running work, recovery of a job whose `portal worker` was killed -9,
a worker released on SIGTERM, and the analyses API (listing by policy, filters, pages, cancel)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from portal.app import create_app, services_of
from portal.catalog.model import RecordInput
from portal.jobqueue.base import TaskFailed
from portal.jobqueue.tasks import TASKS, TaskKind, TaskRun
from portal.jobqueue.worker import Worker
from tests.support.app import start_worker
from tests.support.processing_reference import reference
from tests.support.tiny_dataset import tiny_root_files
from tests.support.users import bearer, token_for
from tests.support.waiting import wait_for

DATASET = 5001


def _worker(app, kinds: dict[str, TaskKind], **options: Any) -> Worker:
    svc = services_of(app)
    worker = Worker(svc, kinds=kinds, concurrency=2, poll_interval=0.05, heartbeat_timeout=3, **options).start()
    svc.closers.append(lambda: worker.stop(grace=5))
    return worker


# ---------------------------------------------------------------------------------------------- the queue itself
def test_competing_workers_claim_every_job_exactly_once(make_app) -> None:
    ran: list[tuple[int, str]] = []
    lock = threading.Lock()

    def record(svc, run: TaskRun) -> None:
        with lock:
            ran.append((run.payload["n"], threading.current_thread().name))

    kinds = {"record": TaskKind("record", record)}
    first, second = make_app(), make_app()  # two apps on one database: two engines, as two processes have
    queue = services_of(first).queue
    ids = [queue.enqueue("record", {"n": n}, owner_id=n % 2 + 1) for n in range(40)]
    workers = [_worker(first, kinds), _worker(second, kinds)]
    wait_for(lambda: queue.counts().get("succeeded", 0) == 40, message=f"40 jobs succeeded: {queue.counts()}")
    assert sorted(n for n, _ in ran) == list(range(40))  # each once: none lost, none run twice
    entries = [queue.get(i) for i in ids]
    assert {e.state for e in entries} == {"succeeded"} and {e.attempts for e in entries} == {1}
    assert {e.worker_id for e in entries} <= {w.worker_id for w in workers}


def test_claims_prefer_the_owner_with_the_fewest_running_jobs(make_app) -> None:
    queue = services_of(make_app()).queue
    a1, a2, b1 = (queue.enqueue("fair", {}, owner_id=o) for o in (1, 1, 2))
    kinds = ["fair"]  # no worker runs this kind: the claims below are the test's own
    assert queue.claim("w", kinds).id == a1  # nobody runs anything: the oldest
    assert queue.claim("w", kinds).id == b1  # A runs one, B none: B's job jumps A's second
    assert queue.claim("w", kinds).id == a2
    assert queue.claim("w", kinds) is None


def test_a_failing_task_is_retried_with_backoff_then_given_up(make_app) -> None:
    attempts: list[int] = []
    given_up: list[tuple[dict, str]] = []

    def flaky(svc, run: TaskRun) -> None:
        attempts.append(run.attempt)
        raise TaskFailed(f"remote said no (attempt {run.attempt})", retry=True)

    kinds = {
        "flaky": TaskKind("flaky", flaky, max_attempts=3, backoff=0.2, give_up=lambda s, p, r: given_up.append((p, r)))
    }
    app = make_app()
    queue = services_of(app).queue
    job = queue.enqueue("flaky", {"x": 1}, max_attempts=3)
    _worker(app, kinds)
    entry = wait_for(lambda: (e := queue.get(job)) and e.state == "failed" and e, message="the job failed")
    assert attempts == [1, 2, 3] and entry.attempts == 3
    assert entry.error == "remote said no (attempt 3)"
    assert given_up == [({"x": 1}, "remote said no (attempt 3)")]
    # the retries waited: each attempt started no sooner than the backoff after the previous failure
    assert entry.run_after is not None and entry.started_at is not None and entry.started_at >= entry.run_after


def test_a_running_task_stops_at_its_next_check_when_cancelled(make_app) -> None:
    started, steps = threading.Event(), []

    def long(svc, run: TaskRun) -> None:
        started.set()
        for step in range(10_000):
            run.check_cancel()
            steps.append(step)
            time.sleep(0.01)

    app = make_app()
    queue = services_of(app).queue
    job = queue.enqueue("long", {}, ref="long:1")
    _worker(app, {"long": TaskKind("long", long)})
    assert started.wait(30)
    assert queue.cancel("long:1") == "running"
    entry = wait_for(lambda: (e := queue.get(job)) and e.state == "cancelled" and e, message="cancelled")
    assert entry.error == "cancelled" and len(steps) < 10_000
    assert queue.cancel("long:1") is None  # nothing unfinished is left to cancel


def test_the_queues_own_reasons_read_in_the_readers_language(make_app) -> None:
    """Cancelled while queued, released by a stopping worker, a worker lost: the queue's reasons are kept as message
    ids beside their English text, so the jobs API says them in French to a French reader."""
    app = make_app()
    queue = services_of(app).queue
    client, root = app.test_client(), bearer(token_for(app, ["admin"], username="root", roles=["admin"]))
    cancelled = queue.enqueue("idle", {}, ref="idle:1")
    assert queue.cancel("idle:1") == "queued"
    released, lost, again = (
        queue.enqueue("idle", {}, ref=f"idle:{n}", max_attempts=m) for n, m in ((2, 3), (3, 1), (4, 3))
    )
    for job in (released, lost, again):
        claimed = queue.claim(f"w{job}", ["idle"])
        assert claimed is not None and claimed.id == job
    queue.release(released, f"w{released}")
    time.sleep(0.05)
    assert {g.id for g in queue.recover(0.01)} == {lost}  # no attempt left: given up; the other queued again
    expected = {
        cancelled: ("cancelled", "annulée"),
        released: ("released by a stopping worker", "rendue à la file d'attente par un worker qui s'arrête"),
        lost: (f"worker lost: w{lost} sent no heartbeat for 0.01 s", f"worker perdu : w{lost} n'a envoyé aucun"),
        again: ("sent no heartbeat for 0.01 s; queued again", "; remise en file d'attente"),
    }
    for job, (english, in_french) in expected.items():
        assert english in client.get(f"/api/jobs/{job}", headers=root).get_json()["error"]
        read = client.get(f"/api/jobs/{job}", headers={**root, "Accept-Language": "fr"}).get_json()["error"]
        assert in_french in read, (job, read)


# ---------------------------------------------------------------------------------------------- analyses
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    yield from tiny_root_files(tmp_path_factory, "tiny-queue")


@pytest.fixture(scope="module")
def expected(files: list[Path]) -> tuple[dict, dict]:
    return reference("dimuon", [str(p) for p in files])


def _load(app, files: list[Path], recids: tuple[int, ...] = (DATASET,)) -> None:
    rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in files]
    base = {"type": {"primary": "Dataset", "secondary": ["Collision"]}, "date_published": "2024-05-01"}
    services_of(app).catalog.load(
        [RecordInput({**base, "recid": r, "title": f"Tiny events {r}"}, files=rows) for r in recids]
    )


@pytest.fixture
def quiet_app(settings_dict: dict[str, Any], files: list[Path]):
    """An app without a worker (jobs stay queued until a test starts one), closed at the end of the test."""
    # small chunks: a run of many tasks, so progress, cancel checks and a kill land in the middle of it
    app = create_app(
        {
            **settings_dict,
            "processing_executor": "inline",
            "processing_chunk_events": 100,
            "worker_heartbeat_timeout": 3,
            "worker_poll_interval": 0.1,
        }
    )
    _load(app, files, (DATASET, DATASET + 1))
    return app


def test_the_analyses_api_lists_by_policy_filters_pages_and_cancels(quiet_app) -> None:
    app = quiet_app
    client = app.test_client()
    jane = bearer(token_for(app, ["analyses:run"], username="jane"))
    kim = bearer(token_for(app, ["analyses:run"], username="kim"))
    curator = bearer(token_for(app, ["analyses:run", "curate"], username="cora", roles=["curator"]))
    admin = bearer(token_for(app, ["analyses:run", "admin"], username="ada", roles=["admin"]))
    made = {}
    for who, headers, recid in (("jane", jane, DATASET), ("jane2", jane, DATASET + 1), ("kim", kim, DATASET)):
        created = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": recid}, headers=headers)
        assert created.status_code == 202, created.get_data(as_text=True)
        made[who] = created.get_json()["id"]

    assert client.get("/api/analyses").status_code == 401
    mine = client.get("/api/analyses", headers=jane).get_json()
    assert [j["id"] for j in mine["hits"]] == [made["jane2"], made["jane"]] and mine["total"] == 2
    everyone = client.get("/api/analyses", headers=curator).get_json()
    assert [j["id"] for j in everyone["hits"]] == [made["kim"], made["jane2"], made["jane"]]
    assert client.get("/api/analyses?mine=1", headers=curator).get_json()["hits"] == []
    by_dataset = client.get(f"/api/analyses?dataset={DATASET}", headers=curator).get_json()
    assert [j["id"] for j in by_dataset["hits"]] == [made["kim"], made["jane"]]
    page = client.get("/api/analyses?size=1", headers=curator).get_json()
    assert page["total"] == 3 and len(page["hits"]) == 1 and "page=2" in page["links"]["next"]
    second = client.get(page["links"]["next"], headers=curator).get_json()
    assert [j["id"] for j in second["hits"]] == [made["jane2"]] and "prev" in second["links"]
    bad = client.get("/api/analyses?state=sleeping", headers=jane)
    assert bad.status_code == 400 and bad.get_json()["field"] == "state"
    assert client.get("/api/analyses?dataset=0", headers=jane).get_json()["field"] == "dataset"

    refused = client.post(f"/api/analyses/{made['jane']}/cancel", headers=kim)
    assert refused.status_code == 403 and refused.get_json()["field"] == "owner"
    assert client.post(f"/api/analyses/{made['jane']}/cancel", headers=curator).status_code == 403  # not admin
    assert client.post(f"/api/analyses/{made['jane']}/cancel").status_code == 401
    cancelled = client.post(f"/api/analyses/{made['jane']}/cancel", headers=jane)
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    assert client.post(f"/api/analyses/{made['kim']}/cancel", headers=admin).get_json()["state"] == "cancelled"
    assert client.post(f"/api/analyses/{made['jane']}/cancel", headers=jane).status_code == 409
    states = client.get("/api/analyses?state=cancelled", headers=curator).get_json()
    assert sorted(j["id"] for j in states["hits"]) == sorted([made["jane"], made["kim"]])
    queue = services_of(app).queue
    assert queue.find(f"analysis:{made['jane']}").state == "cancelled"

    start_worker(app, poll_interval=0.05)  # the remaining job runs; the cancelled ones never do
    done = wait_for(
        lambda: (j := client.get(f"/api/analyses/{made['jane2']}").get_json())["state"] in ("done", "failed") and j,
        message="jane2 finished",
    )
    assert done["state"] == "done", done["error"]
    assert client.get(f"/api/analyses/{made['jane']}").get_json()["state"] == "cancelled"
    assert queue.find(f"analysis:{made['jane']}").attempts == 0


def _held_until_stopped(kind: TaskKind, timeout: float = 30) -> TaskKind:
    """``kind`` whose run waits at its second between-chunk check until the worker passed it a stop (a cancel
    request), ``timeout`` seconds at most, then checks as usual.

    Why: a cancel reaches a running task only through the worker's heartbeat (once a second here), so a job
    whose remaining chunks take less than that finishes "done" before the cancel the test sent arrives: the
    tiny dataset's last 7 of 8 tasks took 0.6-0.8 s (under load) and the test failed 4 times in 10. Holding
    the job after its first task (whose progress the test waits to see) makes "cancelled between chunks" the
    only outcome when cancelling works; when the request is never passed on, the job goes on after
    ``timeout`` and ends done, and the test fails."""

    def run(services: Any, task: TaskRun) -> None:
        checks = 0
        check = task.check_cancel

        def held_check() -> None:
            nonlocal checks
            checks += 1
            if checks == 2:
                task.stop.wait(timeout)
            check()

        task.check_cancel = held_check  # type: ignore[method-assign]  # this one run's checks, nothing else's
        kind.run(services, task)

    return dataclasses.replace(kind, run=run)


def test_a_running_analysis_is_cancelled_between_chunks(quiet_app) -> None:
    app = quiet_app
    client = app.test_client()
    jane = bearer(token_for(app, ["analyses:run"], username="jane"))
    job_id = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": DATASET}, headers=jane).get_json()[
        "id"
    ]
    start_worker(app, poll_interval=0.05, kinds={"analysis": _held_until_stopped(TASKS["analysis"])})
    wait_for(
        lambda: client.get(f"/api/analyses/{job_id}").get_json()["progress"].get("chunks_done", 0) > 0,
        message="the job made progress",
    )
    asked = client.post(f"/api/analyses/{job_id}/cancel", headers=jane)
    assert asked.status_code == 202 and asked.get_json()["state"] == "running"
    job = wait_for(
        lambda: (j := client.get(f"/api/analyses/{job_id}").get_json())["state"] != "running" and j,
        message="the job stopped",
    )
    assert job["state"] == "cancelled" and job["result"] is None
    assert job["progress"]["chunks_done"] < job["progress"]["chunks_total"]
    # the job row is marked just before the worker settles the queue's entry: wait for that too
    wait_for(lambda: services_of(app).queue.find(f"analysis:{job_id}").state == "cancelled", message="settled")


def _worker_process(app, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **services_of(app).settings.environ()}
    return subprocess.Popen([sys.executable, "-m", "portal", "worker", *args], env=env)


def _running_with_progress(client, job_id: int) -> bool:
    job = client.get(f"/api/analyses/{job_id}").get_json()
    return job["state"] == "running" and job["progress"].get("chunks_done", 0) > 0


def _assert_exact(job: dict, expected: tuple[dict, dict]) -> None:
    hists, cutflow = expected
    assert job["state"] == "done", job["error"]
    assert job["result"]["cutflow"] == cutflow
    counts = np.asarray(job["result"]["hists"]["dimuon_mass"]["counts_with_flow"])
    assert np.array_equal(counts[1:-1], hists["dimuon_mass"])


def _finished(client, job_id: int) -> dict | None:
    job = client.get(f"/api/analyses/{job_id}").get_json()
    return job if job["state"] in ("done", "failed", "cancelled") else None


def test_a_job_of_a_worker_killed_minus_9_is_recovered_and_finishes_exactly(quiet_app, expected) -> None:
    app = quiet_app
    client = app.test_client()
    jane = bearer(token_for(app, ["analyses:run"], username="jane"))
    job_id = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": DATASET}, headers=jane).get_json()[
        "id"
    ]
    process = _worker_process(app, "--concurrency", "1")
    try:
        wait_for(lambda: _running_with_progress(client, job_id), message="the worker process runs the job")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    queue = services_of(app).queue
    lost = queue.find(f"analysis:{job_id}")
    assert lost.state == "running" and lost.worker_id is not None  # nobody released it: the worker just died
    start_worker(app, poll_interval=0.05, heartbeat_timeout=3)
    job = wait_for(lambda: _finished(client, job_id), message="the recovered job finished")
    _assert_exact(job, expected)
    entry = queue.find(f"analysis:{job_id}")
    assert entry.state == "succeeded" and entry.attempts == 2
    assert entry.worker_id != lost.worker_id


def test_a_worker_stopped_by_sigterm_releases_its_job_to_another(quiet_app, expected) -> None:
    app = quiet_app
    client = app.test_client()
    jane = bearer(token_for(app, ["analyses:run"], username="jane"))
    job_id = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": DATASET}, headers=jane).get_json()[
        "id"
    ]
    process = _worker_process(app, "--concurrency", "1", "--grace", "0")
    try:
        wait_for(lambda: _running_with_progress(client, job_id), message="the worker process runs the job")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    queue = services_of(app).queue
    released = queue.find(f"analysis:{job_id}")
    assert released.state == "queued" and released.attempts == 0 and "released" in (released.error or "")
    start_worker(app, poll_interval=0.05)
    _assert_exact(wait_for(lambda: _finished(client, job_id), message="the released job finished"), expected)
