"""Lessons never rot: every education notebook runs end to end with nbclient on the generated samples
(small tier); the scaling-up lesson also asks a running portal's processing engine and compares."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from datasets.generate import generate
from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.education.lessons import load_lessons
from portal.files.ingest import ingest_path
from tests.conftest import ROOT
from tests.support.live import live_server

pytestmark = pytest.mark.slow
LESSONS = {lesson.slug: lesson for lesson in load_lessons()}


@pytest.fixture(scope="module")
def samples():
    """The small tier, as the sample packs ship it (ROOT and Parquet events, the CSV pairs)."""
    top = Path(tempfile.mkdtemp(prefix="lesson-data-"))
    generate("small", top / "cms", formats=("root",))
    generate("small", top / "extra", formats=("parquet", "csv"))
    flat = top / "flat"
    flat.mkdir()
    for path in [*(top / "cms").iterdir(), *(top / "extra").iterdir()]:
        (flat / path.name).symlink_to(path)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def portal_url(samples):
    """A portal whose dataset 90001 holds the ROOT files, with the processing engine run inline."""
    app = create_app({"var_dir": str(samples / "var"), "data_dir": str(samples), "processing_executor": "inline"})
    svc = services_of(app)
    svc.catalog.load(read_record_file(ROOT / "datasets" / "records" / "demo-catalogue.yaml"))
    report = ingest_path(svc.storage, "cms")
    svc.catalog.ingest_files(90001, report.file_rows("cms"), report.distribution())
    with live_server(app) as url:
        yield url


def run_notebook(slug: str, env: dict[str, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(LESSONS[slug].notebook, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(LESSONS[slug].folder)}}).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> tuple[list[bytes], str]:
    images, text = [], []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                raise AssertionError(f"{out['ename']}: {out['evalue']}")
            if "image/png" in out.get("data", {}):
                images.append(out["data"]["image/png"].encode())
            text.append(out.get("text", ""))
    return images, "".join(text)


@pytest.mark.parametrize("slug", ["collision-events", "dimuon-spectrum", "z-mass-fit"])
def test_lesson_notebook_runs_and_draws(slug, samples):
    notebook = run_notebook(slug, {"LESSON_DATA": str(samples / "flat")})
    images, text = outputs(notebook)
    assert images, "the notebook drew no plot"
    assert all(len(png) > 20_000 for png in images), "a plot looks empty"  # base64 of a drawn figure
    if slug == "dimuon-spectrum":
        assert "J/ψ: peak at 3." in text and "Z: peak at 9" in text
    if slug == "z-mass-fit":
        assert "m_Z = 9" in text


def test_scaling_up_lesson_matches_the_portal_engine(samples, portal_url):
    notebook = run_notebook("scaling-up", {"LESSON_DATA": str(samples / "cms"), "PORTAL_URL": portal_url,
                                           "LESSON_DATASET": "90001"})
    images, text = outputs(notebook)
    assert images and "identical to our Dask histogram, bin by bin: True" in text
    assert "4 ROOT files from record 90001" in text
