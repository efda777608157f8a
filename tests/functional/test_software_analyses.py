"""Analyses provided by software records, on SQLite and PostgreSQL: a software record published with a Python package
declaring `portal.analyses` entry points (a git-archive-shaped .tar.gz) and the environment record it requires (its
requirements.txt as a file) make its analyses appear on a dataset's Analyse panel; a job runs in that environment's
own interpreter (a venv that cannot import the portal's packages), gives the same integer bins as the same code run
in-process, publishes with its software and environment pinned, and re-runs in the pinned build (then, the build
removed, from the pinned spec) with identical bins. A package that fails to import, or an analysis that raises, fails
its job naming the cause."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from portal.app import services_of
from portal.catalog.model import RecordInput
from tests.support.tiny_dataset import tiny_root_files
from tests.support.users import csrf, make_user, sign_in

DATASET, ENVIRONMENT = 6101, 6102

PYPROJECT = """\
[project]
name = "leadpt"
version = "1.0.0"

[project.entry-points."portal.analyses"]
leading-muon-pt = "leadpt.analyses:LeadingMuonPt"
env-probe = "leadpt.analyses:EnvironmentProbe"
raising = "leadpt.analyses:Raising"
broken-import = "leadpt.broken:Broken"
"""

ANALYSES = '''\
"""Analyses of the test's software record, written against the single-file API only."""
import importlib.util
import os

import hist
import numpy as np
from portal_analysis import Analysis, Output, Parameter, int_hist


class LeadingMuonPt(Analysis):
    name = "leading-muon-pt"
    version = "1.0"
    title = "pT of the leading muon"
    columns = ("nMuon", "Muon_pt")
    main_hist = "pt"
    params = (Parameter("min_pt", "float", 0.0, label="minimum pT", minimum=0),)

    def empty(self):
        axis = hist.axis.Regular(100, 0, 100, name="pt", label="pT [GeV]")
        return Output({"pt": int_hist(axis)}, {"all events": 0, ">=1 muon": 0, "pT above minimum": 0})

    def process(self, events):
        out = self.empty()
        has = np.asarray(events.nMuon) > 0
        lead = np.asarray(events.Muon_pt[has][:, 0])
        lead = lead[lead >= self.parameters["min_pt"]]
        out.hists["pt"].fill(lead)
        out.cutflow.update({"all events": len(events), ">=1 muon": int(has.sum()), "pT above minimum": len(lead)})
        return out


class EnvironmentProbe(LeadingMuonPt):
    """Counts, inside the environment, whether the portal's own packages can be imported there."""

    name = "env-probe"
    title = "Where am I?"

    def process(self, events):
        out = super().process(events)
        for package in ("flask", "portal", "sqlalchemy"):
            out.cutflow[f"{package} importable"] = int(importlib.util.find_spec(package) is not None)
        out.cutflow["chunks run as root"] = int(os.getuid() == 0)
        return out


class Raising(LeadingMuonPt):
    name = "raising"

    def process(self, events):
        raise ValueError("boom in process()")
'''

BROKEN = """\
import not_a_module_anywhere  # fails at import, in the environment
from portal_analysis import Analysis


class Broken(Analysis):
    columns = ("nMuon",)
"""


def _row(path: Path, key: str | None = None) -> dict:
    body = path.read_bytes()
    return {
        "key": key or path.name,
        "uri": f"file://{path}",
        "size": len(body),
        "checksum": f"adler32:{zlib.adler32(body) & 0xFFFFFFFF:08x}",
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    yield from tiny_root_files(tmp_path_factory, "tiny-software")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source tree (for the in-process run) and its git-archive-shaped .tar.gz (for the record)."""
    root = tmp_path_factory.mktemp("leadpt")
    tree = root / "leadpt-v1.0.0"
    (tree / "leadpt").mkdir(parents=True)
    (tree / "pyproject.toml").write_text(PYPROJECT)
    (tree / "leadpt" / "__init__.py").write_text("")
    (tree / "leadpt" / "analyses.py").write_text(ANALYSES)
    (tree / "leadpt" / "broken.py").write_text(BROKEN)
    with tarfile.open(root / "leadpt-v1.0.0.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="leadpt-v1.0.0")
    return root


@pytest.fixture
def app_settings() -> dict:
    return {"processing_executor": "inline", "processing_chunk_events": 2000, "launch_builder": "venv"}


@pytest.fixture
def app(app, files: list[Path], package: Path, tmp_path: Path):
    return _load(app, files, package, tmp_path)


def _load(app, files: list[Path], package: Path, tmp_path: Path, served: dict[Path, str] | None = None):
    """The dataset, the environment record (its requirements.txt) and the software record (its release archive);
    ``served``: the dataset's files at these (root://) URIs instead of their paths."""
    formats = services_of(app).formats
    rows = [
        {
            **_row(p),
            **({"uri": served[p]} if served else {}),
            "format": "root",
            "entries": 5000,
            "inspection": dict(formats.inspect(str(p), "root", p.stat().st_size)),
        }
        for p in files
    ]
    # the environment: only what the analysis needs, pinned to the versions this machine has (offline build)
    pins = [
        f"{name}=={metadata.version(name)}"
        for name in ("numpy", "awkward", "uproot", "hist", "xrootd", "fsspec-xrootd")  # the last two: root://
    ]
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "requirements.txt").write_text("\n".join(pins) + "\n")
    base = {"experiment": ["CMS"], "date_published": "2024-05-01"}
    catalog = services_of(app).catalog
    catalog.load(
        [
            RecordInput(
                {
                    **base,
                    "recid": DATASET,
                    "title": "Tiny events",
                    "doi": "10.5072/tiny.6101",
                    "type": {"primary": "Dataset", "secondary": ["Collision"]},
                },
                files=rows,
            ),
            RecordInput(
                {
                    **base,
                    "recid": ENVIRONMENT,
                    "title": "Minimal uproot environment",
                    "type": {"primary": "Environment", "secondary": ["Image"]},
                },
                files=[_row(tmp_path / "env" / "requirements.txt")],
            ),
        ]
    )
    # published as a git release is: a new software record whose one file is the tag's archive
    software = catalog.create(
        {
            **base,
            "title": "Leading muon pT",
            "version": "1.0.0",
            "type": {"primary": "Software", "secondary": ["Analysis"]},
            "relations": [{"type": "requires", "recid": str(ENVIRONMENT)}],
        },
        source="test release",
        files=[_row(package / "leadpt-v1.0.0.tar.gz")],
    )
    app.config["SOFTWARE"] = software.recid
    app.config["SOFTWARE_DOI"] = software.doi
    return app


def _signed_in(app):
    client = sign_in(app.test_client(), make_user(app, "physicist"))
    token = csrf(client)
    client.environ_base["HTTP_ACCEPT"] = "application/json"
    return client, token


def _submit(client, token: dict, analysis: str, **params) -> int:
    form = {**token, "dataset": str(DATASET), "analysis": analysis}
    form.update({f"param.{analysis}.{k}": str(v) for k, v in params.items()})
    r = client.post("/analyses/new", data=form)
    assert r.status_code == 303, r.get_data(as_text=True)
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def _wait(client, job_id: int, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/analyses/{job_id}").get_json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _in_process(app, package: Path, min_pt: float) -> dict:
    """The same analysis run by the portal's own engine, in this process (the file loaded by path)."""
    jobs = services_of(app).analyses
    path = package / "leadpt-v1.0.0" / "leadpt" / "analyses.py"
    job = jobs.create(f"{path}:LeadingMuonPt", DATASET, parameters={"min_pt": min_pt}, enqueue=False)
    done = jobs.run(job.id)
    assert done.state == "done", done.error
    return done.result


def test_software_analysis_runs_in_its_environment_and_re_runs_pinned(app, files, package) -> None:
    software = app.config["SOFTWARE"]
    spec = f"leading-muon-pt@{software}"
    page = app.test_client().get(f"/record/{DATASET}").get_data(as_text=True)
    panel = page[page.index('id="analyse"') :]
    panel = panel[: panel.index("</section>")]
    # offered next to the built-ins, labelled with the software record's title, version and DOI, its form from the
    # class' declaration (read from the source, not imported)
    assert 'value="dimuon"' in panel and f'value="{spec}"' in panel
    offer = panel[panel.index(f'value="{spec}"') :]
    offer = offer[: offer.index("</label>")]
    assert "pT of the leading muon" in offer and "Leading muon pT 1.0.0" in offer
    assert f"/record/{software}" in offer and app.config["SOFTWARE_DOI"] in offer
    assert f'name="param.{spec}.min_pt"' in panel
    assert "leadpt" not in sys.modules and "leadpt.analyses" not in sys.modules  # nothing of it was imported here

    client, token = _signed_in(app)
    job_id = _submit(client, token, spec, min_pt=5)
    job = _wait(client, job_id)
    assert job["state"] == "done", job["error"]
    prov = job["provenance"]
    build = prov["environment_build"]
    assert build["recid"] == ENVIRONMENT and build["builder"] == "venv-isolated" and len(build["key"]) == 32
    assert "requirements.txt" in build["spec"]["files"]
    # the run happened in the environment's interpreter: its sys.prefix is the build, not this process' prefix
    builds = Path(services_of(app).settings.var_dir) / "environments" / "builds"
    assert Path(prov["environment"]["sys_prefix"]) == builds / build["key"]
    assert prov["environment"]["sys_prefix"] != sys.prefix
    assert prov["analysis"]["software"]["recid"] == software and prov["analysis"]["software"]["version"] == "1.0.0"
    assert prov["analysis"]["name"] == "leading-muon-pt" and prov["analysis"]["sha256"]
    assert prov["parameters"] == {"min_pt": 5.0}

    # the same integer bins and cut flow as the same code run in-process by the portal's engine
    reference = _in_process(app, package, 5.0)
    assert job["result"]["hists"]["pt"]["counts_with_flow"] == reference["hists"]["pt"]["counts_with_flow"]
    assert job["result"]["cutflow"] == reference["cutflow"]
    assert job["result"]["cutflow"]["all events"] == 5000 * len(files)
    assert sum(job["result"]["hists"]["pt"]["counts_with_flow"]) == job["result"]["cutflow"]["pT above minimum"] > 0

    probe = _wait(client, _submit(client, token, f"env-probe@{software}"))
    assert probe["state"] == "done", probe["error"]
    cut = probe["result"]["cutflow"]
    assert cut["flask importable"] == cut["portal importable"] == cut["sqlalchemy importable"] == 0
    job_page = client.get(f"/analyses/{job_id}").get_data(as_text=True)
    assert "Leading muon pT 1.0.0" in job_page and build["key"] in job_page

    # published: the Derived record names the software version and the environment it ran in
    r = client.post(f"/analyses/{job_id}/publish", data=token)
    assert r.status_code == 303, r.get_data(as_text=True)
    recid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    record = client.get(f"/api/records/{recid}").get_json()["metadata"]
    relations = {(rel["type"], int(rel["recid"])) for rel in record["relations"]}
    assert relations == {("isDerivedFrom", DATASET), ("isCompiledBy", software), ("requires", ENVIRONMENT)}

    # re-run: the pinned software version in the pinned build, identical bins
    rerun = _rerun(client, token, recid, job_id)
    assert rerun["provenance"]["environment_build"]["how"] == f"reused the pinned build {build['key']}"
    # the build gone from the cache: the pinned spec is rebuilt, saying so, and the bins are still identical
    shutil.rmtree(builds / build["key"])
    rebuilt = _rerun(client, token, recid, job_id)
    how = rebuilt["provenance"]["environment_build"]["how"]
    assert how.startswith("rebuilt the pinned spec"), how
    assert any("not cached here" in line for line in rebuilt["progress"]["environment"])
    assert rebuilt["provenance"]["environment_build"]["key"] == build["key"]


def _rerun(client, token: dict, recid: int, original: int) -> dict:
    r = client.post(f"/record/{recid}/rerun", data=token)
    assert r.status_code == 303, r.get_data(as_text=True)
    rerun_id = int(re.search(r"b=(\d+)", r.headers["Location"]).group(1))
    job = _wait(client, rerun_id)
    assert job["state"] == "done", job["error"]
    cmp = client.get(f"/api/analyses/compare?a={original}&b={rerun_id}").get_json()
    assert cmp["identical"] is True and cmp["same_code"] is True
    return job


def test_a_package_that_fails_to_import_or_raises_fails_its_job_naming_the_cause(app) -> None:
    software = app.config["SOFTWARE"]
    client, token = _signed_in(app)
    broken = _wait(client, _submit(client, token, f"broken-import@{software}"))
    assert broken["state"] == "failed"
    assert "import failed" in broken["error"] and "not_a_module_anywhere" in broken["error"]
    raising = _wait(client, _submit(client, token, f"raising@{software}"))
    assert raising["state"] == "failed"
    assert "analysis failed" in raising["error"] and "boom in process()" in raising["error"]
    # bad requests are refused up front, naming the field, never a 5xx
    r = client.post("/analyses/new", data={**token, "dataset": str(DATASET), "analysis": f"nope@{software}"})
    assert r.status_code == 404 and "leading-muon-pt" in r.get_json()["detail"]
    r = client.post(
        "/analyses/new",
        data={
            **token,
            "dataset": str(DATASET),
            "analysis": f"leading-muon-pt@{software}",
            f"param.leading-muon-pt@{software}.min_pt": "-1",
        },
    )
    assert r.status_code == 400 and r.get_json()["field"] == "parameters.min_pt"
    r = client.post("/analyses/new", data={**token, "dataset": str(DATASET), "analysis": f"dimuon@{DATASET}"})
    assert r.status_code == 400 and "not a software record" in r.get_json()["detail"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_with_the_podman_builder_the_analysis_runs_in_a_container_of_the_image(
    make_app, files, package, tmp_path: Path
) -> None:
    """The same software analysis with PORTAL_LAUNCH_BUILDER=podman: the environment record's spec becomes an
    image (on the checkout's base image), the analysis runs in a container of it (no network, files read-only)
    and gives the bins of the host run."""
    from tests.support.images import build_network, require_podman, show_cgroups

    require_podman()
    show_cgroups()
    app = make_app(
        processing_executor="inline",
        processing_chunk_events=2000,
        launch_builder="podman",
        launch_build_network=build_network(),
    )
    _load(app, files, package, tmp_path)
    client, token = _signed_in(app)
    job = _wait(client, _submit(client, token, f"leading-muon-pt@{app.config['SOFTWARE']}", min_pt=5), timeout=1500)
    assert job["state"] == "done", job["error"]
    build = job["provenance"]["environment_build"]
    assert build["builder"] == "podman" and build["image"] == f"localhost/portal-env:{build['key']}"
    assert build["image_digest"]
    assert job["provenance"]["environment"]["sys_prefix"] == "/opt/env"  # the image's venv, not the host's
    reference = _in_process(app, package, 5.0)
    assert job["result"]["hists"]["pt"]["counts_with_flow"] == reference["hists"]["pt"]["counts_with_flow"]
    assert job["result"]["cutflow"] == reference["cutflow"]
    probe = _wait(client, _submit(client, token, f"env-probe@{app.config['SOFTWARE']}"), timeout=600)
    assert probe["state"] == "done", probe["error"]
    assert probe["result"]["cutflow"]["flask importable"] == probe["result"]["cutflow"]["portal importable"] == 0


def test_as_another_system_user_the_analysis_runs_unprivileged(make_app, files, package) -> None:
    """PORTAL_ANALYSIS_RUN_USER: a portal running as root runs the analysis' process as that user (here `nobody`),
    which reads the build, the software and the files (a world-readable var_dir) and nothing more."""
    import pwd

    if os.geteuid() != 0:
        pytest.skip("needs root (the portal switches to another user only when it runs as root)")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    base = os.path.realpath(sys.executable)  # what an isolated venv's bin/python links to
    if subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", f"{base} -c pass"], check=False).returncode != 0:
        pytest.skip(f"user nobody cannot run the portal's base interpreter {base} (it is in a private folder)")
    shared = Path(tempfile.mkdtemp(prefix="swanalyses-", dir="/var/tmp"))
    try:
        shared.chmod(0o755)
        data = shared / "data"
        data.mkdir()
        copies = [Path(shutil.copy(p, data / p.name)) for p in files]
        (shared / "pkg").mkdir()
        shutil.copy(package / "leadpt-v1.0.0.tar.gz", shared / "pkg")
        app = make_app(
            processing_executor="inline",
            processing_chunk_events=2000,
            launch_builder="venv",
            var_dir=str(shared / "var"),
            analysis_run_user="nobody",
        )
        (shared / "var").chmod(0o755)
        _load(app, copies, shared / "pkg", shared)
        client, token = _signed_in(app)
        probe = _wait(client, _submit(client, token, f"env-probe@{app.config['SOFTWARE']}"))
        assert probe["state"] == "done", probe["error"]
        assert probe["result"]["cutflow"]["chunks run as root"] == 0
        assert probe["result"]["cutflow"]["all events"] == 5000 * len(files)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_the_environment_reads_the_files_over_root_from_a_real_xrootd(make_app, files, package, tmp_path) -> None:
    """The dataset's rows name root:// URIs of a real XRootD server: the analysis' process reads them there (the
    environment has the XRootD client) and gives the bins of the same files read from their paths."""
    from tests.support.xrootd import require_xrootd, served_tempdir, xrootd_over

    require_xrootd()
    data = served_tempdir()
    try:
        copies = [Path(shutil.copy(p, data / p.name)) for p in files]
        with xrootd_over(data) as server:
            app = make_app(processing_executor="inline", processing_chunk_events=2000, launch_builder="venv")
            served = {p: f"{server.url}//{data.name}/{p.name}" for p in copies}
            _load(app, copies, package, tmp_path, served)
            client, token = _signed_in(app)
            job = _wait(client, _submit(client, token, f"leading-muon-pt@{app.config['SOFTWARE']}", min_pt=5))
            assert job["state"] == "done", job["error"]
            assert all(uri.startswith("root://") for uri in job["provenance"]["files"])
            reference = _in_process(app, package, 5.0)  # the portal's engine, over the same root:// URIs
        assert job["result"]["hists"]["pt"]["counts_with_flow"] == reference["hists"]["pt"]["counts_with_flow"]
        assert job["result"]["cutflow"] == reference["cutflow"]
        assert job["result"]["cutflow"]["all events"] == 5000 * len(files)
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)


def test_the_command_line_lists_and_runs_a_software_analysis(make_app, settings_dict, files, package, tmp_path) -> None:
    from click.testing import CliRunner

    from portal.cli import main as cli

    app = make_app(launch_builder="venv")
    _load(app, files, package, tmp_path)
    software = app.config["SOFTWARE"]
    env = {f"PORTAL_{k.upper()}": str(v) for k, v in settings_dict.items()}
    env.update(PORTAL_PROCESSING_CHUNK_EVENTS="3000", PORTAL_LAUNCH_BUILDER="venv")
    runner = CliRunner()
    listed = runner.invoke(cli, ["analysis", "list", "--software"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"leading-muon-pt@{software} pT of the leading muon (from Leading muon pT 1.0.0" in listed.output
    spec = f"leading-muon-pt@{software}"
    result = runner.invoke(cli, ["analysis", "run", spec, "--dataset", str(DATASET), "--param", "min_pt=5"], env=env)
    assert result.exit_code == 0, result.output
    assert "pT above minimum" in result.output
