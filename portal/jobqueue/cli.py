"""`portal worker`: a process that claims queued jobs and runs them until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import click


@click.command(
    "worker",
    epilog="Job kinds: analysis, launch, env.build, release.delivery, pids.register, pids.retry, ingest, and the "
    "periodic stats.aggregate and files.audit. Run several workers on PostgreSQL, one on SQLite. On SIGTERM or "
    "SIGINT it claims nothing more, lets running jobs finish for --grace seconds, then gives the rest back to the "
    "queue for another worker.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs run at once, as threads (default: PORTAL_WORKER_CONCURRENCY).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds a stopping worker lets running jobs finish before it releases them to the queue.",
)
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="Keep the periodic jobs queued (statistics aggregation every PORTAL_STATS_AGGREGATE_INTERVAL seconds, "
    "fixity audits every PORTAL_AUDIT_INTERVAL seconds, old launch events pruned every "
    "PORTAL_LAUNCH_EVENTS_PRUNE_INTERVAL seconds).",
)
def worker(concurrency: int | None, grace: float, periodic: bool) -> None:
    """Run queued background jobs (analyses, launches, builds, webhooks, DOIs, ingests, statistics, audits)."""
    from portal.jobqueue.worker import Worker
    from portal.services import build_services
    from portal.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    services = build_services(settings)
    running = Worker(
        services,
        concurrency=concurrency or settings.worker_concurrency,
        poll_interval=settings.worker_poll_interval,
        heartbeat_timeout=settings.worker_heartbeat_timeout,
        periodic=periodic,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"worker {running.worker_id}: {signal.Signals(signum).name}, stopping", err=True)
        running.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running.start()
    click.echo(f"worker {running.worker_id} running ({running.concurrency} at once)", err=True)
    try:
        running.wait()
    finally:
        running.stop(grace=grace)
        services.close()
        click.echo(f"worker {running.worker_id} stopped", err=True)
    # Released jobs are back in the queue, so nothing is lost by leaving now. A released job's thread may still be
    # inside a compiled library (uproot, numpy, dask) and not at a chunk boundary: letting the interpreter finalise
    # around that daemon thread can abort the process (SIGABRT, seen when stopping mid-job), so exit directly.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
