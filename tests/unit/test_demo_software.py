"""The demo's software record: its files are byte-identical on every run, the portal reads its analysis from them
(without importing it), its environment pins what hep-analysis pins, and the analysis computes what it says: the two
leading muons' invariant mass peaks at the Z mass, and the cut flow only ever narrows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from portal.demo import software as demo
from portal.demo.generate import generate
from portal.processing import analysis_api, software
from portal.processing.analysis_api import _chunks

ROOT = Path(__file__).resolve().parents[2]


def _package(path: Path) -> software.Package:
    body = path.read_bytes()
    return software.read_package([{"key": path.name, "uri": str(path)}], lambda _uri: body)


def test_the_files_are_the_same_bytes_every_time(tmp_path: Path) -> None:
    first, second = demo.write_archive(tmp_path / "a"), demo.write_archive(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert demo.write_requirements(tmp_path / "a").read_bytes() == demo.write_requirements(tmp_path / "b").read_bytes()
    assert first.stat().st_size < 10_000  # small: a few source files
    assert not list((tmp_path / "a").glob("*.part"))


def test_the_portal_reads_the_analysis_from_the_archive(tmp_path: Path) -> None:
    package = _package(demo.write_archive(tmp_path))
    assert "pyproject.toml" in package.files and "zpeak/analyses.py" in package.files  # the git top folder stripped
    entries = software.entry_points(package)
    assert entries == {"z-candidates": "zpeak.analyses:ZCandidates"}
    described = software.describe(package, entries["z-candidates"])
    assert described["columns"] == ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge")
    assert [(p.name, p.kind, p.default) for p in described["params"]] == [
        ("min_pt", "float", 20.0),
        ("max_eta", "float", 2.4),
    ]
    assert described["main_hist"] == "dimuon_mass"
    assert "zpeak" not in sys.modules


def test_the_environment_pins_what_hep_analysis_pins() -> None:
    hep = {}
    for line in (ROOT / "analysis_envs" / "hep-analysis" / "requirements.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            hep[name.strip()] = version.strip()
    for requirement in demo.REQUIREMENTS:
        name, _, version = requirement.partition("==")
        assert hep.get(name) == version, f"{requirement}: analysis_envs/hep-analysis pins {name}=={hep.get(name)}"


@pytest.fixture
def zpeak(monkeypatch: pytest.MonkeyPatch):
    """The analysis' class, imported as its environment imports it: the API as ``portal_analysis``."""
    monkeypatch.setitem(sys.modules, "portal_analysis", analysis_api)
    monkeypatch.syspath_prepend(str(demo.SOURCES / demo.PROJECT))
    for name in ("zpeak", "zpeak.analyses"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    from zpeak.analyses import ZCandidates

    yield ZCandidates
    for name in ("zpeak", "zpeak.analyses"):
        sys.modules.pop(name, None)


def test_the_analysis_finds_the_z_peak_and_its_cut_flow_narrows(zpeak, tmp_path: Path) -> None:
    generate("tiny", tmp_path, formats=("root",))
    files = sorted(tmp_path.glob("*.root"))
    analysis = zpeak(min_pt=20, max_eta=2.4)
    total = analysis.empty()
    for path in files:
        for chunk in _chunks(str(path), list(analysis.columns), 2000):
            total = total + analysis.process(chunk)
    counts = list(total.cutflow.values())
    assert counts[0] == 10_000 and counts == sorted(counts, reverse=True) and counts[-1] > 0
    h = total.hists["dimuon_mass"]
    values = h.values()
    peak = h.axes[0].centers[int(np.argmax(values))]
    assert 86 < peak < 96  # the generator's Z at 91.19 GeV
    assert int(values.sum()) == total.cutflow["mass in 60-120 GeV"]  # in range = in the window
    assert int(h.values(flow=True).sum()) == total.cutflow["opposite charge"]  # the rest in under/overflow
    # a tighter cut keeps fewer events, never more
    tight = zpeak(min_pt=30, max_eta=1.5)
    narrowed = tight.empty()
    for path in files:
        for chunk in _chunks(str(path), list(tight.columns), 2000):
            narrowed = narrowed + tight.process(chunk)
    assert narrowed.cutflow["mass in 60-120 GeV"] < total.cutflow["mass in 60-120 GeV"]
