"""Engine pieces without a cluster: chunk planning, exact merging, analysis loading and its errors."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from portal.errors import Invalid, NotFound
from portal.processing import BadFile, Chunk, Output, Task, load_analysis, plan_chunks, plan_tasks
from portal.processing.analyses import BUILTINS
from portal.processing.analysis import int_hist
from portal.processing.engine import run_task
from portal.processing.plan import MAX_CHUNKS_PER_TASK, TASKS_PER_SLOT, tasks_per_slot
from tests.support.formats import registered_formats

FORMATS = registered_formats()


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
    chunks = plan_chunks([str(path)], chunk_events=2500, formats=FORMATS)
    assert chunks[0].start == 0 and chunks[-1].stop == 10_000
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert all(c.start % 1000 == 0 for c in chunks)  # never inside a basket
    assert 3 <= len(chunks) <= 5
    with pytest.raises(Invalid):
        plan_chunks([str(path)], chunk_events=0, formats=FORMATS)


def test_unopenable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not a root file at all")
    with pytest.raises(BadFile) as err:
        plan_chunks([str(bad)], formats=FORMATS)
    assert str(bad) in err.value.message
    skipped: dict[str, str] = {}
    assert plan_chunks([str(bad)], on_bad_file=lambda u, why: skipped.update({u: why}), formats=FORMATS) == []
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
    module.write_text(
        "from portal.processing import Analysis\nclass NoColumns(Analysis):\n    name = 'x'\nNOT_AN_ANALYSIS = 3\n"
    )
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
        "from portal.processing.analyses.adl import Q1\nclass MetOnly(Q1):\n    name = 'met-only'\n"
    )
    monkeypatch.syspath_prepend(str(site))
    analysis = load_analysis("met-only")
    assert analysis.name == "met-only" and analysis.columns == ("MET_pt",)


def _chunks(files: dict[str, int], per_chunk: int) -> list[Chunk]:
    return [Chunk(uri, lo, min(lo + per_chunk, n)) for uri, n in files.items() for lo in range(0, n, per_chunk)]


def _assert_cover(tasks: list[Task], chunks: list[Chunk]) -> None:
    def key(c: Chunk) -> tuple[str, int]:
        return c.uri, c.start

    got = [c for t in tasks for c in t.chunks]
    assert sorted(got, key=key) == sorted(chunks, key=key)  # every chunk exactly once
    for t in tasks:  # a task's chunks of one file are consecutive entries, in order
        for a, b in zip(t.chunks, t.chunks[1:], strict=False):
            assert a.uri != b.uri or a.stop == b.start


def test_tasks_keep_a_file_on_one_worker_when_there_are_enough_files() -> None:
    chunks = _chunks({f"f{i}.root": 500_000 for i in range(10)}, 100_000)
    tasks = plan_tasks(chunks, slots=2)
    _assert_cover(tasks, chunks)
    # 10 files for 2 workers: whole files per task, so each file is opened and read by one worker only,
    # shared out into 2 x TASKS_PER_SLOT tasks of one or two files
    assert len(tasks) == 2 * TASKS_PER_SLOT
    assert all(
        t.events in (500_000, 1_000_000) and len({c.uri for c in t.chunks}) == t.events // 500_000 for t in tasks
    )


def test_light_analyses_get_fewer_longer_tasks_shared_out_evenly() -> None:
    chunks = _chunks({f"f{i}.root": 500_000 for i in range(10)}, 250_000)
    # 1 µs per event: 5 s of work for 2 slots, so the usual TASKS_PER_SLOT tasks per slot
    assert tasks_per_slot(5_000_000, 2, 1e-6) == TASKS_PER_SLOT == tasks_per_slot(5_000_000, 2, None)
    # 0.1 µs per event: 0.5 s of work, one task per slot; 0.2 µs: two per slot
    assert tasks_per_slot(5_000_000, 2, 1e-7) == 1
    assert tasks_per_slot(5_000_000, 2, 2e-7) == 2
    light = plan_tasks(chunks, slots=2, seconds_per_event=1e-7)
    _assert_cover(light, chunks)
    assert [t.events for t in light] == [2_500_000, 2_500_000]
    # four tasks for ten equal files are 3+3+2+2 files (biggest first), so two workers finish together
    medium = plan_tasks(chunks, slots=2, seconds_per_event=2e-7)
    _assert_cover(medium, chunks)
    assert [t.events for t in medium] == [1_500_000, 1_500_000, 1_000_000, 1_000_000]
    assert all(len({c.uri for c in t.chunks}) * 500_000 == t.events for t in medium)  # whole files only
    # however light, a task never carries more than MAX_CHUNKS_PER_TASK chunks
    tiny = _chunks({f"t{i}.root": 1000 for i in range(40)}, 1000)
    capped = plan_tasks(tiny, slots=1, seconds_per_event=1e-9)
    _assert_cover(capped, tiny)
    assert len(capped) == 3 and all(len(t.chunks) <= MAX_CHUNKS_PER_TASK for t in capped)


def test_tasks_split_big_files_into_consecutive_runs_and_group_small_files() -> None:
    chunks = _chunks({"big.root": 1_000_000}, 100_000)
    tasks = plan_tasks(chunks, slots=2)
    _assert_cover(tasks, chunks)
    assert len(tasks) == 2 * TASKS_PER_SLOT and max(t.events for t in tasks) <= 200_000
    assert [t.events for t in tasks] == sorted((t.events for t in tasks), reverse=True)  # biggest first

    small = _chunks({f"s{i}.root": 1000 for i in range(100)}, 1000)
    tasks = plan_tasks(small, slots=2)
    _assert_cover(tasks, small)
    # 100 one-chunk files: whole files share tasks (no file is split), bounded by the per-task chunk cap
    assert 2 * TASKS_PER_SLOT <= len(tasks) <= 100 // 2
    assert all(len(t.chunks) <= MAX_CHUNKS_PER_TASK for t in tasks)
    assert plan_tasks([], slots=4) == []


def test_a_task_reads_its_chunks_merged_per_file_and_stops_a_file_at_its_first_bad_chunk(tmp_path: Path) -> None:
    good = tmp_path / "good.root"
    _write_root(good, 4000, 4)
    q1 = load_analysis("adl_q1")
    # a file that vanished after planning: its first chunk fails, its second is not even tried
    task = Task(
        (
            Chunk(str(good), 0, 2000),
            Chunk(str(good), 2000, 4000),
            Chunk(str(tmp_path / "gone.root"), 0, 10),
            Chunk(str(tmp_path / "gone.root"), 10, 20),
        )
    )
    result = run_task(q1, task, FORMATS)
    ok, gone = result.parts
    assert (ok.uri, ok.chunks, ok.events, ok.error) == (str(good), 2, 4000, None)
    assert ok.output is not None and ok.output.cutflow == {"all events": 4000}
    assert int(ok.output.hists["met"].values(flow=True).sum()) == 4000
    assert gone.chunks == 2 and gone.output is None and "entries 0-10" in (gone.error or "")
