"""A curator accepts a large deposit on the `/requests` page, in a real browser: the page comes back at once saying
the draft is being published by a job (files placed of the total, a link to the job), with no accept or decline
form under it; when a real worker has run the job, the request is listed as accepted with the curator's comment
and the record is published with every file. axe-core finds no serious or critical violation on either page."""

from __future__ import annotations

import re
import time

import pytest

from portal.app import create_app, services_of
from portal.identity.principal import COMMAND_LINE
from tests.functional.test_deposit import metadata, upload
from tests.functional.test_deposit_queued_publish import FILES
from tests.support.app import start_worker
from tests.support.axe import AXE, axe_violations
from tests.support.live import live_server
from tests.support.users import bearer, make_user, token_for

pytestmark = pytest.mark.browser
PASSWORD = "a long enough password"


@pytest.fixture
def portal(tmp_path):
    app = create_app(
        {
            "var_dir": str(tmp_path / "var"),
            "data_dir": str(tmp_path / "data"),
            "base_url": "http://127.0.0.1",
            "secret_key": "browser-test-secret-key",
            "ingest_queue_files": 3,  # the 4 files below are a large deposit: published by a job
            "deposit_queue_bytes": 0,
        }
    )
    svc = services_of(app)
    svc.collections.create(COMMAND_LINE, "cms", "CMS")
    make_user(app, "cura", password=PASSWORD)
    svc.collections.add_curator(COMMAND_LINE, "cms", "cura")
    # alice's draft for the curated collection, submitted for review through the API
    api, auth = app.test_client(), bearer(token_for(app, ["deposit:write", "deposit:publish"], username="alice"))
    md = {**metadata("Muon pairs"), "collections": ["cms"]}
    created = api.post("/api/records", json={"metadata": md}, headers=auth)
    recid = int(created.get_json()["id"])
    upload(api, auth, recid, FILES)
    request_id = api.post(f"/api/records/{recid}/draft/actions/submit-review", headers=auth).get_json()["id"]
    with live_server(app) as url:
        yield app, url, recid, request_id


@pytest.fixture
def page(browser):
    if not AXE:
        pytest.skip("axe-core is not installed: `make install` puts it under .venv/share/portal")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # axe is injected inline
    yield context.new_page()
    context.close()


def test_a_curator_accepts_a_large_deposit_and_follows_its_publication(portal, page):
    app, url, recid, request_id = portal
    page.goto(url + "/requests")
    page.wait_for_url(re.compile(r"/signin\?next="))
    page.fill("#username", "cura")
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_url("**/requests")

    page.fill(f"#accept-{request_id}", "Welcome to CMS")
    page.click("text=Accept and publish")
    page.wait_for_url("**/requests")
    # no worker yet: the job is queued, and the page says so instead of offering the decision again
    status = page.locator(f"#publishing-{request_id}")
    assert status.is_visible()
    job = services_of(app).deposit.publication(recid)
    assert job is not None and job.state == "queued"
    assert f"(job {job.id})" in status.inner_text() and f"0 of {len(FILES)} files" in status.inner_text()
    assert page.locator(f"#publishing-{request_id} a").get_attribute("href") == f"/api/jobs/{job.id}"
    assert page.locator(f"#accept-{request_id}").count() == 0 and page.locator(f"#decline-{request_id}").count() == 0
    assert axe_violations(page) == []

    start_worker(app, poll_interval=0.05)
    # the curator reloads the page (as it tells them to) until the request has left the submitted ones
    deadline = time.monotonic() + 60
    while page.locator(f"#publishing-{request_id}").count():
        assert time.monotonic() < deadline, "the publication job did not end within 60 s"
        time.sleep(0.3)
        page.reload()
    assert page.locator(f"#publication-failed-{request_id}").count() == 0
    page.goto(url + "/requests?state=accepted")
    assert "Welcome to CMS" in page.inner_text("main") and "Muon pairs" in page.inner_text("main")
    assert axe_violations(page) == []
    page.goto(url + f"/record/{recid}")
    for key in FILES:
        assert key in page.inner_text("main")
