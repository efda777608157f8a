"""Faults injected into real servers mid-flight.

- PostgreSQL stopped under a running portal: reads and writes answer 503 problem+json with Retry-After (never
  a 500), nothing is half-written, and once the server is back the same app serves again without a restart.
- The disk filling up while `portal ingest --write-index` writes a file index: a real, tiny tmpfs mounted here
  (root only; the test skips elsewhere, saying so) - a clean error naming the index, no .part left behind, no
  file row in the catalogue.

(A Dask worker killed mid-analysis: test_processing.py. XRootD killed mid-download and mid-analysis, and a
JupyterHub going down: test_faults_servers.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.app import create_app, services_of
from portal.db.models import File, Record
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.postgres import private_postgres
from tests.support.users import bearer, token_for

PORTAL = Path(sys.executable).parent / "portal"


def test_postgresql_down_gives_503_with_retry_after_and_the_portal_recovers(tmp_path):
    with private_postgres() as server:
        app = create_app({"database_url": server.url, "var_dir": str(tmp_path / "var"), "stats_enabled": False})
        svc = services_of(app)
        load_file(svc, write_records(tmp_path / "r.json", [dataset(7)]))
        client = app.test_client()
        curator = token_for(app, ["deposit:write", "curate"], username="cura", roles=["curator"])
        writer = {**bearer(curator), "Accept": "application/json"}
        assert client.get("/api/records/7").status_code == 200
        with svc.db.reader() as s:
            before = s.scalar(select(func.count()).select_from(Record))

        with svc.db.engine.connect() as conn:
            # The test server runs with synchronous_commit=off and stops "immediate" (a crash): without a
            # checkpoint it could lose the token just made, which is the test's doing, not the portal's.
            conn.exec_driver_sql("CHECKPOINT")
        server.stop()
        try:
            attempts = {
                "read API": client.get("/api/records/7"),
                "record page": client.get("/record/7", headers={"Accept": "text/html"}),
                "versions": client.get("/api/records/7/versions"),
                "new version": client.post("/api/records/7/versions", headers=writer),
                "draft edit": client.put("/api/records/7/draft", json={"metadata": dataset(7)}, headers=writer),
            }
            for what, response in attempts.items():
                assert response.status_code == 503, (what, response.status_code, response.data[:300])
                assert response.headers.get("Retry-After"), what
            assert attempts["read API"].mimetype == "application/problem+json"
            assert "retry" in attempts["read API"].get_json()["detail"]
            assert "text/html" in attempts["record page"].content_type
            assert client.get("/healthz").status_code == 200
        finally:
            server.start()

        # The same app, not rebuilt: its pool replaces the dead connections.
        assert client.get("/api/records/7").status_code == 200
        assert client.get("/record/7").status_code == 200
        with svc.db.reader() as s:
            assert s.scalar(select(func.count()).select_from(Record)) == before  # nothing half-written
        created = client.post("/api/records/7/versions", headers=writer)
        assert created.status_code == 201, created.data[:300]
        svc.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (a real filesystem that fills up); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the disk-full test did not run")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_writing_a_file_index_leaves_nothing_behind(small_disk, settings_dict, make_app, tmp_path):
    folder = small_disk / "ds"
    folder.mkdir()
    # Many small files with long names: their index (a JSON and a text file) needs far more than what is left.
    for n in range(150):
        (folder / f"{'run2012_dimuon_selection_' * 4}{n:05d}.txt").write_text(f"{n}\n")
    filler = small_disk / "filler"
    with filler.open("wb") as fh:  # take all but ~8 kB of what is left
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        fh.write(b"\0" * max(0, free - 8192))
    before = sorted(p.name for p in folder.iterdir())
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_DATA_DIR": str(small_disk),
    }
    records = write_records(tmp_path / "r.json", [dataset(8)])
    subprocess.run([str(PORTAL), "records", "load", str(records)], check=True, env=env, capture_output=True)
    done = subprocess.run(
        [str(PORTAL), "ingest", "8", "ds", "--write-index", "CMS_full"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, (done.stdout, done.stderr[-800:])
    assert "Traceback" not in done.stderr, done.stderr[-800:]
    assert "CMS_full_file_index" in done.stderr and "No space left" in done.stderr, done.stderr[-800:]
    assert sorted(p.name for p in folder.iterdir()) == before  # no .part, no half index
    app = make_app(data_dir=str(small_disk))
    with services_of(app).db.reader() as s:
        assert s.scalar(select(func.count()).select_from(File).where(File.recid == 8)) == 0
    # With room again, the same command succeeds.
    filler.unlink()
    again = subprocess.run(
        [str(PORTAL), "ingest", "8", "ds", "--write-index", "CMS_full"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr[-800:]
    assert (folder / "CMS_full_file_index.json").is_file()
