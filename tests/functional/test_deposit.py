"""Deposits through the InvenioRDM-shaped API, on SQLite and PostgreSQL: a user's token creates a draft, declares
files, streams their bytes, commits, publishes (a DOI), starts a new version that carries the files over, replaces one
and publishes again; refusals are problem+json naming the field or the reason."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from portal.app import services_of
from tests.support.users import CURATOR_SCOPES, bearer, token_for

WRITER = ["deposit:write", "deposit:publish"]


@pytest.fixture
def app_settings(tmp_path):
    return {"deposit_owners_publish": True, "data_dir": str(tmp_path / "data")}


def metadata(title: str = "Muon pairs from a teaching run") -> dict:
    return {
        "title": title,
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "experiment": ["CMS"],
        "date_published": "2026-12-01",
    }


FRENCH = {"Accept-Language": "fr"}


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:400]
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def upload(client, auth, recid: int, files: dict[str, bytes]) -> dict[str, dict]:
    """Declare, stream and commit ``files``; their committed entries by key."""
    declared = client.post(f"/api/records/{recid}/draft/files", json=[{"key": k} for k in files], headers=auth)
    assert declared.status_code == 201, declared.get_data(as_text=True)
    done = {}
    for key, data in files.items():
        put = client.put(
            f"/api/records/{recid}/draft/files/{key}/content",
            data=data,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 200, put.get_data(as_text=True)
        assert put.get_json()["status"] == "pending"
        committed = client.post(f"/api/records/{recid}/draft/files/{key}/commit", headers=auth)
        assert committed.status_code == 200, committed.get_data(as_text=True)
        done[key] = committed.get_json()
    return done


def adler(data: bytes) -> str:
    return f"adler32:{zlib.adler32(data) & 0xFFFFFFFF:08x}"


CSV_V1 = b"run,event,mass\n1,1,91.2\n1,2,90.8\n"
CSV_V2 = b"run,event,mass\n1,1,91.2\n1,2,90.8\n1,3,91.0\n"
NOTES = b"Notes on the selection.\n"
BLOB = bytes(range(256)) * 40_000  # 10 MB of binary, several read blocks


def test_deposit_publish_new_version_replace_a_file(app, client, tmp_path):
    svc = services_of(app)
    auth = bearer(token_for(app, WRITER, username="alice"))
    created = client.post("/api/records", json={"metadata": metadata()}, headers=auth)
    assert created.status_code == 201, created.get_data(as_text=True)
    draft = created.get_json()
    recid = int(draft["id"])
    assert draft["status"] == "draft" and draft["is_published"] is False
    assert draft["links"]["files"].endswith(f"/api/records/{recid}/draft/files")
    assert client.get(f"/api/records/{recid}").status_code == 404  # a draft is not public

    files = {"events.csv": CSV_V1, "notes.txt": NOTES, "blob.bin": BLOB}
    entries = upload(client, auth, recid, files)
    for key, data in files.items():
        entry = entries[key]
        assert entry["status"] == "completed" and entry["size"] == len(data)
        assert entry["checksum"] == "md5:" + hashlib.md5(data).hexdigest()
        assert entry["checksums"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["checksums"]["adler32"] == adler(data)
    listing = client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()
    assert sorted(e["key"] for e in listing["entries"]) == sorted(files)

    published = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth)
    assert published.status_code == 202, published.get_data(as_text=True)
    body = published.get_json()
    assert body["status"] == "published" and body["pids"]["doi"]["identifier"] == f"10.5072/portal.{recid}"
    concept_doi = body["parent"]["pids"]["doi"]["identifier"]

    # ingested like `portal ingest`: checksums, formats from the content, inspection (rows of the CSV)
    record = client.get(f"/api/records/{recid}").get_json()
    rows = {f["key"]: f for f in record["metadata"]["files"]}
    assert {k: rows[k]["checksum"] for k in files} == {k: adler(d) for k, d in files.items()}
    assert rows["events.csv"]["format"] == "csv" and rows["events.csv"]["entries"] == 2
    assert rows["blob.bin"]["format"] == "binary" and rows["blob.bin"]["size"] == len(BLOB)
    old_paths = {k: Path(rows[k]["uri"].removeprefix("file://")) for k in files}
    assert all(p.read_bytes() == files[k] for k, p in old_paths.items())
    # nothing is left in the upload store once published
    assert not any(Path(svc.settings.upload_dir).iterdir())

    # a published version's files cannot change: the draft API refuses it
    refused = problem(client.post(f"/api/records/{recid}/draft/files", json=[{"key": "x.txt"}], headers=auth), 409)
    assert "new version" in refused["detail"]

    # a new version carries the files over (InvenioRDM's files import); one is replaced, one deleted
    started = client.post(f"/api/records/{recid}/versions", headers=auth)
    assert started.status_code == 201, started.get_data(as_text=True)
    second = int(started.get_json()["id"])
    carried = client.get(f"/api/records/{second}/draft/files", headers=auth).get_json()["entries"]
    assert sorted(e["key"] for e in carried) == sorted(files)
    assert all(e["status"] == "completed" for e in carried)
    assert client.delete(f"/api/records/{second}/draft/files/notes.txt", headers=auth).status_code == 204
    upload(client, auth, second, {"events.csv": CSV_V2})
    update = client.put(f"/api/records/{second}/draft", json={"metadata": {**metadata(), "version": "2"}}, headers=auth)
    assert update.status_code == 200, update.get_data(as_text=True)
    assert client.post(f"/api/records/{second}/draft/actions/publish", headers=auth).status_code == 202

    new = client.get(f"/api/records/{second}").get_json()
    new_rows = {f["key"]: f for f in new["metadata"]["files"]}
    assert sorted(new_rows) == ["blob.bin", "events.csv"]
    assert new_rows["events.csv"]["checksum"] == adler(CSV_V2) and new_rows["events.csv"]["entries"] == 3
    assert new_rows["blob.bin"]["uri"] == rows["blob.bin"]["uri"]  # carried over: the same immutable bytes
    # the old version is unchanged, byte for byte
    old = client.get(f"/api/records/{recid}").get_json()
    assert {f["key"]: f["checksum"] for f in old["metadata"]["files"]} == {k: adler(d) for k, d in files.items()}
    assert all(p.read_bytes() == files[k] for k, p in old_paths.items())
    # the concept DOI resolves to the new version
    assert svc.catalog.find_by_doi(concept_doi).recid == second
    assert client.get(f"/api/records/{draft['conceptrecid']}").headers["Location"].endswith(f"/api/records/{second}")


def test_refusals_name_the_field_or_the_reason(app, client):
    alice = bearer(token_for(app, WRITER, username="alice"))
    bob = bearer(token_for(app, WRITER, username="bob"))
    launch_only = bearer(token_for(app, ["launch"], username="alice"))

    assert problem(client.post("/api/records", json={"metadata": metadata()}), 401)["field"] == "scope"
    wrong = problem(client.post("/api/records", json={"metadata": metadata()}, headers=launch_only), 403)
    assert wrong["field"] == "scope" and "'deposit:write'" in wrong["detail"]
    bad = problem(
        client.post("/api/records", json={"metadata": {**metadata(), "date_published": 7}}, headers=alice), 400
    )
    assert bad["field"] == "date_published"
    assert problem(client.post("/api/records", json={"title": "x"}, headers=alice), 400)["field"] == "metadata"
    named = problem(client.post("/api/records", json={"metadata": {**metadata(), "recid": 5}}, headers=alice), 400)
    assert named["field"] == "recid"

    recid = client.post("/api/records", json={"metadata": metadata()}, headers=alice).get_json()["id"]
    not_owner = problem(client.post(f"/api/records/{recid}/draft/files", json=[{"key": "a"}], headers=bob), 403)
    assert not_owner["field"] == "owner"
    assert problem(client.get(f"/api/records/{recid}/draft", headers=bob), 403)["field"] == "owner"
    assert problem(client.post(f"/api/records/{recid}/draft/actions/publish", headers=bob), 403)["field"] == "owner"
    for bad_key in ("../x", "a/b", ""):
        body = problem(client.post(f"/api/records/{recid}/draft/files", json=[{"key": bad_key}], headers=alice), 400)
        assert body["field"] == "key"
    assert (
        problem(client.post(f"/api/records/{recid}/draft/files", json={"key": "a"}, headers=alice), 400)["field"]
        == "key"
    )

    # a file declared but never committed blocks publication, naming it; nothing reaches the catalogue
    client.post(f"/api/records/{recid}/draft/files", json=[{"key": "half.bin"}], headers=alice)
    client.put(f"/api/records/{recid}/draft/files/half.bin/content", data=b"abc", headers=alice)
    pending = problem(client.post(f"/api/records/{recid}/draft/actions/publish", headers=alice), 409)
    assert pending["field"] == "key" and "half.bin" in pending["detail"]
    assert services_of(app).catalog.get(recid, include_drafts=True).files == []

    # discarding the draft removes it, its uploads and their bytes
    assert client.delete(f"/api/records/{recid}/draft", headers=alice).status_code == 204
    assert problem(client.get(f"/api/records/{recid}/draft", headers=alice), 404)
    assert not any(Path(services_of(app).settings.upload_dir).iterdir())


@pytest.mark.parametrize(
    "app_settings", [{"deposit_owners_publish": True, "quota_deposit_files": 2, "quota_deposit_bytes": 100}]
)
def test_quotas_refuse_with_the_quota_named(app, client):
    auth = bearer(token_for(app, WRITER, username="alice"))
    recid = client.post("/api/records", json={"metadata": metadata()}, headers=auth).get_json()["id"]
    three = [{"key": "a"}, {"key": "b"}, {"key": "c"}]
    assert (
        problem(client.post(f"/api/records/{recid}/draft/files", json=three, headers=auth), 413)["field"]
        == "quota_deposit_files"
    )
    assert client.post(f"/api/records/{recid}/draft/files", json=three[:2], headers=auth).status_code == 201
    client.put(f"/api/records/{recid}/draft/files/a/content", data=b"x" * 60, headers=auth)
    too_big = problem(client.put(f"/api/records/{recid}/draft/files/b/content", data=b"y" * 60, headers=auth), 413)
    assert too_big["field"] == "quota_deposit_bytes" and too_big["record"] == int(recid)
    assert too_big["detail"].endswith("60 used + 60 more would exceed quota_deposit_bytes = 100")
    french = client.put(f"/api/records/{recid}/draft/files/b/content", data=b"y" * 60, headers={**auth, **FRENCH})
    assert problem(french, 413)["detail"].endswith("60 déjà pris + 60 de plus dépasseraient quota_deposit_bytes = 100")
    # the refused file kept nothing; a smaller one fits
    assert client.put(f"/api/records/{recid}/draft/files/b/content", data=b"y" * 40, headers=auth).status_code == 200


def test_curators_publish_when_owners_may_not(make_app):
    app = make_app(deposit_owners_publish=False)
    client = app.test_client()
    auth = bearer(token_for(app, WRITER, username="alice"))
    recid = client.post("/api/records", json={"metadata": metadata()}, headers=auth).get_json()["id"]
    assert problem(client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth), 403)["field"] == "role"
    curator = bearer(token_for(app, CURATOR_SCOPES, username="cura", roles=["curator"]))
    assert client.post(f"/api/records/{recid}/draft/actions/publish", headers=curator).status_code == 202


def test_documented_deposit_responses_match_real_ones(app, client):
    from tests.functional.test_openapi import check

    doc = client.get("/api/openapi.json").get_json()
    auth = bearer(token_for(app, WRITER, username="alice"))
    check(doc, client, "post", "/api/records", 201, json={"metadata": metadata()}, headers=auth)
    recid = client.get("/api/records/100001/draft", headers=auth).get_json()["id"]
    check(doc, client, "get", f"/api/records/{recid}/draft", 200, headers=auth)
    check(doc, client, "post", f"/api/records/{recid}/draft/files", 201, json=[{"key": "a.txt"}], headers=auth)
    check(doc, client, "put", f"/api/records/{recid}/draft/files/a.txt/content", 200, data=b"abc", headers=auth)
    check(doc, client, "post", f"/api/records/{recid}/draft/files/a.txt/commit", 200, headers=auth)
    check(doc, client, "get", f"/api/records/{recid}/draft/files", 200, headers=auth)
    check(doc, client, "get", f"/api/records/{recid}/draft/files/a.txt", 200, headers=auth)
    check(doc, client, "get", f"/api/records/{recid}/draft/files/nope", 404, headers=auth)
    check(doc, client, "post", f"/api/records/{recid}/draft/actions/publish", 202, headers=auth)
    check(doc, client, "post", f"/api/records/{recid}/versions", 201, headers=auth)
    check(doc, client, "get", f"/api/deposit/depositions/{recid}", 200)
    check(doc, client, "post", "/api/deposit/depositions", 400, json={"metadata": {"title": "x"}}, headers=auth)
    check(
        doc, client, "post", "/api/deposit/depositions", 201, json={"metadata": {"title": "Zenodo style"}}, headers=auth
    )


def test_a_damaged_file_refuses_publication_and_leaves_nothing_half_written(app, client):
    svc = services_of(app)
    auth = bearer(token_for(app, WRITER, username="alice"))
    recid = client.post("/api/records", json={"metadata": metadata()}, headers=auth).get_json()["id"]
    upload(client, auth, recid, {"good.csv": CSV_V1, "events.root": b"not a ROOT file at all"})
    refused = problem(client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth), 400)
    assert refused["field"] == "key" and "events.root" in refused["detail"]
    # still a draft with its two committed uploads; no catalogue file row, no byte in the catalogue's storage
    draft = client.get(f"/api/records/{recid}/draft", headers=auth).get_json()
    assert draft["status"] == "draft" and svc.catalog.get(recid, include_drafts=True).files == []
    files = client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"]
    assert sorted((e["key"], e["status"]) for e in files) == [("events.root", "completed"), ("good.csv", "completed")]
    placed = Path(svc.settings.data_dir) / "deposits" / str(recid)
    assert not placed.exists() or not any(p.is_file() for p in placed.rglob("*"))
    # the owner fixes it: delete the damaged file, publish
    assert client.delete(f"/api/records/{recid}/draft/files/events.root", headers=auth).status_code == 204
    assert client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth).status_code == 202
    assert [f["key"] for f in client.get(f"/api/records/{recid}").get_json()["metadata"]["files"]] == ["good.csv"]


@pytest.mark.parametrize(
    "app_settings",
    [{"deposit_owners_publish": True, "quota_upload_files_per_user": 3, "quota_upload_bytes_per_user": 50}],
)
def test_per_user_quotas_count_every_draft_and_free_up_on_publication(app, client):
    auth = bearer(token_for(app, WRITER, username="alice"))
    first = client.post("/api/records", json={"metadata": metadata()}, headers=auth).get_json()["id"]
    second = client.post("/api/records", json={"metadata": metadata("Another")}, headers=auth).get_json()["id"]
    upload(client, auth, first, {"a.txt": b"a" * 30, "b.txt": b"b" * 10})
    files = problem(
        client.post(f"/api/records/{second}/draft/files", json=[{"key": "c"}, {"key": "d"}], headers=auth), 413
    )
    assert files["field"] == "quota_upload_files_per_user"
    client.post(f"/api/records/{second}/draft/files", json=[{"key": "c.txt"}], headers=auth)
    too_big = problem(client.put(f"/api/records/{second}/draft/files/c.txt/content", data=b"c" * 20, headers=auth), 413)
    assert too_big["field"] == "quota_upload_bytes_per_user" and "50" in too_big["detail"]
    # publishing the first draft frees its share: the second one's file fits now
    assert client.post(f"/api/records/{first}/draft/actions/publish", headers=auth).status_code == 202
    assert (
        client.put(f"/api/records/{second}/draft/files/c.txt/content", data=b"c" * 20, headers=auth).status_code == 200
    )
