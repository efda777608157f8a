"""The `mostcited` sort answered from the search snapshot gives the answers of its SQL formulation (the reference,
which joins `CitationService.count_query` to the index), on SQLite and PostgreSQL: order, totals, pages, cursors
and the counts shown, with records citing each other through `related` identifiers (a version's recid, a concept's
recid, themselves) and external citations, also after a new version is published and after a citation is added.
"""

from __future__ import annotations

from typing import Any

import pytest

from portal.app import services_of
from portal.search.service import SearchRequest, SearchService
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import CURATOR_SCOPES, bearer

PAPER = "10.1103/PhysRevD.99.012345"


@pytest.fixture
def app_settings():
    return {"base_url": "http://portal.test"}


@pytest.fixture
def svc(app, tmp_path):
    services = services_of(app)
    load_file(services, write_records(tmp_path / "r.json", [dataset(9), dataset(11), dataset(12)]))
    concept9 = services.catalog.get(9).concept_recid
    citing = [
        dataset(7, relations=[{"type": "cites", "recid": 9}]),
        dataset(8, relations=[{"type": "cites", "recid": 9}], experiment=["ATLAS"]),
        # the version and the concept of 9: one citing record; 11 too
        dataset(
            10,
            relations=[
                {"type": "cites", "recid": 9},
                {"type": "cites", "recid": concept9},
                {"type": "isDerivedFrom", "recid": 11},
            ],
        ),
        dataset(13, relations=[{"type": "cites", "recid": 13}]),  # itself: no citation
    ]
    load_file(services, write_records(tmp_path / "c.json", citing))
    return services


@pytest.fixture
def curator(user_token):
    return user_token(CURATOR_SCOPES, username="cura", roles=["curator"])


def _cite(client, recid: int, token: str, identifier: str) -> None:
    added = client.post(
        f"/api/records/{recid}/citations",
        json={"relation": "isCitedBy", "identifier": identifier},
        headers=bearer(token),
    )
    assert added.status_code == 201, added.get_json()


def _pages(search: SearchService, req: dict[str, Any], *, by_cursor: bool) -> list[tuple[int, list[int]]]:
    """Every page of a `mostcited` search, two hits a page: (total, recids) each, by page number or cursor."""
    pages = []
    cursor = None
    for page in range(1, 20):
        found = search.search(
            SearchRequest(**req, sort="mostcited", size=2, page=1 if by_cursor else page, cursor=cursor)
        )
        pages.append((found.total, found.recids))
        if by_cursor:
            cursor = found.next_cursor
            if cursor is None:
                break
        elif not found.recids:
            break
    return pages


def _assert_as_sql(svc) -> None:
    reference = SearchService(
        svc.db, svc.search.backend, popularity=lambda kind: svc.citations.count_query(), in_memory=False
    )
    for req in (
        {},
        {"q": "dataset"},
        {"filters": {"experiment": ["CMS"]}},
        {"all_versions": True},
        {"hidden": frozenset({9})},
    ):
        ours = svc.search.search(SearchRequest(**req, sort="mostcited", size=50))
        assert "mostcited" in svc.search._snapshot.counted.items  # answered from the snapshot, not by SQL
        theirs = reference.search(SearchRequest(**req, sort="mostcited", size=50))
        assert (ours.total, ours.recids, ours.aggregations) == (theirs.total, theirs.recids, theirs.aggregations), req
        # the hits' counts the page shows come with the result, equal to counting the hits' concepts again
        concepts = [h.concept_recid for h in svc.catalog.get_hits(ours.recids)]
        assert ours.cited == svc.citations.counts(concepts), req
        for by_cursor in (False, True):
            assert _pages(svc.search, req, by_cursor=by_cursor) == _pages(reference, req, by_cursor=by_cursor), req


def _listed(client) -> list[tuple[int, int]]:
    found = client.get("/api/records?sort=mostcited&size=50").get_json()
    return [(h["id"], h["citations"]) for h in found["hits"]["hits"]]


def test_most_cited_from_the_snapshot_is_the_sql_formulation(app, svc, curator):
    client = app.test_client()
    _cite(client, 12, curator, PAPER)
    _cite(client, 12, curator, "2101.01234")
    _cite(client, 11, curator, "arXiv:2202.02345")
    # 9: records 7, 8, 10 (10 names its version and its concept: one citer); 11: record 10 and a work;
    # 12: two works; 13 cites itself only
    assert _listed(client) == [(9, 3), (11, 2), (12, 2), (7, 0), (8, 0), (10, 0), (13, 0)]
    _assert_as_sql(svc)
    page = client.get("/search?sort=mostcited").get_data(as_text=True)
    assert page.index("Dataset 9") < page.index("Dataset 11") < page.index("Dataset 12") < page.index("Dataset 7")

    # A new version of 7 cites 11 instead of 9: both versions are indexed, so concept 7 now cites both.
    draft = svc.catalog.new_version(7)
    svc.catalog.update_draft(draft.recid, {**dataset(draft.recid), "relations": [{"type": "cites", "recid": 11}]})
    svc.catalog.publish(draft.recid)
    # and 9 gets a new version: its count follows the concept to its latest version
    draft9 = svc.catalog.new_version(9)
    svc.catalog.update_draft(draft9.recid, {**dataset(draft9.recid), "title": "Dataset 9, version 2"})
    svc.catalog.publish(draft9.recid)
    # ties in recid order: the new versions' recids are above the loaded ones
    assert _listed(client) == [(11, 3), (draft9.recid, 3), (12, 2), (8, 0), (10, 0), (13, 0), (draft.recid, 0)]
    _assert_as_sql(svc)

    # A citation added to 10 moves it up.
    _cite(client, 10, curator, PAPER)
    assert _listed(client) == [(11, 3), (draft9.recid, 3), (12, 2), (10, 1), (8, 0), (13, 0), (draft.recid, 0)]
    _assert_as_sql(svc)
