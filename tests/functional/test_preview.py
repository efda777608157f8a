"""Data preview: structure, first rows and histograms for ROOT, Parquet, HDF5 and CSV files."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from portal.app import services_of
from portal.demo.generate import generate
from tests.functional.catalog_helpers import dataset, load_file, write_records


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data")}


@pytest.fixture
def app(app, tmp_path):
    data = tmp_path / "data"
    generate("tiny", data / "ds")
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(3)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(3, report.file_rows("ds"), report.distribution())
    app.config["data"] = data / "ds"
    return app


@pytest.mark.parametrize(
    ("key", "fmt", "column"),
    [
        ("nanoaod_000.root", "root", "Muon_pt"),
        ("nanoaod_000.parquet", "parquet", "Muon_pt"),
        ("nanoaod_000.h5", "hdf5", "Events/Muon_pt"),
        ("dimuon_pairs.csv", "csv", "pt1"),
    ],
)
def test_preview_and_histogram_of_every_format(app, key, fmt, column):
    client = app.test_client()
    body = client.get(f"/api/records/3/preview?key={key}&rows=3").get_json()
    assert body["format"] == fmt and column in body["columns"] and len(body["rows"]) == 3
    hist = client.get(f"/api/records/3/histogram?key={key}&column={column}&bins=20&range=0,100").get_json()
    assert len(hist["counts"]) == 20 and sum(hist["counts"]) + hist["overflow"] + hist["underflow"] == hist["entries"]
    assert hist["entries"] > 0
    png = client.get(f"/api/records/3/histogram?key={key}&column={column}&format=png")
    assert png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"
    page = client.get(f"/record/3/preview?key={key}")
    assert page.status_code == 200 and b"First rows" in page.data and b"<img" in page.data


def test_root_histogram_counts_match_a_direct_read(app):
    values = ak.to_numpy(ak.flatten(uproot.open(app.config["data"] / "nanoaod_000.root")["Events"]["Muon_pt"].array()))
    expected, _ = np.histogram(values, bins=10, range=(0, 50))
    hist = app.test_client().get("/api/records/3/histogram?key=nanoaod_000.root&column=Muon_pt&bins=10&range=0,50")
    assert hist.get_json()["counts"] == expected.tolist()


def test_bad_preview_requests(app):
    client = app.test_client()
    assert client.get("/api/records/3/preview").get_json()["field"] == "key"
    assert client.get("/api/records/3/preview?key=nanoaod_000.root&rows=0").status_code == 400
    bad = client.get("/api/records/3/histogram?key=nanoaod_000.root&column=nope")
    assert bad.status_code == 400 and "nope" in bad.get_json()["detail"]
    assert client.get("/api/records/3/histogram?key=dimuon_pairs.csv&column=M&range=5").status_code == 400
    assert client.get("/api/records/3/histogram?key=dimuon_pairs.csv&column=M&range=9,1").status_code == 400
    assert client.get("/api/records/3/histogram?key=dimuon_pairs.csv&column=M&format=gif").status_code == 400
