"""Search latency on a generated 100,000-record catalogue (SQLite and PostgreSQL), and record-page latency
for a dataset with a 100,000-file index.

Queries: 200 fixed queries (words, phrases, fields, ranges, negation), each run without and with facet
filters, through `SearchService.search` (ranked hits + 11 facet aggregations). Comparator: the same
free-text queries as a naive `LIKE '%word%'` scan over titles and abstracts (no index, no ranking, no facets).
Targets on this machine: search p95 ≤ 50 ms; record page p95 ≤ 30 ms.
The search keeps full-text match sets and scores per index generation: each "cold" pass starts from a fresh
service (new snapshot, empty caches) and pays for each word's first full-text query; "cold, warmed" starts once
the background warming of the most frequent words has finished; "repeat" runs the same 200 queries again.
Env: BENCH_RECORDS (default 100000), BENCH_DB=sqlite|postgresql|both (default both),
BENCH_PARTS=search,page (default both; `page` alone skips the search passes and the comparator).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, or_, select

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.db.models import Concept, Record
from portal.search.service import SearchRequest, SearchService

N = int(os.environ.get("BENCH_RECORDS", "100000"))
PARTS = set(os.environ.get("BENCH_PARTS", "search,page").split(","))
NOW = datetime.now(UTC)
WORDS = [
    "muon",
    "electron",
    "jet",
    "photon",
    "tau",
    "higgs",
    "boson",
    "top",
    "quark",
    "dimuon",
    "trigger",
    "calibration",
    "luminosity",
    "pileup",
    "collision",
    "simulation",
    "derived",
    "ntuple",
    "nanoaod",
    "masterclass",
    "lesson",
    "tracking",
    "vertex",
    "energy",
]
EXPERIMENTS = ("CMS", "ATLAS", "ALICE", "LHCb", "DELPHI", "OPERA")
TYPES = (
    ("Dataset", "Collision"),
    ("Dataset", "Simulated"),
    ("Dataset", "Derived"),
    ("Software", "Analysis"),
    ("Lesson", "Notebook"),
    ("Documentation", "Guide"),
)


def metadata(i: int, rng: random.Random) -> dict:
    primary, sub = TYPES[i % len(TYPES)]
    words = rng.sample(WORDS, 4)
    return {
        "recid": str(1_000_000 + i),
        "title": f"{words[0].title()} {words[1]} sample {i}",
        "type": {"primary": primary, "secondary": [sub]},
        "experiment": [EXPERIMENTS[i % len(EXPERIMENTS)]],
        "date_created": [str(2010 + i % 8)],
        "date_published": f"{2014 + i % 10}-01-01",
        "keywords": words[2:],
        "abstract": {"description": " ".join(rng.choices(WORDS, k=30))},
        "distribution": {"number_events": rng.randrange(10, 50_000_000), "formats": [rng.choice(["root", "csv"])]},
        "collision_information": {"energy": rng.choice(["7TeV", "8TeV", "13TeV"]), "type": "pp"},
    }


def build(url: str | None, tmp: Path) -> object:
    settings = {"var_dir": str(tmp)}
    if url:
        settings["database_url"] = url
    app = create_app(settings)
    svc = services_of(app)
    rng = random.Random(7)
    t0 = time.perf_counter()
    for start in range(0, N, 5000):
        mds = [metadata(i, rng) for i in range(start, min(start + 5000, N))]
        with svc.db.transaction() as s:
            s.execute(
                insert(Concept), [{"recid": 3_000_000 + int(m["recid"]), "doi": None, "created_at": NOW} for m in mds]
            )
            s.execute(
                insert(Record),
                [
                    {
                        "recid": int(m["recid"]),
                        "concept_recid": 3_000_000 + int(m["recid"]),
                        "version_index": 1,
                        "status": "published",
                        "doi": f"10.5072/b.{m['recid']}",
                        "title": m["title"],
                        "type_primary": m["type"]["primary"],
                        "data": m,
                        "content_hash": "b",
                        "files_hash": "b",
                        "revision": 1,
                        "source": "bench",
                        "created_at": NOW,
                        "updated_at": NOW,
                        "published_at": NOW,
                    }
                    for m in mds
                ],
            )
    t1 = time.perf_counter()
    indexed = svc.search.reindex()
    t2 = time.perf_counter()
    print(f"  built {N:,} records in {t1 - t0:.0f} s and indexed {indexed:,} in {t2 - t1:.0f} s")
    if svc.db.dialect == "postgresql":
        # What autovacuum does after a bulk load, done now so that it does not run during the measurements.
        with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE after the bulk load: {time.perf_counter() - t2:.0f} s")
    return app


def queries(rng: random.Random) -> list[str]:
    out = []
    for i in range(200):
        a, b = rng.sample(WORDS, 2)
        out.append(
            [
                a,
                f"{a} {b}",
                f'"{a} {b}"',
                f"title:{a}",
                f"{a} -{b}",
                f"{a} OR {b}",
                f"{a} year:[2011 TO 2013]",
                f"number_events:>1000000 {a}",
                f"experiment:CMS {a}",
                "",
            ][i % 10]
        )
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def timed(search: SearchService, qs: list[str], filters: dict[str, list[str]]) -> list[float]:
    samples = []
    for q in qs:
        t0 = time.perf_counter()
        search.search(SearchRequest(q=q, filters=filters, size=20))
        samples.append(time.perf_counter() - t0)
    return samples


def run(url: str | None, label: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{label}:")
        app = build(url, Path(tmp))
        svc = services_of(app)
        qs = queries(random.Random(11))
        rows = []
        facets = {"experiment": ["CMS", "ATLAS"], "type": ["Dataset"]}
        for kind, filters in (("no facets", {}), ("+ facets", facets)) if "search" in PARTS else ():
            for warm in (False, True):
                # A fresh service: a new snapshot and empty word caches, as in a new process. The snapshot is
                # built by an empty query (not timed); with warming, the pass starts once the background
                # thread has fetched the most frequent words (its time is printed, not counted).
                search = SearchService(
                    svc.db, svc.search.backend, popularity=svc.stats.popularity_query, warm_words=48 if warm else 0
                )
                t0 = time.perf_counter()
                search.search(SearchRequest(q="", size=20))
                t1 = time.perf_counter()
                search.wait_warm(600)
                t2 = time.perf_counter()
                print(
                    f"  {kind}: snapshot built in {t1 - t0:.2f} s"
                    + (f", words warmed in {t2 - t1:.2f} s" if warm else ", no warming")
                )
                name = f"search, {kind} (cold{', warmed' if warm else ''})"
                rows.append((name, *percentiles(timed(search, qs, filters))))
            rows.append((f"search, {kind} (repeat)", *percentiles(timed(search, qs, filters))))
        like = []
        texts = [q.split()[0] for q in qs if q and ":" not in q.split()[0] and not q.startswith('"')]
        for word in texts[:50] if "search" in PARTS else ():
            t0 = time.perf_counter()
            with svc.db.reader() as s:
                pattern = f"%{word}%"
                list(
                    s.scalars(
                        select(Record.recid)
                        .where(
                            or_(
                                Record.title.ilike(pattern),
                                func.cast(Record.data, type_=Record.title.type).ilike(pattern),
                            )
                        )
                        .limit(20)
                    )
                )
            like.append(time.perf_counter() - t0)
        if like:
            rows.append(("comparator: LIKE scan (no facets)", *percentiles(like)))
        if "page" not in PARTS:
            print_rows(rows)
            svc.close()
            return
        # record page with a 100,000-file index
        index = Path(tmp) / "BIG_file_index.json"
        index.write_text(
            json.dumps(
                [{"uri": f"root://x//d/{i}.root", "size": i, "checksum": "adler32:00000001"} for i in range(100_000)]
            )
        )
        record = {
            "recid": 77,
            "title": "Dataset with 100,000 files",
            "type": {"primary": "Dataset"},
            "date_published": "2026",
            "files": [{"type": "index.json", "uri": "root://x//d/BIG_file_index.json"}],
        }
        (Path(tmp) / "big.json").write_text(json.dumps([record]))
        svc.catalog.load(read_record_file(Path(tmp) / "big.json"))
        client = app.test_client()
        for _ in range(5):
            client.get("/record/77")
        page = []
        for _ in range(100):
            t0 = time.perf_counter()
            assert client.get("/record/77").status_code == 200
            page.append(time.perf_counter() - t0)
        rows.append(("record page, 100,000-file dataset", *percentiles(page)))
        print_rows(rows)
        svc.close()


def print_rows(rows: list[tuple[str, float, float]]) -> None:
    print(f"  {'measurement':<40}{'p50 ms':>9}{'p95 ms':>9}")
    for name, p50, p95 in rows:
        print(f"  {name:<40}{p50:>9.1f}{p95:>9.1f}")


def main() -> None:
    which = os.environ.get("BENCH_DB", "both")
    if which in ("sqlite", "both"):
        run(None, "SQLite (FTS5)")
    if which in ("postgresql", "both"):
        from tests.support.postgres import postgres_server

        with postgres_server() as url:
            run(url, "PostgreSQL (full text)")
    print("targets: search p95 <= 50 ms, record page p95 <= 30 ms")


if __name__ == "__main__":
    main()
