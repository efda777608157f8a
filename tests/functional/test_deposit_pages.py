"""The deposit pages' server side, on SQLite and PostgreSQL: anonymous visitors are sent to sign in, another user
cannot see or change someone's draft, a form with mistakes comes back with each message at its field and changes
nothing, a good one creates and updates the draft; files sent without JavaScript, preview, publish, new version."""

from __future__ import annotations

import hashlib
import re

import pytest

from portal.app import services_of
from tests.support.users import csrf, make_user, sign_in


@pytest.fixture
def app_settings(tmp_path):
    return {"deposit_owners_publish": True, "data_dir": str(tmp_path / "data")}


GOOD = {
    "title": "Muon pairs from a teaching run",
    "type.secondary": "Derived",
    "authors[0].name": "Doe, Jane",
    "authors[0].affiliation": "CERN",
    "authors[0].orcid": "0000-0002-1825-0097",
    "abstract.description": "Pairs of muons.",
    "date_published": "2026-12-01",
    "license.attribution": "CC0-1.0",
    "keywords": "muons\nteaching",
    "experiment": "CMS",
}


def signed_in(app, client, username: str = "alice"):
    user = make_user(app, username)
    sign_in(client, user)
    return csrf(client)


def field_error(html: str, field_id: str) -> str:
    """The message shown at a field (its error paragraph), checking the input points at it."""
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error"(?: hidden)?>([^<]*)</p>', html)
    assert found, f"no error box for {field_id}"
    return found.group(1).strip()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/deposit/new", "/deposit/new/dataset", "/deposit/100001", "/deposit/100001/preview"):
        resp = client.get(path)
        assert resp.status_code == 303, path
        assert "/signin?next=" in resp.headers["Location"]
    # a form posted without a page of ours (no CSRF token) is refused before anything else
    assert client.post("/deposit/new/dataset", data=GOOD).status_code == 400
    # with the token of an anonymous session's page, the write still needs a signed-in user: sign in first
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    sent = client.post("/deposit/new/dataset", data={**GOOD, "csrf_token": token})
    assert sent.status_code == 303 and "/signin?next=" in sent.headers["Location"]
    assert _records(client.application) == 0


def test_mistakes_come_back_at_their_fields_and_nothing_is_written(app, client):
    token = signed_in(app, client)
    before = _records(app)
    bad = {
        **GOOD,
        "title": "ab",
        "authors[0].orcid": "1234",
        "license.attribution": "CC 0",
        "date_published": "01/12/2026",
    }
    resp = client.post("/deposit/new/dataset", data={**bad, **token})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "at least 3 characters" in field_error(html, "f-title")
    assert "ORCID iD is not in the expected form" in field_error(html, "f-authors-0-orcid")
    assert "Licence is not in the expected form" in field_error(html, "f-license-attribution")
    assert "Publication date is not in the expected form" in field_error(html, "f-date_published".replace("_", "-"))
    assert field_error(html, "f-abstract-description") == ""
    assert 'id="f-title" name="title" value="ab"' in html and 'aria-invalid="true"' in html  # nothing is lost
    assert "Doe, Jane" in html and "muons\nteaching" in html
    assert _records(app) == before
    listing = client.get("/my/uploads").get_data(as_text=True)
    assert "Edit draft" not in listing  # no draft was created

    # in French, the messages and the labels are French
    fr = client.post("/deposit/new/dataset?lang=fr", data={**bad, **token}).get_data(as_text=True)
    assert "Titre" in field_error(fr, "f-title")


def test_create_edit_upload_preview_publish_and_new_version(app, client):
    token = signed_in(app, client)
    created = client.post("/deposit/new/dataset", data={**GOOD, **token})
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    recid = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    page = client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert 'value="Muon pairs from a teaching run"' in page and 'value="0000-0002-1825-0097"' in page
    md = services_of(app).deposit.draft(recid, actor=_principal(app, "alice")).metadata
    assert md["authors"] == [{"name": "Doe, Jane", "affiliation": "CERN", "orcid": "0000-0002-1825-0097"}]
    assert md["type"] == {"primary": "Dataset", "secondary": ["Derived"]} and md["keywords"] == ["muons", "teaching"]
    assert client.get("/my/uploads").get_data(as_text=True).count(f"/deposit/{recid}") == 1

    # an edit with a mistake changes nothing; a good one saves
    bad = client.post(f"/deposit/{recid}", data={**GOOD, "title": "", **token})
    assert bad.status_code == 400 and "Title is required" in field_error(bad.get_data(as_text=True), "f-title")
    assert services_of(app).deposit.draft(recid, actor=_principal(app, "alice")).metadata["title"] == GOOD["title"]
    saved = client.post(f"/deposit/{recid}", data={**GOOD, "title": "Muon pairs, corrected", **token})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/deposit/{recid}?saved=1")

    # a file sent whole by the no-JavaScript form, then shown with its checksums
    data = b"run,event,mass\n1,1,91.2\n1,2,90.8\n"
    sent = client.post(
        f"/deposit/{recid}/files",
        data={"file": (_io(data), "events.csv"), **token},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:400]
    page = client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert "sha256:" + hashlib.sha256(data).hexdigest() in page

    # a file deleted from the draft's page (the no-JavaScript form), then sent again
    gone = client.post(f"/deposit/{recid}/files/events.csv/delete", data=token)
    assert gone.status_code == 303
    assert "events.csv" not in client.get(f"/deposit/{recid}").get_data(as_text=True)
    client.post(
        f"/deposit/{recid}/files", data={"file": (_io(data), "events.csv"), **token}, content_type="multipart/form-data"
    )
    empty = client.post(f"/deposit/{recid}/files", data=token, content_type="multipart/form-data")
    assert empty.status_code == 400  # nothing chosen

    preview = client.get(f"/deposit/{recid}/preview")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert 'id="preview-banner"' in html and "Muon pairs, corrected" in html and "events.csv" in html
    assert client.get(f"/record/{recid}").status_code == 404  # still not public

    published = client.post(f"/deposit/{recid}/publish", data=token)
    assert published.status_code == 303 and published.headers["Location"].endswith(f"/record/{recid}")
    record = client.get(f"/record/{recid}").get_data(as_text=True)
    assert "events.csv" in record and 'id="new-version"' in record

    version = client.post(f"/records/{recid}/new-version", data=token)
    assert version.status_code == 303
    new = int(version.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert new != recid
    prefilled = client.get(f"/deposit/{new}").get_data(as_text=True)
    assert 'value="Muon pairs, corrected"' in prefilled and "events.csv" in prefilled
    again = client.post(f"/records/{recid}/new-version", data=token)  # a second click continues that draft
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/deposit/{new}")


def test_another_user_cannot_see_or_change_a_draft(app, client, make_app):
    token = signed_in(app, client)
    created = client.post("/deposit/new/software", data={**GOOD, "type.secondary": "Tool", **token})
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    recid = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    other = app.test_client()
    other_token = signed_in(app, other, "mallory")
    assert other.get(f"/deposit/{recid}").status_code in (403, 404)
    assert other.get(f"/deposit/{recid}/preview").status_code in (403, 404)
    changed = other.post(f"/deposit/{recid}", data={**GOOD, "title": "Taken over", **other_token})
    assert changed.status_code in (403, 404)
    assert other.post(f"/deposit/{recid}/publish", data=other_token).status_code in (403, 404)
    assert other.post(f"/deposit/{recid}/files/x.csv/delete", data=other_token).status_code in (403, 404)
    assert services_of(app).deposit.draft(recid, actor=_principal(app, "alice")).metadata["title"] == GOOD["title"]
    # without the form's CSRF token, even the owner's change is refused
    assert client.post(f"/deposit/{recid}", data={**GOOD, "title": "Forged"}).status_code == 400
    assert services_of(app).deposit.draft(recid, actor=_principal(app, "alice")).metadata["title"] == GOOD["title"]


def test_the_api_refuses_with_every_field_named(app, client):
    from tests.support.users import bearer, token_for

    auth = bearer(token_for(app, ["deposit:write"], username="bob"))
    body = {"metadata": {"title": "ab", "type": {"primary": "Software"}, "date_published": "2026", "authors": [{}]}}
    resp = client.post("/api/records", json=body, headers=auth)
    assert resp.status_code == 400
    problem = resp.get_json()
    assert problem["field"] == "title"
    assert [e["field"] for e in problem["errors"]] == ["title", "authors[0].name"]


def _records(app) -> int:
    from sqlalchemy import func, select

    from portal.db.models import Record

    with services_of(app).db.reader() as s:
        return int(s.scalar(select(func.count(Record.recid))) or 0)


def _principal(app, username: str):
    return services_of(app).users.by_username(username).principal()


def _io(data: bytes):
    import io

    return io.BytesIO(data)


@pytest.mark.parametrize("app_settings", [{"deposit_owners_publish": False}])
def test_where_owners_do_not_publish_the_page_says_so_and_publishing_is_refused(app, client):
    token = signed_in(app, client)
    created = client.post("/deposit/new/dataset", data={**GOOD, **token})
    recid = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    page = client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert 'id="publish"' not in page and 'id="publish-refusal"' in page
    refused = client.post(f"/deposit/{recid}/publish", data=token)
    assert refused.status_code == 403
    assert 'id="form-error"' in refused.get_data(as_text=True)  # the draft's page, saying why
    assert client.get(f"/record/{recid}").status_code == 404
    # a curator publishes it
    curator = app.test_client()
    user = make_user(app, "carol", roles=["curator"])
    sign_in(curator, user)
    curator_token = csrf(curator)
    assert 'id="publish"' in curator.get(f"/deposit/{recid}").get_data(as_text=True)
    assert curator.post(f"/deposit/{recid}/publish", data=curator_token).status_code == 303
    assert client.get(f"/record/{recid}").status_code == 200


def test_a_draft_for_a_curated_collection_is_submitted_for_review_from_its_page(app, client):
    from portal.identity.principal import COMMAND_LINE

    svc = services_of(app)
    svc.collections.create(COMMAND_LINE, "cms", "CMS")
    token = signed_in(app, client)
    created = client.post("/deposit/new/dataset", data={**GOOD, **token})
    recid = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    alice = _principal(app, "alice")
    md = svc.deposit.draft(recid, actor=alice).metadata
    svc.deposit.update(recid, {**md, "collections": ["cms"]}, actor=alice)
    page = client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert "Submit for review" in page and "CMS" in page  # not "Publish", although owners may publish
    sent = client.post(f"/deposit/{recid}/publish", data=token)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/my/uploads")
    assert svc.review.of_records([recid])[recid].state == "submitted"
    assert client.get(f"/record/{recid}").status_code == 404  # not published until a curator accepts


def test_a_draft_naming_no_collection_is_sent_to_a_curated_one_from_its_page(app, client):
    from portal.identity.principal import COMMAND_LINE

    svc = services_of(app)
    token = signed_in(app, client)
    created = client.post("/deposit/new/dataset", data={**GOOD, **token})
    recid = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert 'id="submit-review"' not in client.get(f"/deposit/{recid}").get_data(as_text=True)  # no collection yet
    svc.collections.create(COMMAND_LINE, "cms", "CMS")
    svc.collections.create(COMMAND_LINE, "open", "Open", curated=False)  # not curated: nothing to submit to
    page = client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert 'id="publish"' in page and 'id="submit-review"' in page  # the owner may publish, or ask for a review
    assert '<option value="cms">CMS</option>' in page and 'value="open"' not in page
    sent = client.post(f"/deposit/{recid}/publish", data={**token, "collection": "cms"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/my/uploads")
    assert svc.review.of_records([recid])[recid].state == "submitted"
    assert client.get(f"/record/{recid}").status_code == 404  # not published until a curator accepts
    # a collection that does not exist: 404, and nothing submitted or published
    other = int(client.post("/deposit/new/dataset", data={**GOOD, **token}).headers["Location"].rsplit("/", 1)[-1])
    refused = client.post(f"/deposit/{other}/publish", data={**token, "collection": "nope"})
    assert refused.status_code == 404 and client.get(f"/record/{other}").status_code == 404


def test_the_draft_page_reserves_its_doi(app, client):
    token = signed_in(app, client)
    created = client.post("/deposit/new/dataset", data={**GOOD, **token})
    recid = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert 'id="reserve-doi"' in client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert client.post(f"/deposit/{recid}/doi", data=token).status_code == 303
    doi = services_of(app).catalog.pids.mint(recid)
    page = client.get(f"/deposit/{recid}").get_data(as_text=True)
    assert 'id="reserve-doi"' not in page and doi in page
    assert client.post(f"/deposit/{recid}/publish", data=token).status_code == 303
    assert services_of(app).catalog.get(recid).doi == doi  # published under the DOI it reserved
