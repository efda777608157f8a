"""Ingest, previews and processing reach data only through the formats they are given: a format known only to
the test (the fake double) is ingested, previewed and processed; without it the same file is plain content."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from portal import registry
from portal.errors import Invalid
from portal.files.access import FileAccess
from portal.files.ingest import Ingester
from portal.files.preview import Previewer
from portal.formats.collection import Formats
from portal.formats.doubles import FakeFormat
from portal.processing import load_analysis, run_analysis
from portal.processing.executors.inline import InlineExecutor
from portal.services import build_formats
from portal.settings import load_settings
from portal.storage.local import LocalStorage
from tests.support.formats import registered_formats

MET = [12.5, 40.0, 250.0, 3.25, 99.0, 61.5]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    FakeFormat.write(tmp_path / "events.fake", {"MET_pt": MET, "nJet": [0, 1, 2, 0, 3, 1]}, boundaries=[0, 2, 6])
    cut = (tmp_path / "events.fake").read_bytes()[:-10]
    (tmp_path / "cut.fake").write_bytes(cut)
    return tmp_path


def with_fake() -> Formats:
    return Formats([*registered_formats(), FakeFormat()])


def test_ingest_identifies_and_summarises_through_the_formats_it_is_given(data: Path) -> None:
    report = Ingester(with_fake()).ingest_path(LocalStorage(data))
    [good] = report.files
    assert (good.path, good.format, good.entries) == ("events.fake", "fake", 6)
    assert good.inspection == {"format": "fake", "entries": 6, "columns": ["MET_pt", "nJet"], "boundaries": [0, 2, 6]}
    assert report.errors == [("cut.fake", "named like a fake file but its content is text")]
    assert report.distribution()["number_events"] == 6  # a processable format's entries are events

    without = Ingester(registered_formats()).ingest_path(LocalStorage(data))
    assert {(f.path, f.format, f.entries) for f in without.files} == {
        ("events.fake", "text", None),
        ("cut.fake", "text", None),
    }
    assert "number_events" not in without.distribution()


class _Catalog:
    """The one catalogue call FileAccess makes to locate a file: its row."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_file(self, recid: int, key: str) -> dict[str, Any]:
        return {"key": key, "uri": f"file://{self.root / key}"}


def test_previews_and_histograms_read_through_the_formats_they_are_given(data: Path) -> None:
    access = FileAccess(_Catalog(data), LocalStorage(data))  # type: ignore[arg-type]
    preview = Previewer(access, with_fake()).preview(1, "events.fake", rows=2)
    assert (preview.format, preview.columns) == ("fake", ["MET_pt", "nJet"])
    assert preview.rows == [{"MET_pt": 12.5, "nJet": 0}, {"MET_pt": 40.0, "nJet": 1}]
    assert preview.structure["entries"] == 6 and "note" not in preview.to_json()
    hist = Previewer(access, with_fake()).histogram(1, "events.fake", "MET_pt", bins=5, value_range=(0, 100))
    assert hist.counts == np.histogram(MET, bins=5, range=(0, 100))[0].tolist() and hist.overflow == 1

    plain = Previewer(access, registered_formats()).preview(1, "events.fake", rows=2)
    assert plain.format == "text" and plain.structure == {"format": "text", "entries": None}
    with pytest.raises(Invalid, match="no column 'MET_pt'"):
        Previewer(access, registered_formats()).histogram(1, "events.fake", "MET_pt")


def test_processing_plans_and_reads_through_the_formats_it_is_given(data: Path) -> None:
    uris = [str(data / "events.fake"), f"file://{data / 'events.fake'}"]
    with InlineExecutor() as ex:
        result = run_analysis(load_analysis("adl_q1"), uris, ex, formats=with_fake(), chunk_events=1)
        assert result.progress.chunks_total == 2 * 6 and result.output.cutflow == {"all events": 12}
        expected = np.histogram(MET, bins=100, range=(0, 200))[0] * 2
        assert result.output.hists["met"].values().tolist() == expected.tolist()
        skipped = run_analysis(
            load_analysis("adl_q1"), uris, ex, formats=registered_formats(), skip_bad_files=True, chunk_events=1
        )
    assert set(skipped.skipped_files) == set(uris) and "no reader" in skipped.skipped_files[uris[0]]


def test_a_format_registered_by_another_package_is_active_after_the_preferred_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dist = tmp_path / "portal_fake-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: portal-fake\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[portal.formats]\nfake = portal.formats.doubles:FakeFormat\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_points.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="portal.registry"):
            formats = build_formats(load_settings(environ={}))
    finally:
        sys.path.remove(str(tmp_path))
        registry._entry_points.cache_clear()
    assert formats.names() == ["root", "parquet", "hdf5", "csv", "fake"]
    assert "formats backend 'fake' is NOT FOR PRODUCTION" in caplog.text
    assert "fake" not in registered_formats().names()
