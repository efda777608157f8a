"""Lessons never rot: every education notebook runs end to end with nbclient on the generated samples
(small tier), in a kernel of the lesson's own environment built from `analysis_envs/` as a launch builds it;
the scaling-up lesson also asks a running portal's processing engine and compares."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import load_lessons
from portal.environments.builders import VenvBuilder, build_to_end
from portal.launch.sources import local_env
from tests.conftest import ENVS_DIR, LESSONS_DIR
from tests.support.app import start_worker
from tests.support.live import live_server
from tests.support.users import token_for

pytestmark = pytest.mark.slow
LESSONS = {lesson.slug: lesson for lesson in load_lessons(LESSONS_DIR)}


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
def lesson_kernels(tmp_path_factory):
    """JUPYTER_PATH holding one kernel per lesson environment, each running that environment's built Python."""
    builder = VenvBuilder(tmp_path_factory.mktemp("lesson-envs"))
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    prefixes = {}
    for env in sorted({lesson.spec["environment"] for lesson in LESSONS.values()}):
        built = build_to_end(builder, local_env(env, ENVS_DIR).repo_dir)
        spec_dir = jupyter_path / "kernels" / f"lesson-{env}"
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [str(built.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": f"Lesson environment {env}",
                    "language": "python",
                }
            )
        )
        prefixes[env] = str(built.python.parent.parent)
    return jupyter_path, prefixes


TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def portal_url(samples, tmp_path_factory):
    """A portal whose dataset 90001 holds the ROOT files, with the processing engine run inline."""
    var = tmp_path_factory.mktemp("lesson-portal-var")  # outside data_dir: restricted files live under var/
    app = create_app({"var_dir": str(var), "data_dir": str(samples), "processing_executor": "inline"})
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    report = svc.ingester.ingest_path(svc.storage, "cms")
    svc.catalog.ingest_files(90001, report.file_rows("cms"), report.distribution())
    TOKENS["analyses"] = token_for(app, ["analyses:run"])  # the lesson starts a job as its reader would
    start_worker(app)  # the job waits in the queue for a worker, as with `portal worker`
    with live_server(app) as url:
        yield url


def run_notebook(slug: str, env: dict[str, str], kernels) -> nbformat.NotebookNode:
    jupyter_path, prefixes = kernels
    lesson = LESSONS[slug]
    notebook = nbformat.read(lesson.notebook, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint('kernel prefix:', sys.prefix)"))
    env = {**env, "JUPYTER_PATH": str(jupyter_path)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        NotebookClient(
            notebook,
            timeout=600,
            kernel_name=f"lesson-{lesson.spec['environment']}",
            resources={"metadata": {"path": str(lesson.folder)}},
        ).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    expected = f"kernel prefix: {prefixes[lesson.spec['environment']]}"
    assert expected in "".join(out.get("text", "") for out in notebook.cells[-1].outputs), "not the lesson's env"
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
def test_lesson_notebook_runs_and_draws(slug, samples, lesson_kernels):
    notebook = run_notebook(slug, {"LESSON_DATA": str(samples / "flat")}, lesson_kernels)
    images, text = outputs(notebook)
    assert images, "the notebook drew no plot"
    assert all(len(png) > 20_000 for png in images), "a plot looks empty"  # base64 of a drawn figure
    if slug == "dimuon-spectrum":
        assert "J/ψ: peak at 3." in text and "Z: peak at 9" in text
    if slug == "z-mass-fit":
        assert "m_Z = 9" in text


def test_scaling_up_lesson_matches_the_portal_engine(samples, portal_url, lesson_kernels):
    notebook = run_notebook(
        "scaling-up",
        {
            "LESSON_DATA": str(samples / "cms"),
            "PORTAL_URL": portal_url,
            "LESSON_DATASET": "90001",
            "PORTAL_TOKEN": TOKENS["analyses"],
        },
        lesson_kernels,
    )
    images, text = outputs(notebook)
    assert images and "identical to our Dask histogram, bin by bin: True" in text
    assert "4 ROOT files from record 90001" in text
