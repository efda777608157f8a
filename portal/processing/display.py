"""How a result is shown to people, never how it is stored: fine histograms are merged into display bins
(the stored integer bins stay exact), counts get Poisson error bars, and the cut flow gets efficiencies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: bins a plot shows by default: enough to see a resonance's shape, few enough that each bin has counts
DISPLAY_BINS = 120
MAX_DISPLAY_BINS = 2000
SCALES = ("auto", "linear", "log")


@dataclass(frozen=True)
class DisplayHist:
    """Bins to draw: ``edges`` (n+1), ``counts`` (n) and their ``errors`` (√N), merged by ``factor``."""

    edges: np.ndarray
    counts: np.ndarray
    errors: np.ndarray
    factor: int

    @property
    def log_binned(self) -> bool:
        """Bins of equal width in log(x) (a spectrum over decades): drawn on log axes."""
        e = self.edges
        return bool(e[0] > 0 and e[-1] / e[0] > 100 and np.allclose(np.diff(np.log(e)), np.log(e[1] / e[0])))


def rebin(edges: np.ndarray, counts: np.ndarray, bins: int = DISPLAY_BINS) -> DisplayHist:
    """Merge runs of ``factor`` adjacent bins so that at most ``bins`` remain (a last, partial run is merged
    too). Merging consecutive bins keeps a regular or a log-regular axis regular; the total is unchanged."""
    n = len(counts)
    factor = max(1, math.ceil(n / max(1, bins)))
    starts = np.arange(0, n, factor)
    merged = np.add.reduceat(np.asarray(counts), starts) if n else np.asarray(counts)
    new_edges = np.append(np.asarray(edges)[starts], np.asarray(edges)[-1]) if n else np.asarray(edges)
    return DisplayHist(new_edges, merged, np.sqrt(np.maximum(merged, 0)), factor)


@dataclass(frozen=True)
class CutRow:
    """One step of a cut flow: how many passed, and the fraction of the previous step and of the first."""

    cut: str
    passed: int
    of_previous: float | None
    of_total: float | None


def cutflow_rows(cutflow: dict[str, int]) -> list[CutRow]:
    rows: list[CutRow] = []
    total = previous = None
    for cut, passed in cutflow.items():
        rows.append(
            CutRow(
                cut,
                passed,
                passed / previous if previous else None,
                passed / total if total else None,
            )
        )
        total = passed if total is None else total
        previous = passed
    return rows
