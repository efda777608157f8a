"""Launching environments on a real JupyterHub: build, cache, fileset over root://, Binder-style git source."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.environments.builders import BuildEvent, BuiltEnvironment, VenvBuilder
from portal.environments.doubles import FailingBuilder
from portal.launch.base import FileRef
from portal.launch.hub import Hub
from portal.launch.jupyterhub import JupyterHubLauncher
from portal.launch.sources import git_checkout, local_env
from tests.conftest import ENVS_DIR
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.jupyter import run_code
from tests.support.live import live_server
from tests.support.xrootd import served_tempdir, skip_reason, xrootd_over


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = Hub(tmp_path_factory.mktemp("hub")).start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> VenvBuilder:
    return VenvBuilder(tmp_path_factory.mktemp("envs"))


def build(builder: VenvBuilder, repo: Path, commit: str = "") -> tuple[list[BuildEvent], BuiltEnvironment]:
    events: list[BuildEvent] = []
    for item in builder.build(repo, source_commit=commit):
        if isinstance(item, BuiltEnvironment):
            return events, item
        events.append(item)
    raise AssertionError("no build result")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_record_environment_reads_fileset_over_root(hub: Hub, builder: VenvBuilder, tmp_path: Path) -> None:
    # Record 90005 is the HEP environment built from analysis_envs/hep-analysis.
    source = local_env("hep-analysis", ENVS_DIR)
    events, built = build(builder, source.repo_dir)
    assert [e.phase for e in events].count("building") >= 1 and events[-1].phase == "built"
    service = JupyterHubLauncher(hub.url, hub.token, tmp_path / "work")

    reason = skip_reason()
    data = served_tempdir()
    try:
        generate("tiny", data, formats=("root",))
        root_file = sorted(data.glob("*.root"))[0]
        if reason is None:
            with xrootd_over(data) as server:
                files = [
                    FileRef(
                        key=root_file.name,
                        uri=f"{server.url}//{data.name}/{root_file.name}",
                        checksum=f"sha256:{sha256(root_file)}",
                        size=root_file.stat().st_size,
                    )
                ]
                url = launch(service, built, files)
                out = run_code(url, hub.token, CODE_ROOT)
                assert out.strip().splitlines()[-1] == "events 5000", out
        else:
            files = [
                FileRef(
                    key=root_file.name,
                    uri=f"root://unavailable//{root_file.name}",
                    checksum=f"sha256:{sha256(root_file)}",
                    size=root_file.stat().st_size,
                )
            ]
            url = launch(service, built, files)
        out = run_code(url, hub.token, CODE_FILESET)
        lines = out.strip().splitlines()
        assert lines[0] == f"90005 {root_file.name} sha256:{sha256(root_file)}", out
        assert lines[1] == str(built.python.parent.parent), out  # the kernel runs in the built venv
        assert not (Path(lines[2]) / root_file.name).exists()  # the data was referenced, not copied
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    if reason is not None:
        pytest.skip(f"fileset checked; root:// read not run: {reason}")


CODE_FILESET = """
import json, os, sys
fs = json.load(open(os.environ["PORTAL_FILESET"]))
f = fs["files"][0]
print(os.environ["PORTAL_RECORD"], f["key"], f["checksum"])
print(sys.prefix)
print(os.getcwd())
"""

CODE_ROOT = """
import json, os, uproot
f = json.load(open("fileset.json"))["files"][0]
with uproot.open(f["uri"]) as root:
    tree = [k for k, v in root.classnames().items() if v == "TTree"][0]
    print("events", root[tree].num_entries)
"""


def launch(service: JupyterHubLauncher, built: BuiltEnvironment, files: list[FileRef], recid: int = 90005) -> str:
    events = list(service.launch(built, user="alice", recid=recid, files=files))
    assert [e.phase for e in events] == ["launching", "ready"], events
    return str(events[-1].data["server_url"])


def test_second_build_is_cached(builder: VenvBuilder) -> None:
    source = local_env("education", ENVS_DIR)
    first, built = build(builder, source.repo_dir)
    second, again = build(builder, source.repo_dir)
    assert "building" in [e.phase for e in first]
    assert [e.phase for e in second] == ["built"] and second[0].data["cached"] is True
    assert again.key == built.key and again.path == built.path


def test_binder_style_git_repository_builds_and_launches(hub: Hub, builder: VenvBuilder, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "binder").mkdir(parents=True)
    (repo / "binder" / "requirements.txt").write_text("pandas==3.1.1\n")
    (repo / "requirements.txt").write_text("this-is-ignored-because-binder-dir-wins==0\n")
    (repo / "analysis.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "env"], check=True)
    source = git_checkout(f"file://{repo}", "main", tmp_path / "clones", allowed_hosts=["github.com"], allow_file=True)
    assert len(source.commit) == 40
    events, built = build(builder, source.repo_dir, source.commit)
    assert events[-1].phase == "built" and built.record["source_commit"] == source.commit
    service = JupyterHubLauncher(hub.url, hub.token, tmp_path / "work")
    done = list(service.launch(built, user="bob", notebook="analysis.ipynb"))
    assert done[-1].phase == "ready" and done[-1].data["url"].endswith("/lab/tree/analysis.ipynb")
    out = run_code(str(done[-1].data["server_url"]), hub.token, "import pandas, sys; print(pandas.__version__)")
    assert out.strip() == "3.1.1"


@pytest.mark.parametrize("name", ["hep-analysis", "education"])
def test_dockerfile_through_repo2docker(name: str) -> None:
    from portal.environments.spec import read_spec, render_dockerfile

    env = ENVS_DIR / name
    assert read_spec(env).buildpack == "PythonBuildPack"
    ours = render_dockerfile(env)
    cli = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-repo2docker"),
            "--no-build",
            "--user-id",
            "1000",
            "--user-name",
            "jovyan",
            str(env),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert "requirements.txt" in ours and "FROM docker.io/library/buildpack-deps" in ours
    assert "python=3.11" in cli.stderr  # runtime.txt was honoured
    # repo2docker's CLI prints the same Dockerfile the portal renders through its buildpack classes, save the
    # LABELs naming the source it was given
    cli_lines = [line for line in cli.stdout.strip().splitlines() if not line.startswith("LABEL repo2docker.")]
    assert cli_lines == ours.strip().splitlines()


# -- through the portal: Binder URLs, record launches, SSE ------------------------------------------------------

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def sse_events(url: str, timeout: float = 120.0) -> list[dict[str, object]]:
    events = []  # read as the launch page's EventSource would (a browser: counted as a launch, not a robot)
    with requests.get(url, stream=True, timeout=timeout, headers={"User-Agent": BROWSER_UA}) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream"), resp.text
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["phase"] in ("ready", "failed"):
                    break
    return events


def test_portal_launches_record_and_binder_url(hub: Hub, make_app, tmp_path: Path) -> None:
    app = make_app(
        launch_hub_url=hub.url, launch_hub_token=hub.token, launch_allow_file_urls=True, launch_git_hosts="github.com"
    )
    svc = app.extensions["portal"]
    load_file(
        svc,
        write_records(
            tmp_path / "records.json",
            [
                dataset(
                    90100, title="Education environment", system_details={"description": "analysis_envs/education"}
                ),
                dataset(90101, relations=[{"type": "requires", "recid": "90100"}]),
            ],
        ),
    )
    with live_server(app) as base:
        page = requests.get(f"{base}/launch/record/90101", timeout=30)
        assert page.status_code == 200 and "record 90101 (education)" in page.text
        events_url = base + re.search(r'"(/launch/record/90101/events)"', page.text).group(1)
        first = sse_events(events_url)
        phases = [e["phase"] for e in first]
        assert phases[0] == "waiting" and "building" in phases and phases[-2:] == ["launching", "ready"], first
        # The record is pinned to its build: launching it again reuses it without a build.
        again = sse_events(events_url)
        assert "building" not in [e["phase"] for e in again] and again[-1]["phase"] == "ready", again
        assert any(e.get("cached") for e in again)

        repo = tmp_path / "repo"
        (repo / ".binder").mkdir(parents=True)
        (repo / ".binder" / "requirements.txt").write_text("matplotlib==3.11.2\n")
        (repo / "index.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "env"], check=True)
        v2 = requests.get(
            f"{base}/v2/git/{quote(f'file://{repo}', safe='')}/main?urlpath=lab/tree/index.ipynb", timeout=30
        )
        assert v2.status_code == 200, v2.text
        stream = re.search(r'"(/build/git/[^"]+)"', v2.text).group(1).replace("\\u0026", "&")
        binder = sse_events(base + stream)
        assert [e["phase"] for e in binder][:2] == ["waiting", "fetching"] and binder[-1]["phase"] == "ready", binder
        assert str(binder[-1]["url"]).endswith("/lab/tree/index.ipynb")

        builds = requests.get(f"{base}/api/environments/builds?size=1", timeout=30).json()
        assert builds["hits"]["total"] == 2 and len(builds["hits"]["hits"]) == 1 and "next" in builds["links"]
        resolved = next(e["commit"] for e in binder if "commit" in e)
        assert builds["hits"]["hits"][0]["commit"] == resolved  # newest first: the git build
        envs = {e["name"]: e for e in requests.get(f"{base}/api/environments", timeout=30).json()["environments"]}
        assert envs["education"]["built"] is True  # record 90101's launch built analysis_envs/education

        refused = requests.get(f"{base}/v2/git/{quote('https://evil.example/x.git', safe='')}/main", timeout=30)
        assert refused.status_code == 400 and "evil.example" in refused.text and "not allowed" in refused.text
        unknown = requests.get(f"{base}/launch/env/no-such-env", timeout=30)
        assert unknown.status_code == 404 and "hep-analysis" in unknown.text


# -- lessons: "Open notebook" ---------------------------------------------------------------------------------


def code_cells(notebook: Path, count: int) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"][:count]


def test_lesson_opens_on_the_hub_and_its_first_cells_run(hub: Hub, make_app, tmp_path: Path) -> None:
    from portal.catalog.importers import read_record_file
    from portal.education.lessons import lesson_record

    data = tmp_path / "data"
    generate("tiny", data / "cms-dimuon-demo", formats=("csv",))
    app = make_app(launch_hub_url=hub.url, launch_hub_token=hub.token, data_dir=str(data))
    svc = app.extensions["portal"]
    lesson = svc.lessons.find("collision-events")
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    svc.catalog.load([lesson_record(lesson)])
    with live_server(app) as base:
        record_page = requests.get(f"{base}/record/{lesson.recid}", timeout=30).text
        assert 'href="/launch/lesson/collision-events">Open notebook</a>' in record_page
        page = requests.get(f"{base}/launch/lesson/collision-events", timeout=30)
        assert page.status_code == 200 and "What is in a collision event?" in page.text
        events = sse_events(base + "/launch/lesson/collision-events/events")
        phases = [e["phase"] for e in events]
        assert phases[0] == "waiting" and phases[-2:] == ["launching", "ready"], events
        assert str(events[-1]["url"]).endswith("/lab/tree/notebook.ipynb")
        server_url = str(events[-1]["server_url"])
        lab = requests.get(str(events[-1]["url"]), headers={"Authorization": f"token {hub.token}"}, timeout=30)
        assert lab.status_code == 200 and "JupyterLab" in lab.text  # the session serves JupyterLab itself

        # The session holds the lesson's notebook and worksheet; its data are links to the portal's files.
        # an anonymous visitor launched: as their own short-lived hub user anon-<random>
        hub_user, server = server_url.rstrip("/").split("/")[-2:]
        assert re.fullmatch(r"anon-[0-9a-f]{12}", hub_user), server_url
        workdir = tmp_path / "var" / "environments" / "sessions" / hub_user / server
        assert (workdir / "notebook.ipynb").read_bytes() == lesson.notebook.read_bytes()
        assert (workdir / "worksheet.md").is_file()
        link = workdir / "data" / "dimuon_pairs.csv"
        assert link.is_symlink() and link.resolve() == (data / "cms-dimuon-demo" / "dimuon_pairs.csv").resolve()

        # The first cells of the lesson run there, in the lesson's environment (education: pandas, matplotlib).
        rows = sum(1 for _ in (data / "cms-dimuon-demo" / "dimuon_pairs.csv").open()) - 1
        code = "\n".join(code_cells(lesson.notebook, 2)) + "\nimport sys\nprint(len(events), sys.prefix)"
        out = run_code(server_url, hub.token, code).strip().splitlines()[-1]
        count, prefix = out.split()
        assert int(count) == rows > 0, out
        assert "/environments/builds/" in prefix, out  # the kernel runs in the built environment

        missing = requests.get(f"{base}/launch/lesson/no-such-lesson", timeout=30)
        assert missing.status_code == 404 and "no-such-lesson" in missing.text

        svc.stats.flush()  # the launch was counted as a usage event of the lesson record
        svc.stats.aggregate()
        counted = requests.get(f"{base}/api/stats?recid={lesson.recid}", timeout=30).json()
        assert counted["this_version"]["launch"]["events"] == 1, counted


def test_published_version_keeps_the_environment_it_was_published_with(make_app, tmp_path: Path) -> None:
    from portal.db.models import EnvironmentPin
    from portal.launch.manager import LaunchJob
    from portal.launch.sources import local_env as find_env

    envs = tmp_path / "envs"
    (envs / "course").mkdir(parents=True)
    (envs / "course" / "requirements.txt").write_text("pandas==3.1.1\n")
    app = make_app(envs_dir=str(envs))
    svc = app.extensions["portal"]
    manager = svc.launches
    load_file(
        svc,
        write_records(
            tmp_path / "v1.json",
            [dataset(90200, title="Course analysis v1", system_details={"description": "analysis_envs/course"})],
        ),
    )
    (envs / "course" / "requirements.txt").write_text("pandas==3.1.1\nmatplotlib==3.11.2\n")  # the env moves on
    load_file(
        svc,
        write_records(
            tmp_path / "v2.json",
            [dataset(90201, title="Course analysis v2", system_details={"description": "analysis_envs/course"})],
        ),
    )
    with svc.db.reader() as s:
        old, new = s.get(EnvironmentPin, 90200), s.get(EnvironmentPin, 90201)
        assert old is not None and new is not None and old.key != new.key  # pinned at publication
        old_key = old.key

    def launch_build(recid: int) -> BuiltEnvironment:
        return manager._build(LaunchJob(id="t", label="t").emit, find_env("course", envs), recid)

    built_old = launch_build(90200)
    assert built_old.key == old_key
    assert _requirements_of(built_old) == ["pandas==3.1.1"]  # the spec as it was when v1 was published
    assert _requirements_of(launch_build(90201)) == ["pandas==3.1.1", "matplotlib==3.11.2"]
    assert launch_build(90200).path == built_old.path  # and it is cached from now on


def _requirements_of(built: BuiltEnvironment) -> list[str]:
    return (built.path / "portal-requirements.txt").read_text().split()


# -- `portal env build` -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", ["repo2docker", "failing", "kaniko"])
def test_env_build_uses_the_builder_the_settings_name(builder: str, tmp_path: Path) -> None:
    env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path), "PORTAL_LAUNCH_BUILDER": builder}
    portal = Path(sys.executable).parent / "portal"
    done = subprocess.run([str(portal), "env", "build", "education"], capture_output=True, text=True, env=env)
    if builder == "repo2docker":  # no Docker API configured: a failed build saying so, nothing claimed or cached
        assert done.returncode == 1, done.stdout
        assert "the repo2docker builder needs a Docker API: set PORTAL_LAUNCH_DOCKER_URL" in done.stderr
        assert not list((tmp_path / "environments" / "builds").glob("[0-9a-f]*"))
    elif builder == "failing":  # a build that fails says why (after the double announced itself)
        assert done.returncode == 1, done.stderr
        assert "builders backend 'failing' is NOT FOR PRODUCTION" in done.stderr
        assert done.stderr.strip().splitlines()[-1] == f"error: {FailingBuilder.REASON}"
    else:
        assert done.returncode == 1
        assert (
            "PORTAL_LAUNCH_BUILDER" in done.stderr
            and "choose one of: failing, instant, podman, repo2docker, venv" in done.stderr
        )
