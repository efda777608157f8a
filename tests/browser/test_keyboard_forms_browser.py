"""The deposit and Analyse forms from the keyboard alone (Tab, Shift+Tab, Enter, Space, the arrows and typing), in a
real browser: a depositor signs in, creates a dataset draft, fills its fields with two creators, saves, uploads a
file through the file chooser, and submits the draft for review to a curated collection; a physicist picks the
dimuon analysis on a dataset's page, sets its parameter and the executor, runs it and reaches the job page. Every
control is reached by Tab with its focus visible, and axe-core finds no serious or critical violation on the pages
the flows pass through."""

from __future__ import annotations

import re

import pytest

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.identity.principal import COMMAND_LINE
from tests.support.app import start_worker
from tests.support.axe import AXE, axe_violations
from tests.support.keyboard import focus_is_visible, focused, tab_round, tab_to
from tests.support.live import live_server
from tests.support.users import make_user

pytestmark = pytest.mark.browser
PASSWORD = "a long enough password"
DATASET = 90001  # the demo catalogue's CMS dimuon dataset, with the tiny tier's ROOT files ingested


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keyboard")
    data = tmp / "data"
    generate("tiny", data / "cms-dimuon-demo", formats=("root",))
    app = create_app(
        {
            "var_dir": str(tmp / "var"),
            "data_dir": str(data),
            "base_url": "http://127.0.0.1",
            "secret_key": "browser-test-secret-key",
            "deposit_owners_publish": True,
            "processing_executor": "inline",
        }
    )
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    report = svc.ingester.ingest_path(svc.storage, "cms-dimuon-demo")
    svc.catalog.ingest_files(DATASET, report.file_rows("cms-dimuon-demo"), report.distribution())
    # two curated collections: the draft goes to the second one, chosen with an arrow key
    svc.collections.create(COMMAND_LINE, "cms", "CMS")
    svc.collections.create(COMMAND_LINE, "outreach", "Outreach")
    make_user(app, "kim", password=PASSWORD)
    start_worker(app)  # the job waits in the queue for a worker, as with `portal worker`
    with live_server(app) as url:
        yield app, url


@pytest.fixture
def page(browser):
    if not AXE:
        pytest.skip("axe-core is not installed: `make install` puts it under .venv/share/portal")
    # axe is injected as an inline script, which the page's policy refuses: only the test's context bypasses it
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    yield context.new_page()
    context.close()


def _type_into(page, selector: str, text: str) -> None:
    """Tab to a field and type ``text`` over what it holds (Ctrl+A selects it, as a user would)."""
    tab_to(page, selector)
    assert focus_is_visible(page), f"no visible focus on {selector}"
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def _sign_in(page, url: str, path: str) -> None:
    """Open ``path`` anonymously and sign in from the keyboard (sent to the sign-in page by a page that needs it,
    or through the header's link on a public one): the reader comes back to ``path``."""
    page.goto(url + path)
    if "/signin" not in page.url:
        tab_to(page, "#signin-link")
        assert focus_is_visible(page)
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/signin"))
    _type_into(page, "#username", "kim")
    page.keyboard.press("Tab")
    assert focused(page) == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#account-name")


def test_deposit_a_draft_and_submit_it_for_review_with_the_keyboard_only(portal, page, tmp_path):
    app, url = portal
    notes = tmp_path / "notes.csv"
    notes.write_text("run,event,mass\n1,1,91.2\n")
    _sign_in(page, url, "/deposit/new")
    page.wait_for_url("**/deposit/new")

    tab_to(page, "#new-dataset")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**/deposit/new/dataset")

    _type_into(page, "#f-title", "Muon pairs typed from the keyboard")
    tab_to(page, 'input[name="type.secondary"][value="Derived"]')
    assert focus_is_visible(page)
    page.keyboard.press("Space")
    assert page.is_checked('input[name="type.secondary"][value="Derived"]')
    # the first creator, then a second one in the spare row the form offers
    _type_into(page, "#f-authors-0-name", "Doe, Jane")
    page.keyboard.press("Tab")
    page.keyboard.type("CERN")
    page.keyboard.press("Tab")
    page.keyboard.type("0000-0002-1825-0097")
    _type_into(page, "#f-authors-1-name", "Roe, Richard")
    _type_into(page, "#f-abstract-description", "Pairs of muons, entered without a mouse.")
    _type_into(page, "#f-date-published", "2026-12-01")
    _type_into(page, "#f-license-attribution", "CC0-1.0")
    _type_into(page, "#f-keywords", "muons")
    page.keyboard.press("Enter")  # a new line in the list of keywords, not a submit
    page.keyboard.type("teaching")
    tab_to(page, "#save-draft")
    assert focus_is_visible(page)
    # back with Shift+Tab to the keywords, one more, and forward to save
    tab_to(page, "#f-keywords", backwards=True)
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("keyboard")
    tab_to(page, "#save-draft")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/deposit/[0-9]+$"))
    recid = int(re.search(r"/deposit/([0-9]+)", page.url).group(1))
    assert page.input_value("#f-authors-1-name") == "Roe, Richard"
    assert page.input_value("#f-keywords") == "muons\nteaching\nkeyboard"
    assert page.is_checked('input[name="type.secondary"][value="Derived"]')
    assert tab_round(page) == []  # the whole draft page: no trap, every control's focus visible

    # a file, through the file chooser the file input opens on Space. Playwright asks Chromium to hand it file
    # choosers without waiting for the answer (`updateSubscription`, fire and forget): subscribed only inside
    # expect_file_chooser, a busy machine let the Space press arrive first, and the chooser went to Chromium's own
    # headless dialog instead. A listener from here on subscribes before the round trips of tab_to.
    page.on("filechooser", lambda _chooser: None)
    tab_to(page, "#file-input")
    assert focus_is_visible(page)
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(notes))
    page.wait_for_selector('#upload-list li[data-key="notes.csv"][data-status="completed"]')
    page.wait_for_selector('#draft-files tr[data-key="notes.csv"]')
    # the new row's Delete button is in the tab order, after the file input's form (no focus lost or trapped)
    tab_to(page, 'button[aria-label="Delete notes.csv"]', backwards=True)
    assert focus_is_visible(page)
    assert axe_violations(page) == []

    # to the curated collection chosen with the arrows, then submitted with Enter
    tab_to(page, "#review-collection")
    assert focus_is_visible(page)
    page.keyboard.press("ArrowDown")
    assert page.input_value("#review-collection") == "outreach"
    tab_to(page, "#submit-review")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**/my/uploads")
    review = services_of(app).review.of_records([recid])[recid]
    assert review.state == "submitted" and review.collection.slug == "outreach"
    assert "Outreach" in page.inner_text("main")
    assert axe_violations(page) == []


def test_analyse_a_dataset_with_the_keyboard_only(portal, page):
    app, url = portal
    _sign_in(page, url, f"/record/{DATASET}")
    page.wait_for_url(f"**/record/{DATASET}")
    assert axe_violations(page) == []  # the page with its Analyse panel, signed in
    assert tab_round(page) == []  # the whole record page: no trap, every control's focus visible

    # Tab reaches the analysis group at its checked choice; the arrows move the choice to the dimuon analysis
    tab_to(page, "#analyse input[name=analysis]:checked")
    assert focus_is_visible(page)
    for _ in range(page.locator("#analyse input[name=analysis]").count()):
        if focused(page) == "an-dimuon":
            break
        page.keyboard.press("ArrowDown")
    assert focused(page) == "an-dimuon" and page.is_checked("#an-dimuon")
    # its parameter, a menu changed with the arrows
    tab_to(page, "#p-dimuon-pair")
    assert focus_is_visible(page)
    page.keyboard.press("ArrowDown")
    assert page.input_value("#p-dimuon-pair") == "same charge"
    tab_to(page, "#an-executor")
    assert focus_is_visible(page)
    assert page.input_value("#an-executor") == "inline"
    tab_to(page, "#an-skip")
    assert focus_is_visible(page)
    page.keyboard.press("Space")
    assert page.is_checked("#an-skip")
    tab_to(page, "#analyse button[type=submit]")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/analyses/[0-9]+$"))
    page.wait_for_selector("#job-state", timeout=60_000)
    job = int(page.url.rsplit("/", 1)[-1])
    assert services_of(app).analyses.get(job).parameters["pair"] == "same charge"
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.querySelector('#job-state').textContent.trim())", timeout=120_000
    )
    assert page.inner_text("#job-state") == "done"
    assert tab_round(page) == []  # the job page with its result: plot, cut flow, provenance, publish form
    assert axe_violations(page) == []
