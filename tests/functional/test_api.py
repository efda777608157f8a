"""The CERN-compatible JSON API, file listings and cernopendata-client against a running portal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portal.app import services_of
from portal.catalog.importers import IndexLocator, read_record_file
from tests.conftest import CORPUS
from tests.support.live import live_server

INDEX_NAME = "CMS_Commissioning10_MinimumBias_RECO_07JunReReco_900GeV_0000_file_index"
CLIENT = Path(sys.executable).parent / "cernopendata-client"


def indexed_record(recid: int = 4242) -> dict:
    base = "root://eospublic.cern.ch//eos/opendata/cms/Commissioning10/MinimumBias/RECO/file-indexes/"
    return {
        "recid": str(recid),
        "title": "/MinimumBias/Commissioning10-07JunReReco_900GeV/RECO",
        "type": {"primary": "Dataset", "secondary": ["Collision"]},
        "experiment": ["CMS"],
        "date_published": "2014",
        "doi": "10.7483/OPENDATA.CMS.TEST.0001",
        "files": [
            {"type": "index.json", "uri": base + INDEX_NAME + ".json", "size": 100, "checksum": "adler32:00000001"},
            {"type": "index.txt", "uri": base + INDEX_NAME + ".txt", "size": 50, "checksum": "adler32:00000002"},
            {
                "uri": "root://eospublic.cern.ch//eos/opendata/cms/readme.txt",
                "size": 12,
                "checksum": "adler32:0000000c",
            },
        ],
    }


@pytest.fixture
def app(app, tmp_path):
    path = tmp_path / "indexed.json"
    path.write_text(json.dumps([indexed_record()]))
    services_of(app).catalog.load(read_record_file(path, IndexLocator(CORPUS / "file-indexes")))
    return app


def index_entries() -> list[dict]:
    return json.loads((CORPUS / "file-indexes" / f"{INDEX_NAME}.json").read_text())


def test_record_json_has_the_cern_shape_with_expanded_indices(app):
    body = json.loads(app.test_client().get("/api/records/4242").get_data())
    assert body["id"] == 4242 and set(body) >= {"id", "metadata", "links"}
    assert body["created"].endswith("Z") and body["updated"] >= body["created"]
    md = body["metadata"]
    assert md["recid"] == "4242" and md["doi"] == "10.7483/opendata.cms.test.0001"
    assert [f["uri"] for f in md["files"]] == ["root://eospublic.cern.ch//eos/opendata/cms/readme.txt"]
    [index] = md["_file_indices"]
    entries = index_entries()
    assert index["key"] == INDEX_NAME and index["number_files"] == len(entries)
    assert index["size"] == sum(e["size"] for e in entries)
    assert [f["uri"] for f in index["files"]] == [e["uri"] for e in entries]
    assert index["files"][0]["checksum"] == entries[0]["checksum"]


def test_lighter_responses_on_request(app):
    client = app.test_client()
    summary = client.get("/api/records/4242?file_indices=summary").get_json()
    assert "files" not in summary["metadata"]["_file_indices"][0]
    skipped = client.get("/api/records/4242?skip_files=1").get_json()
    assert "files" not in skipped["metadata"] and "_file_indices" not in skipped["metadata"]
    bad = client.get("/api/records/4242?file_indices=all")
    assert bad.status_code == 400 and "file_indices" in bad.get_json()["detail"]


def test_file_pages(app):
    client = app.test_client()
    entries = index_entries()
    first = client.get(f"/api/records/4242/files?index={INDEX_NAME}&page=1&size=3").get_json()
    assert first["hits"]["total"] == len(entries)
    assert [f["uri"] for f in first["hits"]["hits"]] == [e["uri"] for e in entries[:3]]
    last_page = -(-len(entries) // 3)
    last = client.get(first["links"]["last"].replace("http://portal.test", "")).get_json()
    assert [f["uri"] for f in last["hits"]["hits"]] == [e["uri"] for e in entries[(last_page - 1) * 3 :]]
    assert "next" not in last["links"] and "prev" in last["links"]
    assert client.get("/api/records/4242/files?index=nope").status_code == 404
    bad = client.get("/api/records/4242/files?size=0")
    assert bad.status_code == 400 and bad.get_json()["field"] == "size"


def test_lookups_and_errors(app):
    client = app.test_client()
    hits = client.get('/api/records?page=1&size=1&q=doi:"10.7483/OPENDATA.CMS.TEST.0001"').get_json()["hits"]
    assert hits["total"] == 1 and hits["hits"][0]["id"] == 4242 and "files" not in hits["hits"][0]["metadata"]
    title = "/MinimumBias/Commissioning10-07JunReReco_900GeV/RECO"
    assert client.get(f'/api/records?q=title:"{title}"').get_json()["hits"]["total"] == 1
    assert client.get('/api/records?q=doi:"10.1234/none"').get_json()["hits"]["total"] == 0
    assert client.get('/api/records?q=doi:"not-a-doi"').status_code == 400
    missing = client.get("/api/records/1")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert missing.get_json()["title"] == "Not found" and "1" in missing.get_json()["detail"]
    assert client.get("/record/4242").status_code == 200
    page = client.get("/record/1", headers={"Accept": "text/html"})
    assert page.status_code == 404 and b"Back to the portal" in page.data
    assert client.get("/api/records/abc").status_code == 404


@pytest.mark.skipif(not CLIENT.exists(), reason="cernopendata-client not installed")
def test_cernopendata_client_works_unchanged(app):
    with live_server(app) as url:
        meta = subprocess.run(
            [str(CLIENT), "get-metadata", "--recid", "4242", "--server", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert meta.returncode == 0, meta.stderr
        assert json.loads(meta.stdout)["doi"] == "10.7483/opendata.cms.test.0001"
        by_doi = subprocess.run(
            [
                str(CLIENT),
                "get-metadata",
                "--doi",
                "10.7483/OPENDATA.CMS.TEST.0001",
                "--server",
                url,
                "--output-value",
                "recid",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert by_doi.returncode == 0 and by_doi.stdout.strip() == "4242", by_doi.stderr
        locations = subprocess.run(
            [str(CLIENT), "get-file-locations", "--recid", "4242", "--protocol", "xrootd", "--server", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert locations.returncode == 0, locations.stderr
        lines = locations.stdout.split()
        expected = [e["uri"] for e in index_entries()]
        assert lines == ["root://eospublic.cern.ch//eos/opendata/cms/readme.txt", *expected]
        verbose = subprocess.run(
            [
                str(CLIENT),
                "get-file-locations",
                "--recid",
                "4242",
                "--protocol",
                "xrootd",
                "--server",
                url,
                "--verbose",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert index_entries()[0]["checksum"] in verbose.stdout
