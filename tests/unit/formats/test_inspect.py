"""Inspection of ROOT (TTree and RNTuple), HDF5, Parquet and CSV files, by path and by fsspec URL;
damaged files raise Invalid naming the file and the reason."""

from __future__ import annotations

import os

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from portal.demo.generate import generate
from portal.errors import Invalid
from portal.formats.hdf5 import MAGIC as HDF5_MAGIC
from tests.support.formats import registered_formats

FORMATS = registered_formats()
inspect_path = FORMATS.inspect_path
inspect = FORMATS.inspect


def test_root_ttree_branches_entries_and_compression(tiny):
    info = inspect_path(str(tiny / "nanoaod_000.root"))
    events = info["trees"]["Events"]
    assert info["format"] == "root" and info["entries"] == events["entries"] == 5000
    assert events["class"] == "TTree"
    assert events["branches"]["event"] == "uint64_t" and events["branches"]["Muon_pt"] == "float[]"
    assert events["branches"]["nMuon"] == "int32_t"
    assert info["compression"] == {"algorithm": "ZLIB", "level": 1}
    assert 0 < events["compressed_bytes"] < events["uncompressed_bytes"]


def test_root_codec_is_reported(tmp_path):
    generate("tiny", tmp_path, formats=("root",), compression="lz4")
    assert inspect_path(str(tmp_path / "nanoaod_001.root"))["compression"]["algorithm"] == "LZ4"


def test_root_rntuple(tmp_path):
    path = tmp_path / "ntuple.root"
    with uproot.recreate(path) as f:
        f["Events"] = {"x": np.arange(10, dtype=np.float32), "n": np.arange(10, dtype=np.int64)}
    info = inspect_path(str(path))
    assert info["trees"]["Events"]["class"] == "RNTuple"
    assert info["entries"] == 10 and {"x", "n"} <= set(info["trees"]["Events"]["fields"])


def test_hdf5_groups_datasets_attributes(tiny):
    info = inspect_path(str(tiny / "nanoaod_000.h5"))
    assert info["format"] == "hdf5" and info["entries"] == 5000 and info["groups"] == ["Events"]
    muons = info["datasets"]["Events/Muon_pt"]
    assert muons["dtype"] == "float32" and muons["compression"] == "gzip"
    assert info["datasets"]["Events/nMuon"]["shape"] == [5000]
    with h5py.File(tiny / "nanoaod_000.h5") as h:  # jagged values are flat: one per muon
        assert muons["shape"] == [int(np.sum(h["Events/nMuon"][:]))]
    assert info["attributes"]["Events/entries"] == 5000


def test_parquet_schema_row_groups_codec(tiny):
    info = inspect_path(str(tiny / "nanoaod_001.parquet"))
    assert info["format"] == "parquet" and info["entries"] == 5000 and info["row_groups"] >= 1
    assert info["codecs"] == ["ZSTD"]
    assert info["columns"]["event"] == "uint64" and "list<element: float" in info["columns"]["Muon_pt"]
    assert len(ak.from_parquet(tiny / "nanoaod_001.parquet", columns=["event"])) == info["entries"]


def test_csv_columns_and_rows(tiny):
    info = inspect_path(str(tiny / "dimuon_pairs.csv"))
    lines = (tiny / "dimuon_pairs.csv").read_text().splitlines()
    assert info["format"] == "csv" and info["entries"] == len(lines) - 1 and info["columns"][-1] == "M"


def test_fsspec_url_and_plain_path_agree(tiny):
    for name in ("nanoaod_000.root", "nanoaod_000.h5", "nanoaod_000.parquet"):
        assert inspect_path(f"file://{tiny / name}") == inspect_path(str(tiny / name))


def test_format_comes_from_content_not_name(tiny, tmp_path):
    disguised = tmp_path / "events.dat"
    disguised.write_bytes((tiny / "nanoaod_000.parquet").read_bytes())
    assert inspect_path(str(disguised))["format"] == "parquet"


@pytest.mark.parametrize(
    ("name", "fmt", "reason"),
    [
        ("nanoaod_000.root", "root", "truncated ROOT file"),
        ("nanoaod_000.h5", "hdf5", "not a readable HDF5 file"),
        ("nanoaod_000.parquet", "parquet", "not a readable Parquet file"),
    ],
)
def test_truncated_files_raise_invalid_naming_path_and_reason(tiny, tmp_path, name, fmt, reason):
    data = (tiny / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(Invalid, match=reason) as err:
        inspect(str(cut), fmt, len(data) // 2)
    assert str(cut) in err.value.message


def test_random_bytes_with_a_format_magic_raise_invalid(tmp_path):
    for name, fmt, magic in (
        ("x.h5", "hdf5", HDF5_MAGIC),
        ("x.root", "root", b"root"),
        ("x.parquet", "parquet", b"PAR1"),
    ):
        path = tmp_path / name
        path.write_bytes(magic + os.urandom(4096) + (b"PAR1" if fmt == "parquet" else b""))
        with pytest.raises(Invalid) as err:
            inspect(str(path), fmt, path.stat().st_size)
        assert str(path) in err.value.message


def test_missing_file_is_invalid(tmp_path):
    with pytest.raises(Invalid, match="no such file"):
        inspect_path(str(tmp_path / "gone.root"))


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        (b"a,b\n1,2\n3,4\n", 2),
        (b"a,b\n1,2\n3,4", 2),  # no newline after the last row
        (b"a,b\n", 0),
        (b'a,b\n"x\ny",2\n3,4\n', 2),  # a quoted newline is not a row
    ],
)
def test_csv_rows_are_counted_exactly(tmp_path, content, rows):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    info = inspect(str(path), "csv", len(content))
    assert info["entries"] == rows and info["columns"] == ["a", "b"]
