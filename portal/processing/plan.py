"""Cut a dataset's files into chunks (the unit of reading) and group chunks into tasks (the unit of scheduling)."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from portal.errors import Invalid, PortalError
from portal.formats.sources import stamp
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.formats.collection import Formats

DEFAULT_CHUNK_EVENTS = 200_000
#: tasks per worker slot the planner aims for: enough for the scheduler to even out uneven files and a busy
#: machine, few enough that per-task costs (scheduling, a file open, sending a result back) stay small
TASKS_PER_SLOT = 4
#: a task never carries more than this many chunks, so a lost worker or a retried task costs a bounded redo
MAX_CHUNKS_PER_TASK = 16
#: the shortest task worth its overhead, once an analysis' cost per event has been measured (see tasks_per_slot)
MIN_TASK_SECONDS = 0.2


T = TypeVar("T")


class BadFile(PortalError):
    status = 422
    title = N_("Unreadable input file")


@dataclass(frozen=True)
class Chunk:
    """Entries [start, stop) of one file: what is read and processed in one go (bounds the memory)."""

    uri: str
    start: int
    stop: int

    @property
    def events(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Task:
    """Consecutive chunks run one after the other on one worker: of a single file, so the file is opened and
    its baskets fetched by one worker only, or of several whole small files. The chunks' results are merged
    on the worker, so one result per task travels back."""

    chunks: tuple[Chunk, ...]

    @property
    def events(self) -> int:
        return sum(c.events for c in self.chunks)


_BOUNDS: OrderedDict[tuple[str, tuple[int, int]], list[int]] = OrderedDict()
_BOUNDS_LOCK = threading.Lock()
BOUNDARIES_CACHED = 4096


def _boundaries(uri: str, formats: Formats) -> list[int]:
    """The file's entry boundaries (:meth:`ProcessableFormat.entry_boundaries`), remembered per (uri, mtime,
    size): planning a job over files seen before then costs a stat per file instead of an open, a header and
    streamer read (and over root:// a login). Any failure is the file's, raised as BadFile naming it."""
    try:
        fmt = formats.reader(uri)
    except Invalid as exc:
        raise BadFile.like(exc, source=uri) from exc
    try:
        key = (uri, stamp(uri))
        with _BOUNDS_LOCK:
            hit = _BOUNDS.get(key)
            if hit is not None:
                _BOUNDS.move_to_end(key)
                return list(hit)
        found = fmt.entry_boundaries(uri)
    except Exception as exc:  # noqa: BLE001 - any failure to open is the file's fault, reported by name
        raise BadFile(N_("cannot open: {error}: {exc}"), error=type(exc).__name__, exc=exc, source=uri) from exc
    with _BOUNDS_LOCK:
        _BOUNDS[key] = found
        while len(_BOUNDS) > BOUNDARIES_CACHED:
            _BOUNDS.popitem(last=False)
    return list(found)


def plan_chunks(
    uris: Sequence[str],
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    on_bad_file: Callable[[str, str], None] | None = None,
    *,
    formats: Formats,
) -> list[Chunk]:
    """Chunks of about ``chunk_events`` entries, cut on the files' own cluster/row-group boundaries (read through
    ``formats``, by file name) so no basket is decompressed twice. Files that cannot be opened raise BadFile
    unless ``on_bad_file`` takes them."""
    if chunk_events <= 0:
        raise Invalid(N_("chunk size must be a positive number of events"))
    chunks: list[Chunk] = []
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(uris)))) as pool:
        futures = [pool.submit(_boundaries, uri, formats) for uri in uris]
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


def tasks_per_slot(events: int, slots: int, seconds_per_event: float | None = None) -> int:
    """TASKS_PER_SLOT, or fewer when the analysis' cost per event is known and that many tasks would each take
    less than MIN_TASK_SECONDS: every task costs scheduler, client and worker CPU on the same cores (~3 ms for
    a no-op task, benchmarks/dask_overhead.py, more with real arguments and results), which a light query such
    as ADL Q1 (~30 ms per bench-tier file) cannot amortise over tasks of a file each."""
    if not seconds_per_event or seconds_per_event <= 0:
        return TASKS_PER_SLOT
    return max(1, min(TASKS_PER_SLOT, int(events * seconds_per_event / (max(1, slots) * MIN_TASK_SECONDS))))


def plan_tasks(chunks: Sequence[Chunk], slots: int, seconds_per_event: float | None = None) -> list[Task]:
    """Group ``chunks`` (in file order) into tasks of about total / (slots × tasks_per_slot) events.

    A file larger than that is cut into that many runs of its own consecutive chunks; whole files smaller
    than that are shared out, in order, into groups of about equal events. Tasks come biggest first, so the
    last ones to finish are short and the workers end together."""
    if not chunks:
        return []
    total = sum(c.events for c in chunks)
    target = total / (max(1, slots) * tasks_per_slot(total, slots, seconds_per_event))
    by_file: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_file.setdefault(c.uri, []).append(c)
    tasks: list[Task] = []
    small: list[list[Chunk]] = []  # whole small files, shared out below
    for file_chunks in by_file.values():
        events = sum(c.events for c in file_chunks)
        if events < target and len(file_chunks) < MAX_CHUNKS_PER_TASK:
            small.append(file_chunks)
            continue
        runs = max(math.ceil(events / target - 1e-9), math.ceil(len(file_chunks) / MAX_CHUNKS_PER_TASK))
        tasks.extend(Task(tuple(run)) for run in _split_evenly(file_chunks, runs, lambda c: c.events))
    if small:
        # equal shares rather than "fill up to the target": ten files for four tasks become 3+2+3+2 files, not
        # 2+2+2+2+2 (five tasks for two workers leave one of them a whole task behind at the end)
        groups = max(
            1,
            round(sum(c.events for f in small for c in f) / target),
            math.ceil(sum(len(f) for f in small) / MAX_CHUNKS_PER_TASK),
        )
        for group in _split_evenly(small, groups, lambda f: sum(c.events for c in f)):
            tasks.extend(Task(tuple(run)) for run in _capped(group))
    return sorted(tasks, key=lambda t: -t.events)


def _capped(files: Sequence[list[Chunk]]) -> list[list[Chunk]]:
    """Whole files in order, in runs of at most MAX_CHUNKS_PER_TASK chunks (each file has fewer than that)."""
    runs: list[list[Chunk]] = [[]]
    for f in files:
        if runs[-1] and len(runs[-1]) + len(f) > MAX_CHUNKS_PER_TASK:
            runs.append([])
        runs[-1].extend(f)
    return runs


def _split_evenly(items: Sequence[T], runs: int, weight: Callable[[T], int]) -> list[list[T]]:
    """``items`` cut into at most ``runs`` consecutive runs of about equal total weight (never an empty run)."""
    runs = max(1, min(runs, len(items)))
    total = sum(weight(x) for x in items)
    out: list[list[T]] = []
    current: list[T] = []
    done = 0
    for x in items:
        current.append(x)
        done += weight(x)
        # close the run when the cumulative weight reaches the next of `runs` equal shares
        if done * runs >= total * (len(out) + 1) and len(out) < runs - 1:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out
