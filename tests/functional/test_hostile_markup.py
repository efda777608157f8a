"""XSS payloads in every metadata field a page, an export, OAI-PMH or the sitemap shows come out escaped.

Each field of one record carries a payload naming the field, so a failure says which field leaked. The checks
are positive: the markup must not appear as markup (no element, no attribute, no script break-out), and the
text must still be there, escaped, where it belongs - a page that dropped the field would not pass. Escaping does
not depend on the database, so one SQLite catalogue serves the module (as in test_exports.py).
"""

from __future__ import annotations

import json
import re

import pytest
from lxml import etree, html

from portal.app import create_app, services_of
from tests.functional.catalog_helpers import load_file, write_records

RECID = 4242
FIELDS = (
    "title",
    "abstract",
    "author",
    "keyword",
    "collaboration",
    "methodology",
    "note",
    "usage",
    "publisher",
    "file",
)


def payload(field: str) -> str:
    # An element break-out, an attribute break-out, a script break-out and a BibTeX brace break-out at once.
    return f'XSS-{field} <script>alert("{field}")</script> "><img src=x onerror=alert(1)> </script><!-- }}, x={{'


def hostile_record() -> dict:
    return {
        "recid": RECID,
        "title": payload("title"),
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "experiment": ["CMS"],
        "date_published": "2024-05-01",
        "abstract": {"description": payload("abstract")},
        "authors": [{"name": payload("author")}],
        "keywords": [payload("keyword")],
        "collaboration": {"name": payload("collaboration")},
        "methodology": {"description": payload("methodology")},
        "note": {"description": payload("note")},
        "usage": {"description": payload("usage")},
        "publisher": payload("publisher"),
        "files": [
            {
                "key": "a.txt",
                "uri": "root://eospublic.cern.ch//eos/opendata/a.txt",
                "size": 3,
                "checksum": "adler32:00000000",
                "description": payload("file"),
            }
        ],
    }


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-markup")
    app = create_app({"var_dir": str(tmp / "var"), "base_url": "http://portal.test"})
    load_file(services_of(app), write_records(tmp / "r.json", [hostile_record()]))
    services_of(app).search.prepare(refresh_interval=0)
    yield app
    services_of(app).close()


def _no_injected_markup(document: html.HtmlElement, where: str) -> None:
    """No element or attribute the payloads would create exists in ``document``."""
    for script in document.iter("script"):
        text = script.text or ""
        if script.get("type") == "application/ld+json":  # data, not code: must hold nothing but its JSON
            assert "<" not in text and json.loads(text), f"{where}: raw markup inside the JSON-LD block"
        else:
            assert "alert(" not in text, f"{where}: a payload became a script: {text[:200]}"
    assert not document.xpath("//img[@onerror]"), f"{where}: a payload became an <img onerror>"
    assert not document.xpath("//*[@*[starts-with(name(), 'on')]]"), f"{where}: an on* attribute was injected"


def test_record_page_shows_every_field_escaped(hostile_app):
    page = hostile_app.test_client().get(f"/record/{RECID}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    document = html.document_fromstring(text)
    _no_injected_markup(document, "record page")
    shown = document.text_content()
    for field in ("title", "abstract", "author", "methodology", "usage"):
        assert f"XSS-{field}" in shown, f"the record page does not show the {field}"
    # Plain-text fields keep their text exactly (as text, escaped in the source); Markdown fields are sanitised.
    assert payload("title") in shown
    assert "&lt;script&gt;alert(&#34;title&#34;)" in text or "&lt;script&gt;alert(&quot;title&quot;)" in text


def test_jsonld_in_the_page_cannot_close_its_script(hostile_app):
    text = hostile_app.test_client().get(f"/record/{RECID}").get_data(as_text=True)
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', text, flags=re.S)
    assert len(blocks) == 1, "the JSON-LD script was cut short by a payload (or is missing)"
    body = blocks[0]
    assert "<!--" not in body and "<script" not in body.lower(), "the JSON-LD block carries raw markup"
    assert json.loads(body)["name"] == payload("title")


def test_search_results_and_listing_escape_titles(hostile_app):
    client = hostile_app.test_client()
    for url in ("/search?q=XSS", "/search", "/records"):
        response = client.get(url, headers={"Accept": "text/html"})
        if response.status_code in (404, 405):  # not a page every portal has
            continue
        assert response.status_code == 200, (url, response.status_code)
        _no_injected_markup(html.document_fromstring(response.get_data(as_text=True)), url)
    found = client.get("/search?q=XSS").get_data(as_text=True)
    assert "XSS-title" in html.document_fromstring(found).text_content()


@pytest.mark.parametrize(("fmt", "title_path"), [("datacite-xml", "//d:title"), ("dublincore", "//dc:title")])
def test_xml_exports_carry_the_payload_as_text(hostile_app, fmt, title_path):
    response = hostile_app.test_client().get(f"/record/{RECID}/export/{fmt}")
    assert response.status_code == 200
    doc = etree.fromstring(response.data)  # well-formed: a raw "<" would make this fail
    ns = {"d": "http://datacite.org/schema/kernel-4", "dc": "http://purl.org/dc/elements/1.1/"}
    titles = [t.text for t in doc.xpath(title_path, namespaces=ns)]
    assert payload("title") in titles
    assert not doc.xpath("//script | //img"), "a payload became an element"
    texts = "".join(doc.itertext())
    for field in ("abstract", "author", "keyword"):
        assert f"XSS-{field}" in texts, f"{fmt} lost the {field}"


def test_bibtex_keeps_every_payload_inside_its_field(hostile_app):
    text = hostile_app.test_client().get(f"/record/{RECID}/export/bibtex").get_data(as_text=True)
    entry = text.split("\n@")[0]
    # Unescaped braces balance, so no payload closes a field and opens another ("}, x={").
    depth = 0
    for i, ch in enumerate(entry):
        if ch in "{}" and (i == 0 or entry[i - 1] != "\\"):
            depth += 1 if ch == "{" else -1
            assert depth >= 0, f"a payload closed its BibTeX field early: {entry}"
    assert depth == 0
    fields = re.findall(r"^\s+(\w+)\s*=", entry, flags=re.M)
    assert "x" not in fields and len(fields) == len(set(fields)), fields


def test_oai_and_json_ld_export_parse_with_the_payload_as_text(hostile_app):
    client = hostile_app.test_client()
    identifier = f"oai:portal.test:{RECID}"
    for prefix in ("oai_dc", "oai_datacite"):
        response = client.get(f"/oai2d?verb=GetRecord&metadataPrefix={prefix}&identifier={identifier}")
        assert response.status_code == 200
        doc = etree.fromstring(response.data)
        errors = doc.xpath("//*[local-name()='error']")
        assert not errors, [e.text for e in errors]
        assert payload("title") in [t.text for t in doc.xpath("//*[local-name()='title']")], prefix
        assert not doc.xpath("//script | //img")
    listed = etree.fromstring(client.get("/oai2d?verb=ListRecords&metadataPrefix=oai_dc").data)
    assert payload("title") in [t.text for t in listed.xpath("//*[local-name()='title']")]
    jsonld = json.loads(client.get(f"/record/{RECID}/export/json-ld").data)
    assert jsonld["name"] == payload("title")


def test_sitemap_stays_well_formed(hostile_app):
    response = hostile_app.test_client().get("/sitemap.xml")
    assert response.status_code == 200
    doc = etree.fromstring(response.data)
    assert any(f"/record/{RECID}" in (loc.text or "") for loc in doc.iter("{*}loc"))
