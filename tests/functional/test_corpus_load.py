"""Every CERN Open Data corpus record loads; refusals name the place and change nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from portal.app import services_of
from portal.catalog.importers import IndexLocator, read_record_file
from portal.db.models import File, Record
from portal.errors import Invalid
from tests.conftest import CORPUS

CORPUS_FILES = sorted((CORPUS / "records").glob("*.json"))


def counts(svc):
    with svc.db.reader() as s:
        return s.scalar(select(func.count()).select_from(Record)), s.scalar(select(func.count()).select_from(File))


def test_all_corpus_records_load_and_reload_is_idempotent(make_app):
    svc = services_of(make_app())
    locator = IndexLocator(CORPUS / "file-indexes")
    total = 0
    for path in CORPUS_FILES:
        total += len(svc.catalog.load(read_record_file(path, locator)))
    assert total == 241
    before = counts(svc)
    again = [r.action for path in CORPUS_FILES for r in svc.catalog.load(read_record_file(path, locator))]
    assert set(again) == {"unchanged"} and counts(svc) == before
    view = svc.catalog.get(6000)
    assert view.doi == "10.7483/opendata.cms.snnp.rgi6"
    assert len(view.indices) == 11 and view.metadata["distribution"]["number_files"] == 2289


def test_a_schema_error_refuses_the_whole_file_and_changes_nothing(make_app, tmp_path):
    svc = services_of(make_app())
    records = json.loads((CORPUS / "records" / "cms-dimuon-spectrum-2011.json").read_text())
    good = records[0]
    broken = {**json.loads(json.dumps(good)), "recid": "999001", "doi": "10.1/x"}
    broken["authors"] = [{"name": "X", "orcid": "not-an-orcid"}]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([good, broken]))
    before = counts(svc)
    with pytest.raises(Invalid) as info:
        svc.catalog.load(read_record_file(path))
    assert "mixed.json" in info.value.message and "record 999001" in info.value.message
    assert info.value.field == "authors[0].orcid"
    assert counts(svc) == before


def test_a_conflict_late_in_a_file_rolls_back_the_earlier_records(make_app, tmp_path):
    svc = services_of(make_app())
    first = {
        "recid": 1,
        "title": "First record",
        "type": {"primary": "Dataset"},
        "date_published": "2020",
        "doi": "10.9999/same",
    }
    second = {**first, "recid": 2, "title": "Second record"}  # same DOI: refused when stored
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([first, second]))
    from portal.errors import Conflict

    with pytest.raises(Conflict, match="already belongs to record 1"):
        svc.catalog.load(read_record_file(path))
    assert counts(svc) == (0, 0)
