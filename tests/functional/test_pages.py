"""Server-rendered pages on a real app and database: home, faceted search, the record page, friendly errors."""

from __future__ import annotations

import json
import re

import pytest

from portal.app import services_of
from tests.functional.catalog_helpers import load_file, write_records

ROOT_URI = "root://eospublic.example.org//eos/opendata/cms/Run2012B/DoubleMuon/file-0.root"


def _records() -> list[dict]:
    files = [
        {"key": "file-0.root", "size": 1234, "checksum": "adler32:0a0b0c0d", "uri": ROOT_URI},
        {
            "key": "big.root",
            "size": 3_000_000_000,
            "checksum": "adler32:11223344",
            "uri": "root://eospublic.example.org//eos/opendata/cms/big.root",
        },
    ]
    common = {
        "type": {"primary": "Dataset", "secondary": ["Collision"]},
        "experiment": ["CMS"],
        "date_created": ["2012"],
        "collision_information": {"energy": "8TeV", "type": "pp"},
    }
    return [
        {
            **common,
            "recid": 7001,
            "conceptrecid": 7000,
            "version": "1",
            "title": "Muon pairs from Run2012B",
            "date_published": "2024-01-01",
            "files": files,
            "abstract": {"description": "Events with **two muons**.<script>alert(1)</script>"},
            "methodology": {"description": "Selected by the `HLT_Mu17` trigger."},
        },
        {
            **common,
            "recid": 7002,
            "conceptrecid": 7000,
            "version": "2",
            "title": "Muon pairs from Run2012B",
            "date_published": "2024-06-01",
            "files": files,
            "relations": [{"type": "isNewVersionOf", "recid": "7001"}],
        },
        {
            "recid": 7003,
            "title": "Dimuon spectrum notebook",
            "type": {"primary": "Software", "secondary": ["Analysis"]},
            "experiment": ["CMS"],
            "date_published": "2024-07-01",
            "relations": [{"type": "isDerivedFrom", "recid": "7002"}],
        },
        {
            "recid": 7004,
            "title": "Electron calibration",
            "type": {"primary": "Dataset", "secondary": ["Derived"]},
            "experiment": ["ATLAS"],
            "date_published": "2023-03-01",
            "date_created": ["2011"],
            "abstract": {"description": "Calibrated with `Zee` events and **tag-and-probe**."},
        },
    ]


@pytest.fixture
def app(app, tmp_path):
    load_file(services_of(app), write_records(tmp_path / "pages.json", _records()))
    return app


def _text(response) -> str:
    assert response.headers["Content-Type"].startswith("text/html")
    return response.get_data(as_text=True)


def test_home_has_a_labelled_search_box_and_featured_datasets(client):
    page = client.get("/")
    assert page.status_code == 200
    html = _text(page)
    assert re.search(r'<label[^>]*for="[^"]+"', html) and 'action="/search"' in html
    assert "Muon pairs from Run2012B" in html and "Electron calibration" in html


def test_search_page_facets_narrow_and_live_in_the_url(client):
    html = _text(client.get("/search?q=muon"))
    assert "Muon pairs from Run2012B" in html and "Electron calibration" not in html
    everything = _text(client.get("/search"))
    assert "Electron calibration" in everything and "Dimuon spectrum notebook" in everything
    # hit snippets are the abstract's text, not its Markdown source
    assert "Calibrated with Zee events and tag-and-probe." in everything and "`Zee`" not in everything
    # only the latest version of a concept is listed
    assert everything.count('href="/record/7001"') == 0 and 'href="/record/7002"' in everything
    # a facet link keeps the query and adds the facet; selecting it narrows the hits
    link = re.search(r'href="(/search\?[^"]*experiment=ATLAS[^"]*)"', everything)
    assert link, "no ATLAS facet link"
    narrowed = _text(client.get(link.group(1).replace("&amp;", "&")))
    assert "Electron calibration" in narrowed and "Dimuon spectrum notebook" not in narrowed
    # the experiment facet still offers CMS (its own selection does not narrow its counts)
    assert re.search(r'href="/search\?[^"]*experiment=CMS', narrowed)


def test_malformed_query_is_a_friendly_400_page(client):
    page = client.get('/search?q=title:"unclosed')
    assert page.status_code == 400
    assert "quote" in _text(page).lower()


def test_record_page_is_complete(client):
    page = client.get("/record/7002")
    assert page.status_code == 200
    html = _text(page)
    assert "<h1>Muon pairs from Run2012B</h1>" in html
    assert "Cite as" in html and "10.5072/portal.7002" in html and "10.5072/portal.7000" in html
    assert 'data-copy="' + ROOT_URI + '"' in html and "Copy HTTPS" in html
    assert "/record/7002/files/file-0.root" in html and "adler32:0a0b0c0d" in html
    assert "xrdcp " + ROOT_URI in html and "uproot.open" in html and "cernopendata-client" in html
    assert 'id="large-download"' in html and 'data-size="3000000000"' in html
    # relations in both directions: the notebook derived from this record is listed here
    assert 'href="/record/7003"' in html and "Dimuon spectrum notebook" in html
    # versions list, current version marked; no newer-version banner on the latest
    assert 'href="/record/7001"' in html and 'aria-current="page"' in html and "newer version" not in html
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert ld and json.loads(ld.group(1))["@type"] == "Dataset"


def test_old_version_has_a_banner_and_sanitised_markdown(client):
    html = _text(client.get("/record/7001"))
    assert "newer version" in html and 'href="/record/7002"' in html
    assert "<strong>two muons</strong>" in html and "<script>alert(1)" not in html
    assert "<code>HLT_Mu17</code>" in html


def test_record_page_shows_a_metadata_fix_and_a_new_version_at_once(app, client):
    svc = services_of(app)
    assert "<h1>Electron calibration</h1>" in _text(client.get("/record/7004"))
    md = svc.catalog.get(7004).metadata
    svc.catalog.edit_metadata(7004, {**md, "title": "Electron calibration, corrected"})
    html = _text(client.get("/record/7004"))
    assert "<h1>Electron calibration, corrected</h1>" in html and "newer version" not in html
    draft = svc.catalog.new_version(7004)
    svc.catalog.publish(draft.recid)
    html = _text(client.get("/record/7004"))
    assert "newer version" in html and f'href="/record/{draft.recid}"' in html


def test_concept_id_redirects_to_the_latest_version(client):
    page = client.get("/record/7000")
    assert page.status_code == 302 and page.headers["Location"].endswith("/record/7002")


def test_friendly_404(client):
    page = client.get("/record/999999")
    assert page.status_code == 404
    html = _text(page)
    assert "999999" in html or "not found" in html.lower()
    assert 'action="/search"' in html  # the error page keeps the site's header and search box


def test_friendly_500_page_and_problem_json(make_app):
    app = make_app()

    def crash():
        raise RuntimeError("secret internals")

    app.add_url_rule("/crash", view_func=crash)
    app.add_url_rule("/api/crash", view_func=crash, endpoint="api_crash")
    client = app.test_client()
    page = client.get("/crash", headers={"Accept": "text/html"})
    assert page.status_code == 500
    html = _text(page)
    assert "unexpected error" in html and "secret internals" not in html and 'action="/search"' in html
    api = client.get("/api/crash")
    assert api.status_code == 500 and api.headers["Content-Type"] == "application/problem+json"
    assert api.get_json()["title"] == "Internal error"


def test_file_box_pages_and_filters_on_the_server(make_app, tmp_path):
    app = make_app()
    files = [
        {
            "key": f"Run2012{'BC'[i % 2]}_{i:03d}.root",
            "size": 1000 + i,
            "checksum": f"adler32:{i:08x}",
            "uri": f"root://eospublic.example.org//eos/opendata/cms/Run2012{'BC'[i % 2]}_{i:03d}.root",
        }
        for i in range(120)
    ]
    load_file(
        services_of(app),
        write_records(
            tmp_path / "many.json",
            [
                {
                    "recid": 7100,
                    "title": "Many files",
                    "type": {"primary": "Dataset"},
                    "date_published": "2024-01-01",
                    "files": files,
                }
            ],
        ),
    )
    client = app.test_client()

    def keys(html: str) -> list[str]:
        return re.findall(r'<tr data-key="([^"]+)"', html)

    first = _text(client.get("/record/7100"))
    assert keys(first) == [f["key"] for f in files[:50]]
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = _text(client.get(next_link))
    assert keys(second) == [f["key"] for f in files[50:100]] and "First files" in second
    third = _text(client.get(re.search(r'<a rel="next" href="([^"]+)"', second).group(1).replace("&amp;", "&")))
    assert keys(third) == [f["key"] for f in files[100:]] and 'rel="next"' not in third

    glob = _text(client.get("/record/7100?files_q=Run2012C_*"))  # a glob, applied over all 120 files
    assert keys(glob) == [f["key"] for f in files if f["key"].startswith("Run2012C_")][:50]
    word = _text(client.get("/record/7100?files_q=_11"))  # a plain word matches anywhere in the name
    assert keys(word) == [f"Run2012{'BC'[i % 2]}_{i:03d}.root" for i in range(110, 120)]
    none = _text(client.get("/record/7100?files_q=nothing-like-this"))
    assert keys(none) == [] and "No file matches" in none
    bad = client.get("/record/7100?files_after=abc")
    assert bad.status_code == 400 and "files_after" in _text(bad)
