"""Analysis jobs: create, run (in a background thread or in the caller), report progress, keep the result with
its provenance, and publish a result as a Derived dataset. Result files and plots are :mod:`.results`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import AnalysisJob
from portal.errors import Conflict, Invalid, NotFound, PortalError
from portal.identity.models import User
from portal.identity.policy import require_quota
from portal.processing import results
from portal.processing.display import DISPLAY_BINS
from portal.processing.engine import Progress, run_analysis
from portal.processing.executors.pool import ExecutorPool
from portal.processing.loader import load_analysis
from portal.processing.model import Job, JobSummary, Publication, utc

if TYPE_CHECKING:
    from portal.formats.collection import Formats


def _now() -> datetime:
    return datetime.now(UTC)


class JobService:
    """Runs analyses over catalogued datasets on the executors of ``executors``, by the name a job stores
    (``default_executor`` when a job names none); an executor is built on first use and shared by later jobs."""

    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        executors: ExecutorPool,
        *,
        formats: Formats,
        default_executor: str,
        chunk_events: int = 200_000,
        first_recid: int = 100000,
        locate_uri: Callable[[str], str] | None = None,
        quota_per_user: int = 0,
    ) -> None:
        self.db = db
        #: where a catalogue URI's bytes are read from (restricted files are not at their public URI)
        self.locate_uri = locate_uri or (lambda uri: uri)
        self.quota_per_user = quota_per_user  # queued or running jobs one owner may have (0: no limit)
        self.catalog = catalog
        self.executors = executors
        self.formats = formats
        self.default_executor = default_executor
        self.chunk_events = chunk_events
        self.first_recid = first_recid
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ creating and running
    def dataset_files(self, recid: int) -> list[str]:
        """URIs (file://, plain paths or root://) of the dataset's processable files, from the file rows and
        file indices: the files of one processable format only, the first in the formats' order of preference
        (ROOT first) that the dataset has (see :meth:`Formats.preferred_files`)."""
        uris: list[str] = []
        after = -1
        while True:
            items, after_next = self.catalog.find_files(recid, after=after, size=1000)
            uris.extend(f["uri"] for f in items if f.get("uri"))
            if after_next is None:
                break
            after = after_next
        for index in self.catalog.get(recid).indices:
            uris.extend(f["uri"] for f in self.catalog.iter_index_entries(recid, index["key"]) if f.get("uri"))
        return self.formats.preferred_files([self.locate_uri(u) for u in uris])

    def create(
        self,
        analysis: str,
        dataset_recid: int,
        *,
        executor: str | None = None,
        skip_bad_files: bool = False,
        parameters: dict[str, Any] | None = None,
        owner_id: int | None = None,
    ) -> Job:
        """Validate everything that can be validated up front, then store a queued job owned by ``owner_id``.
        Invalid names what is wrong (an unknown executor, analysis parameters, a dataset without processable
        files); NotFound an unknown analysis or record; QuotaExceeded (naming ``quota_jobs_per_user``) when the
        owner has as many jobs queued or running as the quota allows."""
        executor = executor or self.default_executor
        self.executors.check(executor)
        if not isinstance(analysis, str) or not analysis:
            raise Invalid("analysis must be a built-in name or 'module:Class'", field="analysis")
        if parameters is not None and not isinstance(parameters, dict):
            raise Invalid("parameters must be a JSON object", field="parameters")
        load_analysis(analysis, **(parameters or {}))
        target, _ = self.catalog.resolve(dataset_recid)
        if not self.dataset_files(target):
            raise Invalid(
                f"record {target} has no ROOT, Parquet or HDF5 files with a location to process", record=target
            )
        with self.db.transaction() as s:
            if owner_id is not None:
                active = s.scalar(
                    select(func.count())
                    .select_from(AnalysisJob)
                    .where(AnalysisJob.owner_id == owner_id, AnalysisJob.state.in_(("queued", "running")))
                )
                require_quota("quota_jobs_per_user", active or 0, self.quota_per_user, what="analysis jobs")
            job = AnalysisJob(
                owner_id=owner_id,
                analysis=analysis,
                dataset_recid=target,
                executor=executor,
                skip_bad_files=bool(skip_bad_files),
                parameters=parameters or {},
                state="queued",
                progress={},
                created_at=_now(),
            )
            s.add(job)
            s.flush()
            return _job(job)

    def start(self, job_id: int) -> threading.Thread:
        """Run the queued job in a background thread."""
        thread = threading.Thread(target=self.run, args=(job_id,), name=f"analysis-job-{job_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def run(self, job_id: int, *, on_progress: Callable[[dict[str, Any]], None] | None = None) -> Job:
        """Run a queued job to completion in this thread and return it done or failed: failures (an unreadable
        file, an executor that cannot be reached, an error in the analysis) are stored on the job, not raised.
        ``on_progress`` gets the progress JSON after every task; the stored progress is updated twice a second
        at most. Conflict if the job is not queued."""
        with self.db.transaction() as s:
            job = self._get(s, job_id)
            if job.state != "queued":
                raise Conflict(f"job {job_id} is {job.state}, not queued")
            job.state, job.started_at = "running", _now()
            spec, recid, executor_name = job.analysis, job.dataset_recid, job.executor
            skip, params = job.skip_bad_files, dict(job.parameters)
            # the owner's user name picks their own cluster on a per-user executor (the gateway)
            owner = s.get(User, job.owner_id) if job.owner_id is not None else None
            user = owner.username if owner is not None else None
        last = [0.0]

        def progress(p: Progress) -> None:
            data = p.to_json()
            if on_progress:
                on_progress(data)
            if time.monotonic() - last[0] > 0.5 or p.chunks_done == p.chunks_total:
                last[0] = time.monotonic()
                with self.db.transaction() as s:
                    self._get(s, job_id).progress = data

        try:
            analysis = load_analysis(spec, **params)
            view = self.catalog.get(recid)
            uris = self.dataset_files(recid)
            executor = self.executors.get(executor_name, user=user)
            result = run_analysis(
                analysis,
                uris,
                executor,
                formats=self.formats,
                chunk_events=self.chunk_events,
                skip_bad_files=skip,
                on_progress=progress,
            )
        except Exception as exc:  # noqa: BLE001 - every failure ends up on the job, named
            message = exc.message if isinstance(exc, PortalError) else f"{type(exc).__name__}: {exc}"
            with self.db.transaction() as s:
                job = self._get(s, job_id)
                job.state, job.error, job.finished_at = "failed", message, _now()
                return _job(job)
        provenance = {
            **result.provenance,
            "dataset": {
                "recid": recid,
                "doi": view.doi,
                "concept_doi": view.concept_doi,
                "title": view.metadata.get("title"),
            },
            "timings": result.timings,
        }
        stored = {
            **result.output.to_json(),
            "main_hist": analysis.main_hist or next(iter(result.output.hists)),
            "title": analysis.title or analysis.name,
            "skipped_files": result.skipped_files,
        }
        with self.db.transaction() as s:
            job = self._get(s, job_id)
            job.state, job.finished_at = "done", _now()
            job.progress, job.result, job.provenance = result.progress.to_json(), stored, provenance
            return _job(job)

    def close(self) -> None:
        """Close the executors jobs have used (an embedded cluster stops)."""
        self.executors.close()

    # ------------------------------------------------------------------ reading
    def get(self, job_id: int) -> Job:
        """The job; NotFound if there is none."""
        with self.db.reader() as s:
            return _job(self._get(s, job_id))

    def list(self, limit: int = 50, *, owner_id: int | None = None) -> list[JobSummary]:
        """The latest ``limit`` jobs (of ``owner_id`` when given), newest first, without results."""
        with self.db.reader() as s:
            query = select(AnalysisJob).order_by(AnalysisJob.id.desc()).limit(limit)
            if owner_id is not None:
                query = query.where(AnalysisJob.owner_id == owner_id)
            return [_summary(j) for j in s.scalars(query)]

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (for metrics: queue depth and job states)."""
        with self.db.reader() as s:
            rows = s.execute(select(AnalysisJob.state, func.count()).group_by(AnalysisJob.state))
            return {state: int(n) for state, n in rows}

    def _get(self, s: Any, job_id: int) -> AnalysisJob:
        job = s.get(AnalysisJob, job_id)
        if job is None:
            raise NotFound(f"there is no analysis job {job_id}")
        return job

    def _result(self, job_id: int) -> tuple[Job, dict[str, Any]]:
        job = self.get(job_id)
        if job.state != "done" or job.result is None:
            raise Conflict(f"job {job_id} is {job.state}; results exist only for finished jobs")
        return job, job.result

    def histogram(self, job_id: int, fmt: str, name: str | None = None) -> tuple[bytes, str]:
        """(bytes, MIME type) of the job's histograms as JSON, HDF5 or ROOT (see :func:`.results.histograms`).
        Invalid for an unknown format, NotFound for an unknown job or histogram, Conflict if not done."""
        results.check_format(fmt, results.HIST_FORMATS, "histogram")
        job, _ = self._result(job_id)
        return results.histograms(job, fmt, name)

    def plot(
        self, job_id: int, fmt: str = "png", name: str | None = None, *, bins: int | None = None, scale: str = "auto"
    ) -> tuple[bytes, str]:
        """(bytes, MIME type) of a plot of one histogram, PNG or SVG, in at most ``bins`` display bins on
        ``scale`` axes (see :func:`.results.plot`); errors as for :meth:`histogram`."""
        results.check_format(fmt, results.PLOT_FORMATS, "plot")
        job, _ = self._result(job_id)
        return results.plot(job, fmt, name, bins=bins or DISPLAY_BINS, scale=scale)

    # ------------------------------------------------------------------ publishing
    def publish(self, job_id: int, *, title: str | None = None, software_recid: int | None = None) -> Publication:
        """A Derived dataset record citing the dataset (isDerivedFrom) and, when given, the software
        record of the analysis code (isCompiledBy); the result JSON is its file. Conflict if the job is not
        done or was published already."""
        job, result = self._result(job_id)
        if job.derived_recid:
            raise Conflict(f"job {job_id} was already published as record {job.derived_recid}")
        prov = job.provenance or {}
        dataset = prov["dataset"]
        relations: list[dict[str, Any]] = [
            {"type": "isDerivedFrom", "recid": dataset["recid"], **({"doi": dataset["doi"]} if dataset["doi"] else {})}
        ]
        if software_recid is not None:
            software = self.catalog.get(software_recid)
            relations.append(
                {"type": "isCompiledBy", "recid": software.recid, **({"doi": software.doi} if software.doi else {})}
            )
        code = prov["analysis"]
        description = (
            f"Output of analysis {code['name']} (version {code['version']}, module {code['module']}, "
            f"sha256 {code['sha256']}) over record {dataset['recid']}. Cut flow: "
            + ", ".join(f"{k}: {v}" for k, v in result["cutflow"].items())
            + ". Environment: Python "
            + prov["environment"]["python"]
            + ", "
            + ", ".join(f"{k} {v}" for k, v in prov["environment"]["packages"].items())
            + "."
        )
        metadata = {
            "title": title or f"{result['title']} of {dataset['title'] or dataset['recid']}",
            "type": {"primary": "Dataset", "secondary": ["Derived"]},
            "date_published": date.today().isoformat(),
            "abstract": {"description": description},
            "relations": relations,
        }
        # The catalogue allocates the recid inside its own write transaction: concurrent publishes never share one.
        recid = self.catalog.create(metadata, source=f"analysis job {job_id}").recid
        with self.db.transaction() as s:
            self._get(s, job_id).derived_recid = recid
        return Publication(recid=recid, job=job_id)


def _summary(job: AnalysisJob) -> JobSummary:
    return JobSummary(
        id=job.id,
        analysis=job.analysis,
        dataset_recid=job.dataset_recid,
        executor=job.executor,
        skip_bad_files=job.skip_bad_files,
        parameters=job.parameters,
        state=job.state,
        progress=job.progress,
        error=job.error,
        derived_recid=job.derived_recid,
        created_at=utc(job.created_at),
        started_at=utc(job.started_at),
        finished_at=utc(job.finished_at),
        owner_id=job.owner_id,
    )


def _job(job: AnalysisJob) -> Job:
    return Job(**vars(_summary(job)), result=job.result, provenance=job.provenance)


__all__ = ["Job", "JobService", "JobSummary", "Publication"]
