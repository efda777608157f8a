"""Hostile files: malformed or traversing lesson YAML, malformed record files (JSON, YAML: syntax errors, wrong
shapes, alias bombs, absurd nesting), and damaged or bomb files on ingest (truncated ROOT, HDF5 and Parquet, a
zip bomb, a gzip bomb named .csv). Each is refused naming the file and what is wrong, nothing half-loaded; the
good files next to them still load."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import func, select

from portal.app import services_of
from portal.catalog.importers import read_record_file
from portal.db.models import File, Record
from portal.demo.generate import generate
from portal.education.lessons import Lessons, preview_html
from portal.errors import Invalid
from tests.conftest import ENVS_DIR, LESSONS_DIR
from tests.functional.catalog_helpers import dataset, load_file, write_records

PORTAL = Path(sys.executable).parent / "portal"


# ------------------------------------------------------------------ lessons
def lesson_copy(tmp_path: Path, **spec_text: str) -> Path:
    """A lessons folder holding one copy of the first checkout lesson; ``spec_text`` replaces its lesson.yaml."""
    folder = tmp_path / "lessons"
    source = sorted(p for p in LESSONS_DIR.iterdir() if (p / "lesson.yaml").is_file())[0]
    shutil.copytree(source, folder / source.name)
    if "yaml" in spec_text:
        (folder / source.name / "lesson.yaml").write_text(spec_text["yaml"], encoding="utf-8")
    return folder / source.name


def good_spec(lesson: Path) -> str:
    return (lesson / "lesson.yaml").read_text(encoding="utf-8")


BAD_LESSONS = {
    "syntax": ("title: [unclosed\n", "line"),
    "tab": ("title:\t- x\n\tlevel: 1\n", "not valid YAML"),
    "list": ("- a\n- b\n", "mapping"),
    "scalar": ("just text\n", "mapping"),
    "binary": (b"\xff\xfe\x00\x01".decode("latin-1"), "lesson.yaml"),
}


def test_malformed_lesson_yaml_is_refused_naming_the_file(tmp_path):
    for name, (text, says) in BAD_LESSONS.items():
        lesson = lesson_copy(tmp_path / name)
        spec = lesson / "lesson.yaml"
        if name == "binary":
            spec.write_bytes(b"\xff\xfe\x00\x01title: x")
        else:
            spec.write_text(text, encoding="utf-8")
        with pytest.raises(Invalid) as caught:
            Lessons(lesson.parent, ENVS_DIR).all()
        assert str(spec) in caught.value.message and says in caught.value.message, (name, caught.value.message)


@pytest.mark.parametrize(
    ("replace", "says"),
    [
        (("notebook: ", "notebook: ../../../etc/"), "notebook must be a relative path"),
        (("notebook: ", "notebook: /etc/"), "notebook must be a relative path"),
        (("data:\n", "data:\n- ../../../../etc/passwd\n"), "plain file names"),
        (("data:\n", "data:\n- '*'\n"), "plain file names"),
        (("data:\n", "data: {a: 1}\nx_data:\n"), "data must be a list"),
    ],
)
def test_lesson_names_cannot_reach_outside_the_lesson(tmp_path, replace, says):
    lesson = lesson_copy(tmp_path)
    text = good_spec(lesson)
    old, new = replace
    if old not in text:
        text += "data:\n"
    (lesson / "lesson.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(Invalid, match=says):
        Lessons(lesson.parent, ENVS_DIR).all()


def test_lesson_pages_with_a_broken_lesson_answer_4xx_naming_it(make_app, tmp_path):
    lesson = lesson_copy(tmp_path)
    (lesson / "lesson.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    app = make_app(lessons_dir=str(lesson.parent))
    client = app.test_client()
    for url in ("/education", "/api/education/lessons", f"/education/{lesson.name}/pack.zip"):
        response = client.get(url, headers={"Accept": "application/json"})
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert "lesson.yaml" in response.get_json()["detail"], url


def test_a_notebook_preview_drops_active_markup(tmp_path):
    lesson = lesson_copy(tmp_path)
    spec = Lessons(lesson.parent, ENVS_DIR).all()[0]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            'Hi <img src=x onerror="alert(1)"> <a href="javascript:alert(2)">link</a>'
            '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input></form>'
        ),
        nbformat.v4.new_code_cell(
            "1",
            outputs=[
                nbformat.v4.new_output("display_data", {"text/html": "<b onclick=x>b</b><script>alert(3)</script>"})
            ],
        ),
    ]
    nbformat.write(notebook, spec.notebook)
    html = preview_html(spec)
    assert "Hi" in html and "<b" in html  # the cells are still shown
    lowered = html.lower()
    for bad in ("onerror", "onclick", "javascript:", "<iframe", "<form", "<script", "alert(3)"):
        assert bad not in lowered, bad


# ------------------------------------------------------------------ record files
def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "- recid: 7\n  title: bomb\n  note:\n    description:\n" + "".join(f"      {line}\n" for line in lines)


BAD_RECORD_FILES = {
    "truncated.json": ('[{"recid": 7, "title": "x"', "r"),
    "trailing.json": ('[{"recid": 7}] garbage', "r"),
    "object-in-string.json": ('"[{}]"', "record"),
    "numbers.json": ("[1, 2, 3]", "not a record object"),
    "deep.json": ('[{"recid": 7, "dataset": ' + "[" * 20_000 + "]" * 20_000 + "}]", "deep"),
    "syntax.yaml": ("- recid: 7\n  title: [unclosed\n", "line"),
    "tabs.yaml": ("- recid: 7\n\ttitle: x\n", "line"),
    "deep.yaml": ("- recid: 7\n  dataset: " + "[" * 5000 + "]" * 5000 + "\n", "deep"),
    "aliases.yaml": (_alias_bomb(), "alias"),
    "text.json": ("\ufeff\x00\x00", "r"),
}


def test_malformed_record_files_are_refused_naming_the_file(tmp_path):
    for name, (text, _says) in BAD_RECORD_FILES.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(Invalid) as caught:
            read_record_file(path)
        assert str(path) in caught.value.message, (name, caught.value.message)


def test_the_load_command_refuses_a_bad_file_whole_and_names_it(settings_dict, tmp_path, make_app):
    app = make_app()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": settings_dict["var_dir"],
    }
    for name in ("deep.json", "aliases.yaml", "truncated.json"):
        path = tmp_path / name
        text, _ = BAD_RECORD_FILES[name]
        path.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [str(PORTAL), "records", "load", str(path)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1, (name, done.stdout, done.stderr[-500:])
        assert "Traceback" not in done.stderr and name in done.stderr, (name, done.stderr[-500:])
    with services_of(app).db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0


# ------------------------------------------------------------------ ingest
@pytest.fixture
def hostile_data(tmp_path):
    """Good CSV, ROOT, Parquet and HDF5 files; truncated copies of each binary one; a zip bomb (a few kB that
    inflate to 200 MB); a gzip bomb named .csv; an empty .parquet."""
    data = tmp_path / "data"
    generate("tiny", data / "ds", formats=("root", "parquet", "hdf5"))
    folder = data / "ds"
    for good in sorted(folder.iterdir()):
        if good.suffix in (".root", ".parquet", ".h5") and "_000" in good.name:
            raw = good.read_bytes()
            (folder / f"cut{good.suffix}").write_bytes(raw[: len(raw) // 3])
            (folder / f"head{good.suffix}").write_bytes(raw[:16])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z, z.open("zeros.bin", "w", force_zip64=True) as out:
        block = bytes(1 << 20)
        for _ in range(200):
            out.write(block)
    (folder / "bomb.zip").write_bytes(buffer.getvalue())
    (folder / "bomb.csv").write_bytes(gzip.compress(bytes(50 << 20)))
    (folder / "empty.parquet").write_bytes(b"")
    return data


def test_damaged_and_bomb_files_are_reported_and_the_rest_ingested(make_app, hostile_data, tmp_path):
    app = make_app(data_dir=str(hostile_data))
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(5)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    errors = dict(report.errors)
    for suffix in (".root", ".parquet", ".h5"):
        assert f"ds/cut{suffix}" in errors and f"ds/head{suffix}" in errors, (suffix, sorted(errors))
        assert errors[f"ds/cut{suffix}"], suffix  # a reason, not an empty string
    assert "ds/bomb.csv" in errors and "binary" in errors["ds/bomb.csv"]
    assert "ds/empty.parquet" in errors
    files = {f.path: f for f in report.files}
    # The zip is kept as the bytes it is (nothing inflates it); its size is what is on disk.
    assert files["ds/bomb.zip"].size == (hostile_data / "ds" / "bomb.zip").stat().st_size < 1 << 20
    good = [p for p in files if "_00" in p]
    assert {Path(p).suffix for p in good} == {".root", ".parquet", ".h5"}
    view = svc.catalog.ingest_files(5, report.file_rows("ds"), report.distribution())
    assert not {f["key"] for f in view.files} & {k.removeprefix("ds/") for k in errors}
    with svc.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(File).where(File.recid == 5)) == len(report.files)
