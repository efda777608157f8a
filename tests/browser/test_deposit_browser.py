"""A depositor publishes a dataset in a real browser: signs in from "New upload", fills the dataset form with
mistakes and sees each message at its field (from the page's checks, then from the server's), fixes them, uploads a
50 MB file over tus while the network drops several chunks, sees the upload resume and end with the right SHA-256,
previews the landing page, publishes, and finds the file on the published record's page."""

from __future__ import annotations

import hashlib
import random
import re
import zlib

import pytest

from portal.app import create_app
from tests.support.live import live_server
from tests.support.users import make_user

pytestmark = pytest.mark.browser
PASSWORD = "a long enough password"
SIZE = 50 * 1024 * 1024
DROPPED = 3  # PATCH requests the "network" loses in the middle of the upload


def _error(page, field_id: str) -> str:
    box = page.locator(f"#{field_id}-error")
    return box.inner_text().strip() if box.is_visible() else ""


def test_deposit_with_mistakes_and_a_network_drop(browser, screenshots, tmp_path):
    big = tmp_path / "events.bin"
    data = random.Random(16).randbytes(SIZE)
    big.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    adler = f"adler32:{zlib.adler32(data) & 0xFFFFFFFF:08x}"
    del data
    app = create_app(
        {
            "var_dir": str(tmp_path / "var"),
            "data_dir": str(tmp_path / "data"),
            "base_url": "http://127.0.0.1",
            "secret_key": "browser-test-secret-key",
            "deposit_owners_publish": True,
        }
    )
    make_user(app, "dora", password=PASSWORD)
    with live_server(app) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.goto(url + "/deposit/new")  # anonymous: sent to sign in, and back
        page.wait_for_url(re.compile(r"/signin\?next="))
        page.fill("#username", "dora")
        page.fill("#password", PASSWORD)
        page.click("#signin-submit")
        page.wait_for_url("**/deposit/new")
        page.click("#new-dataset")
        page.wait_for_url("**/deposit/new/dataset")

        # mistakes: the page's checks catch four of them on submit, each at its field, and the form stays
        page.fill("#f-title", "ab")
        page.check("text=Derived")
        page.fill("#f-authors-0-affiliation", "CERN")  # an author without a name: only the server says so
        page.fill("#f-authors-0-orcid", "1234")
        page.fill("#f-date-published", "01/12/2026")
        page.fill("#f-license-attribution", "CC 0")
        page.fill("#f-keywords", "muons\nteaching")
        page.click("#save-draft")
        assert "/deposit/new/dataset" in page.url
        assert "at least 3 characters" in _error(page, "f-title")
        assert "ORCID iD is not in the expected form" in _error(page, "f-authors-0-orcid")
        assert "Publication date is not in the expected form" in _error(page, "f-date-published")
        assert "Licence is not in the expected form" in _error(page, "f-license-attribution")
        assert page.get_attribute("#f-title", "aria-invalid") == "true"
        assert "f-title-error" in page.get_attribute("#f-title", "aria-describedby")
        assert page.is_visible("#form-client-errors")
        page.screenshot(path=str(screenshots / "deposit-form-errors.png"), full_page=True)

        page.fill("#f-title", "Muon pairs from a teaching run")
        assert _error(page, "f-title") == ""  # a fixed field loses its message at once
        page.fill("#f-authors-0-orcid", "0000-0002-1825-0097")
        page.fill("#f-date-published", "2026-12-01")
        page.fill("#f-license-attribution", "CC0-1.0")
        page.click("#save-draft")
        page.wait_for_load_state()
        # the server's answer: the nameless author, at the name field, with everything typed kept
        page.wait_for_selector("#f-authors-0-name[aria-invalid=true]")
        assert "Name is required" in _error(page, "f-authors-0-name")
        assert page.input_value("#f-title") == "Muon pairs from a teaching run"
        assert page.input_value("#f-authors-0-affiliation") == "CERN"
        assert page.input_value("#f-keywords") == "muons\nteaching"
        assert page.is_checked("text=Derived")
        page.fill("#f-authors-0-name", "Doe, Jane")
        page.click("#save-draft")
        page.wait_for_url(re.compile(r"/deposit/[0-9]+$"))
        recid = page.url.rstrip("/").rsplit("/", 1)[-1]
        assert page.input_value("#f-authors-0-name") == "Doe, Jane"

        # the upload, with a network that loses PATCH requests in the middle
        seen = {"patch": 0, "dropped": 0, "head": 0}
        offsets: list[int] = []  # Upload-Offset of the PATCH requests that got through

        def flaky(route):
            if route.request.method == "HEAD":
                seen["head"] += 1
            if route.request.method == "PATCH":
                seen["patch"] += 1
                if 3 <= seen["patch"] < 3 + DROPPED:
                    seen["dropped"] += 1
                    route.abort("internetdisconnected")
                    return
                offsets.append(int(route.request.headers["upload-offset"]))
            route.continue_()

        # something typed and not saved yet: the upload must not reload the page and lose it
        assert page.is_visible("#no-files") and not page.is_visible("#draft-files")
        page.fill("#f-keywords", "muons\nteaching\nunsaved")
        page.evaluate("() => { window.sameDocument = true; }")  # gone if the page were reloaded
        context.route("**/api/uploads/**", flaky)
        page.set_input_files("#file-input", str(big))
        done = page.wait_for_selector(
            '#upload-list li[data-status="completed"], #upload-list li[data-status="failed"]', timeout=300_000
        )
        assert done.get_attribute("data-status") == "completed", done.inner_text()
        assert seen["dropped"] == DROPPED  # the drops happened
        # ... and the upload went on from the offset the server reported (HEAD), never from the start again
        assert seen["head"] >= 1
        assert offsets == sorted(set(offsets)) and offsets[0] == 0 and offsets.count(0) == 1
        assert page.inner_text("#upload-list code.sha256") == f"sha256:{sha256}"
        assert page.inner_text("#upload-list code.adler32") == adler
        # the file's row joined the draft's file table, from the API's JSON, without a reload
        added = page.locator('#draft-files tr[data-key="events.bin"]')
        added.wait_for()
        assert page.is_visible("#draft-files") and not page.is_visible("#no-files")
        assert sha256 in added.inner_text() and adler in added.inner_text()
        assert "MB" in added.locator("td").nth(1).inner_text()
        assert added.locator("form button").get_attribute("aria-label") == "Delete events.bin"
        assert added.locator("form").get_attribute("action").endswith(f"/deposit/{recid}/files/events.bin/delete")
        assert page.evaluate("() => window.sameDocument") is True
        assert page.input_value("#f-keywords") == "muons\nteaching\nunsaved"
        page.screenshot(path=str(screenshots / "deposit-upload-resumed.png"), full_page=True)
        context.unroute("**/api/uploads/**")

        # a file dropped on the box goes the same way; its Delete button takes it off the draft again
        page.evaluate(
            """() => {
                const drop = new DataTransfer();
                drop.items.add(new File(["dropped notes\\n"], "notes.txt", {type: "text/plain"}));
                document.querySelector("[data-drop-zone]").dispatchEvent(
                    new DragEvent("drop", {dataTransfer: drop, bubbles: true, cancelable: true}));
            }"""
        )
        page.wait_for_selector('#upload-list li[data-key="notes.txt"][data-status="completed"]')
        page.click('#upload-list li[data-key="notes.txt"] [data-delete-key]')
        page.wait_for_selector('#upload-list li[data-key="notes.txt"]', state="detached")
        page.wait_for_selector('#draft-files tr[data-key="notes.txt"]', state="detached")  # its row goes too
        assert page.locator("#draft-files tbody tr").count() == 1
        keys = page.evaluate(
            f"""async () => (await (await fetch("/api/records/{recid}/draft/files")).json()).entries.map(e => e.key)"""
        )
        assert keys == ["events.bin"]

        page.goto(f"{url}/deposit/{recid}")  # the file is on the draft's page too
        row = page.locator('#draft-files tr[data-key="events.bin"]')
        assert sha256 in row.inner_text()

        page.click("#preview-link")
        page.wait_for_url(f"**/deposit/{recid}/preview")
        assert page.is_visible("#preview-banner")
        assert page.locator('table.filebox tr[data-key="events.bin"]').count() == 1
        assert "Muon pairs from a teaching run" in page.inner_text("h1")
        page.screenshot(path=str(screenshots / "deposit-preview.png"), full_page=True)

        page.goto(f"{url}/deposit/{recid}")
        page.click("#publish")
        page.wait_for_url(f"**/record/{recid}", timeout=120_000)
        published = page.locator('table.filebox tr[data-key="events.bin"]')
        assert published.count() == 1 and adler in published.inner_text()
        assert not page.is_visible("#preview-banner")
        assert page.is_visible("#new-version")
        page.screenshot(path=str(screenshots / "deposit-published.png"), full_page=True)
        context.close()
