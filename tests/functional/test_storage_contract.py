"""One contract for every storage backend: a local directory and a real XRootD server."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator

import pytest

from portal.demo.generate import generate
from portal.errors import Invalid, NotFound, Unavailable
from portal.storage.doubles import DownStorage, MemoryStorage
from portal.storage.local import LocalStorage
from portal.storage.xrootd import XRootDStorage
from tests.support.xrootd import require_xrootd, served_tempdir, xrootd_over


@pytest.fixture(scope="module")
def data_dir() -> Iterator:
    data = served_tempdir()
    generate("tiny", data / "ds", formats=("root", "csv"))
    (data / "ds" / "notes.txt").write_bytes(b"hello, storage\n")
    yield data
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture(scope="module", params=["local", "xrootd", "memory"])
def storage(request, data_dir):
    if request.param == "memory":  # the unit tests' double keeps the same contract
        files = {p.relative_to(data_dir).as_posix(): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
        yield MemoryStorage(files)
        return
    if request.param == "local":
        yield LocalStorage(data_dir, xrootd_url="root://xrootd.example:1094", xrootd_export="data")
        return
    require_xrootd()
    with xrootd_over(data_dir) as server:
        yield XRootDStorage(server.url, "data")


def test_walk_lists_files_sorted(storage):
    assert list(storage.walk("ds")) == [
        "ds/dimuon_pairs.csv",
        "ds/nanoaod_000.root",
        "ds/nanoaod_001.root",
        "ds/notes.txt",
    ]


def test_stat_read_and_checksum_match_the_bytes(storage, data_dir):
    raw = (data_dir / "ds" / "nanoaod_001.root").read_bytes()
    info = storage.stat("ds/nanoaod_001.root")
    assert info.size == len(raw)
    assert storage.read_range("ds/nanoaod_001.root", 1000, 50) == raw[1000:1050]
    assert storage.checksum("ds/nanoaod_001.root") == f"adler32:{zlib.adler32(raw) & 0xFFFFFFFF:08x}"
    with storage.open("ds/nanoaod_001.root") as fh:
        fh.seek(-10, 2)
        assert fh.read() == raw[-10:]


def test_missing_files_and_escapes(storage):
    with pytest.raises(NotFound):
        storage.stat("ds/nope.root")
    with pytest.raises(NotFound):
        storage.open("ds/nope.root")
    with pytest.raises(Invalid, match="leaves the storage root"):
        storage.stat("../etc/passwd")


def test_urls_round_trip(storage):
    if storage.name == "memory":
        assert storage.root_url("ds/notes.txt") is None  # no XRootD serves it: clients get HTTP only
        return
    url = storage.root_url("ds/notes.txt")
    assert url.startswith("root://") and url.endswith("//data/ds/notes.txt")
    assert storage.path_of_url(url) == "ds/notes.txt"
    assert storage.path_of_url("root://eospublic.cern.ch//eos/opendata/x.root") is None


def test_probe_passes_on_a_serving_storage_and_names_one_that_is_not(storage, tmp_path):
    assert storage.probe() is None
    with pytest.raises(Unavailable, match="missing or not readable"):
        LocalStorage(tmp_path / "never-created").probe()
    with pytest.raises(Unavailable, match="storage server is down"):
        DownStorage().probe()
