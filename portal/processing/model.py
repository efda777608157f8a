"""What the job service returns: a job (listing and full), and a publication; ``to_json()`` is the API's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portal.errors import Translate, stored_message

#: a job's states, in the order a job goes through them (``failed`` or ``cancelled`` replace ``done``)
STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES = frozenset(("done", "failed", "cancelled"))


def utc(d: datetime | None) -> datetime | None:
    """``d`` as an aware UTC datetime; naive ones (SQLite hands those back) were stored in UTC."""
    if d is None:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _iso(d: datetime | None) -> str | None:
    d = utc(d)
    return None if d is None else d.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class JobSummary:
    """A job as listed: what was asked (analysis, dataset, executor, options), its state and its progress.

    ``progress`` is the engine's progress JSON (files, events and chunks done and total, events per second);
    ``error`` says why a failed job failed; ``derived_recid`` is the record it was published as, if any;
    times are aware datetimes in UTC.
    """

    id: int
    analysis: str
    dataset_recid: int
    executor: str
    skip_bad_files: bool
    parameters: dict[str, Any]
    state: str
    progress: dict[str, Any]
    error: str | None
    derived_recid: int | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    #: the user who started it (None: the command line); not in the JSON, which anyone may read
    owner_id: int | None
    #: ``error`` as a message id and values (``PortalError.stored``), for :meth:`localized_error`; None for old rows
    error_message: dict[str, Any] | None = field(default=None, kw_only=True)

    def localized_error(self, translate: Translate) -> str | None:
        """``error`` in the language of ``translate`` when it was stored as a message id, else as it was stored."""
        return stored_message(self.error_message, translate) if self.error_message else self.error

    def to_json(self) -> dict[str, Any]:
        """The job as the API returns it (times as ISO 8601 in UTC with a ``Z``)."""
        return {
            "id": self.id,
            "analysis": self.analysis,
            "dataset_recid": self.dataset_recid,
            "executor": self.executor,
            "skip_bad_files": self.skip_bad_files,
            "parameters": self.parameters,
            "state": self.state,
            "progress": self.progress,
            "error": self.error,
            "derived_recid": self.derived_recid,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


@dataclass(frozen=True)
class Job(JobSummary):
    """A job with its result and provenance (both None until it is done).

    ``result``: ``hists`` (name -> axes, ``counts_with_flow``), ``cutflow``, ``main_hist``, ``title``,
    ``skipped_files`` (URI -> why). ``provenance``: analysis identity, parameters, environment, executor,
    chunking, files, dataset (recid, DOIs, title) and timings.
    """

    result: dict[str, Any] | None
    provenance: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "result": self.result, "provenance": self.provenance}


@dataclass(frozen=True)
class Publication:
    """A job's result published as a Derived dataset record."""

    recid: int
    job: int

    def to_json(self) -> dict[str, Any]:
        return {"recid": self.recid, "job": self.job}


@dataclass(frozen=True)
class JobPage:
    """One page of a job listing: the jobs, and how many match the listing's filters."""

    items: list[JobSummary]
    total: int
    offset: int
    limit: int
