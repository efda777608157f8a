"""CMS dimuon invariant-mass spectrum as ROOT's df102 tutorial: exactly two muons, opposite charge, log bins."""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np

from portal.processing.analysis import Analysis, Output, Parameter, int_hist


def pair_mass(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Invariant mass of two (pt, eta, phi, m) vectors given as (n, 2) float64 arrays."""
    px = (pt * np.cos(phi)).sum(axis=1)
    py = (pt * np.sin(phi)).sum(axis=1)
    pz = (pt * np.sinh(eta)).sum(axis=1)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2).sum(axis=1)
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


class DimuonSpectrum(Analysis):
    name = "dimuon"
    version = "1"
    title = "CMS dimuon invariant-mass spectrum (df102)"
    columns = ("nMuon", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge")
    main_hist = "dimuon_mass"
    params = (
        Parameter(
            "pair",
            "choice",
            "opposite charge",
            label="Muon pair",
            help="the charges of the two muons: opposite (resonances) or same (a background estimate)",
            choices=("opposite charge", "same charge"),
        ),
    )

    def empty(self) -> Output:
        return Output(
            {
                "dimuon_mass": int_hist(
                    hist.axis.Regular(
                        30000, 0.25, 300, transform=hist.axis.transform.log, name="mass", label="m(μμ) [GeV]"
                    )
                )
            },
            {"all events": 0, "exactly two muons": 0, self.parameters["pair"]: 0},
        )

    def process(self, events: ak.Array) -> Output:
        out = self.empty()
        two = ak.to_numpy(events["nMuon"]) == 2
        sel = events[two]

        # with exactly two muons per event the jagged arrays are regular: (n, 2) numpy from the flat content
        def cols(name: str, dtype: type = np.float64) -> np.ndarray:
            return ak.to_numpy(ak.flatten(sel[name])).reshape(-1, 2).astype(dtype)

        charge = cols("Muon_charge", np.int64)
        pair = self.parameters["pair"]
        opposite = charge[:, 0] != charge[:, 1] if pair == "opposite charge" else charge[:, 0] == charge[:, 1]
        m = pair_mass(*(cols(f"Muon_{v}")[opposite] for v in ("pt", "eta", "phi", "mass")))
        out.hists["dimuon_mass"].fill(m)
        out.cutflow.update({"all events": len(events), "exactly two muons": int(two.sum()), pair: int(opposite.sum())})
        return out
