"""The `xrootd` upload store against a real XRootD server (writable export), on SQLite and PostgreSQL: a deposit's
bytes are written with the XRootD client, resumed by tus, placed into the catalogue's storage on publication and
removed from the store; `uploads clean` lists and removes partial uploads over XRootD."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest
from tusclient import client as tus

from portal.app import services_of
from portal.storage.server import XRootDServer
from tests.support.live import live_server
from tests.support.users import bearer, token_for
from tests.support.xrootd import require_xrootd, served_tempdir


@pytest.fixture(scope="module")
def xrootd_uploads():
    require_xrootd()
    top = served_tempdir()
    uploads = top / "uploads"
    uploads.mkdir()
    user = pwd.getpwnam("xrootd")
    os.chown(uploads, user.pw_uid, user.pw_gid)  # the server drops root: the store's directory is its to write
    state = Path(tempfile.mkdtemp(prefix="xrd-state-"))
    server = XRootDServer(localroot=top, export="uploads", state_dir=state, read_only=False).start()
    try:
        yield server, uploads
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def app_settings(tmp_path, xrootd_uploads):
    server, _uploads = xrootd_uploads
    return {
        "deposit_owners_publish": True,
        "data_dir": str(tmp_path / "data"),
        "upload_store": "xrootd",
        "upload_xrootd_url": f"{server.url}//uploads",
    }


def test_deposit_through_the_xrootd_upload_store(app, xrootd_uploads, tmp_path):
    _server, uploads = xrootd_uploads
    svc = services_of(app)
    assert svc.deposit.store.name == "xrootd"
    auth = bearer(token_for(app, ["deposit:write", "deposit:publish"], username="alice"))
    client = app.test_client()
    body = {
        "metadata": {
            "title": "Over XRootD",
            "type": {"primary": "Dataset"},
            "experiment": ["CMS"],
            "date_published": "2026-12-01",
        }
    }
    recid = client.post("/api/records", json=body, headers=auth).get_json()["id"]
    small = b"run,mass\n1,91.2\n"
    assert client.post(f"/api/records/{recid}/draft/files", json=[{"key": "a.csv"}], headers=auth).status_code == 201
    assert client.put(f"/api/records/{recid}/draft/files/a.csv/content", data=small, headers=auth).status_code == 200
    assert client.post(f"/api/records/{recid}/draft/files/a.csv/commit", headers=auth).status_code == 200

    data = os.urandom(3 * 1024 * 1024 + 5)
    source = tmp_path / "b.bin"
    source.write_bytes(data)
    with live_server(app) as url:
        uploader = tus.TusClient(f"{url}/api/uploads/", headers=auth).uploader(
            str(source), chunk_size=1024 * 1024, metadata={"record": str(recid), "filename": "b.bin"}
        )
        uploader.upload(stop_at=1024 * 1024)
        # the partial bytes are on the XRootD server's disk
        assert sorted(p.stat().st_size for p in uploads.iterdir()) == [len(small), 1024 * 1024]
        tus.TusClient(f"{url}/api/uploads/", headers=auth).uploader(
            str(source), chunk_size=1024 * 1024, url=uploader.url
        ).upload()
    entry = client.get(f"/api/records/{recid}/draft/files/b.bin", headers=auth).get_json()
    assert entry["status"] == "completed" and entry["checksums"]["sha256"] == hashlib.sha256(data).hexdigest()

    assert client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth).status_code == 202
    stored = {
        f["key"]: Path(f["uri"].removeprefix("file://"))
        for f in client.get(f"/api/records/{recid}").get_json()["metadata"]["files"]
    }
    assert stored["a.csv"].read_bytes() == small and stored["b.bin"].read_bytes() == data
    assert list(uploads.iterdir()) == []  # published: nothing left in the upload store

    # an abandoned partial upload over XRootD is cleaned
    second = client.post("/api/records", json=body, headers=auth).get_json()["id"]
    client.post(f"/api/records/{second}/draft/files", json=[{"key": "half.bin"}], headers=auth)
    client.put(f"/api/records/{second}/draft/files/half.bin/content", data=b"h" * 100, headers=auth)
    assert [p.stat().st_size for p in uploads.iterdir()] == [100]
    report = svc.deposit.clean(older_than_seconds=0)
    assert (report.rows, report.bytes) == (1, 100)
    assert list(uploads.iterdir()) == []
