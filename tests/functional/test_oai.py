"""OAI-PMH with a real harvester (sickle) over a generated catalogue of 20,000 records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import (
    BadArgument,
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoRecordsMatch,
)
from sqlalchemy import insert

from portal.app import services_of
from portal.db.models import Concept, Record
from portal.exports.models import OAISet
from portal.exports.oai import set_specs
from tests.support.live import live_server

N = 20_000
EXPERIMENTS = ("CMS", "ATLAS", "ALICE", "LHCb")
TYPES = (("Dataset", "Collision"), ("Dataset", "Simulated"), ("Software", "Analysis"), ("Lesson", "Notebook"))
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def generated(i: int) -> dict:
    primary, sub = TYPES[i % 4]
    return {
        "recid": str(1_000_000 + i),
        "title": f"Generated record {i}",
        "type": {"primary": primary, "secondary": [sub]},
        "experiment": [EXPERIMENTS[(i // 4) % 4]],
        "date_published": "2025",
        "publisher": "Test",
    }


@pytest.fixture
def harvest_app(make_app):
    """20,000 published records written in bulk (the catalogue's own load path is exercised elsewhere);
    many share an `updated_at`, so the keyset's tie-break on recid is exercised too."""
    app = make_app(oai_page_size=500)
    svc = services_of(app)
    concepts, records, sets = [], [], []
    for i in range(N):
        md = generated(i)
        recid = int(md["recid"])
        moment = T0 + timedelta(hours=i // 7)  # groups of 7 records share a datestamp
        concepts.append({"recid": 2_000_000 + i, "doi": f"10.5072/c.{i}", "created_at": moment})
        records.append(
            {
                "recid": recid,
                "concept_recid": 2_000_000 + i,
                "version_index": 1,
                "status": "published",
                "doi": f"10.5072/v.{i}",
                "title": md["title"],
                "type_primary": md["type"]["primary"],
                "data": md,
                "content_hash": "x",
                "files_hash": "x",
                "revision": 1,
                "source": "bulk",
                "created_at": moment,
                "updated_at": moment,
                "published_at": moment,
            }
        )
        sets += [{"recid": recid, "spec": k, "name": v} for k, v in set_specs(md).items()]
    with svc.db.transaction() as s:
        for table, rows in ((Concept, concepts), (Record, records), (OAISet, sets)):
            for start in range(0, len(rows), 5000):
                s.execute(insert(table), rows[start : start + 5000])
    return app


def test_harvest_each_record_exactly_once_by_set_and_by_date(harvest_app):
    with live_server(harvest_app) as url:
        sickle = Sickle(f"{url}/oai2d", max_retries=1)
        everything = [h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc")]
        assert len(everything) == N and len(set(everything)) == N
        cms = [h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc", set="exp-CMS")]
        assert len(cms) == len(set(cms)) == N // 4
        assert {int(i.rsplit(":", 1)[1]) - 1_000_000 for i in cms} == {i for i in range(N) if (i // 4) % 4 == 0}
        # a date window: hours 100..199 hold records 700..1399
        window = [
            h.identifier
            for h in sickle.ListIdentifiers(
                metadataPrefix="oai_dc", **{"from": "2025-01-05T04:00:00Z", "until": "2025-01-09T07:00:00Z"}
            )
        ]
        assert sorted(int(i.rsplit(":", 1)[1]) - 1_000_000 for i in window) == list(range(700, 1400))
        by_day = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", **{"from": "2025-01-02", "until": "2025-01-02"}))
        assert len(by_day) == 24 * 7
        lessons = list(
            sickle.ListRecords(metadataPrefix="oai_datacite", set="type-Lesson-Notebook", **{"until": "2025-01-20"})
        )
        assert (
            len(lessons)
            == len({r.header.identifier for r in lessons})
            == len([i for i in range(N) if i % 4 == 3 and i // 7 < 20 * 24])
        )
        assert lessons[0].xml.find(".//{http://datacite.org/schema/kernel-4}identifier").text.startswith("10.5072/v.")


def error_code(client, query: str) -> str | None:
    root = etree.fromstring(client.get(f"/oai2d?{query}").data)
    error = root.find("{http://www.openarchives.org/OAI/2.0/}error")
    return error.get("code") if error is not None else None


def test_oai_errors(harvest_app):
    client = harvest_app.test_client()
    assert error_code(client, "verb=ListEverything") == "badVerb"
    assert error_code(client, "") == "badVerb"
    assert error_code(client, "verb=Identify&verb=Identify") == "badVerb"
    assert error_code(client, "verb=ListRecords") == "badArgument"  # no metadataPrefix
    assert (
        error_code(client, "verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01&until=2024-01-01") == "badArgument"
    )
    assert (
        error_code(client, "verb=ListRecords&metadataPrefix=oai_dc&from=2025-01-01&until=2025-02-01T00:00:00Z")
        == "badArgument"
    )  # mixed granularities
    assert (
        error_code(client, "verb=GetRecord&identifier=oai:portal.test:1000000&metadataPrefix=oai_dc&color=red")
        == "badArgument"
    )
    assert error_code(client, "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc") == "badArgument"
    assert error_code(client, "verb=ListIdentifiers&metadataPrefix=oai_dc&resumptionToken=x") == "badArgument"
    with live_server(harvest_app) as url:
        sickle = Sickle(f"{url}/oai2d", max_retries=1)
        with pytest.raises(BadArgument):
            list(sickle.ListRecords(metadataPrefix="oai_dc", **{"from": "yesterday"}))
        with pytest.raises(CannotDisseminateFormat):
            list(sickle.ListRecords(metadataPrefix="marc21"))
        with pytest.raises(IdDoesNotExist):
            sickle.GetRecord(identifier="oai:portal.test:42", metadataPrefix="oai_dc")
        with pytest.raises(NoRecordsMatch):
            list(sickle.ListIdentifiers(metadataPrefix="oai_dc", set="exp-DELPHI"))
        with pytest.raises(BadResumptionToken):
            list(sickle.ListIdentifiers(resumptionToken="not-a-token"))
        record = sickle.GetRecord(identifier="oai:portal.test:1000005", metadataPrefix="oai_dc")
        assert record.metadata["title"] == ["Generated record 5"]
        identify = sickle.Identify()
        assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ" and identify.earliestDatestamp == "2025-01-01T00:00:00Z"
        formats = {f.metadataPrefix for f in sickle.ListMetadataFormats()}
        assert formats == {"oai_dc", "oai_datacite", "datacite"}
        specs = {s.setSpec for s in sickle.ListSets()}
        assert {"exp-CMS", "type-Dataset", "type-Dataset-Collision", "type-Lesson"} <= specs


def test_responses_are_well_formed_oai(harvest_app):
    body = harvest_app.test_client().get("/oai2d?verb=ListIdentifiers&metadataPrefix=oai_dc&set=exp-ATLAS").data
    root = etree.fromstring(body)
    ns = {"o": "http://www.openarchives.org/OAI/2.0/"}
    token = root.find(".//o:resumptionToken", ns)
    assert token.get("completeListSize") == str(N // 4) and token.get("cursor") == "0" and token.text
    assert root.find("o:request", ns).get("set") == "exp-ATLAS"
