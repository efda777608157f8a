"""A student's click in a real browser: "Open notebook" on a lesson, the launch page's live log, the embedded
hub signing the (anonymous) visitor in through the portal, then the lesson's notebook open in JupyterLab."""

from __future__ import annotations

import pytest

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record
from portal.launch.hub import Hub, free_port
from tests.support.app import start_worker
from tests.support.live import live_server

pytestmark = pytest.mark.browser


def test_open_notebook_shows_progress_and_lands_on_the_hub(browser, screenshots, tmp_path):
    data = tmp_path / "data"
    generate("tiny", data / "education", formats=("csv",))
    port = free_port()
    client = {"launch_hub_client_id": "hub-test", "launch_hub_client_secret": "hub-test-secret-0123456789"}
    hub = Hub(
        tmp_path / "hub",
        portal_url=f"http://127.0.0.1:{port}",
        client_id=client["launch_hub_client_id"],
        client_secret=client["launch_hub_client_secret"],
    ).start()
    try:
        app = create_app(
            {
                "var_dir": str(tmp_path / "var"),
                "data_dir": str(data),
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
        svc.catalog.load([lesson_record(svc.lessons.find("collision-events"))])
        with live_server(app, port) as url:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(url + "/record/90021")
            page.click(".lesson-box a.launch")
            page.wait_for_url("**/launch/lesson/collision-events")
            # a selector, not wait_for_function: the page's CSP forbids the eval that a bare expression needs
            page.wait_for_selector("#launch-log:has-text('[built]')", timeout=60_000)
            page.screenshot(path=str(screenshots / "launch.png"), full_page=True)
            # when ready the page moves on; the hub signs the visitor in through the portal (no password: the
            # portal knows this browser's anonymous hub user) and opens the notebook on their own server
            page.wait_for_url("**/user/anon-*/r90021-*/lab/tree/notebook.ipynb**", timeout=120_000)
            page.wait_for_selector(
                ".jp-Notebook .jp-RenderedMarkdown h1:has-text('What is in a collision event?')", timeout=60_000
            )  # JupyterLab shows the lesson's notebook
            try:
                # The kernel starts in the lesson's freshly built environment: on a cold machine its first start
                # (bytecode, caches) can take a while, so wait for it to be idle before running anything.
                page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", timeout=180_000)
                page.click(".jp-Notebook .jp-CodeCell >> nth=0 >> .jp-InputArea-editor")  # a student's click
                page.keyboard.press("Shift+Enter")  # run the first code cell
                page.wait_for_selector(
                    ".jp-Notebook .jp-CodeCell >> nth=0 >> .jp-OutputArea-output table", timeout=180_000
                )  # events.head(): the data were there
            finally:
                page.screenshot(path=str(screenshots / "lesson-notebook.png"))
    finally:
        hub.stop()
