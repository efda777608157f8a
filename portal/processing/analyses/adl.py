"""The eight IRIS-HEP ADL benchmark queries (iris-hep/adl-benchmarks-index) on NanoAOD-like branches."""

from __future__ import annotations

from typing import Any, ClassVar

import awkward as ak
import hist
import numpy as np

from portal.processing.analysis import Analysis, Output, Parameter, collection, int_hist

KIN = ("pt", "eta", "phi", "mass")


def _axis(name: str, label: str, hi: float = 200.0) -> hist.axis.Regular:
    return hist.axis.Regular(100, 0.0, hi, name=name, label=label)


def _flat_sum(parts: list[ak.Array]) -> tuple[ak.Array | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(per-event counts or None, px, py, pz, E as flat float64 numpy) of the sum of ``parts``.

    The parts must share one list structure (as the outputs of ``ak.combinations`` do). The arithmetic runs
    on their flat contents in numpy, and callers give results that structure back once: each awkward ufunc
    call on a jagged array costs about a millisecond of broadcasting whatever its length, and the ~40 calls
    of a four-vector sum made up most of Q5's and Q8's time per chunk."""
    counts = ak.num(parts[0], axis=1) if parts[0].ndim > 1 else None
    sums: list[np.ndarray] = []
    for p in parts:
        terms = _p4_terms(*(np.asarray(ak.flatten(p[k], axis=None), dtype=np.float64) for k in KIN))
        sums = terms if not sums else [s + t for s, t in zip(sums, terms, strict=True)]
    px, py, pz, e = sums
    return counts, px, py, pz, e


def _p4_terms(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
    """[px, py, pz, E] of float64 (pt, eta, phi, mass): one formula, so every query sums identical terms."""
    return [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)]


def _mass(px: Any, py: Any, pz: Any, e: Any) -> Any:
    """Invariant mass from a four-vector sum (numpy or awkward arrays), 0 where rounding makes it imaginary."""
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


def _shaped(counts: ak.Array | None, flat: np.ndarray) -> ak.Array:
    return ak.Array(flat) if counts is None else ak.unflatten(flat, counts)


def four_vector_sum(parts: list[ak.Array]) -> tuple[ak.Array, ak.Array, ak.Array, ak.Array]:
    """(px, py, pz, E) of the sum of records with pt/eta/phi/mass fields (computed in float64)."""
    counts, *p4 = _flat_sum(parts)
    px, py, pz, e = (_shaped(counts, x) for x in p4)
    return px, py, pz, e


def inv_mass(parts: list[ak.Array]) -> ak.Array:
    counts, px, py, pz, e = _flat_sum(parts)
    return _shaped(counts, _mass(px, py, pz, e))


def _flat(x: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x, axis=None))


class _ADL(Analysis):
    params: ClassVar[tuple[Parameter, ...] | None] = ()
    query: ClassVar[int] = 0
    hist_axes: ClassVar[dict[str, tuple[str, float]]] = {}

    def empty(self) -> Output:
        return Output(
            {name: int_hist(_axis(name, label, hi)) for name, (label, hi) in self.hist_axes.items()}, {"all events": 0}
        )


class Q1(_ADL):
    name, title, query = "adl_q1", "ADL Q1: ETmiss of all events", 1
    columns = ("MET_pt",)
    hist_axes = {"met": ("ETmiss [GeV]", 200.0)}
    main_hist = "met"

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        out.hists["met"].fill(ak.to_numpy(events.MET_pt))
        out.cutflow["all events"] = len(events)
        return out


class Q2(_ADL):
    name, title, query = "adl_q2", "ADL Q2: pT of all jets", 2
    columns = ("nJet", "Jet_pt")
    hist_axes = {"jet_pt": ("jet pT [GeV]", 200.0)}
    main_hist = "jet_pt"

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        out.hists["jet_pt"].fill(_flat(events.Jet_pt))
        out.cutflow.update({"all events": len(events), "jets": int(ak.sum(events.nJet))})
        return out


class Q3(_ADL):
    name, title, query = "adl_q3", "ADL Q3: pT of jets with |eta| < 1", 3
    columns = ("nJet", "Jet_pt", "Jet_eta")
    hist_axes = {"jet_pt": ("jet pT [GeV]", 200.0)}
    main_hist = "jet_pt"
    params = (Parameter("max_abs_eta", "float", 1.0, label="Largest |η| of a jet", minimum=0.0, maximum=10.0),)

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        eta_max = self.parameters["max_abs_eta"]
        # a cut on single jets needs no event structure: select on the flat contents (a jagged mask would
        # rebuild offsets per chunk only to be flattened again)
        pt, eta = _flat(events.Jet_pt), _flat(events.Jet_eta)
        central = pt[np.abs(eta) < eta_max]
        out.hists["jet_pt"].fill(central)
        out.cutflow.update({"all events": len(events), "jets": len(pt), f"jets |eta|<{eta_max:g}": len(central)})
        return out


class Q4(_ADL):
    name, title, query = "adl_q4", "ADL Q4: ETmiss of events with >= 2 jets of pT > 40 GeV", 4
    columns = ("MET_pt", "nJet", "Jet_pt")
    hist_axes = {"met": ("ETmiss [GeV]", 200.0)}
    main_hist = "met"
    params = (
        Parameter("min_jets", "int", 2, label="Jets at least", minimum=0, maximum=20),
        Parameter("jet_pt_min", "float", 40.0, label="Jet pT above [GeV]", minimum=0.0, maximum=10_000.0),
    )

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        n, pt_min = self.parameters["min_jets"], self.parameters["jet_pt_min"]
        keep = ak.to_numpy(ak.sum(events.Jet_pt > pt_min, axis=1) >= n)
        out.hists["met"].fill(ak.to_numpy(events.MET_pt)[keep])
        out.cutflow.update({"all events": len(events), f">={n} jets pT>{pt_min:g}": int(keep.sum())})
        return out


class Q5(_ADL):
    name, title, query = "adl_q5", "ADL Q5: ETmiss of events with an opposite-charge muon pair, 60 < m < 120 GeV", 5
    columns = ("MET_pt", "nMuon", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge")
    hist_axes = {"met": ("ETmiss [GeV]", 200.0)}
    main_hist = "met"

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        two = ak.to_numpy(events.nMuon) >= 2
        sel = events[two]
        mu = collection(sel, "Muon")
        a, b = ak.unzip(ak.combinations(mu, 2))
        m = inv_mass([a, b])
        good = (a.charge != b.charge) & (m > 60) & (m < 120)
        keep = ak.to_numpy(ak.any(good, axis=1))
        out.hists["met"].fill(ak.to_numpy(sel.MET_pt)[keep])
        out.cutflow.update(
            {"all events": len(events), ">=2 muons": int(two.sum()), "OS pair 60<m<120": int(keep.sum())}
        )
        return out


class Q6(_ADL):
    name, title, query = "adl_q6", "ADL Q6: trijet closest to 172.5 GeV: pT and max b-tag", 6
    columns = ("nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btag")
    hist_axes = {"trijet_pt": ("trijet pT [GeV]", 200.0), "trijet_max_btag": ("max b-tag in trijet", 1.0)}
    main_hist = "trijet_pt"

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        three = ak.to_numpy(events.nJet) >= 3
        jets = collection(events[three], "Jet")
        a, b, c = ak.unzip(ak.combinations(jets, 3))
        px, py, pz, e = four_vector_sum([a, b, c])
        mass = _mass(px, py, pz, e)
        best = ak.argmin(abs(mass - 172.5), axis=1, keepdims=True)
        pt = np.hypot(px, py)[best]
        btag = np.maximum(np.maximum(a.btag, b.btag), c.btag)[best]
        out.hists["trijet_pt"].fill(_flat(pt))
        out.hists["trijet_max_btag"].fill(_flat(btag))
        out.cutflow.update({"all events": len(events), ">=3 jets": int(three.sum())})
        return out


def _delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    f64 = np.float64
    dphi = (phi1.astype(f64) - phi2.astype(f64) + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1.astype(f64) - eta2.astype(f64), dphi)


def _owners(events: ak.Array, branch: str) -> np.ndarray:
    """The event number of every element of the jagged ``branch``, in flat order."""
    return _owner_of(ak.to_numpy(ak.num(events[branch], axis=1)))


def _owner_of(counts: np.ndarray) -> np.ndarray:
    """For lists of ``counts`` elements laid end to end: the list number of every element."""
    return np.repeat(np.arange(len(counts)), counts)


def _slots(counts: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Flat positions ``first[e] + k`` for k < counts[e] of every list e, in list order."""
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return first[_owner_of(counts)] + local


class Q7(_ADL):
    name, title, query = "adl_q7", "ADL Q7: scalar sum of jet pT (> 30 GeV) away from leptons (pT > 10 GeV)", 7
    columns = (
        "nJet",
        "Jet_pt",
        "Jet_eta",
        "Jet_phi",
        "nMuon",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "nElectron",
        "Electron_pt",
        "Electron_eta",
        "Electron_phi",
    )
    hist_axes = {"sum_jet_pt": ("scalar sum of jet pT [GeV]", 200.0)}
    main_hist = "sum_jet_pt"

    def process(self, events: ak.Array) -> Output:
        """On flat numpy: every (jet, lepton) pair of an event is one row, ΔR < 0.4 marks the jet, and the
        per-event sums are a bincount. The jagged version (zips, concatenate, nested cartesian, any, sum) cost
        ~40 ms per chunk whatever its length. Same float64 ΔR and the same in-order per-event sums (awkward's
        sum and bincount both add in element order from 0.0), so the bins are identical."""
        out = self.empty()
        n = len(events)
        jet_of = _owners(events, "Jet_pt")
        jet_pt, jet_eta, jet_phi = (_flat(events[f"Jet_{k}"]) for k in ("pt", "eta", "phi"))
        hard = jet_pt > 30
        jet_of, jet_pt, jet_eta, jet_phi = jet_of[hard], jet_pt[hard], jet_eta[hard], jet_phi[hard]
        lep_of = np.concatenate([_owners(events, "Muon_pt"), _owners(events, "Electron_pt")])
        lep_pt, lep_eta, lep_phi = (
            np.concatenate([_flat(events[f"Muon_{k}"]), _flat(events[f"Electron_{k}"])]) for k in ("pt", "eta", "phi")
        )
        soft = lep_pt > 10
        lep_of, lep_eta, lep_phi = lep_of[soft], lep_eta[soft], lep_phi[soft]
        order = np.argsort(lep_of, kind="stable")  # each event's leptons contiguous (muons, then electrons)
        lep_of, lep_eta, lep_phi = lep_of[order], lep_eta[order], lep_phi[order]
        n_lep = np.bincount(lep_of, minlength=n)
        lep_first = np.cumsum(n_lep) - n_lep
        # pair rows: jet i repeated once per lepton of its event
        per_jet = n_lep[jet_of]
        pair_jet = _owner_of(per_jet)
        pair_lep = _slots(per_jet, lep_first[jet_of])
        close = _delta_r(jet_eta[pair_jet], jet_phi[pair_jet], lep_eta[pair_lep], lep_phi[pair_lep]) < 0.4
        clean = np.bincount(pair_jet[close], minlength=len(jet_of)) == 0
        total = np.bincount(jet_of[clean], weights=jet_pt[clean].astype(np.float64), minlength=n)
        out.hists["sum_jet_pt"].fill(total)
        with_jet = int(np.count_nonzero(np.bincount(jet_of[clean], minlength=n)))
        out.cutflow.update({"all events": n, "events with a clean jet": with_jet})
        return out


class Q8(_ADL):
    name, title, query = "adl_q8", "ADL Q8: transverse mass of MET + leading lepton outside the best Z candidate", 8
    columns = (
        "MET_pt",
        "MET_phi",
        "nMuon",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "Muon_mass",
        "Muon_charge",
        "nElectron",
        "Electron_pt",
        "Electron_eta",
        "Electron_phi",
        "Electron_mass",
        "Electron_charge",
    )
    hist_axes = {"mt": ("transverse mass [GeV]", 200.0)}
    main_hist = "mt"

    def process(self, events: ak.Array) -> Output:
        """On flat numpy, events grouped by their number of leptons: each group's lepton pairs are a fixed
        (events x pairs) matrix, so the per-event argmin/argmax are plain numpy reductions. The jagged awkward
        version of the same steps (zip, concatenate, combinations, masks, argmin, firsts …) cost ~45 ms per
        chunk whatever its length, 20 % of the whole query on 250k-event chunks. Same float64 arithmetic as
        ``inv_mass`` and the same first-minimum / first-maximum ties, so the bins are identical."""
        out = self.empty()
        n_mu = ak.to_numpy(ak.num(events.Muon_pt, axis=1)).astype(np.int64)
        n_el = ak.to_numpy(ak.num(events.Electron_pt, axis=1)).astype(np.int64)
        n_lep = n_mu + n_el
        three = n_lep >= 3
        # leptons of the selected events, flat: each event's muons then its electrons (ak.concatenate order)
        mu_keep, el_keep = np.repeat(three, n_mu), np.repeat(three, n_el)
        n_mu, n_el, n_lep = n_mu[three], n_el[three], n_lep[three]
        starts = np.cumsum(n_lep) - n_lep
        slot_mu = _slots(n_mu, starts)
        slot_el = _slots(n_el, starts + n_mu)
        lep: dict[str, np.ndarray] = {}
        for f in ("pt", "eta", "phi", "mass", "charge"):
            mu, el = _flat(events[f"Muon_{f}"])[mu_keep], _flat(events[f"Electron_{f}"])[el_keep]
            lep[f] = np.empty(int(n_lep.sum()), dtype=np.result_type(mu, el))
            lep[f][slot_mu], lep[f][slot_el] = mu, el
        flavour = np.zeros(len(lep["pt"]), dtype=np.int8)
        flavour[slot_el] = 1
        pt, eta, phi, m = (lep[k].astype(np.float64) for k in KIN)
        terms = _p4_terms(pt, eta, phi, m)
        met_pt = _flat(events.MET_pt)[three]
        met_phi = _flat(events.MET_phi)[three]
        has_pair = np.zeros(len(n_lep), dtype=bool)
        lead = np.zeros(len(n_lep), dtype=np.int64)  # flat index of the leading other lepton, where has_pair
        for n in np.unique(n_lep):
            rows = np.nonzero(n_lep == n)[0]
            first, second = np.triu_indices(int(n), 1)  # ak.combinations' pair order
            base = starts[rows][:, None]
            a, b = base + first, base + second  # (events, pairs) flat lepton indices
            sfos = (flavour[a] == flavour[b]) & (lep["charge"][a] != lep["charge"][b])
            px, py, pz, e = (t[a] + t[b] for t in terms)
            mass = _mass(px, py, pz, e)
            distance = np.where(sfos, np.abs(mass - 91.2), np.inf)
            found = sfos.any(axis=1)
            best = np.argmin(distance, axis=1)  # first minimum, as ak.argmin
            index = base + np.arange(int(n))  # (events, leptons)
            others_pt = lep["pt"][index].copy()
            picked = np.arange(len(rows))
            others_pt[picked, first[best]] = -np.inf
            others_pt[picked, second[best]] = -np.inf
            lead_local = np.argmax(others_pt, axis=1)  # first maximum among the others, as ak.argmax
            has_pair[rows] = found
            lead[rows] = index[picked, lead_local]
        lead = lead[has_pair]
        pt_lead, met = lep["pt"][lead].astype(np.float64), met_pt[has_pair].astype(np.float64)
        dphi = lep["phi"][lead].astype(np.float64) - met_phi[has_pair].astype(np.float64)
        out.hists["mt"].fill(np.sqrt(2 * pt_lead * met * (1 - np.cos(dphi))))
        out.cutflow.update(
            {"all events": len(events), ">=3 leptons": int(three.sum()), "SFOS pair": int(has_pair.sum())}
        )
        return out


ADL_QUERIES: tuple[type[_ADL], ...] = (Q1, Q2, Q3, Q4, Q5, Q6, Q7, Q8)
