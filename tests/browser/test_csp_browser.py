"""The Content-Security-Policy in a real browser: the main pages (home, search, record, education, a lesson, its
notebook preview, sign-in, a launch) load and run their scripts under it with no violation, and an injected inline
script is refused."""

from __future__ import annotations

import pytest
import requests

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.catalog.model import RecordInput
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record
from tests.support.app import start_worker
from tests.support.live import live_server
from tests.support.users import token_for

pytestmark = pytest.mark.browser
DATASET = 5001

# Registered before any page script: every violation is reported on the console, where the test collects it.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


TOKENS: dict[str, str] = {}  # the module's live portal's tokens, made with it


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csp")
    data = tmp / "data"
    generate("tiny", data / "education", formats=("csv",))
    generate("tiny", data / "events", formats=("root",))
    app = create_app(
        {
            "var_dir": str(tmp),
            "data_dir": str(data),
            "base_url": "http://127.0.0.1",
            # a launch that builds at once and then fails (the hub is "down"): the launch page runs its whole
            # script (the event stream, the log, the failure message) without leaving the portal
            "launch_builder": "instant",
            "launch_launcher": "down",
            # waits half a second before each task: a job's page finds it still queued or running
            "processing_executor": "slow",
        }
    )
    start_worker(app)  # jobs wait in the queue for a worker, as with `portal worker`
    svc = services_of(app)
    rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in sorted(data.glob("events/*.root"))]
    dataset = {"recid": DATASET, "title": "Tiny events", "type": {"primary": "Dataset"}, "date_published": "2024-05-01"}
    svc.catalog.load([RecordInput(dataset, files=rows)])
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    TOKENS["analyses"] = token_for(app, ["analyses:run"])  # job creation needs an identity with that scope
    with live_server(app) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    violations: list[str] = []

    def collect(msg):  # Chromium's own report ("... violates the following Content Security Policy ...") and ours
        if "CSP violation" in msg.text or "Content Security Policy" in msg.text:
            violations.append(msg.text)

    page.on("console", collect)
    page.violations = violations
    yield page
    context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/search?q=dimuon",
        "/search?type=Dataset",
        "/record/90001",
        "/education",
        "/education/collision-events",
        "/education/collision-events/preview",
        "/signin",
        "/signup",
    ],
)
def test_pages_raise_no_csp_violation(page, portal_url, path):
    response = page.goto(portal_url + path)
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.readyState") == "complete"
    assert page.violations == []


def test_the_notebook_preview_is_styled_under_the_policy(page, portal_url):
    # nbconvert's inline styles now come as a stylesheet of the portal: JupyterLab's look without 'unsafe-inline'
    page.goto(portal_url + "/education/collision-events/preview")
    assert page.locator(".jp-Cell").count() > 3
    padding = page.evaluate("getComputedStyle(document.querySelector('.jp-Cell')).paddingLeft")
    assert padding != "0px"
    assert page.violations == []


def test_page_scripts_run_under_the_policy(page, portal_url):
    # portal.js (a script from 'self') switches the citation style of a record page
    page.goto(portal_url + "/record/90001")
    assert page.is_hidden('pre[data-cite="bibtex"]')
    page.select_option("#cite-style", "bibtex")
    page.wait_for_selector('pre[data-cite="bibtex"]:not([hidden])')
    assert page.is_hidden('pre[data-cite="apa"]')
    assert page.violations == []


def test_launch_page_follows_its_event_stream_under_the_policy(page, portal_url):
    page.goto(portal_url + "/launch/lesson/collision-events")
    # launch.js (no longer inline) opened the event stream and shows the log, then the failure of the "down" hub
    page.wait_for_selector("#launch-failed:not([hidden])", timeout=60_000)
    assert "[built]" in page.inner_text("#launch-log")
    assert page.violations == []


def test_job_page_follows_its_job_under_the_policy(page, portal_url):
    job = {"analysis": "dimuon", "dataset": DATASET}
    auth = {"Authorization": f"Bearer {TOKENS['analyses']}"}
    created = requests.post(f"{portal_url}/api/analyses", json=job, headers=auth, timeout=30)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.resource_type == "fetch" else None)
    page.goto(f"{portal_url}/analyses/{job_id}")
    # job.js (no longer inline) polls the job's JSON and reloads the page when it is done: the result shows
    page.wait_for_selector("#job-result img", timeout=90_000)
    assert page.inner_text("#job-state") == "done"
    assert any(url.endswith(f"/api/analyses/{job_id}") for url in polls), polls
    assert page.violations == []


def test_an_injected_inline_script_is_refused(page, portal_url):
    page.goto(portal_url + "/")
    # what a stored XSS would do: markup with an inline handler lands in the page
    with page.expect_console_message(lambda msg: "CSP violation" in msg.text):
        page.evaluate(
            """() => { const s = document.createElement("div");
                       s.innerHTML = '<img src="x" onerror="window.pwned = 1">';
                       document.body.appendChild(s); }"""
        )
    assert page.evaluate("window.pwned") is None
    assert any("script-src" in v for v in page.violations)
