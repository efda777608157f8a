"""Run an analysis over a dataset: plan chunks and tasks, process tasks on an executor, merge exactly per file."""

from __future__ import annotations

import copy
import functools
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from portal.errors import Invalid
from portal.i18n import N_
from portal.processing.analysis import Analysis, Output
from portal.processing.executors.base import Executor
from portal.processing.plan import DEFAULT_CHUNK_EVENTS, BadFile, Chunk, Task, plan_chunks, plan_tasks

if TYPE_CHECKING:
    from portal.formats.collection import Formats

__all__ = [
    "DEFAULT_CHUNK_EVENTS",
    "BadFile",
    "Chunk",
    "ChunkResult",
    "FilePart",
    "Progress",
    "RunResult",
    "Task",
    "TaskResult",
    "plan_chunks",
    "plan_tasks",
    "process_chunk",
    "run_analysis",
    "run_task",
]


@dataclass
class ChunkResult:
    chunk: Chunk
    output: Output | None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class FilePart:
    """What one task did with one file: its chunks' merged output, or the first read error (then no output)."""

    uri: str
    chunks: int = 0
    events: int = 0
    output: Output | None = None
    error: str | None = None


@dataclass
class TaskResult:
    parts: list[FilePart]
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
        return {
            "files_total": self.files_total,
            "files_done": self.files_done,
            "events_total": self.events_total,
            "events_done": self.events_done,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "events_per_second": round(self.events_per_second, 1),
        }


@dataclass
class RunResult:
    output: Output
    skipped_files: dict[str, str]
    progress: Progress
    timings: dict[str, float]
    provenance: dict[str, Any]


def process_chunk(analysis: Analysis, chunk: Chunk, formats: Formats) -> ChunkResult:
    """Read the analysis' columns for the chunk (through the file's format in ``formats``) and process them.
    Read errors are returned (the driver decides to fail or skip the file); errors inside the analysis code
    propagate and fail the job."""
    t0 = time.perf_counter()
    try:
        events = formats.reader(chunk.uri).read(chunk.uri, analysis.columns, chunk.start, chunk.stop)
    except Exception as exc:  # noqa: BLE001 - corrupt baskets, truncated files, missing branches
        return ChunkResult(chunk, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    if len(events) != chunk.events:
        return ChunkResult(
            chunk,
            None,
            f"expected {chunk.events} entries from {chunk.start}, read {len(events)}",
            time.perf_counter() - t0,
        )
    return ChunkResult(chunk, analysis.process(events), None, time.perf_counter() - t0)


def run_task(analysis: Analysis, task: Task, formats: Formats) -> TaskResult:
    """One task on a worker: its chunks in order, merged per file. After a file's first failing chunk its
    other chunks are not read: that file's partial result would be discarded anyway."""
    t0 = time.perf_counter()
    parts: dict[str, FilePart] = {}
    for chunk in task.chunks:
        part = parts.setdefault(chunk.uri, FilePart(chunk.uri))
        part.chunks += 1
        part.events += chunk.events
        if part.error is not None:
            continue
        result = process_chunk(analysis, chunk, formats)
        if result.error is not None:
            part.error, part.output = f"cannot read entries {chunk.start}-{chunk.stop}: {result.error}", None
        elif result.output is not None:
            part.output = result.output if part.output is None else part.output + result.output
    return TaskResult(list(parts.values()), time.perf_counter() - t0)


class _Task:
    """Picklable ``Task -> TaskResult`` carrying the analysis and the formats that read the files."""

    def __init__(self, analysis: Analysis, formats: Formats) -> None:
        self.analysis = analysis
        self.formats = formats

    def __call__(self, task: Task) -> TaskResult:
        return run_task(self.analysis, task, self.formats)

    def __reduce__(self) -> tuple[Any, tuple[bytes, Formats]]:
        # Always cloudpickle the analysis, so analyses loaded from a user's file travel by value: plain pickle
        # (Dask's first choice) would store a module name that the workers cannot import. Formats are
        # installed code and pickle by reference (their modules, with their per-process caches, load there).
        import cloudpickle

        return _task_from_bytes, (cloudpickle.dumps(self.analysis), self.formats)


def _task_from_bytes(blob: bytes, formats: Formats) -> _Task:
    import cloudpickle

    return _Task(cloudpickle.loads(blob), formats)


def environment() -> dict[str, Any]:
    return copy.deepcopy(_environment())


@functools.cache
def _environment() -> dict[str, Any]:
    # reading installed packages' metadata (and platform.platform()'s look at the libc) costs ~4 ms per job;
    # neither changes under a running process
    packages = {}
    for name in ("awkward", "uproot", "numpy", "hist", "dask", "distributed", "pyarrow", "h5py", "portal"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages,
    }


#: seconds of task time per event, per analysis (code identity) and kind of input, from this process' last run
#: of it: the planner makes fewer, longer tasks for light analyses (plan.tasks_per_slot)
_COSTS: OrderedDict[tuple[str, ...], float] = OrderedDict()
_COSTS_LOCK = threading.Lock()  # jobs run in several threads of the web process
COSTS_REMEMBERED = 256


def _cost_key(
    ident: dict[str, Any], parameters: dict[str, Any], uris: Sequence[str], formats: Formats
) -> tuple[str, ...]:
    scheme = uris[0].split("://", 1)[0] if "://" in uris[0] else "file"
    fmt = formats.for_path(uris[0])
    return (
        ident["module"],
        ident["class"],
        ident["version"],
        str(ident["sha256"]),
        repr(parameters),
        scheme,
        fmt.name if fmt is not None else "",
    )


def _known_cost(key: tuple[str, ...]) -> float | None:
    with _COSTS_LOCK:
        return _COSTS.get(key)


def _remember_cost(key: tuple[str, ...], seconds_per_event: float) -> None:
    with _COSTS_LOCK:
        _COSTS[key] = seconds_per_event
        _COSTS.move_to_end(key)
        while len(_COSTS) > COSTS_REMEMBERED:
            _COSTS.popitem(last=False)


def run_analysis(
    analysis: Analysis,
    uris: Sequence[str],
    executor: Executor,
    *,
    formats: Formats,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    skip_bad_files: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run ``analysis`` over ``uris``, read through ``formats`` (each file by its name's format). A file that
    cannot be read fails the run with BadFile naming it, or, with ``skip_bad_files``, contributes nothing at all
    (none of its chunks) and is listed in the result."""
    if not uris:
        raise Invalid(N_("the dataset has no files to process"))
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}

    def bad(uri: str, why: str) -> None:
        skipped[uri] = why

    chunks = plan_chunks(uris, chunk_events, on_bad_file=bad if skip_bad_files else None, formats=formats)
    identity = analysis.identity()  # hashes the analysis' source: once per job, for planning and provenance
    cost_key = _cost_key(identity, analysis.parameters, uris, formats)
    tasks = plan_tasks(chunks, executor.slots(), _known_cost(cost_key))
    t_plan = time.perf_counter() - t0
    progress = Progress(
        files_total=len(uris),
        files_done=len(skipped),
        chunks_total=len(chunks),
        events_total=sum(c.events for c in chunks),
    )
    remaining = {uri: 0 for uri in uris}
    for c in chunks:
        remaining[c.uri] += 1
    # A file enters the total only once all its chunks were read cleanly; until then its partials wait here
    # (few: a task holds whole files or consecutive runs of one file, so few files are ever half done).
    waiting: dict[str, Output] = {}
    total = analysis.empty()
    busy = 0.0
    for result in executor.map_unordered(_Task(analysis, formats), tasks):
        busy += result.seconds
        for part in result.parts:
            uri = part.uri
            progress.chunks_done += part.chunks
            progress.events_done += part.events
            remaining[uri] -= part.chunks
            if remaining[uri] == 0:
                progress.files_done += 1
            if part.error is not None:
                if not skip_bad_files:
                    raise BadFile(part.error, source=uri)
                skipped.setdefault(uri, part.error)
                waiting.pop(uri, None)
            elif uri not in skipped and part.output is not None:
                waiting[uri] = part.output if uri not in waiting else waiting[uri] + part.output
            if remaining[uri] == 0 and uri in waiting:
                total = total + waiting.pop(uri)
        if on_progress:
            on_progress(progress)
    wall = time.perf_counter() - t0
    if progress.events_total:
        _remember_cost(cost_key, busy / progress.events_total)
    progress.events_done = sum(c.events for c in chunks if c.uri not in skipped)
    timings = {
        "plan_s": round(t_plan, 4),
        "wall_s": round(wall, 4),
        "events_per_s": round(progress.events_done / wall, 1) if wall > 0 else 0.0,
    }
    provenance = {
        "analysis": identity,
        "parameters": dict(analysis.parameters),
        "environment": environment(),
        "executor": executor.name,
        "chunk_events": chunk_events,
        "tasks": len(tasks),
        "files": list(uris),
    }
    return RunResult(total, skipped, progress, timings, provenance)
