"""Versions and identifiers like Zenodo's, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from portal.app import services_of
from portal.errors import Conflict, Invalid, NotFound
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import CURATOR_SCOPES, bearer

FILES = [{"uri": "root://xrd.test//data/a.root", "size": 10, "checksum": "adler32:0000000a"}]


@pytest.fixture
def svc(app):
    return services_of(app)


def test_first_publish_mints_version_and_concept_dois(svc, tmp_path):
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7, files=FILES)]))
    view = svc.catalog.get(7)
    assert view.doi == "10.5072/portal.7"
    assert view.concept_doi == f"10.5072/portal.{view.concept_recid}"
    assert view.concept_recid >= 100000 and view.is_latest and view.version_index == 1


def test_imported_doi_is_kept(svc, tmp_path):
    load_file(svc, write_records(tmp_path / "r.json", [dataset(8, doi="10.7483/OPENDATA.CMS.ABCD.EFGH")]))
    assert svc.catalog.get(8).doi == "10.7483/opendata.cms.abcd.efgh"
    assert svc.catalog.find_by_doi("https://doi.org/10.7483/OPENDATA.CMS.ABCD.EFGH").recid == 8


def test_new_version_is_a_draft_copy_then_becomes_latest(svc, app, tmp_path):
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7, files=FILES, version="1")]))
    first = svc.catalog.get(7)
    draft = svc.catalog.new_version(7)
    assert draft.status == "draft" and draft.doi is None and draft.version_index == 2
    assert [f["uri"] for f in draft.files] == [f["uri"] for f in first.files]
    with pytest.raises(Conflict, match="already a draft"):
        svc.catalog.new_version(7)
    # a draft is invisible until published; the concept still resolves to version 1
    assert svc.catalog.resolve(first.concept_recid) == (7, True)
    with pytest.raises(NotFound):
        svc.catalog.get(draft.recid)
    new_files = [*FILES, {"uri": "root://xrd.test//data/b.root", "size": 20, "checksum": "adler32:00000014"}]
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"}, files=new_files)
    published = svc.catalog.publish(draft.recid)
    assert published.doi == f"10.5072/portal.{draft.recid}"
    assert published.concept_doi == first.concept_doi  # one concept DOI for all versions
    # concept id and concept DOI now resolve to version 2; version 1 knows it is not the latest
    assert svc.catalog.resolve(first.concept_recid) == (draft.recid, True)
    assert svc.catalog.find_by_doi(first.concept_doi).recid == draft.recid
    old = svc.catalog.get(7)
    assert not old.is_latest and old.latest_recid == draft.recid and len(old.files) == 1
    assert len(svc.catalog.get(draft.recid).files) == 2
    assert [v.recid for v in svc.catalog.versions(7)] == [draft.recid, 7]

    client = app.test_client()
    resp = client.get(f"/api/records/{first.concept_recid}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/api/records/{draft.recid}")
    resp = client.get("/api/records/7/versions/latest")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/api/records/{draft.recid}")
    versions = client.get("/api/records/7/versions").get_json()
    assert versions["hits"]["total"] == 2
    assert [h["metadata"]["versions"]["is_latest"] for h in versions["hits"]["hits"]] == [True, False]
    page = client.get("/record/7")
    assert page.status_code == 200 and b"newer version" in page.data
    assert client.get(f"/record/{first.concept_recid}").status_code == 302


def test_published_files_are_immutable_but_metadata_can_be_fixed(svc, tmp_path):
    path = write_records(tmp_path / "r.json", [dataset(7, files=FILES)])
    load_file(svc, path)
    changed = write_records(tmp_path / "r2.json", [dataset(7, files=[{**FILES[0], "size": 11}])])
    with pytest.raises(Conflict, match="publish a new version") as info:
        load_file(svc, changed)
    assert info.value.field == "files" and "r2.json" in info.value.message
    fixed = write_records(tmp_path / "r3.json", [dataset(7, files=FILES, title="Dataset 7, corrected title")])
    [result] = load_file(svc, fixed)
    assert result.action == "updated"
    view = svc.catalog.get(7)
    assert view.metadata["title"] == "Dataset 7, corrected title" and view.revision == 2
    assert view.doi == "10.5072/portal.7"  # a metadata fix mints no new DOI
    with pytest.raises(Conflict):
        svc.catalog.edit_metadata(7, {**dataset(7), "files": []})
    edited = svc.catalog.edit_metadata(7, dataset(7, title="Dataset 7, third title"))
    assert edited.revision == 3 and edited.files == view.files
    with pytest.raises(Conflict):
        svc.catalog.update_draft(7, dataset(7))


def test_versions_loaded_from_a_file_share_a_concept(svc, tmp_path):
    records = [dataset(11, conceptrecid=10, version="1.0"), dataset(12, conceptrecid=10, version="1.1")]
    load_file(svc, write_records(tmp_path / "r.json", records))
    assert svc.catalog.resolve(10) == (12, True)
    assert svc.catalog.get(11).concept_doi == svc.catalog.get(12).concept_doi == "10.5072/portal.10"


def test_write_api_needs_a_curator_token(app, svc, tmp_path, user_token):
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7, files=FILES)]))
    client = app.test_client()
    assert client.post("/api/records/7/versions").status_code == 401
    auth = bearer(user_token(CURATOR_SCOPES, username="cura", roles=["curator"]))
    resp = client.post("/api/records/7/versions", headers=auth)
    assert resp.status_code == 201
    draft = resp.get_json()["id"]
    bad = client.put(f"/api/records/{draft}/draft", headers=auth, json={"metadata": {"title": "x"}})
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    assert client.post(f"/api/records/{draft}/draft/actions/publish", headers=auth).status_code == 202
    assert client.get(f"/api/records/{draft}").get_json()["metadata"]["doi"] == f"10.5072/portal.{draft}"


def unnumbered(title: str) -> dict:
    """Record metadata without a recid, for the catalogue to number."""
    return {k: v for k, v in dataset(0, title=title).items() if k != "recid"}


def test_created_records_get_their_recids_from_the_catalogue(svc, tmp_path):
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7)]))
    view = svc.catalog.create(unnumbered("A derived result"), source="a test")
    assert view.recid == view.concept_recid + 1 and view.concept_recid >= 100000
    assert view.status == "published" and view.doi == f"10.5072/portal.{view.recid}" and view.is_latest
    assert view.concept_doi == f"10.5072/portal.{view.concept_recid}"
    assert svc.catalog.get(view.concept_recid).recid == view.recid
    with pytest.raises(Invalid, match="recid") as info:
        svc.catalog.create(dataset(123456), source="a test")
    assert info.value.field == "recid" and "a test" in str(info.value)
    with pytest.raises(Invalid, match="type"):
        svc.catalog.create({"title": "no type"}, source="a test")
    assert svc.catalog.count_published() == 2  # the refused ones stored nothing


def test_concurrent_creates_get_distinct_recids(svc):
    """Records created at the same moment from several threads (as when results of analyses are published
    at once) each get their own recid and concept id, and every one of them is stored and published."""
    n = 8
    start = threading.Barrier(n)
    created, failed = [], []

    def create(i: int) -> None:
        start.wait()
        try:
            created.append(svc.catalog.create(unnumbered(f"Result {i}"), source=f"t{i}"))
        except Exception as exc:  # collected, so the assertion below shows what went wrong
            failed.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    ids = [v.recid for v in created] + [v.concept_recid for v in created]
    assert len(set(ids)) == 2 * n  # no recid given twice, nor as both a version and a concept
    for view in created:
        stored = svc.catalog.get(view.recid)
        assert stored.metadata["title"] == view.metadata["title"] and stored.doi == f"10.5072/portal.{view.recid}"
    assert svc.catalog.count_published() == n


def test_a_loaded_record_never_shares_its_recid_with_its_concept(svc, tmp_path):
    # The next free recid used to become both the version's id and its concept's, with one DOI for both.
    load_file(svc, write_records(tmp_path / "r.json", [dataset(100000)]))
    view = svc.catalog.get(100000)
    assert view.concept_recid != view.recid and view.concept_doi != view.doi


def test_search_hits_are_read_in_a_fixed_number_of_queries(svc, app, tmp_path):
    """A page of hits is one batched read (records, concepts, latest versions), not one `get` per hit: at a
    million records the per-hit reads were most of `/api/records`' time. The views equal `get`'s minus files."""
    from sqlalchemy import event

    load_file(svc, write_records(tmp_path / "r.json", [dataset(r, files=FILES) for r in range(7401, 7413)]))
    draft = svc.catalog.new_version(7401)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"}, files=FILES)
    svc.catalog.publish(draft.recid)
    svc.catalog.new_version(7402)  # a draft: never a hit
    wanted = [7405, 7401, draft.recid, 7412, 999_999, 7403]  # an unknown recid is left out, not an error
    statements: list[str] = []

    def seen(_conn, _cursor, sql, *_args):
        statements.append(sql)

    event.listen(svc.db.engine, "before_cursor_execute", seen)
    try:
        hits = svc.catalog.get_hits(wanted)
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", seen)
    # (the app's background worker polls its queue on the same engine: only the catalogue's reads count here)
    assert len([s for s in statements if "FROM records" in s or "FROM concepts" in s]) == 3
    assert [h.recid for h in hits] == [7405, 7401, draft.recid, 7412, 7403]
    for hit in hits:
        full = svc.catalog.get(hit.recid)
        assert hit == dataclasses.replace(full, files=[], indices=[])
    assert not hits[1].is_latest and hits[1].latest_recid == draft.recid and hits[2].is_latest
    assert svc.catalog.get_hits([]) == []


def test_api_search_page_lists_the_same_hits_as_record_reads(app, svc, tmp_path):
    load_file(svc, write_records(tmp_path / "r.json", [dataset(r) for r in range(7501, 7506)]))
    body = app.test_client().get("/api/records?size=3&sort=title").get_json()
    assert [h["id"] for h in body["hits"]["hits"]] == [7501, 7502, 7503]
    assert body["hits"]["hits"][0]["metadata"]["doi"] == svc.catalog.get(7501).doi
    assert "files" not in body["hits"]["hits"][0]["metadata"]
