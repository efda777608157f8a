"""Two runs side by side: whether their stored integer bins are identical (a re-run's verdict) and one plot that
overlays them (the same analysis over two datasets or two versions)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.processing.display import DISPLAY_BINS, MAX_DISPLAY_BINS, SCALES, rebin
from portal.processing.model import Job
from portal.processing.results import PLOT_FORMATS, check_format


@dataclass(frozen=True)
class HistDiff:
    """One histogram of both runs: identical edges and counts, bins that differ, and each run's total."""

    name: str
    same_edges: bool
    differing_bins: int
    total_a: int
    total_b: int

    @property
    def identical(self) -> bool:
        return self.same_edges and self.differing_bins == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "identical": self.identical,
            "same_edges": self.same_edges,
            "differing_bins": self.differing_bins,
            "total_a": self.total_a,
            "total_b": self.total_b,
        }


@dataclass(frozen=True)
class Comparison:
    """Jobs ``a`` and ``b`` compared. ``ready``: both are done (else the verdicts are None); ``identical``: every
    histogram's integer bins (under- and overflow included) and the cut flow are equal; ``same_code``: both ran
    the same code (analysis name, version and source hash) with the same parameters."""

    a: int
    b: int
    analysis: str
    ready: bool
    same_code: bool | None
    identical: bool | None
    cutflow_identical: bool | None
    hists: tuple[HistDiff, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "analysis": self.analysis,
            "ready": self.ready,
            "same_code": self.same_code,
            "identical": self.identical,
            "cutflow_identical": self.cutflow_identical,
            "hists": [h.to_json() for h in self.hists],
        }


def check_comparable(a: Job, b: Job) -> None:
    """Invalid (field ``b``) unless both jobs ran the same analysis: other pairs share no histogram."""
    if a.analysis != b.analysis:
        raise Invalid(
            N_("job {a_id} ran {a_analysis!r} and job {b_id} ran {b_analysis!r}: compare runs of one analysis"),
            a_id=a.id,
            a_analysis=a.analysis,
            b_id=b.id,
            b_analysis=b.analysis,
            field="b",
        )


def _code(job: Job) -> tuple[Any, ...]:
    prov = job.provenance or {}
    code = prov.get("analysis") or {}
    return (
        code.get("name"),
        code.get("version"),
        code.get("sha256"),
        repr(sorted((prov.get("parameters") or {}).items())),
    )


def compare(a: Job, b: Job) -> Comparison:
    check_comparable(a, b)
    if a.state != "done" or b.state != "done" or a.result is None or b.result is None:
        return Comparison(a.id, b.id, a.analysis, False, None, None, None, ())
    diffs = []
    for name in sorted(set(a.result["hists"]) | set(b.result["hists"])):
        ha, hb = a.result["hists"].get(name), b.result["hists"].get(name)
        if ha is None or hb is None:
            diffs.append(HistDiff(name, False, -1, _total(ha), _total(hb)))
            continue
        same_edges = [x["edges"] for x in ha["axes"]] == [x["edges"] for x in hb["axes"]]
        ca, cb = np.asarray(ha["counts_with_flow"], dtype=np.int64), np.asarray(hb["counts_with_flow"], dtype=np.int64)
        differing = int(np.count_nonzero(ca != cb)) if ca.shape == cb.shape else max(ca.size, cb.size)
        diffs.append(HistDiff(name, same_edges, differing, int(ca.sum()), int(cb.sum())))
    cutflow_identical = a.result["cutflow"] == b.result["cutflow"]
    return Comparison(
        a.id,
        b.id,
        a.analysis,
        True,
        _code(a) == _code(b),
        cutflow_identical and all(d.identical for d in diffs),
        cutflow_identical,
        tuple(diffs),
    )


def _total(h: dict[str, Any] | None) -> int:
    return int(np.asarray(h["counts_with_flow"], dtype=np.int64).sum()) if h else 0


def _label(job: Job) -> str:
    dataset = (job.provenance or {}).get("dataset") or {}
    text = f"job {job.id}: record {dataset.get('recid', job.dataset_recid)}"
    if dataset.get("doi"):
        text += f", DOI {dataset['doi']}"
    events = (job.progress or {}).get("events_total")
    return text + (f", {events:,} events" if events else "")


def plot(
    a: Job, b: Job, fmt: str = "svg", name: str | None = None, *, bins: int = DISPLAY_BINS, scale: str = "auto"
) -> tuple[bytes, str]:
    """(image bytes, MIME type) of histogram ``name`` (default: the analysis' main one) of both finished jobs on
    one plot, each merged into the same display bins, with √N error bars and each run's dataset in the legend."""
    check_format(fmt, PLOT_FORMATS, "plot")
    check_comparable(a, b)
    if scale not in SCALES:
        raise Invalid(
            N_("unknown scale {scale!r}; choose one of {scales}"),
            scale=scale,
            scales=", ".join(SCALES),
            field="scale",
        )
    if not 1 <= bins <= MAX_DISPLAY_BINS:
        raise Invalid(
            N_("bins must be between 1 and {MAX_DISPLAY_BINS}, got {bins}"),
            MAX_DISPLAY_BINS=MAX_DISPLAY_BINS,
            bins=bins,
            field="bins",
        )
    for job in (a, b):
        if job.state != "done" or job.result is None:
            raise Invalid(
                N_("job {job_id} is {job_state}; only finished jobs are plotted"),
                job_id=job.id,
                job_state=job.state,
                field="a" if job is a else "b",
            )
    assert a.result is not None and b.result is not None
    name = name or a.result["main_hist"]
    for job in (a, b):
        assert job.result is not None
        if name not in job.result["hists"]:
            raise NotFound(N_("job {job_id} has no histogram {name!r}"), job_id=job.id, name=name)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    log = False
    for job, colour, style in ((a, "tab:blue", "-"), (b, "tab:orange", "--")):
        assert job.result is not None
        h = job.result["hists"][name]
        shown = rebin(np.asarray(h["axes"][0]["edges"]), np.asarray(h["counts_with_flow"])[1:-1], bins)
        centres = (shown.edges[:-1] + shown.edges[1:]) / 2
        if shown.log_binned:
            centres = np.sqrt(shown.edges[:-1] * shown.edges[1:])
        ax.stairs(shown.counts, shown.edges, color=colour, linestyle=style, label=_label(job))
        ax.errorbar(centres, shown.counts, yerr=shown.errors, fmt="none", ecolor=colour, elinewidth=0.8)
        log = shown.log_binned if scale == "auto" else scale == "log"
        if log and shown.edges[0] > 0:
            ax.set_xscale("log")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
    h = a.result["hists"][name]
    ax.set_xlabel(h["axes"][0]["label"] or name)
    ax.set_ylabel("entries / bin")
    ax.set_title(f"{a.result['title']}: job {a.id} and job {b.id}", fontsize=10)
    ax.legend(loc="best", fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=100)
    return buf.getvalue(), "image/png" if fmt == "png" else "image/svg+xml"
