"""Ingest: streaming checksums, content-based formats, inspection, damaged files, real XRootD access."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import uproot

from portal.app import services_of
from portal.demo.generate import generate
from portal.errors import Conflict
from portal.storage.xrootd import XRootDStorage
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.formats import registered_formats
from tests.support.xrootd import require_xrootd, served_tempdir, xrootd_over

PORTAL = Path(sys.executable).parent / "portal"


@pytest.fixture
def mixed(tmp_path):
    """A valid Parquet file, a truncated ROOT file and random bytes named .h5."""
    data = tmp_path / "data"
    generate("tiny", data / "ds", formats=("root", "parquet"))
    good = data / "ds" / "nanoaod_000.parquet"
    truncated = data / "ds" / "cut.root"
    truncated.write_bytes((data / "ds" / "nanoaod_000.root").read_bytes()[:150_000])
    (data / "ds" / "noise.h5").write_bytes(os.urandom(4096))
    for extra in ("nanoaod_000.root", "nanoaod_001.root", "nanoaod_001.parquet"):
        (data / "ds" / extra).unlink()
    return data, good


def adler(path: Path) -> str:
    return f"adler32:{zlib.adler32(path.read_bytes()) & 0xFFFFFFFF:08x}"


def test_damaged_files_are_reported_and_the_rest_ingested(make_app, mixed, tmp_path):
    data, good = mixed
    app = make_app(data_dir=str(data))
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(5)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    errors = dict(report.errors)
    assert set(errors) == {"ds/cut.root", "ds/noise.h5"}
    assert "truncated ROOT file" in errors["ds/cut.root"]
    assert "content is binary" in errors["ds/noise.h5"]
    [ingested] = report.files
    assert ingested.checksum == adler(good) and ingested.size == good.stat().st_size
    assert ingested.format == "parquet" and ingested.entries == 5000
    assert (
        ingested.inspection["columns"]["Muon_pt"].startswith("large_list")
        or "list" in ingested.inspection["columns"]["Muon_pt"]
    )
    view = svc.catalog.ingest_files(5, report.file_rows("ds"), report.distribution())
    assert [f["key"] for f in view.files] == ["nanoaod_000.parquet"]
    assert view.metadata["distribution"] == {
        "formats": ["parquet"],
        "number_files": 1,
        "size": good.stat().st_size,
        "number_events": 5000,
    }
    # a published version with files is immutable
    with pytest.raises(Conflict, match="start a new version"):
        svc.catalog.ingest_files(5, report.file_rows("ds"), report.distribution())


def test_ingest_command_exits_non_zero_and_names_bad_files(settings_dict, mixed, tmp_path):
    data, _ = mixed
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_DATA_DIR": str(data),
    }
    records = write_records(tmp_path / "r.json", [dataset(6)])
    subprocess.run([str(PORTAL), "records", "load", str(records)], check=True, env=env, capture_output=True)
    result = subprocess.run([str(PORTAL), "ingest", "6", "ds"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "bad file ds/cut.root: truncated ROOT file" in result.stderr
    assert "bad file ds/noise.h5" in result.stderr
    assert "record 6: 1 file(s)" in result.stdout


def test_root_inspection(tmp_path, make_app):
    data = tmp_path / "data"
    generate("tiny", data / "ds", formats=("root", "hdf5"), compression="lz4")
    svc = services_of(make_app(data_dir=str(data)))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    assert not report.errors
    root = next(f for f in report.files if f.format == "root")
    events = root.inspection["trees"]["Events"]
    assert events["class"] == "TTree" and events["entries"] == 5000
    assert events["branches"]["Muon_pt"] == "float[]" and root.inspection["compression"]["algorithm"] == "LZ4"
    h5 = next(f for f in report.files if f.format == "hdf5")
    assert h5.entries == 5000 and h5.inspection["datasets"]["Events/nMuon"]["dtype"] == "int32"
    assert report.distribution()["number_events"] == 10_000  # two files; the HDF5 copy is not counted twice


@pytest.fixture(scope="module")
def served():
    require_xrootd()
    data = served_tempdir()
    generate("tiny", data / "ds", formats=("root", "parquet", "hdf5"))
    with xrootd_over(data) as server:
        yield server, data
    shutil.rmtree(data.parent, ignore_errors=True)


def test_ingest_over_xrootd_and_read_by_catalogue_uri(make_app, served, tmp_path):
    server, data = served
    app = make_app(storage_backend="xrootd", xrootd_url=server.url, xrootd_export="data")
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    assert not report.errors and len(report.files) == 6
    view = svc.catalog.ingest_files(7, report.file_rows("ds"), report.distribution())
    for f in view.files:
        assert f["uri"].startswith(server.url + "//data/ds/")
        assert f["checksum"] == adler(data / "ds" / f["key"])
        if f["format"] == "root":
            assert uproot.open({f["uri"]: "Events"}).num_entries == 5000  # uproot streams it over root://
    first_root = next(f for f in view.files if f["format"] == "root")
    copy = tmp_path / "copy.root"
    result = subprocess.run(["xrdcp", "-f", first_root["uri"], str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert copy.read_bytes() == (data / "ds" / first_root["key"]).read_bytes()
    assert isinstance(svc.storage, XRootDStorage)


def test_ingest_can_write_cern_style_file_indices(make_app, settings_dict, tmp_path):
    data = tmp_path / "data"
    generate("tiny", data / "ds", formats=("root",))
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_DATA_DIR": str(data),
    }
    records = write_records(tmp_path / "r.json", [dataset(8)])
    subprocess.run([str(PORTAL), "records", "load", str(records)], check=True, env=env, capture_output=True)
    result = subprocess.run(
        [str(PORTAL), "ingest", "8", "ds", "--write-index", "CMS_tiny"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    index = json.loads((data / "ds" / "CMS_tiny_file_index.json").read_text())
    assert [e["filename"] for e in index] == ["nanoaod_000.root", "nanoaod_001.root"]
    assert index[0]["checksum"] == adler(data / "ds" / "nanoaod_000.root")
    txt = (data / "ds" / "CMS_tiny_file_index.txt").read_text().splitlines()
    assert txt == [e["uri"] for e in index]
    app = make_app(data_dir=str(data))
    body = app.test_client().get("/api/records/8").get_json()["metadata"]
    [entry] = body["_file_indices"]
    assert entry["key"] == "CMS_tiny_file_index" and [f["uri"] for f in entry["files"]] == txt


def test_ingest_command_takes_absolute_paths_and_file_urls(make_app, settings_dict, mixed, tmp_path):
    data, good = mixed
    outside = tmp_path / "elsewhere"
    generate("tiny", outside, formats=("hdf5",))
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_DATA_DIR": str(data),
    }
    records = write_records(tmp_path / "r.json", [dataset(9), dataset(10)])
    subprocess.run([str(PORTAL), "records", "load", str(records)], check=True, env=env, capture_output=True)
    # inside the data directory, by file:// URL: same keys and URIs as the storage path "ds"
    result = subprocess.run(
        [str(PORTAL), "ingest", "9", f"file://{data / 'ds'}"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1 and "bad file ds/noise.h5" in result.stderr
    # outside it, by absolute path: a local storage rooted there
    result = subprocess.run([str(PORTAL), "ingest", "10", str(outside)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    svc = services_of(make_app(data_dir=str(data)))
    inside = svc.catalog.get(9, include_drafts=True)
    assert [(f["key"], f["checksum"]) for f in inside.files] == [("nanoaod_000.parquet", adler(good))]
    elsewhere = svc.catalog.get(10, include_drafts=True)
    assert [f["key"] for f in elsewhere.files] == ["nanoaod_000.h5", "nanoaod_001.h5"]
    assert elsewhere.files[1]["uri"] == f"file://{outside / 'nanoaod_001.h5'}"
    assert elsewhere.metadata["distribution"]["number_events"] == 10_000


def test_ingest_command_refuses_unknown_targets_and_leaves_the_record(make_app, settings_dict, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_DATA_DIR": str(data),
    }
    records = write_records(tmp_path / "r.json", [dataset(11)])
    subprocess.run([str(PORTAL), "records", "load", str(records)], check=True, env=env, capture_output=True)
    for target, reason in (
        ("https://example.org/x", "only local paths, file:// and root:// URLs"),
        (str(tmp_path / "missing"), "no such file or directory"),
    ):
        result = subprocess.run([str(PORTAL), "ingest", "11", target], env=env, capture_output=True, text=True)
        assert result.returncode == 1 and reason in result.stderr and target in result.stderr
    svc = services_of(make_app(data_dir=str(data)))
    assert svc.catalog.get(11, include_drafts=True).files == []


def test_root_url_of_another_server_is_walked_there(served, tmp_path):
    from portal.files.ingest import Ingester, resolve_target
    from portal.storage.local import LocalStorage

    server, data = served
    storage, path = resolve_target(LocalStorage(tmp_path), f"{server.url}//data/ds")
    assert isinstance(storage, XRootDStorage) and path == "data/ds"
    report = Ingester(registered_formats()).ingest_path(storage, path)
    assert not report.errors and len(report.files) == 6
    for f in report.files:
        assert f.uri == f"{server.url}//{f.path}" and f.checksum == adler(data.parent / f.path)


def test_inspection_reads_root_urls_through_fsspec(served):
    inspect_path = registered_formats().inspect_path
    server, data = served
    for name, fmt in (("nanoaod_000.root", "root"), ("nanoaod_000.h5", "hdf5"), ("nanoaod_000.parquet", "parquet")):
        remote = inspect_path(f"{server.url}//data/ds/{name}")
        assert remote["format"] == fmt and remote["entries"] == 5000
        assert remote == inspect_path(str(data / "ds" / name))


def test_checksum_pass_memory_is_bounded(tmp_path):
    import tracemalloc

    from portal.files.ingest import scan
    from portal.storage.local import LocalStorage

    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        for _ in range(64):
            fh.write(os.urandom(1 << 20))
    tracemalloc.start()
    found = scan(LocalStorage(tmp_path), "big.bin")
    size, checksum = found.size, found.checksum
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert size == 64 << 20 and checksum == adler(big)
    assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB file"  # one 8 MiB block + small change
