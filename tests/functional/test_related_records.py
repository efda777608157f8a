"""Record pages list each related record once: two versions of one record relating to a page, a relation written
twice, or a relation stated on both sides are one entry."""

from __future__ import annotations

import json
import re

import pytest

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS

ENVIRONMENT = 90005  # required by both versions (90003, 90004) of the dimuon software


def related_items(html: str) -> list[str]:
    section = html[html.index('id="rel-h"') : html.index("</section>", html.index('id="rel-h"'))]
    return [re.sub(r"\s+", " ", item).strip() for item in re.findall(r"<li>(.*?)</li>", section, re.S)]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("related")
    app = create_app({"var_dir": str(tmp), "base_url": "http://portal.test"})
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    extra = [
        {
            "recid": 777,
            "title": "Lesson using the environment",
            "type": {"primary": "Lesson"},
            "date_published": "2026",
            "relations": [
                {"type": "requires", "recid": str(ENVIRONMENT)},
                {"type": "requires", "recid": str(ENVIRONMENT)},  # written twice
                {"type": "isDerivedFrom", "recid": "90001"},
                {"type": "isDocumentedBy", "recid": "778"},  # 778 says it too: "documents" 777
            ],
        },
        {
            "recid": 778,
            "title": "Notes on the lesson",
            "type": {"primary": "Documentation"},
            "date_published": "2026",
            "relations": [{"type": "documents", "recid": "777"}],
        },
    ]
    (tmp / "extra.json").write_text(json.dumps(extra))
    svc.catalog.load(read_record_file(tmp / "extra.json"))
    return app


def test_two_versions_relating_to_an_environment_are_listed_once_as_the_latest(catalogue):
    items = related_items(catalogue.test_client().get(f"/record/{ENVIRONMENT}").get_data(as_text=True))
    software = [i for i in items if "Dimuon spectrum analysis" in i]
    assert len(software) == 1 and 'href="/record/90004"' in software[0]  # 90004 is the latest version
    assert sum("Lesson using the environment" in i for i in items) == 1


def test_a_relation_written_twice_or_stated_on_both_sides_shows_once(catalogue):
    lesson = related_items(catalogue.test_client().get("/record/777").get_data(as_text=True))
    assert sum(f'href="/record/{ENVIRONMENT}"' in i for i in lesson) == 1
    assert sum('href="/record/778"' in i for i in lesson) == 1  # not again as "Notes ... documents this record"
    notes = related_items(catalogue.test_client().get("/record/778").get_data(as_text=True))
    assert len(notes) == 1 and "documents" in notes[0]
