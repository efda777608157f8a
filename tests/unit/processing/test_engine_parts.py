"""Engine pieces without a cluster: chunk planning, exact merging, analysis loading and its errors."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from portal.errors import Invalid, NotFound
from portal.processing import BadFile, Output, load_analysis, plan_chunks
from portal.processing.analyses import BUILTINS
from portal.processing.analysis import int_hist


def _write_root(path: Path, n: int, baskets: int) -> None:
    import uproot
    with uproot.recreate(path) as f:
        per = n // baskets
        for i in range(baskets):
            data = {"MET_pt": np.arange(i * per, (i + 1) * per, dtype=np.float32)}
            if i == 0:
                f.mktree("Events", {"MET_pt": np.float32})
            f["Events"].extend(data)


def test_chunks_follow_basket_boundaries_and_cover_every_entry_once(tmp_path: Path) -> None:
    path = tmp_path / "a.root"
    _write_root(path, 10_000, 10)
    chunks = plan_chunks([str(path)], chunk_events=2500)
    assert chunks[0].start == 0 and chunks[-1].stop == 10_000
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert all(c.start % 1000 == 0 for c in chunks)  # never inside a basket
    assert 3 <= len(chunks) <= 5
    with pytest.raises(Invalid):
        plan_chunks([str(path)], chunk_events=0)


def test_unopenable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not a root file at all")
    with pytest.raises(BadFile) as err:
        plan_chunks([str(bad)])
    assert str(bad) in err.value.message
    skipped: dict[str, str] = {}
    assert plan_chunks([str(bad)], on_bad_file=lambda u, why: skipped.update({u: why})) == []
    assert list(skipped) == [str(bad)]


def test_outputs_merge_exactly_and_in_any_order() -> None:
    import hist

    def part(values: list[float], n: int) -> Output:
        h = int_hist(hist.axis.Regular(4, 0, 4))
        h.fill(values)
        return Output({"h": h}, {"all": n, "cut": len(values)})

    parts = [part([0.5, 1.5], 3), part([3.5], 5), part([], 1), part([1.2, 1.3, 2.2], 7)]
    total = sum(parts[1:], parts[0])
    assert total.cutflow == {"all": 16, "cut": 6}
    assert total.hists["h"].values().tolist() == [1, 3, 1, 1]
    assert list(total.cutflow) == ["all", "cut"]
    reverse = sum(parts[-2::-1], parts[-1])
    assert np.array_equal(reverse.hists["h"].values(), total.hists["h"].values())


def test_builtins_declare_columns_and_empty_results_match_their_output() -> None:
    assert set(BUILTINS) == {"dimuon", *(f"adl_q{i}" for i in range(1, 9))}
    q1 = load_analysis("adl_q1")
    out = q1.process(ak.Array({"MET_pt": np.array([1.0, 250.0], np.float32)}))
    assert set(out.hists) == set(q1.empty().hists) and out.cutflow == {"all events": 2}
    assert int(out.hists["met"].values().sum()) == 1  # 250 GeV is overflow


def test_load_analysis_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="unknown analysis 'nope'"):
        load_analysis("nope")
    with pytest.raises(NotFound, match="cannot import"):
        load_analysis("no_such_module_xyz:Thing")
    with pytest.raises(NotFound, match="does not exist"):
        load_analysis(str(tmp_path / "missing.py") + ":A")
    module = tmp_path / "mine.py"
    module.write_text("from portal.processing import Analysis\nclass NoColumns(Analysis):\n    name = 'x'\n"
                      "NOT_AN_ANALYSIS = 3\n")
    with pytest.raises(Invalid, match="declares no columns"):
        load_analysis(f"{module}:NoColumns")
    with pytest.raises(Invalid, match="not an Analysis"):
        load_analysis(f"{module}:NOT_AN_ANALYSIS")
    with pytest.raises(NotFound, match="no attribute"):
        load_analysis(f"{module}:Missing")


def test_entry_point_analyses_load_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "ep_demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[portal.analyses]\nmet-only = ep_demo_mod:MetOnly\n")
    (site / "ep_demo_mod.py").write_text(
        "from portal.processing.analyses.adl import Q1\nclass MetOnly(Q1):\n    name = 'met-only'\n")
    monkeypatch.syspath_prepend(str(site))
    analysis = load_analysis("met-only")
    assert analysis.name == "met-only" and analysis.columns == ("MET_pt",)
