"""Backup and restore as docs/operations.md describes them, on PostgreSQL: pg_dump of the database and a copy
of the storage directory; the database dropped and the storage wiped; pg_restore and the copy put back; the
records, their DOIs and their files (byte-exact, through the download route) are back."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from sqlalchemy.engine import make_url

from portal.app import create_app, services_of
from portal.demo.generate import generate
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.postgres import _pg_bin, reset_database


def test_dump_drop_restore_brings_records_and_files_back(postgres_url, tmp_path):
    bindir = _pg_bin()
    if bindir is None or not (bindir / "pg_dump").exists():
        pytest.skip("pg_dump/pg_restore not installed")
    reset_database(postgres_url)
    settings = {
        "database_url": postgres_url,
        "var_dir": str(tmp_path / "var"),
        "data_dir": str(tmp_path / "data"),
        "base_url": "http://portal.test",
        "stats_enabled": False,
    }
    app = create_app(settings)
    svc = services_of(app)
    generate("tiny", tmp_path / "data" / "ds", formats=("csv", "parquet"))
    load_file(svc, write_records(tmp_path / "r.json", [dataset(9), dataset(10)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(9, report.file_rows("ds"), report.distribution())
    before = {r: svc.catalog.get(r) for r in (9, 10)}
    keys = [row["key"] for row in svc.catalog.find_files(9, size=100)[0]]
    originals = {k: app.test_client().get(f"/record/9/files/{k}").data for k in keys}
    svc.close()

    # Backup: the database (custom format) and the storage directory.
    url = make_url(postgres_url)
    conn = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    dump = tmp_path / "backup" / "portal.dump"
    dump.parent.mkdir()
    subprocess.run([str(bindir / "pg_dump"), *conn, "-Fc", "-f", str(dump), url.database or "portal"], check=True)
    shutil.copytree(tmp_path / "data", tmp_path / "backup" / "data")

    # Disaster: every table dropped, the storage gone.
    reset_database(postgres_url)
    shutil.rmtree(tmp_path / "data")

    # Restore: into the emptied database (no owner/ACL statements, so any role may restore), storage copied back.
    subprocess.run(
        [str(bindir / "pg_restore"), *conn, "--no-owner", "--exit-on-error", "-d", url.database or "portal", str(dump)],
        check=True,
    )
    shutil.copytree(tmp_path / "backup" / "data", tmp_path / "data")

    restored = create_app(settings)
    rsvc = services_of(restored)
    for recid, view in before.items():
        again = rsvc.catalog.get(recid)
        assert (again.doi, again.metadata, again.files) == (view.doi, view.metadata, view.files)
    client = restored.test_client()
    for key, raw in originals.items():
        response = client.get(f"/record/9/files/{key}")
        assert response.status_code == 200 and response.data == raw
    assert rsvc.preservation.audit_files().ok  # every file matches its catalogued size and checksum
    assert client.get("/api/records?q=Dataset").get_json()["hits"]["total"] == 2  # the search index came back
