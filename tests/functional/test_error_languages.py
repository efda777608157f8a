"""Domain errors raised deep in the services (deposit, review, identity) come back in the reader's language: the
message ids with named values (issue 18) are translated at the problem+json boundary, values left as they are, and
a client that asks for nothing else still reads the English text."""

from __future__ import annotations

import pytest

from portal.app import services_of
from portal.identity.principal import COMMAND_LINE
from tests.functional.test_deposit import CSV_V1, metadata, problem, upload
from tests.support.users import bearer, token_for

FR = {"Accept-Language": "fr"}
WRITER = ["deposit:write", "deposit:publish"]


@pytest.fixture
def app_settings(tmp_path):
    # owners may not publish: a draft of a curated collection goes to review, and connecting a repository is refused
    return {"deposit_owners_publish": False, "data_dir": str(tmp_path / "data")}


@pytest.fixture
def alice(app):
    services_of(app).collections.create(COMMAND_LINE, "cms", "CMS", description="CMS open data")
    return bearer(token_for(app, WRITER, username="alice"))


def _draft(client, auth, **extra) -> int:
    created = client.post("/api/records", json={"metadata": {**metadata(), **extra}}, headers=auth)
    assert created.status_code == 201, created.get_data(as_text=True)
    return int(created.get_json()["id"])


def test_deposit_refusals_in_french(client, alice):
    recid = _draft(client, alice)
    files = f"/api/records/{recid}/draft/files"
    partial = problem(client.post(files, json=[{"key": "a.part"}], headers={**alice, **FR}), 400)
    assert partial["title"] == "Entrée invalide" and partial["field"] == "key"
    assert partial["detail"] == (
        "champ key: les clés de fichier finissant par .part sont réservées aux écritures partielles"
    )
    twice = problem(client.post(files, json=[{"key": "a"}, {"key": "a"}], headers={**alice, **FR}), 400)
    assert twice["detail"] == "champ key: la même clé est déclarée deux fois"
    # a value keeps its !r conversion inside the French sentence
    missing = problem(client.delete(f"{files}/nope.csv", headers={**alice, **FR}), 404)
    assert missing["detail"].endswith(f"le brouillon {recid} n'a pas de fichier 'nope.csv'")
    # the same refusal in English for a client that asks for nothing else
    english = problem(client.delete(f"{files}/nope.csv", headers=alice), 404)
    assert english["detail"].endswith(f"draft {recid} has no file 'nope.csv'")


def test_a_draft_under_review_is_refused_in_french(client, alice):
    recid = _draft(client, alice, collections=["cms"])
    upload(client, alice, recid, {"events.csv": CSV_V1})
    submitted = client.post(f"/api/records/{recid}/draft/actions/publish", headers=alice)
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    request_id = submitted.get_json()["id"]
    locked = problem(
        client.put(f"/api/records/{recid}/draft", json={"metadata": metadata()}, headers={**alice, **FR}), 409
    )
    assert locked["title"] == "Conflit" and locked["field"] == "state"
    assert (
        f"le brouillon {recid} est en cours de relecture (demande {request_id}) ; "
        "annulez la demande pour le modifier" in locked["detail"]
    )


def test_identity_refusals_in_french(client, alice):
    anonymous = problem(client.post("/api/repositories", json={}, headers=FR), 401)
    assert anonymous["field"] == "user" and anonymous["detail"] == "champ user: connectez-vous pour connecter un dépôt"
    owner_only = problem(client.post("/api/repositories", json={}, headers={**alice, **FR}), 403)
    assert owner_only["field"] == "deposit_owners_publish"
    assert owner_only["detail"].startswith("champ deposit_owners_publish: sur ce site seuls les curateurs publient")
    english = problem(client.post("/api/repositories", json={}, headers=alice), 403)
    assert "on this site only curators publish (deposit_owners_publish is off)" in english["detail"]


def test_refusals_that_passed_another_error_text_along_are_french_now(app, client, alice):
    import base64

    # a removed version's tombstone: the sentence is French, the curator's reason stays in its own words
    recid = _draft(client, alice)
    services_of(app).deposit.publish(recid, actor=COMMAND_LINE)
    services_of(app).preservation.remove(recid, "Retracted: calibration error", COMMAND_LINE)
    gone = problem(client.get(f"/api/records/{recid}", headers=FR), 410)
    reason = "Retracted: calibration error"
    assert gone["detail"] == f"enregistrement {recid}: l’enregistrement {recid} a été retiré : {reason}"
    # a tus refusal (answered by the upload blueprint's own handler), which the upload page shows next to the file
    other = _draft(client, alice)
    tus = {**alice, **FR, "Tus-Resumable": "1.0.0"}
    meta = f"record {base64.b64encode(str(other).encode()).decode()},filename {base64.b64encode(b'a.txt').decode()}"
    created = client.post("/api/uploads/", headers={**tus, "Upload-Length": "3", "Upload-Metadata": meta})
    assert created.status_code == 201, created.get_data(as_text=True)
    headers = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    bad = client.patch(created.headers["Location"], data=b"abc", headers={**headers, "Upload-Checksum": "crc32 AAAA"})
    refused = problem(bad, 400)
    assert refused["title"] == "Requête incorrecte"
    assert refused["detail"].startswith("champ Upload-Checksum: algorithme de somme de contrôle non pris en charge")


def test_several_problems_are_counted_with_french_plural_forms(client, alice):
    bad = {**metadata(), "title": "ab", "authors": [{"affiliation": "CERN", "orcid": "1234"}]}
    two_more = problem(client.post("/api/records", json={"metadata": bad}, headers={**alice, **FR}), 400)
    assert two_more["detail"].endswith("(et 2 autres problèmes)"), two_more["detail"]
    assert len(two_more["errors"]) == 3
    english = problem(client.post("/api/records", json={"metadata": bad}, headers=alice), 400)
    assert english["detail"].endswith("(and 2 more problems)")
    two_bad = {**metadata(), "title": "ab", "authors": [{"name": "Doe, Jane", "orcid": "1234"}]}
    single = problem(client.post("/api/records", json={"metadata": two_bad}, headers={**alice, **FR}), 400)
    assert single["detail"].endswith("(et 1 autre problème)"), single["detail"]


def test_an_analysis_job_failure_reason_is_shown_in_french(app, client, tmp_path):
    """A job's failure reason is stored as a message id and its values and shown in the reader's language on the job's
    page and in the API; a row from before (plain English text) is shown as it was written."""
    from portal.catalog.model import RecordInput
    from portal.db.models import AnalysisJob

    svc = services_of(app)
    dataset = {
        "recid": 7301,
        "title": "Soon retracted",
        "type": {"primary": "Dataset"},
        "experiment": ["CMS"],
        "date_published": "2024-05-01",
    }
    row = {"key": "events.root", "uri": f"file://{tmp_path / 'events.root'}", "size": 1, "checksum": "adler32:00000001"}
    svc.catalog.load([RecordInput(dataset, files=[row])])
    job = svc.analyses.create("dimuon", 7301, enqueue=False)
    # the dataset is removed before the job runs: it fails saying so, in the words of a domain error
    svc.preservation.remove(7301, "Retracted: calibration error", COMMAND_LINE)
    failed = svc.analyses.run(job.id)
    english = "record 7301: record 7301 was removed: Retracted: calibration error"
    assert failed.state == "failed" and failed.error == english
    french = "enregistrement 7301: l’enregistrement 7301 a été retiré : Retracted: calibration error"
    assert client.get(f"/api/analyses/{job.id}", headers=FR).get_json()["error"] == french
    assert client.get(f"/api/analyses/{job.id}").get_json()["error"] == english
    assert french in client.get(f"/analyses/{job.id}", headers=FR).get_data(as_text=True)
    # a reason with a value: cancelled by whom, the name left as it is
    svc.catalog.load([RecordInput({**dataset, "recid": 7302}, files=[row])])
    queued = svc.analyses.create("dimuon", 7302, enqueue=False)
    cancelled = svc.analyses.cancel(queued.id, COMMAND_LINE)
    assert cancelled.error == f"cancelled by {COMMAND_LINE.label}"
    shown = client.get(f"/api/analyses/{queued.id}", headers=FR).get_json()["error"]
    assert shown == f"annulé par {COMMAND_LINE.label}"
    # a row written before reasons were stored as message ids: its English text, in any language
    with svc.db.transaction() as s:
        stored = s.get(AnalysisJob, job.id)
        stored.error, stored.error_message = "worker lost (an old row)", None
    assert client.get(f"/api/analyses/{job.id}", headers=FR).get_json()["error"] == "worker lost (an old row)"
    assert "worker lost (an old row)" in client.get(f"/analyses/{job.id}", headers=FR).get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("post", "/api/hooks/nope", {}, b"{}", 404),  # no such webhook provider
        ("post", "/api/hooks/github", {"X-GitHub-Event": "release"}, b"{nope", 400),  # a body that is no JSON
        ("post", "/api/uploads", {}, b"", 412),  # tus without its version header
        ("patch", "/api/uploads/x", {"Tus-Resumable": "1.0.0", "Content-Type": "text/plain"}, b"x", 415),
        ("get", "/api/jobs/999999", {}, b"", 401),  # background jobs need a signed-in reader
    ],
)
def test_refusals_differ_between_english_and_french(app, alice, method, path, headers, body, status):
    """A problem a French reader gets is not the English one: its title and the sentence of its detail are translated
    (a message written as an f-string, or a title not marked for translation, would come back the same)."""
    client = app.test_client()
    auth = alice if path.startswith("/api/uploads") else {}

    def send(language: dict[str, str]) -> dict:
        resp = getattr(client, method)(path, data=body, headers={**auth, **headers, **language})
        return problem(resp, status)

    english, french = send({}), send(FR)
    assert french["title"] != english["title"], (english, french)
    assert french["detail"] != english["detail"], (english, french)
