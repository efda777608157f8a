"""The job lifecycle on executor doubles: a failing executor fails the job with the reason, a slow one shows
progress while it runs; unknown executors are refused; jobs come back as dataclasses with the API's JSON."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from portal.catalog.model import RecordInput
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.errors import Conflict, Invalid, NotFound
from portal.pids.doubles import RecordingPIDProvider
from portal.processing import engine
from portal.processing.executors import ExecutorPool
from portal.processing.executors.doubles import FailingExecutor, SlowExecutor
from portal.processing.executors.inline import InlineExecutor
from portal.processing.jobs import JobService
from portal.processing.model import Job, JobSummary
from portal.storage.local import LocalStorage
from tests.support.formats import registered_formats

DATASET = 7001


def _write_root(path: Path, values: np.ndarray, baskets: int) -> None:
    import uproot

    with uproot.recreate(path) as f:
        f.mktree("Events", {"MET_pt": np.float32})
        for part in np.array_split(values.astype(np.float32), baskets):
            f["Events"].extend({"MET_pt": part})


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(14)
    out = []
    for i in range(2):
        path = tmp_path / f"met_{i}.root"
        _write_root(path, rng.exponential(40.0, 4000), baskets=8)
        out.append(path)
    return out


@pytest.fixture
def catalog(tmp_path: Path, files: list[Path]) -> Iterator[CatalogService]:
    db = Database(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    upgrade(db.engine)
    catalog = CatalogService(
        db, RecordingPIDProvider(), first_recid=100000, base_url="http://portal.test", publisher="test"
    )
    rows = [{"key": p.name, "uri": str(p), "size": p.stat().st_size} for p in files]
    catalog.load(
        [
            RecordInput(
                {"recid": DATASET, "title": "MET", "date_published": "2024", "type": {"primary": "Dataset"}},
                files=rows,
            )
        ]
    )
    yield catalog
    db.dispose()


def _service(
    catalog: CatalogService, default: str, storage: LocalStorage | None = None, **factories: object
) -> JobService:
    pool = ExecutorPool(factories)  # type: ignore[arg-type]
    return JobService(
        catalog.db,
        catalog,
        pool,
        formats=registered_formats(),
        default_executor=default,
        chunk_events=500,
        storage=storage,
    )


def test_a_failing_executor_gives_a_failed_job_naming_the_task(catalog: CatalogService, files: list[Path]) -> None:
    jobs = _service(catalog, "failing", failing=FailingExecutor)
    job = jobs.run(jobs.create("adl_q1", DATASET).id)
    assert isinstance(job, Job) and job.state == "failed"
    assert job.error is not None and job.error.startswith("TaskFailed: the failing executor failed the task")
    assert str(files[0]) in job.error  # the failed item is named: its chunks' file
    assert job.result is None and job.provenance is None and job.finished_at is not None
    assert jobs.get(job.id) == job
    with pytest.raises(Conflict, match="results exist only for finished jobs"):
        jobs.histogram(job.id, "root")
    with pytest.raises(Conflict, match="not queued"):
        jobs.run(job.id)


def test_a_slow_executor_shows_progress_while_the_job_runs(
    catalog: CatalogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no cost learned from earlier runs of adl_q1 in this process: the planner then makes several tasks, not one
    monkeypatch.setattr(engine, "_COSTS", OrderedDict())
    jobs = _service(catalog, "slow", slow=lambda: SlowExecutor(delay=0.5), inline=InlineExecutor)
    job = jobs.create("adl_q1", DATASET)
    assert job.state == "queued" and job.progress == {} and job.started_at is None
    thread = threading.Thread(target=jobs.run, args=(job.id,), daemon=True)  # as a worker's thread runs it
    thread.start()
    seen: list[dict] = []
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        now = jobs.get(job.id)
        if now.state == "running" and now.progress:
            seen.append(now.progress)
        time.sleep(0.02)
    thread.join()
    done = jobs.get(job.id)
    assert done.state == "done", done.error
    partial = [p for p in seen if 0 < p["chunks_done"] < p["chunks_total"]]
    assert partial, f"no progress was seen between start and end: {seen}"
    assert partial[0]["events_done"] < partial[0]["events_total"] == 8000
    assert done.progress["events_done"] == done.progress["chunks_total"] * 500 == 8000
    # the same job on the inline executor gives the same result: the double only slows, it does not change
    inline = jobs.run(jobs.create("adl_q1", DATASET, executor="inline").id)
    assert inline.result == done.result and inline.result is not None
    assert done.provenance is not None and done.provenance["executor"] == "slow"


def test_an_unknown_executor_is_refused_with_the_choices(catalog: CatalogService) -> None:
    jobs = _service(catalog, "inline", inline=InlineExecutor, slow=SlowExecutor)
    with pytest.raises(Invalid) as err:
        jobs.create("adl_q1", DATASET, executor="gpu")
    assert err.value.message == "field executor: unknown executor 'gpu'; choose one of inline, slow"
    assert err.value.field == "executor"
    assert jobs.list().items == [] and jobs.list().total == 0


def test_jobs_are_dataclasses_whose_json_is_the_apis(catalog: CatalogService, tmp_path: Path) -> None:
    jobs = _service(catalog, "inline", LocalStorage(tmp_path / "data"), inline=InlineExecutor)
    done = jobs.run(jobs.create("adl_q1", DATASET, parameters={}).id)
    body = done.to_json()
    assert list(body) == [
        "id",
        "analysis",
        "dataset_recid",
        "executor",
        "skip_bad_files",
        "parameters",
        "state",
        "progress",
        "error",
        "derived_recid",
        "created_at",
        "started_at",
        "finished_at",
        "result",
        "provenance",
    ]
    assert body["created_at"].endswith("Z") and body["finished_at"] >= body["started_at"] >= body["created_at"]
    assert body["result"]["cutflow"] == {"all events": 8000}
    (listed,) = jobs.list().items
    assert type(listed) is JobSummary
    assert listed.to_json() == {k: v for k, v in body.items() if k not in ("result", "provenance")}
    published = jobs.publish(done.id, title="MET of the test dataset")
    assert published.to_json() == {"recid": published.recid, "job": done.id}
    assert jobs.get(done.id).derived_recid == published.recid
    assert catalog.get(published.recid).metadata["title"] == "MET of the test dataset"
    assert {f["key"] for f in catalog.get(published.recid).files} >= {"histograms.json", "plot.png", "cutflow.csv"}
    assert (tmp_path / "data" / "derived" / f"job-{done.id}" / "histograms.root").is_file()
    with pytest.raises(NotFound):
        jobs.get(done.id + 100)


def test_the_pool_builds_each_executor_once_and_closes_what_it_built() -> None:
    built: list[InlineExecutor] = []
    closed: list[InlineExecutor] = []

    class Counted(InlineExecutor):
        def close(self) -> None:
            closed.append(self)

    def factory() -> InlineExecutor:
        built.append(Counted())
        return built[-1]

    attempts: list[int] = []

    def unreachable() -> InlineExecutor:
        attempts.append(1)
        raise OSError("scheduler down")

    pool = ExecutorPool({"inline": factory, "remote": unreachable})
    assert pool.names() == ["inline", "remote"] and "inline" in pool and "gpu" not in pool
    assert pool.get("inline") is pool.get("inline") and len(built) == 1
    for _ in range(2):  # a failed build is not remembered: the next job tries again
        with pytest.raises(OSError):
            pool.get("remote")
    assert len(attempts) == 2
    with pytest.raises(Invalid, match="unknown executor 'gpu'; choose one of inline, remote"):
        pool.get("gpu")
    pool.close()
    assert closed == built
    assert pool.get("inline") is not built[0]  # built afresh after close
