"""Exports: DataCite XML valid against DataCite's own XSD for every corpus record and every record of the CERN
Open Data fixture sample (also through OAI-PMH), DataCite JSON valid against the `datacite` package's schema,
JSON-LD, citations, BibTeX, Dublin Core, negotiation and Signposting."""

from __future__ import annotations

import json

import pytest
from datacite.schema45 import validator
from lxml import etree

import portal.web.exports
from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from tests.conftest import CORPUS, SHARED
from tests.support.cern_fixtures import SAMPLE

XSD = SHARED / "corpus" / "datacite" / "kernel-4.5" / "metadata.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
DATACITE_NS = "http://datacite.org/schema/kernel-4"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """The corpus and the demo catalogue on SQLite (the exports read through the same service on PostgreSQL,
    which the catalogue tests cover)."""
    tmp = tmp_path_factory.mktemp("exports")
    app = create_app({"var_dir": str(tmp), "base_url": "http://portal.test"})
    svc = services_of(app)
    for path in sorted((CORPUS / "records").glob("*.json")):
        svc.catalog.load(read_record_file(path))
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    return app


def test_datacite_xml_and_json_validate_for_every_record(catalogue):
    svc = services_of(catalogue)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    recids = svc.catalog.list_recids(limit=10_000)
    assert len(recids) == 249
    for recid in recids:
        xml, mimetype = svc.exports.render(recid, "datacite-xml")
        doc = etree.fromstring(xml.encode())
        assert schema.validate(doc), f"record {recid}: {schema.error_log.last_error}"
        data = json.loads(svc.exports.render(recid, "datacite-json")[0])
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, f"record {recid}: {errors[:3]}"


def test_versions_and_relations_in_datacite(catalogue):
    svc = services_of(catalogue)
    data = json.loads(svc.exports.render(90004, "datacite-json")[0])
    related = {(r["relationType"], r["relatedIdentifier"]) for r in data["relatedIdentifiers"]}
    assert ("IsVersionOf", "10.5072/portal.90010") in related  # the concept DOI
    assert ("Requires", "10.5072/portal.90005") in related  # a recid relation resolved to its DOI
    assert ("IsNewVersionOf", "10.5072/portal.90003") in related
    concept = svc.exports.concept_datacite(90004)
    assert concept["doi"] == "10.5072/portal.90010"
    assert {r["relatedIdentifier"] for r in concept["relatedIdentifiers"] if r["relationType"] == "HasVersion"} == {
        "10.5072/portal.90003",
        "10.5072/portal.90004",
    }
    assert not [e.message for e in validator.iter_errors(concept)]
    cern = json.loads(svc.exports.render(6000, "datacite-json")[0])
    assert cern["types"] == {"resourceTypeGeneral": "Dataset", "resourceType": "Dataset/Collision"}


def test_jsonld_is_schema_org(catalogue):
    svc = services_of(catalogue)
    dataset = json.loads(svc.exports.render(6000, "json-ld")[0])
    assert dataset["@context"] == "https://schema.org" and dataset["@type"] == "Dataset"
    assert dataset["identifier"]["value"] == "10.7483/opendata.cms.snnp.rgi6" and dataset["name"]
    software = json.loads(svc.exports.render(90004, "json-ld")[0])
    assert software["@type"] == "SoftwareSourceCode" and software["creator"][0]["@id"].startswith("https://orcid.org/")
    assert software["isPartOf"]["@id"] == "https://doi.org/10.5072/portal.90010"


def test_citations_bibtex_and_dublin_core(catalogue):
    svc = services_of(catalogue)
    apa = svc.exports.render(90004, "apa")[0]
    assert apa == (
        "Doe, J. (2026). Dimuon spectrum analysis (Version 1.1.0) [Computer software]. "
        "Open Experiment Data Portal. https://doi.org/10.5072/portal.90004"
    )
    assert "CMS collaboration. (2017)." in svc.exports.render(6000, "apa")[0]  # APA 7: a group author ends with "."
    # citeproc-py applies the style's initialize-with even where Chicago says initialize="false"
    assert svc.exports.render(90004, "chicago")[0].startswith("Doe, J. 2026. Dimuon Spectrum Analysis. V. 1.1.0.")
    bib = svc.exports.render(90004, "bibtex")[0]
    assert "doi       = {10.5072/portal.90004}" in bib and "doi       = {10.5072/portal.90010}" in bib
    assert "Cite all versions" in bib and bib.count("@software{") == 2
    csl = json.loads(svc.exports.render(90004, "csl")[0])
    assert csl["type"] == "software" and csl["DOI"] == "10.5072/portal.90004"
    dc = etree.fromstring(svc.exports.render(6000, "dublincore")[0].encode())
    assert dc.findtext(f"{{{DC_NS}}}title") == "/BJetPlusX/Run2012B-22Jan2013-v1/AOD"
    assert "https://doi.org/10.7483/opendata.cms.snnp.rgi6" in [e.text for e in dc.findall(f"{{{DC_NS}}}identifier")]


def test_export_routes_negotiation_and_signposting(catalogue):
    client = catalogue.test_client()
    resp = client.get("/record/90004/export/datacite-xml")
    assert resp.status_code == 200 and resp.mimetype == "application/vnd.datacite.datacite+xml"
    assert client.get("/record/90004/export/pdf").status_code == 404
    for accept, mimetype in (
        ("application/vnd.datacite.datacite+xml", "application/vnd.datacite.datacite+xml"),
        ("application/ld+json", "application/ld+json"),
        ("application/x-bibtex", "application/x-bibtex"),
        ("application/vnd.citationstyles.csl+json", "application/vnd.citationstyles.csl+json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
    ):
        assert client.get("/api/records/90004", headers={"Accept": accept}).mimetype == mimetype, accept
    links = client.get("/record/90004").headers["Link"]
    assert '<https://doi.org/10.5072/portal.90004>; rel="cite-as"' in links
    assert 'rel="describedby"; type="application/vnd.datacite.datacite+json"' in links
    assert '<https://schema.org/SoftwareSourceCode>; rel="type"' in links
    assert '<https://spdx.org/licenses/MIT.html>; rel="license"' in links


def test_the_page_of_every_corpus_record_renders(catalogue):
    # A third of the corpus has a distribution without an event count, a file count or a size.
    client = catalogue.test_client()
    recids = services_of(catalogue).catalog.list_recids(limit=1000)
    assert [r for r in recids if client.get(f"/record/{r}").status_code != 200] == []
    assert "events</li>" not in client.get("/record/40").get_data(as_text=True)  # a count it lacks is left out


def test_robots_and_sitemap(catalogue):
    client = catalogue.test_client()
    robots = client.get("/robots.txt").data.decode()
    assert "Disallow: /api/" in robots and "Sitemap: http://localhost/sitemap.xml" in robots
    sitemap = etree.fromstring(client.get("/sitemap.xml").data)
    locs = [e.text for e in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert len(locs) == 249 and "http://localhost/record/90004" in locs


@pytest.fixture(scope="module")
def cern_sample(tmp_path_factory):
    """The CERN Open Data fixture sample alone: its types, subtypes and relations are the open import values."""
    tmp = tmp_path_factory.mktemp("exports-cern")
    app = create_app({"var_dir": str(tmp), "base_url": "http://portal.test"})
    for path in sorted(SAMPLE.glob("*.json")):
        services_of(app).catalog.load(read_record_file(path))
    return app


def test_every_cern_sample_record_exports_valid_datacite_jsonld_and_oai(cern_sample):
    svc = services_of(cern_sample)
    client = cern_sample.test_client()
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    recids = svc.catalog.list_recids(limit=10_000)
    assert len(recids) == 80
    for recid in recids:
        doc = etree.fromstring(svc.exports.render(recid, "datacite-xml")[0].encode())
        assert schema.validate(doc), f"record {recid}: {schema.error_log.last_error}"
        data = json.loads(svc.exports.render(recid, "datacite-json")[0])
        assert not [e.message for e in validator.iter_errors(data)], f"record {recid}"
        assert json.loads(svc.exports.render(recid, "json-ld")[0])["name"] == svc.catalog.get(recid).metadata["title"]
        oai = client.get(f"/oai2d?verb=GetRecord&identifier=oai:portal.test:{recid}&metadataPrefix=oai_datacite")
        [resource] = etree.fromstring(oai.data).iter(f"{{{DATACITE_NS}}}resource")
        assert schema.validate(etree.ElementTree(resource)), f"record {recid} over OAI: {schema.error_log.last_error}"
        dc = client.get(f"/oai2d?verb=GetRecord&identifier=oai:portal.test:{recid}&metadataPrefix=oai_dc")
        assert b"<error" not in dc.data and b"dc:title" in dc.data


def test_cern_subtypes_relations_and_author_lists_in_datacite(cern_sample):
    svc = services_of(cern_sample)
    logbook = json.loads(svc.exports.render(80508, "datacite-json")[0])
    assert logbook["types"] == {"resourceTypeGeneral": "Other", "resourceType": "Supplementaries/Logbook"}
    derived = json.loads(svc.exports.render(391, "datacite-json")[0])  # an ATLAS derived dataset, isPartOf
    assert ("IsPartOf", "URL", "http://portal.test/record/3860") in {
        (r["relationType"], r["relatedIdentifierType"], r["relatedIdentifier"]) for r in derived["relatedIdentifiers"]
    }
    authors = json.loads(svc.exports.render(455, "datacite-json")[0])["creators"]  # repeated affiliations
    assert all(
        len(c["affiliation"]) == len({a["name"] for a in c["affiliation"]}) for c in authors if "affiliation" in c
    )


def test_a_large_sitemap_is_an_index_of_chunks(catalogue, monkeypatch):
    monkeypatch.setattr(portal.web.exports, "SITEMAP_CHUNK", 83)  # 249 records: 3 chunks, the last one full
    client = catalogue.test_client()
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    index = etree.fromstring(client.get("/sitemap.xml").data)
    chunks = [e.text for e in index.iter(f"{ns}loc")]
    assert index.tag == f"{ns}sitemapindex" and len(chunks) == 3 and chunks[0].endswith("/sitemap.xml?after=0")
    pages = [
        [e.text for e in etree.fromstring(client.get(c.replace("http://localhost", "")).data).iter(f"{ns}loc")]
        for c in chunks
    ]
    assert [len(p) for p in pages] == [83] * 3
    recids = services_of(catalogue).catalog.list_recids(limit=1000)
    assert [loc for page in pages for loc in page] == [f"http://localhost/record/{r}" for r in recids]
