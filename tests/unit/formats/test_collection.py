"""The formats collection: formats by name and by file name, which content a name may carry, and the one rule
that picks the files a dataset is processed from."""

from __future__ import annotations

import pickle

import pytest

from portal.formats.collection import Formats
from portal.formats.csv import CSVFormat
from portal.formats.doubles import FakeFormat
from tests.support.formats import registered_formats

FORMATS = registered_formats()


def test_the_registered_formats_in_order_of_preference() -> None:
    assert FORMATS.names() == ["root", "parquet", "hdf5", "csv"]
    assert [f.name for f in FORMATS.processable] == ["root", "parquet", "hdf5"]
    assert FORMATS.processable_suffixes == (".root", ".parquet", ".pq", ".h5", ".hdf5", ".hdf")
    with pytest.raises(ValueError, match="share a name"):
        Formats([CSVFormat(), CSVFormat()])
    text = FakeFormat()
    text.name = "text"
    with pytest.raises(ValueError, match="may not be called"):
        Formats([text])


def test_names_promise_formats_and_content_decides() -> None:
    assert FORMATS.for_path("root://host//data/Run2012B.ROOT?xrd.wantprot=unix").name == "root"  # type: ignore[union-attr]
    assert FORMATS.for_path("notes.md") is None and FORMATS.by_name("text") is None
    assert FORMATS.agrees("x.parquet", "parquet") and not FORMATS.agrees("x.parquet", "root")
    assert FORMATS.agrees("pairs.csv", "text")  # a header line alone is not recognisable as CSV yet
    assert not FORMATS.agrees("x.h5", "text") and FORMATS.agrees("README", "binary")
    assert FORMATS.for_content("text") is FORMATS.by_name("csv")  # plain text previews as CSV lines
    assert FORMATS.for_content("json") is None and FORMATS.for_content("binary") is None


def test_a_dataset_is_processed_from_one_format_root_first() -> None:
    root = ["root://eos//a/f1.root", "/data/f2.ROOT", "file:///data/f3.root?x=1"]
    parquet = ["/data/f1.parquet", "/data/f2.pq"]
    hdf5 = ["/data/f1.h5", "/data/f2.hdf5"]
    other = ["/data/pairs.csv", "/data/README.txt", "/data/index.json"]
    assert FORMATS.preferred_files([*other, *hdf5, *parquet, *root]) == root
    assert FORMATS.preferred_files([*hdf5, *other, *parquet]) == parquet
    assert FORMATS.preferred_files([*hdf5, *other]) == hdf5
    assert FORMATS.preferred_files(other) == []


def test_formats_travel_to_workers_by_reference() -> None:
    formats = Formats([*FORMATS, FakeFormat()])
    blob = pickle.dumps(formats)
    assert len(blob) < 1000  # class references, no state
    assert pickle.loads(blob).names() == formats.names()


def test_a_worker_unpickling_the_formats_is_ready_to_read_root_files() -> None:
    """The reading libraries load when the formats arrive in a worker, not inside the first (timed) read."""
    import subprocess
    import sys

    probe = (
        "import pickle, sys; before = 'uproot' in sys.modules; formats = pickle.loads(sys.stdin.buffer.read());"
        "import uproot; print(before, 'awkward' in sys.modules, uproot.ZLIB.library)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], input=pickle.dumps(FORMATS), capture_output=True, check=True
    ).stdout.decode()
    assert out.split() == ["False", "True", "deflate"]
