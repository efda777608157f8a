"""The job-queue table (migration queue_0001): one row per piece of background work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.models import Base, BigIntPK, JSONType, utcnow


class QueueJob(Base):
    """A job of the queue: what to run (``kind``, ``payload``), for whom, and where it stands.

    ``state`` goes queued -> running -> succeeded | failed | cancelled; a running job whose ``heartbeat_at`` is
    older than the heartbeat timeout is queued again (or failed, without attempts left). ``ref`` names the
    domain object the job works for (``analysis:12``), so that object's service can find and cancel it.
    """

    __tablename__ = "queue_jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    worker_id: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    #: ``error`` as a message id and values (a TaskFailed's, migration i18n18_0001): the jobs API shows it in the
    #: reader's language; None when the error is text only (the queue's own reasons, a crash's)
    error_message: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    #: what the running task reported last (an ingest's files done of the total; migration queue_0003)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_queue_jobs_state_run_after", "state", "run_after"),
        Index("ix_queue_jobs_owner_state", "owner_id", "state"),
        Index("ix_queue_jobs_ref", "ref"),
    )
