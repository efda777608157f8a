"""A visitor's click in a real browser: "Open in JupyterLab" on a dataset's page, the launch page's live log, the
embedded hub signing them in through the portal, then the dataset's starter notebook in JupyterLab, whose cell
reads one of the dataset's files over root:// from a real XRootD server."""

from __future__ import annotations

import shutil

import pytest

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.launch.hub import Hub, free_port
from tests.support.app import start_worker
from tests.support.live import live_server
from tests.support.xrootd import served_tempdir, skip_reason, xrootd_over

# building the hep-analysis environment in a fresh var directory takes minutes on a cold machine
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]


def test_open_a_dataset_in_jupyterlab_and_read_a_file_over_root(browser, screenshots, tmp_path):
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    data = served_tempdir()
    generate("tiny", data / "cms-dimuon-demo", formats=("root",))
    port = free_port()
    client = {"launch_hub_client_id": "hub-test", "launch_hub_client_secret": "hub-test-secret-0123456789"}
    hub = Hub(
        tmp_path / "hub",
        portal_url=f"http://127.0.0.1:{port}",
        client_id=client["launch_hub_client_id"],
        client_secret=client["launch_hub_client_secret"],
    ).start()
    try:
        with xrootd_over(data) as server:
            app = create_app(
                {
                    "var_dir": str(tmp_path / "var"),
                    "data_dir": str(data),
                    "xrootd_url": server.url,
                    "xrootd_export": data.name,
                    "launch_hub_url": hub.url,
                    "launch_hub_token": hub.token,
                    "base_url": f"http://127.0.0.1:{port}",
                    "secret_key": "browser-test-secret-key",
                    **client,
                }
            )
            start_worker(app)  # environment builds are queue jobs: a worker runs them
            svc = services_of(app)
            svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
            report = svc.ingester.ingest_path(svc.storage, "cms-dimuon-demo")
            svc.catalog.ingest_files(90001, report.file_rows("cms-dimuon-demo"), report.distribution())
            with live_server(app, port) as url:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(url + "/record/90001")
                page.select_option("#open-env", "hep-analysis")
                page.click(".dataset-launch button[type=submit]")
                page.wait_for_url("**/launch/dataset/90001?env=hep-analysis")
                page.wait_for_selector("#launch-log:has-text('[built]')", timeout=600_000)
                page.wait_for_url("**/user/anon-*/env-*/lab/tree/dataset-90001.ipynb**", timeout=120_000)
                page.wait_for_selector(
                    ".jp-Notebook .jp-RenderedMarkdown h1:has-text('DoubleMuon events')", timeout=60_000
                )
                try:
                    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", timeout=180_000)
                    page.click(".jp-Notebook .jp-CodeCell >> nth=0 >> .jp-InputArea-editor")
                    page.keyboard.press("Shift+Enter")  # the fileset and the URLs
                    page.wait_for_selector(
                        ".jp-Notebook .jp-CodeCell >> nth=0 >> .jp-OutputArea-output:has-text('files in the fileset')"
                    )
                    page.click(".jp-Notebook .jp-CodeCell >> nth=1 >> .jp-InputArea-editor")
                    page.keyboard.press("Shift+Enter")  # uproot over root://
                    page.wait_for_selector(
                        ".jp-Notebook .jp-CodeCell >> nth=1 >> .jp-OutputArea-output:has-text('5000 events in root://')",
                        timeout=180_000,
                    )
                finally:
                    page.screenshot(path=str(screenshots / "dataset-notebook.png"))
    finally:
        hub.stop()
        shutil.rmtree(data.parent, ignore_errors=True)
