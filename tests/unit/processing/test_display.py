"""Display rebinning and cut-flow efficiencies: what people see, never what is stored."""

from __future__ import annotations

import numpy as np
import pytest

from portal.processing.display import CutRow, cutflow_rows, rebin


def test_thirty_thousand_log_bins_become_at_most_the_display_bins_with_the_same_total():
    edges = np.geomspace(0.25, 300, 30001)
    counts = np.random.default_rng(1).poisson(0.3, 30000)
    shown = rebin(edges, counts, 120)
    assert len(shown.counts) <= 120 and shown.factor == 250
    assert shown.counts.sum() == counts.sum()  # merging moves no entry
    assert shown.edges[0] == edges[0] and shown.edges[-1] == edges[-1]
    assert shown.log_binned  # merged runs of a log-regular axis stay log-regular
    assert np.array_equal(shown.errors, np.sqrt(shown.counts))


def test_a_partial_last_run_is_kept_and_coarse_histograms_are_left_alone():
    shown = rebin(np.arange(11.0), np.arange(10), 3)  # runs of 4: [0..4) [4..8) [8..10)
    assert shown.counts.tolist() == [6, 22, 17] and shown.edges.tolist() == [0, 4, 8, 10]
    same = rebin(np.arange(6.0), np.array([1, 2, 3, 4, 5]), 120)
    assert same.factor == 1 and same.counts.tolist() == [1, 2, 3, 4, 5] and not same.log_binned


def test_cut_flow_rows_carry_efficiencies_of_the_previous_step_and_of_all():
    rows = cutflow_rows({"all events": 1000, "two muons": 250, "opposite charge": 200, "none left": 0, "after": 0})
    assert rows[0] == CutRow("all events", 1000, None, None)
    assert rows[1].of_previous == pytest.approx(0.25) and rows[2].of_previous == pytest.approx(0.8)
    assert rows[2].of_total == pytest.approx(0.2)
    assert rows[4].of_previous is None  # nothing passed the step before: no efficiency, not a division by zero
