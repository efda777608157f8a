"""A finished job's result as files: histograms as JSON, HDF5 or ROOT, and plots as PNG or SVG."""

from __future__ import annotations

import io
import json
from typing import Any

import hist
import numpy as np

from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.processing.display import DISPLAY_BINS, MAX_DISPLAY_BINS, SCALES, rebin
from portal.processing.model import Job

HIST_FORMATS = ("json", "h5", "root")
PLOT_FORMATS = ("png", "svg")


def check_format(fmt: str, formats: tuple[str, ...], what: str) -> None:
    """Invalid (field ``format``) listing the choices, unless ``fmt`` is one of ``formats``."""
    if fmt not in formats:
        raise Invalid(
            N_("unknown {what} format {fmt!r}; choose one of {choices}"),
            what=what,
            fmt=fmt,
            choices=", ".join(formats),
            field="format",
        )


def _result(job: Job) -> dict[str, Any]:
    if job.result is None:
        raise ValueError(f"job {job.id} has no result")  # callers hand finished jobs only
    return job.result


def stored_hist(name: str, stored: dict[str, Any]) -> hist.Hist:
    """A histogram as a job stores it (axes' edges, ``counts_with_flow``) as a ``hist.Hist``.

    Counts are sums of unit weights, so the storage is Weight with variance = count; the histogram's ``title``
    (what uproot writes as the TH1's title) is the first axis' label, or ``name``.
    """
    axes = [hist.axis.Variable(a["edges"], name=a["name"], label=a["label"]) for a in stored["axes"]]
    h = hist.Hist(*axes, storage=hist.storage.Weight())
    counts = np.asarray(stored["counts_with_flow"], dtype=np.float64)
    view = h.view(flow=True)
    view["value"] = counts
    view["variance"] = counts
    # uproot takes a TH1's title from a `title` attribute; boost-histogram keeps extra attributes on the object
    setattr(h, "title", stored["axes"][0]["label"] or name)  # noqa: B010 - not a declared attribute of Hist
    return h


def histograms(job: Job, fmt: str, name: str | None = None) -> tuple[bytes, str]:
    """(file bytes, MIME type) of the job's histograms, or of the one called ``name``, as ``fmt``:

    - ``json``: ``{"job", "cutflow", "hists", "provenance"}``, the stored histograms as they are;
    - ``h5``: one group per histogram with ``edges`` and ``counts_with_flow`` (int64) and a ``label``
      attribute; the file's attributes ``provenance`` and ``cutflow`` are JSON;
    - ``root``: one TH1D per histogram, written by uproot from a ``hist.Hist``, so its statistics (entries,
      sums of weights and of weight × x and x²) are ROOT's and ROOT shows the right mean and RMS.

    Raises Invalid for an unknown format, NotFound for an unknown histogram name.
    """
    check_format(fmt, HIST_FORMATS, "histogram")
    result = _result(job)
    hists = result["hists"]
    if name is not None:
        if name not in hists:
            raise NotFound(
                N_("job {id} has no histogram {name!r}; it has {names}"), id=job.id, name=name, names=", ".join(hists)
            )
        hists = {name: hists[name]}
    if fmt == "json":
        body = {"job": job.id, "cutflow": result["cutflow"], "hists": hists, "provenance": job.provenance}
        return json.dumps(body, indent=1).encode(), "application/json"
    if fmt == "h5":
        return _hdf5(job, result["cutflow"], hists), "application/x-hdf5"
    return _root(hists), "application/octet-stream"


def _hdf5(job: Job, cutflow: dict[str, int], hists: dict[str, Any]) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["provenance"] = json.dumps(job.provenance)
        f.attrs["cutflow"] = json.dumps(cutflow)
        for hname, h in hists.items():
            g = f.create_group(hname)
            g.create_dataset("edges", data=np.asarray(h["axes"][0]["edges"]))
            g.create_dataset("counts_with_flow", data=np.asarray(h["counts_with_flow"], dtype=np.int64))
            g.attrs["label"] = h["axes"][0]["label"] or ""
    return buf.getvalue()


def _root(hists: dict[str, Any]) -> bytes:
    import tempfile
    from pathlib import Path

    import uproot

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.root"
        with uproot.recreate(path) as f:
            for hname, stored in hists.items():
                f[hname] = stored_hist(hname, stored)
        return path.read_bytes()


def plot(
    job: Job, fmt: str = "png", name: str | None = None, *, bins: int = DISPLAY_BINS, scale: str = "auto"
) -> tuple[bytes, str]:
    """(image bytes, MIME type) of the histogram ``name`` (default: the analysis' main one) for people: merged
    into at most ``bins`` display bins (the stored bins stay exact), with √N error bars, the axis label and
    its units, and the dataset (record, DOI) and event count in the legend. ``scale``: ``log`` or ``linear``
    axes, or ``auto`` (log-log for log-binned spectra over decades)."""
    check_format(fmt, PLOT_FORMATS, "plot")
    if scale not in SCALES:
        raise Invalid(
            N_("unknown scale {scale!r}; choose one of {choices}"),
            scale=scale,
            choices=", ".join(SCALES),
            field="scale",
        )
    if not 1 <= bins <= MAX_DISPLAY_BINS:
        raise Invalid(
            N_("bins must be between 1 and {MAX_DISPLAY_BINS}, got {bins}"),
            MAX_DISPLAY_BINS=MAX_DISPLAY_BINS,
            bins=bins,
            field="bins",
        )
    result = _result(job)
    name = name or result["main_hist"]
    if name not in result["hists"]:
        raise NotFound(N_("job {id} has no histogram {name!r}"), id=job.id, name=name)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    h = result["hists"][name]
    shown = rebin(np.asarray(h["axes"][0]["edges"]), np.asarray(h["counts_with_flow"])[1:-1], bins)
    prov = job.provenance or {}
    dataset = prov.get("dataset") or {}
    events = (job.progress or {}).get("events_total")
    legend = f"record {dataset.get('recid')}" + (f", DOI {dataset['doi']}" if dataset.get("doi") else "")
    if events:
        legend += f"\n{events:,} events"
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    centres = (shown.edges[:-1] + shown.edges[1:]) / 2
    if shown.log_binned:
        centres = np.sqrt(shown.edges[:-1] * shown.edges[1:])  # the middle of a bin on a log axis
    ax.stairs(shown.counts, shown.edges, color="tab:blue", label=legend)
    ax.errorbar(centres, shown.counts, yerr=shown.errors, fmt="none", ecolor="tab:blue", elinewidth=0.8)
    log = shown.log_binned if scale == "auto" else scale == "log"
    if log:
        if shown.edges[0] > 0:
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
    ax.set_xlabel(h["axes"][0]["label"] or name)
    merged = f" ({shown.factor} stored bins each)" if shown.factor > 1 else ""
    ax.set_ylabel(f"entries / bin{merged}")
    ax.set_title(result["title"], fontsize=10)
    ax.legend(loc="best", fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=100)
    return buf.getvalue(), "image/png" if fmt == "png" else "image/svg+xml"
