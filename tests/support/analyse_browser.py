"""Set-up shared by the two Analyse browser tests (tests/browser/test_analyse_browser.py: the dimuon analysis,
tests/browser/test_software_analysis_browser.py: a software record's analysis): a portal whose analyses run inline
in small chunks on the tiny tier's dimuon data, its student, a page signed in as that student on the dataset's
page, and the waits for a job's result and for a re-run's verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portal.app import create_app
from portal.demo.generate import generate
from tests.support.users import make_user

PASSWORD = "correct horse battery staple 42"
STUDENT = "student"
DATASET = 90001  # the demo's dimuon dataset, the page the Analyse panel is tested on


def analyse_app(root: Path, **overrides: Any) -> Any:
    """A portal under ``root`` (var/, data/) with the tiny tier's dimuon files in data/cms-dimuon-demo (written
    first, so that seeding and ingesting find them); no worker and no records yet."""
    data = root / "data"
    generate("tiny", data / "cms-dimuon-demo", formats=("root",))
    return create_app(
        {
            "var_dir": str(root / "var"),
            "data_dir": str(data),
            "base_url": "http://127.0.0.1",
            "secret_key": "browser-test-secret-key",
            # small chunks: the run takes several progress steps, as a real dataset does
            "processing_executor": "inline",
            "processing_chunk_events": 500,
            **overrides,
        }
    )


def make_student(app: Any) -> None:
    make_user(app, STUDENT, password=PASSWORD)


def signed_in_page(browser: Any, url: str) -> Any:
    """A new page signed in as the student through the sign-in form, back on the dataset's page."""
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(f"{url}/record/{DATASET}")
    page.click("#signin-link")
    page.fill("#username", STUDENT)
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_url(f"**/record/{DATASET}")
    return page


def submit_and_wait_for_the_result(page: Any, timeout_ms: int) -> str:
    """Submits the Analyse panel and waits, on the job's page, for its plot; returns the job page's URL."""
    page.click("#analyse button[type=submit]")
    page.wait_for_url("**/analyses/*")
    job_url = str(page.url)
    page.wait_for_selector("#job-result img", timeout=timeout_ms)
    return job_url


def rerun_and_wait_for_the_verdict(page: Any, timeout_ms: int) -> None:
    """Clicks "Re-run" on a Derived record's page and waits for the comparison's verdict."""
    page.click(".rerun-form button[type=submit]")
    page.wait_for_url("**/analyses/compare?*")
    page.wait_for_selector("#compare-verdict[data-identical]", timeout=timeout_ms)
