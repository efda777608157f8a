"""Plan a dataset's files into entry-range chunks, run an analysis over them on an executor, merge exactly."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from portal.errors import Invalid, PortalError
from portal.processing import readers
from portal.processing.analysis import Analysis, Output
from portal.processing.executors import Executor

DEFAULT_CHUNK_EVENTS = 200_000


class BadFile(PortalError):
    status = 422
    title = "Unreadable input file"


@dataclass(frozen=True)
class Chunk:
    uri: str
    start: int
    stop: int

    @property
    def events(self) -> int:
        return self.stop - self.start


@dataclass
class ChunkResult:
    chunk: Chunk
    output: Output | None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Progress:
    files_total: int = 0
    files_done: int = 0
    events_total: int = 0
    events_done: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    started: float = field(default_factory=time.time)

    @property
    def events_per_second(self) -> float:
        elapsed = time.time() - self.started
        return self.events_done / elapsed if elapsed > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"files_total": self.files_total, "files_done": self.files_done, "events_total": self.events_total,
                "events_done": self.events_done, "chunks_total": self.chunks_total, "chunks_done": self.chunks_done,
                "events_per_second": round(self.events_per_second, 1)}


@dataclass
class RunResult:
    output: Output
    skipped_files: dict[str, str]
    progress: Progress
    timings: dict[str, float]
    provenance: dict[str, Any]


def _boundaries(uri: str) -> list[int]:
    try:
        return readers.boundaries(uri)
    except Exception as exc:  # noqa: BLE001 - any failure to open is the file's fault, reported by name
        raise BadFile(f"cannot open: {type(exc).__name__}: {exc}", source=uri) from exc


def plan_chunks(uris: Sequence[str], chunk_events: int = DEFAULT_CHUNK_EVENTS,
                on_bad_file: Callable[[str, str], None] | None = None) -> list[Chunk]:
    """Chunks of about ``chunk_events`` entries, cut on the files' own cluster/row-group boundaries so no
    basket is decompressed twice. Files that cannot be opened raise BadFile unless ``on_bad_file`` takes them."""
    if chunk_events <= 0:
        raise Invalid("chunk size must be a positive number of events")
    chunks: list[Chunk] = []
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(uris)))) as pool:
        futures = [pool.submit(_boundaries, uri) for uri in uris]
        for uri, fut in zip(uris, futures, strict=True):
            try:
                bounds = fut.result()
            except BadFile as exc:
                if on_bad_file is None:
                    raise
                on_bad_file(uri, exc.message)
                continue
            start = bounds[0]
            for b in bounds[1:]:
                if b - start >= chunk_events or b == bounds[-1]:
                    # split long clusters evenly too (HDF5 has a single [0, n] range)
                    parts = max(1, round((b - start) / chunk_events))
                    edges = [start + (b - start) * k // parts for k in range(parts + 1)]
                    chunks.extend(Chunk(uri, lo, hi) for lo, hi in zip(edges, edges[1:], strict=False) if hi > lo)
                    start = b
    return chunks


def process_chunk(analysis: Analysis, chunk: Chunk) -> ChunkResult:
    """One task: read the analysis' columns for the chunk and process them. Read errors are returned (the
    driver decides to fail or skip the file); errors inside the analysis code propagate and fail the job."""
    t0 = time.perf_counter()
    try:
        events = readers.read(chunk.uri, analysis.columns, chunk.start, chunk.stop)
    except Exception as exc:  # noqa: BLE001 - corrupt baskets, truncated files, missing branches
        return ChunkResult(chunk, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    if len(events) != chunk.events:
        return ChunkResult(chunk, None, f"expected {chunk.events} entries from {chunk.start}, read {len(events)}",
                           time.perf_counter() - t0)
    return ChunkResult(chunk, analysis.process(events), None, time.perf_counter() - t0)


def merge_results(a: ChunkResult | Output, b: ChunkResult | Output) -> Output:
    oa = a.output if isinstance(a, ChunkResult) else a
    ob = b.output if isinstance(b, ChunkResult) else b
    assert oa is not None and ob is not None
    return oa + ob


class _Task:
    """Picklable ``chunk -> ChunkResult`` carrying the analysis."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def __call__(self, chunk: Chunk) -> ChunkResult:
        return process_chunk(self.analysis, chunk)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Always cloudpickle, so analyses loaded from a user's file travel by value: plain pickle (Dask's
        # first choice) would store a module name that the workers cannot import.
        import cloudpickle
        return _task_from_bytes, (cloudpickle.dumps(self.analysis),)


def _task_from_bytes(blob: bytes) -> _Task:
    import cloudpickle
    return _Task(cloudpickle.loads(blob))


def environment() -> dict[str, Any]:
    packages = {}
    for name in ("awkward", "uproot", "numpy", "hist", "dask", "distributed", "pyarrow", "h5py", "portal"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "packages": packages}


def _with_empty(analysis: Analysis, raw: ChunkResult | Output | None) -> Output:
    """The merged result on top of the analysis' empty one, so every histogram exists even with no events."""
    part = raw.output if isinstance(raw, ChunkResult) else raw
    return analysis.empty() if part is None else analysis.empty() + part


def run_analysis(analysis: Analysis, uris: Sequence[str], executor: Executor, *,
                 chunk_events: int = DEFAULT_CHUNK_EVENTS, skip_bad_files: bool = False,
                 on_progress: Callable[[Progress], None] | None = None) -> RunResult:
    """Run ``analysis`` over ``uris``. A file that cannot be read fails the run with BadFile naming it, or,
    with ``skip_bad_files``, contributes nothing at all (none of its chunks) and is listed in the result."""
    if not uris:
        raise Invalid("the dataset has no files to process")
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}

    def bad(uri: str, why: str) -> None:
        skipped[uri] = why

    chunks = plan_chunks(uris, chunk_events, on_bad_file=bad if skip_bad_files else None)
    t_plan = time.perf_counter() - t0
    progress = Progress(files_total=len(uris), files_done=len(skipped), chunks_total=len(chunks),
                        events_total=sum(c.events for c in chunks))
    remaining = {uri: 0 for uri in uris}
    for c in chunks:
        remaining[c.uri] += 1

    def accept(_i: int, value: ChunkResult) -> bool:
        # A file enters the reduction only once all its chunks read cleanly; until then its partials wait.
        uri = value.chunk.uri
        progress.chunks_done += 1
        progress.events_done += value.chunk.events
        remaining[uri] -= 1
        if remaining[uri] == 0:
            progress.files_done += 1
        if value.error is not None:
            if not skip_bad_files:
                raise BadFile(f"cannot read entries {value.chunk.start}-{value.chunk.stop}: {value.error}",
                              source=uri)
            skipped.setdefault(uri, value.error)
        if on_progress:
            on_progress(progress)
        return value.error is None

    output = _with_empty(analysis, executor.map_reduce(_Task(analysis), chunks, accept, merge_results))
    if skipped and skip_bad_files:
        # partials of a file that failed late may already be merged: recompute exactly from the good files
        late = [u for u in skipped if any(c.uri == u for c in chunks)]
        if late:
            good = [c for c in chunks if c.uri not in skipped]
            progress.events_total = sum(c.events for c in good)
            output = _with_empty(analysis, executor.map_reduce(_Task(analysis), good,
                                                               lambda _i, v: v.error is None, merge_results))
    wall = time.perf_counter() - t0
    progress.events_done = sum(c.events for c in chunks if c.uri not in skipped)
    timings = {"plan_s": round(t_plan, 4), "wall_s": round(wall, 4),
               "events_per_s": round(progress.events_done / wall, 1) if wall > 0 else 0.0}
    provenance = {"analysis": analysis.identity(), "parameters": dict(analysis.parameters),
                  "environment": environment(), "executor": executor.name, "chunk_events": chunk_events,
                  "files": list(uris)}
    return RunResult(output, skipped, progress, timings, provenance)
