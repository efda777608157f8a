"""Cut a dataset's files into chunks (the unit of reading) and group chunks into tasks (the unit of scheduling)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from portal.errors import Invalid, PortalError
from portal.processing import readers

DEFAULT_CHUNK_EVENTS = 200_000
#: tasks per worker slot the planner aims for: enough for the scheduler to even out uneven files and a busy
#: machine, few enough that per-task costs (scheduling, a file open, sending a result back) stay small
TASKS_PER_SLOT = 4
#: a task never carries more than this many chunks, so a lost worker or a retried task costs a bounded redo
MAX_CHUNKS_PER_TASK = 16


class BadFile(PortalError):
    status = 422
    title = "Unreadable input file"


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


def plan_tasks(chunks: Sequence[Chunk], slots: int) -> list[Task]:
    """Group ``chunks`` (in file order) into tasks of about total / (slots × TASKS_PER_SLOT) events.

    A file larger than that is cut into that many runs of its own consecutive chunks; whole files smaller
    than that share a task with their neighbours. Tasks come biggest first, so the last ones to finish are
    short and the workers end together."""
    if not chunks:
        return []
    target = sum(c.events for c in chunks) / (max(1, slots) * TASKS_PER_SLOT)
    by_file: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_file.setdefault(c.uri, []).append(c)
    tasks: list[Task] = []
    small: list[Chunk] = []  # whole small files waiting to fill a task
    for file_chunks in by_file.values():
        events = sum(c.events for c in file_chunks)
        if events < target and len(file_chunks) < MAX_CHUNKS_PER_TASK:
            if small and (sum(c.events for c in small) + events > target
                          or len(small) + len(file_chunks) > MAX_CHUNKS_PER_TASK):
                tasks.append(Task(tuple(small)))
                small = []
            small.extend(file_chunks)
            continue
        runs = max(math.ceil(events / target - 1e-9), math.ceil(len(file_chunks) / MAX_CHUNKS_PER_TASK))
        tasks.extend(Task(run) for run in _split_evenly(file_chunks, runs))
    if small:
        tasks.append(Task(tuple(small)))
    return sorted(tasks, key=lambda t: -t.events)


def _split_evenly(chunks: list[Chunk], runs: int) -> list[tuple[Chunk, ...]]:
    """``chunks`` cut into at most ``runs`` consecutive runs of about equal events (never an empty run)."""
    runs = max(1, min(runs, len(chunks)))
    total = sum(c.events for c in chunks)
    out: list[tuple[Chunk, ...]] = []
    current: list[Chunk] = []
    done = 0
    for c in chunks:
        current.append(c)
        done += c.events
        # close the run when the cumulative events reach the next of `runs` equal shares
        if done * runs >= total * (len(out) + 1) and len(out) < runs - 1:
            out.append(tuple(current))
            current = []
    if current:
        out.append(tuple(current))
    return out
