"""What a dataset's "Analyse" panel offers: the analyses whose columns the dataset has, their parameters, and what a
run would cost (events, bytes to read), estimated from the file rows and their inspections, never from the bytes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.processing.analyses import BUILTINS
from portal.processing.analysis import Analysis, Parameter

if TYPE_CHECKING:
    from portal.catalog.service import CatalogService
    from portal.formats.collection import Formats
    from portal.processing.software import SoftwareAnalysis

#: file rows read for an estimate; a larger dataset is extrapolated from them by its file count
SAMPLE_FILES = 5000


@dataclass(frozen=True)
class AnalysisOffer:
    """One analysis as the panel shows it. ``fits``: the dataset has every column (None: its columns are not
    known, the files were never inspected); ``missing``: the columns it lacks; ``bytes_to_read``: an estimate of
    what a run reads (the share of the files' bytes in the analysis' columns)."""

    name: str
    title: str
    source: str
    columns: tuple[str, ...]
    params: tuple[Parameter, ...]
    fits: bool | None
    missing: tuple[str, ...]
    bytes_to_read: int | None
    #: the software record providing it (None: a built-in or an analysis installed in the portal)
    software: SoftwareAnalysis | None = None


@dataclass(frozen=True)
class AnalysePanel:
    """The panel of dataset ``recid``: the offers (fitting first), the columns found (None: unknown), the cost
    inputs (processable files, their events and bytes, whether they were extrapolated from a sample) and the
    executors a job may ask for."""

    recid: int
    offers: tuple[AnalysisOffer, ...]
    columns: tuple[str, ...] | None
    files: int
    events: int | None
    bytes_total: int
    estimated: bool
    executors: tuple[str, ...]
    default_executor: str

    @property
    def fitting(self) -> tuple[AnalysisOffer, ...]:
        return tuple(o for o in self.offers if o.fits is not False)

    @property
    def not_fitting(self) -> tuple[AnalysisOffer, ...]:
        return tuple(o for o in self.offers if o.fits is False)


def known_analyses() -> Iterator[tuple[str, type[Analysis], str]]:
    """(name, class, where it comes from) of the built-ins and of the analyses installed as ``portal.analyses``
    entry points (by a software package or an analysis environment); an entry point that fails to load is left
    out, so one broken package does not hide the others."""
    yield from ((name, cls, "built-in") for name, cls in BUILTINS.items())
    yield from _installed(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _installed(path: tuple[str, ...]) -> tuple[tuple[str, type[Analysis], str], ...]:
    """The installed ``portal.analyses`` entry points, found once per import path: finding them reads the
    metadata of every installed distribution (some 250 files, tens of ms), which every dataset page did."""
    from importlib.metadata import entry_points

    from portal.processing.loader import ENTRY_POINT_GROUP

    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTINS:
            continue
        try:
            target = ep.load()
        except Exception:  # noqa: BLE001, S112 - a broken plug-in must not break every dataset page
            continue
        if isinstance(target, type) and issubclass(target, Analysis):
            out.append((ep.name, target, f"installed ({ep.dist.name if ep.dist else ep.value})"))
    return tuple(out)


def _rows(catalog: CatalogService, recid: int) -> tuple[list[dict[str, Any]], int]:
    """Up to SAMPLE_FILES file rows (direct files, then file-index entries) and how many files there are."""
    rows: list[dict[str, Any]] = []
    after = -1
    while len(rows) < SAMPLE_FILES:
        items, after_next = catalog.find_files(recid, after=after, size=1000)
        rows.extend(items)
        if after_next is None:
            break
        after = after_next
    view = catalog.get(recid)
    declared = (view.metadata.get("distribution") or {}).get("number_files")
    total = len(rows) if len(rows) < SAMPLE_FILES or not isinstance(declared, int) else max(len(rows), declared)
    for index in view.indices:
        total += int(index.get("number_files") or 0)
        # Slices of what the sample still needs: iterating the entries read them in batches of 20,000 rows,
        # most of a dataset page's time when its index is large.
        position: int | None = -1
        while len(rows) < SAMPLE_FILES and position is not None:
            entries, position = catalog.find_files(
                recid, index_key=index["key"], after=position, size=min(1000, SAMPLE_FILES - len(rows))
            )
            rows.extend(entries)
    return rows, total


def columns_of(inspection: dict[str, Any] | None) -> list[str] | None:
    """The event columns a file's inspection lists (ROOT ``Events`` branches, Parquet columns, HDF5 datasets of
    the ``Events`` group), None when it lists none."""
    if not inspection:
        return None
    fmt = inspection.get("format")
    if fmt == "root":
        trees = inspection.get("trees") or {}
        tree: dict[str, Any] = trees.get("Events") or next(iter(trees.values()), {})
        found = list((tree.get("branches") or {}).keys()) or [f.get("name") for f in tree.get("fields") or []]
        return [c for c in found if c] or None
    if fmt == "parquet":
        return list(inspection.get("columns") or {}) or None
    if fmt == "hdf5":
        names = [n.split("/", 1)[1] for n in inspection.get("datasets") or {} if n.startswith("Events/")]
        return names or None
    return None


def panel(
    catalog: CatalogService,
    formats: Formats,
    recid: int,
    *,
    executors: list[str],
    default_executor: str,
    software: list[SoftwareAnalysis] | None = None,
) -> AnalysePanel:
    """The Analyse panel of dataset version ``recid``; ``software``: the analyses software records provide."""
    rows, total = _rows(catalog, recid)
    chosen = set(formats.preferred_files(r["uri"] for r in rows if r.get("uri")))
    used = [r for r in rows if r.get("uri") in chosen]
    columns: list[str] | None = None
    for row in used[:3]:  # listings leave inspections out: read a few files' own
        columns = columns_of(catalog.inspection(recid, row["key"]))
        if columns:
            break
    scale = total / len(rows) if rows and total > len(rows) else 1.0
    size = sum(int(r.get("size") or 0) for r in used)
    entries = [r.get("entries") for r in used]
    events: int | None = int(sum(int(e) for e in entries if e) * scale) if used and all(entries) else None
    if events is None:
        declared = (catalog.get(recid).metadata.get("distribution") or {}).get("number_events")
        events = int(declared) if isinstance(declared, int) else None
    bytes_total = int(size * scale)
    offers = []
    candidates: list[tuple[str, str, tuple[str, ...], tuple[Parameter, ...], str, SoftwareAnalysis | None]] = [
        (name, cls.title or name, tuple(cls.columns), tuple(cls.params or ()), source, None)
        for name, cls, source in known_analyses()
    ]
    candidates += [(a.spec, a.title, a.columns, a.params, a.label, a) for a in software or []]
    for name, title, wanted, params, source, provider in candidates:
        missing = tuple(c for c in wanted if columns is not None and c not in columns)
        fits = None if columns is None else not missing
        # columns are stored separately (ROOT baskets, Parquet column chunks): a run reads about its share
        share = min(1.0, len(wanted) / len(columns)) if columns else 1.0
        offers.append(
            AnalysisOffer(
                name=name,
                title=title,
                source=source,
                columns=wanted,
                params=params,
                fits=fits,
                missing=missing,
                bytes_to_read=int(bytes_total * share) if used else None,
                software=provider,
            )
        )
    offers.sort(key=lambda o: (o.fits is False, o.source != "built-in"))  # stable: the built-ins' own order
    return AnalysePanel(
        recid=recid,
        offers=tuple(offers),
        columns=tuple(columns) if columns is not None else None,
        files=len(used) if scale == 1.0 else int(len(used) * scale),
        events=events,
        bytes_total=bytes_total,
        estimated=scale != 1.0,
        executors=tuple(executors),
        default_executor=default_executor,
    )
