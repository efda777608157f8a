"""The job queue's throughput and fairness: jobs/s claimed by 2 `portal worker` processes, on SQLite and PostgreSQL.

Throughput: BENCH_QUEUE_JOBS no-op jobs are queued, then 2 worker processes (one thread each, the queue's real
Worker) claim and finish them; the rate is jobs / (last finish - first claim), from the rows' own timestamps, so
process start-up is not counted.
Fairness: user A queues BENCH_QUEUE_FAIR_A jobs, then user B queues BENCH_QUEUE_FAIR_B, each job sleeping
BENCH_QUEUE_SLEEP_MS; 2 workers of 2 threads run them. A first-in-first-out queue would give B none of the
first claims; the queue prefers the owner with the fewest running jobs, so B's share of the first 2 x B claims
is printed (50 % is an equal share).

Env: BENCH_QUEUE_JOBS (default 2000), BENCH_QUEUE_FAIR_A (600), BENCH_QUEUE_FAIR_B (200),
BENCH_QUEUE_SLEEP_MS (20), BENCH_DB=sqlite|postgresql|both (default both).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

JOBS = int(os.environ.get("BENCH_QUEUE_JOBS", "2000"))
FAIR_A = int(os.environ.get("BENCH_QUEUE_FAIR_A", "600"))
FAIR_B = int(os.environ.get("BENCH_QUEUE_FAIR_B", "200"))
SLEEP_S = float(os.environ.get("BENCH_QUEUE_SLEEP_MS", "20")) / 1000


def _noop(services: Any, run: Any) -> None:
    if run.payload.get("sleep"):
        time.sleep(run.payload["sleep"])


def _work(settings: dict[str, Any], threads: int, stop: Any) -> None:
    """One worker process: the real Worker on the real queue, running the benchmark's no-op kind."""
    from portal.jobqueue.tasks import TaskKind
    from portal.jobqueue.worker import Worker
    from portal.services import build_services

    services = build_services(_settings(settings), migrate=False)
    worker = Worker(
        services, concurrency=threads, poll_interval=0.05, kinds={"noop": TaskKind("noop", _noop, max_attempts=1)}
    ).start()
    stop.wait()
    worker.stop(grace=5)
    services.close()


def _settings(values: dict[str, Any]) -> Any:
    from portal.settings import load_settings

    return load_settings(values)


def _run(settings: dict[str, Any], jobs: list[tuple[int, float]], threads: int) -> list[Any]:
    """Queue ``jobs`` (owner, sleep), run them on 2 worker processes, return the finished rows by claim time."""
    from portal.jobqueue.models import QueueJob
    from portal.services import build_services

    svc = build_services(_settings(settings))
    assert svc.queue is not None
    with svc.db.transaction() as s:
        s.query(QueueJob).delete()
    for owner, sleep in jobs:
        svc.queue.enqueue("noop", {"sleep": sleep}, owner_id=owner, max_attempts=1)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=_work, args=(settings, threads, stop)) for _ in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if svc.queue.counts().get("succeeded", 0) == len(jobs):
            break
        time.sleep(0.2)
    stop.set()
    for p in procs:
        p.join(30)
    with svc.db.reader() as s:
        rows = list(s.scalars(select(QueueJob).order_by(QueueJob.started_at, QueueJob.id)))
        workers = s.scalar(select(func.count(func.distinct(QueueJob.worker_id))))
    svc.close()
    assert len(rows) == len(jobs) and all(r.state == "succeeded" for r in rows), "not every job succeeded"
    print(f"    workers that claimed jobs: {workers}")
    return rows


def measure(settings: dict[str, Any], name: str) -> None:
    rows = _run(settings, [(1 + n % 2, 0.0) for n in range(JOBS)], threads=1)
    span = (max(r.finished_at for r in rows) - min(r.started_at for r in rows)).total_seconds()
    print(f"  {name:10} throughput: {JOBS} no-op jobs in {span:.2f} s = {JOBS / span:,.0f} jobs/s (2 workers x 1)")
    fair = [(1, SLEEP_S)] * FAIR_A + [(2, SLEEP_S)] * FAIR_B
    rows = _run(settings, fair, threads=2)
    first = rows[: 2 * FAIR_B]
    share = sum(1 for r in first if r.owner_id == 2) / len(first)
    print(
        f"  {name:10} fairness: user B (queued {FAIR_B} after A's {FAIR_A}) got {share:.0%} of the first "
        f"{len(first)} claims (FIFO would give 0 %; an equal share is 50 %)"
    )


def main() -> None:
    which = os.environ.get("BENCH_DB", "both")
    with tempfile.TemporaryDirectory() as tmp:
        base = {"var_dir": str(Path(tmp) / "var"), "base_url": "http://bench.test"}
        if which in ("sqlite", "both"):
            measure({**base, "database_url": f"sqlite:///{Path(tmp) / 'queue.sqlite'}"}, "sqlite")
        if which in ("postgresql", "both"):
            from tests.support.postgres import postgres_server

            with postgres_server() as url:
                measure({**base, "database_url": url}, "postgresql")


if __name__ == "__main__":
    main()
