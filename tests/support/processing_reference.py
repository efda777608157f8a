"""Independent reference for the built-in analyses: single-process uproot + numpy, explicit per-event loops.

Written without awkward and without the engine's code, so an agreement of integer bin counts and cut flows
between the two is evidence, not a tautology.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import uproot

REGULAR = (100, 0.0, 200.0)


def _load(paths: Sequence[str], branches: Sequence[str]) -> dict[str, Any]:
    data: dict[str, list[Any]] = {b: [] for b in branches}
    for p in paths:
        with uproot.open(p) as f:
            arrays = f["Events"].arrays(list(branches), library="np")
        for b in branches:
            data[b].extend(arrays[b])
    return data


def _hist(values: Sequence[float], bins: int = 100, lo: float = 0.0, hi: float = 200.0) -> np.ndarray:
    return np.histogram(np.asarray(values, dtype=np.float64), bins=bins, range=(lo, hi))[0]


def _p4(pt: float, eta: float, phi: float, m: float) -> tuple[float, float, float, float]:
    pt, eta, phi, m = float(pt), float(eta), float(phi), float(m)
    return pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), math.sqrt((pt * math.cosh(eta)) ** 2 + m * m)


def _mass(*vs: tuple[float, float, float, float]) -> tuple[float, float]:
    px = sum(v[0] for v in vs)
    py = sum(v[1] for v in vs)
    pz = sum(v[2] for v in vs)
    e = sum(v[3] for v in vs)
    return math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0)), math.hypot(px, py)


def reference(name: str, paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """(histogram counts without flow, cut flow) of built-in analysis ``name`` over ROOT files ``paths``."""
    return globals()["_" + name](paths)


def _dimuon(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["nMuon", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge"])
    masses, two, os_ = [], 0, 0
    for i, n in enumerate(d["nMuon"]):
        if n != 2:
            continue
        two += 1
        if d["Muon_charge"][i][0] == d["Muon_charge"][i][1]:
            continue
        os_ += 1
        vs = [_p4(d["Muon_pt"][i][k], d["Muon_eta"][i][k], d["Muon_phi"][i][k], d["Muon_mass"][i][k]) for k in (0, 1)]
        masses.append(_mass(*vs)[0])
    counts = np.histogram(masses, bins=np.geomspace(0.25, 300, 30001))[0]
    return {"dimuon_mass": counts}, {"all events": len(d["nMuon"]), "exactly two muons": two, "opposite charge": os_}


def _adl_q1(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["MET_pt"])
    return {"met": _hist(d["MET_pt"])}, {"all events": len(d["MET_pt"])}


def _adl_q2(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["Jet_pt"])
    pts = [pt for ev in d["Jet_pt"] for pt in ev]
    return {"jet_pt": _hist(pts)}, {"all events": len(d["Jet_pt"]), "jets": len(pts)}


def _adl_q3(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["Jet_pt", "Jet_eta"])
    pts = [
        pt
        for ev_pt, ev_eta in zip(d["Jet_pt"], d["Jet_eta"], strict=True)
        for pt, eta in zip(ev_pt, ev_eta, strict=True)
        if abs(eta) < 1
    ]
    n = sum(len(ev) for ev in d["Jet_pt"])
    return {"jet_pt": _hist(pts)}, {"all events": len(d["Jet_pt"]), "jets": n, "jets |eta|<1": len(pts)}


def _adl_q4(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["MET_pt", "Jet_pt"])
    met = [m for m, jets in zip(d["MET_pt"], d["Jet_pt"], strict=True) if sum(1 for pt in jets if pt > 40) >= 2]
    return {"met": _hist(met)}, {"all events": len(d["MET_pt"]), ">=2 jets pT>40": len(met)}


def _adl_q5(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["MET_pt", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge"])
    met, two = [], 0
    for i, met_i in enumerate(d["MET_pt"]):
        n = len(d["Muon_pt"][i])
        if n < 2:
            continue
        two += 1
        vs = [_p4(d["Muon_pt"][i][k], d["Muon_eta"][i][k], d["Muon_phi"][i][k], d["Muon_mass"][i][k]) for k in range(n)]
        q = d["Muon_charge"][i]
        if any(q[a] != q[b] and 60 < _mass(vs[a], vs[b])[0] < 120 for a in range(n) for b in range(a + 1, n)):
            met.append(met_i)
    return {"met": _hist(met)}, {"all events": len(d["MET_pt"]), ">=2 muons": two, "OS pair 60<m<120": len(met)}


def _adl_q6(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    d = _load(paths, ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btag"])
    pts, btags, three = [], [], 0
    for i in range(len(d["Jet_pt"])):
        n = len(d["Jet_pt"][i])
        if n < 3:
            continue
        three += 1
        vs = [_p4(d["Jet_pt"][i][k], d["Jet_eta"][i][k], d["Jet_phi"][i][k], d["Jet_mass"][i][k]) for k in range(n)]
        best = None
        for a in range(n):
            for b in range(a + 1, n):
                for c in range(b + 1, n):
                    m, pt = _mass(vs[a], vs[b], vs[c])
                    if best is None or abs(m - 172.5) < best[0]:
                        best = (abs(m - 172.5), pt, max(d["Jet_btag"][i][k] for k in (a, b, c)))
        assert best is not None
        pts.append(best[1])
        btags.append(best[2])
    return (
        {"trijet_pt": _hist(pts), "trijet_max_btag": _hist(btags, 100, 0.0, 1.0)},
        {"all events": len(d["Jet_pt"]), ">=3 jets": three},
    )


def _dphi(a: float, b: float) -> float:
    return (float(a) - float(b) + math.pi) % (2 * math.pi) - math.pi


def _adl_q7(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    br = [f"{c}_{v}" for c in ("Jet", "Muon", "Electron") for v in ("pt", "eta", "phi")]
    d = _load(paths, br)
    sums, with_jet = [], 0
    for i in range(len(d["Jet_pt"])):
        leptons = [
            (d[f"{c}_eta"][i][k], d[f"{c}_phi"][i][k])
            for c in ("Muon", "Electron")
            for k in range(len(d[f"{c}_pt"][i]))
            if d[f"{c}_pt"][i][k] > 10
        ]
        total, n = 0.0, 0
        for pt, eta, phi in zip(d["Jet_pt"][i], d["Jet_eta"][i], d["Jet_phi"][i], strict=True):
            if pt > 30 and all(math.hypot(float(eta) - float(le), _dphi(phi, lp)) >= 0.4 for le, lp in leptons):
                total += float(pt)
                n += 1
        sums.append(total)
        with_jet += n > 0
    return {"sum_jet_pt": _hist(sums)}, {"all events": len(sums), "events with a clean jet": with_jet}


def _adl_q8(paths: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    br = ["MET_pt", "MET_phi"] + [
        f"{c}_{v}" for c in ("Muon", "Electron") for v in ("pt", "eta", "phi", "mass", "charge")
    ]
    d = _load(paths, br)
    mts, three, paired = [], 0, 0
    for i in range(len(d["MET_pt"])):
        leptons = [
            (
                fl,
                d[f"{c}_pt"][i][k],
                d[f"{c}_eta"][i][k],
                d[f"{c}_phi"][i][k],
                d[f"{c}_mass"][i][k],
                d[f"{c}_charge"][i][k],
            )
            for fl, c in enumerate(("Muon", "Electron"))
            for k in range(len(d[f"{c}_pt"][i]))
        ]
        if len(leptons) < 3:
            continue
        three += 1
        best = None
        for a in range(len(leptons)):
            for b in range(a + 1, len(leptons)):
                la, lb = leptons[a], leptons[b]
                if la[0] != lb[0] or la[5] == lb[5]:
                    continue
                m = _mass(_p4(*la[1:5]), _p4(*lb[1:5]))[0]
                if best is None or abs(m - 91.2) < best[0]:
                    best = (abs(m - 91.2), a, b)
        if best is None:
            continue
        paired += 1
        rest = [lep for k, lep in enumerate(leptons) if k not in best[1:]]
        lead = max(rest, key=lambda lep: lep[1])  # first of equal pts wins, as ak.argmax does
        pt, met = float(lead[1]), float(d["MET_pt"][i])
        mts.append(math.sqrt(2 * pt * met * (1 - math.cos(float(lead[3]) - float(d["MET_phi"][i])))))
    return {"mt": _hist(mts)}, {"all events": len(d["MET_pt"]), ">=3 leptons": three, "SFOS pair": paired}
