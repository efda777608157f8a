"""DOIs registered with DataCite (the `datacite` provider) against a local stand-in of DataCite's REST API that
checks each request against DataCite's JSON schema, on SQLite and PostgreSQL: publish -> a `pids.register` job
that a worker runs -> findable with the record's metadata, new versions and the concept DOI, outages retried,
refusals shown to the owner and admins."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from portal.app import services_of
from portal.db.models import utcnow
from portal.identity.principal import COMMAND_LINE
from portal.pids.registrations import retry_pending
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.datacite_server import DataCiteStandIn
from tests.support.users import CURATOR_SCOPES, bearer, make_user, sign_in
from tests.support.waiting import wait_for

BASE = "http://portal.test"


@pytest.fixture
def datacite() -> Iterator[DataCiteStandIn]:
    with DataCiteStandIn().serving() as standin:
        yield standin


@pytest.fixture
def app_settings(datacite: DataCiteStandIn) -> dict[str, object]:
    return {
        "pid_provider": "datacite",
        "datacite_url": datacite.url,
        "datacite_username": datacite.username,
        "datacite_password": datacite.password,
        "base_url": BASE,
    }


@pytest.fixture
def svc(app):
    return services_of(app)


def _findable(datacite: DataCiteStandIn, *dois: str) -> None:
    """Wait for a worker's `pids.register` job to have made ``dois`` findable."""
    wait_for(lambda: all(datacite.state(doi) == "findable" for doi in dois), message=f"{dois} registered")


def _tried(svc, recid: int, doi: str, attempts: int = 1):
    """Wait until the worker tried to register ``doi`` ``attempts`` times; its registration."""
    return wait_for(
        lambda: next(
            (r for r in svc.registrations.of_record(recid, COMMAND_LINE) if r.doi == doi and r.attempts >= attempts),
            None,
        ),
        message=f"{doi} tried {attempts} times",
    )


def _load(svc, tmp_path, **extra):
    record = dataset(7, authors=[{"name": "Doe, Jane", "orcid": "0000-0002-1825-0097"}], **extra)
    load_file(svc, write_records(tmp_path / "r.json", [record]))
    return svc.catalog.get(7)


def _new_version(client, token, recid, title):
    draft = client.post(f"/api/records/{recid}/versions", headers=bearer(token)).get_json()
    new = int(draft["id"])
    metadata = {**dataset(new), "title": title, "version": "2"}
    assert (
        client.put(f"/api/records/{new}/draft", json={"metadata": metadata}, headers=bearer(token)).status_code == 200
    )
    return new


def test_publishing_makes_both_dois_findable_with_the_records_metadata(svc, datacite, tmp_path):
    view = _load(svc, tmp_path)
    doi, concept_doi = view.doi, view.concept_doi
    job = svc.queue.find(f"pids.register:{doi}")  # queued with the publication, run by a worker
    assert job is not None and job.payload == {"dois": [doi, concept_doi]}
    _findable(datacite, doi, concept_doi)
    wait_for(lambda: svc.queue.find(f"pids.register:{doi}").state == "succeeded", message="the job ended")
    attributes = datacite.dois[doi]
    assert attributes["url"] == f"{BASE}/record/7"
    assert attributes["titles"] == [{"title": "Dataset 7"}]
    assert attributes["creators"][0]["nameIdentifiers"][0]["nameIdentifier"] == "https://orcid.org/0000-0002-1825-0097"
    assert attributes["types"]["resourceTypeGeneral"] == "Dataset" and attributes["publicationYear"] == "2024"

    # each DOI was made a draft first, then published (DataCite's lifecycle), through its REST API
    def about(path, body):
        return doi in path or (body is not None and body["data"]["attributes"].get("doi") == doi)

    assert [method for method, path, body in datacite.requests if about(path, body)] == ["GET", "POST", "PUT"]
    assert datacite.dois[concept_doi]["url"] == f"{BASE}/record/7"
    assert {r.state for r in svc.registrations.of_record(7, COMMAND_LINE)} == {"registered"}


def test_a_new_version_gets_its_doi_and_the_concept_doi_follows_it(app, svc, datacite, user_token, tmp_path):
    view = _load(svc, tmp_path)
    client = app.test_client()
    token = user_token(CURATOR_SCOPES, username="cura", roles=["curator"])
    new = _new_version(client, token, 7, "Dataset 7, reprocessed")
    published = client.post(f"/api/records/{new}/draft/actions/publish", headers=bearer(token))
    assert published.status_code == 202
    new_doi = published.get_json()["metadata"]["doi"]
    assert new_doi != view.doi
    _findable(datacite, new_doi)
    # the first publication's job may still be sending the concept DOI (the worker runs two jobs at once)
    wait_for(
        lambda: datacite.dois.get(view.concept_doi, {}).get("url") == f"{BASE}/record/{new}",
        message="the concept moved",
    )
    assert datacite.dois[new_doi]["titles"][0]["title"] == "Dataset 7, reprocessed"
    concept = datacite.dois[view.concept_doi]
    assert concept["url"] == f"{BASE}/record/{new}"  # the concept DOI resolves to the latest version now
    assert concept["titles"][0]["title"] == "Dataset 7, reprocessed"
    has_versions = {r["relatedIdentifier"] for r in concept["relatedIdentifiers"] if r["relationType"] == "HasVersion"}
    assert has_versions == {view.doi, new_doi}
    assert datacite.dois[view.doi]["url"] == f"{BASE}/record/7"  # the old version's DOI keeps its page

    # a metadata fix (a new revision) of the latest version updates both DOIs' metadata at DataCite
    svc.catalog.edit_metadata(new, {**svc.catalog.get(new).metadata, "title": "Dataset 7, fixed"})
    wait_for(
        lambda: datacite.dois[view.concept_doi]["titles"][0]["title"] == "Dataset 7, fixed",
        message="the fix was sent",
    )
    assert datacite.dois[new_doi]["titles"][0]["title"] == "Dataset 7, fixed"
    assert datacite.dois[view.concept_doi]["titles"][0]["title"] == "Dataset 7, fixed"


def test_metadata_sent_while_the_record_changes_again_is_overtaken_by_the_newest(svc, datacite, tmp_path, monkeypatch):
    """Two jobs sending one DOI at once (the worker runs two): the job holding older metadata may reach DataCite
    last. It then finds the record changed and sends again, so DataCite ends with the newest metadata, although the
    other job had already marked the DOI registered (a retry round skips registered DOIs)."""
    view = _load(svc, tmp_path)
    _findable(datacite, view.doi, view.concept_doi)
    wait_for(lambda: svc.queue.find(f"pids.register:{view.doi}").state == "succeeded", message="the first job ended")
    first_job = svc.queue.find(f"pids.register:{view.doi}").id
    provider = svc.registrations.provider
    forward = provider.register
    held = threading.Event()

    def edited(title: str) -> dict:
        return {**svc.catalog.get(7).metadata, "title": title}

    def register(doi, url, metadata=None):
        if doi == view.concept_doi and metadata["titles"][0]["title"] == "Dataset 7, fix 1" and not held.is_set():
            held.set()  # the job sending fix 1 is held here, its metadata read, while fix 2 is made and sent
            svc.catalog.edit_metadata(7, edited("Dataset 7, fix 2"))
            wait_for(
                lambda: (
                    datacite.dois[view.concept_doi]["titles"][0]["title"] == "Dataset 7, fix 2"
                    and svc.queue.find(f"pids.register:{view.doi}").state == "succeeded"
                ),
                message="fix 2 sent by the other job",
            )
        forward(doi, url, metadata)

    monkeypatch.setattr(provider, "register", register)
    svc.catalog.edit_metadata(7, edited("Dataset 7, fix 1"))
    wait_for(held.is_set, message="fix 1 being sent")

    def fixes_ended() -> bool:
        jobs = [job for job in svc.queue.entries(kind="pids.register", size=10)[0] if job.id != first_job]
        return len(jobs) == 2 and all(job.state == "succeeded" for job in jobs)

    wait_for(fixes_ended, message="the jobs of both fixes ended")
    assert datacite.dois[view.concept_doi]["titles"][0]["title"] == "Dataset 7, fix 2"
    assert datacite.dois[view.doi]["titles"][0]["title"] == "Dataset 7, fix 2"
    assert {r.state for r in svc.registrations.of_record(7, COMMAND_LINE)} == {"registered"}


def test_an_outage_leaves_the_dois_pending_shown_to_the_owner_and_admins_until_a_retry_succeeds(
    app, svc, datacite, user_token, tmp_path
):
    view = _load(svc, tmp_path)
    _findable(datacite, view.doi, view.concept_doi)  # the first version's registration is done before the outage
    owner = make_user(app, "alice")
    draft = svc.catalog.new_version(7, owner_id=owner.id)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"})
    token = user_token(CURATOR_SCOPES, username="cura", roles=["curator"])
    datacite.fail(100)  # DataCite is down
    client = app.test_client()
    published = client.post(f"/api/records/{draft.recid}/draft/actions/publish", headers=bearer(token))
    assert published.status_code == 202  # the publication stands; its registration waits
    doi = published.get_json()["metadata"]["doi"]
    _tried(svc, draft.recid, doi)  # by a worker, after the request answered
    assert datacite.state(doi) is None

    states = {r.doi: r for r in svc.registrations.of_record(draft.recid, COMMAND_LINE)}
    assert states[doi].state == "pending" and states[doi].attempts == 1 and "503" in (states[doi].last_error or "")
    assert states[doi].next_attempt_at > utcnow()

    # the owner sees it on the record page; a visitor does not
    owner_page = sign_in(app.test_client(), owner).get(f"/record/{draft.recid}").get_data(as_text=True)
    assert 'data-pid-state="pending"' in owner_page and f"doi:{doi}" in owner_page
    visitor_page = app.test_client().get(f"/record/{draft.recid}").get_data(as_text=True)
    assert "data-pid-state" not in visitor_page
    # admins see every DOI not registered; others are refused
    admin = make_user(app, "root", roles=["admin"])
    admin_page = sign_in(app.test_client(), admin).get("/admin/pids")
    assert admin_page.status_code == 200 and doi in admin_page.get_data(as_text=True)
    assert sign_in(app.test_client(), owner).get("/admin/pids").status_code == 403

    # the concept DOI waited behind its version (one failure per round: the registry is down) and is sent at the
    # next round; the version, which failed, waits for its backoff, after which it is registered
    datacite.fail(0)
    concept_doi = published.get_json()["metadata"]["conceptdoi"]
    assert retry_pending(services_of(app)).registered == [concept_doi]
    svc.registrations.clock = lambda: utcnow() + timedelta(hours=1)
    report = retry_pending(svc)
    assert doi in report.registered and report.pending == []
    assert datacite.state(doi) == "findable"
    owner_page = sign_in(app.test_client(), owner).get(f"/record/{draft.recid}").get_data(as_text=True)
    assert 'data-pid-state="pending"' not in owner_page and 'data-pid-state="registered"' in owner_page


def test_metadata_datacite_refuses_reaches_the_owner_naming_the_field(app, svc, datacite, tmp_path):
    datacite.domains = "opendata.example.org"  # the repository's domains at DataCite leave out this portal
    _load(svc, tmp_path)
    owner = make_user(app, "alice")
    draft = svc.catalog.new_version(7, owner_id=owner.id)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"})
    published = svc.catalog.publish(draft.recid)
    refused = _tried(svc, draft.recid, published.doi)
    assert refused.state == "rejected" and refused.error_field == "url"
    assert "repository domain settings" in (refused.last_error or "")
    page = sign_in(app.test_client(), owner).get(f"/record/{draft.recid}").get_data(as_text=True)
    assert 'data-pid-state="rejected"' in page and "Field <code>url</code>" in page
    # a refusal is not retried on its own: the same metadata would be refused again
    assert published.doi not in retry_pending(svc).registered
    datacite.domains = "*"
    assert published.doi in svc.registrations.retry(everything=True).registered
    assert datacite.state(published.doi) == "findable"


def test_the_stand_in_refuses_what_datacite_refuses(datacite):
    """The stand-in itself: DataCite's schema, its credentials and its prefix, through the `datacite` client."""
    from datacite import DataCiteRESTClient
    from datacite.errors import DataCiteError, DataCiteUnauthorizedError

    client = DataCiteRESTClient(datacite.username, datacite.password, "10.5072", url=datacite.url)
    client.draft_doi({}, "10.5072/standin.1")
    assert datacite.state("10.5072/standin.1") == "draft"
    with pytest.raises(DataCiteError) as refused:  # findable needs the schema's required properties
        client.update_doi("10.5072/standin.1", {"doi": "10.5072/standin.1", "event": "publish"}, "http://x.test/1")
    assert '"source": "creators"' in str(refused.value)
    with pytest.raises(DataCiteError) as refused:
        client.update_doi("10.5072/standin.1", {"doi": "10.5072/standin.1", "publicationYear": "MMXXIV"})
    assert '"source": "publicationYear"' in str(refused.value)
    wrong = DataCiteRESTClient(datacite.username, "wrong", "10.5072", url=datacite.url)
    with pytest.raises(DataCiteUnauthorizedError):
        wrong.get_metadata("10.5072/standin.1")


def test_portal_pids_lists_and_retries_what_is_pending(svc, datacite, settings_dict, tmp_path):
    datacite.fail(100)
    view = _load(svc, tmp_path)
    _tried(svc, 7, view.doi)  # the worker's first sending failed
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path / "cli"),
        "PORTAL_BASE_URL": BASE,
        "PORTAL_PID_PROVIDER": "datacite",
        "PORTAL_DATACITE_URL": datacite.url,
        "PORTAL_DATACITE_USERNAME": datacite.username,
        "PORTAL_DATACITE_PASSWORD": datacite.password,
    }
    portal = str(Path(sys.executable).parent / "portal")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([portal, "pids", *args], capture_output=True, text=True, env=env, timeout=120)

    listed = run("list")
    assert listed.returncode == 0 and f"{view.doi}\tversion 7\tpending" in listed.stdout
    assert "2 not registered" in listed.stdout and datacite.password not in listed.stdout + listed.stderr
    tried = run("retry")  # the concept DOI, not tried yet (its version failed first), fails now
    assert tried.returncode == 1 and tried.stdout == f"still pending {view.concept_doi}\n"
    waiting = run("retry")  # both wait for their backoff: nothing is sent
    assert waiting.returncode == 0 and waiting.stdout == ""
    still_down = run("retry", "--all")
    assert still_down.returncode == 1 and f"still pending {view.doi}" in still_down.stdout
    datacite.fail(0)
    retried = run("retry", "--all")
    assert retried.returncode == 0, retried.stderr
    assert f"registered {view.doi}" in retried.stdout and f"registered {view.concept_doi}" in retried.stdout
    assert datacite.state(view.doi) == "findable" and "0 not registered" in run("list").stdout


def test_a_failed_registration_is_retried_by_a_worker_after_its_backoff(make_app, app_settings, datacite, tmp_path):
    app = make_app(**app_settings, pid_retry_backoff=0.3)  # a real worker runs; backoffs of 0.3 s, 0.6 s, ...
    svc = services_of(app)
    datacite.fail(100)  # DataCite is down
    view = _load(svc, tmp_path)

    def registrations():
        return {r.doi: r for r in svc.registrations.of_record(7, COMMAND_LINE)}

    first = _tried(svc, 7, view.doi)
    assert first.state == "pending" and first.attempts >= 1
    scheduled = wait_for(lambda: svc.queue.find("pids.retry"), message="a round of retries was queued")
    assert scheduled is not None and scheduled.kind == "pids.retry"  # a round of retries, queued for a worker
    # the worker retries on its own, each round after the backoff, while DataCite stays down
    wait_for(lambda: registrations()[view.doi].attempts >= 3, message="the worker retried the registration")
    assert datacite.state(view.doi) is None
    datacite.fail(0)  # DataCite is back: the next round registers both DOIs, and schedules no other
    wait_for(
        lambda: {r.state for r in registrations().values()} == {"registered"}, message="the worker registered both"
    )
    assert datacite.state(view.doi) == "findable" and datacite.state(view.concept_doi) == "findable"
    wait_for(lambda: svc.queue.find("pids.retry").state == "succeeded", message="the last round ended")
    assert svc.queue.counts().get("queued", 0) == 0  # nothing left pending: no round scheduled after it


def test_a_draft_reserves_its_doi_and_publishing_makes_that_same_doi_findable(app, svc, datacite, user_token):
    client = app.test_client()
    owner = bearer(user_token(["deposit:write"], username="alice"))
    metadata = {**dataset(1), "title": "Muon pairs to be cited"}
    metadata.pop("recid")
    recid = int(client.post("/api/records", json={"metadata": metadata}, headers=owner).get_json()["id"])
    reserve = f"/api/records/{recid}/draft/pids/doi"

    # while DataCite is down the reservation is refused, saying so, and nothing is kept
    datacite.fail(100)
    down = client.post(reserve, headers=owner)
    assert down.status_code == 503 and down.mimetype == "application/problem+json" and down.headers["Retry-After"]
    assert client.get(f"/api/records/{recid}/draft", headers=owner).get_json()["pids"] == {}
    datacite.fail(0)

    reserved = client.post(reserve, headers=owner)
    assert reserved.status_code == 201, reserved.get_data(as_text=True)
    doi = reserved.get_json()["pids"]["doi"]["identifier"]
    assert datacite.state(doi) == "draft"  # reserved at the registry, not resolvable yet
    assert datacite.dois[doi]["titles"] == [{"title": "Muon pairs to be cited"}]
    assert client.post(reserve, headers=owner).get_json()["pids"]["doi"]["identifier"] == doi  # idempotent
    # someone else may not reserve it; nor may anyone without a token
    assert client.post(reserve, headers=bearer(user_token(["deposit:write"], username="bob"))).status_code in (403, 404)
    assert client.post(reserve).status_code == 401

    curator = bearer(user_token(CURATOR_SCOPES, username="cura", roles=["curator"]))
    published = client.post(f"/api/records/{recid}/draft/actions/publish", headers=curator)
    assert published.status_code == 202 and published.get_json()["metadata"]["doi"] == doi
    _findable(datacite, doi)
    assert datacite.dois[doi]["url"] == f"{BASE}/record/{recid}"
    # a published version has its DOI: reserving again is refused, naming why
    again = client.post(reserve, headers=curator)
    assert again.status_code in (404, 409), again.get_data(as_text=True)


def test_a_records_registrations_link_to_the_job_sending_them_which_its_owner_follows(app, svc, datacite, tmp_path):
    _load(svc, tmp_path)
    owner = make_user(app, "alice")
    draft = svc.catalog.new_version(7, owner_id=owner.id)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"})
    published = svc.catalog.publish(draft.recid)
    _findable(datacite, published.doi)
    alice = sign_in(app.test_client(), owner)
    body = alice.get(f"/api/records/{draft.recid}/pids/registrations").get_json()
    assert {r["doi"] for r in body["registrations"]} == {published.doi, published.concept_doi}
    job_url = next(r for r in body["registrations"] if r["doi"] == published.doi)["links"]["job"]
    # the job belongs to the record's owner: she follows it through the jobs API
    job = wait_for(lambda: (j := alice.get(job_url).get_json())["state"] == "succeeded" and j, message="job done")
    assert job["kind"] == "pids.register" and job["owner_id"] == owner.id and job["attempts"] == 1
    assert alice.get("/api/jobs?kind=pids.register").get_json()["total"] == 1
    # a visitor sees no registration and may not read the job
    visitor = app.test_client()
    assert visitor.get(f"/api/records/{draft.recid}/pids/registrations").get_json()["registrations"] == []
    assert visitor.get(job_url).status_code == 401
    assert app.test_client().get("/api/records/999999/pids/registrations").status_code == 404
