"""The background jobs' API (`/api/jobs`), on SQLite and PostgreSQL: who sees which job (owner, curators, admins;
401/403/404 as the rest of the API), the listing's filters and pages, and cancelling (a queued job at once, its
domain row told; a running one through its task, with a real worker; refusals for finished jobs and the portal's
own kinds)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portal.app import create_app, services_of
from portal.jobqueue.tasks import TASKS, TaskRun, task
from tests.support.app import start_worker
from tests.support.users import bearer, make_user, token_for
from tests.support.waiting import wait_for

LATER = datetime.now(UTC) + timedelta(days=1)  # jobs due tomorrow: no worker takes them during a test


@pytest.fixture
def portal(settings_dict):
    return create_app(settings_dict)  # no worker unless a test starts one: the jobs stay as the test leaves them


def _people(app) -> dict[str, dict[str, str]]:
    alice, bob = make_user(app, "alice"), make_user(app, "bob")
    assert alice.id != bob.id
    return {
        "alice": bearer(token_for(app, ["launch", "deposit:write"], username="alice")),
        "alice_no_launch": bearer(token_for(app, ["deposit:write"], username="alice")),
        "bob": bearer(token_for(app, ["launch", "deposit:write"], username="bob")),
        "cura": bearer(token_for(app, ["curate"], username="cura", roles=["curator"])),
        "root": bearer(token_for(app, ["admin"], username="root", roles=["admin"])),
    }


def test_a_job_is_shown_to_its_owner_curators_and_admins_only(portal) -> None:
    svc = services_of(portal)
    who = _people(portal)
    alice, bob = make_user(portal, "alice"), make_user(portal, "bob")
    mine = svc.queue.enqueue("launch", {"launch": "l1"}, owner_id=alice.id, ref="launch:l1", run_after=LATER)
    theirs = svc.queue.enqueue("ingest", {"recid": 5}, owner_id=bob.id, ref="ingest:5", run_after=LATER)
    portals_own = svc.queue.enqueue("stats.aggregate", {}, ref="periodic:stats.aggregate", run_after=LATER)
    client = portal.test_client()

    assert client.get(f"/api/jobs/{mine}").status_code == 401
    assert client.get("/api/jobs").status_code == 401
    job = client.get(f"/api/jobs/{mine}", headers=who["alice"]).get_json()
    assert job["kind"] == "launch" and job["state"] == "queued" and job["owner_id"] == alice.id
    assert job["attempts"] == 0 and job["max_attempts"] == 3 and job["error"] is None and job["cancellable"]
    assert job["created_at"] and job["started_at"] is None and job["finished_at"] is None
    assert "payload" not in job  # a launch's payload names its hub user
    assert job["links"]["cancel"].endswith(f"/api/jobs/{mine}/cancel")
    refused = client.get(f"/api/jobs/{theirs}", headers=who["alice"])
    assert refused.status_code == 403 and refused.get_json()["field"] == "job_id"
    assert client.get("/api/jobs/999999", headers=who["alice"]).status_code == 404
    for overseer in ("cura", "root"):
        assert client.get(f"/api/jobs/{theirs}", headers=who[overseer]).status_code == 200
        assert client.get(f"/api/jobs/{portals_own}", headers=who[overseer]).status_code == 200

    # the listing: a user's own jobs; curators and admins everyone's, filtered by kind and state, a page at a time
    own = client.get("/api/jobs", headers=who["alice"]).get_json()
    assert [j["id"] for j in own["hits"]] == [mine] and own["total"] == 1
    everyone = client.get("/api/jobs", headers=who["cura"]).get_json()
    assert [j["id"] for j in everyone["hits"]] == [portals_own, theirs, mine]  # newest first
    assert client.get("/api/jobs?mine=1", headers=who["cura"]).get_json()["total"] == 0
    assert [j["id"] for j in client.get("/api/jobs?kind=ingest", headers=who["root"]).get_json()["hits"]] == [theirs]
    assert client.get("/api/jobs?state=running", headers=who["root"]).get_json()["total"] == 0
    paged = client.get("/api/jobs?size=2&page=2", headers=who["root"]).get_json()
    assert [j["id"] for j in paged["hits"]] == [mine] and paged["total"] == 3 and "prev" in paged["links"]
    bad = client.get("/api/jobs?state=sleeping", headers=who["root"])
    assert bad.status_code == 400 and bad.get_json()["field"] == "state"


def test_cancelling_a_queued_job_tells_its_domain_row_and_refuses_others(portal) -> None:
    svc = services_of(portal)
    who = _people(portal)
    alice, bob = make_user(portal, "alice"), make_user(portal, "bob")
    launch = svc.queue.enqueue("launch", {"launch": "l2"}, owner_id=alice.id, ref="launch:l2", run_after=LATER)
    ingest = svc.queue.enqueue("ingest", {"recid": 5}, owner_id=bob.id, ref="ingest:5", run_after=LATER)
    periodic = svc.queue.enqueue("stats.aggregate", {}, ref="periodic:stats.aggregate", run_after=LATER)
    client = portal.test_client()

    assert client.post(f"/api/jobs/{launch}/cancel").status_code == 401
    assert client.post(f"/api/jobs/{ingest}/cancel", headers=who["alice"]).status_code == 403  # not hers
    lacking = client.post(f"/api/jobs/{launch}/cancel", headers=who["alice_no_launch"])
    assert lacking.status_code == 403 and lacking.get_json()["field"] == "scope"
    # a curator sees every job but cancels none of others' (admins do)
    assert client.post(f"/api/jobs/{ingest}/cancel", headers=who["cura"]).status_code == 403

    done = client.post(f"/api/jobs/{launch}/cancel", headers=who["alice"])
    assert done.status_code == 200
    assert done.get_json()["state"] == "cancelled" and done.get_json()["finished_at"]
    if svc.launches is not None:  # the launch's stream ends saying why (its page stops waiting)
        events = svc.launches.events.since("l2") if svc.launches.events is not None else []
        assert [e["phase"] for _id, e in events] == ["failed"] and "cancelled by" in events[0][1]["message"]
    again = client.post(f"/api/jobs/{launch}/cancel", headers=who["alice"])
    assert again.status_code == 409 and "cancelled already" in again.get_json()["detail"]
    assert client.post(f"/api/jobs/{periodic}/cancel", headers=who["root"]).status_code == 409
    assert client.post(f"/api/jobs/{ingest}/cancel", headers=who["root"]).get_json()["state"] == "cancelled"
    assert client.post("/api/jobs/999999/cancel", headers=who["root"]).status_code == 404


@pytest.fixture
def waiting_kind():
    """A kind whose task waits until cancelled (registered for this test only: workers run every kind)."""
    if "test.waits" not in TASKS:

        @task("test.waits", max_attempts=1)
        def waits(services: Any, run: TaskRun) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                run.check_cancel()
                time.sleep(0.05)

    yield "test.waits"
    TASKS.pop("test.waits", None)


def test_a_running_job_is_cancelled_through_its_task_by_a_real_worker(portal, waiting_kind, monkeypatch) -> None:
    from portal.jobqueue import access

    monkeypatch.setitem(access.CANCEL_SCOPES, waiting_kind, "deposit:write")
    svc = services_of(portal)
    who = _people(portal)
    alice = make_user(portal, "alice")
    job_id = svc.queue.enqueue(waiting_kind, {}, owner_id=alice.id)
    start_worker(portal, poll_interval=0.05, heartbeat_timeout=3.0)
    client = portal.test_client()
    wait_for(lambda: client.get(f"/api/jobs/{job_id}", headers=who["alice"]).get_json()["state"] == "running")
    asked = client.post(f"/api/jobs/{job_id}/cancel", headers=who["alice"])
    assert asked.status_code == 202 and asked.get_json()["cancel_requested"] is True
    ended = wait_for(
        lambda: (j := client.get(f"/api/jobs/{job_id}", headers=who["alice"]).get_json())["state"] != "running" and j,
        message="the worker stopped the job",
    )
    assert ended["state"] == "cancelled" and ended["finished_at"] and "cancel" not in ended["links"]
