"""CERN Open Data's own record files, through a representative sample of them (every type and subtype,
experiment, relation type and form, checksum kind and field shape of the published catalogue; see
`tests/support/cern_fixtures.py`): they load as they are, come back unchanged through `/api/records/<recid>`
for cernopendata-client, and a relation by DOI alone links; a real violation is still refused, naming the
file, the record and the field, and nothing of its file is stored."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cernopendata_client import searcher
from sqlalchemy import func, select

from portal.app import create_app, services_of
from portal.catalog.importers import iter_documents, read_record_file
from portal.db.models import File, Record
from portal.errors import Invalid
from tests.support.cern_fixtures import SAMPLE, round_trip_problems
from tests.support.live import live_server

CLIENT = Path(sys.executable).parent / "cernopendata-client"
SAMPLE_FILES = sorted(SAMPLE.glob("*.json"))
SAMPLE_RECORDS = [(path, record) for path in SAMPLE_FILES for record in iter_documents(path)]
MANY_FILES = 81748  # a DELPHI run with 1511 direct files, more than a record view holds
TITLE_ONLY = 14015  # a CMS dataset whose parent RAW dataset is named by title alone


def load_sample(svc) -> list[str]:
    return [r.action for path in SAMPLE_FILES for r in svc.catalog.load(read_record_file(path))]


def counts(svc) -> tuple[int, int]:
    with svc.db.reader() as s:
        return s.scalar(select(func.count()).select_from(Record)), s.scalar(select(func.count()).select_from(File))


def source(recid: int) -> dict:
    return next(record for _, record in SAMPLE_RECORDS if int(record["recid"]) == recid)


def test_the_sample_covers_the_cases_that_were_refused():
    subtypes = {(r["type"]["primary"], s) for _, r in SAMPLE_RECORDS for s in r["type"].get("secondary", [])}
    assert {("Supplementaries", s) for s in ("Logbook", "Manual", "Computing Note", "Correction")} <= subtypes
    assert {e for _, r in SAMPLE_RECORDS for e in r["experiment"]} >= {"ALICE", "ATLAS", "CMS", "DELPHI", "LHCb"}
    assert "recid" not in source(TITLE_ONLY)["relations"][0]


def test_every_sample_record_loads_as_is_and_reloading_changes_nothing(settings_dict):
    svc = services_of(create_app(settings_dict))
    assert load_sample(svc) == ["created"] * len(SAMPLE_RECORDS) and len(SAMPLE_RECORDS) == 80
    before = counts(svc)
    assert set(load_sample(svc)) == {"unchanged"} and counts(svc) == before


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """The sample on SQLite (loading on PostgreSQL is covered above; the API reads through the same service)."""
    tmp = tmp_path_factory.mktemp("cern")
    app = create_app({"var_dir": str(tmp), "base_url": "http://portal.test"})
    load_sample(services_of(app))
    return app


def test_every_sample_record_round_trips_through_the_api_for_cernopendata_client(catalogue):
    with live_server(catalogue) as url:
        for path, record in SAMPLE_RECORDS:
            served = searcher.get_record_as_json(server=url, recid=int(record["recid"]))
            problems = round_trip_problems(record, served["metadata"])
            assert not problems, f"{path.name} record {record['recid']}: {problems[:3]}"


@pytest.mark.skipif(not CLIENT.exists(), reason="cernopendata-client not installed")
def test_the_cernopendata_client_command_reads_the_sample(catalogue):
    def client(*args: str) -> str:
        done = subprocess.run([str(CLIENT), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with live_server(catalogue) as url:
        # One record of each primary type, by recid; and the DOI lookup on a record of each experiment.
        for primary in sorted({r["type"]["primary"] for _, r in SAMPLE_RECORDS}):
            record = next(r for _, r in SAMPLE_RECORDS if r["type"]["primary"] == primary)
            meta = json.loads(client("get-metadata", "--recid", str(record["recid"]), "--server", url))
            assert meta["title"] == record["title"] and meta["type"] == record["type"]
        with_doi = {r["experiment"][0]: r for _, r in reversed(SAMPLE_RECORDS) if r.get("doi")}
        assert len(with_doi) >= 7
        for record in with_doi.values():
            found = client("get-metadata", "--doi", record["doi"], "--server", url, "--output-value", "recid")
            assert found.strip() == str(record["recid"])
        locations = client("get-file-locations", "--recid", str(MANY_FILES), "--protocol", "xrootd", "--server", url)
        assert locations.split() == [f["uri"] for f in source(MANY_FILES)["files"]]


def test_relations_by_doi_alone_or_by_title_alone_load_and_show(catalogue, tmp_path):
    svc = services_of(catalogue)
    target = source(81718)  # a DELPHI dataset of the sample
    record = {
        "recid": "990001",
        "title": "Skim of a DELPHI run",
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "experiment": ["DELPHI"],
        "date_published": "2025",
        "publisher": "CERN Open Data Portal",
        "relations": [
            {"type": "isChildOf", "doi": target["doi"]},  # CERN writes DOIs in upper case; stored lower
            {"type": "isRelatedTo", "doi": "10.7483/OPENDATA.DELPHI.NOT.HERE"},
            {"type": "isChildOf", "title": "/DELPHI/raw/y96"},
        ],
    }
    path = tmp_path / "by-doi.json"
    path.write_text(json.dumps([record]))
    svc.catalog.load(read_record_file(path))
    client = catalogue.test_client()
    assert not round_trip_problems(record, client.get("/api/records/990001").get_json()["metadata"])
    page = client.get("/record/990001").get_data(as_text=True)
    assert f'isChildOf: <a href="/record/81718">{target["title"]}</a>' in page  # in the catalogue: linked
    assert '<a href="https://doi.org/10.7483/OPENDATA.DELPHI.NOT.HERE">' in page  # elsewhere: resolved there
    assert "isChildOf: /DELPHI/raw/y96</li>" in page  # a title alone: shown, not linked
    related = json.loads(svc.exports.render(990001, "datacite-json")[0])["relatedIdentifiers"]
    assert {(r["relationType"], r["relatedIdentifier"].lower()) for r in related} >= {
        ("IsPartOf", target["doi"].lower()),
        ("References", "10.7483/opendata.delphi.not.here"),
    }
    title_only = client.get(f"/record/{TITLE_ONLY}").get_data(as_text=True)
    assert f"isChildOf: {source(TITLE_ONLY)['relations'][0]['title']}</li>" in title_only


def _broken(mutate) -> dict:
    record = copy.deepcopy(source(MANY_FILES))
    mutate(record)
    return record


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(experiment="DELPHI"), "experiment"),  # wrong type: CERN's schema has an array
        (lambda r: r["distribution"].update(number_events="1234"), "distribution.number_events"),
        (lambda r: r["files"][3].update(size="175349760"), "files[3].size"),
        (lambda r: r.pop("title"), "title"),  # missing required fields
        (lambda r: r.pop("type"), "type"),
        (lambda r: r["type"].pop("primary"), "type.primary"),
        (lambda r: r.update(doi="10.7483/OPENDATA DELPHI.L6V5"), "doi"),  # malformed DOIs
        (lambda r: r.update(doi="doi:10.7483/OPENDATA.DELPHI.L6V5.LFVW"), "doi"),
        (lambda r: r.update(relations=[{"type": "isChildOf", "doi": "https://doi.org/10.7483/X"}]), "relations[0].doi"),
        (lambda r: r.update(relations=[{"type": "isChildOf", "description": "no target"}]), "relations[0]"),
        (lambda r: r["files"][0].update(checksum="adler32:not-hex"), "files[0].checksum"),
    ],
)
def test_a_record_that_really_violates_the_schema_is_refused_naming_file_record_and_field(
    settings_dict, tmp_path, mutate, field
):
    svc = services_of(create_app(settings_dict))
    good = source(80508)  # a DELPHI logbook: the file's first record loads, the second does not
    path = tmp_path / "delphi-broken.json"
    path.write_text(json.dumps([good, _broken(mutate)]))
    with pytest.raises(Invalid) as info:
        svc.catalog.load(read_record_file(path))
    assert info.value.field == field
    assert "delphi-broken.json" in info.value.message and "record 81748" in info.value.message
    assert counts(svc) == (0, 0)
