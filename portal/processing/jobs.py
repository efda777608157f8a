"""Analysis jobs: create, run (in a background thread or in the caller), report progress, keep the result
with its provenance, render plots and histogram downloads, and publish a result as a Derived dataset."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select

from portal.catalog.model import RecordInput
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import AnalysisJob, Concept, Record
from portal.errors import Conflict, Invalid, NotFound, PortalError
from portal.processing.analysis import hist_to_json
from portal.processing.engine import Progress, run_analysis
from portal.processing.executors.pool import ExecutorPool
from portal.processing.loader import load_analysis

STATES = ("queued", "running", "done", "failed")
HIST_FORMATS = ("json", "h5", "root")
PLOT_FORMATS = ("png", "svg")


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
        default_executor: str,
        chunk_events: int = 200_000,
        first_recid: int = 100000,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.executors = executors
        self.default_executor = default_executor
        self.chunk_events = chunk_events
        self.first_recid = first_recid
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ creating and running
    def dataset_files(self, recid: int) -> list[str]:
        """URIs (file://, plain paths or root://) of the dataset's processable files, from the file rows."""
        uris: list[str] = []
        after = -1
        while True:
            items, after_next = self.catalog.find_files(recid, after=after, size=1000)
            uris.extend(
                f["uri"]
                for f in items
                if f.get("uri") and f["uri"].lower().split("?")[0].endswith((".root", ".parquet", ".h5", ".hdf5"))
            )
            if after_next is None:
                break
            after = after_next
        for index in self.catalog.get(recid).indices:
            uris.extend(
                f["uri"]
                for f in self.catalog.iter_index_entries(recid, index["key"])
                if f.get("uri") and f["uri"].lower().endswith((".root", ".parquet", ".h5", ".hdf5"))
            )
        # A dataset often publishes the same events in several formats (the demo: ROOT, Parquet and HDF5
        # copies); processing all of them would count every event once per format. Use one format, ROOT first.
        for suffixes in ((".root",), (".parquet",), (".h5", ".hdf5")):
            chosen = [u for u in uris if u.lower().split("?")[0].endswith(suffixes)]
            if chosen:
                return chosen
        return uris

    def create(
        self,
        analysis: str,
        dataset_recid: int,
        *,
        executor: str | None = None,
        skip_bad_files: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate everything that can be validated up front, then store a queued job."""
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
            job = AnalysisJob(
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
            return _job_dict(job)

    def start(self, job_id: int) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(job_id,), name=f"analysis-job-{job_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def run(self, job_id: int, *, on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run a queued job to completion in this thread; failures are stored on the job, not raised."""
        with self.db.transaction() as s:
            job = self._get(s, job_id)
            if job.state != "queued":
                raise Conflict(f"job {job_id} is {job.state}, not queued")
            job.state, job.started_at = "running", _now()
            spec, recid, executor_name = job.analysis, job.dataset_recid, job.executor
            skip, params = job.skip_bad_files, dict(job.parameters)
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
            executor = self.executors.get(executor_name)
            result = run_analysis(
                analysis, uris, executor, chunk_events=self.chunk_events, skip_bad_files=skip, on_progress=progress
            )
        except Exception as exc:  # noqa: BLE001 - every failure ends up on the job, named
            message = exc.message if isinstance(exc, PortalError) else f"{type(exc).__name__}: {exc}"
            with self.db.transaction() as s:
                job = self._get(s, job_id)
                job.state, job.error, job.finished_at = "failed", message, _now()
                return _job_dict(job)
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
            return _job_dict(job)

    def close(self) -> None:
        """Close the executors jobs have used (an embedded cluster stops)."""
        self.executors.close()

    # ------------------------------------------------------------------ reading
    def get(self, job_id: int) -> dict[str, Any]:
        with self.db.reader() as s:
            return _job_dict(self._get(s, job_id))

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.reader() as s:
            rows = s.scalars(select(AnalysisJob).order_by(AnalysisJob.id.desc()).limit(limit))
            return [_job_dict(j, brief=True) for j in rows]

    def _get(self, s: Any, job_id: int) -> AnalysisJob:
        job = s.get(AnalysisJob, job_id)
        if job is None:
            raise NotFound(f"there is no analysis job {job_id}")
        return job

    def _result(self, job_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        job = self.get(job_id)
        if job["state"] != "done":
            raise Conflict(f"job {job_id} is {job['state']}; results exist only for finished jobs")
        return job, job["result"]

    def histogram(self, job_id: int, fmt: str, name: str | None = None) -> tuple[bytes, str]:
        """The job's histograms as JSON, HDF5 (edges + counts per histogram) or ROOT (TH1 via uproot)."""
        if fmt not in HIST_FORMATS:
            raise Invalid(f"unknown histogram format {fmt!r}; choose one of {', '.join(HIST_FORMATS)}", field="format")
        job, result = self._result(job_id)
        hists = result["hists"]
        if name is not None:
            if name not in hists:
                raise NotFound(f"job {job_id} has no histogram {name!r}; it has {', '.join(hists)}")
            hists = {name: hists[name]}
        if fmt == "json":
            body = {"job": job_id, "cutflow": result["cutflow"], "hists": hists, "provenance": job["provenance"]}
            return json.dumps(body, indent=1).encode(), "application/json"
        if fmt == "h5":
            import h5py

            buf = io.BytesIO()
            with h5py.File(buf, "w") as f:
                f.attrs["provenance"] = json.dumps(job["provenance"])
                f.attrs["cutflow"] = json.dumps(result["cutflow"])
                for hname, h in hists.items():
                    g = f.create_group(hname)
                    g.create_dataset("edges", data=np.asarray(h["axes"][0]["edges"]))
                    g.create_dataset("counts_with_flow", data=np.asarray(h["counts_with_flow"], dtype=np.int64))
                    g.attrs["label"] = h["axes"][0]["label"] or ""
            return buf.getvalue(), "application/x-hdf5"
        import tempfile
        from pathlib import Path

        import uproot

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "h.root"
            with uproot.recreate(path) as f:
                for hname, h in hists.items():
                    edges = np.asarray(h["axes"][0]["edges"])
                    counts = np.asarray(h["counts_with_flow"], dtype=np.float64)
                    # TH1D carries flow bins itself: pass the in-range counts plus flow via to_TH1x
                    f[hname] = uproot.writing.identify.to_TH1x(
                        fName=hname,
                        fTitle=h["axes"][0]["label"] or hname,
                        data=counts,
                        fEntries=float(counts.sum()),
                        fTsumw=float(counts[1:-1].sum()),
                        fTsumw2=float(counts[1:-1].sum()),
                        fTsumwx=0.0,
                        fTsumwx2=0.0,
                        fSumw2=counts.copy(),
                        fXaxis=uproot.writing.identify.to_TAxis(
                            fName="xaxis",
                            fTitle=h["axes"][0]["label"] or "",
                            fNbins=len(edges) - 1,
                            fXmin=float(edges[0]),
                            fXmax=float(edges[-1]),
                            fXbins=edges,
                        ),
                    )
            return path.read_bytes(), "application/octet-stream"

    def plot(self, job_id: int, fmt: str = "png", name: str | None = None) -> tuple[bytes, str]:
        if fmt not in PLOT_FORMATS:
            raise Invalid(f"unknown plot format {fmt!r}; choose one of {', '.join(PLOT_FORMATS)}", field="format")
        job, result = self._result(job_id)
        name = name or result["main_hist"]
        if name not in result["hists"]:
            raise NotFound(f"job {job_id} has no histogram {name!r}")
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        h = result["hists"][name]
        edges = np.asarray(h["axes"][0]["edges"])
        counts = np.asarray(h["counts_with_flow"])[1:-1]
        fig = Figure(figsize=(8, 5))
        ax = fig.add_subplot()
        ax.stairs(counts, edges, color="tab:blue")
        if edges[0] > 0 and edges[-1] / edges[0] > 100:  # log-binned spectra (the dimuon one) read best log-log
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(h["axes"][0]["label"] or name)
        ax.set_ylabel("entries")
        prov = job["provenance"]["dataset"]
        ax.set_title(
            f"{result['title']}\nrecord {prov['recid']}" + (f", DOI {prov['doi']}" if prov["doi"] else ""), fontsize=9
        )
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=100)
        return buf.getvalue(), "image/png" if fmt == "png" else "image/svg+xml"

    # ------------------------------------------------------------------ publishing
    def publish(self, job_id: int, *, title: str | None = None, software_recid: int | None = None) -> dict[str, Any]:
        """A Derived dataset record citing the dataset (isDerivedFrom) and, when given, the software
        record of the analysis code (isCompiledBy); the result JSON is its file."""
        job, result = self._result(job_id)
        if job["derived_recid"]:
            raise Conflict(f"job {job_id} was already published as record {job['derived_recid']}")
        prov = job["provenance"]
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
        with self.db.reader() as s:
            top = max(s.scalar(select(func.max(Record.recid))) or 0, s.scalar(select(func.max(Concept.recid))) or 0)
        recid = max(top + 1, self.first_recid)
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
            "recid": recid,
            "title": title or f"{result['title']} of {dataset['title'] or dataset['recid']}",
            "type": {"primary": "Dataset", "secondary": ["Derived"]},
            "date_published": date.today().isoformat(),
            "abstract": {"description": description},
            "relations": relations,
        }
        from portal.catalog.schema import validate_record

        validate_record(metadata, source=f"analysis job {job_id}")
        self.catalog.load([RecordInput(metadata=metadata, source=f"analysis job {job_id}")])
        with self.db.transaction() as s:
            self._get(s, job_id).derived_recid = recid
        return {"recid": recid, "job": job_id}


def _iso(d: datetime | None) -> str | None:
    if d is None:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _job_dict(job: AnalysisJob, *, brief: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id,
        "analysis": job.analysis,
        "dataset_recid": job.dataset_recid,
        "executor": job.executor,
        "skip_bad_files": job.skip_bad_files,
        "parameters": job.parameters,
        "state": job.state,
        "progress": job.progress,
        "error": job.error,
        "derived_recid": job.derived_recid,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }
    if not brief:
        out["result"] = job.result
        out["provenance"] = job.provenance
    return out


__all__ = ["HIST_FORMATS", "JobService", "PLOT_FORMATS", "STATES", "hist_to_json"]
