"""Review of drafts submitted to curated collections, on SQLite and PostgreSQL: submit → accept publishes (DOI as
the publish action gives it); decline with a comment → the owner reads it, edits, resubmits; refusals name why
(not a curator, a curator of another collection, the wrong state); cancel; a curator publishes into their own
collection directly; an uncurated draft follows `deposit_owners_publish`."""

from __future__ import annotations

import pytest

from portal.app import services_of
from portal.identity.principal import COMMAND_LINE
from tests.functional.test_deposit import CSV_V1, metadata, problem, upload
from tests.support.review import WRITER, curated_people
from tests.support.users import bearer, make_user, token_for


@pytest.fixture
def app_settings(tmp_path):
    return {"deposit_owners_publish": False, "data_dir": str(tmp_path / "data")}


@pytest.fixture
def people(app):
    """alice (an owner), cms-cura (curates `cms` as a listed user), edu-cura (curates `education` through the
    `teachers` group), bob (no role), and their tokens; `sandbox` is an uncurated collection."""
    people = curated_people(app, "bob")
    services_of(app).collections.create(COMMAND_LINE, "sandbox", "Sandbox", curated=False)
    return people


def draft(client, auth, collection: str | None = None, title: str = "Muon pairs") -> int:
    md = metadata(title)
    if collection:
        md["collections"] = [collection]
    created = client.post("/api/records", json={"metadata": md}, headers=auth)
    assert created.status_code == 201, created.get_data(as_text=True)
    return int(created.get_json()["id"])


def test_submit_accept_publishes_with_a_doi(app, client, people):
    recid = draft(client, people["alice"], "cms")
    upload(client, people["alice"], recid, {"events.csv": CSV_V1})
    # the publish action of a draft for a curated collection submits it instead
    submitted = client.post(f"/api/records/{recid}/draft/actions/publish", headers=people["alice"])
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    req = submitted.get_json()
    assert req["status"] == "submitted" and req["receiver"] == {"collection": "cms"}
    assert client.get(f"/api/records/{recid}").status_code == 404  # not published
    # under review, the draft does not change
    locked = problem(
        client.put(f"/api/records/{recid}/draft", json={"metadata": metadata()}, headers=people["alice"]), 409
    )
    assert locked["field"] == "state"
    # the curator sees it in their list, alice sees hers, bob sees nothing
    listed = client.get("/api/requests?state=submitted&collection=cms", headers=people["cms"]).get_json()
    assert [h["id"] for h in listed["hits"]["hits"]] == [req["id"]] and listed["hits"]["total"] == 1
    assert client.get("/api/requests", headers=people["alice"]).get_json()["hits"]["total"] == 1
    assert client.get("/api/requests", headers=people["bob"]).get_json()["hits"]["total"] == 0
    assert problem(client.get(f"/api/requests/{req['id']}", headers=people["bob"]), 404)["field"] == "request"

    accepted = client.post(
        f"/api/requests/{req['id']}/actions/accept", json={"comment": "Welcome"}, headers=people["cms"]
    )
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    body = accepted.get_json()
    assert body["status"] == "accepted" and body["record"]["status"] == "published"
    assert body["record"]["pids"]["doi"]["identifier"] == f"10.5072/portal.{recid}"
    assert [e["action"] for e in body["timeline"]] == ["submit", "accept"]
    assert body["timeline"][1]["by"] == "cms-cura" and body["timeline"][1]["comment"] == "Welcome"
    record = client.get(f"/api/records/{recid}").get_json()
    assert record["metadata"]["collections"] == ["cms"]
    assert [f["key"] for f in record["metadata"]["files"]] == ["events.csv"]
    # audited, in order
    actions = [e.action for e in services_of(app).audit.entries(size=20)]
    assert actions.index("review.accept") < actions.index("review.submit")
    assert "record.publish" in actions
    # the search API filters by collection
    found = client.get("/api/records?collection=cms").get_json()
    assert [h["id"] for h in found["hits"]["hits"]] == [recid]
    # a decided request is decided
    again = problem(
        client.post(f"/api/requests/{req['id']}/actions/decline", json={"comment": "x"}, headers=people["cms"]), 409
    )
    assert again["field"] == "state"


def test_decline_comment_edit_resubmit(app, client, people):
    recid = draft(client, people["alice"])
    sub = client.post(
        f"/api/records/{recid}/draft/actions/submit-review?collection=education", headers=people["alice"]
    ).get_json()
    assert sub["status"] == "submitted" and sub["receiver"]["collection"] == "education"
    no_reason = problem(client.post(f"/api/requests/{sub['id']}/actions/decline", json={}, headers=people["edu"]), 400)
    assert no_reason["field"] == "comment"
    declined = client.post(
        f"/api/requests/{sub['id']}/actions/decline", json={"comment": "Add a worksheet"}, headers=people["edu"]
    )
    assert declined.status_code == 200, declined.get_data(as_text=True)
    assert declined.get_json()["status"] == "declined"
    # the owner sees why, on the API and on My uploads
    mine = client.get(f"/api/requests/{sub['id']}", headers=people["alice"]).get_json()
    assert mine["status"] == "declined" and mine["timeline"][-1]["comment"] == "Add a worksheet"
    # the draft is editable again; the owner edits and resubmits (the same request, reopened)
    edited = {**metadata("Muon pairs, with a worksheet"), "collections": ["education"]}
    assert (
        client.put(f"/api/records/{recid}/draft", json={"metadata": edited}, headers=people["alice"]).status_code == 200
    )
    again = client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]).get_json()
    assert again["id"] == sub["id"] and again["status"] == "submitted"
    assert again["title"] == "Muon pairs, with a worksheet"
    assert [e["action"] for e in again["timeline"]] == ["submit", "decline", "submit"]
    twice = problem(client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]), 409)
    assert twice["field"] == "state"


def test_uploads_page_shows_the_decline_comment(app, client, people):
    from tests.support.users import sign_in

    recid = draft(client, people["alice"], "cms")
    req = client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]).get_json()
    client.post(
        f"/api/requests/{req['id']}/actions/decline", json={"comment": "Needs a licence"}, headers=people["cms"]
    )
    browser = sign_in(app.test_client(), make_user(app, "alice"))
    page = browser.get("/my/uploads")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Needs a licence" in text and "declined" in text.lower()


def test_non_curators_cannot_decide(app, client, people):
    recid = draft(client, people["alice"], "cms")
    req = client.post(f"/api/records/{recid}/draft/actions/publish", headers=people["alice"]).get_json()
    # the owner cannot accept their own request; a curator of another collection cannot either
    own = problem(client.post(f"/api/requests/{req['id']}/actions/accept", headers=people["alice"]), 403)
    assert own["field"] == "curator" and "cms" in own["detail"]
    other = problem(client.post(f"/api/requests/{req['id']}/actions/accept", headers=people["edu"]), 404)
    assert other["field"] == "request"  # they cannot even see it
    # a site curator who does not curate `cms` sees nothing to decide either
    site = bearer(token_for(app, WRITER, username="site-cura", roles=["curator"]))
    assert problem(client.post(f"/api/requests/{req['id']}/actions/accept", headers=site), 404)["field"] == "request"
    # an admin sees it but is not its curator
    admin = bearer(token_for(app, [*WRITER, "admin"], username="root", roles=["admin"]))
    assert problem(client.post(f"/api/requests/{req['id']}/actions/accept", headers=admin), 403)["field"] == "curator"
    # a token without deposit:publish is refused naming the scope
    narrow = bearer(token_for(app, ["deposit:write"], username="cms-cura"))
    assert problem(client.post(f"/api/requests/{req['id']}/actions/accept", headers=narrow), 403)["field"] == "scope"
    assert problem(client.post(f"/api/requests/{req['id']}/actions/accept"), 401)["field"] == "user"
    assert client.get(f"/api/records/{recid}").status_code == 404


def test_cancel(app, client, people):
    recid = draft(client, people["alice"], "cms")
    req = client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]).get_json()
    assert (
        problem(client.post(f"/api/requests/{req['id']}/actions/cancel", headers=people["cms"]), 403)["field"]
        == "owner"
    )
    cancelled = client.post(
        f"/api/requests/{req['id']}/actions/cancel", json={"comment": "oops"}, headers=people["alice"]
    )
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert (
        problem(client.post(f"/api/requests/{req['id']}/actions/accept", headers=people["cms"]), 409)["field"]
        == "state"
    )
    # editable again, and resubmitted
    assert (
        client.put(
            f"/api/records/{recid}/draft",
            json={"metadata": {**metadata(), "collections": ["cms"]}},
            headers=people["alice"],
        ).status_code
        == 200
    )
    assert (
        client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]).get_json()["status"]
        == "submitted"
    )


def test_a_curator_publishes_into_their_own_collection(app, client, people):
    recid = draft(client, people["cms"], "cms")
    published = client.post(f"/api/records/{recid}/draft/actions/publish", headers=people["cms"])
    assert published.status_code == 202
    assert published.get_json()["status"] == "published"
    # the group's curator publishes into `education` through ?collection=
    recid2 = draft(client, people["edu"])
    done = client.post(f"/api/records/{recid2}/draft/actions/publish?collection=education", headers=people["edu"])
    assert done.get_json()["status"] == "published"
    assert client.get(f"/api/records/{recid2}").get_json()["metadata"]["collections"] == ["education"]
    page = client.get(f"/record/{recid2}").get_data(as_text=True)
    assert "collection=education" in page and ">Education</a>" in page
    # but a draft for `cms` by the education curator is submitted
    recid3 = draft(client, people["edu"], "cms")
    assert (
        client.post(f"/api/records/{recid3}/draft/actions/publish", headers=people["edu"]).get_json()["status"]
        == "submitted"
    )


def test_uncurated_publish_refused_when_owners_may_not(app, client, people):
    recid = draft(client, people["alice"], "sandbox")
    refused = problem(client.post(f"/api/records/{recid}/draft/actions/publish", headers=people["alice"]), 403)
    assert refused["field"] == "role" and "collection" in refused["detail"] and "curator" in refused["detail"]
    unknown = problem(
        client.post(f"/api/records/{recid}/draft/actions/submit-review?collection=nope", headers=people["alice"]), 404
    )
    assert unknown["field"] == "collection"
    uncurated = problem(client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]), 400)
    assert uncurated["field"] == "collection"


@pytest.mark.parametrize("app_settings", [{"deposit_owners_publish": True}])
def test_uncurated_publish_allowed_when_owners_may(app, client, people):
    recid = draft(client, people["alice"], "sandbox")
    published = client.post(f"/api/records/{recid}/draft/actions/publish", headers=people["alice"])
    assert published.status_code == 202 and published.get_json()["status"] == "published"
    # a curated one is still reviewed
    recid2 = draft(client, people["alice"], "cms")
    assert (
        client.post(f"/api/records/{recid2}/draft/actions/publish", headers=people["alice"]).get_json()["status"]
        == "submitted"
    )


def test_requests_page_accepts_and_declines_with_csrf(app, client, people):
    from tests.support.users import csrf, sign_in

    recid = draft(client, people["alice"], "cms")
    other = draft(client, people["alice"], "cms", title="Second")
    first = client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=people["alice"]).get_json()
    second = client.post(f"/api/records/{other}/draft/actions/submit-review", headers=people["alice"]).get_json()
    browser = sign_in(app.test_client(), make_user(app, "cms-cura"))
    page = browser.get("/requests").get_data(as_text=True)
    assert "Muon pairs" in page and "Second" in page and "Accept and publish" in page
    assert "<script" not in page.split("<main", 1)[-1]  # server-rendered: no inline script
    # without the CSRF token the form is refused
    assert browser.post(f"/requests/{first['id']}/accept", data={"comment": ""}).status_code in (400, 403)
    token = csrf(browser)
    done = browser.post(f"/requests/{first['id']}/accept", data={"comment": "", **token})
    assert done.status_code == 303
    assert client.get(f"/api/records/{recid}").status_code == 200
    browser.post(f"/requests/{second['id']}/decline", data={"comment": "Too short", **token})
    declined = client.get(f"/api/requests/{second['id']}", headers=people["alice"]).get_json()
    assert declined["status"] == "declined" and declined["timeline"][-1]["comment"] == "Too short"
    # the French page
    fr = browser.get("/requests?state=declined&lang=fr").get_data(as_text=True)
    assert "Too short" in fr


def test_the_demo_catalogue_seeds_a_collection_per_experiment_and_education(app):
    from portal.stack import load_demo_catalogue

    svc = services_of(app)
    load_demo_catalogue(svc.settings)
    load_demo_catalogue(svc.settings)  # idempotent
    found = {c.slug: c for c in svc.collections.all()}
    assert {"cms", "education"} <= set(found)
    assert all(c.curated for c in found.values()) and found["cms"].curator_group == "curators-cms"


def test_documented_review_responses_match_real_ones(app, client, people):
    from tests.functional.test_openapi import check

    doc = client.get("/api/openapi.json").get_json()
    alice, cms = people["alice"], people["cms"]
    recid = draft(client, alice, "cms")
    check(doc, client, "post", f"/api/records/{recid}/draft/actions/publish", 202, headers=alice)
    req = client.get("/api/requests", headers=alice).get_json()["hits"]["hits"][0]["id"]
    check(doc, client, "get", "/api/requests?state=submitted&collection=cms", 200, headers=cms)
    check(doc, client, "get", f"/api/requests/{req}", 200, headers=alice)
    check(doc, client, "get", "/api/requests?collection=nope", 404, headers=cms)
    check(doc, client, "get", "/api/requests", 401)
    check(doc, client, "post", f"/api/requests/{req}/actions/decline", 400, json={}, headers=cms)
    check(doc, client, "post", f"/api/requests/{req}/actions/accept", 403, headers=alice)
    check(doc, client, "post", f"/api/requests/{req}/actions/accept", 200, json={"comment": "ok"}, headers=cms)
    check(doc, client, "post", f"/api/requests/{req}/actions/cancel", 409, headers=alice)
    other = draft(client, alice)
    check(doc, client, "post", f"/api/records/{other}/draft/actions/submit-review?collection=cms", 202, headers=alice)
    check(doc, client, "get", "/api/collections", 200)


@pytest.mark.parametrize("app_settings", [{"deposit_owners_publish": True}])
def test_zenodo_publish_does_not_bypass_review(app, client, people):
    recid = draft(client, people["alice"], "cms")
    refused = problem(client.post(f"/api/deposit/depositions/{recid}/actions/publish", headers=people["alice"]), 409)
    assert refused["field"] == "collection" and "submit-review" in refused["detail"]
    assert client.get(f"/api/records/{recid}").status_code == 404
    # its curator publishes it there
    mine = draft(client, people["cms"], "cms")
    assert client.post(f"/api/deposit/depositions/{mine}/actions/publish", headers=people["cms"]).status_code == 202


def test_the_collections_command(settings_dict, tmp_path):
    import os

    from tests.functional.test_cli import run

    env = {**os.environ, "PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": str(tmp_path)}
    assert run(["db", "upgrade"], env).returncode == 0
    made = run(["collections", "create", "atlas", "--title", "ATLAS", "--group", "atlas-curators"], env)
    assert made.returncode == 0 and "created collection atlas (curated)" in made.stdout, made.stderr
    again = run(["collections", "create", "atlas", "--title", "ATLAS"], env)
    assert again.returncode == 1 and "already" in again.stderr
    assert run(["users", "create", "ann", "--no-password"], env).returncode == 0
    added = run(["collections", "add-curator", "atlas", "ann"], env)
    assert added.returncode == 0 and "curators ann" in added.stdout
    listed = run(["collections", "list"], env).stdout
    assert "atlas\tcurated\tATLAS\tcurators: ann group atlas-curators" in listed
    assert run(["collections", "add-curator", "nope", "ann"], env).returncode == 1


def test_a_draft_with_an_unfinished_upload_is_not_submitted_nor_changed_under_review(app, client, people):
    import base64

    alice = people["alice"]
    recid = draft(client, alice, "cms")
    tus = {**alice, "Tus-Resumable": "1.0.0"}
    meta = f"record {base64.b64encode(str(recid).encode()).decode()},filename {base64.b64encode(b'a.txt').decode()}"
    created = client.post("/api/uploads/", headers={**tus, "Upload-Length": "6", "Upload-Metadata": meta})
    assert created.status_code == 201
    pending = problem(client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=alice), 409)
    assert pending["field"] == "key" and "a.txt" in pending["detail"]
    # the upload finishes; submitted, the draft's files no longer change (tus or the files API)
    location = created.headers["Location"]
    patch = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert client.patch(location, data=b"abcdef", headers=patch).status_code == 204
    assert client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=alice).status_code == 202
    assert problem(client.delete(location, headers=tus), 409)["field"] == "state"
    assert problem(client.delete(f"/api/records/{recid}/draft/files/a.txt", headers=alice), 409)["field"] == "state"
    assert problem(client.delete(f"/api/records/{recid}/draft", headers=alice), 409)["field"] == "state"
    # nor through the catalogue's own file rows (a curator's import), which the draft PUT also takes
    body = {"metadata": metadata("Muon pairs"), "files": [{"key": "b.txt", "uri": "file:///dev/null", "size": 0}]}
    site_curator = bearer(token_for(app, [*WRITER, "curate"], username="site-cura", roles=["curator"]))
    put = client.put(f"/api/records/{recid}/draft", json=body, headers=site_curator)
    assert problem(put, 409)["field"] == "state"
