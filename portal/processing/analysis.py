"""The analysis interface: declared columns + ``process(events)`` -> a mergeable Output of histograms and cut flow."""

from __future__ import annotations

import hashlib
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np


@dataclass
class Output:
    """A partial result: named histograms (integer counts) and an ordered cut flow; merges with ``+``."""

    hists: dict[str, hist.Hist] = field(default_factory=dict)
    cutflow: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Output) -> Output:
        hists = dict(self.hists)
        for name, h in other.hists.items():
            hists[name] = hists[name] + h if name in hists else h
        cutflow = dict(self.cutflow)
        for name, n in other.cutflow.items():
            cutflow[name] = cutflow.get(name, 0) + int(n)
        return Output(hists, cutflow)

    def to_json(self) -> dict[str, Any]:
        return {"hists": {name: hist_to_json(h) for name, h in self.hists.items()}, "cutflow": dict(self.cutflow)}


def hist_to_json(h: hist.Hist) -> dict[str, Any]:
    axes = [{"name": ax.name, "label": ax.label, "edges": [float(e) for e in ax.edges]} for ax in h.axes]
    values = np.asarray(h.values(flow=True))
    return {"axes": axes, "counts_with_flow": values.astype(np.int64).tolist(), "underflow_overflow_included": True}


def int_hist(*axes: hist.axis.Regular) -> hist.Hist:
    """Int64 storage: counts stay exact integers however many partial results are merged."""
    return hist.Hist(*axes, storage=hist.storage.Int64())


def collection(events: ak.Array, name: str) -> ak.Array:
    """Zip the ``<name>_<field>`` branches of ``events`` into one jagged record array (``events.Muon``-style)."""
    prefix = name + "_"
    fields = {f[len(prefix) :]: events[f] for f in events.fields if f.startswith(prefix)}
    return ak.zip(fields)


class Analysis:
    """Base class for analyses. Subclasses set ``name``, ``version`` and ``columns`` (branch names to read)
    and implement ``process(events) -> Output``; ``events`` is an awkward array with one field per column."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    title: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    #: the histogram drawn on the result page
    main_hist: ClassVar[str] = ""

    def __init__(self, **parameters: Any) -> None:
        self.parameters = parameters

    def process(self, events: ak.Array) -> Output:  # pragma: no cover - interface
        raise NotImplementedError

    def empty(self) -> Output:
        """The result of zero events (neutral element of ``+``)."""
        return Output()

    def identity(self) -> dict[str, Any]:
        """Code identity for provenance: name, version, module, and sha256 of the module source."""
        module = sys.modules.get(type(self).__module__)
        digest = None
        try:
            source = inspect.getsource(module) if module else None
            digest = hashlib.sha256(source.encode()).hexdigest() if source else None
        except (OSError, TypeError):
            pass
        return {
            "name": self.name,
            "version": self.version,
            "module": type(self).__module__,
            "class": type(self).__qualname__,
            "sha256": digest,
        }
