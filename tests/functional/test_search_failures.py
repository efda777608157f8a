"""Search when its full-text index cannot be reached (the `down` search backend): the API answers 503
problem+json, the search page says search is unavailable and keeps its form, searches without words still
work, and a catalogue write that would index a record fails whole."""

from __future__ import annotations

import pytest

from portal.app import create_app, services_of
from portal.errors import Unavailable
from tests.functional.catalog_helpers import dataset, load_file, write_records


@pytest.fixture
def app(settings_dict):
    return create_app({**settings_dict, "search_backend": "down"})


def test_the_api_answers_503_problem_json(app):
    client = app.test_client()
    resp = client.get("/api/records?q=muon")
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["status"] == 503 and problem["title"] == "Service unavailable"
    assert "search is unavailable" in problem["detail"]
    assert client.get("/api/records?q=(muon").status_code == 400  # bad input is still bad input
    body = client.get("/api/records?experiment=CMS").get_json()  # no words: the index tables answer
    assert body["hits"]["total"] == 0 and body["aggregations"]["experiment"] == {"buckets": []}


def test_the_search_page_says_search_is_unavailable(app):
    client = app.test_client()
    resp = client.get("/search?q=muon")
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "Search is unavailable at the moment" in html
    assert 'id="search-form"' in html and 'value="muon"' in html  # the form is there to search again
    assert client.get("/search").status_code == 200


def test_a_record_that_cannot_be_indexed_is_not_stored(app, tmp_path):
    with pytest.raises(Unavailable):
        load_file(services_of(app), write_records(tmp_path / "r.json", [dataset(1)]))
    assert services_of(app).catalog.count_published() == 0
