"""The search service on a SQLite index with the backend doubles: what it checks before asking the backend,
how a backend that is down shows, and where the popularity sorts get their counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.db.models import Concept, Record
from portal.errors import Invalid, Unavailable
from portal.search.backends.doubles import DownText, MemoryText
from portal.search.service import SearchRequest, SearchService

RECORDS = [  # recid, concept, experiment, title, published
    (1, 1, "CMS", "Muon pairs", "2021-01-01"),
    (2, 2, "ATLAS", "Electron efficiency with muon fakes", "2022-01-01"),
    (3, 3, "CMS", "Jet energy scale", "2019-01-01"),
    (11, 10, "LHCb", "Z boson candidates", "2020-01-01"),
    (12, 10, "LHCb", "Z boson candidates, reprocessed", "2023-01-01"),
]


def no_visits(kind: str) -> sa.Subquery:
    return sa.select(sa.literal(0).label("recid"), sa.literal(0).label("n")).where(sa.false()).subquery()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """An index of RECORDS, built through the service with the memory double (text held in that double)."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('search') / 'index.sqlite'}")
    upgrade(db.engine)
    with db.transaction() as s:
        for recid, concept, experiment, title, published in RECORDS:
            if s.get(Concept, concept) is None:
                s.add(Concept(recid=concept))
            md = {"title": title, "type": {"primary": "Dataset"}, "experiment": [experiment]}
            s.add(
                Record(
                    recid=recid,
                    concept_recid=concept,
                    version_index=recid,
                    status="published",
                    title=title,
                    type_primary="Dataset",
                    data={**md, "date_published": published},
                    content_hash="",
                    files_hash="",
                )
            )
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def text(db: Database) -> MemoryText:
    text = MemoryText()
    assert SearchService(db, text, popularity=no_visits).reindex() == len(RECORDS)
    return text


@pytest.fixture(params=[True, False], ids=["snapshot", "sql"])
def in_memory(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_requests_are_checked_before_the_backend_is_asked(db, in_memory):
    svc = SearchService(db, DownText(), popularity=no_visits, in_memory=in_memory)
    for bad, field in (
        (SearchRequest(q="muon", size=0), "size"),
        (SearchRequest(q="muon", page=0), "page"),
        (SearchRequest(q="muon", sort="random"), "sort"),
        (SearchRequest(q="muon", filters={"colour": ["red"]}), "colour"),
        (SearchRequest(q="(muon"), "q"),
        (SearchRequest(cursor="xyz"), "cursor"),
    ):
        with pytest.raises(Invalid) as err:
            svc.search(bad)
        assert err.value.field == field


def test_a_backend_that_is_down_fails_the_searches_of_words_only(db, text, in_memory):
    svc = SearchService(db, DownText(reason="no route to the index"), popularity=no_visits, in_memory=in_memory)
    for q in ("muon", "title:muon", '"z boson"', "experiment:CMS -jet"):
        with pytest.raises(Unavailable, match="no route to the index"):
            svc.search(SearchRequest(q=q))
    assert svc.search(SearchRequest()).recids == [12, 2, 1, 3]  # most recent, latest versions
    assert svc.search(SearchRequest(q="experiment:CMS", sort="bestmatch")).recids == [1, 3]
    with pytest.raises(Unavailable):
        svc.reindex()
    assert SearchService(db, text, popularity=no_visits).missing() == 0  # the failed rebuild changed nothing


def test_the_memory_double_ranks_and_pages_like_a_text_index(db, text, in_memory):
    svc = SearchService(db, text, popularity=no_visits, in_memory=in_memory)
    assert svc.search(SearchRequest(q="muon")).recids == [1, 2]  # both title hits: recid order
    assert svc.search(SearchRequest(q="muon -experiment:CMS")).recids == [2]
    assert svc.search(SearchRequest(q="boson", all_versions=True)).recids == [11, 12]
    first = svc.search(SearchRequest(sort="title", size=2))
    rest = svc.search(SearchRequest(sort="title", size=2, cursor=first.next_cursor))
    assert first.recids + rest.recids == [2, 3, 1, 12]
    assert {(b.key, b.doc_count) for b in first.aggregations["experiment"]} == {("CMS", 2), ("ATLAS", 1), ("LHCb", 1)}


def test_popularity_comes_from_the_source_it_is_given(db, text, in_memory):
    asked: list[str] = []
    counts = {"view": {10: 5, 3: 2}, "download": {2: 1}}

    def popularity(kind: str) -> sa.Subquery:
        asked.append(kind)
        rows = [sa.select(sa.literal(c).label("recid"), sa.literal(n).label("n")) for c, n in counts[kind].items()]
        return sa.union_all(*rows).subquery("popularity")

    svc = SearchService(db, text, popularity=popularity, in_memory=in_memory)
    assert svc.search(SearchRequest(sort="mostviewed")).recids == [12, 3, 1, 2]  # concept 10 has 5 visitors
    assert svc.search(SearchRequest(sort="mostdownloaded")).recids == [2, 1, 3, 12]
    assert asked == ["view", "download"]
