"""Load a dataset record whose file index has 1,000,000 entries; time the load and file-list pages.

Comparator for the page fetch: the same page read with LIMIT/OFFSET (what a naive listing does),
to show that our keyset-by-position pages cost the same on page 1 and on the last page.
Then the same pages over HTTP from a real `portal serve` (gunicorn): the record page, the file-list API on page 1
and on the last page (page numbers) and near the end by cursor, and the record API with the index summarised.
Run: `python -m benchmarks catalog_million_files`. Env: BENCH_FILES (entries, default 1,000,000);
BENCH_DB=postgresql to run on a private PostgreSQL server started for the run; BENCH_DB_URL for any database.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests
from sqlalchemy import select

from benchmarks._http import peak_rss_mib, serve, stats_ms, stop, timed
from portal.catalog.importers import read_record_file
from portal.db.models import File
from portal.services import build_services
from portal.settings import load_settings

N_FILES = int(os.environ.get("BENCH_FILES", "1000000"))
PAGE = 100
HTTP_SAMPLES = int(os.environ.get("BENCH_SAMPLES", "50"))


def write_index(path: Path, n: int) -> None:
    with path.open("w") as fh:
        fh.write("[")
        for i in range(n):
            uri = f"root://xrootd.example//eos/bench/data/{i // 1000:04d}/file_{i:07d}.root"
            fh.write(
                ("," if i else "")
                + json.dumps(
                    {
                        "uri": uri,
                        "size": 2_000_000_000 + i,
                        "checksum": f"adler32:{i:08x}",
                        "filename": f"file_{i:07d}.root",
                    }
                )
            )
        fh.write("]")


def median_of(fn, repeat: int = 20) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    if os.environ.get("BENCH_DB") == "postgresql" and "BENCH_DB_URL" not in os.environ:
        from tests.support.postgres import postgres_server

        with postgres_server() as url:
            run(url)
    else:
        run(os.environ.get("BENCH_DB_URL"))


def run(url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = url or f"sqlite:///{root / 'bench.sqlite'}"
        svc = build_services(load_settings({"database_url": url, "var_dir": tmp}, environ={}))
        index = root / "BENCH_file_index.json"
        t0 = time.perf_counter()
        write_index(index, N_FILES)
        t_write = time.perf_counter() - t0
        record = {
            "recid": 777,
            "title": "Benchmark dataset with a huge file index",
            "type": {"primary": "Dataset", "secondary": ["Simulated"]},
            "date_published": "2026",
            "files": [
                {
                    "type": "index.json",
                    "uri": "root://xrootd.example//eos/bench/BENCH_file_index.json",
                    "size": index.stat().st_size,
                }
            ],
        }
        (root / "bench.json").write_text(json.dumps([record]))
        t0 = time.perf_counter()
        svc.catalog.load(read_record_file(root / "bench.json"))
        t_load = time.perf_counter() - t0
        last = -(-N_FILES // PAGE)
        first_page = median_of(lambda: svc.catalog.list_files(777, index_key="BENCH_file_index", page=1, size=PAGE))
        last_page = median_of(lambda: svc.catalog.list_files(777, index_key="BENCH_file_index", page=last, size=PAGE))
        assert len(svc.catalog.list_files(777, index_key="BENCH_file_index", page=last, size=PAGE).items) > 0

        def offset_page(page: int) -> None:
            with svc.db.reader() as s:
                list(
                    s.scalars(
                        select(File)
                        .where(File.recid == 777, File.index_id.is_not(None))
                        .order_by(File.position)
                        .offset((page - 1) * PAGE)
                        .limit(PAGE)
                    )
                )

        off_first = median_of(lambda: offset_page(1), repeat=5)
        off_last = median_of(lambda: offset_page(last), repeat=5)
        svc.close()
        http_rows = over_http(url, root, last)
    print(f"database: {url.split(':')[0]}   entries: {N_FILES:,}   page size: {PAGE}")
    print(f"{'step':<42}{'time':>12}")
    print(f"{'write index.json (generator)':<42}{t_write:>11.2f}s")
    print(f"{'portal records load (stream + insert)':<42}{t_load:>11.2f}s   ({N_FILES / t_load:,.0f} entries/s)")
    print(f"{'page 1 (ours, median of 20)':<42}{first_page * 1000:>10.2f}ms")
    print(f"{'last page (ours, median of 20)':<42}{last_page * 1000:>10.2f}ms")
    print(f"{'page 1 (LIMIT/OFFSET comparator)':<42}{off_first * 1000:>10.2f}ms")
    print(f"{'last page (LIMIT/OFFSET comparator)':<42}{off_last * 1000:>10.2f}ms")
    print(
        f"ratio last/first page, ours: {last_page / first_page:.2f} (target <= 2.0); "
        f"LIMIT/OFFSET: {off_last / off_first:.1f}"
    )
    print(f"over HTTP (portal serve, gunicorn 2 workers x 4 threads; {HTTP_SAMPLES} sequential requests each)")
    print(f"{'request':<58}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, samples in http_rows:
        print(f"{name:<58}" + "".join(f"{v:>9.1f}" for v in stats_ms(samples)))
    http = {name: stats_ms(samples)[0] for name, samples in http_rows}
    print(f"ratio last/first page over HTTP (p50): {http['API files, last page'] / http['API files, page 1']:.2f}")
    print(f"benchmark process peak RSS: {peak_rss_mib():.0f} MiB")


def over_http(url: str, root: Path, last: int) -> list[tuple[str, list[float]]]:
    """The record's pages and file-list API from a real `portal serve` on the same database."""
    web, base, _ = serve(url, root)
    try:
        http = requests.Session()
        files = f"{base}/api/records/777/files?index=BENCH_file_index&size={PAGE}"
        near_end = (last - 1) * PAGE - 1  # a cursor is the position of the entry before the page
        urls = {
            "record page /record/777": f"{base}/record/777",
            "API record /api/records/777?file_indices=summary": f"{base}/api/records/777?file_indices=summary",
            "API files, page 1": f"{files}&page=1",
            "API files, last page": f"{files}&page={last}",
            "API files, cursor at the start": f"{files}&cursor=-1",
            "API files, cursor near the end": f"{files}&cursor={near_end}",
        }
        for u in urls.values():  # warm each worker's connections and caches
            http.get(u, timeout=120)
        return [(name, timed(http, lambda k, u=u: u, HTTP_SAMPLES)) for name, u in urls.items()]
    finally:
        stop(web)


if __name__ == "__main__":
    main()
