"""Accessibility in a real browser: axe-core (the npm package, installed and pinned by `make install`) finds no serious
or critical violation on any page type, in English and in French; search and its filters work from the keyboard
alone, with the focus visible and a skip link to the content; the language switch in the header works."""

from __future__ import annotations

import time

import pytest
import requests

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.catalog.model import RecordInput
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record
from tests.support.app import start_worker
from tests.support.axe import AXE, axe_violations
from tests.support.keyboard import focus_is_visible, tab_to
from tests.support.live import live_server
from tests.support.users import make_user, token_for

pytestmark = pytest.mark.browser
DATASET = 5101
PASSWORD = "a long enough password"
STATE: dict[str, object] = {}  # what the module's portal made: the lesson page, the finished job, ...


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("a11y")
    data = tmp / "data"
    generate("tiny", data / "education", formats=("csv",))
    generate("tiny", data / "events", formats=("root",))
    app = create_app({"var_dir": str(tmp), "data_dir": str(data), "base_url": "http://127.0.0.1"})
    svc = services_of(app)
    rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in sorted(data.glob("events/*.root"))]
    dataset = {
        "recid": DATASET,
        "title": "Tiny events",
        "type": {"primary": "Dataset"},
        "date_published": "2024-05-01",
        "distribution": {"number_events": 40000, "number_files": len(rows)},
    }
    svc.catalog.load([RecordInput(dataset, files=rows)])
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    make_user(app, "ada", password=PASSWORD)
    STATE["token"] = token_for(app, ["analyses:run"], username="ada")
    STATE["deposit_token"] = token_for(app, ["deposit:write"], username="ada")
    start_worker(app)  # the job page's job waits in the queue for a worker, as with `portal worker`
    with live_server(app) as url:
        yield url


def _finished_job(url: str) -> str:
    if "job" not in STATE:
        auth = {"Authorization": f"Bearer {STATE['token']}"}
        created = requests.post(f"{url}/api/analyses", json={"analysis": "dimuon", "dataset": DATASET}, headers=auth)
        assert created.status_code == 202, created.text
        job = created.json()["id"]
        deadline = time.monotonic() + 120  # a bound on waiting, not an assertion on speed
        while requests.get(f"{url}/api/analyses/{job}", headers=auth).json()["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.3)
        STATE["job"] = f"/analyses/{job}"
    return str(STATE["job"])


def _lesson_page(page, url: str) -> str:
    page.goto(url + "/education")
    return page.get_attribute("li.lesson h3 a >> nth=0", "href")


@pytest.fixture
def context(browser):
    if not AXE:
        pytest.skip("axe-core is not installed: `make install` puts it under .venv/share/portal")
    # The page's policy refuses inline scripts, and Playwright injects axe as one: only the test's context bypasses it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    yield context
    context.close()


def _sign_in(page, url: str) -> None:
    page.goto(url + "/signin")
    page.fill("#username", "ada")
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_selector("#account-name")


PAGES = [
    "/",
    "/search?q=dimuon",
    "/search?type=Dataset&experiment=CMS",
    "/search?q=title:%22unclosed",  # the query-error state of the search page
    f"/record/{DATASET}",  # dataset with its file listing
    f"/record/{DATASET}?files_q=*.root",
    "/record/90001",  # dataset with indices, relations
    "/record/90002",  # derived
    "/record/90004",  # software
    "/record/90005",  # environment
    "/education",
    "lesson",
    "/education/collision-events/preview",
    f"/record/{DATASET}/preview?key=" + "{first_file}",
    "/signin",
    "/signup",
    "/record/999999",  # an error page
    "job",
]


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("path", PAGES)
def test_no_serious_or_critical_violation(context, portal_url, path, lang):
    page = context.new_page()
    if path == "job":
        path = _finished_job(portal_url)
    elif path == "lesson":
        path = _lesson_page(page, portal_url)
    elif "{first_file}" in path:
        files = requests.get(f"{portal_url}/api/records/{DATASET}/files", timeout=30).json()["hits"]["hits"]
        path = path.replace("{first_file}", files[0]["key"])
    page.goto(portal_url + path + ("&" if "?" in path else "?") + f"lang={lang}")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == lang
    assert axe_violations(page) == []


def _draft(url: str) -> int:
    """A draft of ada's with a file, made through the deposit API (for the deposit pages)."""
    if "draft" not in STATE:
        auth = {"Authorization": f"Bearer {STATE['deposit_token']}"}
        metadata = {"title": "A draft to check", "type": {"primary": "Dataset"}, "date_published": "2026-12-01"}
        created = requests.post(f"{url}/api/records", json={"metadata": metadata}, headers=auth, timeout=30)
        assert created.status_code == 201, created.text
        recid = int(created.json()["id"])
        files = f"{url}/api/records/{recid}/draft/files"
        assert requests.post(files, json=[{"key": "notes.txt"}], headers=auth, timeout=30).status_code == 201
        put = requests.put(f"{files}/notes.txt/content", data=b"notes\n", headers=auth, timeout=30)
        assert put.ok, put.text
        assert requests.post(f"{files}/notes.txt/commit", headers=auth, timeout=30).ok
        STATE["draft"] = recid
    return int(STATE["draft"])  # type: ignore[call-overload]


SIGNED_IN_PAGES = [
    "/settings/tokens",
    "/my/uploads",
    "/my/jobs",
    "/my/sessions",
    "/profile",
    "/deposit/new",
    "/deposit/new/dataset",
    "/deposit/new/software",
    "/deposit/new/lesson?lang=fr",
    "/deposit/{draft}",
    "/deposit/{draft}/preview",
    "/requests",
]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_have_no_serious_or_critical_violation(context, portal_url, path):
    page = context.new_page()
    _sign_in(page, portal_url)
    if "{draft}" in path:
        path = path.replace("{draft}", str(_draft(portal_url)))
    page.goto(portal_url + path)
    assert axe_violations(page) == []


def test_a_deposit_form_with_messages_has_no_serious_or_critical_violation(context, portal_url):
    page = context.new_page()
    _sign_in(page, portal_url)
    page.goto(portal_url + "/deposit/new/dataset")
    page.fill("#f-title", "ab")
    page.fill("#f-authors-0-orcid", "1234")
    page.click("#save-draft")  # the page's own checks show their messages
    page.wait_for_selector("#f-title-error:not([hidden])")
    assert axe_violations(page) == []


def test_skip_link_search_and_filters_with_the_keyboard_only(browser, portal_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(portal_url + "/search")
    # the first Tab reaches the skip link, shown on focus; Enter moves the focus to the main content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = page.locator("a.skip").bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0, "the focused skip link is off screen"
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # type a query in the search form, submit with Enter
    tab_to(page, "#q")
    assert focus_is_visible(page)
    page.keyboard.type("dimuon")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=dimuon*")
    total = page.inner_text("#total")
    # a filter, reached and toggled with Tab and Enter
    tab_to(page, 'a.facet[data-facet="type"][data-value="Dataset"]')
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_url("**type=Dataset*")
    assert page.get_attribute('a.facet[data-facet="type"][data-value="Dataset"]', "aria-checked") == "true"
    assert page.inner_text("#total") != total
    # the sort menu works from the keyboard too: focus, choose with the arrows, submit with Enter
    tab_to(page, "#sort")
    page.keyboard.press("End")
    tab_to(page, "#search-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=mostcited*")  # End: the last sort
    assert "type=Dataset" in page.url and "q=dimuon" in page.url
    context.close()


def test_the_language_switch_in_the_header(browser, portal_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.goto(portal_url + "/search?q=dimuon")
    assert page.get_attribute("html", "lang") == "en" and page.inner_text("#total").endswith("results")
    page.click('nav.languages a[hreflang="fr"]')
    page.wait_for_url("**lang=fr*")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.inner_text("h1") == "Recherche" and "q=dimuon" in page.url
    assert page.inner_text("#total").endswith("résultats")
    # the choice is remembered: another page, without ?lang, is French although the browser asks for English
    page.goto(portal_url + "/record/90001")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.is_visible("text=Citer comme")
    page.click('nav.languages a[hreflang="en"]')
    page.wait_for_url("**lang=en*")
    assert page.get_attribute("html", "lang") == "en" and page.is_visible("text=Cite as")
    context.close()
