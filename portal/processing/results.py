"""A finished job's result as files: histograms as JSON, HDF5 or ROOT, and plots as PNG or SVG."""

from __future__ import annotations

import io
import json
from typing import Any

import hist
import numpy as np

from portal.errors import Invalid, NotFound
from portal.processing.model import Job

HIST_FORMATS = ("json", "h5", "root")
PLOT_FORMATS = ("png", "svg")


def check_format(fmt: str, formats: tuple[str, ...], what: str) -> None:
    """Invalid (field ``format``) listing the choices, unless ``fmt`` is one of ``formats``."""
    if fmt not in formats:
        raise Invalid(f"unknown {what} format {fmt!r}; choose one of {', '.join(formats)}", field="format")


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
            raise NotFound(f"job {job.id} has no histogram {name!r}; it has {', '.join(hists)}")
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


def plot(job: Job, fmt: str = "png", name: str | None = None) -> tuple[bytes, str]:
    """(image bytes, MIME type) of the histogram ``name`` (default: the analysis' main one) as steps, titled with
    the analysis and the dataset's record and DOI; log-log for spectra spanning over two decades."""
    check_format(fmt, PLOT_FORMATS, "plot")
    result = _result(job)
    name = name or result["main_hist"]
    if name not in result["hists"]:
        raise NotFound(f"job {job.id} has no histogram {name!r}")
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
    prov = (job.provenance or {})["dataset"]
    ax.set_title(
        f"{result['title']}\nrecord {prov['recid']}" + (f", DOI {prov['doi']}" if prov["doi"] else ""), fontsize=9
    )
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=100)
    return buf.getvalue(), "image/png" if fmt == "png" else "image/svg+xml"
