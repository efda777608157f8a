"""HTTP file access: full, ranged, resumed, conditional and bad-range downloads, byte-exact; file-index
documents; zip packs with a verifiable manifest; download statistics under concurrency."""

from __future__ import annotations

import io
import json
import threading
import zipfile
import zlib

import pytest
import requests

from portal.app import services_of
from portal.demo.generate import generate
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.live import live_server

KEY = "nanoaod_000.root"


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "stats_flush_interval": 0.05}


@pytest.fixture
def app(app, tmp_path):
    data = tmp_path / "data"
    generate("tiny", data / "ds", formats=("root", "csv"))
    svc = services_of(app)
    index_entries = [
        {"uri": f"root://eospublic.cern.ch//eos/x/{i}.root", "size": i, "checksum": "adler32:00000001"}
        for i in range(3)
    ]
    load_file(
        svc,
        write_records(
            tmp_path / "r.json",
            [
                dataset(9),
                dataset(
                    10,
                    file_indices=[{"key": "CMS_x_file_index", "files": index_entries}],
                    files=[{"uri": "root://eospublic.cern.ch//eos/opendata/elsewhere.root", "size": 5}],
                ),
            ],
        ),
    )
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(9, report.file_rows("ds"), report.distribution())
    app.config["raw"] = (data / "ds" / KEY).read_bytes()
    return app


def test_full_download_is_byte_exact_with_validators(app):
    raw = app.config["raw"]
    resp = app.test_client().get(f"/record/9/files/{KEY}")
    assert resp.status_code == 200 and resp.data == raw
    assert resp.headers["Accept-Ranges"] == "bytes" and int(resp.headers["Content-Length"]) == len(raw)
    assert resp.headers["ETag"].startswith('"adler32-') and "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Digest"] == f"adler32={zlib.adler32(raw) & 0xFFFFFFFF:08x}"


def test_ranges_resume_and_bad_ranges(app):
    raw = app.config["raw"]
    client = app.test_client()
    part = client.get(f"/record/9/files/{KEY}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == raw[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(raw)}"
    # an interrupted download resumed from where it stopped
    first = client.get(f"/record/9/files/{KEY}", headers={"Range": "bytes=0-9999"}).data
    rest = client.get(f"/record/9/files/{KEY}", headers={"Range": f"bytes={len(first)}-"})
    assert rest.status_code == 206 and first + rest.data == raw
    suffix = client.get(f"/record/9/files/{KEY}", headers={"Range": "bytes=-10"})
    assert suffix.data == raw[-10:]
    bad = client.get(f"/record/9/files/{KEY}", headers={"Range": f"bytes={len(raw) + 10}-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{len(raw)}"


def test_conditional_requests_and_head(app):
    client = app.test_client()
    etag = client.head(f"/record/9/files/{KEY}").headers["ETag"]
    head = client.head(f"/record/9/files/{KEY}")
    assert head.status_code == 200 and head.data == b"" and int(head.headers["Content-Length"]) > 0
    assert client.get(f"/record/9/files/{KEY}", headers={"If-None-Match": etag}).status_code == 304
    same = client.get(f"/record/9/files/{KEY}", headers={"Range": "bytes=0-3", "If-Range": etag})
    assert same.status_code == 206 and same.data == b"root"
    changed = client.get(f"/record/9/files/{KEY}", headers={"Range": "bytes=0-3", "If-Range": '"other"'})
    assert changed.status_code == 200 and changed.data == app.config["raw"]


def test_files_the_portal_does_not_hold(app):
    client = app.test_client()
    resp = client.get("/record/10/files/elsewhere.root", headers={"Accept": "application/json"})
    assert resp.status_code == 404 and "root://eospublic.cern.ch" in resp.get_json()["detail"]
    page = client.get("/record/10/files/elsewhere.root", headers={"Accept": "text/html"})
    assert page.status_code == 404 and b"root://eospublic.cern.ch" in page.data
    assert client.get("/record/9/files/missing.root").status_code == 404


def test_file_index_documents(app):
    client = app.test_client()
    body = client.get("/record/10/file_index/CMS_x_file_index.json")
    assert body.mimetype == "application/json"
    entries = json.loads(body.data)
    assert [e["uri"] for e in entries] == [f"root://eospublic.cern.ch//eos/x/{i}.root" for i in range(3)]
    assert set(entries[0]) == {"checksum", "filename", "size", "uri"}
    text = client.get("/record/10/file_index/CMS_x_file_index.txt").data.decode()
    assert text.splitlines() == [e["uri"] for e in entries]
    assert client.get("/record/10/file_index/nope.json").status_code == 404


def test_pack_zip_with_manifest_and_size_up_front(app):
    client = app.test_client()
    info = client.get("/api/records/9/pack?glob=*.root").get_json()
    assert info["files"] == 2
    resp = client.get("/record/9/pack.zip?glob=*.root")
    assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == info["size"] == len(resp.data)
    archive = zipfile.ZipFile(io.BytesIO(resp.data))
    manifest = archive.read("MANIFEST").decode().splitlines()[1:]
    assert len(manifest) == 2
    for line in manifest:
        size, checksum, name = line.split("  ")
        content = archive.read(name)
        assert len(content) == int(size) and checksum == f"adler32:{zlib.adler32(content) & 0xFFFFFFFF:08x}"
    everything = client.get("/record/9/pack.zip")  # no selection: every direct file of the record
    assert everything.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(everything.data)).namelist()) >= 2
    assert client.get("/record/9/pack.zip?glob=*.root&index=x").status_code == 400  # more than one selection
    assert client.get("/record/9/pack.zip?glob=*.xyz").status_code == 404
    assert client.get("/record/10/pack.zip?index=CMS_x_file_index").status_code == 404  # not held here


def test_cursor_file_search(app):
    client = app.test_client()
    first = client.get("/api/records/9/files/search?q=*.root&size=1").get_json()
    assert [f["key"] for f in first["hits"]["hits"]] == ["nanoaod_000.root"] and first["next_cursor"] is not None
    second = client.get(f"/api/records/9/files/search?q=*.root&size=1&cursor={first['next_cursor']}").get_json()
    assert [f["key"] for f in second["hits"]["hits"]] == ["nanoaod_001.root"] and second["next_cursor"] is None
    assert client.get("/api/records/9/files/search?cursor=abc").status_code == 400


def test_file_list_api_takes_a_glob_and_a_cursor(app):
    client = app.test_client()
    first = client.get("/api/records/9/files?q=nanoaod_00%3F.root&size=1").get_json()
    assert [f["key"] for f in first["hits"]["hits"]] == ["nanoaod_000.root"]
    # The next link carries the glob and the cursor, quoted.
    assert "q=nanoaod_00%3F.root" in first["links"]["next"]
    second = client.get(first["links"]["next"]).get_json()
    assert [f["key"] for f in second["hits"]["hits"]] == ["nanoaod_001.root"] and second["next_cursor"] is None
    assert [f["key"] for f in client.get("/api/records/9/files?q=*.csv").get_json()["hits"]["hits"]] == [
        "dimuon_pairs.csv"
    ]
    bad = client.get("/api/records/9/files?q=*.root&cursor=abc")
    assert bad.status_code == 400 and "cursor" in bad.get_json()["detail"]
    assert "total" in client.get("/api/records/9/files?page=1&size=1").get_json()["hits"]  # pages unchanged


def test_parallel_downloads_are_all_counted(app):
    stats = services_of(app).stats
    n = 24
    with live_server(app) as url:

        def fetch(i: int) -> None:
            r = requests.get(f"{url}/record/9/files/{KEY}", headers={"User-Agent": f"Mozilla/5.0 Firefox/{i}"})
            assert r.status_code == 200 and r.content == app.config["raw"]

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stats.close()
    stats.aggregate()
    counted = stats.record_stats(9).version["download"]
    assert counted.events == n and counted.volume == n * len(app.config["raw"])
