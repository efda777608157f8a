"""The `mostcited` sort on a generated catalogue, in process, on SQLite or PostgreSQL: its SQL formulation (every
concept's citations counted by `CitationService.count_query`, joined to the index, totals and facet counts by
SQL: how every `mostcited` search was answered before the snapshot held the counts) against the search service
as the portal builds it (counts read once per index generation, the rest from the snapshot), and the same through
the Flask test client (`/api/records?sort=mostcited`, `/search?sort=mostcited`).

The catalogue is `catalog_million_records`'s: records of `search_latency`'s generator, a share of them citing
earlier ones in their relations, 1% of the concepts with external citations; on PostgreSQL loaded by COPY, on
SQLite by batched INSERTs. Both formulations' first pages are checked equal before timing.
Env: BENCH_RECORDS (default 100,000), BENCH_DB=sqlite|postgresql (default sqlite), BENCH_SAMPLES (default 50;
the SQL formulation gets a fifth of them, at least 5), BENCH_PROFILE=1 (a cProfile of one API request).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from benchmarks._http import stats_ms
from benchmarks.catalog_million_records import CONCEPT0, RECID0, cited_recids, copy_records
from benchmarks.search_latency import metadata

N = int(os.environ.get("BENCH_RECORDS", "100000"))
DB = os.environ.get("BENCH_DB", "sqlite")
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "50"))


def insert_records(svc: Any, n: int) -> None:
    """The records, relations and external citations `copy_records` writes, by INSERTs (SQLite has no COPY)."""
    from portal.citations.models import RecordCitation
    from portal.db.models import Concept, Record

    rng, cites = random.Random(7), random.Random(11)
    now = datetime.now(UTC)
    for start in range(0, n, 5000):
        records = []
        for i in range(start, min(start + 5000, n)):
            m = metadata(i, rng)
            cited = cited_recids(i, cites)
            if cited:
                m["relations"] = [{"type": "cites", "recid": str(r)} for r in cited]
            records.append(
                {
                    "recid": RECID0 + i,
                    "concept_recid": CONCEPT0 + i,
                    "version_index": 1,
                    "status": "published",
                    "doi": f"10.5072/b.{RECID0 + i}",
                    "title": m["title"],
                    "type_primary": m["type"]["primary"],
                    "data": m,
                    "content_hash": "b",
                    "files_hash": "b",
                    "revision": 1,
                    "source": "bench",
                    "created_at": now,
                    "updated_at": now,
                    "published_at": now,
                }
            )
        with svc.db.transaction() as s:
            s.execute(insert(Concept), [{"recid": r["concept_recid"], "doi": None, "created_at": now} for r in records])
            s.execute(insert(Record), records)
    with svc.db.transaction() as s:
        s.execute(
            insert(RecordCitation),
            [
                {
                    "concept_recid": CONCEPT0 + i,
                    "relation": "isCitedBy",
                    "scheme": "arxiv",
                    "identifier": f"2101.{i % 100000:05d}v{k + 1}",
                    "title": None,
                    "source": "bench",
                    "created_at": now,
                }
                for i in range(0, n, 100)
                for k in range(cites.randint(1, 3))
            ],
        )


def timed(call: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return samples


def run(url: str, tmp: Path) -> None:
    from portal.app import create_app, services_of
    from portal.search.service import SearchRequest, SearchService

    app = create_app({"database_url": url, "var_dir": str(tmp)})
    svc = services_of(app)
    t0 = time.perf_counter()
    (copy_records if svc.db.dialect == "postgresql" else insert_records)(svc, N)
    t1 = time.perf_counter()
    svc.search.reindex(batch_size=5000)
    t2 = time.perf_counter()
    if svc.db.dialect == "postgresql":
        with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"  {svc.db.dialect}, {N:,} records: loaded in {t1 - t0:.0f} s, indexed in {t2 - t1:.0f} s", flush=True)
    sql = SearchService(
        svc.db, svc.search.backend, popularity=lambda kind: svc.citations.count_query(), in_memory=False
    )
    req = SearchRequest(sort="mostcited", size=10)
    t0 = time.perf_counter()
    svc.search.search(SearchRequest(size=10))  # the snapshot, as a web worker builds it at start (not timed)
    t_snapshot = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = svc.search.search(req)
    t_first = time.perf_counter() - t0
    theirs = sql.search(req)
    assert (ours.total, ours.recids, ours.aggregations) == (theirs.total, theirs.recids, theirs.aggregations)
    print(
        f"  snapshot built in {t_snapshot:.2f} s; first `mostcited` search on it (counts read): {t_first * 1000:.0f} ms"
    )
    print(f"  most cited: {ours.recids[:5]} ...", flush=True)
    client = app.test_client()
    rows = [
        ("SQL formulation (before): search", timed(lambda: sql.search(req), max(5, SAMPLES // 5))),
        ("snapshot (after): search", timed(lambda: svc.search.search(req), SAMPLES)),
        (
            "after: GET /api/records?sort=mostcited",
            timed(lambda: client.get("/api/records?sort=mostcited&size=10").get_data(), SAMPLES),
        ),
        ("after: GET /search?sort=mostcited", timed(lambda: client.get("/search?sort=mostcited").get_data(), SAMPLES)),
        # the same request with the default sort, for comparison: what every listing costs besides its sort
        ("GET /api/records (newest first)", timed(lambda: client.get("/api/records?size=10").get_data(), SAMPLES)),
    ]
    rows += [
        # mostcited's first page lists the most cited records, whose counts (`citations` of each hit) are read
        # by `CitationService.counts` from every relation naming them: a page of records nobody cites, for comparison
        (
            "after: GET /api/records?sort=mostcited page 500",
            timed(lambda: client.get("/api/records?sort=mostcited&size=10&page=500").get_data(), SAMPLES),
        ),
    ]
    print(f"{'':<44}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, samples in rows:
        print(f"{name:<44}" + "".join(f"{v:>9.1f}" for v in stats_ms(samples)), flush=True)
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        client.get("/api/records?sort=mostcited&size=10").get_data()
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    svc.search.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if DB == "postgresql":
            if "BENCH_DB_URL" in os.environ:
                run(os.environ["BENCH_DB_URL"], tmp)
                return
            from tests.support.postgres import postgres_server

            with postgres_server() as url:
                run(url, tmp)
        else:
            run(f"sqlite:///{tmp / 'bench.sqlite'}", tmp)


if __name__ == "__main__":
    main()
