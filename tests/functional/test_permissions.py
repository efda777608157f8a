"""Who may do what, on SQLite and PostgreSQL: personal access tokens and their scopes, revocation and expiry,
anonymous writers refused, owners, other users and curators on drafts, admin pages, quotas; the token, admin and
"my" pages; `portal tokens`."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from click.testing import CliRunner

from portal.app import services_of
from portal.cli import main as cli
from portal.identity.principal import COMMAND_LINE
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import CURATOR_SCOPES, bearer, csrf, make_user, sign_in, token_for

WRITES = [
    ("post", "/api/records/7/versions"),
    ("put", "/api/records/7/draft"),
    ("post", "/api/records/7/draft/actions/publish"),
    ("post", "/api/analyses"),
    ("post", "/api/analyses/1/publish"),
]


@pytest.fixture
def app(app, tmp_path):
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7)]))
    return app


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


@pytest.mark.parametrize("method, path", WRITES)
def test_anonymous_writes_get_401_problems(client, method, path):
    body = problem(getattr(client, method)(path, json={"metadata": {}}), 401)
    assert body["title"] == "Unauthorized" and "sign in" in body["detail"]


def test_a_token_without_the_scope_gets_403_naming_it(app, client, user_token):
    launch_only = bearer(user_token(["launch"]))
    refused = problem(client.post("/api/analyses", json={"analysis": "dimuon", "dataset": 7}, headers=launch_only), 403)
    assert refused["field"] == "scope" and "'analyses:run'" in refused["detail"] and "token" in refused["detail"]
    # the same account with the scope gets past the policy (to the next check: the dataset has no ROOT files)
    runner = bearer(user_token(["analyses:run"]))
    assert client.post("/api/analyses", json={"analysis": "dimuon", "dataset": 7}, headers=runner).status_code == 400
    # a token cannot carry what its account may not do
    with pytest.raises(Exception, match="curate"):
        user_token(["curate"])


def test_revocation_takes_effect_at_once_and_expired_tokens_are_refused(app, client, user_token):
    svc = services_of(app)
    token = user_token(["deposit:write"])
    assert client.post("/api/records/7/versions", headers=bearer(token)).status_code == 403  # known, not an owner
    info = svc.tokens.list(svc.users.by_username("writer").id)[0]
    assert info.last_used_at is not None
    svc.tokens.revoke(COMMAND_LINE, info.id)
    assert "revoked" in problem(client.post("/api/records/7/versions", headers=bearer(token)), 401)["detail"]

    later = user_token(["deposit:write"])
    real_now = svc.tokens.now
    svc.tokens.now = lambda: real_now() + timedelta(days=31)  # test tokens last 30 days
    try:
        assert "expired" in problem(client.post("/api/records/7/versions", headers=bearer(later)), 401)["detail"]
    finally:
        svc.tokens.now = real_now
    actions = [e.action for e in svc.audit.entries()]
    assert actions.count("token.create") == 2 and actions.count("token.revoke") == 1


def test_owners_edit_their_drafts_others_may_not_and_curators_publish(app, client):
    svc = services_of(app)
    alice = make_user(app, "alice")
    alice_auth = bearer(token_for(app, ["deposit:write", "deposit:publish"], username="alice"))
    bob_auth = bearer(token_for(app, ["deposit:write", "deposit:publish"], username="bob"))
    curator = bearer(token_for(app, CURATOR_SCOPES, username="cura", roles=["curator"]))

    # a record loaded by the command line has no owner: only curators start its new versions
    assert problem(client.post("/api/records/7/versions", headers=alice_auth), 403)["field"] == "owner"
    draft = svc.catalog.new_version(7, owner_id=alice.id)  # a curator's hand-over, as `records new-version --owner`
    metadata = {**draft.metadata, "title": "Alice's second version"}

    assert (
        client.put(f"/api/records/{draft.recid}/draft", json={"metadata": metadata}, headers=alice_auth).status_code
        == 200
    )
    refused = problem(
        client.put(f"/api/records/{draft.recid}/draft", json={"metadata": metadata}, headers=bob_auth), 403
    )
    assert refused["field"] == "owner"
    fixed = {**metadata, "title": "Fixed by the curator"}
    assert client.put(f"/api/records/{draft.recid}/draft", json={"metadata": fixed}, headers=curator).status_code == 200

    no_role = problem(client.post(f"/api/records/{draft.recid}/draft/actions/publish", headers=alice_auth), 403)
    assert no_role["field"] == "role" and "'curator'" in no_role["detail"]
    assert client.post(f"/api/records/{draft.recid}/draft/actions/publish", headers=curator).status_code == 202
    published = [e for e in svc.audit.entries(action="record.publish")]
    assert [(e.actor, e.target) for e in published] == [("cura", f"record {draft.recid}")]

    # the owner of the latest version starts the next one, and owns it
    again = client.post(f"/api/records/{draft.recid}/versions", headers=alice_auth)
    assert again.status_code == 201
    assert svc.catalog.owned_by(alice.id)[1] == 2

    # a curator's token made without the curate scope is refused naming the scope
    narrow = bearer(token_for(app, ["deposit:publish"], username="cura"))
    body = problem(client.post(f"/api/records/{again.get_json()['id']}/draft/actions/publish", headers=narrow), 403)
    assert body["field"] == "scope" and "'curate'" in body["detail"]


def test_token_page_creates_shows_once_lists_and_revokes(app, client):
    assert client.get("/settings/tokens").status_code in (401, 303)  # 303: to the sign-in page where there is one
    carol = make_user(app, "carol")
    sign_in(client, carol)
    form = {"name": "laptop", "scopes": ["analyses:run", "launch"], "expires_in_days": "30"}
    forged = client.post("/settings/tokens", data=form, headers={"Accept": "application/json"})
    assert problem(forged, 400)["field"] == "csrf_token"  # a form not sent from the portal's page
    token = csrf(client)
    created = client.post("/settings/tokens", data={**form, **token})
    assert created.status_code == 201
    page = created.get_data(as_text=True)
    secret = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert secret.startswith("oep_") and "shown this once" in page
    listing = client.get("/settings/tokens").get_data(as_text=True)
    assert (
        "laptop" in listing and secret[:10] in listing and secret not in listing and "analyses:run, launch" in listing
    )

    api = app.test_client()
    assert api.post("/api/analyses", json={}, headers=bearer(secret)).status_code == 400  # past the policy
    # a token never mints tokens (a narrow one could otherwise make a broader one)
    minted = api.post(
        "/settings/tokens",
        data={"name": "more", "scopes": ["deposit:write"], "expires_in_days": "30"},
        headers={**bearer(secret), "Accept": "application/json"},
    )
    assert problem(minted, 403)["field"] == "scope"
    token_id = services_of(app).tokens.list(carol.id)[0].id
    assert client.post(f"/settings/tokens/{token_id}/revoke", data=token).status_code == 303
    assert api.post("/api/analyses", json={}, headers=bearer(secret)).status_code == 401
    assert "revoked" in client.get("/settings/tokens").get_data(as_text=True)

    bad = client.post("/settings/tokens", data={"name": "x", "scopes": ["admin"], "expires_in_days": "30", **token})
    assert bad.status_code == 400 and "admin" in bad.get_data(as_text=True)
    assert (
        client.post(
            "/settings/tokens", data={"name": "x", "scopes": ["launch"], "expires_in_days": "5000", **token}
        ).status_code
        == 400
    )


def test_admin_pages_are_for_admins_only(app, client):
    assert client.get("/admin/users").status_code in (401, 303)
    dave = make_user(app, "dave")
    sign_in(client, dave)
    refused = client.get("/admin/users", headers={"Accept": "application/json"})
    assert problem(refused, 403)["field"] == "role" and "'admin'" in refused.get_json()["detail"]
    assert client.post(f"/admin/users/{dave.id}/roles", data={"roles": ["admin"], **csrf(client)}).status_code == 403
    # an admin's token without the admin scope does not open them either
    token = token_for(app, ["launch"], username="root", roles=["admin"])
    assert (
        problem(client.get("/admin/users", headers={**bearer(token), "Accept": "application/json"}), 403)["field"]
        == "scope"
    )

    admin = make_user(app, "root")
    admin_client = sign_in(app.test_client(), admin)
    admin_form = csrf(admin_client)
    listing = admin_client.get("/admin/users")
    assert listing.status_code == 200 and "dave" in listing.get_data(as_text=True)
    assert (
        admin_client.post(f"/admin/users/{dave.id}/roles", data={"roles": ["curator"], **admin_form}).status_code == 303
    )
    svc = services_of(app)
    assert svc.users.get(dave.id).roles == ["curator"]
    dave_token = token_for(app, ["launch"], username="dave")
    assert admin_client.post(f"/admin/users/{dave.id}/disable", data={"disabled": "1", **admin_form}).status_code == 303
    assert app.test_client().post("/api/analyses", json={}, headers=bearer(dave_token)).status_code == 401
    assert client.get("/my/uploads").status_code in (401, 303)  # dave's browser session ended with it
    assert (
        admin_client.post(f"/admin/users/{admin.id}/disable", data={"disabled": "1", **admin_form}).status_code == 400
    )
    by_admin = [(e.action, e.target) for e in svc.audit.entries() if e.actor == "root"]
    assert by_admin == [("user.disable", "user dave"), ("user.roles", "user dave")]


def test_my_pages_list_what_is_mine(app, client):
    svc = services_of(app)
    erin = make_user(app, "erin")
    mine = svc.catalog.new_version(7, owner_id=erin.id)
    sign_in(client, erin)
    uploads = client.get("/my/uploads").get_data(as_text=True)
    assert str(mine.recid) in uploads and "draft" in uploads
    assert "no analysis jobs" in client.get("/my/jobs").get_data(as_text=True)
    assert "no sessions" in client.get("/my/sessions").get_data(as_text=True)
    other = sign_in(app.test_client(), make_user(app, "frank"))
    assert "no uploads" in other.get("/my/uploads").get_data(as_text=True)


def test_cli_creates_lists_and_revokes_tokens(app, settings_dict, monkeypatch):
    for name, value in settings_dict.items():
        monkeypatch.setenv(f"PORTAL_{name.upper()}", str(value))
    make_user(app, "gina")
    runner = CliRunner()
    made = runner.invoke(cli, ["tokens", "create", "gina", "--name", "ci", "--scope", "analyses:run"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("oep_")
    listed = runner.invoke(cli, ["tokens", "list", "gina"])
    assert "ci" in listed.output and "active" in listed.output and secret not in listed.output
    token_id = listed.output.split()[0]
    assert app.test_client().post("/api/analyses", json={}, headers=bearer(secret)).status_code == 400
    assert runner.invoke(cli, ["tokens", "revoke", token_id]).exit_code == 0
    assert app.test_client().post("/api/analyses", json={}, headers=bearer(secret)).status_code == 401
    bad = runner.invoke(cli, ["tokens", "create", "gina", "--scope", "admin"])
    assert bad.exit_code == 1 and "admin" in bad.output


# -- quotas -------------------------------------------------------------------------------------------------------
@pytest.fixture
def launch_app(make_app, tmp_path):
    app = make_app(
        launch_builder="instant",
        launch_launcher="slow",
        quota_launches_per_user=1,
        quota_launches_anonymous=1,
        var_dir=str(tmp_path / "var"),
    )
    yield app
    services_of(app).launches.launcher.release.set()  # let the slow hub's waiting servers start and end


def _launch(client, **headers):
    resp = client.get("/launch/env/education/events", headers={**headers, "Accept": "application/json"}, buffered=False)
    status, body = resp.status_code, resp.get_json() if resp.mimetype.endswith("json") else None
    resp.close()
    return status, body


def _settled(svc, user_id: int) -> str:
    """The state of the newest launch of ``user_id`` once it is no longer starting (or after 30 s)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        latest = svc.sessions.of_owner(user_id)[0][0]
        if latest.state != "starting":
            break
        time.sleep(0.1)
    assert latest.state == "ready", latest.message
    return latest.state


def test_launch_quotas_per_user_and_per_anonymous_client(launch_app):
    app = launch_app
    svc = services_of(app)
    hub = svc.launches.launcher
    token = token_for(app, ["launch"], username="hana")
    hana = svc.users.by_username("hana").id
    client = app.test_client()
    assert _launch(client, **bearer(token))[0] == 200  # the slow hub keeps it starting
    status, body = _launch(client, **bearer(token))
    assert status == 429
    assert body["field"] == "quota_launches_per_user" and "1" in body["detail"]
    no_scope = bearer(token_for(app, ["analyses:run"], username="ivan"))
    status, body = _launch(client, **no_scope)
    assert status == 403 and "'launch'" in body["detail"]

    hub.release.set()
    _settled(svc, hana)
    page = sign_in(app.test_client(), svc.users.get(hana)).get("/my/sessions").get_data(as_text=True)
    assert "ready" in page and "education" in page

    # (one launch at a time here: two first builds of one environment at once race in LaunchManager._remember)
    hub.release.clear()
    hub.servers.clear()  # every launch here is the hub user "demo": a running server would be reused at once
    assert _launch(client, **bearer(token))[0] == 200  # the first has started: the quota has room again
    assert _launch(client)[0] == 200  # an anonymous visitor has a quota of their own
    status, body = _launch(client)
    assert status == 429 and body["field"] == "quota_launches_anonymous"
    hub.release.set()


def test_anonymous_launches_can_be_switched_off(make_app, tmp_path):
    app = make_app(launch_builder="instant", launch_launcher="slow", quota_launches_anonymous=-1)
    status, body = _launch(app.test_client())
    assert status == 401 and "sign in" in body["detail"]


def test_job_quota_per_user(make_app, tmp_path):
    from portal.demo.generate import generate

    generate("tiny", tmp_path / "data" / "ds", formats=("root",))
    app = make_app(data_dir=str(tmp_path / "data"), processing_executor="inline", quota_jobs_per_user=1)
    svc = services_of(app)
    rows = [
        {"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size}
        for p in sorted((tmp_path / "data" / "ds").glob("*.root"))
    ]
    from portal.catalog.model import RecordInput

    svc.catalog.load([RecordInput({**dataset(8), "title": "Tiny events"}, files=rows)])
    jane = make_user(app, "jane")
    # queued and never started (not handed to the app's worker): it holds the quota
    queued = svc.analyses.create("dimuon", 8, owner_id=jane.id, enqueue=False)
    token = token_for(app, ["analyses:run"], username="jane")
    client = app.test_client()
    refused = problem(
        client.post("/api/analyses", json={"analysis": "dimuon", "dataset": 8}, headers=bearer(token)), 429
    )
    assert refused["field"] == "quota_jobs_per_user" and "1" in refused["detail"]
    other = bearer(token_for(app, ["analyses:run"], username="kim"))
    started = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": 8}, headers=other)
    assert started.status_code == 202
    sign_in(client, jane)
    assert f">{queued.id}<" in client.get("/my/jobs").get_data(as_text=True)


def test_my_jobs_is_paged_as_my_uploads_is(make_app, tmp_path):
    from portal.catalog.model import RecordInput
    from portal.demo.generate import generate

    generate("tiny", tmp_path / "data" / "ds", formats=("root",))
    app = make_app(data_dir=str(tmp_path / "data"), processing_executor="inline", quota_jobs_per_user=0)
    svc = services_of(app)
    rows = [
        {"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size}
        for p in sorted((tmp_path / "data" / "ds").glob("*.root"))
    ]
    svc.catalog.load([RecordInput({**dataset(8), "title": "Tiny events"}, files=rows)])
    jane = make_user(app, "jane")
    ids = [svc.analyses.create("dimuon", 8, owner_id=jane.id, enqueue=False).id for _ in range(21)]
    client = app.test_client()
    sign_in(client, jane)
    first = client.get("/my/jobs").get_data(as_text=True)
    assert first.count('<a href="/analyses/') == 20 and f">{ids[-1]}<" in first and f">{ids[0]}<" not in first
    assert 'rel="next" href="/my/jobs?page=2"' in first and "21 in all." in first
    second = client.get("/my/jobs?page=2").get_data(as_text=True)
    assert second.count('<a href="/analyses/') == 1 and f">{ids[0]}<" in second  # the oldest, on the last page
    assert 'rel="prev"' in second and 'rel="next"' not in second
