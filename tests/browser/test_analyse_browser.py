"""A student analyses a dataset in a real browser: signs in, picks the dimuon analysis on the dataset's page,
submits, watches the progress, sees the plot and the cut flow, publishes; the Derived record has the result files
and the evidence chain; "Re-run" reports identical bins."""

from __future__ import annotations

import pytest

from portal.app import services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
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


def test_student_analyses_publishes_and_re_runs(browser, screenshots, tmp_path):
    app = analyse_app(tmp_path)
    start_worker(app)  # jobs wait in the queue for a worker, as with `portal worker`
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    report = svc.ingester.ingest_path(svc.storage, "cms-dimuon-demo")
    svc.catalog.ingest_files(90001, report.file_rows("cms-dimuon-demo"), report.distribution())
    make_student(app)
    with live_server(app) as url:
        page = signed_in_page(browser, url)

        panel = page.locator("#analyse")
        assert panel.locator("text=10,000 events").count() == 1  # the cost, from the ingested files' entries
        page.check("#an-dimuon")
        assert page.input_value("#p-dimuon-pair") == "opposite charge"
        page.screenshot(path=str(screenshots / "analyse-panel.png"), full_page=True)
        # progress moves while the page stays (no reload): the bar is updated by polling
        job_url = submit_and_wait_for_the_result(page, timeout_ms=120_000)
        assert page.url == job_url
        assert page.inner_text("#job-state") == "done"
        assert page.get_attribute("#job-progress", "value") == page.get_attribute("#job-progress", "max")
        rows = page.locator("table.cutflow tbody tr")
        assert rows.count() == 3 and "opposite charge" in rows.nth(2).inner_text()
        assert "%" in rows.nth(1).inner_text()  # efficiencies
        src = page.get_attribute("#job-result img", "src")
        shown = page.request.get(src if src.startswith("http") else url + src)
        assert shown.ok and b"<svg" in shown.body()
        page.screenshot(path=str(screenshots / "analyse-job.png"), full_page=True)

        page.select_option("#pub-software", "90004")
        page.click(".publish-form button[type=submit]")
        page.wait_for_selector("#chain-h")
        derived = page.url.rstrip("/").rsplit("/", 1)[-1]
        files = page.locator("table.filebox tbody tr")
        keys = {files.nth(i).get_attribute("data-key") for i in range(files.count())}
        assert {"histograms.json", "histograms.h5", "histograms.root", "plot.png", "cutflow.csv", "inputs.json"} <= keys
        chain = page.locator("svg.chain")
        for node in (f"r{derived}", "r90001", "r90004", "r90005", "files"):
            assert chain.locator(f'[data-node="{node}"]').count() == 1
        assert chain.locator('[data-relation="isDerivedFrom"]').count() == 1
        assert chain.locator('[data-relation="isCompiledBy"]').count() == 1
        page.screenshot(path=str(screenshots / "derived-record.png"), full_page=True)

        rerun_and_wait_for_the_verdict(page, timeout_ms=120_000)
        assert page.get_attribute("#compare-verdict", "data-identical") == "yes"
        assert "Identical" in page.inner_text("#compare-verdict")
        overlay = page.request.get(url + page.get_attribute("#compare-plot", "src"))
        assert overlay.ok and b"<svg" in overlay.body()  # both runs on one plot
        page.screenshot(path=str(screenshots / "rerun-identical.png"), full_page=True)
