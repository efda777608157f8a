"""Load a dataset record whose file index has 1,000,000 entries; time the load and file-list pages.

Comparator for the page fetch: the same page read with LIMIT/OFFSET (what a naive listing does),
to show that our keyset-by-position pages cost the same on page 1 and on the last page.
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

from sqlalchemy import select

from portal.catalog.importers import read_record_file
from portal.db.models import File
from portal.services import build_services
from portal.settings import load_settings

N_FILES = int(os.environ.get("BENCH_FILES", "1000000"))
PAGE = 100


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


def timed(fn, repeat: int = 20) -> float:
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
        first_page = timed(lambda: svc.catalog.list_files(777, index_key="BENCH_file_index", page=1, size=PAGE))
        last_page = timed(lambda: svc.catalog.list_files(777, index_key="BENCH_file_index", page=last, size=PAGE))
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

        off_first = timed(lambda: offset_page(1), repeat=5)
        off_last = timed(lambda: offset_page(last), repeat=5)
        svc.close()
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


if __name__ == "__main__":
    main()
