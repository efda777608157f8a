"""Publishing a large deposit as a `deposit.publish` queue job, on SQLite and PostgreSQL: 202 with the job, the
draft closed to changes and published only when a real worker ends the job; a damaged file fails the job with the
reason, the draft left a draft; a worker killed -9 mid-publication leaves nothing half-written and the job, recovered
by the queue's heartbeat, publishes the version exactly once. Small deposits still publish in the request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.app import services_of
from portal.db.models import Record
from tests.functional.test_deposit import CSV_V1, metadata, problem, upload
from tests.support.app import start_worker
from tests.support.review import WRITER, ended, job_json, large_deposit_app
from tests.support.users import bearer, csrf, make_user, sign_in, token_for
from tests.support.waiting import wait_for

FILES = {f"part{i}.csv": CSV_V1.replace(b"91.2", f"9{i}.5".encode()) for i in range(4)}
#: large enough (4 x 18 MB) that placing and ingesting them takes the worker a while: it is killed meanwhile
BIG = {f"big{i}.csv": b"run,event,mass\n" + f"{i},1,91.2\n".encode() * 2_000_000 for i in range(4)}


@pytest.fixture
def portal(settings_dict, tmp_path):
    return large_deposit_app(settings_dict, tmp_path, owners_publish=True)


def _draft(app, client, auth, files: dict[str, bytes]) -> int:
    recid = int(client.post("/api/records", json={"metadata": metadata()}, headers=auth).get_json()["id"])
    upload(client, auth, recid, files)
    return recid


def test_a_large_deposit_is_published_by_a_job_and_a_small_one_in_the_request(portal) -> None:
    client = portal.test_client()
    auth = bearer(token_for(portal, WRITER, username="alice"))
    recid = _draft(portal, client, auth, FILES)
    queued = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth)
    assert queued.status_code == 202, queued.get_data(as_text=True)
    body = queued.get_json()
    job_id = body["job"]["id"]
    assert body["job"]["kind"] == "deposit.publish" and body["job"]["state"] == "queued"
    assert queued.headers["Location"].endswith(f"/api/jobs/{job_id}") and body["links"]["job"].endswith(str(job_id))
    # until the job ends: still a draft, closed to changes, not published twice
    assert client.get(f"/api/records/{recid}/draft", headers=auth).get_json()["status"] == "draft"
    assert client.get(f"/api/records/{recid}").status_code == 404
    closed = problem(client.delete(f"/api/records/{recid}/draft/files/part0.csv", headers=auth), 409)
    assert closed["field"] == "state" and f"job {job_id}" in closed["detail"]
    assert problem(client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth), 409)["field"] == "state"

    start_worker(portal, poll_interval=0.05)
    job = wait_for(lambda: ended(client, auth, job_id), message="the publication job ended")
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"]["recid"] == recid and job["progress"]["done"] == job["progress"]["total"] == len(FILES)
    published = client.get(f"/api/records/{recid}").get_json()
    assert sorted(f["key"] for f in published["metadata"]["files"]) == sorted(FILES)

    small = _draft(portal, client, auth, {"one.csv": CSV_V1})
    done = client.post(f"/api/records/{small}/draft/actions/publish", headers=auth)
    assert done.status_code == 202 and "job" not in done.get_json()  # published in the request, as before
    assert client.get(f"/api/records/{small}").status_code == 200


def test_a_damaged_file_fails_the_job_and_leaves_the_draft_with_the_reason(portal) -> None:
    svc = services_of(portal)
    client = portal.test_client()
    auth = bearer(token_for(portal, WRITER, username="alice"))
    recid = _draft(portal, client, auth, {**FILES, "events.root": b"not a ROOT file at all"})
    job_id = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth).get_json()["job"]["id"]
    start_worker(portal, poll_interval=0.05)
    job = wait_for(lambda: ended(client, auth, job_id), message="the publication job ended")
    assert job["state"] == "failed" and "events.root" in job["error"] and job["attempts"] == 1  # not retried
    draft = client.get(f"/api/records/{recid}/draft", headers=auth).get_json()
    assert draft["status"] == "draft" and svc.catalog.get(recid, include_drafts=True).files == []
    entries = client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"]
    assert {e["status"] for e in entries} == {"completed"} and len(entries) == len(FILES) + 1
    placed = Path(svc.settings.data_dir) / "deposits" / str(recid)
    assert not placed.exists() or not any(p.is_file() for p in placed.rglob("*"))
    # open to changes again: the owner removes the damaged file and publishes (queued again: 4 files)
    assert client.delete(f"/api/records/{recid}/draft/files/events.root", headers=auth).status_code == 204
    again = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth).get_json()["job"]["id"]
    assert wait_for(lambda: ended(client, auth, again))["state"] == "succeeded"


def _worker_process(app) -> subprocess.Popen[bytes]:
    env = {**os.environ, **services_of(app).settings.environ()}
    return subprocess.Popen([sys.executable, "-m", "portal", "worker", "--concurrency", "1", "--no-periodic"], env=env)


def test_a_publication_whose_worker_is_killed_minus_9_is_recovered_and_published_once(portal) -> None:
    svc = services_of(portal)
    client = portal.test_client()
    auth = bearer(token_for(portal, WRITER, username="alice"))
    recid = _draft(portal, client, auth, BIG)
    job_id = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth).get_json()["job"]["id"]
    process = _worker_process(portal)
    try:
        took = "the worker process took the job"
        wait_for(lambda: job_json(client, auth, job_id)["state"] == "running", message=took)
        # the publishing transaction waits on a lock this test holds (the record's row; SQLite's one write lock),
        # so the worker is killed between placing the files and publishing them
        with svc.db.engine.connect() as conn:
            if svc.db.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(select(Record.recid).where(Record.recid == recid).with_for_update())
            time.sleep(2.0)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
            conn.rollback()
    finally:
        if process.poll() is None:
            process.kill()
    lost = svc.queue.get(job_id)
    assert lost is not None and lost.state == "running" and lost.worker_id is not None  # nobody released it
    assert svc.catalog.get(recid, include_drafts=True).status == "draft"  # nothing half-written
    assert svc.catalog.get(recid, include_drafts=True).files == []

    start_worker(portal, poll_interval=0.05, heartbeat_timeout=3)
    job = wait_for(lambda: ended(client, auth, job_id), message="the recovered job ended")
    assert job["state"] == "succeeded" and job["attempts"] == 2, job
    published = client.get(f"/api/records/{recid}").get_json()
    assert sorted(f["key"] for f in published["metadata"]["files"]) == sorted(BIG)
    # the second attempt started over in the job's folder: every file once in the storage
    placed = sorted(p.name for p in (Path(svc.settings.data_dir) / "deposits" / str(recid)).rglob("*") if p.is_file())
    assert placed == sorted(BIG)


def test_the_deposit_page_and_the_zenodo_api_queue_a_large_publication_too(portal) -> None:
    api = portal.test_client()
    auth = bearer(token_for(portal, WRITER, username="alice"))
    browser = sign_in(portal.test_client(), make_user(portal, "alice"))
    form = csrf(browser)
    recid = _draft(portal, api, auth, FILES)
    sent = browser.post(f"/deposit/{recid}/publish", data=form)
    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"/deposit/{recid}"), sent.status_code
    job = api.get("/api/jobs?kind=deposit.publish&mine=true", headers=auth).get_json()["hits"][0]
    page = browser.get(f"/deposit/{recid}").get_data(as_text=True)
    assert 'id="publishing"' in page and f"(job {job['id']})" in page and f"/api/jobs/{job['id']}" in page
    assert api.get(f"/api/records/{recid}").status_code == 404  # not published by the request

    zenodo = _draft(portal, api, auth, FILES)
    accepted = api.post(f"/api/deposit/depositions/{zenodo}/actions/publish", headers=auth)
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    assert api.get(f"/api/records/{zenodo}").status_code == 404  # its job publishes it

    start_worker(portal, poll_interval=0.05)
    for done in (recid, zenodo):
        wait_for(lambda done=done: api.get(f"/api/records/{done}").status_code == 200, message=f"{done} published")
    assert 'id="publishing"' not in browser.get(f"/record/{recid}").get_data(as_text=True)
