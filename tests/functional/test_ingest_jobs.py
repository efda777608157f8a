"""Large ingests as queue jobs (kind ``ingest``), on SQLite and PostgreSQL with real workers: `portal ingest` queues
one of more files than `ingest_queue_files` and prints the job id, a worker runs it with its progress on the job,
`--wait` follows it to the end, a cancelled one stores nothing, and a refused one leaves no file index behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portal.app import create_app, services_of
from portal.demo.generate import generate
from portal.files import ingest_jobs
from portal.jobqueue.base import Cancelled
from portal.jobqueue.tasks import TASKS, TaskRun
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.app import start_worker
from tests.support.waiting import wait_for

PORTAL = Path(sys.executable).parent / "portal"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two ROOT files and one of random bytes named .h5 (damaged: left out, listed)."""
    root = tmp_path / "data"
    generate("tiny", root / "ds", formats=("root",))
    (root / "ds" / "noise.h5").write_bytes(os.urandom(4096))
    return root


@pytest.fixture
def app(settings_dict: dict[str, Any], data: Path, tmp_path: Path) -> Any:
    made = create_app({**settings_dict, "data_dir": str(data), "ingest_queue_files": 2})
    load_file(services_of(made), write_records(tmp_path / "r.json", [dataset(6), dataset(8)]))
    return made


def _portal(app: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **services_of(app).settings.environ()}
    return subprocess.run([str(PORTAL), *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_large_ingest_is_queued_and_a_worker_runs_it_with_progress(app) -> None:
    svc = services_of(app)
    queued = _portal(app, "ingest", "6", "ds")
    assert queued.returncode == 0, queued.stderr
    assert "ingest of 3 file(s) into record 6 queued as job" in queued.stdout
    job_id = int(queued.stdout.split()[-1])
    entry = svc.queue.get(job_id)
    assert entry.kind == "ingest" and entry.state == "queued" and entry.payload["total"] == 3
    assert svc.catalog.get(6).files == []  # nothing ingested by the command itself

    start_worker(app)
    done = wait_for(
        lambda: (e := svc.queue.get(job_id)) and e.state in ("succeeded", "failed") and e,
        timeout=120,
        message="end",
        interval=0.1,
    )
    assert done.state == "succeeded", done.error
    assert done.progress["done"] == done.progress["total"] == 3 and done.progress["files"] == 2
    assert [rel for rel, _reason in done.progress["errors"]] == ["ds/noise.h5"]
    assert done.progress["distribution"]["number_files"] == 2
    assert sorted(f["key"] for f in svc.catalog.get(6).files) == ["nanoaod_000.root", "nanoaod_001.root"]


def test_wait_follows_the_job_and_small_ingests_stay_in_the_command(app) -> None:
    start_worker(app)
    followed = _portal(app, "ingest", "6", "ds", "--wait")
    assert followed.returncode == 1  # a damaged file was left out, as an ingest in the command says too
    assert "queued as job" in followed.stdout and "record 6: 2 file(s)" in followed.stdout
    assert "bad file ds/noise.h5" in followed.stderr and "succeeded, 3 of 3 file(s)" in followed.stderr

    here = _portal(app, "ingest", "8", "ds", "--no-queue")
    assert "queued" not in here.stdout and "record 8: 2 file(s)" in here.stdout, here.stderr


def _claimed(app: Any, job_id: int) -> TaskRun:
    """Claim ``job_id`` as a worker would (the test runs its task itself)."""
    job = services_of(app).queue.claim("test-worker", ["ingest"])
    assert job is not None and job.id == job_id
    return TaskRun(job)


def test_a_cancelled_ingest_stores_nothing(app) -> None:
    svc = services_of(app)
    job_id = ingest_jobs.enqueue(svc.queue, 6, "ds", "CMS_tiny", total=3)
    run = _claimed(app, job_id)
    run.stop.set()  # cancel requested: the task stops at its first file
    with pytest.raises(Cancelled):
        TASKS["ingest"].run(svc, run)
    assert svc.catalog.get(6).files == [] and not list((Path(svc.settings.data_dir) / "ds").glob("CMS_tiny*"))

    # and through the command: a queued one is cancelled at once
    queued = _portal(app, "ingest", "8", "ds")
    assert _portal(app, "ingest", "8", "--cancel").returncode == 0
    assert svc.queue.get(int(queued.stdout.split()[-1])).state == "cancelled"
    assert _portal(app, "ingest", "8", "--cancel").returncode == 1  # nothing left to cancel


def test_a_refused_ingest_fails_the_job_and_leaves_no_index(app) -> None:
    svc = services_of(app)
    first = _portal(app, "ingest", "6", "ds", "--no-queue")
    assert "record 6: 2 file(s)" in first.stdout, first.stderr
    job_id = ingest_jobs.enqueue(svc.queue, 6, "ds", "CMS_tiny", total=3)
    run = _claimed(app, job_id)
    with pytest.raises(Exception, match="new version"):  # a published version with files is immutable
        TASKS["ingest"].run(svc, run)
    assert not list((Path(svc.settings.data_dir) / "ds").glob("CMS_tiny*"))  # the index written for it is gone
    assert len(svc.catalog.get(6).files) == 2
