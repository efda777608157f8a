"""Analysing from the web on SQLite and PostgreSQL: the dataset page's Analyse panel (fitting analyses, their
parameters as a form, the cost), submitting it as a signed-in person, the jobs list, two runs compared, and the
evidence chain of a published result (its files, relations, graph) with a re-run that reports identical bins."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.app import services_of
from portal.catalog.model import RecordInput
from tests.support.processing_reference import reference
from tests.support.tiny_dataset import tiny_root_files
from tests.support.users import csrf, make_user, sign_in

DATASET, SUBSET, SOFTWARE, ENVIRONMENT, NOTES = 6001, 6002, 6003, 6004, 6005


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    yield from tiny_root_files(tmp_path_factory, "tiny-web")


def _rows(app, paths: list[Path]) -> list[dict]:
    formats = services_of(app).formats
    return [
        {
            "key": p.name,
            "uri": f"file://{p}",
            "size": p.stat().st_size,
            "checksum": f"adler32:{zlib.adler32(p.read_bytes()) & 0xFFFFFFFF:08x}",
            "format": "root",
            "entries": 5000,
            "inspection": dict(formats.inspect(str(p), "root", p.stat().st_size)),
        }
        for p in paths
    ]


@pytest.fixture
def app_settings() -> dict:
    return {"processing_executor": "inline", "processing_chunk_events": 2000}


@pytest.fixture
def app(app, files: list[Path]):
    base = {"experiment": ["CMS"], "date_published": "2024-05-01"}
    dataset = {**base, "type": {"primary": "Dataset", "secondary": ["Collision"]}}
    services_of(app).catalog.load(
        [
            RecordInput(
                {**dataset, "recid": DATASET, "title": "Tiny events", "doi": "10.5072/tiny.6001"},
                files=_rows(app, files),
            ),
            RecordInput({**dataset, "recid": SUBSET, "title": "Tiny events, first file"}, files=_rows(app, files[:1])),
            RecordInput(
                {
                    **base,
                    "recid": ENVIRONMENT,
                    "title": "HEP environment",
                    "type": {"primary": "Environment", "secondary": ["Image"]},
                }
            ),
            RecordInput(
                {
                    **base,
                    "recid": SOFTWARE,
                    "title": "Dimuon spectrum code",
                    "keywords": ["dimuon"],
                    "type": {"primary": "Software", "secondary": ["Analysis"]},
                    "relations": [{"type": "requires", "recid": str(ENVIRONMENT)}],
                }
            ),
            RecordInput({**dataset, "recid": NOTES, "title": "A dataset without files"}),
        ]
    )
    return app


def _signed_in(app, username: str = "student"):
    client = sign_in(app.test_client(), make_user(app, username))
    token = csrf(client)
    client.environ_base["HTTP_ACCEPT"] = "application/json"  # refusals as problem+json (pages render anyway)
    return client, token


def _wait(client, job_id: int, timeout: float = 90) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/analyses/{job_id}").get_json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _submit(client, token: dict, **form) -> int:
    r = client.post("/analyses/new", data={**token, "dataset": str(DATASET), "analysis": "dimuon", **form})
    assert r.status_code == 303, r.get_data(as_text=True)
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def test_panel_offers_fitting_analyses_with_their_parameters_and_the_cost(app, files) -> None:
    page = app.test_client().get(f"/record/{DATASET}").get_data(as_text=True)
    panel = page[page.index('id="analyse"') :]
    panel = panel[: panel.index("</section>")]
    # the files' Events branches decide: dimuon and the muon/jet queries fit; Q7/Q8 want electrons' fields too?
    assert 'value="dimuon"' in panel and 'name="param.dimuon.pair"' in panel
    assert "<option selected>opposite charge</option>" in panel and "same charge" in panel
    assert 'name="param.adl_q4.min_jets"' in panel and 'value="2"' in panel
    events = 5000 * len(files)
    assert f"{events:,} events" in panel
    size = sum(p.stat().st_size for p in files)
    assert f'data-cost-bytes="{size}"' in panel
    assert 'name="executor"' in panel and "<option selected>inline</option>" in panel
    assert 'name="skip_bad_files"' in panel
    # anonymous visitors see the form but are asked to sign in
    assert "Run analysis" not in panel and "to run an analysis" in panel
    # a record that is no dataset has no panel; a dataset without processable files says so
    assert 'id="analyse"' not in app.test_client().get(f"/record/{SOFTWARE}").get_data(as_text=True)
    empty = app.test_client().get(f"/record/{NOTES}").get_data(as_text=True)
    assert "no ROOT, Parquet or HDF5 files to analyse" in empty


def test_panel_hides_analyses_whose_columns_the_dataset_lacks(app, files) -> None:
    svc = services_of(app)
    rows = _rows(app, files[:1])
    trees = rows[0]["inspection"]["trees"]
    trees["Events"]["branches"] = {k: v for k, v in trees["Events"]["branches"].items() if not k.startswith("Jet")}
    svc.catalog.load(
        [
            RecordInput(
                {"recid": 6010, "title": "No jets", "type": {"primary": "Dataset"}, "date_published": "2024-05-01"},
                files=rows,
            )
        ]
    )
    panel = svc.analyses.panel(6010)
    fitting = {o.name for o in panel.fitting}
    assert "dimuon" in fitting and "adl_q1" in fitting and "adl_q2" not in fitting
    q2 = next(o for o in panel.not_fitting if o.name == "adl_q2")
    assert q2.missing == ("Jet_pt",)
    page = app.test_client().get("/record/6010").get_data(as_text=True)
    assert "need columns this dataset lacks" in page and "(missing Jet_pt)" in page


def test_submitting_the_form_needs_a_signed_in_person_and_checks_parameters(app) -> None:
    anonymous = app.test_client()
    r = anonymous.post("/analyses/new", data={"dataset": str(DATASET), "analysis": "dimuon"})
    assert r.status_code in (400, 401)  # no session: no CSRF token either; never a job
    client, token = _signed_in(app)
    r = client.post(
        "/analyses/new", data={**token, "dataset": str(DATASET), "analysis": "dimuon", "param.dimuon.pair": "both"}
    )
    assert r.status_code == 400 and r.get_json()["field"] == "parameters.pair"
    r = client.post("/analyses/new", data={**token, "dataset": "x", "analysis": "dimuon"})
    assert r.status_code == 400 and r.get_json()["field"] == "dataset"
    r = client.post("/analyses/new", data={**token, "dataset": str(DATASET), "analysis": "dimuon", "executor": "nope"})
    assert r.status_code == 400 and r.get_json()["field"] == "executor"
    r = client.post(
        "/analyses/new", data={**token, "dataset": str(DATASET), "analysis": "adl_q4", "param.adl_q4.min_jets": "2.5"}
    )
    assert r.status_code == 400 and r.get_json()["field"] == "parameters.min_jets"
    assert client.get("/api/analyses").get_json()["hits"] == []  # nothing half-written


def test_a_job_from_the_form_runs_and_is_listed(app, files) -> None:
    client, token = _signed_in(app)
    job_id = _submit(client, token, **{"param.dimuon.pair": "same charge", "executor": "inline"})
    job = _wait(client, job_id)
    assert job["state"] == "done", job["error"]
    assert job["parameters"] == {"pair": "same charge"}
    hists, cutflow = reference("dimuon", [str(p) for p in files])
    assert job["result"]["cutflow"]["exactly two muons"] == cutflow["exactly two muons"]
    assert job["result"]["cutflow"]["same charge"] == cutflow["exactly two muons"] - cutflow["opposite charge"]
    page = client.get(f"/analyses/{job_id}").get_data(as_text=True)
    assert "Publish as a Derived record" in page and "Dimuon spectrum code" in page  # its owner may publish
    assert "Publish as a Derived record" not in app.test_client().get(f"/analyses/{job_id}").get_data(as_text=True)

    other, other_token = _signed_in(app, "someone-else")
    other_job = _submit(other, other_token)
    _wait(other, other_job)
    mine = client.get("/analyses").get_data(as_text=True)
    section = mine[mine.index('id="jobs-mine-h"') : mine.index('id="jobs-recent-h"')]
    assert f'data-job="{job_id}"' in section and f'data-job="{other_job}"' not in section
    recent = mine[mine.index('id="jobs-recent-h"') :]
    # jobs are their owners' (and curators'): another user's job is not listed to this one
    assert f'data-job="{job_id}"' in recent and f'data-job="{other_job}"' not in recent and "events/s" in recent
    assert "Sign in" in app.test_client().get("/analyses").get_data(as_text=True)  # anonymous: asked to sign in
    by_dataset = client.get(f"/analyses?dataset={SUBSET}").get_data(as_text=True)
    assert "No job has analysed this dataset yet." in by_dataset
    assert client.get("/analyses?dataset=abc").status_code == 400


def test_two_datasets_compared_on_one_plot(app) -> None:
    client, token = _signed_in(app)
    a = _submit(client, token)
    b = _submit(client, token, dataset=str(SUBSET))
    for job in (a, b):
        assert _wait(client, job)["state"] == "done"
    cmp = client.get(f"/api/analyses/compare?a={a}&b={b}").get_json()
    assert cmp["ready"] and cmp["identical"] is False and cmp["same_code"] is True
    dimuon = next(h for h in cmp["hists"] if h["name"] == "dimuon_mass")
    assert dimuon["differing_bins"] > 0 and dimuon["total_a"] > dimuon["total_b"] > 0
    svg = client.get(cmp["plot"].replace("http://portal.test", "")).get_data(as_text=True)
    assert "<svg" in svg and f"job {a}: record {DATASET}" in svg and f"job {b}: record {SUBSET}" in svg
    page = client.get(f"/analyses/compare?a={a}&b={b}").get_data(as_text=True)
    assert 'data-identical="no"' in page and "dimuon_mass differs in" in page
    other = _submit(client, token, analysis="adl_q1")
    _wait(client, other)
    r = client.get(f"/api/analyses/compare?a={a}&b={other}")
    assert r.status_code == 400 and r.get_json()["field"] == "b"
    assert client.get(f"/api/analyses/compare?a={a}").get_json()["field"] == "b"
    assert client.get(f"/api/analyses/compare?a={a}&b=999999").status_code == 404


def test_published_result_carries_its_files_and_chain_and_re_runs_identically(app, files) -> None:
    client, token = _signed_in(app)
    job_id = _submit(client, token)
    job = _wait(client, job_id)
    r = client.post(f"/analyses/{job_id}/publish", data={**token, "software": str(SOFTWARE)})
    assert r.status_code == 303, r.get_data(as_text=True)
    recid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    record = client.get(f"/api/records/{recid}").get_json()["metadata"]
    relations = {(rel["type"], int(rel["recid"])) for rel in record["relations"]}
    assert relations == {("isDerivedFrom", DATASET), ("isCompiledBy", SOFTWARE), ("requires", ENVIRONMENT)}
    keys = {f["key"] for f in record["files"]}
    assert keys == {
        "histograms.json",
        "histograms.h5",
        "histograms.root",
        "plot.png",
        "plot.svg",
        "cutflow.csv",
        "inputs.json",
    }
    for f in record["files"]:
        body = client.get(f"/record/{recid}/files/{f['key']}").data
        assert len(body) == f["size"] and f"adler32:{zlib.adler32(body) & 0xFFFFFFFF:08x}" == f["checksum"]
    inputs = client.get(f"/record/{recid}/files/inputs.json").get_json()
    assert sorted(i["key"] for i in inputs) == sorted(p.name for p in files)
    assert all(i["checksum"].startswith("adler32:") for i in inputs)
    assert inputs[0]["checksum"] in record["methodology"]["description"]
    stored = client.get(f"/record/{recid}/files/histograms.json").get_json()
    assert (
        stored["hists"]["dimuon_mass"]["counts_with_flow"] == job["result"]["hists"]["dimuon_mass"]["counts_with_flow"]
    )
    assert client.post(f"/analyses/{job_id}/publish", data=token).status_code == 409  # once only

    page = client.get(f"/record/{recid}").get_data(as_text=True)
    chain = page[page.index('class="chain"') : page.index("</svg>")]
    for node in (f"r{recid}", f"r{DATASET}", f"r{SOFTWARE}", f"r{ENVIRONMENT}", "files"):
        assert f'data-node="{node}"' in chain
    assert f'data-relation="isDerivedFrom" data-from="r{recid}" data-to="r{DATASET}"' in chain
    assert f'data-relation="requires" data-from="r{recid}" data-to="r{ENVIRONMENT}"' in chain
    assert f"{len(files)} input files" in chain
    assert "Re-run" in page
    assert 'id="analyse"' not in page  # its files are histograms, not events: no Analyse panel

    r = client.post(f"/record/{recid}/rerun", data=token)
    assert r.status_code == 303
    location = r.headers["Location"]
    rerun_id = int(re.search(r"b=(\d+)", location).group(1))
    assert f"a={job_id}" in location
    _wait(client, rerun_id)
    cmp = client.get(f"/api/analyses/compare?a={job_id}&b={rerun_id}").get_json()
    assert cmp["identical"] is True and cmp["same_code"] is True
    page = client.get(location).get_data(as_text=True)
    assert 'data-identical="yes"' in page and "Identical: every integer bin and the cut flow are the same." in page
    assert app.test_client().post(f"/record/{recid}/rerun").status_code in (400, 401)
    assert client.post(f"/record/{DATASET}/rerun", data=token).status_code == 404  # not a published result
