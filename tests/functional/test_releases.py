"""Software from git releases, end to end on SQLite and PostgreSQL: a repository on a local git server (HTTP on
loopback), connected by a user; signed release webhooks in GitHub's and GitLab's payload formats (the examples
of their documentation, tests/data/webhooks) become new versions of the software record, with the archive as
file and the metadata from CITATION.cff; every refused delivery is listed with its reason. A verified delivery
is answered 202 and processed by the app's queue worker; a bad signature is refused in the answer."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
import zlib
from pathlib import Path

import pytest
from sqlalchemy import text

from portal.app import create_app, services_of
from portal.releases.signatures import github_signature
from tests.support.app import start_worker
from tests.support.gitserver import git_server
from tests.support.users import bearer, csrf, make_user, sign_in, token_for

WEBHOOKS = Path(__file__).resolve().parent.parent / "data" / "webhooks"
PUBLISH = ["deposit:write", "deposit:publish"]


def citation(version: str, *, date: str = "2026-11-30", title: str = "Dimuon spectrum fitter") -> str:
    return f"""cff-version: 1.2.0
message: If you use this software, please cite it as below.
title: {title}
version: {version}
date-released: {date}
license: MIT
abstract: Fits the dimuon invariant-mass spectrum with a Crystal Ball plus exponential.
keywords: [dimuon, fit]
authors:
  - family-names: Doe
    given-names: Jane
    orcid: https://orcid.org/0000-0002-1825-0097
    affiliation: Example University
  - family-names: Roe
    given-names: Richard
"""


@pytest.fixture
def app_settings(tmp_path):
    return {
        "data_dir": str(tmp_path / "data"),
        "releases_git_hosts": "127.0.0.1",
        "releases_allow_http": True,
        "deposit_owners_publish": True,  # the site lets owners publish: their releases publish as they arrive
    }


@pytest.fixture
def server(tmp_path):
    with git_server(tmp_path / "git") as srv:
        yield srv


def connect(client, app, url, provider="github"):
    token = token_for(app, PUBLISH)
    resp = client.post("/api/repositories", json={"provider": provider, "url": url}, headers=bearer(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json(), token


def github_delivery(url, tag, *, action="published"):
    payload = json.loads((WEBHOOKS / "github-release-published.json").read_text())
    payload["action"] = action
    payload["release"]["tag_name"] = tag
    payload["release"]["name"] = f"Release {tag}"
    payload["repository"]["html_url"] = url.removesuffix(".git")
    payload["repository"]["clone_url"] = url
    return json.dumps(payload).encode()


def send_github(client, body, secret, *, delivery=None, event="release", signature=None):
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature or github_signature(secret, body),
    }
    return client.post("/api/hooks/github", data=body, headers=headers)


def deliveries(client, repo_id, token):
    resp = client.get(f"/api/repositories/{repo_id}/deliveries?size=50", headers=bearer(token))
    assert resp.status_code == 200
    return resp.get_json()["hits"]


def settled(client, resp, repo_id, token, timeout=60.0):
    """The delivery a 202 answer queued, once a worker processed it (a bound on the wait, not a timed assertion)."""
    assert resp.status_code == 202, resp.get_data(as_text=True)
    queued = resp.get_json()
    assert queued["outcome"] == "pending" and not queued["replayed"], queued
    return processed(client, repo_id, token, lambda d: d["id"] == queued["id"], timeout)


def processed(client, repo_id, token, which, timeout=60.0):
    """The delivery ``which`` picks from the list, once it is neither pending (queued) nor processing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = next(d for d in deliveries(client, repo_id, token) if which(d))
        if found["outcome"] not in ("pending", "processing"):
            return found
        time.sleep(0.05)
    raise AssertionError(f"the delivery was not processed in {timeout} s")


def test_signed_release_creates_a_software_version_from_citation_cff(app, server):
    client = app.test_client()
    svc = services_of(app)
    first_commit = server.release("v1.0.0", {"CITATION.cff": citation("1.0.0"), "fit.py": "print('fit')\n"})
    repo, token = connect(client, app, server.url)
    assert repo["secret"].startswith("whsec_") and repo["hook_path"] == "/api/hooks/github"

    resp = send_github(client, github_delivery(server.url, "v1.0.0"), repo["secret"])
    created = settled(client, resp, repo["id"], token)
    assert created["outcome"] == "created" and created["tag"] == "v1.0.0", created
    first = svc.catalog.get(created["recid"])
    md = first.metadata
    assert md["title"] == "Dimuon spectrum fitter" and md["type"]["primary"] == "Software"
    assert md["version"] == "1.0.0" and md["date_published"] == "2026-11-30"
    assert md["authors"] == [
        {"name": "Doe, Jane", "orcid": "0000-0002-1825-0097", "affiliation": "Example University"},
        {"name": "Roe, Richard"},
    ]
    assert md["license"] == {"attribution": "MIT"} and md["keywords"] == ["dimuon", "fit"]
    assert md["source_code_repository"]["url"] == server.url
    assert first.doi and first.status == "published"

    # the archive is the record's file: served by the portal, byte for byte what its checksum says, the tag's tree
    [row] = first.files
    assert row["key"] == "fitter-v1.0.0.tar.gz" and first_commit in row["description"]
    download = client.get(f"/record/{first.recid}/files/{row['key']}")
    assert download.status_code == 200
    data = download.get_data()
    assert len(data) == row["size"] and f"adler32:{zlib.adler32(data) & 0xFFFFFFFF:08x}" == row["checksum"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert "fitter-v1.0.0/CITATION.cff" in names and "fitter-v1.0.0/fit.py" in names

    # the next release is a new version of the same record, with a DOI of its own
    server.release("v1.1.0", {"CITATION.cff": citation("1.1.0", date="2026-12-01")})
    resp = send_github(client, github_delivery(server.url, "v1.1.0"), repo["secret"])
    second = svc.catalog.get(settled(client, resp, repo["id"], token)["recid"])
    assert second.concept_recid == first.concept_recid and second.version_index == 2 and second.is_latest
    assert second.doi and second.doi != first.doi and second.metadata["version"] == "1.1.0"
    assert [f["key"] for f in second.files] == ["fitter-v1.1.0.tar.gz"]
    assert [f["key"] for f in svc.catalog.get(first.recid).files] == ["fitter-v1.0.0.tar.gz"]  # untouched

    # the owner of the repository owns the versions: they appear among the user's uploads
    owner = make_user(app, "writer")
    mine, _total = svc.catalog.owned_by(owner.id)
    assert {first.recid, second.recid} <= {r.recid for r in mine}

    listed = deliveries(client, repo["id"], token)
    assert [d["tag"] for d in listed] == ["v1.1.0", "v1.0.0"]  # newest first
    assert all(d["outcome"] == "created" and d["record_url"] for d in listed)


def test_a_delivery_waits_queued_for_a_worker_then_a_worker_processes_it(settings_dict, app_settings, server):
    app = create_app({**settings_dict, **app_settings})  # a web process, and no worker yet
    svc = services_of(app)
    client = app.test_client()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0")})
    repo, token = connect(client, app, server.url)
    resp = send_github(client, github_delivery(server.url, "v1.0.0"), repo["secret"])
    assert resp.status_code == 202 and resp.get_json()["outcome"] == "pending", resp.get_data(as_text=True)
    delivery_id = resp.get_json()["id"]
    assert svc.queue.find(f"release.delivery:{delivery_id}").state == "queued"
    assert svc.catalog.count_published() == 0  # the request fetched and published nothing
    owner_page = sign_in(app.test_client(), make_user(app, "writer"))
    assert "<td>queued</td>" in owner_page.get(f"/settings/repositories/{repo['id']}").get_data(as_text=True)

    worker = start_worker(app)
    done = processed(client, repo["id"], token, lambda d: d["id"] == delivery_id)
    assert done["outcome"] == "created" and done["attempts"] == 1 and svc.catalog.count_published() == 1
    # the delivery row commits before the worker marks its job succeeded, in a transaction of its own
    deadline = time.monotonic() + 30
    job = f"release.delivery:{delivery_id}"
    while (entry := svc.queue.find(job)).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert entry.state == "succeeded" and entry.worker_id == worker.worker_id
    assert "<td>created</td>" in owner_page.get(f"/settings/repositories/{repo['id']}").get_data(as_text=True)


def test_a_replayed_delivery_changes_nothing(app, server):
    client = app.test_client()
    server.release("v2.0.0", {"CITATION.cff": citation("2.0.0")})
    repo, token = connect(client, app, server.url)
    body = github_delivery(server.url, "v2.0.0")
    first = send_github(client, body, repo["secret"], delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    recid = settled(client, first, repo["id"], token)["recid"]
    again = send_github(client, body, repo["secret"], delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["replayed"] is True and again.get_json()["recid"] == recid
    assert len(services_of(app).catalog.versions(recid)) == 1
    assert len(deliveries(client, repo["id"], token)) == 1


def test_refused_deliveries_are_listed_with_their_reason(app, settings_dict, server, tmp_path):
    client = app.test_client()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0")})
    repo, token = connect(client, app, server.url)
    secret = repo["secret"]

    # a bad signature: refused in the answer, nothing fetched, nothing queued
    bad = send_github(client, github_delivery(server.url, "v1.0.0"), secret, signature="sha256=" + "0" * 64)
    assert bad.status_code == 401 and "bad signature" in bad.get_json()["detail"]
    assert services_of(app).queue.counts().get("queued", 0) == 0
    # a tag the repository does not have: no archive (found by the worker, which fetches)
    missing = settled(client, send_github(client, github_delivery(server.url, "v9.9.9"), secret), repo["id"], token)
    assert missing["outcome"] == "refused" and "missing archive" in missing["reason"]
    # a CITATION.cff that does not validate: the field is named
    server.release("v1.0.1", {"CITATION.cff": citation("1.0.1", date="yesterday")})
    broken = settled(client, send_github(client, github_delivery(server.url, "v1.0.1"), secret), repo["id"], token)
    assert broken["outcome"] == "refused" and broken["field"] == "date-released"
    # not a release event: refused in the answer (no fetch needed to know)
    ping = send_github(client, b'{"zen": "Design for failure.", "hook_id": 1}', secret, event="ping")
    assert ping.status_code == 404  # a ping names no repository: it is refused as unknown
    edited = send_github(client, github_delivery(server.url, "v1.0.0", action="edited"), secret)
    assert edited.status_code == 400 and "not published" in edited.get_json()["detail"]
    # the site no longer allows the repository's host (another web process, started after the change; no worker
    # of its own, so the retry below is processed by the first app's worker and its settings)
    strict_app = create_app({**settings_dict, "releases_git_hosts": "github.com", "releases_allow_http": True})
    disallowed = send_github(strict_app.test_client(), github_delivery(server.url, "v1.0.0"), secret)
    assert disallowed.status_code == 400 and "disallowed host" in disallowed.get_json()["detail"]

    listed = deliveries(client, repo["id"], token)
    assert [d["outcome"] for d in listed] == ["refused"] * 5
    reasons = [d["reason"] for d in listed]
    assert reasons[0].startswith("disallowed host")
    assert reasons[1].startswith("release edited")
    assert "date-released" in reasons[2] and listed[2]["field"] == "date-released"
    assert reasons[3].startswith("missing archive") and listed[3]["field"] == "tag"
    assert reasons[4].startswith("bad signature") and not listed[4]["retryable"]
    assert services_of(app).catalog.count_published() == 0
    assert not list((tmp_path / "data").rglob("*.tar.gz*"))  # nothing half-written: no archive without its version

    # the owner's page lists them, with the reasons, newest first; the secret is never shown again
    page_client = sign_in(app.test_client(), make_user(app, "writer"))
    html = page_client.get(f"/settings/repositories/{repo['id']}").get_data(as_text=True)
    assert "missing archive" in html and "bad signature" in html and "disallowed host" in html
    assert html.index("disallowed host") < html.index("bad signature")
    assert secret not in html and secret not in page_client.get("/settings/repositories").get_data(as_text=True)

    # retried where the host is allowed (the first worker's settings), the refused delivery creates the version
    retried = client.post(f"/api/repositories/{repo['id']}/deliveries/{listed[0]['id']}/retry", headers=bearer(token))
    done = settled(client, retried, repo["id"], token)
    assert done["outcome"] == "created" and done["attempts"] == 2


def test_a_refusal_kept_as_a_message_id_is_shown_in_french(app, settings_dict, server):
    """A delivery refused by a domain error keeps its message id: the webhook's answer, the API and the repository's
    page show the reason in French to a French reader; a delivery recorded before shows its English text."""
    from portal.releases.models import ReleaseDelivery

    client = app.test_client()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0")})
    repo, token = connect(client, app, server.url)
    strict_app = create_app({**settings_dict, "releases_git_hosts": "github.com", "releases_allow_http": True})
    fr = {"Accept-Language": "fr"}
    body = github_delivery(server.url, "v1.0.0")
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "release",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(repo["secret"], body),
        **fr,
    }
    answer = strict_app.test_client().post("/api/hooks/github", data=body, headers=headers)
    assert answer.status_code == 400
    assert "refusée : hôte non autorisé :" in answer.get_json()["detail"], answer.get_json()["detail"]
    listed = client.get(f"/api/repositories/{repo['id']}/deliveries", headers={**bearer(token), **fr}).get_json()
    assert listed["hits"][0]["reason"].startswith("hôte non autorisé :")
    assert deliveries(client, repo["id"], token)[0]["reason"].startswith("disallowed host:")
    page_client = sign_in(app.test_client(), make_user(app, "writer"))
    html = page_client.get(f"/settings/repositories/{repo['id']}", headers=fr).get_data(as_text=True)
    assert "hôte non autorisé" in html
    # a delivery recorded before reasons were kept as message ids: its English text, in any language
    with services_of(app).db.transaction() as s:
        s.get(ReleaseDelivery, listed["hits"][0]["id"]).reason_message = None
    listed = client.get(f"/api/repositories/{repo['id']}/deliveries", headers={**bearer(token), **fr}).get_json()
    assert listed["hits"][0]["reason"].startswith("disallowed host:")


def test_webhook_refusals_are_answered_in_french(app, server):
    """Every refusal receive() answers at once (a bad signature, an unknown repository, a body that is no JSON, an
    event that is no publication, a release with no tag) and one a worker finds (a missing tag) reads in French for a
    French reader, the tool's and the payload's own words kept as they are; English readers still get English."""
    client = app.test_client()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0")})
    repo, token = connect(client, app, server.url)
    secret, fr = repo["secret"], {"Accept-Language": "fr"}

    def send(body, *, event="release", signature=None, language=fr):
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature or github_signature(secret, body),
            **language,
        }
        return client.post("/api/hooks/github", data=body, headers=headers)

    def detail(resp, status):
        assert resp.status_code == status, resp.get_data(as_text=True)
        return resp.get_json()["detail"]

    good = github_delivery(server.url, "v1.0.0")
    bad_signature = detail(send(good, signature="sha256=" + "0" * 64), 401)
    assert "signature incorrecte : l'en-tête X-Hub-Signature-256 ne correspond pas" in bad_signature, bad_signature
    unknown = detail(send(github_delivery("http://127.0.0.1:1/someone-else.git", "v1")), 404)
    assert "dépôt inconnu : http://127.0.0.1:1/someone-else" in unknown and "n'est pas connecté" in unknown, unknown
    not_json = detail(send(b"{nope"), 400)
    assert "le corps n'est pas du JSON : " in not_json, not_json
    edited = detail(send(github_delivery(server.url, "v1.0.0", action="edited")), 400)
    assert "publication edited, pas publiée" in edited, edited
    untagged = json.loads(good)
    untagged["release"]["tag_name"] = ""
    no_tag = detail(send(json.dumps(untagged).encode()), 400)
    assert "la publication ne nomme aucune étiquette" in no_tag, no_tag
    assert "release edited, not published" in detail(
        send(github_delivery(server.url, "v1.0.0", action="edited"), language={}), 400
    )
    # found by the worker: the list shows it in the reader's language
    missing = settled(client, send(github_delivery(server.url, "v9.9.9")), repo["id"], token)
    assert missing["reason"].startswith("missing archive:")
    listed = client.get(f"/api/repositories/{repo['id']}/deliveries?size=50", headers={**bearer(token), **fr})
    reasons = [d["reason"] for d in listed.get_json()["hits"]]
    assert "archive manquante : le dépôt n'a pas d'étiquette 'v9.9.9'" in reasons, reasons
    assert any(r.startswith("signature incorrecte") for r in reasons), reasons
    # a refusal whose values are named like where a problem is (its source file): listed, in French (was a 500)
    nameless_json = json.dumps({"title": "Fitter", "creators": [{"affiliation": "CERN"}]})
    server.release("v2.0.0", {"CITATION.cff": "", ".zenodo.json": nameless_json})  # "": the CFF file goes
    nameless = settled(client, send(github_delivery(server.url, "v2.0.0")), repo["id"], token)
    assert nameless["outcome"] == "refused" and nameless["reason"] == "bad .zenodo.json: author 1 has no name"
    listed = client.get(f"/api/repositories/{repo['id']}/deliveries?size=50", headers={**bearer(token), **fr})
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert ".zenodo.json incorrect : l'auteur 1 n'a pas de nom" in [d["reason"] for d in listed.get_json()["hits"]]


def test_unknown_repository_and_other_users(app, server):
    client = app.test_client()
    repo, token = connect(client, app, server.url)
    other = github_delivery("http://127.0.0.1:1/someone-else.git", "v1")
    resp = send_github(client, other, repo["secret"])
    assert resp.status_code == 404 and "unknown repository" in resp.get_json()["detail"]
    # another user neither sees the repository nor its deliveries
    stranger = bearer(token_for(app, PUBLISH, username="stranger"))
    assert client.get(f"/api/repositories/{repo['id']}", headers=stranger).status_code == 404
    assert client.get(f"/api/repositories/{repo['id']}/deliveries", headers=stranger).status_code == 404
    assert client.get("/api/repositories", headers=stranger).get_json() == {"repositories": []}
    assert client.get(f"/api/repositories/{repo['id']}").status_code == 401


def test_gitlab_release_hook_with_its_token(app, server):
    client = app.test_client()
    server.release("v1.1", {"CITATION.cff": citation("1.1")})
    repo, token = connect(client, app, server.url, provider="gitlab")
    payload = json.loads((WEBHOOKS / "gitlab-release-create.json").read_text())
    payload["project"]["web_url"] = server.url.removesuffix(".git")
    payload["project"]["git_http_url"] = payload["project"]["http_url"] = server.url
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": "Release Hook"}
    wrong = client.post("/api/hooks/gitlab", data=body, headers={**headers, "X-Gitlab-Token": "guess"})
    assert wrong.status_code == 401
    resp = client.post(
        "/api/hooks/gitlab",
        data=body,
        headers={**headers, "X-Gitlab-Token": repo["secret"], "X-Gitlab-Event-UUID": str(uuid.uuid4())},
    )
    view = services_of(app).catalog.get(settled(client, resp, repo["id"], token)["recid"])
    assert view.metadata["version"] == "1.1" and view.files[0]["key"] == "fitter-v1.1.tar.gz"
    assert [d["outcome"] for d in deliveries(client, repo["id"], token)] == ["created", "refused"]


def test_connecting_checks_the_url_the_host_and_the_caller(app):
    client = app.test_client()
    token = bearer(token_for(app, PUBLISH))
    resp = client.post("/api/repositories", json={"provider": "github", "url": "https://github.com/a/b"}, headers=token)
    assert (
        resp.status_code == 400 and resp.get_json()["field"] == "url" and "disallowed host" in resp.get_json()["detail"]
    )
    resp = client.post("/api/repositories", json={"provider": "svn", "url": "http://127.0.0.1/a/b"}, headers=token)
    assert resp.status_code == 400 and resp.get_json()["field"] == "provider"
    resp = client.post("/api/repositories", json={"provider": "github", "url": "ftp://127.0.0.1/a/b"}, headers=token)
    assert resp.status_code == 400 and resp.get_json()["field"] == "url"
    resp = client.post("/api/repositories", json={"provider": "github", "url": 7}, headers=token)
    assert resp.status_code == 400 and resp.get_json()["field"] == "url"
    ok = client.post("/api/repositories", json={"provider": "github", "url": "http://127.0.0.1/a/b.git"}, headers=token)
    assert ok.status_code == 201
    again = client.post("/api/repositories", json={"provider": "github", "url": "http://127.0.0.1/a/b/"}, headers=token)
    assert again.status_code == 409
    narrow = bearer(token_for(app, ["deposit:write"], username="narrow"))
    resp = client.post("/api/repositories", json={"provider": "github", "url": "http://127.0.0.1/c/d"}, headers=narrow)
    assert resp.status_code == 403 and resp.get_json()["field"] == "scope"
    assert client.post("/api/repositories", json={}).status_code == 401


def test_the_connect_page_shows_the_secret_once(app, server):
    browser = sign_in(app.test_client(), make_user(app, "writer"))
    form = {**csrf(browser), "provider": "github", "url": server.url}
    resp = browser.post("/settings/repositories", data=form)
    assert resp.status_code == 201
    html = resp.get_data(as_text=True)
    secret = html.split('id="hook-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("whsec_")
    listing = browser.get("/settings/repositories").get_data(as_text=True)
    assert server.url in listing and secret not in listing
    bad = browser.post(
        "/settings/repositories", data={**csrf(browser), "provider": "github", "url": "https://x.org/a/b"}
    )
    assert bad.status_code == 400 and "disallowed host" in bad.get_data(as_text=True)
    assert app.test_client().get("/settings/repositories").status_code in (303, 401)


def test_an_unreachable_git_server_is_a_failure_to_retry(app, server, settings_dict, tmp_path):
    client = app.test_client()
    server.release("v3.0.0", {"CITATION.cff": citation("3.0.0")})
    dead = "http://127.0.0.1:1/fitter.git"  # nothing listens on port 1
    repo, token = connect(client, app, dead)
    resp = send_github(client, github_delivery(dead, "v3.0.0"), repo["secret"])
    failed = settled(client, resp, repo["id"], token)
    assert failed["outcome"] == "failed" and failed["retryable"] and failed["attempts"] == 1
    assert "git fetch" in failed["reason"]
    assert services_of(app).queue.find(f"release.delivery:{failed['id']}").state == "failed"  # not retried by itself
    again = client.post(f"/api/repositories/{repo['id']}/deliveries/{failed['id']}/retry", headers=bearer(token))
    retried = settled(client, again, repo["id"], token)
    assert retried["outcome"] == "failed" and retried["attempts"] == 2
    # the command a job queue (or an operator) runs to process it again
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path / "cli"),
        "PORTAL_RELEASES_GIT_HOSTS": "127.0.0.1",
        "PORTAL_RELEASES_ALLOW_HTTP": "1",
    }
    portal = Path(sys.executable).parent / "portal"
    run = subprocess.run(
        [str(portal), "releases", "process", str(failed["id"])], capture_output=True, text=True, env=env
    )
    assert run.returncode == 1 and f"delivery {failed['id']}: failed" in run.stdout and "git fetch" in run.stdout
    assert deliveries(client, repo["id"], token)[0]["attempts"] == 3


def test_documented_responses_match_real_ones(app, server):
    from tests.functional.test_openapi import check

    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0")})
    token = token_for(app, PUBLISH)
    auth = bearer(token)
    made = client.post("/api/repositories", json={"provider": "github", "url": server.url}, headers=auth)
    repo = made.get_json()
    check(doc, client, "post", "/api/repositories", 409, json={"provider": "github", "url": server.url}, headers=auth)
    check(doc, client, "post", "/api/repositories", 400, json={"provider": "x", "url": server.url}, headers=auth)
    check(doc, client, "post", "/api/repositories", 401, json={})
    narrow = bearer(token_for(app, ["deposit:write"], username="narrow"))
    check(doc, client, "post", "/api/repositories", 403, json={"provider": "github", "url": "x"}, headers=narrow)
    check(
        doc,
        client,
        "post",
        "/api/repositories",
        404,
        json={"provider": "github", "url": server.url + "2", "recid": 99},
        headers=auth,
    )
    check(
        doc,
        client,
        "post",
        "/api/repositories",
        201,
        json={"provider": "gitlab", "url": server.url + "3"},
        headers=auth,
    )
    check(doc, client, "get", "/api/repositories", 200, headers=auth)
    check(doc, client, "get", "/api/repositories", 401)
    check(doc, client, "get", f"/api/repositories/{repo['id']}", 200, headers=auth)
    check(doc, client, "get", "/api/repositories/99999", 404, headers=auth)
    hook = {"data": github_delivery(server.url, "v1.0.0"), "content_type": "application/json"}
    sig = {"X-GitHub-Event": "release", "X-GitHub-Delivery": "d-1"}
    signed = {**sig, "X-Hub-Signature-256": github_signature(repo["secret"], hook["data"])}
    check(doc, client, "post", "/api/hooks/github", 401, headers={**sig, "X-Hub-Signature-256": "sha256=00"}, **hook)
    check(doc, client, "post", "/api/hooks/github", 202, headers=signed, **hook)
    check(doc, client, "post", "/api/hooks/github", 200, headers=signed, **hook)
    check(doc, client, "post", "/api/hooks/gitlab", 404, data=b"{}", content_type="application/json")
    check(doc, client, "post", "/api/hooks/svn", 404, data=b"{}", content_type="application/json")
    missing = github_delivery(server.url, "v0", action="edited")  # refused in the answer
    check(
        doc,
        client,
        "post",
        "/api/hooks/github",
        400,
        data=missing,
        content_type="application/json",
        headers={**sig, "X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": github_signature(repo["secret"], missing)},
    )
    check(doc, client, "get", f"/api/repositories/{repo['id']}/deliveries?page=1&size=2", 200, headers=auth)
    check(doc, client, "get", f"/api/repositories/{repo['id']}/deliveries?size=0", 400, headers=auth)
    check(doc, client, "get", "/api/repositories/99999/deliveries", 404, headers=auth)
    created = processed(client, repo["id"], token, lambda d: d["delivery"] == "d-1")
    assert created["outcome"] == "created"
    check(doc, client, "post", f"/api/repositories/{repo['id']}/deliveries/{created['id']}/retry", 409, headers=auth)
    check(doc, client, "post", f"/api/repositories/{repo['id']}/deliveries/99999/retry", 404, headers=auth)
    assert client.delete(f"/api/repositories/{repo['id']}", headers=auth).status_code == 204
    check(doc, client, "get", f"/api/repositories/{repo['id']}", 404, headers=auth)


def test_a_delivery_left_processing_by_a_dead_worker_is_taken_over_once_stale(app, server):
    from datetime import UTC, datetime, timedelta

    from portal.releases.models import ReleaseDelivery

    client = app.test_client()
    svc = services_of(app)
    dead = "http://127.0.0.1:1/fitter.git"
    repo, token = connect(client, app, dead)
    delivery_id = settled(client, send_github(client, github_delivery(dead, "v1"), repo["secret"]), repo["id"], token)[
        "id"
    ]

    def left_processing(since: timedelta) -> None:
        with svc.db.transaction() as s:
            row = s.get(ReleaseDelivery, delivery_id)
            row.outcome, row.started_at = "processing", datetime.now(UTC) - since

    left_processing(timedelta(minutes=5))  # another worker may still be on it: left alone
    assert svc.releases.process(delivery_id).outcome == "processing"
    left_processing(timedelta(hours=2))
    taken = svc.releases.process(delivery_id)
    assert taken.outcome == "failed" and taken.attempts == 2


def test_a_release_too_large_to_fetch_is_refused_and_leaves_nothing(make_app, server, tmp_path):
    app = make_app(
        data_dir=str(tmp_path / "data"),
        releases_git_hosts="127.0.0.1",
        releases_allow_http=True,
        releases_max_archive_bytes=20_000,
        deposit_owners_publish=True,
    )
    client = app.test_client()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0"), "noise.txt": os.urandom(100_000).hex()})
    repo, token = connect(client, app, server.url)
    resp = send_github(client, github_delivery(server.url, "v1.0.0"), repo["secret"])
    refused = settled(client, resp, repo["id"], token)
    assert refused["outcome"] == "refused" and refused["field"] == "archive"
    assert "larger than 80000 bytes" in refused["reason"]
    assert not list((tmp_path / "data").rglob("*.tar.gz*"))
    assert list((tmp_path / "var" / "releases-work").iterdir()) == []  # the clone is gone too


def test_a_new_secret_replaces_the_old_one(app, server):
    from tests.functional.test_openapi import check

    client = app.test_client()
    server.release("v1.0.0", {"CITATION.cff": citation("1.0.0")})
    repo, token = connect(client, app, server.url)
    doc = client.get("/api/openapi.json").get_json()
    check(doc, client, "post", f"/api/repositories/{repo['id']}/secret", 401)
    stranger = bearer(token_for(app, PUBLISH, username="stranger"))
    check(doc, client, "post", f"/api/repositories/{repo['id']}/secret", 404, headers=stranger)
    check(doc, client, "post", f"/api/repositories/{repo['id']}/secret", 200, headers=bearer(token))
    new = client.post(f"/api/repositories/{repo['id']}/secret", headers=bearer(token)).get_json()["secret"]
    assert new != repo["secret"]
    body = github_delivery(server.url, "v1.0.0")
    assert send_github(client, body, repo["secret"]).status_code == 401
    assert send_github(client, body, new).status_code == 202
    browser = sign_in(app.test_client(), make_user(app, "writer"))
    page = browser.post(f"/settings/repositories/{repo['id']}/secret", data=csrf(browser)).get_data(as_text=True)
    newest = page.split('id="hook-secret">', 1)[1].split("<", 1)[0]
    assert newest.startswith("whsec_") and newest != new
    assert newest not in browser.get(f"/settings/repositories/{repo['id']}").get_data(as_text=True)


def test_where_only_curators_publish_a_user_cannot_connect_a_repository(make_app, server):
    strict = make_app(releases_git_hosts="127.0.0.1", releases_allow_http=True, deposit_owners_publish=False)
    resp = strict.test_client().post(
        "/api/repositories",
        json={"provider": "github", "url": server.url},
        headers=bearer(token_for(strict, PUBLISH)),
    )
    assert resp.status_code == 403
    assert resp.get_json()["field"] == "deposit_owners_publish"


def test_deliveries_for_unknown_repositories_are_shown_to_admins_bounded_and_without_secrets(make_app, app_settings):
    app = make_app(**{**app_settings, "releases_unmatched_kept": 3})  # a small bound, to see the oldest pruned
    client = app.test_client()
    for n in range(4):
        body = github_delivery(f"https://user:ghp_TOKEN{n}@git.example.org/team/lost{n}.git?private_token=s3cret", "v1")
        assert send_github(client, body, "whatever").status_code == 404
    assert client.post("/api/hooks/github", data=b"not json", headers={"X-GitHub-Event": "release"}).status_code == 400

    admin = make_user(app, "root", roles=["admin"])
    page = sign_in(app.test_client(), admin).get("/admin/deliveries")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<tr data-delivery=") == 3  # the newest 3 (one unreadable body, lost3, lost2); lost0..1 pruned
    assert "https://git.example.org/team/lost3" in html and "https://git.example.org/team/lost2" in html
    assert "lost1" not in html and "lost0" not in html
    assert "the body is not JSON" in html and "unknown repository" in html and "github" in html
    assert "ghp_TOKEN" not in html and "s3cret" not in html and "user:" not in html
    with app.app_context():
        svc = services_of(app)
        with svc.db.reader() as s:
            stored = s.execute(text("SELECT reason, payload FROM release_deliveries")).all()
        assert len(stored) == 3 and not any("TOKEN" in str(row) or "s3cret" in str(row) for row in stored)

    # admins only: others are refused, anonymous visitors sent to sign in
    user = make_user(app, "someone")
    assert sign_in(app.test_client(), user).get("/admin/deliveries").status_code == 403
    assert app.test_client().get("/admin/deliveries").status_code in (303, 401)
    french = sign_in(app.test_client(), admin).get("/admin/deliveries", headers={"Accept-Language": "fr"})
    assert "Livraisons" in french.get_data(as_text=True)
