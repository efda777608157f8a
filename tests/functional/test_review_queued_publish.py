"""A curator accepting a large deposit publishes it through the `deposit.publish` job, as the deposit page and the
API's publish action do, on SQLite and PostgreSQL: 202 with the request (still submitted) and the job; the request
closed to other decisions and the draft to changes until a real worker publishes the version and accepts the
request in one transaction. A failed publication (a damaged file, a curator's right lost meanwhile) leaves the
draft and its request as they were, and the requests page says why. A small deposit is still accepted in the
request."""

from __future__ import annotations

import pytest

from portal.app import services_of
from portal.identity.principal import COMMAND_LINE
from tests.functional.test_deposit import CSV_V1, metadata, problem, upload
from tests.functional.test_deposit_queued_publish import FILES
from tests.functional.test_openapi import check
from tests.support.app import start_worker
from tests.support.review import curated_people, ended, large_deposit_app
from tests.support.users import csrf, make_user, sign_in
from tests.support.waiting import wait_for


@pytest.fixture
def portal(settings_dict, tmp_path):
    return large_deposit_app(settings_dict, tmp_path, owners_publish=False)


@pytest.fixture
def people(portal):
    """alice (an owner); cms-cura curates `cms` as a listed user, edu-cura curates `education` through a group."""
    return curated_people(portal)


def submitted(client, auth, collection: str, files: dict[str, bytes], title: str = "Muon pairs") -> tuple[int, str]:
    """A draft of ``files`` for ``collection``, submitted for review: (recid, request id)."""
    md = {**metadata(title), "collections": [collection]}
    created = client.post("/api/records", json={"metadata": md}, headers=auth)
    recid = int(created.get_json()["id"])
    upload(client, auth, recid, files)
    sent = client.post(f"/api/records/{recid}/draft/actions/submit-review", headers=auth)
    assert sent.status_code == 202, sent.get_data(as_text=True)
    return recid, sent.get_json()["id"]


def test_accepting_a_large_deposit_queues_its_publication_and_the_job_accepts_the_request(portal, people) -> None:
    client = portal.test_client()
    alice, cms = people["alice"], people["cms"]
    recid, req = submitted(client, alice, "cms", FILES)
    queued = client.post(f"/api/requests/{req}/actions/accept", json={"comment": "Welcome"}, headers=cms)
    assert queued.status_code == 202, queued.get_data(as_text=True)
    body = queued.get_json()
    job_id = body["job"]["id"]
    assert body["job"]["kind"] == "deposit.publish" and body["job"]["state"] == "queued"
    assert body["status"] == "submitted" and body["links"]["job"].endswith(f"/api/jobs/{job_id}")
    assert body["links"]["self"].endswith(f"/api/requests/{req}")
    assert queued.headers["Location"].endswith(f"/api/jobs/{job_id}")
    # until the job ends: not published, the draft closed, the request decided (no second accept, no decline,
    # no cancel by its owner), each refusal naming the job
    assert client.get(f"/api/records/{recid}").status_code == 404
    for refused in (
        client.post(f"/api/requests/{req}/actions/accept", headers=cms),
        client.post(f"/api/requests/{req}/actions/decline", json={"comment": "no"}, headers=cms),
        client.post(f"/api/requests/{req}/actions/cancel", headers=alice),
        client.delete(f"/api/records/{recid}/draft/files/part0.csv", headers=alice),
    ):
        said = problem(refused, 409)
        assert said["field"] == "state" and f"job {job_id}" in said["detail"], said
    # the curator's page and the owner's draft page show the job's progress
    curator = sign_in(portal.test_client(), make_user(portal, "cms-cura"))
    page = curator.get("/requests").get_data(as_text=True)
    assert f'id="publishing-{req}"' in page and f"/api/jobs/{job_id}" in page and "Accept and publish" not in page
    owner = sign_in(portal.test_client(), make_user(portal, "alice"))
    assert f"(job {job_id})" in owner.get(f"/deposit/{recid}").get_data(as_text=True)

    start_worker(portal, poll_interval=0.05)
    job = wait_for(lambda: ended(client, cms, job_id), message="the publication job ended")
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"]["recid"] == recid and job["progress"]["done"] == len(FILES)
    published = client.get(f"/api/records/{recid}").get_json()
    assert sorted(f["key"] for f in published["metadata"]["files"]) == sorted(FILES)
    assert published["metadata"]["doi"]
    accepted = client.get(f"/api/requests/{req}", headers=alice).get_json()
    assert accepted["status"] == "accepted"
    assert [(e["action"], e["by"], e["comment"]) for e in accepted["timeline"]] == [
        ("submit", "alice", ""),
        ("accept", "cms-cura", "Welcome"),
    ]
    assert 'id="publishing-' not in curator.get("/requests?state=accepted").get_data(as_text=True)

    # a small deposit is still accepted in the request
    small, small_req = submitted(client, alice, "cms", {"one.csv": CSV_V1}, title="Small")
    done = client.post(f"/api/requests/{small_req}/actions/accept", headers=cms)
    assert done.status_code == 200 and "job" not in done.get_json()
    assert done.get_json()["status"] == "accepted" and client.get(f"/api/records/{small}").status_code == 200


def test_a_failed_publication_leaves_the_request_open_and_the_page_says_why(portal, people) -> None:
    svc = services_of(portal)
    client = portal.test_client()
    alice, cms = people["alice"], people["cms"]
    recid, req = submitted(client, alice, "cms", {**FILES, "events.root": b"not a ROOT file at all"})
    # through the requests page, as a curator does it
    curator = sign_in(portal.test_client(), make_user(portal, "cms-cura"))
    sent = curator.post(f"/requests/{req}/accept", data={"comment": "", **csrf(curator)})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/requests")
    job_id = svc.deposit.publication(recid).id  # type: ignore[union-attr]
    assert f'id="publishing-{req}"' in curator.get("/requests").get_data(as_text=True)

    start_worker(portal, poll_interval=0.05)
    job = wait_for(lambda: ended(client, cms, job_id), message="the publication job ended")
    assert job["state"] == "failed" and "events.root" in job["error"] and job["attempts"] == 1  # not retried
    assert client.get(f"/api/requests/{req}", headers=alice).get_json()["status"] == "submitted"
    assert client.get(f"/api/records/{recid}/draft", headers=alice).get_json()["status"] == "draft"
    entries = client.get(f"/api/records/{recid}/draft/files", headers=alice).get_json()["entries"]
    assert {e["status"] for e in entries} == {"completed"} and len(entries) == len(FILES) + 1
    page = curator.get("/requests").get_data(as_text=True)
    assert f'id="publication-failed-{req}"' in page and "events.root" in page and "Accept and publish" in page
    fr = curator.get("/requests?lang=fr").get_data(as_text=True)
    assert "La publication de ce brouillon a échoué" in fr
    # open again: the curator declines it with a comment
    why = {"comment": "events.root is damaged"}
    declined = client.post(f"/api/requests/{req}/actions/decline", json=why, headers=cms)
    assert declined.status_code == 200 and declined.get_json()["status"] == "declined"


def test_a_curator_who_loses_the_right_before_the_job_runs_publishes_nothing(portal, people) -> None:
    svc = services_of(portal)
    client = portal.test_client()
    recid, req = submitted(client, people["alice"], "education", FILES)
    # the 202 as documented (the request and the job)
    doc = client.get("/api/openapi.json").get_json()
    edu = people["edu"]
    check(doc, client, "post", f"/api/requests/{req}/actions/accept", 202, json={"comment": "ok"}, headers=edu)
    job_id = svc.deposit.publication(recid).id  # type: ignore[union-attr]
    svc.users.remove_from_group(COMMAND_LINE, people["teacher"].id, "teachers")
    start_worker(portal, poll_interval=0.05)
    job = wait_for(lambda: ended(client, people["edu"], job_id), message="the publication job ended")
    assert job["state"] == "failed" and "curator" in job["error"], job
    assert client.get(f"/api/requests/{req}", headers=people["alice"]).get_json()["status"] == "submitted"
    assert client.get(f"/api/records/{recid}").status_code == 404


def test_a_curator_publishing_a_large_draft_into_their_collection_queues_it_and_closes_its_request(
    portal, people
) -> None:
    client = portal.test_client()
    recid, req = submitted(client, people["alice"], "cms", FILES)
    # the publish action (not the accept): a curator of the draft's collection publishes it, the job accepts
    queued = client.post(f"/api/records/{recid}/draft/actions/publish", headers=people["cms"])
    assert queued.status_code == 202 and "job" in queued.get_json(), queued.get_data(as_text=True)
    start_worker(portal, poll_interval=0.05)
    job = wait_for(lambda: ended(client, people["cms"], queued.get_json()["job"]["id"]))
    assert job["state"] == "succeeded", job["error"]
    assert client.get(f"/api/records/{recid}").status_code == 200
    assert client.get(f"/api/requests/{req}", headers=people["alice"]).get_json()["status"] == "accepted"
