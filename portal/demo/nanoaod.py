"""Deterministic NanoAOD-like CMS events with injected dimuon resonances (J/psi, Upsilon, Z).

Everything is drawn from ``numpy.random.default_rng([seed, file_index])``, so the same seed, tier and
file index always give the same events. Layout follows CMS NanoAOD: one entry per event with
``run``/``luminosityBlock``/``event``, ``MET_pt``/``MET_phi``, and jagged ``Muon_*``, ``Electron_*``,
``Jet_*`` collections with their ``nMuon``/``nElectron``/``nJet`` counters.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

MUON_MASS = 0.1056584
ELECTRON_MASS = 0.000511

# (name, mass GeV, natural width GeV, fraction of events carrying one) — fractions are chosen so the
# three peaks stand out on the log-log spectrum of a few hundred thousand events, not physical rates.
RESONANCES: tuple[tuple[str, float, float, float], ...] = (
    ("J/psi", 3.0969, 0.000093, 0.030),
    ("Upsilon", 9.4603, 0.000054, 0.030),
    ("Z", 91.1876, 2.4952, 0.030),
)
CONTINUUM_FRACTION = 0.06  # Drell-Yan-like pairs on a falling mass spectrum
RESOLUTION = 0.01  # relative dimuon mass resolution
ETA_MAX = 2.4
MUON_PT_MIN = 3.0
TRIGGER_MUON_FRACTION = 0.99
EXTRA_MUONS = 0.3  # mean number of soft muons per event on top of the trigger muon or injected pair


@dataclass(frozen=True)
class Tier:
    name: str
    files: int
    events_per_file: int


TIERS = {
    "tiny": Tier("tiny", 2, 5_000),
    "small": Tier("small", 4, 50_000),
    "bench": Tier("bench", 10, 500_000),
}


def _two_body(rng: np.random.Generator, mass: np.ndarray) -> tuple[np.ndarray, ...]:
    """Muon pairs from parents of ``mass``: isotropic decay, boosted by a parent pt and rapidity."""
    n = len(mass)
    p_star = np.sqrt(np.maximum(mass**2 / 4 - MUON_MASS**2, 1e-12))
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    phi_star = rng.uniform(-np.pi, np.pi, n)
    px1, py1, pz1 = p_star * sin_t * np.cos(phi_star), p_star * sin_t * np.sin(phi_star), p_star * cos_t
    e1 = np.sqrt(p_star**2 + MUON_MASS**2)
    # Parent kinematics: pt falls with a scale that grows with mass; rapidity roughly flat.
    parent_pt = rng.exponential(8.0 + 0.1 * mass, n)
    parent_y = rng.uniform(-2.2, 2.2, n)
    parent_phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(mass**2 + parent_pt**2)
    parent = np.stack(
        [parent_pt * np.cos(parent_phi), parent_pt * np.sin(parent_phi), mt * np.sinh(parent_y), mt * np.cosh(parent_y)]
    )
    beta = parent[:3] / parent[3]
    b2 = np.sum(beta**2, axis=0)
    gamma = 1 / np.sqrt(1 - b2)
    out = []
    for sign in (1, -1):
        p = np.stack([sign * px1, sign * py1, sign * pz1])
        bp = np.sum(beta * p, axis=0)
        coef = np.where(b2 > 0, (gamma - 1) * bp / np.where(b2 > 0, b2, 1), 0) + gamma * e1
        lab = p + beta * coef
        pt = np.hypot(lab[0], lab[1])
        eta = np.arcsinh(lab[2] / np.maximum(pt, 1e-9))
        out.append((pt, eta, np.arctan2(lab[1], lab[0])))
    return out[0] + out[1]


def _dimuon_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-event mass of an injected pair, NaN where the event has none."""
    masses = np.full(n, np.nan)
    choice = rng.uniform(0, 1, n)
    low = 0.0
    for _name, mass, width, fraction in RESONANCES:
        pick = (choice >= low) & (choice < low + fraction)
        k = int(pick.sum())
        true_mass = mass + width / 2 * np.tan(np.pi * (rng.uniform(0, 1, k) - 0.5))  # Breit-Wigner
        true_mass = np.clip(true_mass, mass - 15 * max(width, 0.05), mass + 15 * max(width, 0.05))
        masses[pick] = true_mass * (1 + RESOLUTION * rng.standard_normal(k))
        low += fraction
    pick = (choice >= low) & (choice < low + CONTINUUM_FRACTION)
    k = int(pick.sum())
    # log-mass exponential, truncated at 150 GeV (inverse CDF): falls steeply from 0.4 GeV
    x_max = np.log(150 / 0.4)
    u = rng.uniform(0, 1, k)
    masses[pick] = 0.4 * np.exp(-1.6 * np.log1p(-u * (1 - np.exp(-x_max / 1.6))))
    return masses


def _collection(
    rng: np.random.Generator, counts: np.ndarray, pt_scale: float, pt_min: float, mass: float | None
) -> dict[str, np.ndarray]:
    total = int(counts.sum())
    pt = (rng.exponential(pt_scale, total) + pt_min).astype(np.float32)
    out = {
        "pt": pt,
        "eta": rng.uniform(-ETA_MAX, ETA_MAX, total).astype(np.float32),
        "phi": rng.uniform(-np.pi, np.pi, total).astype(np.float32),
    }
    out["mass"] = (
        np.full(total, mass, np.float32)
        if mass is not None
        else np.abs(pt * 0.12 + rng.normal(0, 2, total)).astype(np.float32)
    )
    return out


def generate_events(seed: int, file_index: int, n: int) -> ak.Array:
    """``n`` NanoAOD-like events for file ``file_index``; the same arguments give the same events."""
    rng = np.random.default_rng([seed, file_index])
    first_event = file_index * 10_000_000
    event = np.arange(first_event, first_event + n, dtype=np.uint64)
    run = np.full(n, 194050 + file_index, dtype=np.uint32)
    lumi = (np.arange(n, dtype=np.uint32) // 500 + 1).astype(np.uint32)

    # Muons: injected pairs (kept only inside the acceptance, as a detector would) + soft extra muons.
    pair_mass = _dimuon_masses(rng, n)
    has_pair = ~np.isnan(pair_mass)
    pt1, eta1, phi1, pt2, eta2, phi2 = _two_body(rng, pair_mass[has_pair])
    charge1 = rng.choice(np.array([-1, 1], np.int32), int(has_pair.sum()))
    # Multiplicities follow the Run2012B SingleMu NanoAOD (mean 1.39 muons, ~1% of events without one,
    # ~28% with two or more): a trigger muon in events without an injected pair, plus soft extras.
    trigger = (~has_pair & (rng.uniform(0, 1, n) < TRIGGER_MUON_FRACTION)).astype(np.int64)
    extra = trigger + rng.poisson(EXTRA_MUONS, n).astype(np.int64)
    soft = _collection(rng, extra, 8.0, MUON_PT_MIN, MUON_MASS)
    soft_charge = rng.choice(np.array([-1, 1], np.int32), int(extra.sum()))

    # Assemble per event: [pair muons in acceptance] + [extra muons]
    pair_pt = np.full((n, 2), np.nan)
    pair_eta = np.zeros((n, 2))
    pair_phi = np.zeros((n, 2))
    pair_q = np.zeros((n, 2), np.int32)
    pair_pt[has_pair] = np.stack([pt1, pt2], axis=1)
    pair_eta[has_pair] = np.stack([eta1, eta2], axis=1)
    pair_phi[has_pair] = np.stack([phi1, phi2], axis=1)
    pair_q[has_pair] = np.stack([charge1, -charge1], axis=1)
    accepted = (pair_pt > MUON_PT_MIN) & (np.abs(pair_eta) < ETA_MAX)
    pair_counts = accepted.sum(axis=1)
    flat = accepted.ravel()
    pair_fields = {
        "pt": pair_pt.ravel()[flat].astype(np.float32),
        "eta": pair_eta.ravel()[flat].astype(np.float32),
        "phi": pair_phi.ravel()[flat].astype(np.float32),
        "mass": np.full(int(flat.sum()), MUON_MASS, np.float32),
        "charge": pair_q.ravel()[flat],
    }
    soft["charge"] = soft_charge
    pairs = ak.unflatten(ak.zip(pair_fields), pair_counts)
    extras = ak.unflatten(ak.zip(soft), extra)
    muons = ak.concatenate([pairs, extras], axis=1)

    # Negative binomials reproduce the SingleMu tails (jets: mean 3.2, 23% none, 44% three or more).
    n_electron = rng.negative_binomial(0.5, 0.5 / (0.5 + 0.215), n)
    electrons = _collection(rng, n_electron, 12.0, 5.0, ELECTRON_MASS)
    electrons["charge"] = rng.choice(np.array([-1, 1], np.int32), int(n_electron.sum()))
    n_jet = rng.negative_binomial(1.0, 1.0 / (1.0 + 3.2), n)
    jets = _collection(rng, n_jet, 28.0, 15.0, None)
    jets["btag"] = rng.beta(0.6, 2.5, int(n_jet.sum())).astype(np.float32)

    return ak.zip(
        {
            "run": run,
            "luminosityBlock": lumi,
            "event": event,
            "MET_pt": rng.exponential(22.0, n).astype(np.float32),
            "MET_phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
            "Muon": muons,
            "Electron": ak.unflatten(ak.zip(electrons), n_electron),
            "Jet": ak.unflatten(ak.zip(jets), n_jet),
        },
        depth_limit=1,
    )


def flat_columns(events: ak.Array) -> dict[str, ak.Array]:
    """NanoAOD branch names: ``nMuon``, ``Muon_pt`` … from the nested event records."""
    columns: dict[str, ak.Array] = {}
    for field in events.fields:
        value = events[field]
        if value.ndim == 1:
            columns[field] = value
            continue
        columns[f"n{field}"] = ak.values_astype(ak.num(value, axis=1), np.int32)
        for sub in value.fields:
            columns[f"{field}_{sub}"] = value[sub]
    return columns
