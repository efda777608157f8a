"""Lessons: their records, previews that run nothing, offline packs whose manifest verifies, and pages."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from portal.app import services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data")}


@pytest.fixture
def app(app, tmp_path):
    generate("tiny", tmp_path / "data" / "cms-dimuon-demo", formats=("root", "parquet", "csv"))
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    return app


def test_lessons_are_records_with_their_teaching_facts(app):
    lessons = services_of(app).lessons.all()
    assert {lesson.slug for lesson in lessons} == {"collision-events", "dimuon-spectrum", "z-mass-fit", "scaling-up"}
    view = services_of(app).catalog.get(90006)
    assert view.metadata["type"] == {"primary": "Lesson", "secondary": ["Notebook"]}
    lesson = view.metadata["lesson"]
    assert lesson["level"] == "intermediate" and lesson["duration_minutes"] == 60 and lesson["learning_goals"]
    assert {"type": "references", "recid": "90001"} in view.metadata["relations"]
    assert {"type": "requires", "recid": "90005"} in view.metadata["relations"]
    assert view.doi == "10.5072/portal.90006"


def test_preview_shows_the_notebook_without_running_it(app):
    page = app.test_client().get("/education/dimuon-spectrum/preview")
    assert page.status_code == 200 and b"Find the J/" in page.data and b"uproot" in page.data
    assert b'class="jp-OutputArea' not in page.data  # the notebook is stored without outputs: nothing ran
    # nothing the Content-Security-Policy refuses: nbconvert's styles come as a stylesheet, its scripts are dropped
    assert b"<script" not in page.data and b"<style" not in page.data
    assert b'href="/education/preview.css"' in page.data
    css = app.test_client().get("/education/preview.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and b".jp-Cell" in css.data
    assert app.test_client().get("/education/no-such-lesson/preview").status_code == 404


def test_pack_holds_everything_and_its_manifest_verifies(app):
    client = app.test_client()
    listing = client.get("/api/education/lessons").get_json()["lessons"]
    announced = next(item for item in listing if item["slug"] == "dimuon-spectrum")["pack"]["size"]
    resp = client.get("/education/dimuon-spectrum/pack.zip")
    assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == announced == len(resp.data)
    archive = zipfile.ZipFile(io.BytesIO(resp.data))
    names = set(archive.namelist())
    assert {
        "MANIFEST",
        "notebook.ipynb",
        "worksheet.md",
        "worksheet.html",
        "teacher-guide.md",
        "README.txt",
        "data/nanoaod_000.root",
        "data/nanoaod_000.parquet",
    } <= names
    lines = [line for line in archive.read("MANIFEST").decode().splitlines() if not line.startswith("#")]
    assert {line.split("  ")[2] for line in lines} == names - {"MANIFEST"}
    for line in lines:
        size, digest, name = line.split("  ")
        body = archive.read(name)
        assert len(body) == int(size) and hashlib.sha256(body).hexdigest() == digest
    assert "https://doi.org/10.5072/portal.90006" in archive.read("README.txt").decode()
    assert "Answers" in archive.read("worksheet.html").decode()


def test_education_pages(app):
    client = app.test_client()
    landing = client.get("/education")
    assert landing.status_code == 200
    for title in (b"What is in a collision event?", b"Measuring the Z boson mass", b"Scaling up"):
        assert title in landing.data
    assert b"Download pack (" in landing.data
    record = client.get("/record/90022")
    assert b"Learning goals" in record.data and b"75 minutes" in record.data and b"Download pack (" in record.data
    assert client.get("/education/z-mass-fit").headers["Location"].endswith("/record/90022")


def test_launch_buttons_where_an_environment_exists(app, make_app, app_settings, tmp_path):
    client = app.test_client()
    lesson = client.get("/record/90021").data.decode()
    assert 'href="/launch/lesson/collision-events">Open notebook</a>' in lesson
    collision = services_of(app).catalog.get(90021).metadata["relations"]
    assert {"type": "requires", "recid": "90007"} in collision  # the education environment record
    analysis = client.get("/record/90004").data.decode()  # requires 90005, built from analysis_envs/hep-analysis
    assert 'href="/launch/record/90004">Launch in JupyterLab</a>' in analysis
    assert "<code>hep-analysis</code>" in analysis
    assert "Launch in JupyterLab" not in client.get("/record/90001").data.decode()  # names no environment
    # A missing data file is named before anything is built.
    (tmp_path / "data" / "cms-dimuon-demo" / "dimuon_pairs.csv").unlink()
    missing = client.get("/launch/lesson/collision-events")
    assert missing.status_code == 404 and b"dimuon_pairs.csv" in missing.data

    off = make_app(**app_settings, launch_enabled=False)  # same db
    page = off.test_client().get("/record/90021").data.decode()
    assert "Open notebook" not in page and "Download pack (" in page
