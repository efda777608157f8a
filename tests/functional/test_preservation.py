"""Preservation on both databases: fixity audits (a flipped byte, a deleted file, an unexpected file), BagIt
bags that the bagit library's own validator accepts, and tombstones of removed records (410 page and API with
the citation, no files, out of search, deleted in OAI-PMH, the DOI still resolving)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from portal.app import services_of
from portal.demo.generate import generate
from portal.identity.principal import COMMAND_LINE
from portal.web.openapi import document
from tests.functional.catalog_helpers import dataset, load_file, write_records

BIN = Path(sys.executable).parent
OAI = "{http://www.openarchives.org/OAI/2.0/}"


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "stats_enabled": False}


@pytest.fixture
def app(app, tmp_path):
    """Record 9 with the tiny CSV sample ingested into it (stored in the data directory); record 10 with only
    a remote file (CERN's storage)."""
    generate("tiny", tmp_path / "data" / "ds", formats=("csv", "parquet"))
    svc = services_of(app)
    load_file(
        svc,
        write_records(
            tmp_path / "r.json",
            [
                dataset(9, authors=[{"name": "Curie, Marie"}], abstract={"description": "Dimuon pairs."}),
                dataset(10, files=[{"uri": "root://eospublic.cern.ch//eos/opendata/x.root", "size": 5}]),
            ],
        ),
    )
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(9, report.file_rows("ds"), report.distribution())
    return app


def stored(app) -> list[Path]:
    data = Path(services_of(app).settings.data_dir)
    return sorted(p for p in data.rglob("*") if p.is_file())


# ------------------------------------------------------------------ fixity
def test_a_clean_storage_audits_clean_and_the_report_is_kept(app):
    svc = services_of(app)
    report = svc.preservation.audit_files()
    assert report.ok and report.files_checked == len(stored(app)) >= 1
    assert report.bytes_read == sum(p.stat().st_size for p in stored(app))
    assert report.skipped_remote == 1  # record 10's file is CERN's to check
    latest = json.loads((Path(svc.settings.var_dir) / "audits" / "latest.json").read_text())
    assert latest["ok"] is True and latest["files_checked"] == report.files_checked


def test_flipped_byte_missing_file_and_unexpected_file_are_reported_and_alerted(app, caplog):
    svc = services_of(app)
    flipped, deleted, *_ = stored(app)
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # same size: only the checksum can tell
    flipped.write_bytes(bytes(raw))
    extra = flipped.parent / "stray.bin"
    extra.write_bytes(b"not catalogued")
    deleted.unlink()
    data = Path(svc.settings.data_dir)
    with caplog.at_level("WARNING", logger="portal.preservation.alerts"):
        report = svc.preservation.audit_files()
    kinds = {f.path: f.kind for f in report.findings}
    assert kinds[flipped.relative_to(data).as_posix()] == "mismatch"
    assert kinds[extra.relative_to(data).as_posix()] == "unexpected"
    assert kinds[deleted.relative_to(data).as_posix()] == "missing"
    [mismatch] = [f for f in report.findings if f.kind == "mismatch"]
    assert "adler32" in mismatch.detail and mismatch.files[0][0] == 9
    assert sum("fixity" in r.getMessage() for r in caplog.records) == len(report.findings)
    latest = json.loads((Path(svc.settings.var_dir) / "audits" / "latest.json").read_text())
    assert latest["ok"] is False and len(latest["findings"]) == len(report.findings)
    # Scoped to one record: its own files, no walk of the whole storage for unexpected ones.
    scoped = svc.preservation.audit_files(recid=9)
    assert {f.kind for f in scoped.findings} <= {"mismatch", "missing"} and scoped.findings


def test_a_recorded_sha256_is_checked_too(app):
    svc = services_of(app)
    from sqlalchemy import update

    from portal.db.models import File

    with svc.db.transaction() as s:  # as a record that catalogued its files by SHA-256 would be
        s.execute(update(File).where(File.recid == 9).values(checksum="sha256:" + "0" * 64))
    report = svc.preservation.audit_files(recid=9)
    assert report.findings and all("sha256" in f.detail for f in report.findings)


def test_the_audit_command_exits_non_zero_on_problems(app, settings_dict, tmp_path):
    svc = services_of(app)
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": svc.settings.var_dir,
        "PORTAL_DATA_DIR": svc.settings.data_dir,
    }
    ok = subprocess.run(
        [str(BIN / "portal"), "files", "audit", "--rate", "100"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert "0 problem(s)" in ok.stdout
    stored(app)[0].unlink()
    bad = subprocess.run(
        [str(BIN / "portal"), "files", "audit", "--recid", "9"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1 and "missing" in bad.stdout
    unknown = subprocess.run(
        [str(BIN / "portal"), "files", "audit", "--recid", "77"], capture_output=True, text=True, env=env
    )
    assert unknown.returncode == 1 and "77" in unknown.stderr


def test_the_scheduled_audit_runs_and_writes_its_report(app):
    from portal.preservation.fixity import PeriodicAudit

    svc = services_of(app)
    latest = Path(svc.settings.var_dir) / "audits" / "latest.json"
    periodic = PeriodicAudit(svc.preservation.fixity, 0.05).start()
    try:
        for _ in range(200):
            if periodic.runs:
                break
            periodic._stop.wait(0.05)
    finally:
        periodic.stop()
    assert periodic.runs >= 1 and json.loads(latest.read_text())["ok"] is True


# -------------------------------------------------------------------- BagIt
def validate(bag: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bagit.py"), "--validate", str(bag)], capture_output=True, text=True, timeout=120)


def test_a_bag_of_a_published_version_validates_with_bagit(app, tmp_path):
    svc = services_of(app)
    out = tmp_path / "bags" / "nine"
    result = svc.preservation.bag(9, out)
    checked = validate(out)
    assert checked.returncode == 0, checked.stderr
    payload = sorted(p.relative_to(out / "data").as_posix() for p in (out / "data").rglob("*") if p.is_file())
    data = Path(svc.settings.data_dir) / "ds"
    assert payload == sorted(p.relative_to(data).as_posix() for p in stored(app))  # data/<key>
    assert result.payload_files == len(payload) >= 2
    for rel in payload:  # byte-exact payload
        assert (out / "data" / rel).read_bytes() == (data / rel).read_bytes()
    info = (out / "bag-info.txt").read_text()
    view = svc.catalog.get(9)
    assert f"External-Identifier: doi:{view.doi}" in info and "Title: Dataset 9" in info
    assert "Creator: Curie, Marie" in info and "Version: " in info
    assert (out / "manifest-sha256.txt").exists() and (out / "manifest-sha512.txt").exists()
    record = json.loads((out / "metadata" / "record.json").read_text())
    assert record["metadata"]["recid"] == "9"
    assert view.doi in (out / "metadata" / "datacite.xml").read_text()
    tags = (out / "tagmanifest-sha256.txt").read_text()
    assert "metadata/record.json" in tags and "metadata/datacite.xml" in tags
    # A damaged payload is caught by the validator.
    victim = next((out / "data").rglob("*.csv"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"#")
    assert validate(out).returncode != 0


def test_a_bag_refuses_damaged_files_and_existing_targets(app, tmp_path):
    from portal.errors import Conflict, Invalid

    svc = services_of(app)
    (tmp_path / "there").mkdir()
    with pytest.raises(Invalid):
        svc.preservation.bag(9, tmp_path / "there")
    first = stored(app)[0]
    first.write_bytes(first.read_bytes() + b"x")
    with pytest.raises(Conflict, match="audit"):
        svc.preservation.bag(9, tmp_path / "damaged")
    assert not (tmp_path / "damaged").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".damaged")]


def test_remote_files_are_listed_not_packed(app, tmp_path):
    out = tmp_path / "ten"
    result = services_of(app).preservation.bag(10, out)
    assert result.payload_files == 0 and result.remote_files == 1
    assert "eospublic" in (out / "metadata" / "remote-files.tsv").read_text()
    assert validate(out).returncode == 0


def test_the_bag_over_http_is_a_zip_of_a_valid_bag(app, tmp_path):
    response = app.test_client().get("/record/9/export/bagit")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert int(response.headers["Content-Length"]) == len(response.data)
    zipfile.ZipFile(io.BytesIO(response.data)).extractall(tmp_path / "unzipped")
    checked = validate(tmp_path / "unzipped" / "record-9-bag")
    assert checked.returncode == 0, checked.stderr
    too_big = services_of(app).preservation.bags.zipped
    with pytest.raises(Exception, match="records bag"):
        too_big(9, max_bytes=1)


# --------------------------------------------------------------- tombstones
def test_a_removed_record_leaves_a_tombstone(app):
    svc = services_of(app)
    client = app.test_client()
    view = svc.catalog.get(9)
    key = svc.catalog.find_files(9, size=1)[0][0]["key"]
    assert client.get(f"/record/9/files/{key}").status_code == 200
    citation = svc.preservation.remove(9, "Retracted: calibration error", COMMAND_LINE)
    assert "Dataset 9" in citation

    api = client.get("/api/records/9")
    assert api.status_code == 410 and api.mimetype == "application/problem+json"
    problem = api.get_json()
    assert problem["reason"] == "Retracted: calibration error" and problem["citation"] == citation
    assert problem["doi"] == view.doi and problem["removed_at"].endswith("Z")
    jsonschema.validate(problem, document()["components"]["schemas"]["Problem"])  # as the OpenAPI says
    assert "410" in document()["paths"]["/api/records/{recid}"]["get"]["responses"]

    page = client.get("/record/9", headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and "Retracted: calibration error" in html and "Dataset 9" in html

    assert client.get(f"/record/9/files/{key}").status_code == 410  # files no longer served
    assert client.get("/record/9/pack.zip?glob=*").status_code == 410
    assert client.get("/record/9/export/bagit").status_code == 410
    assert client.get(f"/record/{view.concept_recid}").status_code == 410  # its only version went

    doi = client.get(f"/doi/{view.doi}")
    assert doi.status_code == 410 and "Retracted" in doi.get_data(as_text=True)
    concept_doi = client.get(f"/doi/{view.concept_doi}", headers={"Accept": "application/json"})
    assert concept_doi.status_code == 410 and concept_doi.get_json()["record"] == 9

    hits = client.get("/api/records?q=Dataset").get_json()["hits"]["hits"]
    assert [h["id"] for h in hits] == [10]

    [entry] = svc.audit.entries(action="record.remove")
    assert entry.target == "9" and entry.detail == {"reason": "Retracted: calibration error"}

    # The operator may delete a removed record's bytes: the audit does not call them missing.
    for path in stored(app):
        path.unlink()
    assert svc.preservation.audit_files().ok


def test_a_removed_record_is_deleted_in_oai_pmh(app):
    svc = services_of(app)
    client = app.test_client()
    svc.preservation.remove(9, "Duplicate of record 10", COMMAND_LINE)

    def oai(query: str) -> etree._Element:
        return etree.fromstring(client.get(f"/oai2d?{query}").data)

    assert oai("verb=Identify").findtext(f".//{OAI}deletedRecord") == "persistent"
    headers = oai("verb=ListIdentifiers&metadataPrefix=oai_dc").findall(f".//{OAI}header")
    status = {h.findtext(f"{OAI}identifier").rsplit(":", 1)[1]: h.get("status") for h in headers}
    assert status["9"] == "deleted" and status["10"] is None
    records = oai("verb=ListRecords&metadataPrefix=oai_dc").findall(f".//{OAI}record")
    deleted = [r for r in records if r.find(f"{OAI}header").get("status") == "deleted"]
    assert len(deleted) == 1 and deleted[0].find(f"{OAI}metadata") is None
    identifier = svc.oai.identifier(9)
    got = oai(f"verb=GetRecord&metadataPrefix=oai_datacite&identifier={identifier}")
    assert got.find(f".//{OAI}header").get("status") == "deleted" and got.find(f".//{OAI}error") is None


def test_removal_needs_a_reason_and_a_published_version(app, tmp_path):
    from portal.errors import Conflict, Gone, Invalid

    svc = services_of(app)
    with pytest.raises(Invalid):
        svc.preservation.remove(9, "  ", COMMAND_LINE)
    draft = svc.catalog.new_version(9)
    with pytest.raises(Conflict):
        svc.preservation.remove(draft.recid, "no", COMMAND_LINE)
    svc.preservation.remove(9, "gone", COMMAND_LINE)
    with pytest.raises(Gone):
        svc.preservation.remove(9, "again", COMMAND_LINE)
    with pytest.raises(Gone):  # never published again
        svc.catalog.publish(9)
    with pytest.raises(Conflict, match="removed"):  # nor loaded back over its tombstone
        load_file(svc, write_records(tmp_path / "again.json", [dataset(9, title="Back")]))


def test_the_bag_and_remove_commands(app, settings_dict, tmp_path):
    # Two runs only: each command starts a Python process (errors are covered on the services above).
    svc = services_of(app)
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": svc.settings.var_dir,
        "PORTAL_DATA_DIR": svc.settings.data_dir,
    }

    def portal(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "portal"), "records", *args], capture_output=True, text=True, env=env)

    bagged = portal("bag", "9", str(tmp_path / "bag9"))
    assert bagged.returncode == 0 and "3 file(s)" in bagged.stdout, bagged.stderr
    assert validate(tmp_path / "bag9").returncode == 0
    removed = portal("remove", "9", "--reason", "Superseded by record 10")
    assert removed.returncode == 0 and "Dataset 9" in removed.stdout, removed.stderr
    assert app.test_client().get("/api/records/9").get_json()["reason"] == "Superseded by record 10"
