"""Launches as queue jobs (kind ``launch``): the web process checks a request and queues it; a `portal worker` runs
it and appends its events to ``launch_events``; any web process streams them from there.

A launch is named by a random id (the page's event stream carries it nowhere else); its queue job's ``ref`` is
``launch:<id>`` and its payload holds the request (:func:`kind_to_json`), the hub user and the "my sessions" row,
so a worker in another process (or pod) runs it with nothing from the web process's memory, and a web process that
did not start it can still stream it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, String, Text, delete, func, literal, select
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.engine import Database
from portal.db.models import Base, BigIntPK, JSONType, utcnow
from portal.environments.builders import BuildEvent
from portal.errors import Invalid
from portal.i18n import N_
from portal.jobqueue.models import QueueJob
from portal.launch.kinds import DatasetLaunch, EnvLaunch, GitLaunch, LaunchKind, LessonLaunch, RecordLaunch

KIND = "launch"
#: attempts at a launch: one more after a lost worker (a launch is safe to run again: a running server is reused)
MAX_ATTEMPTS = 2
#: how often a stream reads new events (seconds); a launch's steps take seconds
POLL_SECONDS = 0.25
#: phases that end a launch's stream
FINAL_PHASES = frozenset(("ready", "failed"))

_KINDS: dict[str, type[LaunchKind]] = {
    cls.__name__: cls for cls in (EnvLaunch, RecordLaunch, DatasetLaunch, GitLaunch, LessonLaunch)
}


def ref_of(launch_id: str) -> str:
    return f"{KIND}:{launch_id}"


def kind_to_json(kind: LaunchKind) -> dict[str, Any]:
    """A launch request as a job payload (every kind is a frozen dataclass of plain values)."""
    return {"type": type(kind).__name__, **asdict(kind)}  # type: ignore[call-overload]


def kind_from_json(data: dict[str, Any]) -> LaunchKind:
    fields = dict(data)
    cls = _KINDS.get(str(fields.pop("type", "")))
    if cls is None:
        raise Invalid(N_("unknown launch kind {kind!r}"), kind=data.get("type"), field="kind")
    return cls(**fields)


class LaunchEvent(Base):
    """One event of a launch, in order of ``id`` (migration queue_0003)."""

    __tablename__ = "launch_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    launch_id: Mapped[str] = mapped_column(String(32))
    phase: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: seconds since the epoch, as the in-process stream gave them (the page shows elapsed times)
    time: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_launch_events_launch", "launch_id", "id"),)


def _as_dict(row: LaunchEvent) -> dict[str, Any]:
    return {**BuildEvent.from_row(row.phase, row.message, row.data).as_dict(), "time": row.time}


class LaunchEvents:
    """The ``launch_events`` rows: appended by the worker running a launch, read by any web process."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, launch_id: str, event: BuildEvent) -> None:
        """Append ``event`` (its own transaction: streams see it at once)."""
        with self.db.transaction() as s:
            s.add(
                LaunchEvent(
                    launch_id=launch_id,
                    phase=event.phase,
                    message=event.message,
                    data={**event.data, **event.stored_text()},
                    time=round(time.time(), 3),
                )
            )

    def since(self, launch_id: str, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """The events after row ``after``, oldest first, with their row ids."""
        with self.db.reader() as s:
            rows = s.scalars(
                select(LaunchEvent)
                .where(LaunchEvent.launch_id == launch_id, LaunchEvent.id > after)
                .order_by(LaunchEvent.id)
            ).all()
            return [(row.id, _as_dict(row)) for row in rows]

    def ended(self, launch_id: str) -> bool:
        with self.db.reader() as s:
            found = s.scalar(
                select(LaunchEvent.id)
                .where(LaunchEvent.launch_id == launch_id, LaunchEvent.phase.in_(FINAL_PHASES))
                .limit(1)
            )
            return found is not None

    def prune(self, before: datetime, *, batch: int = 500) -> int:
        """Delete the events of every launch that ended before ``before``: its newest event is older and its queue
        job is not queued or running (a launch's events stop at its end; one whose worker was lost without a final
        event is as finished). The number of events deleted."""
        unfinished = select(QueueJob.id).where(
            QueueJob.ref == literal(f"{KIND}:").concat(LaunchEvent.launch_id),
            QueueJob.state.in_(("queued", "running")),
        )
        old = (
            select(LaunchEvent.launch_id)
            .where(~unfinished.exists())
            .group_by(LaunchEvent.launch_id)
            .having(func.max(LaunchEvent.created_at) < before)
        )
        with self.db.reader() as s:
            ids = list(s.scalars(old).all())
        deleted = 0
        # in batches: one statement per few hundred launches keeps each transaction (and its lock) short
        for start in range(0, len(ids), batch):
            with self.db.transaction() as s:
                result = s.execute(delete(LaunchEvent).where(LaunchEvent.launch_id.in_(ids[start : start + batch])))
                deleted += int(getattr(result, "rowcount", 0) or 0)
        return deleted


class StoredLaunch:
    """A queued launch as a web process sees it: the same reading interface as the in-process
    :class:`~portal.launch.manager.LaunchJob` (``events``, ``done``, ``stream``), read from the database."""

    def __init__(self, events: LaunchEvents, launch_id: str, label: str, recid: int | None) -> None:
        self.store = events
        self.id = launch_id
        self.label = label
        self.recid = recid

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for _id, event in self.store.since(self.id)]

    @property
    def done(self) -> bool:
        return self.store.ended(self.id)

    def stream(self, heartbeat: float = 5.0, *, poll: float = POLL_SECONDS) -> Iterator[dict[str, Any] | None]:
        """Events from the first one on, ending after ``ready`` or ``failed``; ``None`` whenever ``heartbeat``
        seconds pass with nothing new (the SSE comment that keeps proxies from closing the stream)."""
        seen = 0
        quiet_since = time.monotonic()
        while True:
            fresh = self.store.since(self.id, seen)
            for row_id, event in fresh:
                seen = row_id
                yield event
                if event["phase"] in FINAL_PHASES:
                    return
            now = time.monotonic()
            if fresh:
                quiet_since = now
            elif now - quiet_since >= heartbeat:
                quiet_since = now
                yield None
            time.sleep(poll)
