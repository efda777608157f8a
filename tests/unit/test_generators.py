"""The deterministic event generators: same seed, same data; NanoAOD layout; resonances where expected."""

from __future__ import annotations

import hashlib

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from portal.demo.generate import PAIR_COLUMNS, dimuon_pairs, generate
from portal.demo.nanoaod import generate_events


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return out, generate("tiny", out)


def test_same_seed_same_events_and_bytes(tiny, tmp_path):
    out, paths = tiny
    again = generate("tiny", tmp_path)
    for a, b in zip(paths, again, strict=True):
        if a.suffix == ".root":  # uproot writes a random UUID and a timestamp: compare decoded arrays
            ta, tb = uproot.open(a)["Events"].arrays(), uproot.open(b)["Events"].arrays()
            assert ak.all(ak.flatten(ta.Muon_pt) == ak.flatten(tb.Muon_pt)) and ak.all(ta.event == tb.event)
        else:
            assert digest(a) == digest(b), a.name
    assert not ak.all(generate_events(1, 0, 100).MET_pt == generate_events(2, 0, 100).MET_pt)


def test_root_file_is_a_nanoaod_like_ttree(tiny):
    out, _ = tiny
    tree = uproot.open(out / "nanoaod_000.root")["Events"]
    assert tree.classname == "TTree" and tree.num_entries == 5000
    for branch in (
        "run",
        "luminosityBlock",
        "event",
        "MET_pt",
        "nMuon",
        "Muon_pt",
        "Muon_charge",
        "nElectron",
        "Electron_pt",
        "nJet",
        "Jet_pt",
        "Jet_btag",
    ):
        assert branch in tree.keys()  # noqa: SIM118 - a TTree is not a dict
    arrays = tree.arrays(["nMuon", "Muon_pt"])
    assert ak.all(ak.num(arrays.Muon_pt) == arrays.nMuon)


def test_formats_hold_the_same_events(tiny):
    out, _ = tiny
    root = uproot.open(out / "nanoaod_001.root")["Events"].arrays(["event", "Muon_pt", "nMuon"])
    parquet = ak.from_parquet(out / "nanoaod_001.parquet", columns=["event", "Muon_pt", "nMuon"])
    assert ak.all(parquet.event == root.event) and ak.all(ak.flatten(parquet.Muon_pt) == ak.flatten(root.Muon_pt))
    with h5py.File(out / "nanoaod_001.h5") as h:
        assert np.array_equal(h["Events/nMuon"][:], ak.to_numpy(root.nMuon))
        assert np.array_equal(h["Events/Muon_pt"][:], ak.to_numpy(ak.flatten(root.Muon_pt)))


def test_dimuon_spectrum_has_the_three_resonances():
    events = ak.concatenate([generate_events(7, i, 50_000) for i in range(2)])
    mass = dimuon_pairs(events)["M"]

    def peak_over_sideband(low, high, width):
        peak = np.sum((mass > low) & (mass < high))
        side = np.sum((mass > high) & (mass < high + width)) + np.sum((mass > low - width) & (mass < low))
        return peak / max(side, 1)

    assert peak_over_sideband(2.95, 3.25, 0.3) > 3
    assert peak_over_sideband(9.2, 9.7, 0.5) > 3
    assert peak_over_sideband(86, 96, 10) > 3


def test_csv_sample(tiny):
    out, _ = tiny
    lines = (out / "dimuon_pairs.csv").read_text().splitlines()
    assert lines[0].split(",") == list(PAIR_COLUMNS) and len(lines) > 100


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown tier 'huge'"):
        generate("huge", tmp_path)
    with pytest.raises(ValueError, match="unknown compression"):
        generate("tiny", tmp_path, compression="snappy")


def test_multiplicities_follow_the_singlemu_nanoaod():
    events = generate_events(3, 0, 50_000)

    def stats(collection):
        n = ak.to_numpy(ak.num(events[collection]))
        return n.mean(), (n == 0).mean(), (n >= 2).mean(), (n >= 3).mean()

    # anchors (Run2012B SingleMu): muons 1.39 / 0.9% / 28.5% / 7.7%; jets 3.2 / 23% / 60% / 44%; electrons 0.215 / 82%
    mean, none, two, three = stats("Muon")
    assert 1.2 < mean < 1.5 and none < 0.05 and 0.22 < two < 0.36 and 0.03 < three < 0.12
    mean, none, two, three = stats("Jet")
    assert 2.9 < mean < 3.5 and 0.18 < none < 0.28 and 0.5 < two < 0.66 and 0.38 < three < 0.5
    mean, none, _, _ = stats("Electron")
    assert 0.17 < mean < 0.26 and 0.76 < none < 0.88


def test_cli_generates_the_chosen_formats_and_codec(tmp_path):
    from click.testing import CliRunner

    from portal.cli import main

    result = CliRunner().invoke(
        main,
        [
            "data",
            "generate",
            "--tier",
            "tiny",
            "--out",
            str(tmp_path),
            "--formats",
            "root,csv",
            "--compression",
            "zstd",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dimuon_pairs.csv", "nanoaod_000.root", "nanoaod_001.root"]
    assert uproot.open(tmp_path / "nanoaod_000.root").file.compression.__class__.__name__ == "ZSTD"
    bad = CliRunner().invoke(main, ["data", "generate", "--tier", "tiny", "--out", str(tmp_path), "--formats", "xls"])
    assert bad.exit_code == 2 and "unknown format(s) xls" in bad.output


def test_hdf5_offsets_slice_jagged_branches(tmp_path, monkeypatch):
    import portal.demo.generate as gen

    monkeypatch.setattr(gen, "CHUNK", 1_500)  # several chunks per file: offsets must continue across them
    generate("tiny", tmp_path, formats=("hdf5",))
    root_like = generate_events(gen.DEFAULT_SEED * 1000 + 1, 0, 1_500)  # the second chunk of file 0
    with h5py.File(tmp_path / "nanoaod_000.h5") as h:
        offsets, counts = h["Events/Muon_offsets"][:], h["Events/nMuon"][:]
        assert offsets.dtype == np.int64 and len(offsets) == 5001 and offsets[0] == 0
        assert np.array_equal(np.diff(offsets), counts) and offsets[-1] == h["Events/Muon_pt"].shape[0]
        a, b = offsets[1500], offsets[3000]
        assert np.array_equal(h["Events/Muon_pt"][a:b], ak.to_numpy(ak.flatten(root_like.Muon.pt)))
