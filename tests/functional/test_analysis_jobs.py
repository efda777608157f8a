"""Analysis jobs through the API, the page and the CLI, on SQLite and PostgreSQL: progress, exact results,
downloads (JSON/HDF5/ROOT), plots, provenance, failures named by file, and publishing a Derived record."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from portal.app import services_of
from portal.catalog.model import RecordInput
from portal.cli import main as cli
from portal.demo.generate import generate
from tests.support.processing_reference import reference
from tests.support.tiny_dataset import tiny_root_files
from tests.support.users import token_for

DATASET, EMPTY, SOFTWARE = 5001, 5002, 5003


def _client(app):
    """A client acting as the user "analyst", whose token may run analyses and publish their results."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token_for(
        app, ["analyses:run", "deposit:publish"], username="analyst"
    )
    return client


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    yield from tiny_root_files(tmp_path_factory, "tiny")


@pytest.fixture(scope="module")
def expected(files: list[Path]) -> tuple[dict, dict]:
    return reference("dimuon", [str(p) for p in files])


def _records(files: list[Path], corrupt: Path | None = None) -> list[RecordInput]:
    rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in files]
    if corrupt is not None:
        rows.append({"key": corrupt.name, "uri": str(corrupt), "size": corrupt.stat().st_size})
    base = {
        "type": {"primary": "Dataset", "secondary": ["Collision"]},
        "experiment": ["CMS"],
        "date_published": "2024-05-01",
    }
    return [
        RecordInput(
            {**base, "recid": DATASET, "title": "Tiny NanoAOD-like events", "doi": "10.5072/tiny.5001"}, files=rows
        ),
        RecordInput({**base, "recid": EMPTY, "title": "A dataset without files"}),
        RecordInput(
            {
                "recid": SOFTWARE,
                "title": "Dimuon analysis code",
                "type": {"primary": "Software"},
                "date_published": "2024-05-01",
                "doi": "10.5072/code.5003",
            }
        ),
    ]


@pytest.fixture
def app_settings() -> dict:
    return {"processing_executor": "inline", "processing_chunk_events": 2000}


@pytest.fixture
def app(app, files: list[Path]):
    services_of(app).catalog.load(_records(files))
    return app


def _wait(client, job_id: int, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    seen_running = False
    while time.time() < deadline:
        job = client.get(f"/api/analyses/{job_id}").get_json()
        seen_running |= job["state"] == "running"
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_job_over_the_api_gives_the_exact_result_with_provenance_and_downloads(app, expected, tmp_path) -> None:
    client = _client(app)
    created = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": DATASET})
    assert created.status_code == 202, created.get_data(as_text=True)
    job = _wait(client, created.get_json()["id"])
    assert job["state"] == "done", job["error"]
    hists, cutflow = expected
    assert job["result"]["cutflow"] == cutflow
    counts = np.asarray(job["result"]["hists"]["dimuon_mass"]["counts_with_flow"])
    assert np.array_equal(counts[1:-1], hists["dimuon_mass"])
    p = job["progress"]
    assert p["events_done"] == p["events_total"] == 10_000 and p["files_done"] == 2 and p["events_per_second"] > 0
    prov = job["provenance"]
    assert prov["dataset"]["recid"] == DATASET and prov["dataset"]["doi"] == "10.5072/tiny.5001"
    assert prov["dataset"]["title"] == "Tiny NanoAOD-like events"
    assert prov["analysis"]["name"] == "dimuon" and len(prov["analysis"]["sha256"]) == 64
    assert prov["environment"]["python"] and "uproot" in prov["environment"]["packages"]
    assert prov["timings"]["wall_s"] > 0

    png = client.get(job["links"]["plot_png"])
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    assert b"<svg" in client.get(job["links"]["plot_svg"]).data
    with h5py.File(io.BytesIO(client.get(job["links"]["histogram_h5"]).data), "r") as f:
        assert np.array_equal(f["dimuon_mass/counts_with_flow"][1:-1], hists["dimuon_mass"])
        assert len(f["dimuon_mass/edges"]) == 30001
    root_bytes = client.get(job["links"]["histogram_root"]).data
    path = tmp_path / "h.root"
    path.write_bytes(root_bytes)
    with uproot.open(path) as f:
        h = f["dimuon_mass"]
        assert np.array_equal(h.values().astype(np.int64), hists["dimuon_mass"])
        assert h.axis().edges()[0] == pytest.approx(0.25) and h.axis().edges()[-1] == pytest.approx(300)
    assert_root_file_matches(root_bytes, job, tmp_path)
    assert_json_and_hdf5_downloads_unchanged(client, job)

    page = client.get(f"/analyses/{job['id']}").get_data(as_text=True)
    assert "<progress" in page and "opposite charge" in page and f"{cutflow['opposite charge']:,}" in page
    steps = list(cutflow.values())
    assert f"{steps[1] / steps[0]:.1%}" in page  # efficiencies next to the counts
    assert 'class="provenance"' in page and "10.5072/tiny.5001" in page and "Provenance as JSON" in page
    svg = client.get(job["links"]["plot_svg"] + "?bins=60&scale=linear")
    assert svg.status_code == 200 and b"<svg" in svg.data and b"250 stored bins each" not in svg.data
    assert b"500 stored bins each" in svg.data  # 30,000 stored bins shown as 60
    assert client.get(job["links"]["plot_png"] + "?scale=sideways").get_json()["field"] == "scale"
    assert client.get(job["links"]["plot_png"] + "?bins=5000").get_json()["field"] == "bins"

    assert app.test_client().post(f"/api/analyses/{job['id']}/publish", json={}).status_code == 401
    other = {"Authorization": "Bearer " + token_for(app, ["deposit:publish"], username="someone")}
    refused = client.post(f"/api/analyses/{job['id']}/publish", json={}, headers=other)
    assert refused.status_code == 403 and refused.get_json()["field"] == "owner"
    published = client.post(f"/api/analyses/{job['id']}/publish", json={"software": SOFTWARE})
    assert published.status_code == 201, published.get_data(as_text=True)
    record = client.get(f"/api/records/{published.get_json()['recid']}").get_json()["metadata"]
    assert record["type"] == {"primary": "Dataset", "secondary": ["Derived"]}
    relations = {(r["type"], int(r["recid"])) for r in record["relations"]}
    assert relations == {("isDerivedFrom", DATASET), ("isCompiledBy", SOFTWARE)}
    again = client.post(f"/api/analyses/{job['id']}/publish", json={})
    assert again.status_code == 409


def assert_root_file_matches(root_bytes: bytes, job: dict, tmp_path: Path) -> None:
    """Every histogram is a TH1D with the job's bins (flow included) and ROOT's statistics of them: sums of
    weights, of squared weights, of weight × x and weight × x² over in-range bins at the bin centres."""
    path = tmp_path / "stats.root"
    path.write_bytes(root_bytes)
    with uproot.open(path) as f:
        assert sorted(f.keys(cycle=False)) == sorted(job["result"]["hists"])
        for name, stored in job["result"]["hists"].items():
            h = f[name]
            assert h.classname == "TH1D"
            edges = np.asarray(stored["axes"][0]["edges"])
            with_flow = np.asarray(stored["counts_with_flow"], dtype=np.float64)
            counts, centres = with_flow[1:-1], (edges[:-1] + edges[1:]) / 2
            assert np.array_equal(h.values(flow=True), with_flow)
            assert np.array_equal(h.variances(flow=True), with_flow)  # unit weights: sum of w² = count
            assert np.array_equal(h.axis().edges(), edges)
            assert h.member("fEntries") == with_flow.sum()
            assert h.member("fTsumw") == h.member("fTsumw2") == counts.sum() > 0
            assert h.member("fTsumwx") == pytest.approx((counts * centres).sum(), rel=1e-12)
            assert h.member("fTsumwx2") == pytest.approx((counts * centres**2).sum(), rel=1e-12)
            # what ROOT's GetMean shows: the mean of the stored counts at their bin centres (it was 0)
            mean = h.member("fTsumwx") / h.member("fTsumw")
            assert mean == pytest.approx(np.average(centres, weights=counts), rel=1e-12)
            assert mean > edges[0]
            assert h.title == (stored["axes"][0]["label"] or name)


def assert_json_and_hdf5_downloads_unchanged(client, job: dict) -> None:
    body = client.get(job["links"]["histogram_json"])
    assert body.mimetype == "application/json"
    assert body.headers["Content-Disposition"] == f'attachment; filename="analysis-{job["id"]}.json"'
    want = {"job": job["id"], "cutflow": job["result"]["cutflow"], "hists": job["result"]["hists"]}
    assert body.data == json.dumps({**want, "provenance": job["provenance"]}, indent=1).encode()
    h5 = client.get(job["links"]["histogram_h5"])
    assert h5.mimetype == "application/x-hdf5"
    with h5py.File(io.BytesIO(h5.data), "r") as f:
        assert json.loads(f.attrs["provenance"]) == job["provenance"]
        assert json.loads(f.attrs["cutflow"]) == job["result"]["cutflow"]
        assert sorted(f) == sorted(job["result"]["hists"])
        for name, stored in job["result"]["hists"].items():
            assert sorted(f[name]) == ["counts_with_flow", "edges"]
            assert f[name]["counts_with_flow"].dtype == np.int64 and f[name]["edges"].dtype == np.float64
            assert f[name]["counts_with_flow"][()].tolist() == stored["counts_with_flow"]
            assert f[name]["edges"][()].tolist() == stored["axes"][0]["edges"]
            assert f[name].attrs["label"] == (stored["axes"][0]["label"] or "")
    one = client.get(job["links"]["histogram_json"] + "?name=dimuon_mass").get_json()
    assert list(one["hists"]) == ["dimuon_mass"]
    assert client.get(job["links"]["histogram_json"] + "?name=nope").status_code == 404


@pytest.mark.parametrize(
    "body, status, words",
    [
        (None, 400, "JSON object"),
        ({"analysis": "dimuon"}, 400, "dataset"),
        ({"analysis": "nope", "dataset": DATASET}, 404, "unknown analysis"),
        ({"analysis": "dimuon", "dataset": 999999}, 404, "999999"),
        ({"analysis": "dimuon", "dataset": EMPTY}, 400, "no ROOT"),
        ({"analysis": "dimuon", "dataset": DATASET, "executor": "gpu"}, 400, "executor"),
        ({"analysis": "dimuon", "dataset": DATASET, "colour": 1}, 400, "colour"),
        ({"analysis": "dimuon", "dataset": DATASET, "skip_bad_files": "yes"}, 400, "skip_bad_files"),
        ({"analysis": "os:getcwd", "dataset": DATASET}, 403, "'curator' role"),
    ],
)
def test_bad_requests_get_clear_problems(app, body, status, words) -> None:
    client = _client(app)
    response = (
        client.post("/api/analyses", json=body)
        if body is not None
        else client.post("/api/analyses", data="x", content_type="text/plain")
    )
    assert response.status_code == status
    problem = response.get_json()
    assert words in problem["detail"]
    assert client.get("/api/analyses").get_json()["hits"] == []
    assert client.get("/api/analyses/12345").status_code == 404


@pytest.fixture
def skip_app(make_app, app_settings: dict, files: list[Path], tmp_path: Path):
    corrupt = tmp_path / "damaged.root"
    corrupt.write_bytes(files[0].read_bytes()[:4000])
    app = make_app(**app_settings)
    services_of(app).catalog.load(_records(files, corrupt))
    return app, corrupt


def test_damaged_file_is_named_or_skipped(skip_app, files) -> None:
    app, corrupt = skip_app
    client = _client(app)
    failed = _wait(
        client, client.post("/api/analyses", json={"analysis": "adl_q1", "dataset": DATASET}).get_json()["id"]
    )
    assert failed["state"] == "failed" and str(corrupt) in failed["error"]
    assert client.get(f"/api/analyses/{failed['id']}/plot.png").status_code == 409
    page = client.get(f"/analyses/{failed['id']}").get_data(as_text=True)
    assert str(corrupt) in page
    done = _wait(
        client,
        client.post(
            "/api/analyses", json={"analysis": "adl_q1", "dataset": DATASET, "skip_bad_files": True}
        ).get_json()["id"],
    )
    assert done["state"] == "done" and list(done["result"]["skipped_files"]) == [str(corrupt)]
    hists, cutflow = reference("adl_q1", [str(p) for p in files])
    assert done["result"]["cutflow"] == cutflow


def test_cli_runs_a_job_and_shows_it(make_app, settings_dict, files, expected) -> None:
    svc = services_of(make_app())
    svc.catalog.load(_records(files))
    svc.close()
    env = {f"PORTAL_{k.upper()}": str(v) for k, v in settings_dict.items()}
    env["PORTAL_PROCESSING_CHUNK_EVENTS"] = "3000"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["analysis", "run", "dimuon", "--dataset", str(DATASET), "--executor", "inline"], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"{expected[1]['opposite charge']:>12,}" in result.output and "events/s" in result.output
    bad = runner.invoke(cli, ["analysis", "run", "nope", "--dataset", str(DATASET), "--executor", "inline"], env=env)
    assert bad.exit_code == 1 and "unknown analysis 'nope'" in bad.output
    shown = runner.invoke(cli, ["analysis", "show", "1"], env=env)
    assert shown.exit_code == 0 and '"state": "done"' in shown.output


def test_a_dataset_in_several_formats_is_processed_once(make_app, files: list[Path], expected, tmp_path: Path) -> None:
    """The demo dataset carries the same events as ROOT, Parquet and HDF5: each event must count once."""
    copies = tmp_path / "copies"
    generate("tiny", copies, formats=("parquet", "hdf5"))
    rows = [
        {"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in [*files, *sorted(copies.iterdir())]
    ]
    app = make_app(processing_executor="inline")
    svc = services_of(app)
    svc.catalog.load(
        [
            RecordInput(
                {
                    "recid": 5100,
                    "title": "Same events, three formats",
                    "date_published": "2024",
                    "type": {"primary": "Dataset"},
                },
                files=rows,
            )
        ]
    )
    client = _client(app)
    job = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": 5100})
    done = _wait(client, job.get_json()["id"])
    assert done["state"] == "done", done
    assert done["result"]["cutflow"] == expected[1]
    svc.close()
