"""Resumable uploads by tus 1.0, driven by the `tuspy` client against the portal on a real socket (SQLite and
PostgreSQL): an upload stopped half-way resumes where it stopped and completes with matching checksums; a chunk with a
wrong declared checksum is refused (460) and leaves nothing; abandoned uploads are garbage-collected."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from tusclient import client as tus

from portal.app import services_of
from portal.cli import main as cli
from tests.support.live import live_server
from tests.support.users import bearer, token_for

WRITER = ["deposit:write", "deposit:publish"]


@pytest.fixture
def app_settings(tmp_path):
    return {"deposit_owners_publish": True, "data_dir": str(tmp_path / "data")}


def new_draft(client, auth) -> int:
    body = {
        "metadata": {
            "title": "Calibration constants",
            "type": {"primary": "Dataset", "secondary": ["Derived"]},
            "experiment": ["CMS"],
            "date_published": "2026-12-01",
        }
    }
    resp = client.post("/api/records", json=body, headers=auth)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return int(resp.get_json()["id"])


def test_a_stopped_upload_resumes_and_completes_with_matching_checksums(app, tmp_path):
    auth = bearer(token_for(app, WRITER, username="alice"))
    client = app.test_client()
    recid = new_draft(client, auth)
    data = os.urandom(5 * 1024 * 1024 + 123)
    source = tmp_path / "constants.bin"
    source.write_bytes(data)
    with live_server(app) as url:
        options = requests.options(f"{url}/api/uploads/")
        assert "checksum" in options.headers["Tus-Extension"] and "termination" in options.headers["Tus-Extension"]
        tus_client = tus.TusClient(f"{url}/api/uploads/", headers=auth)
        metadata = {"record": str(recid), "filename": "constants.bin"}
        first = tus_client.uploader(
            str(source), chunk_size=1024 * 1024, metadata=metadata, upload_checksum=True, store_url=False
        )
        first.upload(stop_at=2 * 1024 * 1024)  # the client stops half-way, as if killed
        assert first.url and first.offset == 2 * 1024 * 1024
        listed = client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"]
        assert [(e["key"], e["status"], e["received"]) for e in listed] == [
            ("constants.bin", "pending", 2 * 1024 * 1024)
        ]

        # a fresh client resumes from the server's offset (HEAD), not from the start
        resumed = tus_client.uploader(
            str(source), chunk_size=1024 * 1024, metadata=metadata, upload_checksum=True, url=first.url
        )
        assert resumed.get_offset() == 2 * 1024 * 1024
        resumed.upload()
        assert resumed.offset == len(data)

    entry = client.get(f"/api/records/{recid}/draft/files/constants.bin", headers=auth).get_json()
    assert entry["status"] == "completed" and entry["size"] == len(data)
    assert entry["checksums"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["checksum"] == "md5:" + hashlib.md5(data).hexdigest()
    assert entry["checksums"]["adler32"] == f"adler32:{zlib.adler32(data) & 0xFFFFFFFF:08x}"
    published = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth)
    assert published.status_code == 202, published.get_data(as_text=True)
    [row] = client.get(f"/api/records/{recid}").get_json()["metadata"]["files"]
    assert Path(row["uri"].removeprefix("file://")).read_bytes() == data


def test_a_wrong_checksum_is_refused_with_460_and_leaves_nothing(app, tmp_path):
    svc = services_of(app)
    auth = bearer(token_for(app, WRITER, username="alice"))
    client = app.test_client()
    recid = new_draft(client, auth)
    tus_headers = {**auth, "Tus-Resumable": "1.0.0"}
    meta = f"record {base64.b64encode(str(recid).encode()).decode()},filename {base64.b64encode(b'a.bin').decode()}"
    with live_server(app) as url:
        created = requests.post(
            f"{url}/api/uploads/", headers={**tus_headers, "Upload-Length": "6", "Upload-Metadata": meta}
        )
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        wrong = base64.b64encode(hashlib.sha1(b"other!").digest()).decode()
        patch = requests.patch(
            location,
            data=b"abcdef",
            headers={
                **tus_headers,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha1 {wrong}",
            },
        )
        assert patch.status_code == 460, patch.text
        assert patch.headers["Content-Type"] == "application/problem+json"
        assert patch.json()["field"] == "Upload-Checksum"
        head = requests.head(location, headers=tus_headers)
        assert head.headers["Upload-Offset"] == "0"  # the refused chunk left no byte
        upload_id = location.rsplit("/", 1)[1]
        assert svc.deposit.store.size(upload_id) == 0
        # without Tus-Resumable: 412; an offset that is not the upload's: 409
        assert requests.head(location, headers=auth).status_code == 412
        stale = requests.patch(
            location,
            data=b"def",
            headers={**tus_headers, "Upload-Offset": "3", "Content-Type": "application/offset+octet-stream"},
        )
        assert stale.status_code == 409 and stale.json()["field"] == "Upload-Offset"
        # someone else's upload is not theirs to touch
        bob = {**bearer(token_for(app, WRITER, username="bob")), "Tus-Resumable": "1.0.0"}
        assert requests.delete(location, headers=bob).status_code == 403
        # termination removes the upload, its row and its bytes
        assert requests.delete(location, headers=tus_headers).status_code == 204
        assert requests.head(location, headers=tus_headers).status_code == 404
    assert svc.catalog.get(recid, include_drafts=True).files == []
    assert client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"] == []
    assert not any(Path(svc.settings.upload_dir).iterdir())


def test_uploads_clean_removes_abandoned_partial_uploads(app, settings_dict, tmp_path):
    svc = services_of(app)
    auth = bearer(token_for(app, WRITER, username="alice"))
    client = app.test_client()
    recid = new_draft(client, auth)
    client.post(f"/api/records/{recid}/draft/files", json=[{"key": "left.bin"}, {"key": "kept.bin"}], headers=auth)
    client.put(f"/api/records/{recid}/draft/files/left.bin/content", data=b"x" * 1000, headers=auth)
    client.put(f"/api/records/{recid}/draft/files/kept.bin/content", data=b"y" * 10, headers=auth)
    client.post(f"/api/records/{recid}/draft/files/kept.bin/commit", headers=auth)
    orphan = Path(svc.settings.upload_dir) / ("0" * 32)
    orphan.write_bytes(b"z" * 5)  # bytes no upload names (a crash between the row and the bytes)

    env = {"PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": settings_dict["var_dir"]}
    fresh = CliRunner().invoke(cli, ["uploads", "clean", "--older-than", "1h"], env=env)
    assert fresh.exit_code == 0, fresh.output
    assert "removed 0 abandoned upload(s) and 0 orphan(s)" in fresh.output
    result = CliRunner().invoke(cli, ["uploads", "clean", "--older-than", "0s"], env=env)
    assert result.exit_code == 0, result.output
    assert "removed 1 abandoned upload(s) and 1 orphan(s): 1005 bytes freed" in result.output
    keys = [e["key"] for e in client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"]]
    assert keys == ["kept.bin"]  # a committed file of a draft is not abandoned
    assert sorted(p.name for p in Path(svc.settings.upload_dir).iterdir()) == [
        svc.deposit.files(recid, actor=_alice(app)).pop().upload_id
    ]
    bad = CliRunner().invoke(cli, ["uploads", "clean", "--older-than", "soon"], env=env)
    assert bad.exit_code == 2 and "--older-than" in bad.output


def _alice(app):
    from portal.identity.principal import Principal

    user = services_of(app).users.by_username("alice")
    return Principal(via="cli", user_id=user.id, username="alice")


def test_an_empty_upload_is_complete_at_creation_and_refusals_name_the_header(app, client):
    auth = bearer(token_for(app, WRITER, username="alice"))
    recid = new_draft(client, auth)
    tus_headers = {**auth, "Tus-Resumable": "1.0.0"}
    meta = f"record {base64.b64encode(str(recid).encode()).decode()},filename {base64.b64encode(b'empty.txt').decode()}"
    created = client.post("/api/uploads/", headers={**tus_headers, "Upload-Length": "0", "Upload-Metadata": meta})
    assert created.status_code == 201 and created.headers["Tus-Resumable"] == "1.0.0"
    entry = client.get(f"/api/records/{recid}/draft/files/empty.txt", headers=auth).get_json()
    assert entry["status"] == "completed" and entry["checksums"]["sha256"] == hashlib.sha256(b"").hexdigest()
    no_length = client.post("/api/uploads/", headers={**tus_headers, "Upload-Metadata": meta})
    assert no_length.status_code == 400 and no_length.get_json()["field"] == "Upload-Length"
    no_record = client.post("/api/uploads/", headers={**tus_headers, "Upload-Length": "3"})
    assert no_record.status_code == 400 and no_record.get_json()["field"] == "record"
    anonymous = client.post("/api/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3"})
    assert anonymous.status_code == 401 and anonymous.get_json()["field"] == "scope"
