"""One contract for every registered search backend (SQLite FTS5, PostgreSQL full text), each on the database it
serves, and for the memory double: matching, ranking, facets, sorting, cursor pagination, versions, popularity, and
the API around them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, inspect

from portal.app import services_of
from portal.registry import SEARCH
from portal.search.models import DOCS, FACET_ROWS
from portal.search.service import SearchRequest
from tests.functional.catalog_helpers import load_file, write_records
from tests.support.postgres import reset_database

# Every real backend registered in the portal.search entry-point group, and the unit tests' double, which must
# keep the same contract.
BACKENDS = [n for n in SEARCH.names() if not getattr(SEARCH.load(n), "development_only", False)] + ["memory"]


@pytest.fixture(params=BACKENDS)
def search_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(search_backend, request, tmp_path):
    """A database of the dialect the backend serves (SQLite for backends that serve any)."""
    dialect = SEARCH.load(search_backend).dialect or "sqlite"
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.sqlite'}"
    if dialect != "postgresql":
        pytest.skip(f"the tests start no {dialect} server")
    url = request.getfixturevalue("postgres_url")
    reset_database(url)
    return url


@pytest.fixture
def settings_dict(settings_dict, search_backend):
    return {**settings_dict, "search_backend": search_backend}


def record(
    recid,
    title,
    *,
    experiment="CMS",
    primary="Dataset",
    sub="Collision",
    years=("2011",),
    events=None,
    keywords=(),
    abstract="",
    published="2020-01-01",
    **extra,
):
    md = {
        "recid": recid,
        "title": title,
        "type": {"primary": primary, "secondary": [sub]},
        "experiment": [experiment],
        "date_created": list(years),
        "date_published": published,
        "keywords": list(keywords),
        "abstract": {"description": abstract},
        **extra,
    }
    if events is not None:
        md["distribution"] = {"number_events": events, "formats": ["root"]}
    return md


CATALOGUE = [
    record(
        1,
        "Dimuon spectrum in proton collisions",
        abstract="Muon pairs and the J/psi",
        events=5_000_000,
        keywords=["dimuon", "education"],
        published="2021-05-01",
    ),
    record(
        2,
        "Electron identification efficiency",
        abstract="Electrons, and a note on muon fakes",
        experiment="ATLAS",
        years=("2012",),
        events=200_000,
        published="2022-01-01",
    ),
    record(
        3,
        "Jet energy scale",
        abstract="Calibration of jets",
        experiment="ALICE",
        sub="Simulated",
        years=("2010",),
        events=50,
        published="2019-03-03",
    ),
    record(
        4,
        "Muon analysis software",
        primary="Software",
        sub="Analysis",
        abstract="Tools for muons",
        years=("2013",),
        published="2023-07-07",
        authors=[{"name": "Doe, Jane"}],
    ),
    record(
        5,
        "Open data lesson on muons",
        primary="Lesson",
        sub="Notebook",
        experiment="LHCb",
        abstract="Learn about the muon",
        years=("2011", "2012"),
        published="2024-01-01",
        relations=[{"type": "references", "recid": "1"}],
    ),
    record(11, "Z boson candidates", conceptrecid=10, version="1", abstract="Z to mumu", published="2020-01-01"),
    record(
        12,
        "Z boson candidates",
        conceptrecid=10,
        version="2",
        abstract="Z to mumu, reprocessed",
        published="2025-01-01",
    ),
]


@pytest.fixture
def app(app, tmp_path):
    load_file(services_of(app), write_records(tmp_path / "c.json", CATALOGUE))
    return app


def search(app, **kwargs):
    return services_of(app).search.search(SearchRequest(**kwargs))


def test_words_are_anded_and_the_title_ranks_first(app):
    result = search(app, q="muon")
    assert set(result.recids) == {1, 2, 4, 5}
    assert result.recids[0] == 4  # the only title match ranks first
    assert search(app, q="muon software").recids == [4]
    assert search(app, q="dimuon collisions").recids == [1]


def test_phrases_fields_negation_or_ranges(app):
    assert search(app, q='"muon analysis"').recids == [4]
    assert search(app, q='"analysis muon"').recids == []
    assert search(app, q="title:muon").recids == [4]  # no stemming: "muons" is another word
    assert search(app, q="author:Doe").recids == [4]
    assert set(search(app, q="experiment:CMS").recids) == {1, 4, 12}
    assert set(search(app, q="muon -experiment:CMS").recids) == {2, 5}
    assert set(search(app, q="jet OR electron").recids) == {2, 3}
    assert set(search(app, q="year:[2010 TO 2011]").recids) == {1, 3, 5, 12}
    assert set(search(app, q="number_events:>100000").recids) == {1, 2}
    assert search(app, q="type:Software").recids == [4]
    assert search(app, q="subtype:Simulated").recids == [3]
    assert search(app, q="keywords:education").recids == [1]
    assert search(app, q='doi:"10.5072/portal.4"').recids == [4]
    assert search(app, q="recid:3").recids == [3]


def test_only_latest_versions_unless_asked(app):
    assert search(app, q="boson").recids == [12]
    assert set(search(app, q="boson", all_versions=True).recids) == {11, 12}
    assert search(app, q="recid:10").recids == [12]  # the concept id finds its latest version


def test_facets_narrow_but_keep_their_own_counts(app):
    result = search(app, q="", filters={"experiment": ["CMS"]})
    assert set(result.recids) == {1, 4, 12}
    experiments = {b.key: b.doc_count for b in result.aggregations["experiment"]}
    assert experiments == {"CMS": 3, "ATLAS": 1, "ALICE": 1, "LHCb": 1}  # own selection ignored
    types = {b.key: b.doc_count for b in result.aggregations["type"]}
    assert types == {"Dataset": 2, "Software": 1}  # narrowed by the experiment selection
    both = search(app, filters={"experiment": ["CMS", "ATLAS"], "type": ["Dataset"]})
    assert set(both.recids) == {1, 2, 12}
    events = {b.key for b in search(app).aggregations["events"]}
    assert {"1M–9,999,999", "100k–999,999", "0–999"} <= events


def test_sorts_and_cursor_pagination(app):
    recent = search(app, size=10)
    assert recent.sort == "mostrecent" and recent.recids == [12, 5, 4, 2, 1, 3]
    assert search(app, sort="title").recids == [1, 2, 3, 4, 5, 12]
    assert search(app, sort="-title").recids == [12, 5, 4, 3, 2, 1]
    seen, cursor = [], None
    while True:
        page = search(app, sort="title", size=2, cursor=cursor)
        seen += page.recids
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4, 5, 12]
    ranked = [r for c in (None,) for r in search(app, q="muon", size=2).recids]
    page2 = search(app, q="muon", size=2, cursor=search(app, q="muon", size=2).next_cursor).recids
    assert ranked + page2 == search(app, q="muon", size=10).recids
    assert search(app, size=2, page=3).recids == [1, 3]


def test_popularity_sorts_follow_the_usage_statistics(app):
    """Most viewed / most downloaded order by unique visitors of the record's concept (all its versions
    together), then by recid; records nobody used count 0. Cursors walk the same order."""
    stats = services_of(app).stats
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    for recid, visitors in ((1, 3), (11, 1), (12, 1), (4, 1)):
        for v in range(visitors):
            stats.record("view", recid, ip=f"192.0.2.{recid * 10 + v}", user_agent=firefox, at=at)
    stats.record("download", 5, ip="192.0.2.99", user_agent=firefox, at=at)
    stats.flush()
    stats.aggregate(now=at + timedelta(hours=2))
    assert search(app, sort="mostviewed").recids == [1, 12, 4, 2, 3, 5]  # concept 10: two visitors, one per version
    assert search(app, sort="mostviewed", all_versions=True).recids == [1, 11, 12, 4, 2, 3, 5]
    assert search(app, sort="mostdownloaded").recids == [5, 1, 2, 3, 4, 12]
    assert search(app, q="muon", sort="mostviewed").recids == [1, 4, 2, 5]
    seen, cursor = [], None
    while True:
        page = search(app, sort="mostviewed", size=2, cursor=cursor)
        seen, cursor = seen + page.recids, page.next_cursor
        if cursor is None:
            break
    assert seen == [1, 12, 4, 2, 3, 5]
    body = app.test_client().get("/api/records?sort=mostdownloaded&size=1").get_json()
    assert [h["id"] for h in body["hits"]["hits"]] == [5] and body["sort"] == "mostdownloaded"


def test_the_index_follows_the_catalogue(app):
    catalog = services_of(app).catalog
    draft = catalog.new_version(4)
    assert search(app, q="title:software").recids == [4]  # drafts are not searchable
    catalog.update_draft(draft.recid, {**CATALOGUE[3], "title": "Muon analysis toolkit"})
    catalog.publish(draft.recid)
    assert search(app, q="toolkit").recids == [draft.recid]
    assert search(app, q="title:software").recids == []  # the old version is no longer the latest
    catalog.edit_metadata(3, {**CATALOGUE[2], "title": "Jet energy scale and resolution"})
    assert search(app, q="resolution").recids == [3]
    assert services_of(app).search.related_to(1) == [5]


def test_api(app):
    client = app.test_client()
    body = client.get("/api/records?q=muon&size=2&sort=title").get_json()
    assert body["hits"]["total"] == 4 and len(body["hits"]["hits"]) == 2
    assert "files" not in body["hits"]["hits"][0]["metadata"] and "next" in body["links"]
    nxt = client.get(body["links"]["next"].replace("http://localhost", "")).get_json()
    assert [h["id"] for h in nxt["hits"]["hits"]] == [4, 5]
    assert {b["key"] for b in body["aggregations"]["experiment"]["buckets"]} == {"CMS", "ATLAS", "LHCb"}
    assert client.get("/api/records?experiment=ATLAS").get_json()["hits"]["total"] == 1
    for bad in ("q=(muon", "q=colour:red", "sort=random", "size=0", "cursor=xyz"):
        resp = client.get(f"/api/records?{bad}")
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json", bad


WORDS = ("muon", "electron", "jet", "photon", "higgs", "boson", "trigger", "calibration", "Élan", "j/psi")


def generated(n=120, seed=5):
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(WORDS, 3)
        extra = {}
        if i % 7 == 0:
            extra["authors"] = [{"name": rng.choice(["Doe, Jane", "Roe, Rick", "Élan, Ana"])}]
        if i % 11 == 0 and i:
            extra.update(conceptrecid=500 + i // 11, version=str(1 + i % 2))
        primary, sub = rng.choice(
            [
                ("Dataset", "Collision"),
                ("Dataset", "Simulated"),
                ("Dataset", "Derived"),
                ("Software", "Analysis"),
                ("Lesson", "Notebook"),
            ]
        )
        out.append(
            record(
                100 + i,
                f"{words[0].title()} {words[1]} {i % 13}",
                experiment=rng.choice(["CMS", "ATLAS", "ALICE", "LHCb"]),
                primary=primary,
                sub=sub,
                years=tuple(rng.sample(["2010", "2011", "2012", "2013"], rng.choice([0, 1, 2]))),
                events=rng.choice([None, 10, 5_000, 250_000, 7_000_000]),
                keywords=words[1:],
                abstract=" ".join(rng.choices(WORDS, k=12)),
                published=f"20{10 + i % 12}-0{1 + i % 9}-01",
                **extra,
            )
        )
    return out


QUERIES = [
    "",
    "muon",
    "muon jet",
    '"muon jet"',
    "title:higgs",
    "author:doe",
    "keywords:boson",
    "muon -jet",
    "muon OR élan",
    "j/psi",
    "-number_events:>1000",
    "number_events:<=5000",
    "year:[2011 TO 2012]",
    "-year:[2011 TO 2012]",
    "year:>2012 OR jet",
    "experiment:cms",
    "subtype:simulated",
    "type:dataset -experiment:ATLAS",
    "recid:105",
    "recid:[100 TO 110]",
    "-(muon OR jet)",
    'doi:"10.5072/portal.103"',
    "-doi:10.5072/portal.103",
    "(higgs OR boson) trigger -title:calibration",
    '"muon jet" OR "jet muon"',
    '"higgs boson trigger"',
    '"élan j/psi" -jet',
]
#: as many filters as sorts, for the Latin square below
FILTERS = [
    {},
    {"experiment": ["CMS", "ATLAS"]},
    {"experiment": ["CMS"], "type": ["Dataset", "Lesson"]},
    {"year": ["2011"], "events": ["1M–9,999,999"]},
    {"keywords": ["nope"]},
]
SORTS = (None, "bestmatch", "mostrecent", "title", "-title")
assert len(FILTERS) == len(SORTS)


def test_the_columnar_search_gives_what_sql_gives(make_app, tmp_path):
    """Searches answered from the in-memory snapshot equal the SQL formulation: hits, order, totals, facet
    counts and cursors, for every sort, with NULL columns, versions, pages and cursor walks (every pair of
    query, filter and sort; the full product took minutes on PostgreSQL for no pair more)."""
    app = make_app()
    svc = services_of(app).search
    svc.WARM_MIN_DOCS = 1  # warm every frequent word, as a large catalogue would, and compare with them warm
    load_file(services_of(app), write_records(tmp_path / "g.json", generated()))
    svc.prepare()  # builds the snapshot and starts warming, as each web worker does when it starts
    assert svc.wait_warm(60)
    snap = svc._snapshot
    warmed = [k for k in snap.cache.items if k[0] == "score"]
    assert len(warmed) >= 8, warmed  # the generated words, fetched before any search asked for them
    compared = 0
    for qi, q in enumerate(QUERIES):
        for si, sort in enumerate(SORTS):
            # A Latin square, not the full product (5 times fewer SQL searches, the suite's slowest test before):
            # each query meets every filter and every sort once, and each filter meets every sort, so every
            # pair of them is compared; the pages and the cursor walk run for each (query, filter, sort) taken.
            filters = FILTERS[(qi + si) % len(FILTERS)]
            for extra in ({}, {"page": 2, "size": 7}, {"all_versions": True, "size": 5}):
                req = SearchRequest(q=q, filters=filters, sort=sort, **extra)
                svc.in_memory = False
                want = svc.search(req)
                svc.in_memory = True
                got = svc.search(req)
                assert got == want, (q, filters, sort, extra)
                compared += 1
            cursor, walked = None, 0
            while walked < 4:
                req = SearchRequest(q=q, filters=filters, sort=sort, size=9, cursor=cursor)
                svc.in_memory = False
                want = svc.search(req)
                svc.in_memory = True
                assert svc.search(req) == want, (q, filters, sort, cursor)
                cursor, walked = want.next_cursor, walked + 1
                if cursor is None:
                    break
    assert compared == len(QUERIES) * len(SORTS) * 3
    assert svc.search(SearchRequest(q="muon")).total > 10  # the catalogue is not trivially empty


def test_a_prepared_service_rebuilds_its_snapshot_after_a_write_without_a_search(make_app, tmp_path):
    """Web workers keep their snapshot fresh off-request: after a catalogue write the refresher rebuilds it,
    so the first search after the write finds the new record in a snapshot that is already built."""
    app = make_app()
    svc = services_of(app).search
    load_file(services_of(app), write_records(tmp_path / "a.json", generated(n=20)))
    svc.prepare(refresh_interval=0.05)
    before = svc._snapshot
    assert before is not None and before.n == 20
    load_file(services_of(app), write_records(tmp_path / "b.json", generated(n=25)[20:]))
    deadline = time.monotonic() + 30
    while svc._snapshot is before and time.monotonic() < deadline:
        time.sleep(0.05)
    fresh = svc._snapshot
    assert fresh is not before and fresh.n == 25  # rebuilt by the refresher: no search has run since
    got = svc.search(SearchRequest(q="", all_versions=True))
    assert svc._snapshot is fresh and got.total == 25
    svc.close()
    assert svc._refresher is None


def test_reindex_rebuilds_the_same_index(app):
    svc = services_of(app).search
    before = [search(app, q=q, sort=s) for q in ("", "muon", "boson") for s in ("bestmatch", "title")]
    assert svc.reindex() == len(CATALOGUE)
    assert [search(app, q=q, sort=s) for q in ("", "muon", "boson") for s in ("bestmatch", "title")] == before
    assert svc.missing() == 0 and svc.related_to(1) == [5]


def test_a_bulk_reindex_rebuilds_the_same_index(make_app, tmp_path):
    """A reindex in batches large enough for the bulk path (COPY into a staging table on PostgreSQL, the
    latest versions worked out per batch) rebuilds exactly the index the catalogue writes built: every query
    kind (words, phrases, fields, ranges, versions) and every facet gives the same hits, scores and counts."""
    app = make_app()
    svc = services_of(app).search
    load_file(services_of(app), write_records(tmp_path / "g.json", generated(n=260)))

    def everything():
        return [
            svc.search(SearchRequest(q=q, sort=sort, all_versions=versions, size=50))
            for q in QUERIES
            for sort in (None, "title")
            for versions in (False, True)
        ]

    def indexes():
        seen = inspect(svc.db.engine)
        tables = [t for t in seen.get_table_names() if t.startswith("search_")]
        return sorted((t, str(ix["name"])) for t in tables for ix in seen.get_indexes(t))

    before, built = everything(), indexes()
    assert svc.reindex(batch_size=120) == 260  # three batches: 120, 120, 20 records
    assert everything() == before
    # An empty index (the first build after a bulk load): on PostgreSQL its secondary indexes are dropped
    # and built again after the load, in the same transaction.
    with svc.db.transaction() as s:
        s.execute(delete(FACET_ROWS))
        svc.backend.clear(s)
        s.execute(delete(DOCS))
        svc._changed(s)
    assert svc.missing() == 260 and svc.search(SearchRequest(q="")).total == 0
    assert svc.reindex(batch_size=120) == 260
    assert everything() == before
    assert indexes() == built
    assert svc.missing() == 0
    assert svc.search(SearchRequest(q="", all_versions=True)).total == 260


def test_totals_and_facet_counts_are_counted_once_per_selection_and_index_generation(app, tmp_path):
    """The snapshot keeps a selection's total and facet counts (they do not depend on the page or the sort);
    a catalogue write moves the index on, and the next search counts the new record."""
    first = search(app, size=2)
    again = search(app, size=2, page=2, sort="title")
    assert (again.total, again.aggregations) == (first.total, first.aggregations)
    assert first.recids != again.recids
    snap = services_of(app).search._snapshot
    assert len(snap.summaries.items) == 1  # one selection counted, for both pages and sorts
    assert search(app, filters={"experiment": ["CMS"]}).total < first.total
    assert len(snap.summaries.items) == 2
    experiments = {b.key: b.doc_count for b in first.aggregations["experiment"]}
    new = [record(30, "A new muon record", experiment="ATLAS")]
    load_file(services_of(app), write_records(tmp_path / "n.json", new))
    after = search(app, size=2)
    assert after.total == first.total + 1
    assert {b.key: b.doc_count for b in after.aggregations["experiment"]} == {
        **experiments,
        "ATLAS": experiments["ATLAS"] + 1,
    }
    assert services_of(app).search._snapshot is not snap


def test_searched_words_stay_cached_when_their_scores_outgrow_a_fixed_budget(make_app, tmp_path, monkeypatch):
    """Issue 17: a word's scores take bytes in proportion to the documents holding it, so the snapshot's cache
    budget grows with the catalogue (a fixed 64 MiB held 7 frequent words at 1,000,000 records), and words searched
    in turn beyond what it holds do not evict each other (a least-recently-used cache then missed every time,
    and each search fetched its word's scores again). Either way the answers are the SQL formulation's."""
    from portal.search import memory

    monkeypatch.setattr(memory, "CACHE_MIN_BYTES", 0)  # the budget from the catalogue's size alone, as at 1,000,000
    app = make_app()
    svc = services_of(app).search
    svc.warm_words = 0  # only the searches below fill the cache
    words = ["muon", "jet", "higgs", "tau", "vertex", "pileup", "trigger", "calibration"]
    catalogue = [
        record(100 + i, f"{words[i % 8].title()} sample {i}", abstract=" ".join(words[i % 8 :] + words[: i % 8]))
        for i in range(40)
    ]
    load_file(services_of(app), write_records(tmp_path / "w.json", catalogue))
    fetched: list[object] = []
    real_scores = svc.backend.scores

    def scores(s, key):  # the real backend's scores, each fetch noted
        fetched.append(key)
        return real_scores(s, key)

    monkeypatch.setattr(svc.backend, "scores", scores)

    def cycle(rounds):
        for _ in range(rounds):
            for word in words:
                svc.in_memory = False
                want = svc.search(SearchRequest(q=word, size=5))
                svc.in_memory = True
                got = svc.search(SearchRequest(q=word, size=5))
                assert got == want and got.total == 40, word

    cycle(3)
    snap = svc._snapshot
    assert snap.cache.budget == 40 * memory.CACHE_BYTES_PER_DOC
    assert len(fetched) == len(words)  # each word fetched once, then answered from the cache
    held = [value for key, (value, _) in snap.cache.items.items() if key[0] == "score"]
    assert len(held) == len(words)
    if svc.backend.name == "postgres":  # ts_rank is a real: kept as one (8 bytes a match, not 12)
        assert all(values.dtype == np.float32 for _, values in held)
    # A budget that holds 5 of the 8 words (as 64 MiB held 7 of them at 1,000,000 records): after the first
    # round, only the 3 words not held are fetched again, not all 8 every round.
    size = max(size for _, size in snap.cache.items.values())
    snap.cache.items.clear()
    snap.cache.asked.clear()
    snap.cache.used, snap.cache.budget = 0, 5 * size
    fetched.clear()
    cycle(3)
    assert len(fetched) == 8 + 3 + 3, fetched
