"""A catalogue of 1,000,000 records on PostgreSQL, served by a real `portal serve` (gunicorn), timed over HTTP.

Steps: a private PostgreSQL server (as the tests start one), the portal's schema (`create_app` migrates), the
records generated deterministically by the search benchmark's generator (`search_latency.metadata`, seed 7)
and bulk-loaded with COPY into `concepts` and `records` (the load time is a reported number), the search index
built by the portal's own `SearchService.reindex`, `VACUUM ANALYZE`, then `portal serve --workers 2
--threads 4` and sequential requests on one keep-alive connection:

- `/api/records` (newest first, the default listing), with a word query, with two facet filters;
- deep pages: page 1 against a page near the end (`page=` numbers) and a search-after `cursor` taken there;
- the record page `/record/<id>` of random records, then the same pages again (their formatted citations are
  stored by the first visit: `rendered_citations`), and the record API `/api/records/<id>`;
- the `mostcited` sort, `/api/records?sort=mostcited` and the search page `/search?sort=mostcited`: a share
  (BENCH_CITING, default 0.2) of the generated records cite 1-3 earlier ones in their relations (a few records
  most: recids drawn skewed to the oldest), and 1% of the concepts have 1-3 external citations
  (`record_citations`), from their own random generator, so the rest of the data is that of earlier runs.

Comparators: `/healthz` on the same server (the HTTP + gunicorn floor) and the naive SQL listing a portal
without a search snapshot would run: `count(*)` of the published records plus `ORDER BY published_at DESC
LIMIT 10 OFFSET n`, on page 1 and on the same deep page. Goal: `/api/records` p95 <= 50 ms.
Env: BENCH_RECORDS (default 1,000,000), BENCH_SAMPLES (requests per row, default 200), BENCH_DB_URL (an
existing empty PostgreSQL database instead of a private server), BENCH_ROWS (comma-separated parts of row names:
only those rows are timed, e.g. `mostcited`; default all).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from benchmarks._http import peak_rss_mib, serve, stats_ms, stop, timed
from benchmarks.search_latency import metadata

N = int(os.environ.get("BENCH_RECORDS", "1000000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
CITING = float(os.environ.get("BENCH_CITING", "0.2"))
ROWS = [part for part in os.environ.get("BENCH_ROWS", "").split(",") if part]
RECID0, CONCEPT0 = 1_000_000, 4_000_000
PAGE = 10


def cited_recids(i: int, rng: random.Random) -> list[int]:
    """The earlier records generated record ``i`` cites (none for most): skewed to the oldest, so a few records
    are cited by thousands and most by none or a few, as with papers."""
    if i == 0 or rng.random() >= CITING:
        return []
    return sorted({RECID0 + int(i * rng.random() ** 3) for _ in range(rng.randint(1, 3))})


def copy_records(svc: Any, n: int) -> None:
    """COPY ``n`` generated published records (one version each) and their concepts into an empty catalogue,
    with the relations and external citations the `mostcited` rows count (see the module's docstring)."""
    rng = random.Random(7)
    cites = random.Random(11)  # its own generator: the records' other fields stay those of earlier runs
    now = datetime.now(UTC)
    raw = svc.db.engine.raw_connection()
    try:
        cur = raw.cursor()
        # Concepts first (records reference them); one COPY each, rows streamed as they are generated.
        with cur.copy("COPY concepts (recid, doi, created_at) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((CONCEPT0 + i, None, now))
        with cur.copy(
            "COPY records (recid, concept_recid, version_index, status, doi, title, type_primary, metadata, "
            "content_hash, files_hash, revision, source, created_at, updated_at, published_at) FROM STDIN"
        ) as copy:
            for i in range(n):
                m = metadata(i, rng)
                cited = cited_recids(i, cites)
                if cited:
                    m["relations"] = [{"type": "cites", "recid": str(r)} for r in cited]
                recid = RECID0 + i
                copy.write_row(
                    (
                        recid,
                        CONCEPT0 + i,
                        1,
                        "published",
                        f"10.5072/b.{recid}",
                        m["title"],
                        m["type"]["primary"],
                        json.dumps(m),
                        "b",
                        "b",
                        1,
                        "bench",
                        now,
                        now,
                        now,
                    )
                )
        with cur.copy(
            "COPY record_citations (concept_recid, relation, scheme, identifier, title, source, created_at) FROM STDIN"
        ) as copy:
            for i in range(0, n, 100):  # 1% of the concepts
                for k in range(cites.randint(1, 3)):
                    copy.write_row(
                        (CONCEPT0 + i, "isCitedBy", "arxiv", f"2101.{i % 100000:05d}v{k + 1}", None, "bench", now)
                    )
        raw.commit()
    finally:
        raw.close()


def bulk_load(url: str, tmp: Path) -> dict[str, float]:
    """Schema, COPY of N generated records, the search index, VACUUM ANALYZE; returns the step times."""
    from portal.app import create_app, services_of

    app = create_app({"database_url": url, "var_dir": str(tmp)})
    svc = services_of(app)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    copy_records(svc, N)
    times["COPY concepts + records"] = time.perf_counter() - t0
    print(f"  COPY of {N:,} records: {times['COPY concepts + records']:.0f} s; building the search index", flush=True)
    t0 = time.perf_counter()
    svc.search.reindex(batch_size=5000)
    times["search index (SearchService.reindex)"] = time.perf_counter() - t0
    print(
        f"  search index: {times['search index (SearchService.reindex)']:.0f} s "
        f"({N / times['search index (SearchService.reindex)']:,.0f} records/s)",
        flush=True,
    )
    t0 = time.perf_counter()
    # What autovacuum would do after a bulk load, done now so that it does not run during the measurements.
    with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    times["VACUUM ANALYZE"] = time.perf_counter() - t0
    svc.search.close()
    svc.db.engine.dispose()
    return times


def naive_sql(url: str, offset: int, n: int = 20) -> list[float]:
    """The listing without the snapshot: count the published records and read one page by OFFSET."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    samples = []
    with psycopg.connect(dsn) as conn:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute("SELECT count(*) FROM records WHERE status = 'published'").fetchone()
            conn.execute(
                "SELECT recid, title, metadata FROM records WHERE status = 'published' "
                "ORDER BY published_at DESC, recid LIMIT %s OFFSET %s",
                (PAGE, offset),
            ).fetchall()
            samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    if "BENCH_DB_URL" in os.environ:
        run(os.environ["BENCH_DB_URL"])
        return
    from tests.support.postgres import postgres_server

    with postgres_server() as url:
        run(url)


def run(url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        times = bulk_load(url, tmp)
        total_load = time.perf_counter() - t0
        web, base, t_ready = serve(url, tmp)
        rows: list[tuple[str, list[float]]] = []
        try:
            import psutil

            server_rss = sum(
                p.memory_info().rss for p in [psutil.Process(web.pid), *psutil.Process(web.pid).children()]
            )
            rng = random.Random(3)
            recids = [RECID0 + rng.randrange(N) for _ in range(SAMPLES)]
            words = ["muon", "higgs", "calibration", "jet", "tau", "vertex", "pileup", "trigger"]
            http = requests.Session()
            last = -(-N // PAGE)
            deep = max(1, last - 5)
            warm = http.get(f"{base}/api/records?page={deep}&size={PAGE}", timeout=120).json()
            cursor_url = warm["links"].get("next") or f"{base}/api/records?size={PAGE}"
            for k in range(20):  # warm both workers' caches of the words and pages measured below
                http.get(f"{base}/api/records?q={words[k % len(words)]}", timeout=120)
                http.get(f"{base}/record/{recids[k]}", timeout=120)
            planned: list[tuple[str, Any]] = [
                ("/healthz (HTTP floor)", lambda k: f"{base}/healthz"),
                ("/api/records (newest first)", lambda k: f"{base}/api/records?size={PAGE}"),
                ("/api/records?q=<word>", lambda k: f"{base}/api/records?q={words[k % len(words)]}"),
                (
                    "/api/records?experiment=CMS&type=Dataset",
                    lambda k: f"{base}/api/records?experiment=CMS&type=Dataset&size={PAGE}",
                ),
                ("/api/records page 1", lambda k: f"{base}/api/records?page=1&size={PAGE}"),
                (f"/api/records page {deep:,}", lambda k: f"{base}/api/records?page={deep}&size={PAGE}"),
                ("/api/records cursor near the end", lambda k: cursor_url),
                ("/api/records?sort=mostcited", lambda k: f"{base}/api/records?sort=mostcited&size={PAGE}"),
                ("/search?sort=mostcited (page)", lambda k: f"{base}/search?sort=mostcited"),
                ("/record/<id>", lambda k: f"{base}/record/{recids[k]}"),
                # The same pages again, in either worker: the citations formatted above are read back, not formatted.
                ("/record/<id> again (citations stored)", lambda k: f"{base}/record/{recids[k]}"),
                ("/api/records/<id>", lambda k: f"{base}/api/records/{recids[k]}"),
            ]
            for name, urls in planned:
                if ROWS and not any(part in name for part in ROWS):
                    continue
                if "mostcited" in name:  # the first in a worker counts every concept's citations: shown apart
                    print(f"  {name}: first request {timed(http, urls, 1)[0] * 1000:.0f} ms", flush=True)
                rows.append((name, timed(http, urls, SAMPLES)))
        finally:
            stop(web)
        naive_first = naive_sql(url, 0)
        naive_deep = naive_sql(url, (deep - 1) * PAGE, n=5)
    print(f"PostgreSQL, {N:,} records; portal serve: gunicorn 2 workers x 4 threads; {SAMPLES} sequential requests")
    for step, seconds in times.items():
        print(f"  load: {step:<40}{seconds:>9.1f} s")
    print(f"  load total {total_load:.1f} s ({N / times['COPY concepts + records']:,.0f} records/s by COPY)")
    print(f"  portal serve until /readyz 200 on both workers: {t_ready:.1f} s; server RSS {server_rss / 2**20:.0f} MiB")
    print(f"  benchmark process peak RSS: {peak_rss_mib():.0f} MiB")
    print(f"{'request':<44}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    result: dict[str, tuple[float, float, float]] = {}
    for name, samples in rows:
        result[name] = stats_ms(samples)
        print(f"{name:<44}" + "".join(f"{v:>9.1f}" for v in result[name]))
    for name, samples in (
        ("naive SQL: count + page 1 (comparator)", naive_first),
        (f"naive SQL: count + OFFSET page {deep:,}", naive_deep),
    ):
        result[name] = stats_ms(samples)
        print(f"{name:<44}" + "".join(f"{v:>9.1f}" for v in result[name]))
    if not all(
        name in result for name in ("/api/records (newest first)", "/api/records page 1", f"/api/records page {deep:,}")
    ):
        return
    p95 = result["/api/records (newest first)"][1]
    ours_first, ours_deep = result["/api/records page 1"][0], result[f"/api/records page {deep:,}"][0]
    naive_1 = result["naive SQL: count + page 1 (comparator)"][0]
    naive_n = result[f"naive SQL: count + OFFSET page {deep:,}"][0]
    print(f"/api/records p95 {p95:.1f} ms (goal <= 50: {'met' if p95 <= 50 else 'NOT met'})")
    print(f"deep page / page 1 (p50): ours {ours_deep / ours_first:.2f}, naive SQL {naive_n / naive_1:.1f}")
    print(f"ours over HTTP / naive SQL (p50): page 1 {ours_first / naive_1:.2f}, deep {ours_deep / naive_n:.2f}")


if __name__ == "__main__":
    main()
