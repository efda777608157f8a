"""Event-processing throughput on the `bench` tier: our engine against a hand-written floor and uproot.dask.

Queries: the dimuon spectrum and ADL Q1–Q5, Q7, Q8 (Q6 with BENCH_PROC_Q6=1). Comparators, all on this
machine's 2 cores over the same ZLIB ROOT files, page cache warm:
  (a)  our engine, Dask LocalCluster with 2 single-threaded worker processes (a1: with 1 worker);
  (b)  floor: 2 processes (a multiprocessing pool started and warmed — imports done — before any timing, like
       the engine's workers; b1: 1 process, so b/b1 is what this machine's second core gives to the
       hand-written code, the reference for our 2w/1w), each reading half of the files with uproot — exactly the
       needed branches, whole files — and a hand-written numpy kernel (dimuon, Q1–Q4); for Q5, Q7, Q8 the
       kernel is the engine's own `process()` on whole files, so (b) then measures our overhead alone;
  (c)  `uproot.dask` + dask-awkward + `hist.dask` on the same LocalCluster, written as a user would
       (dimuon, Q1–Q5; graph building and optimisation included in the time);
  (d)  our engine (2 workers) reading the same files over root:// from a local xrootd server (needs the
       loopback-only network namespace: run through `tests/run-isolated`).
A first line times a pure CPU kernel (zlib inflate) on the same warm pools with 1 and 2 processes: the
machine's own 1 -> 2 core ceiling. Every comparator's histogram counts are checked equal to (a)'s.
Targets: (a) ≥ 0.8×(b), (a) ≥ 1.5×(c), (a) ≥ 1.8×(a1), (d) ≥ 0.85×(a).

Env: BENCH_PROC_DIR = directory with the bench tier's ROOT files (`portal data generate --tier bench
--formats root --out DIR`); generated into a temp dir when unset. BENCH_PROC_CHUNK (default 250000),
BENCH_PROC_REPEAT (best of N, default 2), BENCH_PROC_QUERIES (comma-separated subset).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from portal.processing import load_analysis, run_analysis
from portal.processing.analyses.dimuon import pair_mass
from portal.processing.executors.cluster import LocalClusterExecutor
from portal.services import build_formats
from portal.settings import load_settings

QUERIES = ["dimuon", "adl_q1", "adl_q2", "adl_q3", "adl_q4", "adl_q5", "adl_q7", "adl_q8"]
if os.environ.get("BENCH_PROC_Q6"):
    QUERIES.insert(6, "adl_q6")
if os.environ.get("BENCH_PROC_QUERIES"):  # e.g. "dimuon,adl_q1"
    QUERIES = os.environ["BENCH_PROC_QUERIES"].split(",")
CHUNK = int(os.environ.get("BENCH_PROC_CHUNK", "250000"))
MET_BINS = (100, 0.0, 200.0)


# ---------------------------------------------------------------- (b) the floor
def _floor_file(args: tuple[str, str]) -> dict[str, np.ndarray]:
    name, path = args
    analysis = load_analysis(name)
    with uproot.open(path) as f:
        tree = f["Events"]
        if name == "dimuon":
            a = tree.arrays(list(analysis.columns), library="ak", how=dict)
            two = ak.to_numpy(a["nMuon"]) == 2
            cols = {k: ak.to_numpy(ak.flatten(a[k][two])).reshape(-1, 2) for k in analysis.columns if k != "nMuon"}
            q = cols["Muon_charge"]
            os_ = q[:, 0] != q[:, 1]
            m = pair_mass(*(cols[f"Muon_{v}"][os_].astype(np.float64) for v in ("pt", "eta", "phi", "mass")))
            return {"dimuon_mass": np.histogram(np.log(m), bins=30000, range=(np.log(0.25), np.log(300)))[0]}
        if name == "adl_q1":
            return {"met": np.histogram(tree["MET_pt"].array(library="np"), bins=100, range=(0, 200))[0]}
        if name in ("adl_q2", "adl_q3"):
            arrays = tree.arrays(list(analysis.columns), library="ak")
            pt = ak.to_numpy(ak.flatten(arrays["Jet_pt"]))
            if name == "adl_q3":
                pt = pt[np.abs(ak.to_numpy(ak.flatten(arrays["Jet_eta"]))) < 1]
            return {"jet_pt": np.histogram(pt, bins=100, range=(0, 200))[0]}
        if name == "adl_q4":
            arrays = tree.arrays(list(analysis.columns), library="ak")
            counts = ak.to_numpy(arrays["nJet"])
            flat = ak.to_numpy(ak.flatten(arrays["Jet_pt"])) > 40
            per_event = np.bincount(np.repeat(np.arange(len(counts)), counts), weights=flat, minlength=len(counts))
            met = ak.to_numpy(arrays["MET_pt"])[per_event >= 2]
            return {"met": np.histogram(met, bins=100, range=(0, 200))[0]}
        # Q5, Q6, Q7, Q8: the engine's own kernel on the whole file
        out = analysis.process(tree.arrays(list(analysis.columns), library="ak", how=None))
        return {k: h.values() for k, h in out.hists.items()}


def _warm_worker() -> None:
    """Pool initializer: pay the imports once, outside the timed region (the engine's workers are warm too)."""
    import awkward  # noqa: F401
    import hist  # noqa: F401
    import uproot  # noqa: F401

    import portal.processing.analyses  # noqa: F401
    from portal.formats.root import use_fast_zlib

    use_fast_zlib()  # the same ZLIB library as the engine's ROOT reads


def start_pool(processes: int) -> Any:
    """A warm ``spawn`` pool: process start and imports happen here, once, never inside a timing."""
    pool = get_context("spawn").Pool(processes, initializer=_warm_worker)
    pool.map(abs, range(4 * processes))  # wait until every process has started and run its initializer
    return pool


def floor(name: str, files: list[str], pool: Any, processes: int) -> dict[str, np.ndarray]:
    """Each of ``processes`` warm processes reads a contiguous half (third, …) of the files."""
    parts = pool.map(_floor_file, [(name, f) for f in files], chunksize=(len(files) + processes - 1) // processes)
    return {k: sum(p[k] for p in parts) for k in parts[0]}


# ---------------------------------------------------------------- the machine's own 1 -> 2 process scaling
def _inflate(blob: bytes) -> int:
    import zlib

    return sum(len(zlib.decompress(blob)) for _ in range(4))


def machine_scaling(pool1: Any, pool2: Any, tasks: int = 16) -> tuple[float, float]:
    """Seconds for ``tasks`` zlib decompressions of a fixed float32 buffer (CPU only, no I/O, no Python per
    element) on the warm 1- and 2-process pools: t1/t2 is the ceiling of what a second core gives here."""
    import zlib

    rng = np.random.default_rng(1)
    blob = zlib.compress(rng.normal(50, 20, 4_000_000).astype(np.float32).tobytes(), 1)
    results = []
    for pool in (pool1, pool2):
        t, _ = timed(lambda p=pool: p.map(_inflate, [blob] * tasks, chunksize=1))
        results.append(t)
    return results[0], results[1]


# ---------------------------------------------------------------- (c) uproot.dask + dask-awkward + hist.dask
def dask_awkward_query(name: str, files: list[str]) -> dict[str, np.ndarray]:
    import dask
    import hist.dask as hda
    from hist import axis

    events = uproot.dask({f: "Events" for f in files}, step_size=CHUNK)
    met_axis = axis.Regular(*MET_BINS, name="x")
    if name == "dimuon":
        mu = events[events.nMuon == 2]
        mu = mu[mu.Muon_charge[:, 0] != mu.Muon_charge[:, 1]]
        pt, eta, phi, m = (ak.values_astype(mu[f"Muon_{v}"], np.float64) for v in ("pt", "eta", "phi", "mass"))
        px = ak.sum(pt * np.cos(phi), axis=1)
        py = ak.sum(pt * np.sin(phi), axis=1)
        pz = ak.sum(pt * np.sinh(eta), axis=1)
        e = ak.sum(np.sqrt((pt * np.cosh(eta)) ** 2 + m**2), axis=1)
        mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0))
        h = hda.Hist(axis.Regular(30000, 0.25, 300, transform=axis.transform.log, name="x"), storage="int64")
        h.fill(mass)
        key = "dimuon_mass"
    elif name == "adl_q1":
        h = hda.Hist(met_axis, storage="int64").fill(events.MET_pt)
        key = "met"
    elif name in ("adl_q2", "adl_q3"):
        pt = events.Jet_pt if name == "adl_q2" else events.Jet_pt[abs(events.Jet_eta) < 1]
        h = hda.Hist(met_axis, storage="int64").fill(ak.flatten(pt))
        key = "jet_pt"
    elif name == "adl_q4":
        h = hda.Hist(met_axis, storage="int64").fill(events.MET_pt[ak.sum(events.Jet_pt > 40, axis=1) >= 2])
        key = "met"
    elif name == "adl_q5":
        mu = ak.zip({k: events[f"Muon_{k}"] for k in ("pt", "eta", "phi", "mass", "charge")})
        a, b = ak.unzip(ak.combinations(mu, 2))
        px = a.pt * np.cos(a.phi) + b.pt * np.cos(b.phi)
        py = a.pt * np.sin(a.phi) + b.pt * np.sin(b.phi)
        pz = a.pt * np.sinh(a.eta) + b.pt * np.sinh(b.eta)
        e = np.sqrt((a.pt * np.cosh(a.eta)) ** 2 + a.mass**2) + np.sqrt((b.pt * np.cosh(b.eta)) ** 2 + b.mass**2)
        m = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0))
        keep = ak.any((a.charge != b.charge) & (m > 60) & (m < 120), axis=1)
        h = hda.Hist(met_axis, storage="int64").fill(events.MET_pt[keep])
        key = "met"
    else:
        raise KeyError(name)
    (computed,) = dask.compute(h)
    return {key: computed.values()}


# ---------------------------------------------------------------- timing and checks
REPEAT = int(os.environ.get("BENCH_PROC_REPEAT", "2"))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best of REPEAT runs: the machine is shared, the minimum is the least disturbed measurement."""
    return timed_together({"": fn})[""]


def timed_together(runs: dict[str, Callable[[], Any]]) -> dict[str, tuple[float, Any]]:
    """Best of REPEAT rounds, each round running every comparator once in turn: a burst of load from other
    work on the machine then hits all comparators alike instead of the one that happened to be running."""
    best: dict[str, tuple[float, Any]] = {}
    for _ in range(REPEAT):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            value = fn()
            t = time.perf_counter() - t0
            if key not in best or t < best[key][0]:
                best[key] = (t, value)
    return best


def _hists(result: Any) -> dict[str, np.ndarray]:
    return {k: h.values() for k, h in result.output.hists.items()}


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> str:
    # float32 MET/pt values sit in bins the same way in all comparators; the float64 masses can differ in the
    # last ulp between formulas, so a few entries may move across one of the 30000 log-bin edges
    diffs = sum(int(np.abs(np.asarray(a[k]) - np.asarray(b[k])).sum()) for k in a if k in b)
    return "exact" if diffs == 0 else f"{diffs} entries differ"


def main() -> None:
    data = os.environ.get("BENCH_PROC_DIR")
    tmp = None
    if not data:
        tmp = tempfile.mkdtemp(prefix="bench-proc-")
        data = tmp + "/data"
        subprocess.run(
            ["portal", "data", "generate", "--tier", "bench", "--formats", "root", "--out", data], check=True
        )
    files = sorted(str(p) for p in Path(data).glob("*.root"))
    for f in files:
        subprocess.run(["cat", f], stdout=subprocess.DEVNULL, check=True)
    n_events = sum(uproot.open(f)["Events"].num_entries for f in files)
    size = sum(Path(f).stat().st_size for f in files)
    print(f"{len(files)} files, {n_events:,} events, {size / 1e6:.0f} MB (ZLIB), chunk {CHUNK:,} events\n")

    from portal.storage.server import XRootDServer, only_loopback, xrootd_binary

    server = None
    if xrootd_binary() and only_loopback():
        state = Path(tempfile.mkdtemp(prefix="xrd-state-"))
        os.chmod(Path(data).parent, 0o755)
        for p in [Path(data), *map(Path, files)]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        server = XRootDServer(localroot=Path(data).parent, export=Path(data).name, state_dir=state).start()
        remote_files = [f"{server.url}//{Path(data).name}/{Path(f).name}" for f in files]
    else:
        print("(d) skipped: no xrootd or not in a loopback-only network namespace (use tests/run-isolated)\n")

    formats = build_formats(load_settings())
    rows = []
    # the floor's pools first: a Dask nanny writes its worker environment (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS)
    # into this process' os.environ, and processes spawned afterwards would inherit it
    pool1, pool2 = start_pool(1), start_pool(2)
    one = LocalClusterExecutor.start(workers=1)
    two = LocalClusterExecutor.start(workers=2)
    from distributed import Client

    try:
        t1, t2 = machine_scaling(pool1, pool2)
        print(
            f"machine: zlib inflate of a fixed buffer, warm pools: 1 process {t1:.2f} s, 2 processes {t2:.2f} s"
            f" -> 2p/1p {t1 / t2:.2f}x (the ceiling for 2w/1w and b/b1)\n",
            flush=True,
        )
        run_analysis(
            load_analysis("adl_q1"), files, two, formats=formats, chunk_events=CHUNK
        )  # warm-up: imports on workers
        run_analysis(load_analysis("adl_q1"), files, one, formats=formats, chunk_events=CHUNK)
        for name in QUERIES:
            analysis = load_analysis(name)
            runs: dict[str, Callable[[], Any]] = {
                "a": lambda a=analysis: _hists(run_analysis(a, files, two, formats=formats, chunk_events=CHUNK)),
                "a1": lambda a=analysis: _hists(run_analysis(a, files, one, formats=formats, chunk_events=CHUNK)),
                "b": lambda q=name: floor(q, files, pool2, 2),
                "b1": lambda q=name: floor(q, files, pool1, 1),
            }
            if name in ("dimuon", "adl_q1", "adl_q2", "adl_q3", "adl_q4", "adl_q5"):
                client = two.client  # type: ignore[attr-defined]
                assert isinstance(client, Client)

                def dak(q: str = name, c: Client = client) -> dict[str, np.ndarray]:
                    with c.as_current():
                        return dask_awkward_query(q, files)

                runs["c"] = dak
            if server is not None:
                runs["d"] = lambda a=analysis: _hists(
                    run_analysis(a, remote_files, two, formats=formats, chunk_events=CHUNK)
                )
            results = timed_together(runs)
            ours = results["a"][1]
            row: dict[str, Any] = {
                "q": name,
                **{k: t for k, (t, _) in results.items()},
                "check": [f"{k} {same(ours, v)}" for k, (_, v) in results.items() if k != "a"],
            }
            rows.append(row)
            print(_fmt(row, n_events), flush=True)
    finally:
        one.close()
        two.close()
        for pool in (pool1, pool2):
            pool.close()
            pool.join()
        if server is not None:
            server.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nMHz = million events/s over all events of the tier; ratios are of events/s (higher is better for us).")


def _fmt(row: dict[str, Any], n: int) -> str:
    def mhz(key: str) -> str:
        return f"{n / row[key] / 1e6:6.2f}" if key in row else "     -"

    def ratio(num: str, den: str) -> str:
        return f"{row[den] / row[num]:5.2f}" if num in row and den in row else "    -"

    if not getattr(_fmt, "header", False):
        _fmt.header = True  # type: ignore[attr-defined]
        print(
            f"{'query':8} {'(a) 2w':>7} {'(a1)1w':>7} {'(b)flr':>7} {'(b1)1p':>7} {'(c)dak':>7} {'(d)xrd':>7}"
            f"   MHz | {'a/b':>5} {'a/c':>5} {'2w/1w':>5} {'b/b1':>5} {'d/a':>5} | checks vs (a)"
        )
    return (
        f"{row['q']:8} {mhz('a'):>7} {mhz('a1'):>7} {mhz('b'):>7} {mhz('b1'):>7} {mhz('c'):>7} {mhz('d'):>7}"
        f"       | {ratio('a', 'b')} {ratio('a', 'c')} {ratio('a', 'a1')} {ratio('b', 'b1')} {ratio('d', 'a')}"
        f" | {', '.join(row['check'])}"
    )


if __name__ == "__main__":
    main()
