"""Who cites a record (issue 16 part 7), on SQLite and PostgreSQL: external works added by owners and curators
through the API or the record page's form, or imported from Scholix link files; the portal's own records relating
to it; counts on the page and in search (sort `mostcited`); DataCite XML (valid against kernel-4.5), schema.org
and OAI-PMH carry them. (Formatting citations of a record is tests/functional/test_citations.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from portal.app import services_of
from tests.conftest import SHARED
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import CURATOR_SCOPES, bearer, csrf, make_user, sign_in

XSD = SHARED / "corpus" / "datacite" / "kernel-4.5" / "metadata.xsd"
DATACITE_NS = "{http://datacite.org/schema/kernel-4}"
PORTAL = Path(sys.executable).parent / "portal"
PAPER = "10.1103/PhysRevD.99.012345"


@pytest.fixture
def app_settings():
    return {"base_url": "http://portal.test"}


@pytest.fixture
def svc(app, tmp_path):
    services = services_of(app)
    records = [
        dataset(7),
        dataset(8, relations=[{"type": "cites", "recid": 9}]),  # a record of the portal citing 9
        dataset(9),
    ]
    load_file(services, write_records(tmp_path / "r.json", records))
    return services


@pytest.fixture
def curator(user_token):
    return user_token(CURATOR_SCOPES, username="cura", roles=["curator"])


def _cite(client, recid, token, **body):
    return client.post(f"/api/records/{recid}/citations", json=body, headers=bearer(token))


def test_a_curator_adds_citations_seen_on_the_page_and_in_every_export(app, svc, curator):
    client = app.test_client()
    added = _cite(client, 7, curator, relation="isCitedBy", identifier=f"https://doi.org/{PAPER}", title="A paper")
    assert added.status_code == 201
    assert added.get_json()["identifier"] == PAPER.lower() and added.get_json()["scheme"] == "doi"
    assert _cite(client, 7, curator, relation="isSupplementTo", identifier="arXiv:2101.01234").status_code == 201
    assert (
        _cite(client, 7, curator, relation="IsReferencedBy", identifier="inspirehep.net/literature/1234567").status_code
        == 201
    )

    listed = client.get("/api/records/7/citations").get_json()
    assert listed["count"] == 3 and [c["scheme"] for c in listed["external"]] == ["doi", "arxiv", "inspire"]
    page = client.get("/record/7").get_data(as_text=True)
    assert "data-cited-count>3<" in page and "A paper" in page and "arXiv:2101.01234" in page

    xml, _ = svc.exports.render(7, "datacite-xml")
    doc = etree.fromstring(xml.encode())
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(doc), schema.error_log.last_error
    related = {
        (e.get("relationType"), e.get("relatedIdentifierType"), e.text)
        for e in doc.iter(f"{DATACITE_NS}relatedIdentifier")
    }
    assert ("IsCitedBy", "DOI", PAPER.lower()) in related
    assert ("IsSupplementTo", "arXiv", "arXiv:2101.01234") in related
    assert ("IsReferencedBy", "URL", "https://inspirehep.net/literature/1234567") in related

    jsonld = json.loads(svc.exports.render(7, "json-ld")[0])
    assert {w["@id"] for w in jsonld["subjectOf"]} == {
        f"https://doi.org/{PAPER.lower()}",
        "https://inspirehep.net/literature/1234567",
    }
    assert jsonld["citation"] == [
        {"@type": "CreativeWork", "@id": "https://arxiv.org/abs/2101.01234", "url": "https://arxiv.org/abs/2101.01234"}
    ]

    # harvestable: the record's OAI-PMH DataCite and Dublin Core records carry the citing works
    for prefix in ("oai_datacite", "oai_dc"):
        harvested = client.get(f"/oai2d?verb=GetRecord&metadataPrefix={prefix}&identifier=oai:portal.test:7")
        assert PAPER.lower() in harvested.get_data(as_text=True), prefix


def test_citations_count_for_every_version_and_move_the_oai_datestamp(app, svc, curator):
    before = svc.catalog.get(7).updated_at
    draft = svc.catalog.new_version(7)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"})
    svc.catalog.publish(draft.recid)
    client = app.test_client()
    assert _cite(client, 7, curator, relation="isCitedBy", identifier=PAPER).status_code == 201
    assert client.get(f"/api/records/{draft.recid}/citations").get_json()["count"] == 1
    assert svc.catalog.get(7).updated_at > before  # incremental harvests see the change


def test_bad_citations_are_refused_naming_the_field_and_only_owners_and_curators_may_add(app, svc, curator, user_token):
    client = app.test_client()
    refused = _cite(client, 7, curator, relation="isCitedBy", identifier="not an id")
    assert refused.status_code == 400 and refused.get_json()["field"] == "identifier"
    refused = _cite(client, 7, curator, relation="cites", identifier=PAPER)
    assert refused.status_code == 400 and refused.get_json()["field"] == "relation"
    refused = _cite(client, 7, curator, relation="isCitedBy", identifier="99999999999", scheme="inspire")
    assert refused.status_code == 400 and refused.get_json()["field"] == "identifier"
    assert _cite(client, 7, curator, relation="isCitedBy", identifier=PAPER).status_code == 201
    again = _cite(client, 7, curator, relation="isCitedBy", identifier=f"doi:{PAPER.upper()}")
    assert again.status_code == 400 and "already listed" in again.get_json()["detail"]
    assert client.post("/api/records/7/citations", data="[]", headers=bearer(curator)).status_code == 400
    anonymous = client.post("/api/records/7/citations", json={"relation": "isCitedBy", "identifier": PAPER})
    assert anonymous.status_code == 401
    stranger = _cite(client, 7, user_token(["deposit:write"], username="bob"), relation="isCitedBy", identifier="1234")
    assert stranger.status_code == 403 and stranger.get_json()["field"] == "owner"
    assert _cite(client, 123456, curator, relation="isCitedBy", identifier=PAPER).status_code == 404
    assert client.get("/api/records/7/citations").get_json()["count"] == 1  # nothing half-written

    listed = client.get("/api/records/7/citations").get_json()["external"]
    assert client.delete(f"/api/records/7/citations/{listed[0]['id']}").status_code == 401
    assert client.delete(f"/api/records/8/citations/{listed[0]['id']}", headers=bearer(curator)).status_code == 404
    assert client.delete(f"/api/records/7/citations/{listed[0]['id']}", headers=bearer(curator)).status_code == 204
    assert client.get("/api/records/7/citations").get_json()["count"] == 0


def test_the_owner_adds_a_citation_with_the_record_pages_form(app, svc):
    owner = make_user(app, "alice")
    draft = svc.catalog.new_version(7, owner_id=owner.id)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"})
    svc.catalog.publish(draft.recid)
    browser = sign_in(app.test_client(), owner)
    page = browser.get(f"/record/{draft.recid}").get_data(as_text=True)
    assert 'class="cite-add"' in page
    assert 'class="cite-add"' not in app.test_client().get(f"/record/{draft.recid}").get_data(as_text=True)
    sent = browser.post(
        f"/record/{draft.recid}/citations",
        data={"relation": "isReferencedBy", "identifier": "2101.01234", **csrf(browser)},
    )
    assert sent.status_code == 303
    page = browser.get(sent.headers["Location"]).get_data(as_text=True)
    assert "data-cited-count>1<" in page and "Referenced by" in page and "arXiv:2101.01234" in page


def test_search_counts_citations_and_sorts_by_most_cited(app, svc, curator):
    client = app.test_client()
    for identifier in (PAPER, "2101.01234"):
        assert _cite(client, 9, curator, relation="isCitedBy", identifier=identifier).status_code == 201
    assert _cite(client, 7, curator, relation="isCitedBy", identifier=PAPER).status_code == 201
    # 9: two external works and record 8 of the portal; 7: one work; 8: none
    found = client.get("/api/records?sort=mostcited").get_json()
    assert [h["id"] for h in found["hits"]["hits"]] == [9, 7, 8]
    assert [h["citations"] for h in found["hits"]["hits"]] == [3, 1, 0]
    assert found["sort"] == "mostcited"
    page = client.get("/search?sort=mostcited").get_data(as_text=True)
    assert page.index("Dataset 9") < page.index("Dataset 7") < page.index("Dataset 8")
    assert 'data-cited="3"' in page
    assert client.get("/api/records/9/citations").get_json()["count"] == 3


def test_scholix_links_are_imported_and_bad_ones_reported_by_position(app, svc, settings_dict, tmp_path):
    doi7 = svc.catalog.get(7).doi
    concept9 = svc.catalog.get(9).concept_doi
    links = {
        "currentPage": 0,
        "totalLinks": 4,
        "result": [
            {  # a paper references record 7 (ScholExplorer v2's keys)
                "RelationshipType": {"Name": "References", "SubType": "", "SubTypeSchema": ""},
                "Source": {
                    "Identifier": [{"ID": PAPER, "IDScheme": "doi", "IDURL": f"https://doi.org/{PAPER}"}],
                    "Title": "A paper",
                    "Type": "publication",
                },
                "Target": {"Identifier": [{"ID": doi7, "IDScheme": "doi"}], "Type": "dataset"},
            },
            {  # record 9 (by its concept DOI) is a supplement to a preprint (lower-case keys of later APIs)
                "relationship": {"name": "IsSupplementTo", "schema": "datacite"},
                "source": {"identifier": [{"identifier": concept9, "schema": "doi"}]},
                "target": {"identifier": [{"identifier": "2101.01234", "schema": "arxiv"}], "title": "A preprint"},
            },
            {
                "RelationshipType": {"Name": "IsRelatedTo"},
                "Source": {"Identifier": [{"ID": PAPER, "IDScheme": "doi"}]},
                "Target": {"Identifier": [{"ID": doi7, "IDScheme": "doi"}]},
            },
            {
                "RelationshipType": {"Name": "References"},
                "Source": {"Identifier": [{"ID": PAPER, "IDScheme": "doi"}]},
                "Target": {"Identifier": [{"ID": "10.9999/elsewhere", "IDScheme": "doi"}]},
            },
        ],
    }
    path = tmp_path / "links.json"
    path.write_text(json.dumps(links), encoding="utf-8")
    env = {**os.environ, "PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": str(tmp_path)}
    run = subprocess.run(
        [str(PORTAL), "citations", "import", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 1, run.stderr
    assert "2 added, 0 known already, 2 refused" in run.stdout
    assert "link 3: RelationshipType:" in run.stderr and "IsRelatedTo" in run.stderr
    assert "link 4: no record of this portal has doi:10.9999/elsewhere" in run.stderr
    client = app.test_client()
    seven = client.get("/api/records/7/citations").get_json()["external"]
    assert [(c["relation"], c["identifier"], c["title"], c["source"]) for c in seven] == [
        ("isReferencedBy", PAPER.lower(), "A paper", "scholix")
    ]
    nine = client.get("/api/records/9/citations").get_json()["external"]
    assert [(c["relation"], c["scheme"], c["identifier"]) for c in nine] == [("isSupplementTo", "arxiv", "2101.01234")]
    again = subprocess.run(
        [str(PORTAL), "citations", "import", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert "0 added, 2 known already, 2 refused" in again.stdout
    not_json = tmp_path / "bad.json"
    not_json.write_text("{", encoding="utf-8")
    broken = subprocess.run(
        [str(PORTAL), "citations", "import", str(not_json)], capture_output=True, text=True, env=env, timeout=120
    )
    assert broken.returncode == 1 and "field file" in broken.stderr


def test_a_bad_identifier_in_the_pages_form_comes_back_next_to_the_field(app, svc):
    owner = make_user(app, "bob")
    draft = svc.catalog.new_version(7, owner_id=owner.id)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "version": "2"})
    svc.catalog.publish(draft.recid)
    browser = sign_in(app.test_client(), owner)
    sent = browser.post(
        f"/record/{draft.recid}/citations",
        data={"relation": "isReferencedBy", "identifier": "not a work", "title": "My <paper>", **csrf(browser)},
    )
    assert sent.status_code == 400 and sent.mimetype == "text/html"
    page = sent.get_data(as_text=True)
    # the record page again, the message tied to the identifier field, what was typed kept (escaped)
    assert 'class="cite-add"' in page and "data-cited-count>0<" in page
    assert 'aria-invalid="true" aria-describedby="cite-identifier-error"' in page
    assert 'value="not a work"' in page and 'value="My &lt;paper&gt;"' in page
    assert '<option value="isReferencedBy" selected>' in page
    assert "is not a DOI" in page.split('id="cite-identifier-error"')[1][:200]
    assert app.test_client().get(f"/api/records/{draft.recid}/citations").get_json()["count"] == 0
