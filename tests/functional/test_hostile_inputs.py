"""A corpus of hostile inputs, as regression tests: out-of-range and non-finite numbers in query arguments,
over-long and deeply nested search queries, path traversal in path parameters, pack selections and archive
members, malformed or absurdly nested JSON bodies, crafted cursors and resumption tokens, hostile XML (entity
expansion, external entities), malformed OAI-PMH arguments. Each answers a 4xx problem naming what is wrong
(OAI-PMH: its own error codes), never a 5xx, and writes nothing.

(Huge integers in ids: test_hostile_integers.py; NUL bytes: test_api_fuzz.py; XSS payloads:
test_hostile_markup.py; malformed lesson and record files, damaged and bomb files on ingest:
test_hostile_files.py.)
"""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from lxml import etree
from sqlalchemy import func, select

from portal.app import services_of
from portal.db.models import File, Record
from portal.demo.generate import generate
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import bearer

HUGE = "99999999999999999999"
JSON = {"Accept": "application/json"}


@pytest.fixture
def app_settings(tmp_path):
    # Rate limits would answer the corpus's many POSTs with 429 before their bodies are read.
    return {"data_dir": str(tmp_path / "data"), "stats_enabled": False, "ratelimit_enabled": False}


@pytest.fixture
def app(app, tmp_path):
    """Record 321 with the tiny CSV sample ingested; record 322 whose one file has a key climbing out of any
    folder it is unpacked in (as a hand-written record file could give it)."""
    generate("tiny", tmp_path / "data" / "ds", formats=("csv",))
    (tmp_path / "data" / "evil.txt").write_text("evil\n")
    svc = services_of(app)
    evil = {"key": "../../evil.txt", "uri": f"file://{tmp_path / 'data' / 'evil.txt'}", "size": 5}
    load_file(svc, write_records(tmp_path / "r.json", [dataset(321), dataset(322, files=[evil])]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(321, report.file_rows("ds"), report.distribution())
    svc.search.prepare(refresh_interval=0)
    return app


def problem(response, status: int, field: str | None = None) -> dict:
    body = response.get_data(as_text=True)
    assert response.status_code == status, (response.request.url, response.status_code, body[:300])
    assert response.mimetype == "application/problem+json", (response.request.url, response.mimetype)
    found = response.get_json()
    if field is not None:
        assert found.get("field") == field, (response.request.url, found)
    return found


def counts(app) -> tuple[int, int]:
    with services_of(app).db.reader() as s:
        return s.scalar(select(func.count()).select_from(Record)), s.scalar(select(func.count()).select_from(File))


def a_key(app) -> str:
    return app.test_client().get("/api/records/321").get_json()["metadata"]["files"][0]["key"]


# ------------------------------------------------------------------ numbers in query arguments
def test_negative_huge_and_non_numbers_in_query_arguments(app):
    client = app.test_client()
    key = a_key(app)
    cases = {
        "/sitemap.xml?after={n}": "after",
        "/api/records/321/files/search?size={n}": "size",
        "/api/records/321/preview?key=" + key + "&rows={n}": "rows",
        "/api/records/321/histogram?column=x&key=" + key + "&bins={n}": "bins",
        "/api/stats?recid={n}": "recid",
        "/api/records?size={n}": "size",
        "/api/records?page={n}": "page",
    }
    for url, field in cases.items():
        for n in ("-1", "-99999999999", HUGE, "1.5", "1e3", "abc", ""):
            if n == "" and field != "after":
                continue  # an empty argument is the default for most
            found = problem(client.get(url.format(n=n), headers=JSON), 400, field)
            assert field in found["detail"], found
    for value in ("nan,1", "0,inf", "-inf,inf", "5,5", "9,1", "1", "1,2,3", "a,b"):
        found = problem(client.get(f"/api/records/321/histogram?column=x&key={key}&range={value}"), 400, "range")
        assert "range" in found["detail"]
    # Within bounds they still work.
    assert client.get("/sitemap.xml?after=0").status_code == 200


# ------------------------------------------------------------------ search queries
DEEP_PARENS = "(" * 200 + "muon" + ")" * 200
QUERIES = {
    DEEP_PARENS: "nests",
    "NOT " * 240 + "muon": "nests",
    "-" * 900 + "muon": "nests",
    "muon " * 300: "longer than 1000",
    "(" * 499: "nests",
    "title:x " + "(" * 100 + "x": "nests",
}


def test_over_long_and_deeply_nested_queries_are_refused_naming_q(app):
    client = app.test_client()
    for query, says in QUERIES.items():
        for url in ("/api/records", "/api/records/321/files/search"):
            response = client.get(url, query_string={"q": query}, headers=JSON)
            if url.endswith("/files/search") and response.status_code != 500:
                assert response.status_code < 500  # a glob over file keys: any text is a (non-matching) glob
                continue
            found = problem(response, 400, "q")
            assert says in found["detail"], (query[:40], found)
        page = client.get("/search", query_string={"q": query}, headers={"Accept": "text/html"})
        assert page.status_code < 500 and says in page.get_data(as_text=True), query[:40]
    # The deepest allowed nesting and a wide query still search.
    assert client.get("/api/records", query_string={"q": "(" * 30 + "muon" + ")" * 30}).status_code == 200
    assert client.get("/api/records", query_string={"q": " OR ".join(["muon"] * 120)}).status_code == 200
    assert client.get("/api/records", query_string={"q": "year:>nan"}).status_code < 500
    assert client.get("/api/records", query_string={"q": "year:[-inf TO inf]"}).status_code < 500


# ------------------------------------------------------------------ path traversal
TRAVERSALS = (
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "....//....//etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "ds/../../evil.txt",
)


def test_path_traversal_in_path_parameters_reveals_nothing(app):
    client = app.test_client()
    templates = (
        "/record/321/files/{t}",
        "/record/321/file_index/{t}.json",
        "/record/321/file_index/{t}.txt",
        "/education/{t}",
        "/education/{t}/pack.zip",
        "/education/{t}/preview",
        "/launch/env/{t}",
        "/doi/{t}",
        "/api/records/321/preview?key={t}",
        "/api/records/321/histogram?key={t}",
    )
    for template in templates:
        for t in TRAVERSALS:
            url = template.format(t=t)
            response = client.get(url, headers=JSON)
            body = response.get_data()
            assert response.status_code in (400, 401, 403, 404, 405, 308), (url, response.status_code, body[:200])
            assert b"root:" not in body and b"evil" not in body.replace(b"evil.txt", b""), url


def test_pack_selections_cannot_climb_out(app):
    client = app.test_client()
    for args in (
        {"glob": "../*"},
        {"glob": "/etc/*"},
        {"glob": "**/../../*"},
        {"files": "../../../etc/passwd"},
        {"files": "ds/../../evil.txt"},
        {"index": "../../etc/passwd"},
    ):
        for url in ("/api/records/321/pack", "/record/321/pack.zip"):
            response = client.get(url, query_string=args, headers=JSON)
            assert response.status_code in (400, 404), (url, args, response.status_code)
            assert response.mimetype == "application/problem+json"
    # A key that would climb out of the unpacking folder never becomes a zip member.
    found = problem(client.get("/record/322/pack.zip", headers=JSON), 400, "files")
    assert "../../evil.txt" in found["detail"]
    problem(client.get("/api/records/322/pack", headers=JSON), 400, "files")
    # The good record's pack has only plain relative members.
    pack = client.get("/record/321/pack.zip")
    assert pack.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(pack.data)).namelist()
    assert names and all(not n.startswith("/") and ".." not in n.split("/") for n in names)


# ------------------------------------------------------------------ JSON bodies
BODIES = (
    b"{",
    b'{"analysis": "dimuon", "dataset": 321',
    b"[]",
    b'"a string"',
    b"null",
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"analysis": "dimuon", "dataset": 321, "parameters": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"analysis": {"$gt": ""}, "dataset": 321}',
    b'{"analysis": "dimuon", "dataset": 321, "parameters": {"bins": -5}}',
    b'{"analysis": "dimuon", "dataset": 321, "parameters": {"bins": 1e309}}',
    b'{"analysis": "dimuon", "dataset": 321, "parameters": {"low": NaN, "high": Infinity}}',
)


def test_malformed_and_nested_json_bodies_answer_400_and_write_nothing(app, user_token):
    client = app.test_client()
    runner = {**bearer(user_token(["analyses:run", "deposit:write"])), **JSON}
    before = counts(app)
    jobs_before = client.get("/api/analyses", headers=runner).get_json()
    for body in BODIES:
        for url, method in (("/api/analyses", "post"), ("/api/records/321/draft", "put")):
            response = getattr(client, method)(url, data=body, content_type="application/json", headers=runner)
            # 400 for the body; 404/409 would mean the route or the draft, not the body, was refused
            assert response.status_code == 400, (url, body[:40], response.status_code, response.data[:200])
            assert response.mimetype == "application/problem+json", (url, body[:40])
            assert response.get_json()["detail"], (url, body[:40])
        # The same body with a form content type is not JSON at all.
        response = client.post("/api/analyses", data=body, content_type="text/plain", headers=runner)
        assert response.status_code == 400
    assert counts(app) == before
    assert client.get("/api/analyses", headers=runner).get_json() == jobs_before
    deep = client.post("/api/analyses", data=b"[" * 100_000, content_type="application/json", headers=runner)
    assert "nested too deeply" in deep.get_json()["detail"] and deep.get_json()["field"] == "body"


# ------------------------------------------------------------------ crafted cursors and tokens
def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_crafted_cursors_and_resumption_tokens(app):
    client = app.test_client()
    cursors = (
        _b64("[" * 3000),
        _b64('["x", 99999999999999999999999999]'),
        _b64("[null, null]"),
        _b64('["x", "y"]'),
        _b64('[1, "x"]'),
        _b64('["2024-01-01", 5]'),
        _b64('[{"a": 1}, [1]]'),
        _b64("[1e999, -1e999]"),
        "!!!not-base64!!!",
        "A" * 5000,
    )
    for cursor in cursors:
        response = client.get("/api/records", query_string={"cursor": cursor, "sort": "mostrecent"}, headers=JSON)
        assert response.status_code in (200, 400), (cursor[:30], response.status_code, response.data[:200])
        if response.status_code == 400:
            assert response.get_json()["field"] == "cursor"
    tokens = (
        _b64("[" * 3000),
        _b64(
            '{"p": "oai_dc", "f": null, "u": null, "s": null, '
            '"a": ["2024-01-01T00:00:00", 99999999999999999999], "c": 1}'
        ),
        _b64('{"p": "oai_dc", "f": "not a date", "u": null, "s": null, "a": ["x", 1], "c": 1}'),
        _b64('{"p": "oai_dc", "f": null, "u": null, "s": null, "a": ["2024-01-01T00:00:00", 1], "c": -5}'),
        _b64('{"p": "<script>", "f": null, "u": null, "s": "../..", "a": ["2024-01-01T00:00:00", 1], "c": 1}'),
        "%%%",
    )
    for token in tokens:
        response = client.get("/oai2d", query_string={"verb": "ListRecords", "resumptionToken": token})
        assert response.status_code == 200, (token[:30], response.status_code, response.data[:300])
        doc = etree.fromstring(response.data)
        codes = [e.get("code") for e in doc.iter("{*}error")]
        # an edited token is refused as such, or for the part of it that names nothing here
        assert len(codes) == 1 and codes[0] in ("badResumptionToken", "cannotDisseminateFormat"), (token[:30], codes)


# ------------------------------------------------------------------ OAI-PMH arguments
OAI_CASES = {
    "verb=Nonsense": "badVerb",
    "verb=GetRecord&verb=GetRecord&identifier=x&metadataPrefix=oai_dc": "badVerb",
    "verb=GetRecord&metadataPrefix=oai_dc&identifier=%3Cscript%3Ealert(1)%3C/script%3E": "idDoesNotExist",
    "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:portal.test:" + HUGE: "idDoesNotExist",
    "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:portal.test:-5": "idDoesNotExist",
    "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:portal.test:..%2F..%2Fetc": "idDoesNotExist",
    "verb=ListRecords&metadataPrefix=%3Cx%3E": "cannotDisseminateFormat",
    "verb=ListRecords&metadataPrefix=oai_dc&from=2024-13-45": "badArgument",
    "verb=ListRecords&metadataPrefix=oai_dc&from=99999-01-01": "badArgument",
    "verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01&until=2024-01-01T00:00:00Z": "badArgument",
    "verb=ListRecords&metadataPrefix=oai_dc&until=0000-00-00": "badArgument",
    "verb=ListRecords&metadataPrefix=oai_dc&set=" + "x" * 5000: "noRecordsMatch",
    "verb=ListRecords&metadataPrefix=oai_dc&set=..%2F..": "noRecordsMatch",
    "verb=Identify&bogus=%00": "badArgument",
    "verb=ListSets&resumptionToken=" + "x" * 3000: "badResumptionToken",
}


def test_malformed_oai_arguments_answer_oai_errors_in_well_formed_xml(app):
    client = app.test_client()
    for query, code in OAI_CASES.items():
        for method in ("get", "post"):
            if method == "get":
                response = client.get(f"/oai2d?{query}")
            else:
                response = client.post("/oai2d", data=query, content_type="application/x-www-form-urlencoded")
            assert response.status_code in (200, 400), (query[:60], response.status_code)
            if response.status_code == 400:  # refused before OAI-PMH (a NUL byte): a problem naming it
                assert response.mimetype == "application/problem+json"
                continue
            doc = etree.fromstring(response.data)
            codes = [e.get("code") for e in doc.iter("{*}error")]
            assert code in codes, (query[:60], method, codes)
            assert not doc.xpath("//script")


# ------------------------------------------------------------------ XML uploads (CSL styles)
XML_BOMBS = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><style xmlns="http://purl.org/net/xbiblio/csl">&lol9;</style>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<style xmlns="http://purl.org/net/xbiblio/csl">&x;</style>',
    "truncated": b'<?xml version="1.0"?><style xmlns="http://purl.org/net/xbiblio/csl"><info>',
    "not xml": b"\x00\x01\x02 binary",
    "deep": b"<a>" * 100_000 + b"</a>" * 100_000,
}


def test_hostile_xml_styles_are_refused_naming_style(app):
    client = app.test_client()
    for name, body in XML_BOMBS.items():
        response = client.post("/api/records/321/citation", data=body, content_type="application/xml")
        found = problem(response, 400, "style")
        assert "root:" not in found["detail"], name
