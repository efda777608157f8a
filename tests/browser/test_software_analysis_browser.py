"""A student runs the analysis the demo's software record provides, in a real browser: on the dataset's page picks
"Z boson candidates" (from software record 90008), fills its parameters, submits, watches the progress, sees the plot
and the cut flow, publishes; the Derived record's chain names the software record and its environment; "Re-run"
reports identical bins. The demo is seeded by the code `make run` uses (portal.stack), and the analysis runs in the
environment record's isolated venv (built once for the module, then reused)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from portal.app import services_of
from portal.demo.generate import generate
from portal.demo.software import ENVIRONMENT_RECID, SOFTWARE_RECID
from portal.stack import load_demo_catalogue, load_demo_data
from tests.support.analyse_browser import (
    analyse_app,
    make_student,
    rerun_and_wait_for_the_verdict,
    signed_in_page,
    submit_and_wait_for_the_result,
)
from tests.support.app import start_worker
from tests.support.live import live_server

pytestmark = pytest.mark.browser
SPEC = f"z-candidates@{SOFTWARE_RECID}"


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo portal, seeded as `make run` seeds it (its small-tier data replaced by the tiny tier, written first
    so the seeding finds it), with a worker; one for the module, so the environment's build is reused."""
    root = tmp_path_factory.mktemp("software-analysis-browser")
    generate("tiny", root / "data" / "education", formats=("csv",))
    app = analyse_app(root, launch_builder="venv")  # the isolated venv: fast, no podman
    settings = services_of(app).settings
    load_demo_catalogue(settings)
    load_demo_data(settings)
    start_worker(app)
    make_student(app)
    with live_server(app) as url:
        yield url


def _choose(page, min_pt: str, max_eta: str) -> None:
    offer = page.locator(f'[id="an-{SPEC}"]')
    offer.check()
    label = page.locator(f'label[for="an-{SPEC}"]').inner_text()
    assert "Z boson candidates" in label and "Z boson candidates in dimuon events 1.0.0" in label
    page.fill(f'[id="p-{SPEC}-min_pt"]', min_pt)
    page.fill(f'[id="p-{SPEC}-max_eta"]', max_eta)


def test_student_runs_the_software_analysis_publishes_and_re_runs(browser, screenshots, portal_url: str) -> None:
    url = portal_url
    page = signed_in_page(browser, url)
    _choose(page, "25", "2.1")
    page.screenshot(path=str(screenshots / "software-analyse-panel.png"), full_page=True)
    # the environment's build and the run's progress arrive while the page stays (polling, no reload)
    job_url = submit_and_wait_for_the_result(page, timeout_ms=240_000)
    assert page.url == job_url
    assert page.inner_text("#job-state") == "done"
    assert page.get_attribute("#job-progress", "value") == page.get_attribute("#job-progress", "max")
    assert "built" in page.inner_text("#job-env-log")

    rows = page.locator("table.cutflow tbody tr")
    cuts = [rows.nth(i).locator("th").inner_text() for i in range(rows.count())]
    assert cuts == [
        "all events",
        "two muons or more",
        "both pT above minimum",
        "both within |η|",
        "opposite charge",
        "mass in 60-120 GeV",
    ]
    passed = [int(rows.nth(i).locator("td").first.inner_text().replace(",", "")) for i in range(rows.count())]
    assert passed[0] == 10_000 and passed == sorted(passed, reverse=True) and passed[-1] > 0
    assert "%" in rows.nth(1).inner_text()  # efficiencies
    src = page.get_attribute("#job-result img", "src")
    shown = page.request.get(src if src.startswith("http") else url + src)
    assert shown.ok and b"<svg" in shown.body()
    provenance = page.inner_text("dl.provenance")
    assert "min_pt=25.0" in provenance and "max_eta=2.1" in provenance  # the parameters the student filled in
    assert "Z boson candidates in dimuon events 1.0.0" in provenance and "zpeak.analyses:ZCandidates" in provenance
    assert "venv-isolated" in provenance and "Minimal analysis environment" in provenance
    page.screenshot(path=str(screenshots / "software-analyse-job.png"), full_page=True)

    # the record providing the analysis is the code the form offers first
    assert page.eval_on_selector("#pub-software", "s => s.value") == str(SOFTWARE_RECID)
    page.click(".publish-form button[type=submit]")
    page.wait_for_selector("#chain-h")
    derived = page.url.rstrip("/").rsplit("/", 1)[-1]
    chain = page.locator("svg.chain")
    for node in (f"r{derived}", "r90001", f"r{SOFTWARE_RECID}", f"r{ENVIRONMENT_RECID}"):
        assert chain.locator(f'[data-node="{node}"]').count() == 1, node
    assert chain.locator('[data-relation="isDerivedFrom"]').count() == 1
    compiled = chain.locator('[data-relation="isCompiledBy"]')
    assert compiled.count() == 1 and compiled.get_attribute("data-to") == f"r{SOFTWARE_RECID}"
    assert chain.locator(f'[data-relation="requires"][data-to="r{ENVIRONMENT_RECID}"]').count() >= 1
    page.screenshot(path=str(screenshots / "software-derived-record.png"), full_page=True)

    rerun_and_wait_for_the_verdict(page, timeout_ms=240_000)
    assert page.get_attribute("#compare-verdict", "data-identical") == "yes"
    assert "Identical" in page.inner_text("#compare-verdict")
    page.screenshot(path=str(screenshots / "software-rerun-identical.png"), full_page=True)


def test_another_run_reuses_the_built_environment(browser, portal_url: str) -> None:
    # self-contained: the first of two runs builds the environment unless an earlier test did; the second reuses it
    page = signed_in_page(browser, portal_url)
    logs = []
    for _ in range(2):
        page.goto(portal_url + "/record/90001")
        _choose(page, "20", "2.4")
        submit_and_wait_for_the_result(page, timeout_ms=240_000)
        logs.append(page.inner_text("#job-env-log"))
    key = re.search(r"(?:built|reused build) ([0-9a-f]{32})", logs[0])
    assert key, logs[0]
    assert f"reused build {key.group(1)}" in logs[1], logs
    rows = page.locator("table.cutflow tbody tr")
    assert rows.count() == 6 and "mass in 60-120 GeV" in rows.nth(5).inner_text()
