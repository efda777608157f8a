"""A user's path through the portal in a real browser: search, facets, a record, copy a root:// link,
download a file, switch versions; screenshots of the main pages are kept as test artifacts."""

from __future__ import annotations

import pytest

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record
from tests.support.live import live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    data = tmp / "data"
    generate("tiny", data / "cms-dimuon-demo", formats=("root", "parquet"))
    generate("tiny", data / "education", formats=("csv",))
    app = create_app(
        {
            "var_dir": str(tmp),
            "data_dir": str(data),
            "xrootd_url": "root://xrootd.example:1094",
            "xrootd_export": "data",
            "base_url": "http://127.0.0.1",
        }
    )
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    report = svc.ingester.ingest_path(svc.storage, "cms-dimuon-demo")
    svc.catalog.ingest_files(90001, report.file_rows("cms-dimuon-demo"), report.distribution())
    with live_server(app) as url:
        yield url


def test_search_facets_record_copy_download_versions(browser, portal_url, screenshots, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(portal_url + "/")
    assert page.title() == "Open Experiment Data"
    page.screenshot(path=str(screenshots / "home.png"), full_page=True)

    # "dimuon" matches datasets and the analysis software, so the type facet must narrow the hits
    page.fill("#home-q", "dimuon")
    page.press("#home-q", "Enter")
    page.wait_for_url("**/search?q=dimuon*")
    total_all = page.inner_text("#total")
    page.click('a.facet[data-facet="type"][data-value="Dataset"]')
    page.wait_for_url("**type=Dataset*")
    assert page.get_attribute('a.facet[data-facet="type"][data-value="Dataset"]', "aria-checked") == "true"
    assert page.inner_text("#total") != total_all
    # a new query keeps the facet selection
    page.fill("#q", "nanoaod")
    page.press("#q", "Enter")
    page.wait_for_url("**q=nanoaod*")
    assert "type=Dataset" in page.url
    page.screenshot(path=str(screenshots / "search.png"), full_page=True)

    page.click("text=DoubleMuon events, CMS-2012-like NanoAOD (synthetic demo)")
    page.wait_for_url("**/record/90001")
    assert page.locator("script[type='application/ld+json']").count() == 1
    page.click('button.copy:has-text("Copy root://") >> nth=0')
    copied = page.evaluate("window.lastCopied")
    assert copied.startswith("root://xrootd.example:1094//data/cms-dimuon-demo/")
    page.select_option("#cite-style", "bibtex")
    assert page.is_visible('pre[data-cite="bibtex"]') and not page.is_visible('pre[data-cite="apa"]')
    page.screenshot(path=str(screenshots / "record-dataset.png"), full_page=True)

    with page.expect_download() as info:
        page.click("a.download >> nth=0")
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.stat().st_size > 1000 and target.read_bytes()[:4] in (b"root", b"PAR1")

    page.goto(portal_url + "/record/90004")
    page.click("text=Version 1.0.0")
    page.wait_for_url("**/record/90003")
    assert "There is a newer version" in page.inner_text(".banner")
    page.screenshot(path=str(screenshots / "record-old-version.png"), full_page=True)
    page.click(".banner a")
    page.wait_for_url("**/record/90004")
    context.close()


def test_phone_layout_and_friendly_errors(browser, portal_url, screenshots):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(portal_url + "/search?q=dimuon")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    # the filters are folded above the results on a phone, and unfold from the keyboard
    assert not page.is_visible('a.facet[data-facet="type"] >> nth=0') and page.is_visible(".hits")
    page.focus("[data-facet-box] summary")
    page.keyboard.press("Enter")
    assert page.is_visible('a.facet[data-facet="type"] >> nth=0')
    page.keyboard.press("Enter")
    page.screenshot(path=str(screenshots / "search-phone.png"), full_page=True)
    response = page.goto(portal_url + "/record/424242")
    assert response.status == 404 and "Back to the portal" in page.inner_text("main")
    bad = page.goto(portal_url + "/search?q=(muon")
    assert bad.status == 400 and "could not be understood" in page.inner_text(".error")
    context.close()


def test_education_page_lesson_preview_and_pack(browser, portal_url, screenshots, tmp_path):
    import hashlib
    import zipfile

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(portal_url + "/education")
    page.screenshot(path=str(screenshots / "education.png"), full_page=True)
    page.click("text=Find the J/ψ, ϒ and Z in the dimuon spectrum")
    page.wait_for_url("**/record/90006")
    assert "Learning goals" in page.inner_text(".lesson-box")
    assert page.get_attribute(".lesson-box a.launch", "href") == "/launch/lesson/dimuon-spectrum"
    page.screenshot(path=str(screenshots / "lesson.png"), full_page=True)
    with context.expect_page() as popup_info:
        preview_link = page.locator(".lesson-box a.button", has_text="Preview")
        preview_link.evaluate("a => a.target = '_blank'")
        preview_link.click()
    preview = popup_info.value
    preview.wait_for_load_state()
    assert "uproot" in preview.content()
    preview.close()
    label = page.inner_text(".lesson-box a.pack")
    with page.expect_download() as info:
        page.click(".lesson-box a.pack")
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    archive = zipfile.ZipFile(target)
    lines = [line for line in archive.read("MANIFEST").decode().splitlines() if not line.startswith("#")]
    assert len(lines) >= 6 and "(" in label
    for line in lines:
        size, digest, name = line.split("  ")
        body = archive.read(name)
        assert len(body) == int(size) and hashlib.sha256(body).hexdigest() == digest
    context.close()
