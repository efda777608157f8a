"""Analysis jobs: create (queued for a `portal worker`), run (in a worker, or in the caller for the command line),
report progress, cancel, keep the result with its provenance, and publish a result as a Derived dataset. Result
files and plots are :mod:`.results`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from portal.catalog.results import RecordView
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import AnalysisJob
from portal.errors import Conflict, Invalid, NotFound, PortalError
from portal.i18n import N_
from portal.identity import policy
from portal.identity.policy import require_quota
from portal.identity.principal import Principal
from portal.jobqueue.base import Cancelled, JobQueue
from portal.launch.people import hub_username
from portal.processing import results
from portal.processing.display import DISPLAY_BINS
from portal.processing.engine import Progress, run_analysis
from portal.processing.executors.pool import ExecutorPool
from portal.processing.loader import load_analysis
from portal.processing.model import FINAL_STATES, STATES, Job, JobPage, JobSummary, Publication, utc

if TYPE_CHECKING:
    from portal.formats.collection import Formats
    from portal.processing.isolated import SoftwareAnalyses
    from portal.processing.offers import AnalysePanel
    from portal.processing.software import SoftwareAnalysis
    from portal.storage.base import Storage


def _now() -> datetime:
    return datetime.now(UTC)


def ref(job_id: int) -> str:
    """The queue's reference to an analysis job."""
    return f"analysis:{job_id}"


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
        queue: JobQueue | None = None,
        storage: Storage | None = None,
        software: SoftwareAnalyses | None = None,
        user_prefix: str = "p-",
    ) -> None:
        self.db = db
        #: a person's name on per-user executors is their hub user (`<prefix><id>`, `launch_user_prefix`): the
        #: gateway then hands their analyses and their notebook sessions (signed in with hub tokens) one cluster
        self.user_prefix = user_prefix
        #: analyses provided by software records, run in their environments (None: not offered)
        self.software = software
        #: where created jobs wait for a worker (None: only the caller runs them, as `portal analysis run` does)
        self.queue = queue
        self.storage = storage  # where published results' files are written (None: results cannot be published)
        #: where a catalogue URI's bytes are read from (restricted files are not at their public URI)
        self.locate_uri = locate_uri or (lambda uri: uri)
        self.quota_per_user = quota_per_user  # queued or running jobs one owner may have (0: no limit)
        self.catalog = catalog
        self.executors = executors
        self.formats = formats
        self.default_executor = default_executor
        self.chunk_events = chunk_events
        self.first_recid = first_recid

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
        enqueue: bool = True,
        environment: dict[str, Any] | None = None,
    ) -> Job:
        """Validate everything that can be validated up front, then store a queued job owned by ``owner_id``
        and, with ``enqueue``, queue it for a worker in the same transaction (without: the caller runs it).
        Invalid names what is wrong (an unknown executor, analysis parameters, a dataset without processable
        files); NotFound an unknown analysis or record; QuotaExceeded (naming ``quota_jobs_per_user``) when the
        owner has as many jobs queued or running as the quota allows. ``analysis`` ``name@recid`` is an analysis
        of software record ``recid``, run in its environment; ``environment`` pins such a job to a previous run's
        environment build (its provenance's ``environment_build``: a re-run)."""
        executor = executor or self.default_executor
        self.executors.check(executor)
        if not isinstance(analysis, str) or not analysis:
            raise Invalid(N_("analysis must be a built-in name or 'module:Class'"), field="analysis")
        if parameters is not None and not isinstance(parameters, dict):
            raise Invalid(N_("parameters must be a JSON object"), field="parameters")
        provided = self._software_analysis(analysis)
        if provided is not None:
            parameters = _coerce(provided, parameters or {})
        else:
            load_analysis(analysis, **(parameters or {}))
        target, _ = self.catalog.resolve(dataset_recid)
        if not self.dataset_files(target):
            raise Invalid(
                N_("record {target} has no ROOT, Parquet or HDF5 files with a location to process"),
                target=target,
                record=target,
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
                environment=environment if provided is not None else None,
            )
            s.add(job)
            s.flush()
            if enqueue and self.queue is not None:
                self.queue.enqueue("analysis", {"job": job.id}, owner_id=owner_id, ref=ref(job.id), session=s)
            created = _job(job)
        if enqueue and self.queue is not None:
            self.queue.wakeup.set()
        return created

    def run(
        self,
        job_id: int,
        *,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        restart: bool = False,
        check_cancel: Callable[[], None] | None = None,
    ) -> Job:
        """Run a queued job to completion in this thread and return it done or failed: failures (an unreadable
        file, an executor that cannot be reached, an error in the analysis) are stored on the job, not raised.
        ``on_progress`` gets the progress JSON after every task; the stored progress is updated twice a second
        at most. ``check_cancel`` is called after every task and stops the run by raising
        :class:`~portal.jobqueue.base.Cancelled` (which propagates; :meth:`mark_cancelled` records it).
        ``restart`` also runs a job left running by a lost worker, from the start. Conflict if the job is not
        queued (nor running, with ``restart``)."""
        with self.db.transaction() as s:
            job = self._get(s, job_id)
            if job.state != "queued" and not (restart and job.state == "running"):
                raise Conflict(N_("job {job_id} is {state}, not queued"), job_id=job_id, state=job.state)
            job.state, job.started_at, job.progress = "running", _now(), {}
            spec, recid, executor_name = job.analysis, job.dataset_recid, job.executor
            skip, params = job.skip_bad_files, dict(job.parameters)
            pinned = dict(job.environment) if job.environment else None
            # the owner's hub user picks their own cluster on a per-user executor (the gateway)
            user = hub_username(job.owner_id, self.user_prefix) if job.owner_id is not None else None
        last = [0.0]

        def progress(p: Progress) -> None:
            data = p.to_json()
            if on_progress:
                on_progress(data)
            if check_cancel is not None:
                check_cancel()
            if time.monotonic() - last[0] > 0.5 or p.chunks_done == p.chunks_total:
                last[0] = time.monotonic()
                with self.db.transaction() as s:
                    self._get(s, job_id).progress = data

        try:
            provided = self._software_analysis(spec)
            if provided is not None:
                return self._run_software(job_id, provided, recid, params, skip, pinned, on_progress, check_cancel)
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
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure ends up on the job, named
            return self._fail(job_id, exc)
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

    def _fail(self, job_id: int, exc: BaseException) -> Job:
        message = exc.message if isinstance(exc, PortalError) else f"{type(exc).__name__}: {exc}"
        with self.db.transaction() as s:
            job = self._get(s, job_id)
            job.state, job.error, job.finished_at = "failed", message, _now()
            # the message id and values too: pages and the API show the reason in the reader's language
            job.error_message = exc.stored() if isinstance(exc, PortalError) else None
            return _job(job)

    def _software_analysis(self, spec: str) -> SoftwareAnalysis | None:
        """The software record's analysis a ``name@recid`` names (None for other names); NotFound or Invalid
        when that record provides no such analysis, Unavailable-like Invalid when software analyses are off."""
        from portal.processing.software import parse_spec

        if parse_spec(spec) is None:
            return None
        if self.software is None:
            raise Invalid(N_("analyses of software records are not available here"), field="analysis")
        return self.software.find(spec)

    def _run_software(
        self,
        job_id: int,
        provided: SoftwareAnalysis,
        recid: int,
        params: dict[str, Any],
        skip: bool,
        pinned: dict[str, Any] | None,
        on_progress: Callable[[dict[str, Any]], None] | None,
        check_cancel: Callable[[], None] | None,
    ) -> Job:
        """Run a software record's analysis in its environment's interpreter (see :mod:`.isolated`); a failure,
        of the build, the package's import or the analysis itself, fails the job naming it."""
        assert self.software is not None
        view = self.catalog.get(recid)
        uris = self.dataset_files(recid)
        wanted = set(uris)
        # the files' entry counts from ingest, so the progress bar has a total while the process reports events
        events_total = sum(
            int(row.get("entries") or 0)
            for row in self._dataset_rows(recid)
            if row.get("uri") and self.locate_uri(row["uri"]) in wanted
        )
        log: list[str] = []
        last = [0.0]

        def note(line: str) -> None:
            log.append(line)
            with self.db.transaction() as s:
                self._get(s, job_id).progress = {"environment": log[-20:]}

        def progress(data: dict[str, Any]) -> None:
            # the engine's progress keys, so every reader (job page, `portal analysis run`) reads both alike
            elapsed = time.perf_counter() - t0
            done = int(data.get("events_done") or 0)
            data = {
                "files_total": int(data.get("files_total") or len(uris)),
                "files_done": int(data.get("files_done") or 0),
                "events_total": max(events_total, done),
                "events_done": done,
                "chunks_total": int(data.get("files_total") or len(uris)),
                "chunks_done": int(data.get("files_done") or 0),
                "events_per_second": round(done / elapsed, 1) if elapsed > 0 else 0.0,
                "environment": log[-5:],
            }
            if on_progress:
                on_progress(data)
            if check_cancel is not None:
                check_cancel()
            if time.monotonic() - last[0] > 0.5 or data.get("files_done") == data.get("files_total"):
                last[0] = time.monotonic()
                with self.db.transaction() as s:
                    self._get(s, job_id).progress = data

        prepared = self.software.prepare(provided, pinned, note)
        t0 = time.perf_counter()  # after the build: the rate is the analysis' own
        out = self.software.run(
            provided,
            prepared,
            uris,
            parameters=params,
            chunk_events=self.chunk_events,
            skip_bad_files=skip,
            on_progress=progress,
        )
        identity = {
            **out["identity"],
            "software": {
                "recid": provided.recid,
                "doi": provided.doi,
                "title": provided.record_title,
                "version": provided.record_version,
                "entry": provided.entry,
                "analysis": provided.name,
            },
        }
        provenance = {
            "analysis": identity,
            "parameters": out["parameters"],
            "environment": out["environment"],
            "environment_build": prepared.provenance,
            "executor": "environment",
            "chunk_events": self.chunk_events,
            "tasks": 1,
            "files": uris,
            "dataset": {
                "recid": recid,
                "doi": view.doi,
                "concept_doi": view.concept_doi,
                "title": view.metadata.get("title"),
            },
            "timings": {**out["timings"], "total_s": round(time.perf_counter() - t0, 4)},
        }
        stored = {
            "hists": out["hists"],
            "cutflow": out["cutflow"],
            "main_hist": out["main_hist"],
            "title": out["title"],
            "skipped_files": out["skipped_files"],
        }
        events = int(out.get("events") or 0)
        final_progress = {
            "files_total": len(uris),
            "files_done": len(uris),
            "events_total": events,
            "events_done": events,
            "chunks_total": 1,
            "chunks_done": 1,
            "events_per_second": out["timings"].get("events_per_s", 0.0),
            "environment": log[-20:],
        }
        with self.db.transaction() as s:
            job = self._get(s, job_id)
            job.state, job.finished_at = "done", _now()
            job.progress, job.result, job.provenance = final_progress, stored, provenance
            return _job(job)

    def cancel(self, job_id: int, actor: Principal) -> Job:
        """Cancel a job for ``actor`` (its owner or an admin: :func:`policy.require_cancel_job`): a queued one at
        once; a running one stops at the first chunk boundary after its worker hears of it, at the worker's next
        heartbeat (at most a second later; the job comes back still running, and a job that ends before then stays
        done). Conflict for a finished job."""
        job = self.get(job_id)
        policy.require_cancel_job(actor, job.owner_id)
        if job.state in FINAL_STATES:
            raise Conflict(
                N_("job {job_id} is {job_state} already; only queued or running jobs can be cancelled"),
                job_id=job_id,
                job_state=job.state,
            )
        found = self.queue.cancel(ref(job_id)) if self.queue is not None else None
        if found == "running":
            return self.get(job_id)
        with self.db.transaction() as s:
            row = self._get(s, job_id)
            if row.state == "queued":
                row.state, row.finished_at = "cancelled", _now()
                row.error, row.error_message = _reason(N_("cancelled by {who}"), who=actor.label)
            elif found is None and row.state == "running":
                # no queue job to pass the request to: it runs in a command, outside the queue
                raise Conflict(
                    N_("job {job_id} runs outside the job queue and cannot be cancelled from here"), job_id=job_id
                )
            return _job(row)

    def mark_cancelled(self, job_id: int) -> None:
        """Record that a running job stopped because it was cancelled."""
        self._settle(job_id, "cancelled", *_reason(N_("cancelled while running")))

    def give_up(self, job_id: int, reason: str) -> None:
        """Record a failure the queue settled without the job's task (its worker was lost, no attempts left)."""
        self._settle(job_id, "failed", reason)

    def _settle(self, job_id: int, state: str, reason: str, message: dict[str, Any] | None = None) -> None:
        with self.db.transaction() as s:
            job = s.get(AnalysisJob, job_id)
            if job is not None and job.state not in FINAL_STATES:
                job.state, job.error, job.finished_at = state, reason, _now()
                job.error_message = message

    def close(self) -> None:
        """Close the executors jobs have used (an embedded cluster stops)."""
        self.executors.close()

    # ------------------------------------------------------------------ reading
    def get(self, job_id: int) -> Job:
        """The job; NotFound if there is none."""
        with self.db.reader() as s:
            return _job(self._get(s, job_id))

    def list(
        self,
        limit: int = 50,
        *,
        offset: int = 0,
        owner_id: int | None = None,
        dataset_recid: int | None = None,
        state: str | None = None,
    ) -> JobPage:
        """Jobs newest first, without results: ``limit`` of them from ``offset``, of ``owner_id``, over
        ``dataset_recid`` and in ``state`` when given (Invalid for an unknown state), and how many match."""
        if state is not None and state not in STATES:
            raise Invalid(
                N_("unknown state {state!r}; one of: {states}"),
                state=state,
                states=", ".join(STATES),
                field="state",
            )
        where = []
        if owner_id is not None:
            where.append(AnalysisJob.owner_id == owner_id)
        if dataset_recid is not None:
            where.append(AnalysisJob.dataset_recid == dataset_recid)
        if state is not None:
            where.append(AnalysisJob.state == state)
        with self.db.reader() as s:
            total = s.scalar(select(func.count()).select_from(AnalysisJob).where(*where)) or 0
            query = select(AnalysisJob).where(*where).order_by(AnalysisJob.id.desc()).offset(offset).limit(limit)
            return JobPage([_summary(j) for j in s.scalars(query)], total=int(total), offset=offset, limit=limit)

    def published_as(self, recid: int) -> Job:
        """The job a Derived record was published from; NotFound when no job was."""
        with self.db.reader() as s:
            job = s.scalars(select(AnalysisJob).where(AnalysisJob.derived_recid == recid).limit(1)).first()
            if job is None:
                raise NotFound(N_("record {recid} was not published from an analysis job"), recid=recid)
            return _job(job)

    def panel(self, recid: int) -> AnalysePanel:
        """What the Analyse panel of dataset version ``recid`` offers (see :mod:`.offers`)."""
        from portal.processing.offers import panel

        return panel(
            self.catalog,
            self.formats,
            recid,
            executors=self.executors.names(),
            default_executor=self.default_executor,
            software=self.software.offered() if self.software is not None else None,
        )

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (for metrics: queue depth and job states)."""
        with self.db.reader() as s:
            rows = s.execute(select(AnalysisJob.state, func.count()).group_by(AnalysisJob.state))
            return {state: int(n) for state, n in rows}

    def _get(self, s: Any, job_id: int) -> AnalysisJob:
        job = s.get(AnalysisJob, job_id)
        if job is None:
            raise NotFound(N_("there is no analysis job {job_id}"), job_id=job_id)
        return job

    def _result(self, job_id: int) -> tuple[Job, dict[str, Any]]:
        job = self.get(job_id)
        if job.state != "done" or job.result is None:
            raise Conflict(
                N_("job {job_id} is {state}; results exist only for finished jobs"), job_id=job_id, state=job.state
            )
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
        """A Derived dataset record carrying the result's files (histograms as JSON, HDF5 and ROOT, the plot, the
        cut flow, the input files with their checksums), related to the dataset version it was computed from
        (isDerivedFrom), to the software record of the code when given (isCompiledBy), and to the environment
        that software (or else the dataset) requires (requires). Conflict if the job is not done or was published
        already; Unavailable when there is no local storage to write the files to; nothing is left behind when
        the record cannot be stored."""
        from portal.processing import evidence

        job, result = self._result(job_id)
        if job.derived_recid:
            raise Conflict(
                N_("job {job_id} was already published as record {derived_recid}"),
                job_id=job_id,
                derived_recid=job.derived_recid,
            )
        prov = job.provenance or {}
        dataset = prov["dataset"]
        if software_recid is None:  # a software record's analysis names its code itself
            software_recid = ((prov.get("analysis") or {}).get("software") or {}).get("recid")
        relations: list[dict[str, Any]] = [
            {"type": "isDerivedFrom", "recid": dataset["recid"], **({"doi": dataset["doi"]} if dataset["doi"] else {})}
        ]
        software = self.catalog.get(software_recid) if software_recid is not None else None
        if software is not None:
            relations.append(
                {"type": "isCompiledBy", "recid": software.recid, **({"doi": software.doi} if software.doi else {})}
            )
        environment = self._environment(software, self.catalog.get(dataset["recid"]))
        if environment is not None:
            relations.append(
                {
                    "type": "requires",
                    "recid": environment.recid,
                    **({"doi": environment.doi} if environment.doi else {}),
                }
            )
        inputs = evidence.input_files(self._dataset_rows(dataset["recid"]), prov.get("files") or [], self.locate_uri)
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
        params = ", ".join(f"`{k}={v}`" for k, v in (prov.get("parameters") or {}).items()) or "none"
        methodology = f"Parameters: {params}. Input files ({len(inputs)}), with their checksums:\n\n" + "\n".join(
            f"- `{i['key']}` {i['size'] or '?'} bytes, `{i['checksum'] or 'no checksum'}`" for i in inputs
        )
        files = evidence.result_files(job, inputs)
        metadata = {
            "title": title or f"{result['title']} of {dataset['title'] or dataset['recid']}",
            "type": {"primary": "Dataset", "secondary": ["Derived"]},
            "date_published": date.today().isoformat(),
            "abstract": {"description": description},
            "methodology": {"description": methodology},
            "relations": relations,
            "distribution": {"number_files": len(files), "size": sum(len(body) for _, body, _ in files)},
        }
        try:
            rows, folder = evidence.write_files(self.storage, f"{evidence.DERIVED_FOLDER}/job-{job_id}", files)
        except FileExistsError:
            raise Conflict(N_("job {job_id} is being published already"), job_id=job_id) from None
        try:
            # The catalogue allocates the recid inside its own write transaction: concurrent publishes never
            # share one; the files are its rows from that same transaction on.
            recid = self.catalog.create(metadata, source=f"analysis job {job_id}", files=rows).recid
            with self.db.transaction() as s:
                self._get(s, job_id).derived_recid = recid
        except BaseException:
            evidence.remove_folder(folder)
            raise
        return Publication(recid=recid, job=job_id)

    def _environment(self, *records: RecordView | None) -> RecordView | None:
        """The first Environment record that one of ``records`` requires."""
        for record in records:
            for rel in (record.metadata.get("relations") or []) if record is not None else []:
                if rel.get("type") != "requires" or not str(rel.get("recid", "")).isdigit():
                    continue
                try:
                    found = self.catalog.get(int(rel["recid"]))
                except NotFound:
                    continue
                if (found.metadata.get("type") or {}).get("primary") == "Environment":
                    return found
        return None

    def _dataset_rows(self, recid: int) -> Iterator[dict[str, Any]]:
        after = -1
        while True:
            items, after_next = self.catalog.find_files(recid, after=after, size=1000)
            yield from items
            if after_next is None:
                break
            after = after_next
        for index in self.catalog.get(recid).indices:
            yield from self.catalog.iter_index_entries(recid, index["key"])


def _coerce(provided: SoftwareAnalysis, parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a job of ``provided`` checked against what its class declares (read from its source),
    defaults filled in; Invalid naming the field otherwise."""
    if not isinstance(parameters, dict):
        raise Invalid(N_("parameters must be a JSON object"), field="parameters")
    declared = {p.name: p for p in provided.params}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise Invalid(
            N_("analysis {name} has no parameter {unknown_0!r} (its parameters: {known})"),
            name=provided.name,
            unknown_0=unknown[0],
            known=", ".join(declared) or "none",
            field=f"parameters.{unknown[0]}",
        )
    return {n: p.coerce(parameters[n]) if n in parameters else p.default for n, p in declared.items()}


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
        error_message=job.error_message,
        derived_recid=job.derived_recid,
        created_at=utc(job.created_at),
        started_at=utc(job.started_at),
        finished_at=utc(job.finished_at),
        owner_id=job.owner_id,
    )


def _reason(template: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """A reason a job ends with: its English text (the ``error`` column, the logs) and its message id with values
    (shown in the reader's language)."""
    error = PortalError(template, **params)
    return error.message, error.stored()


def _job(job: AnalysisJob) -> Job:
    return Job(**vars(_summary(job)), result=job.result, provenance=job.provenance)


__all__ = ["Job", "JobPage", "JobService", "JobSummary", "Publication"]
