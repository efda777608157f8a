"""Z -> mu mu candidates: the two leading muons, pT and |eta| cuts, opposite charge, invariant mass in 60-120 GeV.

Written against the portal's single-file analysis API only (``portal_analysis``): the portal reads the class
attributes below from this file's source, and runs ``process`` in the environment the software record requires.
"""

import awkward as ak
import hist
import numpy as np
from portal_analysis import Analysis, Output, Parameter, collection, int_hist

MASS_LOW, MASS_HIGH = 60.0, 120.0  # GeV: the window around the Z mass the histogram covers


def pair_mass(pt, eta, phi, mass):
    """Invariant mass of two (pt, eta, phi, m) vectors given as (n, 2) float64 arrays."""
    px = (pt * np.cos(phi)).sum(axis=1)
    py = (pt * np.sin(phi)).sum(axis=1)
    pz = (pt * np.sinh(eta)).sum(axis=1)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2).sum(axis=1)
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


class ZCandidates(Analysis):
    name = "z-candidates"
    version = "1.0"
    title = "Z boson candidates: dimuon mass with a cut flow"
    columns = ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge")
    main_hist = "dimuon_mass"
    params = (
        Parameter(
            "min_pt",
            "float",
            20.0,
            label="Minimum muon pT (GeV)",
            help="both leading muons must have at least this transverse momentum",
            minimum=0,
            maximum=200,
        ),
        Parameter(
            "max_eta",
            "float",
            2.4,
            label="Maximum muon |η|",
            help="both leading muons must be within this pseudorapidity",
            minimum=0,
            maximum=5,
        ),
    )

    def empty(self):
        mass = hist.axis.Regular(60, MASS_LOW, MASS_HIGH, name="mass", label="m(μμ) [GeV]")
        lead = hist.axis.Regular(50, 0, 150, name="pt", label="leading muon pT [GeV]")
        steps = ("all events", "two muons or more", "both pT above minimum", "both within |η|", "opposite charge")
        cutflow = {step: 0 for step in (*steps, "mass in 60-120 GeV")}
        return Output({"dimuon_mass": int_hist(mass), "leading_pt": int_hist(lead)}, cutflow)

    def process(self, events):
        out = self.empty()
        muons = collection(events, "Muon")
        muons = muons[ak.argsort(muons.pt, axis=1, ascending=False)]
        two = ak.to_numpy(ak.num(muons, axis=1)) >= 2
        leading = muons[two][:, :2]

        # two muons per event: regular (n, 2) numpy arrays from the flat content
        def cols(field, dtype=np.float64):
            return ak.to_numpy(ak.flatten(leading[field])).reshape(-1, 2).astype(dtype)

        pt, eta, phi, m = (cols(f) for f in ("pt", "eta", "phi", "mass"))
        charge = cols("charge", np.int64)
        pt_ok = (pt >= self.parameters["min_pt"]).all(axis=1)
        eta_ok = pt_ok & (np.abs(eta) < self.parameters["max_eta"]).all(axis=1)
        opposite = eta_ok & (charge[:, 0] != charge[:, 1])
        mass = pair_mass(pt[opposite], eta[opposite], phi[opposite], m[opposite])
        window = (mass >= MASS_LOW) & (mass < MASS_HIGH)
        out.hists["dimuon_mass"].fill(mass)  # outside the window: under- and overflow
        out.hists["leading_pt"].fill(pt[opposite][window, 0])
        out.cutflow.update(
            {
                "all events": len(events),
                "two muons or more": int(two.sum()),
                "both pT above minimum": int(pt_ok.sum()),
                "both within |η|": int(eta_ok.sum()),
                "opposite charge": int(opposite.sum()),
                "mass in 60-120 GeV": int(window.sum()),
            }
        )
        return out
