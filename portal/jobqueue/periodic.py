"""Periodic work on the queue: a kind registered with ``every=`` (statistics aggregation, fixity audits) is one
queued job at a time, ``ref`` ``periodic:<kind>``, due ``interval`` seconds after the previous run ended.

Workers started with ``periodic=True`` (`portal worker` by default) queue the first run of each periodic kind that
has none queued or running, and queue the next one when a run ends (succeeded, failed or given up). Several workers
doing so at once may queue two runs; the chains meet at the next run's end, which queues nothing while another
is queued, so they collapse to one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.jobqueue.base import JobQueue
from portal.jobqueue.tasks import TaskKind


def ref_of(kind: str) -> str:
    return f"periodic:{kind}"


def ensure(queue: JobQueue, kind: TaskKind, interval: float) -> int | None:
    """Queue the next run of periodic ``kind`` in ``interval`` seconds unless one is queued or running (or the
    interval is 0 or less: switched off); the new job's id, or None."""
    if interval <= 0:
        return None
    ref = ref_of(kind.name)
    current = queue.find(ref)
    if current is not None and current.state in ("queued", "running"):
        return None
    return queue.enqueue(
        kind.name,
        {},
        ref=ref,
        max_attempts=kind.max_attempts,
        run_after=datetime.now(UTC) + timedelta(seconds=interval),
    )
